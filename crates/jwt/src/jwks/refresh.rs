//! Fetching: the single-flight refresh, the fetch itself, and the background loop.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;

use super::{JwksLocation, KeySnapshot, Outcome, Shared, lock};
use crate::discovery::{self, ProviderMetadata};

/// A fetched key set, the provider metadata it came through, and its max-age.
type Fetched = (KeySet, Option<Arc<ProviderMetadata>>, Option<Duration>);
use crate::keys::{KeySet, parse_remote_jwks};

/// The first retry after a failure; doubled per failure up to `min_refresh`.
const FIRST_RETRY: Duration = Duration::from_millis(500);
/// Floor for the refresh interval, so a zero max-age or a zero setting cannot spin.
const FLOOR: Duration = Duration::from_millis(100);

/// The refresher: fetch, then sleep as long as the provider allows within the bounds (or
/// back off after a failure), until the source is dropped.
pub(super) async fn run(weak: Weak<Shared>) {
    let mut failures: u32 = 0;
    loop {
        let Some(shared) = weak.upgrade() else { return };
        let wait = shared.config.fetch_timeout + Duration::from_secs(1);
        let outcome = shared.refresh(false, wait).await.unwrap_or(Err(()));
        let config = &shared.config;
        let min = config.min_refresh.max(FLOOR);
        let delay = match outcome {
            Ok(max_age) => {
                failures = 0;
                max_age
                    .unwrap_or(config.default_refresh)
                    .min(config.max_refresh)
                    .max(min)
            }
            Err(()) => {
                failures = failures.saturating_add(1);
                FIRST_RETRY
                    .saturating_mul(1 << failures.min(16).saturating_sub(1))
                    .min(min)
            }
        };
        // Hold no strong reference while sleeping: dropping the source ends the loop.
        drop(shared);
        tokio::time::sleep(delay).await;
    }
}

impl Shared {
    /// Makes sure a fetch runs and waits for it, up to `wait`: joins the one in flight, or
    /// starts one. A `forced` (unknown-`kid`) start is rate-limited: `None` when refused.
    pub(super) async fn refresh(self: &Arc<Self>, forced: bool, wait: Duration) -> Option<Outcome> {
        let mut attempts = self.attempts.subscribe();
        let target = {
            let mut control = lock(&self.control);
            if !control.in_flight {
                if forced {
                    let now = self.clock.unix_now();
                    // A clock that went backwards counts as "long enough ago".
                    let recent = control
                        .last_forced
                        .and_then(|last| now.checked_sub(last))
                        .is_some_and(|elapsed| elapsed < self.config.unknown_kid_interval);
                    if recent {
                        tracing::debug!(location = ?self.config.location, "unknown kid: refresh rate-limited");
                        return None;
                    }
                    control.last_forced = Some(now);
                    self.forced.fetch_add(1, Ordering::Relaxed);
                }
                control.in_flight = true;
                tokio::spawn(Arc::clone(self).fetch_task());
            }
            // `completed` only changes under `control`, so the attempt we wait for is the
            // one in flight now.
            self.attempts.borrow().completed + 1
        };
        match tokio::time::timeout(wait, attempts.wait_for(|a| a.completed >= target)).await {
            Ok(Ok(a)) => Some(a.last),
            _ => Some(Err(())),
        }
    }

    async fn fetch_task(self: Arc<Self>) {
        // Ends the attempt however the task ends: a panicking `Fetch` or a runtime
        // shutting down must not leave `in_flight` set, which would stop all refreshes.
        let mut attempt = Attempt {
            shared: &self,
            outcome: Err(()),
        };
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let result = match tokio::time::timeout(self.config.fetch_timeout, self.fetch_once()).await
        {
            Ok(result) => result,
            Err(_) => Err(format!("timed out after {:?}", self.config.fetch_timeout)),
        };
        attempt.outcome = match result {
            Ok((keys, provider, max_age)) => {
                self.install(keys, provider);
                Ok(max_age)
            }
            Err(error) => {
                self.failures.fetch_add(1, Ordering::Relaxed);
                let cached = self.keys.borrow().as_ref().map(|k| k.keys.len());
                // Stale-if-error: the keys we have stay in use.
                tracing::warn!(location = ?self.config.location, %error, ?cached,
                    "JWKS fetch failed; keeping the cached keys");
                Err(())
            }
        };
    }

    async fn fetch_once(&self) -> Result<Fetched, String> {
        let (jwks_uri, provider) = match &self.config.location {
            JwksLocation::Uri(uri) => (uri.clone(), None),
            JwksLocation::Discovery { url, issuer } => {
                let known = lock(&self.discovered).clone();
                let found = match known {
                    Some(found) => found,
                    None => {
                        let (document, implied) = discovery::locate(url);
                        let (body, _) = self.get(&document).await?;
                        let expected = issuer.as_deref().unwrap_or(&implied);
                        let found = discovery::parse(&body, expected, issuer.is_some())?;
                        tracing::info!(issuer = %found.issuer, jwks_uri = %found.jwks_uri, "OIDC discovery");
                        // Kept once found: the metadata names the provider, it does not rotate.
                        let found = Arc::new(found);
                        *lock(&self.discovered) = Some(found.clone());
                        found
                    }
                };
                (found.jwks_uri.clone(), Some(found))
            }
        };
        let (body, max_age) = self.get(&jwks_uri).await?;
        let (keys, skipped) = parse_remote_jwks(&body)?;
        if !skipped.is_empty() {
            tracing::debug!(%jwks_uri, ?skipped, "JWKS keys skipped");
        }
        Ok((keys, provider, max_age))
    }

    async fn get(&self, url: &str) -> Result<(Bytes, Option<Duration>), String> {
        let response = self
            .fetch
            .get(url)
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        if response.status != 200 {
            return Err(format!("GET {url}: status {}", response.status));
        }
        if response.body.len() > self.config.max_body_bytes {
            return Err(format!(
                "GET {url}: body over {} bytes",
                self.config.max_body_bytes
            ));
        }
        Ok((response.body, response.max_age))
    }

    /// Publishes a fetched key set, unless it equals the current one: an unchanged set
    /// keeps its snapshot, so "did a refresh bring anything new" is a pointer comparison.
    fn install(&self, keys: KeySet, provider: Option<Arc<ProviderMetadata>>) {
        let current = self.keys.borrow().clone();
        let mut dropped = false;
        if let Some(current) = &current {
            let (old_ids, new_ids) = (current.keys.identities(), keys.identities());
            if old_ids == new_ids && current.provider == provider {
                return;
            }
            dropped = old_ids.iter().any(|id| !new_ids.contains(id));
        }
        let kids: Vec<_> = keys
            .iter()
            .map(|k| k.kid().unwrap_or("-").to_owned())
            .collect();
        tracing::info!(location = ?self.config.location, ?kids, "JWKS loaded");
        self.keys
            .send_replace(Some(Arc::new(KeySnapshot { keys, provider })));
        if dropped {
            // After the new keys are visible: a verifier reads this count before it takes
            // the keys, so a result verified with a dropped key is always cached under an
            // older count, and never served.
            self.removals.fetch_add(1, Ordering::AcqRel);
        }
    }
}

/// One fetch attempt; dropping it publishes the outcome and frees the single-flight slot.
struct Attempt<'a> {
    shared: &'a Shared,
    outcome: Outcome,
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        let mut control = lock(&self.shared.control);
        control.in_flight = false;
        let outcome = self.outcome;
        self.shared.attempts.send_modify(|a| {
            a.completed += 1;
            a.last = outcome;
        });
    }
}
