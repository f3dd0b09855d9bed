//! Rates and the GCRA (generic cell rate algorithm) arithmetic shared by the local limiter.
//! The Redis script does the same arithmetic in Lua (see `store.rs`).

use std::time::Duration;

use crate::decision::Decision;

/// A rate limit: at most `requests` per `per`, with a burst of `requests`.
///
/// Under GCRA this means one request is "earned" every emission interval
/// `per / requests`, and up to `requests` may be spent at once by a client that was idle
/// for at least `per`. So `100 per 1m` admits 100 at once, then one every 600 ms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rate {
    /// Requests admitted per period; also the burst size. Must be at least 1.
    pub requests: u64,
    /// The period.
    pub per: Duration,
}

impl Rate {
    /// `requests` per `per`.
    pub const fn new(requests: u64, per: Duration) -> Self {
        Self { requests, per }
    }

    /// GCRA parameters in units of `unit_ns` nanoseconds (1 for the local limiter, 1000
    /// for Redis, whose clock we read in microseconds).
    pub(crate) fn gcra(&self, unit_ns: u64) -> Result<Gcra, RateError> {
        if self.requests == 0 {
            return Err(RateError::ZeroRequests);
        }
        let per = u64::try_from(self.per.as_nanos() / u128::from(unit_ns))
            .map_err(|_| RateError::PeriodTooLong)?;
        // Integer emission interval: the burst is then exactly `requests` at one instant
        // because the tolerance is a whole multiple of it (no rounding can admit N+1).
        let interval = per / self.requests;
        if interval == 0 {
            return Err(RateError::TooFine);
        }
        Ok(Gcra {
            interval,
            tolerance: interval * (self.requests - 1),
            limit: self.requests,
        })
    }
}

/// Why a [`Rate`] cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RateError {
    /// `requests` is 0.
    #[error("a rate needs at least one request per period")]
    ZeroRequests,
    /// `per / requests` is below the clock resolution (1 ns locally, 1 µs in Redis).
    #[error("the rate is finer than the clock resolution (per / requests is below one tick)")]
    TooFine,
    /// `per` does not fit the clock's range.
    #[error("the period is too long")]
    PeriodTooLong,
}

/// GCRA parameters in some time unit ("ticks").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Gcra {
    /// Emission interval T = per / requests.
    pub(crate) interval: u64,
    /// Burst tolerance τ = T × (requests − 1): how far the theoretical arrival time (TAT)
    /// may run ahead of now and still admit.
    pub(crate) tolerance: u64,
    pub(crate) limit: u64,
}

/// The result of one GCRA step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Step {
    pub(crate) allowed: bool,
    /// The TAT to store (unchanged when refused).
    pub(crate) tat: u64,
    pub(crate) remaining: u64,
    /// Ticks until the bucket is full again (TAT − now after this step).
    pub(crate) reset: u64,
    /// Ticks until a request would be admitted (0 when admitted).
    pub(crate) retry_after: u64,
}

impl Gcra {
    /// One request at `now`, with the stored TAT (`None`: key never seen or recovered,
    /// which GCRA treats identically: TAT = now).
    #[inline]
    pub(crate) fn step(&self, tat: Option<u64>, now: u64) -> Step {
        let tat = tat.map_or(now, |t| t.max(now));
        let ahead = tat - now;
        if ahead > self.tolerance {
            return Step {
                allowed: false,
                tat,
                remaining: 0,
                reset: ahead,
                retry_after: ahead - self.tolerance,
            };
        }
        let ahead = ahead + self.interval;
        Step {
            allowed: true,
            tat: tat.saturating_add(self.interval),
            // How many more fit before the TAT passes now + τ.
            remaining: if ahead > self.tolerance {
                0
            } else {
                (self.tolerance - ahead) / self.interval + 1
            },
            reset: ahead,
            retry_after: 0,
        }
    }

    /// Whether a stored TAT has fully recovered at `now`, i.e. is indistinguishable from a
    /// key never seen (and so can be forgotten).
    #[inline]
    pub(crate) fn recovered(tat: u64, now: u64) -> bool {
        tat <= now
    }
}

impl Step {
    /// As a [`Decision`], with one tick being `tick_ns` nanoseconds.
    pub(crate) fn decision(&self, limit: u64, tick_ns: u64) -> Decision {
        let to_duration = |n: u64| Duration::from_nanos(n.saturating_mul(tick_ns));
        Decision {
            allowed: self.allowed,
            limit,
            remaining: self.remaining,
            reset: to_duration(self.reset),
            retry_after: (!self.allowed).then(|| to_duration(self.retry_after)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_is_exact_and_retry_after_points_at_the_next_admission() {
        // 3 per second does not divide evenly into nanoseconds: still exactly 3.
        let g = Rate::new(3, Duration::from_secs(1)).gcra(1).expect("valid");
        let mut tat = None;
        let mut allowed = 0;
        for _ in 0..3 {
            let s = g.step(tat, 1000);
            assert!(s.allowed);
            allowed += 1;
            assert_eq!(s.remaining, 3 - allowed);
            tat = Some(s.tat);
        }
        let refused = g.step(tat, 1000);
        assert!(!refused.allowed);
        assert_eq!(refused.retry_after, g.interval);
        assert!(!g.step(tat, 1000 + g.interval - 1).allowed);
        assert!(g.step(tat, 1000 + g.interval).allowed);
    }

    #[test]
    fn invalid_rates_are_rejected() {
        assert_eq!(
            Rate::new(0, Duration::from_secs(1)).gcra(1),
            Err(RateError::ZeroRequests)
        );
        assert_eq!(
            Rate::new(10, Duration::from_micros(5)).gcra(1000),
            Err(RateError::TooFine)
        );
    }

    #[test]
    fn large_tick_counts_convert_without_overflow() {
        let s = Step {
            allowed: false,
            tat: 0,
            remaining: 0,
            reset: 5_000_000_000,
            retry_after: 5_000_000_000,
        };
        let d = s.decision(1, 1);
        assert_eq!(d.reset, Duration::from_secs(5));
    }
}
