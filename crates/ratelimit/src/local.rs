//! Per-process GCRA keyed by strings, with a hard cap on tracked keys.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use crate::decision::Decision;
use crate::rate::{Gcra, Rate, RateError};

/// Bytes per table slot: the key pointer, the TAT and hashbrown's control byte.
const SLOT: usize = std::mem::size_of::<(Box<str>, u64)>() + 1;

/// How many entries the eviction looks at when a shard is full of keys that have not
/// recovered yet. Small: it runs on the request path.
const EVICTION_SAMPLE: usize = 8;

/// Heap overhead assumed per key allocation in [`LocalLimiter::approx_memory_bytes`]
/// (allocator header and rounding for small strings).
const ALLOC_OVERHEAD: usize = 16;

/// One configured local (per-process) rate limit, keyed by e.g. client IP or consumer.
///
/// State per key is a single `u64` (the GCRA theoretical arrival time), so a key costs
/// its string plus about 57 bytes of table (see [`Self::memory_bound`]). The number of keys is capped at `max_keys`:
/// a key whose state has fully recovered is equivalent to one never seen and is dropped
/// by sweeps; if a shard is still full of live keys, the live key closest to recovery
/// among a small sample is evicted (that key then starts over with a full burst, the
/// least harmful thing to forget). Keep `max_keys` above the number of keys expected to
/// be active within one period.
///
/// Hand-written rather than `governor`'s keyed limiter: governor's keyed state grows
/// until someone calls `retain_recent`, has no cap, and needs an owned key for lookups;
/// here the cap is enforced on insert and existing keys are found by `&str` without
/// allocating.
#[derive(Debug)]
pub struct LocalLimiter {
    gcra: Gcra,
    /// Time origin: instants are converted to nanoseconds since this point.
    epoch: Instant,
    shards: Box<[Mutex<Shard>]>,
    /// Picks the shard; independent of each shard map's own hasher.
    hasher: RandomState,
    shard_cap: usize,
    /// The table size (buckets) each shard settles at when full; see `new`.
    shard_buckets: usize,
}

#[derive(Debug, Default)]
struct Shard {
    /// Key → TAT in nanoseconds since `epoch`.
    map: HashMap<Box<str>, u64>,
    /// Sum of key lengths, for the memory estimate.
    key_bytes: usize,
    /// No entry can recover before this tick, so a sweep before it would find nothing.
    /// Keeps a shard full of live keys from being rescanned on every new key.
    next_sweep: u64,
    /// Most keys held since the table was last shrunk: bounds the table's size.
    peak: usize,
}

impl Shard {
    fn sweep(&mut self, now: u64) -> usize {
        let before = self.map.len();
        let mut next = u64::MAX;
        let mut freed = 0;
        self.map.retain(|key, &mut tat| {
            if Gcra::recovered(tat, now) {
                freed += key.len();
                false
            } else {
                next = next.min(tat);
                true
            }
        });
        self.key_bytes -= freed;
        self.next_sweep = next;
        before - self.map.len()
    }

    /// Frees one slot in a full shard.
    fn make_room(&mut self, now: u64, cap: usize) {
        if self.map.len() < cap {
            return;
        }
        if now >= self.next_sweep {
            self.sweep(now);
            if self.map.len() < cap {
                return;
            }
        }
        let victim = self
            .map
            .iter()
            .take(EVICTION_SAMPLE)
            .min_by_key(|&(_, &tat)| tat)
            .map(|(k, _)| k.clone());
        if let Some(key) = victim {
            self.key_bytes -= key.len();
            self.map.remove(&key);
        }
    }
}

impl LocalLimiter {
    /// A limiter for `rate` that tracks at most `max_keys` keys (at least 1).
    pub fn new(rate: Rate, max_keys: usize) -> Result<Self, RateError> {
        let gcra = rate.gcra(1)?;
        let max_keys = max_keys.max(1);
        // Enough shards that two cores rarely contend, few enough that each shard holds a
        // useful number of keys (the cap is enforced per shard).
        let target_shards = (max_keys / 256).clamp(1, 64);
        let per_shard = max_keys.div_ceil(target_shards);
        // Size shards so that a full shard keeps its table at most half full. Removing
        // keys leaves tombstones; when they use up the free slots, the table (hashbrown)
        // rehashes in place if at most half of its usable capacity is live, and doubles
        // otherwise. Holding the cap under half means a full shard under churn stays at
        // this size forever instead of doubling once more. The shard count is then
        // derived from that size, so the table overhead stays near 16/7 slots per key.
        let buckets = table_buckets_for(per_shard);
        let half = usable(buckets) / 2 - 1;
        let shards = max_keys.div_ceil(half);
        Ok(Self {
            gcra,
            epoch: Instant::now(),
            shards: (0..shards).map(|_| Mutex::new(Shard::default())).collect(),
            hasher: RandomState::new(),
            shard_cap: max_keys / shards,
            shard_buckets: buckets,
        })
    }

    /// Counts one request for `key` at `now` and says whether it is admitted.
    ///
    /// `now` is passed in so tests can move time without sleeping; in the gateway it is
    /// `Instant::now()`. Instants before the limiter was created count as its creation
    /// time. A refused request does not change the key's state.
    pub fn check(&self, key: &str, now: Instant) -> Decision {
        let now = self.ticks(now);
        let mut shard = self.shard(key);
        let step = if let Some(tat) = shard.map.get_mut(key) {
            let step = self.gcra.step(Some(*tat), now);
            if step.allowed {
                *tat = step.tat;
            }
            step
        } else {
            let step = self.gcra.step(None, now);
            if step.allowed {
                shard.make_room(now, self.shard_cap);
                shard.key_bytes += key.len();
                shard.next_sweep = shard.next_sweep.min(step.tat);
                shard.map.insert(key.into(), step.tat);
                shard.peak = shard.peak.max(shard.map.len());
            }
            step
        };
        drop(shard);
        step.decision(self.gcra.limit, 1)
    }

    /// Drops every key whose state has fully recovered at `now` (it would behave exactly
    /// like a new key) and returns how many were dropped. Call it periodically (e.g. every
    /// few seconds) to give memory back between bursts of new keys; the cap holds without
    /// it.
    pub fn sweep(&self, now: Instant) -> usize {
        let now = self.ticks(now);
        self.shards
            .iter()
            .map(|s| {
                let mut shard = lock(s);
                let removed = shard.sweep(now);
                if shard.map.capacity() > 4 * shard.map.len().max(16) {
                    shard.map.shrink_to_fit();
                    shard.peak = shard.map.len();
                }
                removed
            })
            .sum()
    }

    /// Number of keys currently tracked (never more than [`Self::max_keys`]).
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(s).map.len()).sum()
    }

    /// True when no key is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The effective cap on tracked keys (the configured one rounded down to a multiple
    /// of the shard count).
    pub fn max_keys(&self) -> usize {
        self.shard_cap * self.shards.len()
    }

    /// An upper estimate of the heap memory held: table slots (key pointer + TAT +
    /// control byte) at the largest table size the shard can have reached, plus key
    /// strings with allocator overhead. Never more than [`Self::memory_bound`].
    pub fn approx_memory_bytes(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                let shard = lock(s);
                let buckets = table_buckets_for(shard.peak).min(self.shard_buckets);
                buckets * SLOT + shard.key_bytes + shard.map.len() * ALLOC_OVERHEAD
            })
            .sum::<usize>()
            + std::mem::size_of::<Self>()
    }

    /// The most memory this limiter can hold when keys are at most `max_key_len` bytes
    /// long: every shard's table at its settled size plus `max_keys` keys. For large caps
    /// this is about `max_keys × (58 + max_key_len + 16)` bytes (16/7 slots of 25 bytes
    /// per key); small caps round up to at most `64` bytes of table per key.
    pub fn memory_bound(&self, max_key_len: usize) -> usize {
        self.shards.len() * self.shard_buckets * SLOT
            + self.max_keys() * (max_key_len + ALLOC_OVERHEAD)
            + std::mem::size_of::<Self>()
    }

    fn ticks(&self, now: Instant) -> u64 {
        u64::try_from(now.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX)
    }

    fn shard(&self, key: &str) -> MutexGuard<'_, Shard> {
        let i = if self.shards.len() == 1 {
            0
        } else {
            // Modulo of a 64-bit hash: the bias for ≤ 64 shards is negligible.
            (self.hasher.hash_one(key) % self.shards.len() as u64) as usize
        };
        lock(&self.shards[i])
    }
}

/// Usable capacity of a hashbrown table with `buckets` buckets (it keeps 1/8 free).
fn usable(buckets: usize) -> usize {
    if buckets < 8 {
        buckets - 1
    } else {
        buckets / 8 * 7
    }
}

/// The largest table a shard that held at most `peak` keys can have: growth on insert, or
/// a doubling forced by tombstones while more than half of the usable capacity was live.
fn table_buckets_for(peak: usize) -> usize {
    let mut buckets = 4;
    while usable(buckets) / 2 < peak + 1 {
        buckets *= 2;
    }
    buckets
}

/// The state stays consistent even if a holder panicked (every update is one store), so
/// a poisoned lock is simply taken over.
fn lock(m: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn exact_burst_then_refusal_with_retry_after() {
        let rate = Rate::new(5, Duration::from_secs(10));
        let lim = LocalLimiter::new(rate, 1000).expect("valid rate");
        let t0 = Instant::now();
        for i in 0..5 {
            let d = lim.check("a", t0);
            assert!(d.allowed, "request {i}");
            assert_eq!(d.remaining, 4 - i);
            assert_eq!(d.limit, 5);
        }
        let d = lim.check("a", t0);
        assert!(!d.allowed);
        assert_eq!(d.remaining, 0);
        assert_eq!(d.retry_after, Some(Duration::from_secs(2)));
        assert_eq!(d.reset, Duration::from_secs(10));
        // Other keys are independent.
        assert!(lim.check("b", t0).allowed);
    }

    #[test]
    fn recovers_one_request_per_emission_interval() {
        let lim = LocalLimiter::new(Rate::new(5, Duration::from_secs(10)), 1000).expect("valid");
        let t0 = Instant::now();
        for _ in 0..5 {
            assert!(lim.check("a", t0).allowed);
        }
        let almost = t0 + Duration::from_millis(1999);
        assert!(!lim.check("a", almost).allowed);
        let t1 = t0 + Duration::from_secs(2);
        let d = lim.check("a", t1);
        assert!(d.allowed);
        assert_eq!(d.remaining, 0);
        assert!(!lim.check("a", t1).allowed);
        // After a full period the whole burst is back.
        let t2 = t1 + Duration::from_secs(10);
        for _ in 0..5 {
            assert!(lim.check("a", t2).allowed);
        }
        assert!(!lim.check("a", t2).allowed);
    }

    #[test]
    fn refused_requests_do_not_consume() {
        let lim = LocalLimiter::new(Rate::new(1, Duration::from_secs(1)), 10).expect("valid");
        let t0 = Instant::now();
        assert!(lim.check("k", t0).allowed);
        for _ in 0..100 {
            assert!(!lim.check("k", t0 + Duration::from_millis(500)).allowed);
        }
        assert!(lim.check("k", t0 + Duration::from_secs(1)).allowed);
    }
}
