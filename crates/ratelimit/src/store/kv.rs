//! Plain values through the same connection, timeout and breaker as the limits: the
//! response cache (`tollgate-proxy`'s `cache/redis.rs`) keeps its shared entries here.

use std::time::Duration;

use redis::AsyncCommands as _;

use super::{RedisStore, StoreError};

impl RedisStore {
    /// The value under `key` (the configured prefix is not added), `None` when absent.
    pub async fn get_bytes(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut conn = self.conn.clone();
        self.guarded(async move { conn.get::<_, Option<Vec<u8>>>(key).await })
            .await
    }

    /// Stores `value` under `key` for `ttl` (rounded up to a millisecond).
    pub async fn set_bytes(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let mut conn = self.conn.clone();
        self.guarded(async move { conn.pset_ex::<_, _, ()>(key, value, ms).await })
            .await
    }

    /// One call under the breaker and the timeout.
    async fn guarded<T>(
        &self,
        call: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, StoreError> {
        let probe = self.breaker.admit()?;
        match tokio::time::timeout(self.options.timeout, call).await {
            Ok(Ok(v)) => {
                self.breaker.succeeded();
                Ok(v)
            }
            Ok(Err(e)) if !e.is_timeout() => Err(self
                .breaker
                .failed(probe, StoreError::Unavailable(e.to_string()))),
            _ => Err(self
                .breaker
                .failed(probe, StoreError::Timeout(self.options.timeout))),
        }
    }
}
