//! HTTP Basic authentication against argon2 or bcrypt hashes.
//!
//! A password hash is deliberately slow (tens of milliseconds), so it must neither run on
//! a worker thread (it would stall every connection of that worker) nor be paid on every
//! request, nor let a client flood the CPU with guesses. Hence: verification on the
//! blocking pool, at most one per core at a time, and each result remembered briefly,
//! keyed by a digest of username, password and stored hash (so a changed hash is never
//! answered from the cache, and no password is kept in memory).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use base64::Engine as _;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

/// How long a verified credential is reused.
const OK_TTL: Duration = Duration::from_secs(60);
/// How long a refused one is: long enough that repeating one wrong password is cheap.
const BAD_TTL: Duration = Duration::from_secs(10);
/// Cached results at most; past it the cache is cleared of expired entries, then of all.
const CAPACITY: usize = 10_000;
/// How long a request waits for a free verification slot before it is answered 503.
const SLOT_WAIT: Duration = Duration::from_secs(2);

/// A stored password hash.
#[derive(Debug)]
pub(crate) enum PasswordHash {
    /// A PHC string (`$argon2id$…`).
    Argon2(String),
    /// `$2b$…`.
    Bcrypt(String),
}

impl PasswordHash {
    /// Parses a hash fully, so a bad one fails at reload, not at the first login.
    pub(crate) fn parse(s: &str) -> Result<Self, String> {
        if s.starts_with("$argon2") {
            argon2::PasswordHash::new(s).map_err(|e| format!("not a valid argon2 hash: {e}"))?;
            return Ok(Self::Argon2(s.to_owned()));
        }
        if s.starts_with("$2") {
            // Checked by layout: running a verification to see whether it parses would
            // cost a whole bcrypt (hundreds of ms at cost 12) per consumer per reload.
            if !bcrypt_layout(s) {
                return Err(
                    "not a valid bcrypt hash ($2b$NN$ and 53 characters of ./A-Za-z0-9)".into(),
                );
            }
            return Ok(Self::Bcrypt(s.to_owned()));
        }
        Err("expected an argon2 or bcrypt hash".into())
    }

    fn text(&self) -> &str {
        match self {
            Self::Argon2(s) | Self::Bcrypt(s) => s,
        }
    }

    /// Checks a password. Slow by design: call it on the blocking pool.
    fn verify(&self, password: &[u8]) -> bool {
        use argon2::PasswordVerifier as _;
        match self {
            Self::Argon2(s) => argon2::PasswordHash::new(s).is_ok_and(|h| {
                argon2::Argon2::default()
                    .verify_password(password, &h)
                    .is_ok()
            }),
            Self::Bcrypt(s) => bcrypt::verify(password, s).unwrap_or(false),
        }
    }
}

/// `$2a$`/`$2b$`/`$2y$`, a two-digit cost 04–31, `$`, then 22 salt and 31 hash characters
/// of bcrypt's base64 alphabet.
fn bcrypt_layout(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 60
        && matches!(&b[..4], b"$2a$" | b"$2b$" | b"$2y$")
        && std::str::from_utf8(&b[4..6])
            .ok()
            .and_then(|c| c.parse::<u32>().ok())
            .is_some_and(|c| (4..=31).contains(&c))
        && b[6] == b'$'
        && b[7..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'.' || *c == b'/')
}

/// `Authorization: Basic …` decoded into username and password.
pub(crate) fn credentials(authorization: &[u8]) -> Option<(String, Vec<u8>)> {
    let rest = authorization
        .get(..6)
        .filter(|p| p.eq_ignore_ascii_case(b"basic "))
        .map(|_| &authorization[6..])?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(rest.trim_ascii())
        .ok()?;
    let colon = decoded.iter().position(|b| *b == b':')?;
    let user = String::from_utf8(decoded[..colon].to_vec()).ok()?;
    Some((user, decoded[colon + 1..].to_vec()))
}

/// Why a password check did not say yes or no.
#[derive(Debug)]
pub(crate) struct Busy;

/// Verification slots and the result cache; one per process, so results survive reloads.
pub(crate) struct PasswordChecks {
    slots: Arc<Semaphore>,
    cache: Mutex<HashMap<[u8; 32], (bool, Instant)>>,
    /// A hash verified for unknown usernames, so that "no such user" takes as long as
    /// "wrong password" and usernames cannot be probed by timing.
    decoy: Arc<PasswordHash>,
}

impl PasswordChecks {
    pub(crate) fn new() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self {
            slots: Arc::new(Semaphore::new(cores)),
            cache: Mutex::new(HashMap::new()),
            decoy: Arc::new(PasswordHash::Argon2(
                "$argon2id$v=19$m=19456,t=2,p=1$dG9sbGdhdGVkZWNveQ$3tHdo4Ye5m9Vw0cmbWkVmq0QnlGSxUfZ8DqiUKQ8xXk"
                    .to_owned(),
            )),
        }
    }

    /// Whether `password` matches `hash` (or, with no hash, the decoy: always false).
    pub(crate) async fn check(
        &self,
        user: &str,
        password: &[u8],
        hash: Option<&Arc<PasswordHash>>,
    ) -> Result<bool, Busy> {
        let known = hash.is_some();
        let hash = hash.unwrap_or(&self.decoy);
        let mut h = Sha256::new();
        h.update(user.as_bytes());
        h.update([0]);
        h.update(password);
        h.update([0]);
        h.update(hash.text().as_bytes());
        let key: [u8; 32] = h.finalize().into();
        let now = Instant::now();
        if let Some((ok, until)) = self.lock().get(&key).copied()
            && until > now
        {
            return Ok(ok);
        }
        let permit = tokio::time::timeout(SLOT_WAIT, self.slots.clone().acquire_owned())
            .await
            .map_err(|_| Busy)?
            .map_err(|_| Busy)?;
        let hash = hash.clone();
        let password = password.to_vec();
        let ok = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            hash.verify(&password)
        })
        .await
        .map_err(|_| Busy)?;
        let ok = ok && known;
        let ttl = if ok { OK_TTL } else { BAD_TTL };
        let mut cache = self.lock();
        if cache.len() >= CAPACITY {
            let now = Instant::now();
            cache.retain(|_, (_, until)| *until > now);
            if cache.len() >= CAPACITY {
                cache.clear();
            }
        }
        cache.insert(key, (ok, Instant::now() + ttl));
        Ok(ok)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], (bool, Instant)>> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_decoy_is_a_real_argon2_hash() {
        let checks = PasswordChecks::new();
        assert!(PasswordHash::parse(checks.decoy.text()).is_ok());
    }

    #[test]
    fn bcrypt_hashes_are_checked_by_layout() {
        let good = "$2b$04$abcdefghijklmnopqrstuu5Wc0sE2/5WrT9Jf6oVdgqVz3lHwSw6e";
        assert!(PasswordHash::parse(good).is_ok());
        assert!(PasswordHash::parse(&good.replace("$04$", "$03$")).is_err());
        assert!(PasswordHash::parse(&good[..59]).is_err());
        assert!(PasswordHash::parse(&good.replace('W', "!")).is_err());
        assert!(
            PasswordHash::parse("$2x$04$abcdefghijklmnopqrstuu5Wc0sE2/5WrT9Jf6oVdgqVz3lHwSw6e")
                .is_err()
        );
    }

    #[test]
    fn basic_credentials_decode() {
        let (u, p) = credentials(b"Basic YWxpY2U6czNjcjN0OndpdGg6Y29sb25z").expect("decodes");
        assert_eq!(u, "alice");
        assert_eq!(p, b"s3cr3t:with:colons");
        assert!(credentials(b"basic YWxpY2U6eA==").is_some());
        assert!(credentials(b"Bearer abc").is_none());
        assert!(credentials(b"Basic !!!").is_none());
        assert!(credentials(b"Basic bm9jb2xvbg==").is_none());
    }
}
