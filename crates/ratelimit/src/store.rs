//! Shared limits in Redis: GCRA rates and calendar quotas, all checks of one request in one
//! atomic script call (one round trip), bounded by a timeout and guarded by a breaker.

mod kv;

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::decision::{Decision, Outcome};
use crate::rate::{Rate, RateError};
use crate::window::Window;

/// The whole algorithm, run atomically by Redis (scripts are never interleaved with other
/// commands), which is what makes a limit exact across any number of gateway replicas.
///
/// KEYS: one per check. ARGV: four per check: kind, a, b, c.
///   kind "r" (GCRA rate): a = emission interval T (µs), b = tolerance τ (µs).
///   kind "q" (quota):     a = limit, b = expiry (ms since the epoch, PEXPIREAT).
/// Phase 1 evaluates every check without writing; phase 2 writes only if all admit, so a
/// refused request consumes nothing anywhere.
/// Rates read the clock from Redis TIME: one clock for all replicas, no skew. Quotas do not
/// need a clock here: the caller computed the window (and so the key) from its own `now`.
/// Numbers are written with %.0f because Lua's default number formatting keeps only 14
/// significant digits and a µs timestamp has 16.
/// Returns {all_ok, then per check: allowed, remaining, reset_us}.
const SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local n = #KEYS
local all_ok = true
local st = {}
for i = 1, n do
  local kind = ARGV[4 * i - 3]
  local a = tonumber(ARGV[4 * i - 2])
  local b = tonumber(ARGV[4 * i - 1])
  if kind == 'r' then
    local tat = tonumber(redis.call('GET', KEYS[i])) or now
    if tat < now then tat = now end
    local ahead = tat - now
    if ahead > b then
      all_ok = false
      st[i] = {0, tat, 0, ahead, 0, ahead}
    else
      local after = ahead + a
      local rem = 0
      if after <= b then rem = math.floor((b - after) / a) + 1 end
      -- {allowed, new TAT, remaining if committed, reset if committed,
      --  remaining if not committed, reset if not committed}
      st[i] = {1, tat + a, rem, after, math.floor((b - ahead) / a) + 1, ahead}
    end
  else
    local used = tonumber(redis.call('GET', KEYS[i])) or 0
    if used >= a then
      all_ok = false
      st[i] = {0, used, 0, 0, 0, 0}
    else
      st[i] = {1, used + 1, a - used - 1, 0, a - used, 0}
    end
  end
end
local out = {all_ok and 1 or 0}
for i = 1, n do
  local s = st[i]
  if all_ok then
    if ARGV[4 * i - 3] == 'r' then
      -- Expire exactly when the bucket is full again: a missing key means the same.
      redis.call('SET', KEYS[i], string.format('%.0f', s[2]), 'PX', math.ceil(s[4] / 1000))
    else
      redis.call('INCR', KEYS[i])
      redis.call('PEXPIREAT', KEYS[i], ARGV[4 * i - 1])
    end
    out[#out + 1] = s[1]
    out[#out + 1] = s[3]
    out[#out + 1] = s[4]
  else
    out[#out + 1] = s[1]
    out[#out + 1] = s[5]
    out[#out + 1] = s[6]
  end
end
return out
";

/// Quota counters are kept this long past their window's end. The key name already
/// changes at the boundary (the window index is in it), so this does not delay rollover;
/// it keeps a replica whose clock runs slightly behind counting into the old window
/// instead of recreating an already expired counter from zero.
const QUOTA_GRACE_MS: u64 = 60_000;

/// Settings of a [`RedisStore`].
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// Upper bound on one [`RedisStore::check`] call, connecting included. Default 50 ms.
    pub timeout: Duration,
    /// Prefix of every key this store writes. Default `tollgate:rl:`.
    pub prefix: String,
    /// After a failure, calls fail fast (no network attempt) for this long; doubled after
    /// each further consecutive failure. Default 100 ms.
    pub backoff: Duration,
    /// Cap on the doubled backoff. Default 2 s.
    pub max_backoff: Duration,
    /// For `rediss://` with a private CA: trust these PEM root certificates instead of
    /// the system's. Default `None` (system roots).
    pub tls_root_ca_pem: Option<Vec<u8>>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_millis(50),
            prefix: "tollgate:rl:".to_string(),
            backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
            tls_root_ca_pem: None,
        }
    }
}

/// One limit to check in a [`RedisStore::check`] call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check<'a> {
    /// A GCRA rate limit, timed by the Redis server clock.
    Rate {
        /// The limited entity (consumer id, IP, …). Keys of different rates never collide:
        /// the rate is part of the Redis key.
        key: &'a str,
        /// The rate.
        rate: Rate,
    },
    /// A quota: at most `limit` requests per calendar/fixed window.
    Quota {
        /// The limited entity.
        key: &'a str,
        /// Requests per window.
        limit: u64,
        /// The window kind.
        window: Window,
        /// The caller's current time: decides which window is current (injectable, so
        /// rollover can be tested without waiting).
        now: SystemTime,
    },
}

/// Why a [`RedisStore::check`] did not produce decisions. The gateway then applies the
/// limit's `on_store_failure` (allow or deny).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// No answer within [`StoreOptions::timeout`] (Redis slow, paused or unreachable).
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
    /// Redis refused or the connection failed.
    #[error("redis unavailable: {0}")]
    Unavailable(String),
    /// Recent calls failed, so this one failed fast without touching the network.
    #[error("redis marked unavailable after recent failures; next attempt in {retry_in:?}")]
    Backoff {
        /// Time until a call will try the network again.
        retry_in: Duration,
    },
    /// Redis answered something the script cannot have returned.
    #[error("unexpected reply from redis: {0}")]
    Protocol(String),
    /// A check cannot be evaluated (caller or configuration error; not a store failure).
    #[error("invalid check #{index}: {reason}")]
    InvalidCheck {
        /// Position of the check in the call.
        index: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// The Redis URL cannot be used.
    #[error("invalid redis url: {0}")]
    InvalidUrl(String),
}

impl StoreError {
    /// True for failures of the store itself (as opposed to invalid input), i.e. when
    /// `on_store_failure` applies.
    pub fn is_store_failure(&self) -> bool {
        matches!(
            self,
            StoreError::Timeout(_)
                | StoreError::Unavailable(_)
                | StoreError::Backoff { .. }
                | StoreError::Protocol(_)
        )
    }
}

/// Shared limits in Redis, for all gateway replicas. Cheap to share behind an `Arc`; one
/// multiplexed connection carries all concurrent calls.
pub struct RedisStore {
    conn: ConnectionManager,
    script: redis::Script,
    options: StoreOptions,
    breaker: Breaker,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("options", &self.options)
            .field("failures", &self.failures())
            .field("healthy", &self.is_healthy())
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// A store for `url` (`redis://[user:pass@]host:port[/db]`, or `rediss://` for TLS).
    ///
    /// Does not connect: the connection is made by the first call and re-made after
    /// failures, so the gateway can start (and apply `on_store_failure`) while Redis is
    /// down. Must be called inside a Tokio runtime.
    pub fn new(url: &str, options: StoreOptions) -> Result<Self, StoreError> {
        let client = match &options.tls_root_ca_pem {
            None => redis::Client::open(url),
            Some(pem) => redis::Client::build_with_tls(
                url,
                redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(pem.clone()),
                },
            ),
        }
        .map_err(|e| StoreError::InvalidUrl(e.to_string()))?;
        // The manager's own timeouts match ours so a dead connection is noticed and
        // replaced; its reconnect retries are few because our breaker does the waiting.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(options.timeout))
            .set_response_timeout(Some(options.timeout))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(10))
            .set_max_delay(options.max_backoff);
        let conn = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        Ok(Self {
            conn,
            script: redis::Script::new(SCRIPT),
            breaker: Breaker::new(options.backoff, options.max_backoff),
            options,
        })
    }

    /// Checks one request against all `checks` atomically, in one round trip.
    ///
    /// The request is admitted (and every check consumes one unit) only if every check
    /// admits it; otherwise nothing is consumed. Checks in one call should use distinct
    /// (key, limit) pairs. Errors are bounded by [`StoreOptions::timeout`]; after a
    /// failure, calls fail fast with [`StoreError::Backoff`] until the backoff expires,
    /// then one call probes Redis again.
    pub async fn check(&self, checks: &[Check<'_>]) -> Result<Outcome, StoreError> {
        if checks.is_empty() {
            return Ok(Outcome {
                allowed: true,
                decisions: Vec::new(),
            });
        }
        let plan = self.plan(checks)?;
        let probe = self.breaker.admit()?;
        let mut conn = self.conn.clone();
        let mut invocation = self.script.prepare_invoke();
        for (key, args) in &plan.keys {
            invocation.key(key);
            for a in args {
                invocation.arg(a);
            }
        }
        let reply = tokio::time::timeout(
            self.options.timeout,
            invocation.invoke_async::<Vec<i64>>(&mut conn),
        )
        .await;
        let reply = match reply {
            Ok(Ok(v)) => v,
            // The connection's own response timeout (same length) may fire first.
            Ok(Err(e)) if e.is_timeout() => {
                return Err(self
                    .breaker
                    .failed(probe, StoreError::Timeout(self.options.timeout)));
            }
            Ok(Err(e)) => {
                return Err(self
                    .breaker
                    .failed(probe, StoreError::Unavailable(e.to_string())));
            }
            Err(_) => {
                return Err(self
                    .breaker
                    .failed(probe, StoreError::Timeout(self.options.timeout)));
            }
        };
        match plan.decide(&reply) {
            Some(outcome) => {
                self.breaker.succeeded();
                Ok(outcome)
            }
            None => Err(self.breaker.failed(
                probe,
                StoreError::Protocol(format!("{} integers", reply.len())),
            )),
        }
    }

    /// Total store failures (timeouts, connection and protocol errors, fast failures
    /// during backoff) since creation; for metrics.
    pub fn failures(&self) -> u64 {
        self.breaker.failures.load(Ordering::Relaxed)
    }

    /// False while calls are failing fast after a failure (breaker open).
    pub fn is_healthy(&self) -> bool {
        self.breaker.consecutive.load(Ordering::Relaxed) == 0
    }

    /// The options in use.
    pub fn options(&self) -> &StoreOptions {
        &self.options
    }

    /// Redis keys and script arguments for `checks`, plus what is needed to turn the
    /// reply into decisions.
    fn plan<'c>(&self, checks: &'c [Check<'c>]) -> Result<Plan<'c>, StoreError> {
        let prefix = &self.options.prefix;
        let mut keys = Vec::with_capacity(checks.len());
        for (index, check) in checks.iter().enumerate() {
            let invalid = |reason: String| StoreError::InvalidCheck { index, reason };
            match *check {
                Check::Rate { key, rate } => {
                    let g = rate
                        .gcra(1000)
                        .map_err(|e: RateError| invalid(e.to_string()))?;
                    keys.push((
                        format!("{prefix}r:{}:{}:{key}", rate.requests, g.interval),
                        [
                            "r".to_string(),
                            g.interval.to_string(),
                            g.tolerance.to_string(),
                            String::new(),
                        ],
                    ));
                }
                Check::Quota {
                    key,
                    limit,
                    window,
                    now,
                } => {
                    if limit == 0 {
                        return Err(invalid("a quota needs a limit of at least 1".into()));
                    }
                    let b = window
                        .bounds(now)
                        .ok_or_else(|| invalid("a fixed window must be at least 1 ms".into()))?;
                    keys.push((
                        format!("{prefix}q:{}:{}:{key}", window.tag(), b.index),
                        [
                            "q".to_string(),
                            limit.to_string(),
                            b.end_ms.saturating_add(QUOTA_GRACE_MS).to_string(),
                            String::new(),
                        ],
                    ));
                }
            }
        }
        Ok(Plan { checks, keys })
    }
}

struct Plan<'c> {
    checks: &'c [Check<'c>],
    keys: Vec<(String, [String; 4])>,
}

impl Plan<'_> {
    fn decide(&self, reply: &[i64]) -> Option<Outcome> {
        let (&all_ok, rest) = reply.split_first()?;
        if rest.len() != 3 * self.checks.len() {
            return None;
        }
        let mut decisions = Vec::with_capacity(self.checks.len());
        for (check, r) in self.checks.iter().zip(rest.chunks_exact(3)) {
            let allowed = r[0] == 1;
            let remaining = u64::try_from(r[1]).ok()?;
            decisions.push(match *check {
                Check::Rate { rate, .. } => {
                    let reset = Duration::from_micros(u64::try_from(r[2]).ok()?);
                    let tolerance = rate.gcra(1000).ok()?.tolerance;
                    Decision {
                        allowed,
                        limit: rate.requests,
                        remaining,
                        reset,
                        retry_after: (!allowed)
                            .then(|| reset.saturating_sub(Duration::from_micros(tolerance))),
                    }
                }
                Check::Quota {
                    limit, window, now, ..
                } => {
                    let end = window.bounds(now)?.end_ms;
                    let end = SystemTime::UNIX_EPOCH + Duration::from_millis(end);
                    let reset = end.duration_since(now).unwrap_or_default();
                    Decision {
                        allowed,
                        limit,
                        remaining,
                        reset,
                        retry_after: (!allowed).then_some(reset),
                    }
                }
            });
        }
        Some(Outcome {
            allowed: all_ok == 1,
            decisions,
        })
    }
}

/// Fails calls fast after failures so an outage does not turn into a storm of connection
/// attempts and timeouts, and lets exactly one call probe when the backoff expires.
#[derive(Debug)]
struct Breaker {
    epoch: Instant,
    /// 0 = closed. Otherwise 1 + the millisecond (since `epoch`) until which calls fail
    /// fast. The probing call pushes it forward so the others keep failing fast while it
    /// runs.
    open_until: AtomicU64,
    consecutive: AtomicU32,
    failures: AtomicU64,
    base: Duration,
    max: Duration,
}

impl Breaker {
    fn new(base: Duration, max: Duration) -> Self {
        Self {
            epoch: Instant::now(),
            open_until: AtomicU64::new(0),
            consecutive: AtomicU32::new(0),
            failures: AtomicU64::new(0),
            base,
            max,
        }
    }

    fn now_ms(&self) -> u64 {
        1 + u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX - 1)
    }

    /// Ok(true) for the one call that probes after a backoff, Ok(false) for ordinary
    /// calls while closed.
    fn admit(&self) -> Result<bool, StoreError> {
        let until = self.open_until.load(Ordering::Acquire);
        if until == 0 {
            return Ok(false);
        }
        let now = self.now_ms();
        if now >= until {
            // Backoff over: the one call that wins this exchange probes. It holds the
            // breaker open meanwhile (its own timeout ends it well before `max`; the hold
            // only matters if the probing future is dropped midway).
            let hold = now + u64::try_from(self.max.as_millis()).unwrap_or(u64::MAX / 4);
            if self
                .open_until
                .compare_exchange(until, hold, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                return Ok(true);
            }
        }
        self.failures.fetch_add(1, Ordering::Relaxed);
        let until = self.open_until.load(Ordering::Acquire);
        Err(StoreError::Backoff {
            retry_in: Duration::from_millis(until.saturating_sub(now)),
        })
    }

    fn succeeded(&self) {
        if self.consecutive.swap(0, Ordering::Relaxed) != 0 {
            tracing::info!("redis rate-limit store is answering again");
        }
        self.open_until.store(0, Ordering::Release);
    }

    /// Opens the breaker. Only a failed probe doubles the backoff: when many in-flight
    /// calls time out together (one outage), the first opens the breaker and the rest
    /// leave it alone, so one slow moment does not jump straight to `max`.
    fn failed(&self, probe: bool, error: StoreError) -> StoreError {
        self.failures.fetch_add(1, Ordering::Relaxed);
        let now = self.now_ms();
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX / 4);
        if probe {
            let n = self
                .consecutive
                .fetch_add(1, Ordering::Relaxed)
                .saturating_add(1);
            let backoff = self
                .base
                .saturating_mul(1 << n.saturating_sub(1).min(16))
                .min(self.max);
            self.open_until.store(now + ms(backoff), Ordering::Release);
        } else if self
            .open_until
            .compare_exchange(0, now + ms(self.base), Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            self.consecutive.store(1, Ordering::Relaxed);
            tracing::warn!(%error, backoff = ?self.base, "redis rate-limit store failed; failing fast");
        }
        error
    }
}
