//! Shared test helpers: keys generated at test time (aws-lc-rs), token signing, a real
//! local identity provider (hyper on 127.0.0.1) and a real hyper client behind `Fetch`.

// Each test binary uses a different part of this module.
#![allow(dead_code)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use aws_lc_rs::{hmac, rsa};
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tollgate_jwt::{Algorithm, BoxFuture, Fetch, FetchError, FetchResponse, max_age};

/// Unpadded base64url.
pub(crate) fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// `token` with one bit of its signature flipped.
pub(crate) fn flip_signature_bit(token: &str) -> String {
    let (head, sig) = token.rsplit_once('.').expect("a compact JWS");
    let mut bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(sig)
        .expect("base64url signature");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    format!("{head}.{}", b64(&bytes))
}

enum Signer {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
    Hmac(Vec<u8>),
}

/// A signing key made for the test.
pub(crate) struct TestKey {
    pub(crate) kid: String,
    signer: Signer,
}

impl TestKey {
    pub(crate) fn rsa(kid: &str) -> Self {
        let key = RsaKeyPair::generate(rsa::KeySize::Rsa2048).expect("RSA key generation");
        Self {
            kid: kid.into(),
            signer: Signer::Rsa(key),
        }
    }

    /// An EC key for ES256, ES384 or ES512.
    pub(crate) fn ec(kid: &str, alg: Algorithm) -> Self {
        let curve = match alg {
            Algorithm::ES256 => &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            Algorithm::ES384 => &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
            Algorithm::ES512 => &signature::ECDSA_P521_SHA512_FIXED_SIGNING,
            other => panic!("{other} is not an EC algorithm"),
        };
        let key = EcdsaKeyPair::generate(curve).expect("EC key generation");
        Self {
            kid: kid.into(),
            signer: Signer::Ec(key),
        }
    }

    pub(crate) fn ed25519(kid: &str) -> Self {
        let key = Ed25519KeyPair::generate().expect("Ed25519 key generation");
        Self {
            kid: kid.into(),
            signer: Signer::Ed(key),
        }
    }

    pub(crate) fn hmac(kid: &str, secret: &[u8]) -> Self {
        Self {
            kid: kid.into(),
            signer: Signer::Hmac(secret.to_vec()),
        }
    }

    /// The public JWK (for an HMAC key: the `oct` JWK with the secret).
    pub(crate) fn jwk(&self) -> Value {
        match &self.signer {
            Signer::Rsa(k) => json!({
                "kty": "RSA", "kid": self.kid, "use": "sig",
                "n": b64(k.public_key().modulus().big_endian_without_leading_zero()),
                "e": b64(k.public_key().exponent().big_endian_without_leading_zero()),
            }),
            Signer::Ec(k) => {
                let point = k.public_key().as_ref();
                let size = (point.len() - 1) / 2;
                let crv = match size {
                    32 => "P-256",
                    48 => "P-384",
                    _ => "P-521",
                };
                json!({
                    "kty": "EC", "kid": self.kid, "crv": crv,
                    "x": b64(&point[1..=size]), "y": b64(&point[1 + size..]),
                })
            }
            Signer::Ed(k) => json!({
                "kty": "OKP", "kid": self.kid, "crv": "Ed25519", "x": b64(k.public_key().as_ref()),
            }),
            Signer::Hmac(secret) => json!({"kty": "oct", "kid": self.kid, "k": b64(secret)}),
        }
    }

    /// The public key as PEM SubjectPublicKeyInfo.
    pub(crate) fn pem(&self) -> String {
        let der = match &self.signer {
            Signer::Rsa(k) => k.public_key().as_der().expect("RSA SPKI").as_ref().to_vec(),
            Signer::Ec(k) => k.public_key().as_der().expect("EC SPKI").as_ref().to_vec(),
            Signer::Ed(k) => k
                .public_key()
                .as_der()
                .expect("Ed25519 SPKI")
                .as_ref()
                .to_vec(),
            Signer::Hmac(_) => panic!("an HMAC secret has no PEM form"),
        };
        let body = base64::engine::general_purpose::STANDARD.encode(der);
        let lines: Vec<_> = body
            .as_bytes()
            .chunks(64)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect();
        format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            lines.join("\n")
        )
    }

    /// Signs `input` (the JWS signing input) with `alg`.
    pub(crate) fn sign_bytes(&self, alg: Algorithm, input: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match &self.signer {
            Signer::Rsa(k) => {
                let padding: &'static dyn signature::RsaEncoding = match alg {
                    Algorithm::RS256 => &signature::RSA_PKCS1_SHA256,
                    Algorithm::RS384 => &signature::RSA_PKCS1_SHA384,
                    Algorithm::RS512 => &signature::RSA_PKCS1_SHA512,
                    Algorithm::PS256 => &signature::RSA_PSS_SHA256,
                    Algorithm::PS384 => &signature::RSA_PSS_SHA384,
                    Algorithm::PS512 => &signature::RSA_PSS_SHA512,
                    other => panic!("RSA cannot sign {other}"),
                };
                let mut sig = vec![0; k.public_modulus_len()];
                k.sign(padding, &rng, input, &mut sig).expect("RSA signing");
                sig
            }
            Signer::Ec(k) => k
                .sign(&rng, input)
                .expect("ECDSA signing")
                .as_ref()
                .to_vec(),
            Signer::Ed(k) => k.sign(input).as_ref().to_vec(),
            Signer::Hmac(secret) => {
                let digest = match alg {
                    Algorithm::HS384 => hmac::HMAC_SHA384,
                    Algorithm::HS512 => hmac::HMAC_SHA512,
                    _ => hmac::HMAC_SHA256,
                };
                hmac::sign(&hmac::Key::new(digest, secret), input)
                    .as_ref()
                    .to_vec()
            }
        }
    }

    /// A compact JWS of `payload` under `header` (taken as is).
    pub(crate) fn sign_raw(&self, alg: Algorithm, header: &Value, payload: &[u8]) -> String {
        let input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(payload));
        let sig = self.sign_bytes(alg, input.as_bytes());
        format!("{input}.{}", b64(&sig))
    }

    /// A JWT with header `{"alg", "kid"}` and these claims.
    pub(crate) fn token(&self, alg: Algorithm, claims: &Value) -> String {
        self.sign_raw(
            alg,
            &json!({"alg": alg.as_str(), "kid": self.kid}),
            claims.to_string().as_bytes(),
        )
    }
}

/// `{"keys": [...]}` of these keys' JWKs.
pub(crate) fn jwks(keys: &[&TestKey]) -> Value {
    json!({ "keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>() })
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
