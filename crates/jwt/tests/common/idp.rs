//! A real local identity provider (hyper on 127.0.0.1), a real hyper client behind
//! `Fetch`, and a verifier wired to both.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tollgate_jwt::{
    Algorithm, BoxFuture, Fetch, FetchError, FetchResponse, JwksConfig, JwksLocation, JwksSource,
    KeySource, ManualClock, Verifier, VerifierConfig, max_age,
};

pub(crate) const NOW: u64 = 1_700_000_000;
pub(crate) const ISSUER: &str = "https://idp.example";
pub(crate) const JWKS: &str = "/jwks";
pub(crate) const DISCOVERY: &str = "/.well-known/openid-configuration";

/// Claims from `ISSUER`, valid for ten minutes, distinct per `n`.
pub(crate) fn claims(n: u64) -> Value {
    json!({"iss": ISSUER, "sub": format!("user-{n}"), "exp": NOW + 600})
}

/// A verifier (ES256 and RS256 allowed) on a JWKS source, with a manual clock at `NOW`.
pub(crate) struct Setup {
    pub(crate) verifier: Verifier,
    pub(crate) source: JwksSource,
    pub(crate) clock: Arc<ManualClock>,
}

pub(crate) fn setup_with(
    location: JwksLocation,
    issuer: Option<&str>,
    fetch: Arc<dyn Fetch>,
    tune: impl FnOnce(&mut JwksConfig),
) -> Setup {
    let clock = Arc::new(ManualClock::new(NOW));
    let mut config = JwksConfig::new(location);
    tune(&mut config);
    let source = JwksSource::start(config, fetch, clock.clone()).expect("JWKS source");
    let mut vconfig = VerifierConfig::new(vec![Algorithm::ES256, Algorithm::RS256]);
    vconfig.issuer = issuer.map(str::to_owned);
    let verifier =
        Verifier::new(vconfig, KeySource::Jwks(source.clone()), clock.clone()).expect("verifier");
    Setup {
        verifier,
        source,
        clock,
    }
}

pub(crate) fn setup(
    location: JwksLocation,
    issuer: Option<&str>,
    tune: impl FnOnce(&mut JwksConfig),
) -> Setup {
    setup_with(location, issuer, Arc::new(HyperFetch), tune)
}

/// The JWKS location of `idp`.
pub(crate) fn at(idp: &Idp) -> JwksLocation {
    JwksLocation::Uri(idp.url(JWKS))
}

/// Polls `f` every 20 ms for up to 5 s.
pub(crate) async fn eventually(mut f: impl FnMut() -> bool) -> bool {
    for _ in 0..250 {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    f()
}

/// What the fake identity provider serves.
struct IdpState {
    jwks: Value,
    discovery: Option<Value>,
    status: u16,
    delay: Duration,
    max_age: Option<u64>,
    hits: HashMap<String, u64>,
}

/// A real HTTP/1.1 server on 127.0.0.1 serving `/jwks` and
/// `/.well-known/openid-configuration`, counting requests per path.
pub(crate) struct Idp {
    addr: SocketAddr,
    state: Arc<Mutex<IdpState>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Idp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Idp {
    pub(crate) async fn start(jwks: Value) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the IdP");
        let addr = listener.local_addr().expect("IdP address");
        let state = Arc::new(Mutex::new(IdpState {
            jwks,
            discovery: None,
            status: 200,
            delay: Duration::ZERO,
            max_age: None,
            hits: HashMap::new(),
        }));
        let served = Arc::clone(&state);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = Arc::clone(&served);
                tokio::spawn(async move {
                    let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let state = Arc::clone(&state);
                        async move { Ok::<_, Infallible>(respond(&state, req.uri().path()).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { addr, state, task }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn with<R>(&self, f: impl FnOnce(&mut IdpState) -> R) -> R {
        f(&mut self.state.lock().expect("IdP state lock"))
    }

    pub(crate) fn set_jwks(&self, jwks: Value) {
        self.with(|s| s.jwks = jwks);
    }

    /// Serves discovery metadata naming this server's `/jwks`, with `issuer`.
    pub(crate) fn set_discovery(&self, issuer: &str) {
        let doc = json!({"issuer": issuer, "jwks_uri": self.url("/jwks")});
        self.with(|s| s.discovery = Some(doc));
    }

    /// Answers every request with this status (503: the IdP is down).
    pub(crate) fn set_status(&self, status: u16) {
        self.with(|s| s.status = status);
    }

    pub(crate) fn set_delay(&self, delay: Duration) {
        self.with(|s| s.delay = delay);
    }

    pub(crate) fn set_max_age(&self, secs: Option<u64>) {
        self.with(|s| s.max_age = secs);
    }

    /// Requests received for `path`.
    pub(crate) fn hits(&self, path: &str) -> u64 {
        self.with(|s| s.hits.get(path).copied().unwrap_or(0))
    }
}

async fn respond(state: &Mutex<IdpState>, path: &str) -> hyper::Response<Full<Bytes>> {
    let (status, body, delay, max_age) = {
        let mut s = state.lock().expect("IdP state lock");
        *s.hits.entry(path.to_owned()).or_default() += 1;
        let body = match path {
            "/jwks" => Some(s.jwks.to_string()),
            "/.well-known/openid-configuration" => s.discovery.as_ref().map(Value::to_string),
            _ => None,
        };
        let status = if body.is_none() { 404 } else { s.status };
        (status, body.unwrap_or_default(), s.delay, s.max_age)
    };
    tokio::time::sleep(delay).await;
    let mut response = hyper::Response::builder()
        .status(status)
        .header("content-type", "application/json");
    if let Some(age) = max_age {
        response = response.header("cache-control", format!("public, max-age={age}"));
    }
    response
        .body(Full::new(Bytes::from(body)))
        .expect("valid response")
}

/// A `Fetch` over a fresh hyper HTTP/1.1 connection per GET (plain HTTP only).
#[derive(Debug)]
pub(crate) struct HyperFetch;

impl Fetch for HyperFetch {
    fn get<'a>(&'a self, url: &'a str) -> BoxFuture<'a, Result<FetchResponse, FetchError>> {
        Box::pin(async move {
            let uri: http::Uri = url.parse().map_err(FetchError::new)?;
            let authority = uri
                .authority()
                .ok_or_else(|| FetchError::new("no authority"))?
                .clone();
            let stream = TcpStream::connect(authority.as_str())
                .await
                .map_err(FetchError::new)?;
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(FetchError::new)?;
            tokio::spawn(conn);
            let path = uri.path_and_query().map_or("/", |p| p.as_str());
            let request = http::Request::get(path)
                .header(http::header::HOST, authority.as_str())
                .body(Empty::<Bytes>::new())
                .map_err(FetchError::new)?;
            let response = sender
                .send_request(request)
                .await
                .map_err(FetchError::new)?;
            let status = response.status().as_u16();
            let max_age = response
                .headers()
                .get(http::header::CACHE_CONTROL)
                .and_then(|v| v.to_str().ok())
                .and_then(max_age);
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(FetchError::new)?
                .to_bytes();
            Ok(FetchResponse {
                status,
                body,
                max_age,
            })
        })
    }
}
