//! The `Policy` CRD's `cache` block, checked by the native rules (`crate::cache`).

use std::str::FromStr;

use tollgate_ir as ir;
use tollgate_model::crds_cache as crd;
use tollgate_model::units::{ByteSize, Dur};

/// The block as IR, its problems added to `problems`. Whether Redis is configured is
/// not known to this translator: a `store: redis` cache without a `redis:` block runs on
/// the gateway's local store (the proxy logs it).
pub(super) fn cache(c: &crd::Cache, problems: &mut Vec<String>) -> ir::Cache {
    let ttl = c.ttl.as_deref().and_then(|s| match Dur::from_str(s) {
        Ok(d) => Some(d.0),
        Err(e) => {
            problems.push(format!("cache.ttl: {e}"));
            None
        }
    });
    let max_body = c
        .max_body
        .as_deref()
        .and_then(|s| match ByteSize::from_str(s) {
            Ok(b) => Some(b.0),
            Err(e) => {
                problems.push(format!("cache.maxBody: {e}"));
                None
            }
        });
    let raw = crate::cache::Raw {
        ttl,
        max_body,
        vary: c.vary.iter().map(String::as_str).collect(),
        store: c.store.as_deref(),
        redis: None,
    };
    let mut found = Vec::new();
    let out = crate::cache::check(&raw, &mut found);
    problems.extend(
        found
            .into_iter()
            .map(|(_, m)| m.replace("cache.max_body", "cache.maxBody")),
    );
    out
}
