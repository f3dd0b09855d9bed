//! Wall-clock time, injectable so tests move time instead of sleeping.

use std::fmt::Debug;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of the current time. Used for `exp`/`nbf`/`iat`, verification-cache expiry and
/// the unknown-`kid` refresh rate limit (background refresh timing uses tokio's timer).
pub trait Clock: Send + Sync + Debug + 'static {
    /// Time since the Unix epoch.
    fn unix_now(&self) -> Duration;

    /// Seconds since the Unix epoch, fractional.
    fn seconds(&self) -> f64 {
        self.unix_now().as_secs_f64()
    }
}

/// The system clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn unix_now(&self) -> Duration {
        // Only a badly broken host reads before 1970; the epoch keeps this infallible.
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
    }
}

/// A clock that only moves when told to; for tests and benches.
#[derive(Debug, Default)]
pub struct ManualClock {
    micros: AtomicU64,
}

impl ManualClock {
    /// A clock reading `unix_secs` seconds after the epoch.
    pub fn new(unix_secs: u64) -> Self {
        Self {
            micros: AtomicU64::new(unix_secs.saturating_mul(1_000_000)),
        }
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let micros = u64::try_from(by.as_micros()).unwrap_or(u64::MAX);
        self.micros.fetch_add(micros, Ordering::SeqCst);
    }

    /// Sets the clock to `unix_secs` seconds after the epoch.
    pub fn set(&self, unix_secs: u64) {
        self.micros
            .store(unix_secs.saturating_mul(1_000_000), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn unix_now(&self) -> Duration {
        Duration::from_micros(self.micros.load(Ordering::SeqCst))
    }
}
