//! What the two OIDC cookies hold, and refreshes run once per refresh token.
//!
//! Short field names: everything here travels in a cookie on every request, and browsers
//! cap a cookie near 4 KiB.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

/// A logged-in session (the session cookie).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Session {
    /// The ID token's `iss` and `sub`: who this is.
    #[serde(rename = "i")]
    pub(crate) iss: String,
    #[serde(rename = "s")]
    pub(crate) sub: String,
    /// The ID-token claims `claims_to_headers` reads, and no others.
    #[serde(rename = "c", default, skip_serializing_if = "Map::is_empty")]
    pub(crate) claims: Map<String, Value>,
    /// The access token, only when it is forwarded upstream.
    #[serde(rename = "a", default, skip_serializing_if = "Option::is_none")]
    pub(crate) access_token: Option<String>,
    #[serde(rename = "r", default, skip_serializing_if = "Option::is_none")]
    pub(crate) refresh_token: Option<String>,
    /// Unix time the tokens expire: then the session is refreshed, or over.
    #[serde(rename = "e")]
    pub(crate) expires: u64,
    /// Unix time from which a request refreshes first, a little before `expires` so the
    /// tokens do not expire in flight.
    #[serde(rename = "f")]
    pub(crate) refresh_from: u64,
    /// Unix time of the login: `session_lifetime` counts from here, across refreshes.
    #[serde(rename = "t")]
    pub(crate) started: u64,
}

/// A login in progress (the login cookie), from the redirect to the provider until the
/// callback.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Login {
    /// `state`: ties the callback to this browser (CSRF).
    #[serde(rename = "s")]
    pub(crate) state: String,
    /// `nonce`: ties the ID token to this login (replay).
    #[serde(rename = "n")]
    pub(crate) nonce: String,
    /// The PKCE `code_verifier`.
    #[serde(rename = "v")]
    pub(crate) verifier: String,
    /// The origin-relative URL to return to.
    #[serde(rename = "u")]
    pub(crate) return_to: String,
    #[serde(rename = "e")]
    pub(crate) expires: u64,
}

/// Unix time in seconds.
pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Why a refresh failed.
#[derive(Clone, Debug)]
pub(crate) enum RefreshError {
    /// The provider refused the refresh token: the user must log in again.
    Refused,
    /// The provider could not answer.
    Unavailable(String),
}

/// The result of one refresh: the new session and its sealed cookie value.
pub(crate) type Refreshed = Result<Arc<(Session, String)>, RefreshError>;

type Slot = Arc<OnceCell<Refreshed>>;

/// Refreshes in flight and just finished, by refresh token. A page load sends many
/// requests with the same expired cookie at once: one of them refreshes and the others
/// wait for it and share the result, instead of each spending the refresh token (a
/// provider that rotates refresh tokens would refuse all but the first, logging the user
/// out).
#[derive(Default)]
pub(crate) struct Refreshes {
    slots: Mutex<HashMap<[u8; 32], (Instant, Slot)>>,
}

/// How long a finished refresh is shared with requests still carrying the old cookie.
const KEEP: Duration = Duration::from_secs(30);

impl Refreshes {
    /// Runs `refresh` for this refresh token, or joins the run in flight, or returns the
    /// result of one finished less than 30 s ago.
    pub(crate) async fn run<F>(&self, refresh_token: &str, refresh: F) -> Refreshed
    where
        F: Future<Output = Refreshed>,
    {
        let key: [u8; 32] = Sha256::digest(refresh_token.as_bytes()).into();
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
            let now = Instant::now();
            slots.retain(|_, (at, slot)| {
                now.duration_since(*at) < KEEP
                    || (slot.get().is_none() && Arc::strong_count(slot) > 1)
            });
            slots
                .entry(key)
                .or_insert_with(|| (now, Arc::new(OnceCell::new())))
                .1
                .clone()
        };
        slot.get_or_init(|| refresh).await.clone()
    }
}

/// Sessions already opened, by cookie value. Opening a session (base64, AES-GCM, JSON)
/// is a pure function of the cookie and this policy's key, so the result can be reused
/// for as long as the browser sends the same cookie; expiry is judged from the session on
/// every request. Only cookies that opened are stored (forged ones cannot fill it), and
/// the map is emptied when it reaches its bound.
#[derive(Default)]
pub(crate) struct Opened {
    map: Mutex<HashMap<Box<str>, Arc<Session>>>,
}

/// Sessions kept open; at about 1 KiB each, a few MiB at most.
const OPENED_MAX: usize = 10_000;

impl Opened {
    pub(crate) fn get(&self, cookie: &str) -> Option<Arc<Session>> {
        let map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        map.get(cookie).cloned()
    }

    pub(crate) fn insert(&self, cookie: &str, session: Arc<Session>) {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= OPENED_MAX {
            map.clear();
        }
        map.insert(cookie.into(), session);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn session() -> Session {
        Session {
            iss: "i".into(),
            sub: "s".into(),
            claims: Map::new(),
            access_token: None,
            refresh_token: None,
            expires: 1,
            refresh_from: 1,
            started: 0,
        }
    }

    #[test]
    fn opened_sessions_are_found_by_exact_cookie_and_bounded() {
        let o = Opened::default();
        o.insert("abc", Arc::new(session()));
        assert!(o.get("abc").is_some());
        assert!(o.get("ab").is_none() && o.get("abcd").is_none());
        for i in 0..OPENED_MAX {
            o.insert(&format!("c{i}"), Arc::new(session()));
        }
        let len = o.map.lock().unwrap().len();
        assert!(len <= OPENED_MAX, "{len}");
    }

    #[tokio::test]
    async fn concurrent_refreshes_of_one_token_run_once() {
        let r = Refreshes::default();
        let runs = AtomicUsize::new(0);
        let one = || async {
            runs.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok(Arc::new((session(), "cookie".to_owned())))
        };
        let (a, b, c) = tokio::join!(r.run("rt", one()), r.run("rt", one()), r.run("rt", one()));
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        for x in [a, b, c] {
            assert_eq!(x.unwrap().1, "cookie");
        }
        // Another token refreshes on its own.
        r.run("other", one()).await.unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }
}
