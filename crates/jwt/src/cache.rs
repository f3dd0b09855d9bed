//! The verification cache: token → verified claims, until the token expires or the TTL
//! runs out, whichever is first.
//!
//! Keyed by the SHA-256 of the token, never the token itself, so a heap dump or a debug
//! print of the cache holds no usable credential. Bounded: 16 shards (one mutex each, so
//! workers rarely contend), each evicting with the CLOCK algorithm: entries are queued in
//! insertion order, a hit sets a reference bit, and eviction passes over (and clears)
//! referenced entries once before taking an unreferenced one — LRU-like without moving
//! anything on a hit.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use aws_lc_rs::digest;

use crate::verifier::Verified;

const SHARDS: usize = 16;

/// A token's cache key.
pub(crate) type Key = [u8; 32];

/// The cache key of `token`.
pub(crate) fn key(token: &str) -> Key {
    let mut key = [0; 32];
    key.copy_from_slice(digest::digest(&digest::SHA256, token.as_bytes()).as_ref());
    key
}

struct Entry {
    value: Arc<Verified>,
    /// Seconds since the epoch after which the entry is not served.
    expires_at: f64,
    /// The key source's removal count when the token was verified.
    generation: u64,
    referenced: bool,
}

#[derive(Default)]
struct Shard {
    map: HashMap<Key, Entry>,
    /// Insertion order for CLOCK; may hold keys already removed from `map`.
    order: VecDeque<Key>,
}

pub(crate) struct VerifiedCache {
    shards: Vec<Mutex<Shard>>,
    per_shard: usize,
}

impl VerifiedCache {
    /// A cache of about `capacity` entries; 0 disables it.
    pub(crate) fn new(capacity: usize) -> Self {
        let per_shard = capacity.div_ceil(SHARDS);
        let shards = (0..if capacity == 0 { 0 } else { SHARDS })
            .map(|_| Mutex::default())
            .collect();
        Self { shards, per_shard }
    }

    fn shard(&self, key: &Key) -> Option<std::sync::MutexGuard<'_, Shard>> {
        // The key is a hash: its first byte spreads tokens evenly.
        let shard = self.shards.get(usize::from(key[0]) % SHARDS)?;
        Some(shard.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// The cached result, if it is still valid at `now` under `generation`.
    pub(crate) fn get(&self, key: &Key, now: f64, generation: u64) -> Option<Arc<Verified>> {
        let mut shard = self.shard(key)?;
        let entry = shard.map.get_mut(key)?;
        if now < entry.expires_at && entry.generation == generation {
            entry.referenced = true;
            return Some(Arc::clone(&entry.value));
        }
        shard.map.remove(key);
        None
    }

    /// Caches `value` until `expires_at`.
    pub(crate) fn insert(&self, key: Key, value: Arc<Verified>, expires_at: f64, generation: u64) {
        let per_shard = self.per_shard;
        let Some(mut shard) = self.shard(&key) else {
            return;
        };
        let shard = &mut *shard;
        if !shard.map.contains_key(&key) {
            while shard.map.len() >= per_shard && evict_one(shard) {}
            shard.order.push_back(key);
        }
        shard.map.insert(
            key,
            Entry {
                value,
                expires_at,
                generation,
                referenced: false,
            },
        );
        // Keys removed on lookup stay queued; drop them before the queue outgrows the map.
        if shard.order.len() > 2 * per_shard + 16 {
            let map = &shard.map;
            shard.order.retain(|k| map.contains_key(k));
        }
    }

    /// Entries held (including expired ones not yet looked up or evicted).
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).map.len())
            .sum()
    }
}

/// Evicts one entry; false when the queue is empty.
fn evict_one(shard: &mut Shard) -> bool {
    // Each queued key is looked at most twice: once to clear its bit, once to evict it.
    for _ in 0..2 * shard.order.len() + 1 {
        let Some(key) = shard.order.pop_front() else {
            return false;
        };
        match shard.map.get_mut(&key) {
            None => {}
            Some(entry) if entry.referenced => {
                entry.referenced = false;
                shard.order.push_back(key);
            }
            Some(_) => {
                shard.map.remove(&key);
                return true;
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Algorithm;

    fn verified(sub: &str) -> Arc<Verified> {
        let mut claims = serde_json::Map::new();
        claims.insert("sub".into(), sub.into());
        Arc::new(Verified::new(claims, Algorithm::HS256, None))
    }

    #[test]
    fn expiry_generation_and_bound() {
        let cache = VerifiedCache::new(16);
        let k = key("a.b.c");
        cache.insert(k, verified("a"), 100.0, 0);
        assert!(cache.get(&k, 99.0, 0).is_some());
        assert!(cache.get(&k, 99.0, 1).is_none(), "a key was rotated away");
        assert!(cache.get(&k, 99.0, 0).is_none(), "and the entry is gone");
        cache.insert(k, verified("a"), 100.0, 0);
        assert!(cache.get(&k, 100.0, 0).is_none(), "expired");
        for i in 0..1000 {
            cache.insert(key(&format!("t{i}")), verified("x"), 1e12, 0);
        }
        assert!(cache.len() <= 16, "{}", cache.len());
        assert!(VerifiedCache::new(0).get(&k, 0.0, 0).is_none());
    }

    #[test]
    fn referenced_entries_survive_eviction() {
        // One shard's worth: find 3 keys of one shard, capacity 2 per shard.
        let cache = VerifiedCache::new(2 * SHARDS);
        let keys: Vec<Key> = (0..)
            .map(|i| key(&format!("tok{i}")))
            .filter(|k| usize::from(k[0]) % SHARDS == 0)
            .take(3)
            .collect();
        cache.insert(keys[0], verified("0"), 1e12, 0);
        cache.insert(keys[1], verified("1"), 1e12, 0);
        assert!(cache.get(&keys[0], 0.0, 0).is_some());
        cache.insert(keys[2], verified("2"), 1e12, 0);
        assert!(cache.get(&keys[0], 0.0, 0).is_some(), "recently used, kept");
        assert!(cache.get(&keys[1], 0.0, 0).is_none(), "unused, evicted");
    }
}
