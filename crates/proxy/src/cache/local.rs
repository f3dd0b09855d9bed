//! The local store: a byte budget over every `store: local` route, kept across reloads.
//!
//! Sharded maps under short mutexes; eviction by CLOCK (second chance): a hit marks its
//! entry, and when a shard is over its share of the budget the oldest entry goes unless
//! it was hit since the hand last passed, in which case it is kept for one more round.
//! Expired entries go first. That is LRU's behaviour for a cache at the cost of a flag
//! write on a hit, and no dependency (moka's weigher and per-entry expiry would do the
//! same with ten more crates in the build).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::Stored;
use super::key::Key;

const SHARDS: usize = 16;

/// A byte-budgeted map of cache entries.
pub(crate) struct LocalStore {
    shards: Box<[Mutex<Shard>]>,
    budget: u64,
    shard_budget: u64,
}

#[derive(Default)]
struct Shard {
    map: HashMap<Key, Slot>,
    /// Insertion order for the clock hand, with each slot's generation: an entry
    /// replaced since is found stale by its generation and skipped.
    queue: VecDeque<(Key, u64)>,
    bytes: u64,
    next_gen: u64,
}

struct Slot {
    value: Stored,
    expires: Instant,
    weight: u64,
    generation: u64,
    referenced: bool,
}

impl LocalStore {
    /// A store that holds at most `budget` bytes of entries (headers and bodies).
    pub(crate) fn new(budget: u64) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            budget,
            shard_budget: (budget / SHARDS as u64).max(1),
        }
    }

    /// The budget it was made with.
    pub(crate) fn budget(&self) -> u64 {
        self.budget
    }

    fn shard(&self, key: &Key) -> &Mutex<Shard> {
        &self.shards[usize::from(key[0]) % SHARDS]
    }

    /// The fresh entry under `key`.
    pub(crate) fn get(&self, key: &Key, now: Instant) -> Option<Stored> {
        let mut s = self.shard(key).lock().unwrap_or_else(|e| e.into_inner());
        let slot = s.map.get_mut(key)?;
        if slot.expires <= now {
            let w = slot.weight;
            s.map.remove(key);
            s.bytes -= w;
            return None;
        }
        slot.referenced = true;
        Some(slot.value.clone())
    }

    /// Stores `value` for `ttl`; an entry larger than a shard's share of the budget is
    /// not stored (with the default 64MiB, 4MiB).
    pub(crate) fn insert(&self, key: Key, value: Stored, ttl: Duration, now: Instant) {
        let weight = value.weight() + key.len() as u64;
        if weight > self.shard_budget {
            return;
        }
        let mut guard = self.shard(&key).lock().unwrap_or_else(|e| e.into_inner());
        let s = &mut *guard;
        s.next_gen += 1;
        let generation = s.next_gen;
        let slot = Slot {
            value,
            expires: now + ttl,
            weight,
            generation,
            referenced: false,
        };
        if let Some(old) = s.map.insert(key, slot) {
            s.bytes -= old.weight;
        }
        s.bytes += weight;
        s.queue.push_back((key, generation));
        while s.bytes > self.shard_budget {
            let Some((k, g)) = s.queue.pop_front() else {
                break;
            };
            let Some(slot) = s.map.get_mut(&k) else {
                continue;
            };
            if slot.generation != g {
                continue;
            }
            if slot.referenced && slot.expires > now {
                slot.referenced = false;
                s.queue.push_back((k, g));
                continue;
            }
            let w = slot.weight;
            s.map.remove(&k);
            s.bytes -= w;
        }
        // Replacements leave stale queue entries behind; drop them before they outgrow
        // the map.
        if s.queue.len() > 2 * s.map.len() + 64 {
            let map = &s.map;
            s.queue
                .retain(|(k, g)| map.get(k).is_some_and(|slot| slot.generation == *g));
        }
    }

    /// Bytes held now.
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> u64 {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).bytes)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn entry(len: usize) -> Stored {
        Stored::Response(Arc::new(super::super::Cached {
            status: 200,
            headers: http::HeaderMap::new(),
            body: bytes::Bytes::from(vec![b'x'; len]),
            stored_at: 0,
            initial_age: 0,
            auth_ok: false,
        }))
    }

    fn key(shard: u8, n: u8) -> Key {
        let mut k = [0; 32];
        k[0] = shard;
        k[1] = n;
        k
    }

    #[test]
    fn budget_holds_and_hit_entries_survive() {
        let store = LocalStore::new(16 * 1000);
        let now = Instant::now();
        let ttl = Duration::from_secs(60);
        store.insert(key(0, 0), entry(300), ttl, now);
        store.insert(key(0, 1), entry(300), ttl, now);
        assert!(store.get(&key(0, 0), now).is_some());
        // Over the shard's 1000 bytes: the oldest entry not hit since goes.
        store.insert(key(0, 2), entry(300), ttl, now);
        assert!(store.get(&key(0, 0), now).is_some());
        assert!(store.get(&key(0, 1), now).is_none());
        assert!(store.bytes() <= 1000);
        // Too large for a shard: not stored.
        store.insert(key(1, 0), entry(2000), ttl, now);
        assert!(store.get(&key(1, 0), now).is_none());
    }

    #[test]
    fn entries_expire_and_replacements_do_not_grow_the_queue() {
        let store = LocalStore::new(1 << 20);
        let now = Instant::now();
        store.insert(key(2, 0), entry(10), Duration::from_secs(1), now);
        assert!(
            store
                .get(&key(2, 0), now + Duration::from_secs(2))
                .is_none()
        );
        for _ in 0..10_000 {
            store.insert(key(3, 0), entry(10), Duration::from_secs(1), now);
        }
        let q = store.shards[3].lock().unwrap().queue.len();
        assert!(q < 200, "{q}");
    }
}
