//! JWT policies: a [`tollgate_jwt::Verifier`] per distinct configuration, kept across
//! reloads (so JWKS keys and verified tokens stay cached), and the one outbound GET the
//! verifier needs for JWKS and discovery documents.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderName, Request, header};
use http_body_util::{BodyExt, Full, Limited};
use tollgate_ir as ir;
use tollgate_jwt::{
    Algorithm, BoxFuture, ClaimHeaders, Fetch, FetchError, FetchResponse, JwksConfig, JwksLocation,
    JwksSource, KeySet, KeySource, SystemClock, Verifier, VerifierConfig, VerifyingKey,
};

/// A compiled `jwt:` policy.
pub(crate) struct JwtMethod {
    /// `None` only when compiled without a tokio runtime (`tollgate validate`), where
    /// no JWKS fetch may start; such a runtime never serves.
    pub(crate) verifier: Option<Verifier>,
    pub(crate) claim_headers: ClaimHeaders,
    /// `WWW-Authenticate` for a request without a token.
    pub(crate) challenge: String,
    /// The realm, for the challenge of a refused token.
    pub(crate) realm: String,
    pub(crate) forward_token: bool,
}

/// What identifies a verifier: everything in the policy but the parts only the route
/// uses (headers, realm, forwarding).
fn identity(j: &ir::JwtAuth) -> String {
    serde_json::json!([
        j.keys,
        j.issuer,
        j.audiences,
        j.algorithms,
        j.leeway.as_millis()
    ])
    .to_string()
}

/// Verifiers by identity, handed from one runtime to the next.
pub(crate) type Verifiers = HashMap<String, Verifier>;

/// Compiles a policy, reusing the previous runtime's verifier for the same identity.
pub(crate) fn compile(
    j: &ir::JwtAuth,
    previous: &Verifiers,
    next: &mut Verifiers,
    start_tasks: bool,
) -> Result<JwtMethod, String> {
    let id = identity(j);
    let verifier = match next.get(&id).or_else(|| previous.get(&id)) {
        Some(v) => Some(v.clone()),
        None => build(j, start_tasks)?,
    };
    if let Some(v) = &verifier {
        next.insert(id, v.clone());
    }
    let claim_headers = ClaimHeaders::new(
        j.claims_to_headers
            .iter()
            .map(|(c, h)| (c.as_str(), h.as_str())),
    )
    .map_err(|e| format!("jwt.claims_to_headers: {e}"))?;
    Ok(JwtMethod {
        verifier,
        claim_headers,
        challenge: tollgate_jwt::www_authenticate_missing(Some(&j.realm)),
        realm: j.realm.clone(),
        forward_token: j.forward_token,
    })
}

fn build(j: &ir::JwtAuth, start_tasks: bool) -> Result<Option<Verifier>, String> {
    let algorithms = j
        .algorithms
        .iter()
        .map(|a| a.parse::<Algorithm>().map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    let mut config = VerifierConfig::new(algorithms);
    config.issuer = j.issuer.clone();
    config.audiences = j.audiences.clone();
    config.leeway = j.leeway;
    let keys = match &j.keys {
        ir::JwtKeys::Secret(s) => {
            let mut set = KeySet::new();
            set.push(
                VerifyingKey::hmac_secret(s.as_bytes(), None, None)
                    .map_err(|e| format!("jwt.secret: {e}"))?,
            );
            KeySource::Static(Arc::new(set))
        }
        _ if !start_tasks => return Ok(None),
        ir::JwtKeys::JwksUri(u) => jwks(JwksLocation::Uri(u.clone()))?,
        ir::JwtKeys::Discovery(u) => jwks(JwksLocation::Discovery {
            url: u.clone(),
            issuer: j.issuer.clone(),
        })?,
    };
    Verifier::new(config, keys, Arc::new(SystemClock))
        .map(Some)
        .map_err(|e| format!("jwt: {e}"))
}

/// A self-refreshing JWKS source fetched through the outbound client.
pub(super) fn jwks(location: JwksLocation) -> Result<KeySource, String> {
    let source = JwksSource::start(
        JwksConfig::new(location),
        Arc::new(HttpFetch),
        Arc::new(SystemClock),
    )
    .map_err(|e| format!("jwt: {e}"))?;
    Ok(KeySource::Jwks(source))
}

/// JWKS and discovery GETs through the process's pooled outbound client
/// (`crate::outbound`, shared with `ext_auth`).
struct HttpFetch;

const MAX_BODY: usize = 1 << 20;

impl Fetch for HttpFetch {
    fn get<'a>(&'a self, url: &'a str) -> BoxFuture<'a, Result<FetchResponse, FetchError>> {
        Box::pin(get(url))
    }
}

async fn get(url: &str) -> Result<FetchResponse, FetchError> {
    let uri: http::Uri = url.parse().map_err(FetchError::new)?;
    if !matches!(uri.scheme_str(), Some("https" | "http")) {
        return Err(FetchError::new(format!("unsupported URL {url}")));
    }
    let req = Request::get(uri)
        .header(header::ACCEPT, "application/json")
        .header(header::USER_AGENT, "tollgate")
        .body(Full::<Bytes>::default())
        .map_err(FetchError::new)?;
    let res = crate::outbound::client()
        .request(req)
        .await
        .map_err(|e| FetchError::new(format!("GET {url}: {e}")))?;
    let status = res.status().as_u16();
    let max_age = res
        .headers()
        .get(header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
        .and_then(tollgate_jwt::max_age);
    let body = Limited::new(res.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|e| FetchError::new(format!("reading the response: {e}")))?
        .to_bytes();
    Ok(FetchResponse {
        status,
        body,
        max_age,
    })
}

/// Header names a JWT policy writes upstream, which a client must not be able to send.
pub(crate) fn written_headers(m: &JwtMethod) -> impl Iterator<Item = &HeaderName> {
    m.claim_headers.header_names()
}
