//! OpenID Connect login (OIDC Core 1.0, authorization code flow, with PKCE per RFC 7636).
//!
//! ```text
//!  browser GET /app ── no session ──▶ 302 provider /authorize?…state,nonce,code_challenge
//!                                      + login cookie (sealed: state, nonce, verifier, /app)
//!  provider ──302──▶ GET /callback?code&state ── state = cookie's? ── POST token endpoint
//!        (code + code_verifier, client_secret_basic) ── ID token verified (JWKS, iss, aud,
//!        exp, nonce) ──▶ 302 /app + session cookie (sealed: iss, sub, claims, tokens)
//!  GET /app + session ── valid ──▶ upstream (claims as headers; cookies stripped)
//!                      └ expired ── refresh token? ── POST token endpoint (once per token)
//!                                   ──▶ upstream, and a new session cookie on the answer
//!  Authorization: Bearer … ──▶ verified as a JWT from the same provider; never redirected
//!  GET /logout ──▶ cookie cleared, 302 to the provider's end_session_endpoint
//! ```
//!
//! Only navigations (GET/HEAD that accept `text/html`) are redirected to log in; any
//! other request without credentials gets 401, as an API client expects.

mod cookies;
mod exchange;
mod seal;
mod session;
mod tokens;

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header};
use sha2::{Digest, Sha256};
use tollgate_ir as ir;
use tollgate_jwt::{
    Algorithm, ClaimHeaders, JwksLocation, KeySource, ProviderMetadata, SystemClock, Verifier,
    VerifierConfig,
};

use self::cookies::Attributes;
use self::seal::Sealer;
use self::session::{Login, Opened, RefreshError, Refreshes, Session, now};
use super::Caller;
use super::jwt::Verifiers;
use crate::body::ProxyBody;
use crate::error::ProxyError;

/// How long a login may take at the provider.
const LOGIN_TTL: u64 = 600;
/// Tokens this close to expiry (at most a quarter of their life) are refreshed first, so
/// they do not expire in flight.
const EXPIRY_MARGIN: u64 = 5;
/// Largest cookie value written; browsers drop cookies past about 4 KiB.
const MAX_COOKIE: usize = 3800;

/// A compiled `oidc:` policy.
pub(crate) struct OidcMethod {
    /// ID-token and bearer-token verifiers over one provider's keys; `None` only when
    /// compiled without a runtime (`tollgate validate`).
    verifiers: Option<(Verifier, Verifier)>,
    client_id: String,
    client_secret: String,
    redirect: Redirect,
    logout_path: Option<String>,
    post_logout: Option<String>,
    scope: String,
    cookie: String,
    login_cookie: String,
    sealer: Sealer,
    lifetime: u64,
    claims: ClaimHeaders,
    forward_access_token: bool,
    /// `WWW-Authenticate` for an API request without credentials.
    pub(crate) challenge: String,
    realm: String,
    refreshes: Refreshes,
    opened: Opened,
}

/// The redirect URI: a path on whatever host the browser used, or a fixed URL.
enum Redirect {
    Path(String),
    Url { url: String, path: String },
}

/// Who a session or bearer token says the caller is.
pub(crate) struct Identity {
    pub(crate) issuer: String,
    pub(crate) subject: String,
    /// A refreshed session's new cookie, for the response.
    pub(crate) set_cookie: Option<HeaderValue>,
}

fn identity(o: &ir::OidcAuth) -> String {
    serde_json::json!([
        "oidc",
        o.discovery,
        o.issuer,
        o.client_id,
        o.audiences,
        o.algorithms,
        o.leeway.as_millis()
    ])
    .to_string()
}

/// Compiles a policy, reusing the previous runtime's verifiers (and so the provider's
/// metadata and keys) for the same provider and client.
pub(crate) fn compile(
    o: &ir::OidcAuth,
    previous: &Verifiers,
    next: &mut Verifiers,
    start_tasks: bool,
) -> Result<OidcMethod, String> {
    let id = identity(o);
    let bearer_id = format!("{id} bearer");
    let known = |m: &Verifiers| Some((m.get(&id)?.clone(), m.get(&bearer_id)?.clone()));
    let verifiers = match known(next).or_else(|| known(previous)) {
        Some(v) => Some(v),
        None if start_tasks => Some(build(o)?),
        None => None,
    };
    if let Some((i, b)) = &verifiers {
        next.insert(id.clone(), i.clone());
        next.insert(bearer_id, b.clone());
    }
    let redirect = if o.redirect_uri.starts_with('/') {
        Redirect::Path(o.redirect_uri.clone())
    } else {
        let uri: http::Uri = o
            .redirect_uri
            .parse()
            .map_err(|e| format!("oidc.redirect_path: {e}"))?;
        Redirect::Url {
            url: o.redirect_uri.clone(),
            path: uri.path().to_owned(),
        }
    };
    let claims = ClaimHeaders::new(
        o.claims_to_headers
            .iter()
            .map(|(c, h)| (c.as_str(), h.as_str())),
    )
    .map_err(|e| format!("oidc.claims_to_headers: {e}"))?;
    let sealer = Sealer::new(
        o.session_secret.as_deref().map(str::as_bytes),
        id.as_bytes(),
    )?;
    let realm = o.realm.replace(['"', '\\'], "'");
    Ok(OidcMethod {
        verifiers,
        client_id: o.client_id.clone(),
        client_secret: o.client_secret.clone(),
        redirect,
        logout_path: o.logout_path.clone(),
        post_logout: o.post_logout_redirect_uri.clone(),
        scope: o.scopes.join(" "),
        login_cookie: format!("{}_login", o.cookie_name),
        cookie: o.cookie_name.clone(),
        sealer,
        lifetime: o.session_lifetime.as_secs().max(1),
        claims,
        forward_access_token: o.forward_access_token,
        challenge: tollgate_jwt::www_authenticate_missing(Some(&realm)),
        realm,
        refreshes: Refreshes::default(),
        opened: Opened::default(),
    })
}

fn build(o: &ir::OidcAuth) -> Result<(Verifier, Verifier), String> {
    let algorithms = o
        .algorithms
        .iter()
        .map(|a| a.parse::<Algorithm>().map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    let keys = super::jwt::jwks(JwksLocation::Discovery {
        url: o.discovery.clone(),
        issuer: o.issuer.clone(),
    })?;
    let config = |audiences: Vec<String>| {
        let mut c = VerifierConfig::new(algorithms.clone());
        c.issuer = o.issuer.clone();
        c.audiences = audiences;
        c.leeway = o.leeway;
        c
    };
    let verifier = |audiences| {
        Verifier::new(config(audiences), keys.clone(), Arc::new(SystemClock))
            .map_err(|e| format!("oidc: {e}"))
    };
    Ok((
        verifier(vec![o.client_id.clone()])?,
        verifier(o.audiences.clone())?,
    ))
}

/// 32 random bytes, base64url: state, nonce and PKCE verifier (RFC 7636 §4.1 asks for
/// 43 to 128 characters; this gives 43).
fn random_token() -> Result<String, ProxyError> {
    let mut b = [0u8; 32];
    aws_lc_rs::rand::fill(&mut b)
        .map_err(|_| ProxyError::AuthUnavailable("the random number generator failed".into()))?;
    Ok(URL_SAFE_NO_PAD.encode(b))
}

/// Whether `target` is a path on this site: never a way to send someone elsewhere
/// (`//host` and `/\host` are other sites to a browser).
fn is_local(target: &str) -> bool {
    let b = target.as_bytes();
    b.first() == Some(&b'/') && !matches!(b.get(1), Some(b'/' | b'\\'))
}

fn same(a: &str, b: &str) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a.as_bytes(), b.as_bytes()).is_ok()
}

/// A navigation a browser makes, which may be sent to log in; anything else is an API
/// call and gets 401.
pub(crate) fn is_navigation(method: &Method, headers: &HeaderMap) -> bool {
    (method == Method::GET || method == Method::HEAD)
        && headers
            .get_all(header::ACCEPT)
            .iter()
            .any(|v| v.as_bytes().windows(9).any(|w| w == b"text/html"))
}

fn redirect_to(
    location: &str,
    cookies: Vec<HeaderValue>,
) -> Result<Response<ProxyBody>, ProxyError> {
    let location = HeaderValue::from_str(location).map_err(|_| {
        ProxyError::BadRequest("the redirect location is not a valid header".into())
    })?;
    let mut res = Response::new(ProxyBody::empty());
    *res.status_mut() = StatusCode::FOUND;
    let h = res.headers_mut();
    h.insert(header::LOCATION, location);
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    for c in cookies {
        h.append(header::SET_COOKIE, c);
    }
    Ok(res)
}

impl OidcMethod {
    fn verifiers(&self) -> Result<&(Verifier, Verifier), ProxyError> {
        self.verifiers
            .as_ref()
            .ok_or_else(|| ProxyError::AuthUnavailable("token verification is not running".into()))
    }

    /// The provider's metadata (waits, bounded, for the first discovery).
    async fn provider(&self) -> Result<Arc<ProviderMetadata>, ProxyError> {
        let KeySource::Jwks(source) = self.verifiers()?.0.key_source() else {
            return Err(ProxyError::AuthUnavailable("no provider metadata".into()));
        };
        let snapshot = source.ready().await.map_err(|e| {
            ProxyError::AuthUnavailable(format!("the identity provider is not reachable: {e}"))
        })?;
        snapshot
            .provider()
            .cloned()
            .ok_or_else(|| ProxyError::AuthUnavailable("no provider metadata".into()))
    }

    fn attributes(caller: &Caller<'_>) -> Attributes {
        Attributes {
            secure: caller.scheme == "https",
        }
    }

    fn redirect_uri(&self, caller: &Caller<'_>) -> Result<String, ProxyError> {
        match &self.redirect {
            Redirect::Url { url, .. } => Ok(url.clone()),
            Redirect::Path(p) => {
                let host = caller
                    .host
                    .and_then(|h| h.to_str().ok())
                    .ok_or_else(|| ProxyError::BadRequest("a login needs a Host header".into()))?;
                Ok(format!("{}://{host}{p}", caller.scheme))
            }
        }
    }

    /// Removes the gateway's own cookies from a request going upstream.
    pub(crate) fn strip_cookies(&self, headers: &mut HeaderMap) {
        cookies::strip(headers, &[&self.cookie, &self.login_cookie]);
    }

    /// Answers the callback and logout paths, which belong to the gateway whatever the
    /// route would do with them.
    pub(crate) async fn endpoint(
        &self,
        headers: &HeaderMap,
        caller: &Caller<'_>,
    ) -> Option<Result<Response<ProxyBody>, ProxyError>> {
        let callback = match &self.redirect {
            Redirect::Path(p) | Redirect::Url { path: p, .. } => p,
        };
        if caller.path == callback {
            return Some(self.callback(headers, caller).await);
        }
        if self.logout_path.as_deref() == Some(caller.path) {
            return Some(self.logout(caller).await);
        }
        None
    }

    /// Sends a browser to the provider to log in.
    pub(crate) async fn login(
        &self,
        caller: &Caller<'_>,
    ) -> Result<Response<ProxyBody>, ProxyError> {
        let provider = self.provider().await?;
        let endpoint = provider.authorization_endpoint.as_deref().ok_or_else(|| {
            ProxyError::AuthUnavailable("the provider has no authorization_endpoint".into())
        })?;
        let return_to = if is_local(caller.target) {
            caller.target.to_owned()
        } else {
            "/".to_owned()
        };
        let login = Login {
            state: random_token()?,
            nonce: random_token()?,
            verifier: random_token()?,
            return_to,
            expires: now() + LOGIN_TTL,
        };
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(login.verifier.as_bytes()));
        let redirect_uri = self.redirect_uri(caller)?;
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.client_id)
            .append_pair("redirect_uri", &redirect_uri)
            .append_pair("scope", &self.scope)
            .append_pair("state", &login.state)
            .append_pair("nonce", &login.nonce)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256")
            .finish();
        let sep = if endpoint.contains('?') { '&' } else { '?' };
        let sealed = self.seal(&self.login_cookie, &login)?;
        let cookie = cookies::set(
            &self.login_cookie,
            &sealed,
            LOGIN_TTL,
            Self::attributes(caller),
        );
        redirect_to(
            &format!("{endpoint}{sep}{query}"),
            cookie.into_iter().collect(),
        )
    }

    fn seal<T: serde::Serialize>(&self, name: &str, value: &T) -> Result<String, ProxyError> {
        let json = serde_json::to_vec(value)
            .map_err(|e| ProxyError::AuthUnavailable(format!("session: {e}")))?;
        let sealed = self
            .sealer
            .seal(name, &json)
            .map_err(ProxyError::AuthUnavailable)?;
        if sealed.len() > MAX_COOKIE {
            return Err(ProxyError::AuthUnavailable(format!(
                "the session does not fit in a cookie ({} bytes); keep fewer claims_to_headers or turn off forward_access_token",
                sealed.len()
            )));
        }
        Ok(sealed)
    }

    fn open<T: serde::de::DeserializeOwned>(&self, name: &str, value: &str) -> Option<T> {
        serde_json::from_slice(&self.sealer.open(name, value)?).ok()
    }

    /// A bearer token (API call) or a session cookie (browser); `Ok(None)` when there is
    /// neither, or the session is over and the browser should log in again.
    pub(crate) async fn authenticate(
        &self,
        headers: &mut HeaderMap,
        caller: &Caller<'_>,
    ) -> Result<Option<Identity>, ProxyError> {
        if let Some(token) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| tollgate_jwt::bearer_token(v.as_bytes()))
        {
            let verified = self.verifiers()?.1.verify(token).await.map_err(|e| {
                if e.http_status() == 503 {
                    return ProxyError::AuthUnavailable(e.to_string());
                }
                let challenge = e
                    .www_authenticate(Some(&self.realm))
                    .and_then(|c| HeaderValue::from_str(&c).ok());
                ProxyError::Unauthorized {
                    message: e.to_string(),
                    challenges: challenge.into_iter().collect(),
                }
            })?;
            self.claim_headers(headers, verified.claims())?;
            return Ok(Some(Identity {
                issuer: verified.issuer().unwrap_or_default().to_owned(),
                subject: verified.subject().unwrap_or_default().to_owned(),
                set_cookie: None,
            }));
        }
        let mut session = {
            let Some(raw) = cookies::get(headers, &self.cookie) else {
                return Ok(None);
            };
            match self.opened.get(raw) {
                Some(s) => s,
                None => {
                    let Some(s) = self.open::<Session>(&self.cookie, raw) else {
                        return Ok(None);
                    };
                    let s = Arc::new(s);
                    self.opened.insert(raw, s.clone());
                    s
                }
            }
        };
        let t = now();
        if t >= session.started + self.lifetime {
            return Ok(None);
        }
        let mut set_cookie = None;
        if t >= session.refresh_from {
            let Some(rt) = session.refresh_token.clone() else {
                return Ok(None);
            };
            match self.refreshes.run(&rt, self.refresh(&session, &rt)).await {
                Ok(done) => {
                    set_cookie = cookies::set(
                        &self.cookie,
                        &done.1,
                        self.max_age(&done.0, t),
                        Self::attributes(caller),
                    );
                    session = Arc::new(done.0.clone());
                }
                Err(RefreshError::Refused) => return Ok(None),
                // Not expired yet (only within the margin): serve on the tokens we have.
                Err(RefreshError::Unavailable(_)) if t < session.expires => {}
                Err(RefreshError::Unavailable(m)) => return Err(ProxyError::AuthUnavailable(m)),
            }
        }
        self.claim_headers(headers, &session.claims)?;
        if let Some(at) = &session.access_token
            && let Ok(v) = HeaderValue::from_str(&format!("Bearer {at}"))
        {
            headers.insert(header::AUTHORIZATION, v);
        }
        Ok(Some(Identity {
            issuer: session.iss.clone(),
            subject: session.sub.clone(),
            set_cookie,
        }))
    }

    fn claim_headers(
        &self,
        headers: &mut HeaderMap,
        claims: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<(), ProxyError> {
        let list = self
            .claims
            .headers(claims)
            .map_err(|e| ProxyError::Unauthorized {
                message: e.to_string(),
                challenges: Vec::new(),
            })?;
        for (name, value) in list {
            headers.insert(name, value);
        }
        Ok(())
    }

    /// Header names this policy writes upstream: a client must not send its own.
    pub(crate) fn written_headers(&self) -> impl Iterator<Item = &http::HeaderName> {
        self.claims.header_names()
    }

    /// Ends the session here and, when the provider supports it, there.
    async fn logout(&self, caller: &Caller<'_>) -> Result<Response<ProxyBody>, ProxyError> {
        let cookie = cookies::clear(&self.cookie, Self::attributes(caller));
        let end_session = match self.provider().await {
            Ok(p) => p.end_session_endpoint.clone(),
            Err(_) => None,
        };
        let location = match end_session {
            Some(endpoint) => {
                let mut q = form_urlencoded::Serializer::new(String::new());
                q.append_pair("client_id", &self.client_id);
                if let Some(p) = &self.post_logout {
                    q.append_pair("post_logout_redirect_uri", p);
                }
                let sep = if endpoint.contains('?') { '&' } else { '?' };
                format!("{endpoint}{sep}{}", q.finish())
            }
            None => self.post_logout.clone().unwrap_or_else(|| "/".to_owned()),
        };
        redirect_to(&location, cookie.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_return_targets() {
        assert!(is_local("/app?x=1"));
        assert!(is_local("/"));
        for bad in [
            "//evil.example/",
            "/\\evil.example",
            "https://evil.example/",
            "",
            "app",
        ] {
            assert!(!is_local(bad), "{bad}");
        }
    }

    #[test]
    fn navigations_are_browser_page_loads() {
        let mut h = HeaderMap::new();
        assert!(!is_navigation(&Method::GET, &h));
        h.insert(
            header::ACCEPT,
            HeaderValue::from_static("text/html,*/*;q=0.8"),
        );
        assert!(is_navigation(&Method::GET, &h));
        assert!(is_navigation(&Method::HEAD, &h));
        assert!(!is_navigation(&Method::POST, &h));
    }
}
