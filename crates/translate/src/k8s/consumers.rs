//! `Consumer` objects (`tollgate.dev/v1alpha1`) to IR consumers, with credentials read
//! from labelled Secrets, and each Consumer's `Accepted` condition.
//!
//! IR names are `consumer/<namespace>/<name>`: the prefix is one native names may not use
//! ([`super::RESERVED_PREFIXES`]), so the two kinds of consumer never collide. A Consumer
//! whose credentials cannot be read, or that repeats an older Consumer's credential, is
//! left out (Accepted False): a half-read consumer could let the wrong caller in.

use std::collections::{BTreeMap, BTreeSet};

use tollgate_ir as ir;
use tollgate_model::crds::Consumer;

use super::credentials;
use super::index::{Index, Meta, by_age};
use super::reasons::{self, reason};
use super::status::{Condition, ObjectStatus, StatusUpdate};
use crate::syntax;

/// The IR name of Consumer `ns/name`.
pub(crate) fn ir_name(ns: &str, name: &str) -> String {
    format!("consumer/{ns}/{name}")
}

/// Which Consumer objects exist (valid or not), for `acl` names.
#[derive(Default)]
pub(crate) struct Known<'a> {
    names: BTreeSet<(&'a str, &'a str)>,
}

impl Known<'_> {
    /// Is there a Consumer `ns/name`?
    pub(crate) fn exists(&self, ns: &str, name: &str) -> bool {
        self.names.contains(&(ns, name))
    }

    /// The Consumers of a namespace, for messages.
    pub(crate) fn in_namespace(&self, ns: &str) -> Vec<&str> {
        self.names
            .iter()
            .filter(|(n, _)| *n == ns)
            .map(|(_, name)| *name)
            .collect()
    }
}

/// Credentials already taken, by an identity of their own and the Consumer that has them.
#[derive(Default)]
struct Taken {
    keys: BTreeMap<String, String>,
    users: BTreeMap<String, String>,
    jwt: BTreeMap<(Option<String>, String), String>,
    mtls: BTreeMap<String, String>,
}

/// Every Consumer, oldest first (so the older one keeps a contested credential). The
/// native consumers' credentials are taken before any: the proxy indexes every consumer
/// by credential, and one credential must name one consumer.
pub(crate) fn translate<'a>(
    idx: &Index<'a>,
    native: &[ir::Consumer],
) -> (Vec<ir::Consumer>, Known<'a>, Vec<StatusUpdate>) {
    let mut known = Known::default();
    let mut taken = Taken::default();
    for c in native {
        record(c, &mut taken);
    }
    let mut out = Vec::new();
    let mut statuses = Vec::new();
    for c in by_age(&idx.res.consumers) {
        known.names.insert((c.ns(), c.name()));
        let generation = c.generation();
        let result = one(c, idx).and_then(|ir| claim(&ir, &mut taken).map(|()| ir));
        let condition = match result {
            Ok(ir) => {
                let msg = format!("consumer {:?} is in use", ir.name);
                out.push(ir);
                Condition::new(reasons::ACCEPTED, true, reason::ACCEPTED, msg, generation)
            }
            Err((why, msg)) => Condition::new(reasons::ACCEPTED, false, why, msg, generation),
        };
        statuses.push(StatusUpdate {
            kind: "Consumer".to_owned(),
            namespace: Some(c.ns().to_owned()),
            name: c.name().to_owned(),
            generation,
            status: ObjectStatus::Consumer {
                conditions: vec![condition],
            },
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    (out, known, statuses)
}

type Why = (&'static str, String);

fn invalid(msg: String) -> Why {
    (reason::INVALID, msg)
}

/// One Consumer, with its credentials read and checked.
fn one(c: &Consumer, idx: &Index<'_>) -> Result<ir::Consumer, Why> {
    let ns = c.ns();
    let spec = &c.spec;
    let mut groups = Vec::with_capacity(spec.groups.len());
    for g in &spec.groups {
        if !syntax::is_token(g) {
            return Err(invalid(format!(
                "group {g:?} must be a non-empty token without spaces or commas (it is sent in x-consumer-groups)"
            )));
        }
        groups.push(g.clone());
    }
    groups.sort();
    groups.dedup();
    let mut key_digests = Vec::new();
    for k in &spec.keys {
        let values =
            credentials::all(idx, ns, &k.secret_ref).map_err(|e| invalid(format!("keys: {e}")))?;
        for v in values {
            let d = credentials::key_digest(&v).map_err(|e| {
                invalid(format!(
                    "keys: a value in Secret {ns}/{}: {e}",
                    k.secret_ref.name
                ))
            })?;
            if !key_digests.contains(&d) {
                key_digests.push(d);
            }
        }
    }
    let basic = match &spec.basic {
        None => None,
        Some(b) => {
            if b.username.is_empty() || b.username.contains(':') {
                return Err(invalid(
                    "basic.username must be non-empty and cannot contain ':'".to_owned(),
                ));
            }
            let hash = credentials::one(idx, ns, &b.password_hash_secret_ref)
                .map_err(|e| invalid(format!("basic: {e}")))?;
            credentials::password_hash(&hash).map_err(|e| {
                invalid(format!(
                    "basic: the password hash in Secret {ns}/{}: {e}",
                    b.password_hash_secret_ref.name
                ))
            })?;
            Some(ir::BasicCredential {
                username: b.username.clone(),
                password_hash: hash,
            })
        }
    };
    let jwt = match &spec.jwt {
        Some(j) if j.subject.is_empty() => {
            return Err(invalid("jwt.subject is empty".to_owned()));
        }
        Some(j) => Some(ir::JwtIdentity {
            subject: j.subject.clone(),
            issuer: j.issuer.clone(),
        }),
        None => None,
    };
    let mtls_subject = match &spec.mtls {
        Some(m) if m.subject.is_empty() => {
            return Err(invalid("mtls.subject is empty".to_owned()));
        }
        Some(m) => Some(m.subject.clone()),
        None => None,
    };
    Ok(ir::Consumer {
        name: ir_name(ns, c.name()),
        groups,
        key_digests,
        basic,
        jwt,
        mtls_subject,
    })
}

/// Records the consumer's credentials, or says which older Consumer has one already (a
/// credential must identify one consumer).
fn claim(c: &ir::Consumer, taken: &mut Taken) -> Result<(), Why> {
    let conflict = |what: &str, other: &String| {
        (
            reason::CONFLICTED,
            format!("{what} is already used by {other}; a credential must identify one consumer"),
        )
    };
    for d in &c.key_digests {
        if let Some(o) = taken.keys.get(d) {
            return Err(conflict("an API key", o));
        }
    }
    if let Some(o) = c.basic.as_ref().and_then(|b| taken.users.get(&b.username)) {
        return Err(conflict("the basic username", o));
    }
    if let Some(o) = c
        .jwt
        .as_ref()
        .and_then(|j| taken.jwt.get(&(j.issuer.clone(), j.subject.clone())))
    {
        return Err(conflict("the jwt identity", o));
    }
    if let Some(o) = c.mtls_subject.as_ref().and_then(|s| taken.mtls.get(s)) {
        return Err(conflict("the mtls subject", o));
    }
    record(c, taken);
    Ok(())
}

/// Marks the consumer's credentials as taken (the first holder stays recorded).
fn record(c: &ir::Consumer, taken: &mut Taken) {
    let name = || c.name.clone();
    for d in &c.key_digests {
        taken.keys.entry(d.clone()).or_insert_with(name);
    }
    if let Some(b) = &c.basic {
        taken.users.entry(b.username.clone()).or_insert_with(name);
    }
    if let Some(j) = &c.jwt {
        taken
            .jwt
            .entry((j.issuer.clone(), j.subject.clone()))
            .or_insert_with(name);
    }
    if let Some(s) = &c.mtls_subject {
        taken.mtls.entry(s.clone()).or_insert_with(name);
    }
}
