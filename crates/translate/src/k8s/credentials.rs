//! Credentials from Secrets: API keys, password hashes, JWT HMAC secrets, and OIDC client
//! and session secrets.
//!
//! Only Secrets labelled `tollgate.dev/credentials` are read for them. The controller
//! watches only those (and TLS Secrets), so refusing the others here keeps files and
//! cluster alike: a manifest that works from a file works in the cluster.

use sha2::{Digest, Sha256};
use tollgate_model::crds::{CREDENTIALS_LABEL, SecretKeyRef, SecretRef};
use tollgate_model::k8s::Secret;

use super::index::Index;

/// The labelled Secret `ns/name`.
fn labelled<'a>(idx: &Index<'a>, ns: &str, name: &str) -> Result<&'a Secret, String> {
    let s = idx
        .secret(ns, name)
        .ok_or_else(|| format!("Secret {ns}/{name} does not exist"))?;
    let has_label = s
        .metadata
        .labels
        .as_ref()
        .is_some_and(|l| l.contains_key(CREDENTIALS_LABEL));
    if !has_label {
        return Err(format!(
            "Secret {ns}/{name} is not labelled {CREDENTIALS_LABEL} (only labelled Secrets are read for credentials)"
        ));
    }
    Ok(s)
}

/// The value of `key`: `stringData` (what a user writes in a file) first, then `data`
/// (base64, what the API server keeps).
fn value(s: &Secret, key: &str) -> Option<Vec<u8>> {
    if let Some(v) = s.string_data.as_ref().and_then(|d| d.get(key)) {
        return Some(v.clone().into_bytes());
    }
    s.data.as_ref()?.get(key).map(|b| b.0.clone())
}

/// Text of a credential. Surrounding whitespace is dropped: `echo KEY > file` and
/// `kubectl create secret --from-file` leave a trailing newline no client ever sends.
fn text(bytes: Vec<u8>, what: &str) -> Result<String, String> {
    String::from_utf8(bytes)
        .map(|s| s.trim().to_owned())
        .map_err(|_| format!("{what} is not UTF-8 text"))
}

/// One key of a labelled Secret, as text.
pub(crate) fn one(idx: &Index<'_>, ns: &str, r: &SecretKeyRef) -> Result<String, String> {
    let s = labelled(idx, ns, &r.name)?;
    let what = format!("Secret {ns}/{} key {:?}", r.name, r.key);
    let v = value(s, &r.key).ok_or_else(|| format!("{what} does not exist"))?;
    text(v, &what)
}

/// The values a [`SecretRef`] names: one key, or every key of the Secret (in key order).
pub(crate) fn all(idx: &Index<'_>, ns: &str, r: &SecretRef) -> Result<Vec<String>, String> {
    let s = labelled(idx, ns, &r.name)?;
    let keys: Vec<String> = match &r.key {
        Some(k) => vec![k.clone()],
        None => {
            let mut keys: Vec<String> = s
                .data
                .iter()
                .flatten()
                .map(|(k, _)| k.clone())
                .chain(s.string_data.iter().flatten().map(|(k, _)| k.clone()))
                .collect();
            keys.sort();
            keys.dedup();
            keys
        }
    };
    if keys.is_empty() {
        return Err(format!("Secret {ns}/{} holds no keys", r.name));
    }
    keys.iter()
        .map(|k| {
            let what = format!("Secret {ns}/{} key {k:?}", r.name);
            let v = value(s, k).ok_or_else(|| format!("{what} does not exist"))?;
            text(v, &what)
        })
        .collect()
}

/// The digest an API key is stored as (lower-case hex SHA-256), with the native rules:
/// `sha256:` and 64 hex digits as written, or a plaintext key of at least 8 printable
/// characters.
pub(crate) fn key_digest(key: &str) -> Result<String, String> {
    if let Some(hex) = key.strip_prefix("sha256:") {
        if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(hex.to_ascii_lowercase());
        }
        return Err("a hashed key is `sha256:` and 64 hex digits".to_owned());
    }
    if key.len() < 8 || key.bytes().any(|b| !(0x21..=0x7e).contains(&b)) {
        return Err("an API key must be at least 8 printable characters without spaces".to_owned());
    }
    Ok(crate::policies::hex(&Sha256::digest(key.as_bytes())))
}

/// A password hash the proxy will be able to load (`crate::syntax::password_hash`: the
/// proxy refusing a hash would refuse the whole configuration, which a Secret must never
/// do).
pub(crate) fn password_hash(h: &str) -> Result<(), String> {
    crate::syntax::password_hash(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_digests_follow_the_native_rules() {
        assert_eq!(
            key_digest("k-alice-0001").as_deref(),
            Ok("116265643fe4a0a3da2fd163d32b38cfe10a291e3244a63b6c1ddeb34ea237f9")
        );
        assert!(key_digest("short").is_err());
        assert!(key_digest("with space 1234").is_err());
        assert_eq!(
            key_digest(&format!("sha256:{}", "AB".repeat(32))),
            Ok("ab".repeat(32))
        );
        assert!(key_digest("sha256:abc").is_err());
    }

    #[test]
    fn password_hashes_must_load_in_the_proxy() {
        let bcrypt = "$2b$04$abcdefghijklmnopqrstuuJ0Y2qBs2D8q7gNQ2kVh5zJm9nq1ZxqC";
        assert_eq!(bcrypt.len(), 60);
        assert!(password_hash(bcrypt).is_ok());
        assert!(
            password_hash("$2b$99$abcdefghijklmnopqrstuuJ0Y2qBs2D8q7gNQ2kVh5zJm9nq1ZxqC").is_err()
        );
        assert!(
            password_hash("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo").is_ok()
        );
        assert!(password_hash("$argon2id$v=19$m=x,t=2,p=1$!!$aGFzaA").is_err());
        assert!(password_hash("plaintext").is_err());
    }
}
