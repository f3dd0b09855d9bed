//! Rate limits and quotas for Tollgate's rate-limit phase.
//!
//! * [`LocalLimiter`]: per-process GCRA keyed by a string, memory bounded by a key cap,
//!   allocation-free for known keys.
//! * [`RedisStore`]: limits shared by all replicas. GCRA rates (Redis server clock) and
//!   calendar quotas ([`Window`]), every check of a request in **one** atomic Lua script
//!   call; bounded by a timeout, failing fast during a backoff after failures, reconnecting
//!   by itself. Failures come back as [`StoreError`] so the caller can apply its
//!   `on_store_failure` policy.
//! * [`Decision`] / [`Outcome`]: the answers, with `RateLimit-*` and `Retry-After` headers.
//!
//! Why a hand-written GCRA instead of `governor`: the state is one `u64` per key, which
//! makes the key cap and "recovered entries can be dropped" trivial to enforce on insert;
//! lookups go by `&str` without allocating; and the same arithmetic is mirrored in the
//! Redis script, so local and shared limits behave identically.

#![warn(missing_docs)]

mod decision;
mod local;
mod rate;
mod store;
mod window;

pub use decision::{Decision, Outcome, most_restrictive};
pub use local::LocalLimiter;
pub use rate::{Rate, RateError};
pub use store::{Check, RedisStore, StoreError, StoreOptions};
pub use window::{Bounds, Window};
