//! The consumers of one runtime, indexed by every credential that identifies them.

use std::collections::HashMap;
use std::sync::Arc;

use http::HeaderValue;
use sha2::{Digest, Sha256};
use tollgate_ir as ir;

use super::basic::PasswordHash;

/// One consumer as the request path needs it: names made into header values once.
#[derive(Debug)]
pub(crate) struct ConsumerInfo {
    pub(crate) name: Arc<str>,
    pub(crate) groups: Vec<String>,
    /// `x-consumer`.
    pub(crate) name_header: Option<HeaderValue>,
    /// `x-consumer-groups`: the groups joined with `,`.
    pub(crate) groups_header: Option<HeaderValue>,
}

/// Every consumer, by API-key digest, basic username, JWT identity and mTLS subject.
#[derive(Debug, Default)]
pub(crate) struct Consumers {
    pub(crate) list: Vec<Arc<ConsumerInfo>>,
    by_key: HashMap<[u8; 32], usize>,
    by_user: HashMap<String, (usize, Arc<PasswordHash>)>,
    /// `(issuer, subject)`; the issuer is empty for "any issuer".
    by_jwt: HashMap<(String, String), usize>,
    by_subject: HashMap<String, usize>,
}

impl Consumers {
    /// Indexes the snapshot's consumers. Fails on a password hash that does not parse
    /// (the translator checks the shape; this parses it fully).
    pub(crate) fn compile(list: &[ir::Consumer]) -> Result<Self, String> {
        let mut out = Self::default();
        for (i, c) in list.iter().enumerate() {
            out.list.push(Arc::new(ConsumerInfo {
                name: c.name.as_str().into(),
                groups: c.groups.clone(),
                name_header: HeaderValue::from_str(&c.name).ok(),
                groups_header: (!c.groups.is_empty())
                    .then(|| HeaderValue::from_str(&c.groups.join(",")).ok())
                    .flatten(),
            }));
            for d in &c.key_digests {
                out.by_key.insert(digest_from_hex(d)?, i);
            }
            if let Some(b) = &c.basic {
                let hash = PasswordHash::parse(&b.password_hash)
                    .map_err(|e| format!("consumer {:?}: basic.password_hash: {e}", c.name))?;
                out.by_user.insert(b.username.clone(), (i, Arc::new(hash)));
            }
            if let Some(j) = &c.jwt {
                let iss = j.issuer.clone().unwrap_or_default();
                out.by_jwt.insert((iss, j.subject.clone()), i);
            }
            if let Some(s) = &c.mtls_subject {
                out.by_subject.insert(s.clone(), i);
            }
        }
        Ok(out)
    }

    /// The consumer whose API key this is. The key is hashed first, so the map lookup
    /// compares digests, never the secret itself, and its timing tells nothing useful.
    pub(crate) fn by_key(&self, key: &[u8]) -> Option<&Arc<ConsumerInfo>> {
        let digest: [u8; 32] = Sha256::digest(key).into();
        self.by_key.get(&digest).map(|i| &self.list[*i])
    }

    /// The consumer with this basic-auth username, and its password hash.
    pub(crate) fn by_user(&self, user: &str) -> Option<(&Arc<ConsumerInfo>, &Arc<PasswordHash>)> {
        self.by_user.get(user).map(|(i, h)| (&self.list[*i], h))
    }

    /// The consumer a verified token maps to: an identity tied to the token's issuer
    /// first, then one for any issuer.
    pub(crate) fn by_jwt(&self, issuer: Option<&str>, subject: &str) -> Option<&Arc<ConsumerInfo>> {
        if self.by_jwt.is_empty() {
            return None;
        }
        let mut key = (issuer.unwrap_or_default().to_owned(), subject.to_owned());
        if let Some(i) = self.by_jwt.get(&key) {
            return Some(&self.list[*i]);
        }
        key.0.clear();
        self.by_jwt.get(&key).map(|i| &self.list[*i])
    }

    /// The consumer of a verified client-certificate subject.
    pub(crate) fn by_subject(&self, subject: &str) -> Option<&Arc<ConsumerInfo>> {
        self.by_subject.get(subject).map(|i| &self.list[*i])
    }
}

fn digest_from_hex(hex: &str) -> Result<[u8; 32], String> {
    let bad = || format!("invalid key digest {hex:?}");
    if hex.len() != 64 {
        return Err(bad());
    }
    let mut out = [0u8; 32];
    for (i, chunk) in hex.as_bytes().chunks(2).enumerate() {
        let s = std::str::from_utf8(chunk).map_err(|_| bad())?;
        out[i] = u8::from_str_radix(s, 16).map_err(|_| bad())?;
    }
    Ok(out)
}
