//! Optional mapping of a verified token to a configured consumer (for ACLs and quotas):
//! `consumers: [{ name: alice, jwt: { subject: "alice@example.com" } }]`.
//!
//! A valid token admits the request on its own; a consumer is only looked up when a
//! policy needs one.

use std::collections::HashMap;
use std::sync::Arc;

use crate::verifier::Verified;

/// Finds the consumer for a verified `(iss, sub)`.
pub trait ConsumerLookup: Send + Sync {
    /// The consumer's name, if one is configured for this subject.
    fn consumer(&self, issuer: Option<&str>, subject: &str) -> Option<Arc<str>>;
}

/// A map from subjects to consumer names. An entry with an issuer matches only tokens
/// from that issuer; one without matches the subject from any issuer the verifier
/// accepted — so with several identity providers on one route, give the issuer.
#[derive(Clone, Debug, Default)]
pub struct ConsumerMap {
    exact: HashMap<(String, String), Arc<str>>,
    any_issuer: HashMap<String, Arc<str>>,
}

impl ConsumerMap {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Maps `subject` (from `issuer`, or any) to `consumer`. Returns the consumer that
    /// already had this subject, if any: two consumers claiming one subject is a
    /// configuration error the caller should report.
    pub fn insert(
        &mut self,
        issuer: Option<&str>,
        subject: &str,
        consumer: &str,
    ) -> Option<Arc<str>> {
        let name: Arc<str> = Arc::from(consumer);
        match issuer {
            Some(iss) => self
                .exact
                .insert((iss.to_owned(), subject.to_owned()), name),
            None => self.any_issuer.insert(subject.to_owned(), name),
        }
    }
}

impl ConsumerLookup for ConsumerMap {
    fn consumer(&self, issuer: Option<&str>, subject: &str) -> Option<Arc<str>> {
        issuer
            .and_then(|iss| self.exact.get(&(iss.to_owned(), subject.to_owned())))
            .or_else(|| self.any_issuer.get(subject))
            .cloned()
    }
}

impl Verified {
    /// The consumer this token's `(iss, sub)` maps to; `None` without `sub` or mapping.
    pub fn consumer(&self, lookup: &dyn ConsumerLookup) -> Option<Arc<str>> {
        lookup.consumer(self.issuer(), self.subject()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Algorithm;

    #[test]
    fn issuer_specific_entries_win() {
        let mut map = ConsumerMap::new();
        assert!(map.insert(None, "alice@example.com", "alice").is_none());
        assert!(
            map.insert(Some("https://b.example"), "alice@example.com", "alice-b")
                .is_none()
        );
        assert_eq!(
            map.insert(None, "alice@example.com", "eve").as_deref(),
            Some("alice")
        );
        let token = |iss: &str| {
            let mut claims = serde_json::Map::new();
            claims.insert("iss".into(), iss.into());
            claims.insert("sub".into(), "alice@example.com".into());
            Verified::new(claims, Algorithm::ES256, None)
        };
        assert_eq!(
            token("https://b.example").consumer(&map).as_deref(),
            Some("alice-b")
        );
        assert_eq!(
            token("https://a.example").consumer(&map).as_deref(),
            Some("eve")
        );
        assert_eq!(map.consumer(None, "bob"), None);
    }
}
