//! A JWKS fetched from an identity provider (directly or through OIDC discovery), cached,
//! refreshed in the background, and refreshed on demand when a token names an unknown
//! `kid`.
//!
//! ```text
//!  JwksSource::start ──spawn──▶ refresher loop: fetch ─ sleep(max-age ∈ [min, max]) ─ fetch …
//!                                      │                     (failure: backoff, keep keys)
//!  verify ──▶ ready() ── keys? ──yes──▶ snapshot (Arc, lock-free to share)
//!                         └─no──▶ wait for the first fetch, at most `max_wait`
//!  unknown kid ──▶ refresh(forced): join the fetch in flight, or start one if the last
//!                  forced one is older than `unknown_kid_interval`; else refuse the token
//! ```
//!
//! Every fetch runs in its own task, so a request that gives up waiting (client gone,
//! timeout) does not cancel a fetch that others are waiting for; and at most one fetch
//! runs at a time (single flight).

mod refresh;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::AbortHandle;

use crate::clock::Clock;
use crate::discovery::ProviderMetadata;
use crate::error::{ConfigError, JwtError};
use crate::fetch::Fetch;
use crate::keys::KeySet;

/// Where the keys come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JwksLocation {
    /// A JWKS URL (`jwks_uri:`).
    Uri(String),
    /// OIDC discovery (`discovery:`): the issuer URL or its
    /// `/.well-known/openid-configuration` URL. The document's `issuer` must equal
    /// `issuer` when given, else the issuer the URL implies; it then becomes the issuer
    /// tokens must carry, and its `jwks_uri` the key URL.
    Discovery {
        /// The discovery URL.
        url: String,
        /// The configured issuer, when there is one.
        issuer: Option<String>,
    },
}

/// How keys are fetched and kept.
#[derive(Clone, Debug)]
pub struct JwksConfig {
    /// Where the keys come from.
    pub location: JwksLocation,
    /// Refresh interval when the response has no `Cache-Control: max-age` (default 5 min).
    pub default_refresh: Duration,
    /// Lower bound on the refresh interval, whatever max-age says (default 1 min); also the
    /// cap of the retry backoff while the provider fails.
    pub min_refresh: Duration,
    /// Upper bound on the refresh interval (default 1 h): rotated keys are picked up at
    /// least this often even if the provider asks for longer caching.
    pub max_refresh: Duration,
    /// At most one refresh triggered by unknown `kid`s per this interval (default 30 s):
    /// tokens with made-up `kid`s cannot make us hammer the provider.
    pub unknown_kid_interval: Duration,
    /// Longest a request waits for a fetch (default 5 s): for the first key set, after
    /// which it fails with [`JwtError::KeysUnavailable`], or for a refresh triggered by an
    /// unknown `kid`, after which it is refused as [`JwtError::UnknownKey`]. The fetch
    /// itself goes on in the background, bounded by `fetch_timeout`.
    pub max_wait: Duration,
    /// Bound on one fetch, discovery included (default 10 s).
    pub fetch_timeout: Duration,
    /// Largest accepted response body (default 1 MiB).
    pub max_body_bytes: usize,
}

impl JwksConfig {
    /// Defaults for `location`.
    pub fn new(location: JwksLocation) -> Self {
        Self {
            location,
            default_refresh: Duration::from_secs(300),
            min_refresh: Duration::from_secs(60),
            max_refresh: Duration::from_secs(3600),
            unknown_kid_interval: Duration::from_secs(30),
            max_wait: Duration::from_secs(5),
            fetch_timeout: Duration::from_secs(10),
            max_body_bytes: 1 << 20,
        }
    }
}

/// One loaded key set. Replaced whole when the provider's keys change.
#[derive(Debug)]
pub struct KeySnapshot {
    keys: KeySet,
    provider: Option<Arc<ProviderMetadata>>,
}

impl KeySnapshot {
    /// The keys.
    pub fn keys(&self) -> &KeySet {
        &self.keys
    }

    /// The issuer from OIDC discovery, when the keys came through it.
    pub fn issuer(&self) -> Option<&str> {
        self.provider.as_ref().map(|p| p.issuer.as_str())
    }

    /// The provider's metadata, when the keys came through OIDC discovery.
    pub fn provider(&self) -> Option<&Arc<ProviderMetadata>> {
        self.provider.as_ref()
    }
}

/// Counters, for metrics and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JwksStats {
    /// Fetch attempts (a discovery document plus its JWKS count as one).
    pub fetches: u64,
    /// Attempts that failed (the previous keys stayed in use).
    pub failures: u64,
    /// Attempts started because a token named an unknown `kid`.
    pub unknown_kid_refreshes: u64,
}

/// A cached, self-refreshing JWKS. Cheap to clone; share one per provider URL across
/// verifiers and configuration reloads, or every reload refetches.
#[derive(Clone, Debug)]
pub struct JwksSource {
    shared: Arc<Shared>,
}

/// The outcome of one fetch attempt: the provider's max-age on success.
type Outcome = Result<Option<Duration>, ()>;

#[derive(Clone, Copy, Debug)]
struct Attempts {
    completed: u64,
    last: Outcome,
}

#[derive(Debug, Default)]
struct Control {
    in_flight: bool,
    /// Clock reading when the last unknown-`kid` refresh started.
    last_forced: Option<Duration>,
}

struct Shared {
    config: JwksConfig,
    fetch: Arc<dyn Fetch>,
    clock: Arc<dyn Clock>,
    keys: watch::Sender<Option<Arc<KeySnapshot>>>,
    attempts: watch::Sender<Attempts>,
    control: Mutex<Control>,
    discovered: Mutex<Option<Arc<ProviderMetadata>>>,
    /// Bumped whenever a refresh drops a key, so verification results cached under the
    /// old keys stop being served.
    removals: AtomicU64,
    fetches: AtomicU64,
    failures: AtomicU64,
    forced: AtomicU64,
    task: Mutex<Option<AbortHandle>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksSource")
            .field("location", &self.config.location)
            .finish_non_exhaustive()
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // The refresher holds only a weak reference; stop it with the last source.
        if let Some(task) = lock(&self.task).take() {
            task.abort();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing holding these locks can leave the data half-updated; a panic elsewhere
    // must not stop key refreshes.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn check_url(url: &str) -> Result<(), ConfigError> {
    if url.starts_with("https://") || url.starts_with("http://") {
        Ok(())
    } else {
        Err(ConfigError::InvalidUrl(url.to_owned()))
    }
}

impl JwksSource {
    /// Starts fetching at once, in a task on the current tokio runtime, and keeps the keys
    /// fresh until the last clone is dropped.
    pub fn start(
        config: JwksConfig,
        fetch: Arc<dyn Fetch>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ConfigError> {
        match &config.location {
            JwksLocation::Uri(url) | JwksLocation::Discovery { url, .. } => check_url(url)?,
        }
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| ConfigError::NoRuntime)?;
        let shared = Arc::new(Shared {
            config,
            fetch,
            clock,
            keys: watch::Sender::new(None),
            attempts: watch::Sender::new(Attempts {
                completed: 0,
                last: Err(()),
            }),
            control: Mutex::new(Control::default()),
            discovered: Mutex::new(None),
            removals: AtomicU64::new(0),
            fetches: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            forced: AtomicU64::new(0),
            task: Mutex::new(None),
        });
        let task = runtime.spawn(refresh::run(Arc::downgrade(&shared)));
        *lock(&shared.task) = Some(task.abort_handle());
        Ok(Self { shared })
    }

    /// The current keys, if any were loaded.
    pub fn current(&self) -> Option<Arc<KeySnapshot>> {
        self.shared.keys.borrow().clone()
    }

    /// The current keys; before the first successful fetch, waits for it up to
    /// [`JwksConfig::max_wait`].
    pub async fn ready(&self) -> Result<Arc<KeySnapshot>, JwtError> {
        if let Some(keys) = self.current() {
            return Ok(keys);
        }
        let mut rx = self.shared.keys.subscribe();
        let wait = async {
            rx.wait_for(Option::is_some)
                .await
                .ok()
                .and_then(|k| k.clone())
        };
        match tokio::time::timeout(self.shared.config.max_wait, wait).await {
            Ok(Some(keys)) => Ok(keys),
            _ => Err(JwtError::KeysUnavailable),
        }
    }

    /// Counters.
    pub fn stats(&self) -> JwksStats {
        let s = &self.shared;
        JwksStats {
            fetches: s.fetches.load(Ordering::Relaxed),
            failures: s.failures.load(Ordering::Relaxed),
            unknown_kid_refreshes: s.forced.load(Ordering::Relaxed),
        }
    }

    /// Called when `seen` has no key for a token: returns newer keys, refreshing first if
    /// the rate limit allows (joining a fetch already running); `None` if nothing changed.
    pub(crate) async fn refresh_for_unknown_kid(
        &self,
        seen: &Arc<KeySnapshot>,
    ) -> Option<Arc<KeySnapshot>> {
        if let Some(current) = self.current()
            && !Arc::ptr_eq(&current, seen)
        {
            return Some(current);
        }
        // Success or failure alike, what counts is whether the keys changed.
        let _outcome = self
            .shared
            .refresh(true, self.shared.config.max_wait)
            .await?;
        let current = self.current()?;
        (!Arc::ptr_eq(&current, seen)).then_some(current)
    }

    /// How many refreshes dropped a key so far; see [`crate::Verifier`]'s cache.
    pub(crate) fn removals(&self) -> u64 {
        self.shared.removals.load(Ordering::Acquire)
    }
}
