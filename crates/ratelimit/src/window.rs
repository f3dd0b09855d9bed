//! Quota windows: fixed calendar periods in UTC, or fixed durations aligned to the Unix
//! epoch. Computed from a caller-supplied `now`, so tests inject time instead of sleeping.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

const HOUR_MS: u64 = 3_600_000;
const DAY_MS: u64 = 86_400_000;

/// A quota window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Window {
    /// Calendar hour (UTC).
    Hour,
    /// Calendar day, 00:00 to 24:00 UTC.
    Day,
    /// Calendar month, from the 1st 00:00 UTC.
    Month,
    /// Consecutive windows of this length counted from the Unix epoch (at least 1 ms;
    /// whole milliseconds are used).
    Fixed(Duration),
}

/// One concrete window: which one it is and when it starts and ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bounds {
    /// The window's number (e.g. months since year 0 for [`Window::Month`]). It goes into
    /// the Redis key, so a new window is a new counter: rollover is exact and needs no
    /// reset step.
    pub index: u64,
    /// Start, in milliseconds since the Unix epoch.
    pub start_ms: u64,
    /// End (exclusive), in milliseconds since the Unix epoch.
    pub end_ms: u64,
}

impl Window {
    /// The window containing `now` (times before 1970 count as 1970-01-01T00:00:00Z).
    /// `None` for a `Fixed` window shorter than 1 ms.
    pub fn bounds(&self, now: SystemTime) -> Option<Bounds> {
        let now_ms = now
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let fixed = |len: u64| {
            let index = now_ms / len;
            Bounds {
                index,
                start_ms: index * len,
                end_ms: (index + 1).saturating_mul(len),
            }
        };
        match *self {
            Window::Hour => Some(fixed(HOUR_MS)),
            Window::Day => Some(fixed(DAY_MS)),
            Window::Fixed(len) => {
                let len = u64::try_from(len.as_millis()).ok().filter(|&l| l > 0)?;
                Some(fixed(len))
            }
            Window::Month => {
                let days = i64::try_from(now_ms / DAY_MS).ok()?;
                let (year, month, _) = civil_from_days(days);
                let (next_year, next_month) = if month == 12 {
                    (year + 1, 1)
                } else {
                    (year, month + 1)
                };
                let to_ms = |d: i64| u64::try_from(d).unwrap_or(0) * DAY_MS;
                Some(Bounds {
                    index: u64::try_from(year * 12 + i64::from(month) - 1).unwrap_or(0),
                    start_ms: to_ms(days_from_civil(year, month, 1)),
                    end_ms: to_ms(days_from_civil(next_year, next_month, 1)),
                })
            }
        }
    }

    /// A short stable name, used in Redis keys so that different windows over the same
    /// key never share a counter.
    pub(crate) fn tag(&self) -> String {
        match self {
            Window::Hour => "h".to_string(),
            Window::Day => "d".to_string(),
            Window::Month => "m".to_string(),
            Window::Fixed(d) => format!("f{}", d.as_millis()),
        }
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (month 1..=12).
///
/// The usual era arithmetic: shift the year to start in March so the leap day is the last
/// day of the year, then count 400-year eras (146 097 days each).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let m = i64::from(month);
    let day_of_year = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The inverse of [`days_from_civil`]: (year, month 1..=12, day 1..=31).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (
        year,
        u32::try_from(month).unwrap_or(1),
        u32::try_from(day).unwrap_or(1),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    // 2026-02-01T00:00:00Z
    const FEB_1_2026: u64 = 1_769_904_000;

    #[test]
    fn month_boundaries_in_utc() {
        let jan = Window::Month.bounds(at(FEB_1_2026 - 1)).expect("bounds");
        let feb = Window::Month.bounds(at(FEB_1_2026)).expect("bounds");
        assert_eq!(jan.end_ms, FEB_1_2026 * 1000);
        assert_eq!(feb.start_ms, FEB_1_2026 * 1000);
        assert_eq!(feb.index, jan.index + 1);
        // February 2026 has 28 days.
        assert_eq!(feb.end_ms - feb.start_ms, 28 * DAY_MS);
        // 2028 is a leap year: February has 29 days.
        let feb_2028 = days_from_civil(2028, 2, 10);
        let b = Window::Month
            .bounds(at(u64::try_from(feb_2028).expect("positive") * 86_400))
            .expect("bounds");
        assert_eq!(b.end_ms - b.start_ms, 29 * DAY_MS);
        // December rolls into the next year.
        let dec = Window::Month
            .bounds(at(u64::try_from(days_from_civil(2026, 12, 31))
                .expect("positive")
                * 86_400))
            .expect("bounds");
        assert_eq!(
            dec.end_ms,
            u64::try_from(days_from_civil(2027, 1, 1)).expect("positive") * DAY_MS
        );
    }

    #[test]
    fn civil_round_trip() {
        for days in (-800_000..800_000).step_by(37) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(days_from_civil(2026, 2, 1) * 86_400, 1_769_904_000);
    }

    #[test]
    fn day_hour_and_fixed_windows() {
        let d = Window::Day
            .bounds(at(FEB_1_2026 + 3600 * 5))
            .expect("bounds");
        assert_eq!(
            (d.start_ms, d.end_ms),
            (FEB_1_2026 * 1000, (FEB_1_2026 + 86_400) * 1000)
        );
        let h = Window::Hour.bounds(at(FEB_1_2026 + 3599)).expect("bounds");
        assert_eq!(h.end_ms, (FEB_1_2026 + 3600) * 1000);
        let f = Window::Fixed(Duration::from_secs(10))
            .bounds(at(25))
            .expect("bounds");
        assert_eq!((f.index, f.start_ms, f.end_ms), (2, 20_000, 30_000));
        assert_eq!(
            Window::Fixed(Duration::from_micros(10)).bounds(at(25)),
            None
        );
    }
}
