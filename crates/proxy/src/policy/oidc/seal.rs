//! Sealed cookies: AES-256-GCM with a random 96-bit nonce per value. GCM is
//! authenticated encryption, so a sealed value is both secret (a browser holding it cannot
//! read the refresh token inside) and tamper-proof (any changed byte fails to open); the
//! cookie's name is the associated data, so one cookie's value cannot be replayed as
//! another's.
//!
//! The key is derived with HKDF-SHA256 from the configured secret (or from a random key
//! made once per process) and a context naming the client, so two OIDC configurations
//! never accept each other's cookies.

use std::sync::OnceLock;

use aws_lc_rs::aead::{AES_256_GCM, Aad, NONCE_LEN, Nonce, RandomizedNonceKey};
use aws_lc_rs::hkdf;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The version byte in front of every sealed value: a later format can tell old cookies
/// apart instead of failing to open them as garbage.
const VERSION: u8 = 1;

/// Seals and opens cookie values with one key.
pub(crate) struct Sealer {
    key: RandomizedNonceKey,
}

/// The random key material used when no `session_secret` is configured: one per process,
/// so sessions survive configuration reloads (but not restarts).
fn process_secret() -> &'static [u8; 32] {
    static SECRET: OnceLock<[u8; 32]> = OnceLock::new();
    SECRET.get_or_init(|| {
        let mut s = [0u8; 32];
        if aws_lc_rs::rand::fill(&mut s).is_err() {
            // The OS random source failing is not survivable for anything that needs
            // secrets; refusing to start is better than a guessable key.
            panic!("the system random number generator failed");
        }
        s
    })
}

impl Sealer {
    /// A sealer keyed by `secret` (or the process key) and `context`.
    pub(crate) fn new(secret: Option<&[u8]>, context: &[u8]) -> Result<Self, String> {
        let secret = secret.unwrap_or_else(|| process_secret());
        let salt = hkdf::Salt::new(hkdf::HKDF_SHA256, b"tollgate oidc cookie v1");
        let prk = salt.extract(secret);
        let info = [context];
        let okm = prk
            .expand(&info, &AES_256_GCM)
            .map_err(|_| "oidc: deriving the cookie key failed".to_owned())?;
        let mut bytes = [0u8; 32];
        okm.fill(&mut bytes)
            .map_err(|_| "oidc: deriving the cookie key failed".to_owned())?;
        let key = RandomizedNonceKey::new(&AES_256_GCM, &bytes)
            .map_err(|_| "oidc: building the cookie key failed".to_owned())?;
        Ok(Self { key })
    }

    /// `base64url(version ‖ nonce ‖ ciphertext ‖ tag)`.
    pub(crate) fn seal(&self, name: &str, plaintext: &[u8]) -> Result<String, String> {
        let mut data = plaintext.to_vec();
        let nonce = self
            .key
            .seal_in_place_append_tag(Aad::from(name.as_bytes()), &mut data)
            .map_err(|_| "sealing a cookie failed".to_owned())?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + data.len());
        out.push(VERSION);
        out.extend_from_slice(nonce.as_ref());
        out.extend_from_slice(&data);
        Ok(URL_SAFE_NO_PAD.encode(out))
    }

    /// The plaintext of a value this sealer made for the cookie `name`; `None` for
    /// anything else (tampered, truncated, another key, another cookie).
    pub(crate) fn open(&self, name: &str, value: &str) -> Option<Vec<u8>> {
        let raw = URL_SAFE_NO_PAD.decode(value).ok()?;
        let (&version, rest) = raw.split_first()?;
        if version != VERSION || rest.len() < NONCE_LEN {
            return None;
        }
        let (nonce, sealed) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut data = sealed.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(name.as_bytes()), &mut data)
            .ok()?;
        Some(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_only_what_it_sealed_for_that_name() {
        let s = Sealer::new(Some(b"0123456789abcdef0123456789abcdef"), b"client-a").unwrap();
        let v = s.seal("session", b"hello").unwrap();
        assert_eq!(s.open("session", &v).as_deref(), Some(&b"hello"[..]));
        // Fresh nonce each time: equal plaintexts do not give equal cookies.
        assert_ne!(v, s.seal("session", b"hello").unwrap());
        // Another cookie name, another context, another secret: refused.
        assert_eq!(s.open("other", &v), None);
        let b = Sealer::new(Some(b"0123456789abcdef0123456789abcdef"), b"client-b").unwrap();
        assert_eq!(b.open("session", &v), None);
        let c = Sealer::new(Some(b"another secret of thirty-two bytes"), b"client-a").unwrap();
        assert_eq!(c.open("session", &v), None);
        // Any flipped byte is refused.
        let mut raw = URL_SAFE_NO_PAD.decode(&v).unwrap();
        for i in 0..raw.len() {
            raw[i] ^= 1;
            assert_eq!(
                s.open("session", &URL_SAFE_NO_PAD.encode(&raw)),
                None,
                "byte {i}"
            );
            raw[i] ^= 1;
        }
        assert_eq!(s.open("session", "not base64!"), None);
        assert_eq!(s.open("session", ""), None);
    }

    #[test]
    fn the_process_key_is_stable_within_a_process() {
        let a = Sealer::new(None, b"c").unwrap();
        let b = Sealer::new(None, b"c").unwrap();
        let v = a.seal("n", b"x").unwrap();
        assert_eq!(b.open("n", &v).as_deref(), Some(&b"x"[..]));
    }
}
