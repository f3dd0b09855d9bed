//! A real OpenID Connect provider for end-to-end login tests, and a cookie-keeping
//! browser to log in through it.
//!
//! [`OidcProvider`] runs `oidc-provider/provider.mjs` (the `oidc-provider` npm package)
//! as a child process: authorization code flow with PKCE required, refresh tokens, RP-
//! initiated logout, `client_credentials` JWT access tokens for a configured resource,
//! key rotation, and counters of what it served. `oidc-provider/README.md` is the full
//! contract (config, endpoints, JSON). [`Browser`] drives a login through it with `curl`,
//! one hop at a time or all at once:
//!
//! ```no_run
//! # fn main() -> anyhow::Result<()> {
//! use tollgate_test_support::oidc::{Browser, OidcProvider};
//! let idp = OidcProvider::start(&serde_json::json!({ "clients": [ /* … */ ] }))?;
//! let browser = Browser::new()?;
//! // Gateway → provider → login form → provider → gateway callback → original URL.
//! let (hops, page) = browser.login("http://127.0.0.1:8080/app", "alice")?;
//! assert_eq!(page.status, 200, "{hops:?}");
//! # Ok(()) }
//! ```

mod browser;
mod form;
mod urls;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, bail};
use base64::Engine as _;
use serde_json::{Value, json};

pub use browser::{Browser, Page};
pub use form::Form;
pub use urls::{decode, encode, form_encode, origin, parse_form, query_param, resolve};

use crate::client;
use crate::process::TempDir;

/// How long the provider may take to print its issuer line (Node starting and loading
/// the package, on a busy 2-core machine).
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A running provider. The process is killed and reaped on drop; it also exits by itself
/// if this process dies, because it watches the stdin pipe held here.
pub struct OidcProvider {
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    issuer: String,
    addr: SocketAddr,
    stderr: Arc<Mutex<Vec<String>>>,
    stderr_pump: Option<JoinHandle<()>>,
    _dir: TempDir,
}

impl OidcProvider {
    /// Starts a provider with `config` (see `oidc-provider/README.md`; only `clients` is
    /// required) and waits until it listens.
    pub fn start(config: &Value) -> anyhow::Result<Self> {
        let home = package_dir();
        if !home.join("node_modules").join("oidc-provider").is_dir() {
            bail!(
                "the test OpenID provider's packages are not installed: \
                 run `npm ci --prefix crates/test-support/oidc-provider`"
            );
        }
        let dir = TempDir::new("oidc")?;
        let config_path = dir.path().join("config.json");
        std::fs::write(&config_path, serde_json::to_vec(config)?)?;
        let mut child = Command::new("node")
            .arg(home.join("provider.mjs"))
            .arg(&config_path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting `node` (is Node.js installed?)")?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().context("provider stdout")?;
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let stderr_pump = child.stderr.take().map(|err| {
            let lines = stderr.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(err).lines() {
                    let Ok(line) = line else { return };
                    // Shown with the test's output when it fails.
                    eprintln!("[oidc-provider] {line}");
                    if let Ok(mut v) = lines.lock() {
                        v.push(line);
                    }
                }
            })
        });
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let _ = tx.send(reader.read_line(&mut line).map(|_| line));
            // Keep draining so that a stray write can never block the provider.
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
        });
        let mut provider = Self {
            child: Some(child),
            stdin,
            issuer: String::new(),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            stderr,
            stderr_pump,
            _dir: dir,
        };
        let line = match rx.recv_timeout(START_TIMEOUT) {
            Ok(Ok(line)) if !line.trim().is_empty() => line,
            other => {
                provider.stop();
                bail!(
                    "the test OpenID provider did not start ({other:?}); its stderr:\n{}",
                    provider.log()
                );
            }
        };
        let parsed: Value = serde_json::from_str(line.trim())
            .with_context(|| format!("provider's first line is not JSON: {line:?}"))?;
        provider.issuer = parsed["issuer"]
            .as_str()
            .with_context(|| format!("no issuer in {line:?}"))?
            .to_owned();
        provider.addr = provider
            .issuer
            .strip_prefix("http://")
            .and_then(|a| a.parse().ok())
            .with_context(|| format!("issuer is not http://IP:PORT: {}", provider.issuer))?;
        Ok(provider)
    }

    /// The issuer, `http://127.0.0.1:PORT` (no trailing slash).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Replaces the registered clients (e.g. once the gateway's callback port is known).
    /// Sessions, grants and tokens are kept.
    pub fn set_clients(&self, clients: Value) -> anyhow::Result<()> {
        let body = json!({ "clients": clients }).to_string();
        self.call(
            "POST",
            "/__clients",
            &[("content-type", "application/json")],
            &body,
        )?;
        Ok(())
    }

    /// Adds a new signing key, first in the JWKS (new tokens are signed with it), keeping
    /// the older keys published after it. Returns its `kid` (`k2`, `k3`, …).
    pub fn rotate(&self) -> anyhow::Result<String> {
        let reply = self.call("POST", "/__rotate", &[], "")?;
        Ok(reply.json()["kid"]
            .as_str()
            .context("no kid in the rotate answer")?
            .to_owned())
    }

    /// What the provider has served so far:
    /// `{"grants":{"authorization_code":N,"refresh_token":N,"client_credentials":N},
    /// "jwks_requests":N,"token_requests":N,"end_session_requests":N,"logouts":N}`.
    pub fn stats(&self) -> anyhow::Result<Value> {
        Ok(self.call("GET", "/__stats", &[], "")?.json())
    }

    /// A `client_credentials` access token for `resource` (a JWT, `aud` = the resource's
    /// audience), with client_secret_basic authentication.
    pub fn client_credentials_token(
        &self,
        client_id: &str,
        secret: &str,
        resource: &str,
    ) -> anyhow::Result<String> {
        // RFC 6749 §2.3.1: both halves are form-encoded before the base64.
        let credentials = format!("{}:{}", encode(client_id), encode(secret));
        let auth = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(credentials)
        );
        let body = form_encode(&[("grant_type", "client_credentials"), ("resource", resource)]);
        let reply = self.call(
            "POST",
            "/token",
            &[
                ("authorization", &auth),
                ("content-type", "application/x-www-form-urlencoded"),
            ],
            &body,
        )?;
        Ok(reply.json()["access_token"]
            .as_str()
            .with_context(|| format!("no access_token in {}", reply.body))?
            .to_owned())
    }

    /// Everything the provider wrote to stderr so far.
    pub fn log(&self) -> String {
        self.stderr.lock().map(|l| l.join("\n")).unwrap_or_default()
    }

    fn call(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> anyhow::Result<client::Reply> {
        let host = self.addr.to_string();
        let mut all = vec![("host", host.as_str())];
        all.extend_from_slice(headers);
        let reply = client::request(self.addr, method, path, &all, body)
            .with_context(|| format!("{method} {path} to the test OpenID provider"))?;
        if reply.status != 200 {
            bail!(
                "{method} {path}: {} {}; provider stderr:\n{}",
                reply.status,
                reply.body,
                self.log()
            );
        }
        Ok(reply)
    }

    fn stop(&mut self) {
        // Closing stdin alone would stop it; kill so that drop never waits on it.
        self.stdin.take();
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if let Some(pump) = self.stderr_pump.take() {
            let _ = pump.join();
        }
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        self.stop();
    }
}

impl std::fmt::Debug for OidcProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcProvider")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

/// The JOSE header and the claims of a JWT, decoded (not verified).
pub fn jwt_parts(token: &str) -> anyhow::Result<(Value, Value)> {
    let mut parts = token.split('.');
    let mut next = |what: &str| -> anyhow::Result<Value> {
        let part = parts
            .next()
            .with_context(|| format!("no {what} in {token}"))?;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part)?;
        Ok(serde_json::from_slice(&bytes)?)
    };
    Ok((next("header")?, next("claims")?))
}

/// `crates/test-support/oidc-provider`.
fn package_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("oidc-provider")
}
