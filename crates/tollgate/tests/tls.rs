//! TLS end to end against the real binary: SNI certificate selection, ALPN, minimum
//! versions, certificate renewal under load (and a broken renewal refused), client
//! certificates (mTLS) and the subject header, TLS to backends (custom CA, SNI override,
//! client certificate, h2), redirect to https, `validate` on TLS mistakes, expired
//! certificates, and `Expect`.
//!
//! Clients are real: curl (OpenSSL) for what a user would run, and a tokio-rustls client
//! where a test needs the exact certificate a connection was served.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use common::*;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tollgate_test_support::pki::{Ca, Minted, write_atomic};
use tollgate_test_support::process::TempDir;
use tollgate_tls::UpstreamTlsSettings;
use tollgate_tls::rustls::ClientConfig;
use tollgate_tls::rustls::pki_types::CertificateDer;

/// Bound on any one network step of the rustls client.
const STEP: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------
// Setup
// ---------------------------------------------------------------------------------------

/// Starts the gateway with `tollgate.yaml` = `cfg` plus certificate files.
fn start(cfg: &str, files: &[(&str, &str)]) -> Gateway {
    let mut all = vec![("tollgate.yaml", cfg)];
    all.extend_from_slice(files);
    Gateway::start_with(BIN, &all, &[])
        .unwrap_or_else(|e| panic!("gateway did not start: {e:#}\nconfig:\n{cfg}"))
}

/// An https listener `websecure` with the given `tls:` body (indented YAML lines), one
/// route to one plain backend.
fn https_config(tls: &str, backend: &str) -> String {
    format!(
        r#"
listeners:
  - name: websecure
    address: "127.0.0.1:0"
    protocol: https
    tls:
{tls}
services:
  - name: app
    endpoints: ["{backend}"]
routes:
  - {{ name: all, backends: [{{ service: app }}] }}
"#
    )
}

fn multi_thread_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn block_on<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// Reads a counter without labels from `/metrics` (0 when absent).
fn metric(gw: &Gateway, name: &str) -> u64 {
    let body = admin(gw, "/metrics").body;
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------------------
// curl
// ---------------------------------------------------------------------------------------

#[derive(Debug)]
struct Curl {
    /// curl's exit code.
    code: i32,
    /// The response body.
    body: String,
    /// `%{http_code}`; 0 when no response.
    status: u16,
    /// `%{http_version}`: `1.1`, `2`, …
    http_version: String,
    /// Diagnostics (`-v` output when asked).
    stderr: String,
    elapsed: Duration,
}

impl Curl {
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
    }
}

/// Runs curl with `args`; the response's status and HTTP version come from `-w`.
fn curl(args: &[&str]) -> Curl {
    let started = Instant::now();
    let out = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "20",
            "-w",
            "\n%{http_code} %{http_version}",
        ])
        .args(args)
        .output()
        .expect("run curl");
    let elapsed = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, trailer) = stdout.rsplit_once('\n').unwrap_or(("", &stdout));
    let mut t = trailer.split(' ');
    Curl {
        code: out.status.code().unwrap_or(-1),
        body: body.to_owned(),
        status: t.next().and_then(|s| s.parse().ok()).unwrap_or(0),
        http_version: t.next().unwrap_or("").to_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        elapsed,
    }
}

/// `--resolve host:port:127.0.0.1` and the URL `https://host:port{path}`.
fn resolve(host: &str, addr: SocketAddr, path: &str) -> (String, String) {
    (
        format!("{host}:{}:127.0.0.1", addr.port()),
        format!("https://{host}:{}{path}", addr.port()),
    )
}

/// curl to `https://host:port{path}` through `--resolve`, trusting `ca_file`, plus `extra`.
fn curl_https(host: &str, addr: SocketAddr, path: &str, ca_file: &Path, extra: &[&str]) -> Curl {
    let (res, url) = resolve(host, addr, path);
    let ca = ca_file.to_str().unwrap();
    let mut args = vec!["--resolve", &res, "--cacert", ca];
    args.extend_from_slice(extra);
    args.push(&url);
    curl(&args)
}

/// The `subject:` curl -v printed for the server certificate.
fn curl_subject(c: &Curl) -> String {
    c.stderr
        .lines()
        .find_map(|l| l.trim_start_matches('*').trim().strip_prefix("subject:"))
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|| panic!("no subject in curl -v output: {c:?}"))
}

/// The TLS version from curl -v's `SSL connection using TLSv1.3 / …`.
fn curl_tls_version(c: &Curl) -> String {
    c.stderr
        .lines()
        .find_map(|l| l.split("SSL connection using ").nth(1))
        .and_then(|s| s.split(' ').next())
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("no TLS version in curl -v output: {c:?}"))
}

// ---------------------------------------------------------------------------------------
// tokio-rustls client
// ---------------------------------------------------------------------------------------

/// A client trusting only `ca`, offering ALPN http/1.1.
fn trusting(ca: &Ca) -> Arc<ClientConfig> {
    tollgate_tls::client_config(&UpstreamTlsSettings {
        ca_pem: Some(ca.cert_pem().as_bytes().to_vec()),
        ..UpstreamTlsSettings::default()
    })
    .unwrap()
}

/// A client that accepts any certificate, to see what is presented for any name.
fn trusting_anything() -> Arc<ClientConfig> {
    tollgate_tls::client_config(&UpstreamTlsSettings {
        insecure_skip_verify: true,
        ..UpstreamTlsSettings::default()
    })
    .unwrap()
}

type ClientTls = tollgate_tls::tokio_rustls::client::TlsStream<TcpStream>;

/// One TLS connection to the gateway, kept alive across requests.
struct TlsConn {
    stream: ClientTls,
    /// The certificate the server presented on this connection.
    leaf: CertificateDer<'static>,
    host: String,
}

impl TlsConn {
    /// Connects with `server_name` as SNI (an IP address sends no SNI).
    async fn open(
        addr: SocketAddr,
        server_name: &str,
        cfg: Arc<ClientConfig>,
    ) -> anyhow::Result<Self> {
        let tcp = TcpStream::connect(addr).await?;
        let stream = tokio::time::timeout(STEP, tollgate_tls::connect(cfg, server_name, tcp))
            .await
            .context("handshake timed out")??;
        let leaf = stream
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|c| c.first())
            .context("no server certificate")?
            .clone();
        Ok(Self {
            stream,
            leaf,
            host: server_name.to_owned(),
        })
    }

    /// A keep-alive GET on this connection.
    async fn get(&mut self, path: &str) -> anyhow::Result<Reply> {
        let req = format!("GET {path} HTTP/1.1\r\nhost: {}\r\n\r\n", self.host);
        tokio::time::timeout(STEP, exchange(&mut self.stream, &req))
            .await
            .context("request timed out")?
    }
}

/// A fresh connection, one GET with `connection: close`; the certificate served and the
/// response.
async fn fetch(
    addr: SocketAddr,
    server_name: &str,
    cfg: Arc<ClientConfig>,
    path: &str,
) -> anyhow::Result<(CertificateDer<'static>, Reply)> {
    let mut c = TlsConn::open(addr, server_name, cfg).await?;
    let req = format!("GET {path} HTTP/1.1\r\nhost: {server_name}\r\nconnection: close\r\n\r\n");
    let reply = tokio::time::timeout(STEP, exchange(&mut c.stream, &req))
        .await
        .context("request timed out")??;
    Ok((c.leaf, reply))
}

/// Writes `req` and reads one response (framed by content-length, or to EOF).
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    req: &str,
) -> anyhow::Result<Reply> {
    s.write_all(req.as_bytes()).await?;
    s.flush().await?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len = head.lines().find_map(|l| {
                l.strip_prefix("content-length:")
                    .and_then(|v| v.trim().parse::<usize>().ok())
            });
            if len.is_some_and(|n| buf.len() >= end + 4 + n) {
                break;
            }
        }
        let n = match s.read(&mut chunk).await {
            Ok(n) => n,
            // A peer closing without close_notify after a complete response.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !buf.is_empty() => 0,
            Err(e) => return Err(e.into()),
        };
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    client::parse(&String::from_utf8_lossy(&buf))
        .with_context(|| format!("unparseable response: {:?}", String::from_utf8_lossy(&buf)))
}

// ---------------------------------------------------------------------------------------
// 1. SNI
// ---------------------------------------------------------------------------------------

#[test]
fn sni_selects_exact_then_wildcard_then_default_certificate() {
    let b = Backends::start(&["app"]);
    let ca = Ca::new("SNI Test CA").unwrap();
    let a = ca.server(&["a.example.com"]).unwrap();
    let wild = ca.server(&["*.example.com"]).unwrap();
    let cfg = https_config(
        "      certificates:\n        - { cert: a.pem, key: a-key.pem }\n        - { cert: wild.pem, key: wild-key.pem }",
        &b.ep(0),
    );
    let gw = start(
        &cfg,
        &[
            ("a.pem", &a.cert_pem),
            ("a-key.pem", &a.key_pem),
            ("wild.pem", &wild.cert_pem),
            ("wild-key.pem", &wild.key_pem),
            ("ca.pem", ca.cert_pem()),
        ],
    );
    let addr = gw.listener("websecure").unwrap();

    // Exact and wildcard names verify against the CA: the right certificate for the name.
    let verify = trusting(&ca);
    let (leaf, r) = block_on(fetch(addr, "a.example.com", verify.clone(), "/exact")).unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["path"], "/exact");
    assert!(leaf == a.der, "a.example.com must get certificate A");
    let (leaf, r) = block_on(fetch(addr, "x.example.com", verify, "/wild")).unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    assert!(leaf == wild.der, "x.example.com must get the wildcard");

    // A wildcard covers one label only, and no SNI at all gets the first certificate.
    let any = trusting_anything();
    let (leaf, r) = block_on(fetch(addr, "b.a.example.com", any.clone(), "/")).unwrap();
    assert_eq!(r.status, 200);
    assert!(
        leaf == a.der,
        "b.a.example.com must get the default (first) certificate"
    );
    let (leaf, r) = block_on(fetch(addr, "127.0.0.1", any, "/")).unwrap();
    assert_eq!(r.status, 200);
    assert!(
        leaf == a.der,
        "no SNI must get the default (first) certificate"
    );

    // The same through curl (OpenSSL): verification succeeds for both names…
    let ca_file = gw.dir.path().join("ca.pem");
    let c = curl_https("x.example.com", addr, "/curl", &ca_file, &["-v"]);
    assert_eq!((c.code, c.status), (0, 200), "{c:?}");
    assert_eq!(curl_subject(&c), "CN=*.example.com");
    let c = curl_https("a.example.com", addr, "/curl", &ca_file, &["-v"]);
    assert_eq!((c.code, c.status), (0, 200), "{c:?}");
    assert_eq!(curl_subject(&c), "CN=a.example.com");
    // …and by IP (curl sends no SNI for an address) it sees the default certificate.
    let url = format!("https://127.0.0.1:{}/ip", addr.port());
    let c = curl(&["-k", "-v", &url]);
    assert_eq!((c.code, c.status), (0, 200), "{c:?}");
    assert_eq!(curl_subject(&c), "CN=a.example.com");
    // b.a.example.com is not covered by the wildcard: curl refuses the default cert.
    let c = curl_https("b.a.example.com", addr, "/", &ca_file, &[]);
    assert_eq!(c.code, 60, "name mismatch expected: {c:?}");
    assert_eq!(b.list[0].requests(), 7);
}

// ---------------------------------------------------------------------------------------
// 2. ALPN
// ---------------------------------------------------------------------------------------

#[test]
fn alpn_negotiates_h2_or_http11() {
    let b = Backends::start(&["app"]);
    let ca = Ca::new("ALPN Test CA").unwrap();
    let a = ca.server(&["a.example.com"]).unwrap();
    let cfg = https_config(
        "      certificates: [{ cert: a.pem, key: a-key.pem }]",
        &b.ep(0),
    );
    let gw = start(
        &cfg,
        &[
            ("a.pem", &a.cert_pem),
            ("a-key.pem", &a.key_pem),
            ("ca.pem", ca.cert_pem()),
        ],
    );
    let addr = gw.listener("websecure").unwrap();
    let ca_file = gw.dir.path().join("ca.pem");

    let c = curl_https(
        "a.example.com",
        addr,
        "/over-h2?x=1",
        &ca_file,
        &["--http2", "-v"],
    );
    assert_eq!((c.code, c.status), (0, 200), "{c:?}");
    assert_eq!(c.http_version, "2", "{c:?}");
    assert!(
        c.stderr.contains("ALPN: server accepted h2"),
        "{}",
        c.stderr
    );
    let echo = c.json();
    assert_eq!(echo["path"], "/over-h2");
    assert_eq!(echo["query"], "x=1");
    assert_eq!(echo["method"], "GET");

    let c = curl_https(
        "a.example.com",
        addr,
        "/over-h1",
        &ca_file,
        &["--http1.1", "-v"],
    );
    assert_eq!((c.code, c.status), (0, 200), "{c:?}");
    assert_eq!(c.http_version, "1.1", "{c:?}");
    assert!(
        c.stderr.contains("ALPN: server accepted http/1.1"),
        "{}",
        c.stderr
    );
    assert_eq!(c.json()["path"], "/over-h1");
    assert_eq!(b.list[0].requests(), 2);
}

// ---------------------------------------------------------------------------------------
// 3. Versions
// ---------------------------------------------------------------------------------------

#[test]
fn min_version_13_refuses_tls12_clients() {
    let b = Backends::start(&["app"]);
    let ca = Ca::new("Version Test CA").unwrap();
    let a = ca.server(&["a.example.com"]).unwrap();
    let cfg = https_config(
        "      certificates: [{ cert: a.pem, key: a-key.pem }]\n      min_version: \"1.3\"",
        &b.ep(0),
    );
    let gw = start(
        &cfg,
        &[
            ("a.pem", &a.cert_pem),
            ("a-key.pem", &a.key_pem),
            ("ca.pem", ca.cert_pem()),
        ],
    );
    let addr = gw.listener("websecure").unwrap();
    let ca_file = gw.dir.path().join("ca.pem");
    let failures = metric(&gw, "tollgate_tls_handshake_failures_total");

    let c = curl_https(
        "a.example.com",
        addr,
        "/",
        &ca_file,
        &["--tlsv1.2", "--tls-max", "1.2", "-v"],
    );
    assert_eq!(c.code, 35, "TLS 1.2 must be refused: {c:?}");
    assert_eq!(c.status, 0);
    // The server's refusal (an alert), not a client-side limitation.
    assert!(c.stderr.contains("protocol version"), "{}", c.stderr);

    let c = curl_https("a.example.com", addr, "/", &ca_file, &["--tlsv1.3", "-v"]);
    assert_eq!((c.code, c.status), (0, 200), "{c:?}");
    assert_eq!(curl_tls_version(&c), "TLSv1.3");
    assert_eq!(b.list[0].requests(), 1);
    assert!(
        eventually(Duration::from_secs(2), || metric(
            &gw,
            "tollgate_tls_handshake_failures_total"
        ) > failures),
        "the refused handshake is counted"
    );
}

#[test]
fn min_version_12_accepts_tls12_and_refuses_tls11() {
    let b = Backends::start(&["app"]);
    let ca = Ca::new("Version Test CA").unwrap();
    let a = ca.server(&["a.example.com"]).unwrap();
    let cfg = https_config(
        "      certificates: [{ cert: a.pem, key: a-key.pem }]\n      min_version: \"1.2\"",
        &b.ep(0),
    );
    let gw = start(
        &cfg,
        &[
            ("a.pem", &a.cert_pem),
            ("a-key.pem", &a.key_pem),
            ("ca.pem", ca.cert_pem()),
        ],
    );
    let addr = gw.listener("websecure").unwrap();
    let ca_file = gw.dir.path().join("ca.pem");

    let c = curl_https(
        "a.example.com",
        addr,
        "/",
        &ca_file,
        &["--tlsv1.2", "--tls-max", "1.2", "-v"],
    );
    assert_eq!((c.code, c.status), (0, 200), "{c:?}");
    assert_eq!(curl_tls_version(&c), "TLSv1.2");

    // OpenSSL's default security level forbids TLS 1.1 on the client side; level 0 lets
    // curl really offer it, so the refusal seen is the gateway's.
    let c = curl_https(
        "a.example.com",
        addr,
        "/",
        &ca_file,
        &[
            "--tlsv1.1",
            "--tls-max",
            "1.1",
            "--ciphers",
            "DEFAULT:@SECLEVEL=0",
            "-v",
        ],
    );
    assert_eq!(c.code, 35, "TLS 1.1 must be refused: {c:?}");
    assert_eq!(c.status, 0);
    // curl did offer TLS 1.1 and the gateway answered with a fatal alert (rustls sends
    // `handshake_failure` to a hello without TLS 1.2 or 1.3).
    assert!(
        c.stderr
            .contains("TLSv1.1 (OUT), TLS handshake, Client hello"),
        "{}",
        c.stderr
    );
    assert!(c.stderr.contains("(IN), TLS alert"), "{}", c.stderr);
    assert_eq!(b.list[0].requests(), 1);
}

// ---------------------------------------------------------------------------------------
// 4. Renewal under load
// ---------------------------------------------------------------------------------------

/// One request of the load loop: when it started and which certificate it was served.
struct Sample {
    at: Instant,
    outcome: Result<CertificateDer<'static>, String>,
}

#[test]
fn certificate_renewal_under_load_drops_nothing_and_bad_renewal_is_refused() {
    let b = Backends::start(&["app"]);
    let ca = Ca::new("Renewal Test CA").unwrap();
    let old = ca.server(&["a.example.com"]).unwrap();
    let new = ca
        .server(&["a.example.com", "renewed.example.com"])
        .unwrap();
    assert_ne!(old.serial, new.serial);
    let cfg = https_config(
        "      certificates: [{ cert: a.pem, key: a-key.pem }]",
        &b.ep(0),
    );
    let gw = start(
        &cfg,
        &[("a.pem", &old.cert_pem), ("a-key.pem", &old.key_pem)],
    );
    let addr = gw.listener("websecure").unwrap();
    let client = trusting(&ca);
    let rt = multi_thread_rt();

    // A keep-alive connection opened before the renewal.
    let mut kept = rt
        .block_on(TlsConn::open(addr, "a.example.com", client.clone()))
        .unwrap();
    assert_eq!(rt.block_on(kept.get("/kept/1")).unwrap().status, 200);
    assert!(kept.leaf == old.der);

    // New connections continuously for 3 s (at most ~600 requests).
    let load = {
        let client = client.clone();
        rt.spawn(async move {
            let started = Instant::now();
            let mut samples = Vec::new();
            while started.elapsed() < Duration::from_secs(3) && samples.len() < 600 {
                let at = Instant::now();
                let outcome = match fetch(addr, "a.example.com", client.clone(), "/load").await {
                    Ok((leaf, r)) if r.status == 200 => Ok(leaf),
                    Ok((_, r)) => Err(format!("status {}: {}", r.status, r.body)),
                    Err(e) => Err(format!("{e:#}")),
                };
                samples.push(Sample { at, outcome });
                tokio::time::sleep(Duration::from_millis(3)).await;
            }
            samples
        })
    };
    std::thread::sleep(Duration::from_millis(1000));
    let reloads = gw.count_log("configuration reloaded");
    // A certificate manager's renewal: new key and certificate, each renamed into place.
    new.write(gw.dir.path(), "a.pem", "a-key.pem").unwrap();
    let renewed_at = Instant::now();
    let samples = rt.block_on(load).unwrap();

    let failed: Vec<_> = samples
        .iter()
        .filter_map(|s| s.outcome.as_ref().err())
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} requests failed: {failed:?}",
        failed.len(),
        samples.len()
    );
    let served = |s: &Sample| s.outcome.as_ref().ok().cloned();
    let before = samples.iter().filter(|s| s.at < renewed_at).count();
    assert!(before > 10, "the load ran before the renewal ({before})");
    assert!(
        samples
            .iter()
            .filter(|s| s.at < renewed_at)
            .all(|s| served(s).as_ref() == Some(&old.der)),
        "before the renewal, the old certificate"
    );
    let first_new = samples
        .iter()
        .position(|s| served(s).as_ref() == Some(&new.der))
        .expect("no connection ever got the renewed certificate");
    let switch = samples[first_new].at.saturating_duration_since(renewed_at);
    eprintln!(
        "{} requests ({before} before the renewal); new certificate after {switch:?}",
        samples.len()
    );
    assert!(
        switch < Duration::from_secs(1),
        "new connections got the new certificate only after {switch:?}"
    );
    assert!(
        samples[first_new..]
            .iter()
            .all(|s| served(s).as_ref() == Some(&new.der)),
        "once switched, every new connection gets the new certificate"
    );
    assert!(
        samples.len() - first_new > 10,
        "load continued after the switch"
    );
    assert!(
        gw.count_log("configuration reloaded") > reloads,
        "{}",
        gw.log()
    );
    assert_eq!(
        gw.count_log("configuration rejected"),
        0,
        "key and certificate renamed in turn must not be seen half-done:\n{}",
        gw.log()
    );

    // The connection opened before the renewal is untouched and keeps working.
    let r = rt.block_on(kept.get("/kept/2")).unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["path"], "/kept/2");

    // A key that does not match the certificate: refused, the last good one serves on.
    let stranger = ca.server(&["a.example.com"]).unwrap();
    write_atomic(
        &gw.dir.path().join("a-key.pem"),
        stranger.key_pem.as_bytes(),
    )
    .unwrap();
    gw.wait_for_log("configuration rejected", Duration::from_secs(5))
        .unwrap();
    assert!(
        admin(&gw, "/metrics")
            .body
            .contains("tollgate_config_reloads_total{result=\"failed\"} 1"),
        "{}",
        admin(&gw, "/metrics").body
    );
    for i in 0..5 {
        let (leaf, r) = rt
            .block_on(fetch(addr, "a.example.com", client.clone(), "/after-bad"))
            .unwrap_or_else(|e| panic!("request {i} after the bad renewal: {e:#}"));
        assert_eq!(r.status, 200);
        assert!(leaf == new.der, "the last good certificate keeps serving");
    }
    let r = rt.block_on(kept.get("/kept/3")).unwrap();
    assert_eq!(r.status, 200);
}

// ---------------------------------------------------------------------------------------
// 5. Client certificates
// ---------------------------------------------------------------------------------------

/// Files for a listener with client auth: server cert, client CA, alice's cert, and a
/// cert from a CA the listener does not trust.
struct MtlsFiles {
    server_ca: Ca,
    server: Minted,
    clients_ca: Ca,
    alice: Minted,
    mallory: Minted,
}

impl MtlsFiles {
    fn new() -> Self {
        let server_ca = Ca::new("Server CA").unwrap();
        let clients_ca = Ca::new("Clients CA").unwrap();
        let other_ca = Ca::new("Other CA").unwrap();
        Self {
            server: server_ca.server(&["a.example.com"]).unwrap(),
            alice: clients_ca.client("alice").unwrap(),
            mallory: other_ca.client("mallory").unwrap(),
            server_ca,
            clients_ca,
        }
    }

    fn gateway(&self, required: bool, backend: &str) -> Gateway {
        let tls = format!(
            "      certificates: [{{ cert: a.pem, key: a-key.pem }}]\n      client_auth: {{ ca: clients-ca.pem, required: {required}, forward_subject_header: x-client-subject }}"
        );
        start(
            &https_config(&tls, backend),
            &[
                ("a.pem", &self.server.cert_pem),
                ("a-key.pem", &self.server.key_pem),
                ("clients-ca.pem", self.clients_ca.cert_pem()),
                ("ca.pem", self.server_ca.cert_pem()),
                ("alice.pem", &self.alice.cert_pem),
                ("alice-key.pem", &self.alice.key_pem),
                ("mallory.pem", &self.mallory.cert_pem),
                ("mallory-key.pem", &self.mallory.key_pem),
            ],
        )
    }
}

fn path_str(gw: &Gateway, name: &str) -> String {
    gw.dir.path().join(name).to_str().unwrap().to_owned()
}

#[test]
fn required_client_certificates_gate_the_listener_and_set_the_subject_header() {
    let b = Backends::start(&["app"]);
    let files = MtlsFiles::new();
    let gw = files.gateway(true, &b.ep(0));
    let addr = gw.listener("websecure").unwrap();
    let ca_file = gw.dir.path().join("ca.pem");
    let (alice, alice_key) = (path_str(&gw, "alice.pem"), path_str(&gw, "alice-key.pem"));
    let (mallory, mallory_key) = (
        path_str(&gw, "mallory.pem"),
        path_str(&gw, "mallory-key.pem"),
    );
    let failures = metric(&gw, "tollgate_tls_handshake_failures_total");

    // No certificate: no HTTP exchange at all, and the failed handshake is counted.
    let c = curl_https("a.example.com", addr, "/", &ca_file, &[]);
    assert_ne!(c.code, 0, "{c:?}");
    assert_eq!(c.status, 0, "{c:?}");
    // rustls says why: TLS 1.3 reports the refusal after the client's side of the
    // handshake, as an alert on the first read.
    let err = block_on(fetch(
        addr,
        "a.example.com",
        trusting(&files.server_ca),
        "/",
    ))
    .expect_err("a client without a certificate must be refused");
    assert!(
        format!("{err:#}").contains("CertificateRequired"),
        "{err:#}"
    );
    assert!(
        eventually(Duration::from_secs(2), || metric(
            &gw,
            "tollgate_tls_handshake_failures_total"
        ) == failures + 2),
        "tollgate_tls_handshake_failures_total must count it: {}",
        metric(&gw, "tollgate_tls_handshake_failures_total")
    );

    // A certificate from a CA the listener does not trust: refused as well.
    let c = curl_https(
        "a.example.com",
        addr,
        "/",
        &ca_file,
        &["--cert", &mallory, "--key", &mallory_key],
    );
    assert_ne!(c.code, 0, "{c:?}");
    assert_eq!(c.status, 0, "{c:?}");
    assert!(
        eventually(Duration::from_secs(2), || metric(
            &gw,
            "tollgate_tls_handshake_failures_total"
        ) == failures + 3),
        "{}",
        metric(&gw, "tollgate_tls_handshake_failures_total")
    );
    assert_eq!(b.list[0].requests(), 0);

    // Alice's certificate: in, and the backend learns who she is, over h1 and h2.
    for version in ["--http1.1", "--http2"] {
        let c = curl_https(
            "a.example.com",
            addr,
            "/whoami",
            &ca_file,
            &[version, "--cert", &alice, "--key", &alice_key],
        );
        assert_eq!((c.code, c.status), (0, 200), "{c:?}");
        let echo = c.json();
        assert_eq!(
            echo["headers"]["x-client-subject"],
            serde_json::json!(["CN=alice,O=Tollgate Tests"]),
            "{version}: {echo}"
        );
    }

    // A client claiming an identity in the header gets its claim replaced.
    let c = curl_https(
        "a.example.com",
        addr,
        "/whoami",
        &ca_file,
        &[
            "--cert",
            &alice,
            "--key",
            &alice_key,
            "-H",
            "x-client-subject: CN=admin",
        ],
    );
    assert_eq!((c.code, c.status), (0, 200), "{c:?}");
    assert_eq!(
        c.json()["headers"]["x-client-subject"],
        serde_json::json!(["CN=alice,O=Tollgate Tests"]),
        "{}",
        c.body
    );
    assert_eq!(b.list[0].requests(), 3);
}

#[test]
fn optional_client_certificates_let_anonymous_clients_in_without_a_subject() {
    let b = Backends::start(&["app"]);
    let files = MtlsFiles::new();
    let gw = files.gateway(false, &b.ep(0));
    let addr = gw.listener("websecure").unwrap();
    let ca_file = gw.dir.path().join("ca.pem");
    let (alice, alice_key) = (path_str(&gw, "alice.pem"), path_str(&gw, "alice-key.pem"));
    let (mallory, mallory_key) = (
        path_str(&gw, "mallory.pem"),
        path_str(&gw, "mallory-key.pem"),
    );

    // Anonymous: served, and a forged subject header is removed, not forwarded.
    let c = curl_https(
        "a.example.com",
        addr,
        "/anon",
        &ca_file,
        &["-H", "x-client-subject: CN=admin"],
    );
    assert_eq!((c.code, c.status), (0, 200), "{c:?}");
    let echo = c.json();
    assert!(
        echo["headers"].get("x-client-subject").is_none(),
        "a forged subject must not reach the backend: {echo}"
    );

    // With a certificate: verified and forwarded.
    let c = curl_https(
        "a.example.com",
        addr,
        "/alice",
        &ca_file,
        &["--cert", &alice, "--key", &alice_key],
    );
    assert_eq!((c.code, c.status), (0, 200), "{c:?}");
    assert_eq!(
        c.json()["headers"]["x-client-subject"],
        serde_json::json!(["CN=alice,O=Tollgate Tests"])
    );

    // Optional does not mean unverified: an untrusted certificate is still refused.
    let c = curl_https(
        "a.example.com",
        addr,
        "/mallory",
        &ca_file,
        &["--cert", &mallory, "--key", &mallory_key],
    );
    assert_ne!(c.code, 0, "{c:?}");
    assert_eq!(c.status, 0, "{c:?}");
    assert_eq!(b.list[0].requests(), 2);
}

// ---------------------------------------------------------------------------------------
// 6. TLS to backends
// ---------------------------------------------------------------------------------------

#[test]
fn upstream_tls_verifies_with_its_ca_uses_sni_presents_client_cert_and_speaks_h2() {
    let backend_ca = Ca::new("Backend CA").unwrap();
    let other_ca = Ca::new("Unrelated CA").unwrap();
    let gateway_ca = Ca::new("Gateway Client CA").unwrap();
    // The backend's certificate names only its internal DNS name, not 127.0.0.1.
    let backend_cert = backend_ca.server(&["payments.internal"]).unwrap();
    let gw_cert = gateway_ca.client("tollgate-gateway").unwrap();

    let rt = multi_thread_rt();
    let plain_tls = rt
        .block_on(Backend::start_tls(
            "payments",
            backend_cert.server_config(None, false).unwrap(),
        ))
        .unwrap();
    let mtls = rt
        .block_on(Backend::start_tls(
            "payments-mtls",
            backend_cert.server_config(Some(&gateway_ca), true).unwrap(),
        ))
        .unwrap();
    let (p1, p2) = (plain_tls.endpoint(), mtls.endpoint());

    let cfg = format!(
        r#"
listeners: [{{ name: web, address: "127.0.0.1:0" }}]
services:
  - name: verified
    endpoints: ["{p1}"]
    protocol: https
    tls: {{ ca: backend-ca.pem, sni: payments.internal }}
  - name: wrong-ca
    endpoints: ["{p1}"]
    protocol: https
    tls: {{ ca: other-ca.pem, sni: payments.internal }}
  - name: no-sni
    endpoints: ["{p1}"]
    protocol: https
    tls: {{ ca: backend-ca.pem }}
  - name: h2
    endpoints: ["{p1}"]
    protocol: h2
    tls: {{ ca: backend-ca.pem, sni: payments.internal }}
  - name: mtls
    endpoints: ["{p2}"]
    protocol: https
    tls: {{ ca: backend-ca.pem, sni: payments.internal, cert: gw.pem, key: gw-key.pem }}
  - name: mtls-no-cert
    endpoints: ["{p2}"]
    protocol: https
    tls: {{ ca: backend-ca.pem, sni: payments.internal }}
routes:
  - {{ name: verified, match: {{ path: {{ prefix: /verified }} }}, backends: [{{ service: verified }}] }}
  - {{ name: wrong-ca, match: {{ path: {{ prefix: /wrong-ca }} }}, backends: [{{ service: wrong-ca }}] }}
  - {{ name: no-sni, match: {{ path: {{ prefix: /no-sni }} }}, backends: [{{ service: no-sni }}] }}
  - {{ name: h2, match: {{ path: {{ prefix: /h2 }} }}, backends: [{{ service: h2 }}] }}
  - {{ name: mtls, match: {{ path: {{ prefix: /mtls }} }}, backends: [{{ service: mtls }}] }}
  - {{ name: mtls-no-cert, match: {{ path: {{ prefix: /nocert }} }}, backends: [{{ service: mtls-no-cert }}] }}
"#
    );
    let gw = start(
        &cfg,
        &[
            ("backend-ca.pem", backend_ca.cert_pem()),
            ("other-ca.pem", other_ca.cert_pem()),
            ("gw.pem", &gw_cert.cert_pem),
            ("gw-key.pem", &gw_cert.key_pem),
        ],
    );
    let web = gw.listener("web").unwrap();

    // The backend's own CA and the SNI override: verified, and the override is what the
    // backend saw.
    let r = get(web, "/verified/x", &[]);
    assert_eq!(r.status, 200, "{r:?}");
    let echo = r.json();
    assert_eq!(echo["backend"], "payments");
    assert_eq!(echo["version"], "HTTP/1.1");
    assert_eq!(echo["tls"]["sni"], "payments.internal", "{echo}");
    assert_eq!(echo["tls"]["alpn"], "http/1.1", "{echo}");
    assert_eq!(echo["tls"]["peer_subject"], serde_json::Value::Null);

    // A CA that did not sign the backend's certificate: 502.
    let before = plain_tls.requests();
    let r = get(web, "/wrong-ca", &[]);
    assert_eq!(r.status, 502, "{r:?}");
    // Without the override the gateway verifies against 127.0.0.1, which the
    // certificate does not name: 502 too.
    let r = get(web, "/no-sni", &[]);
    assert_eq!(r.status, 502, "{r:?}");
    assert_eq!(
        plain_tls.requests(),
        before,
        "no request may reach it unverified"
    );

    // protocol h2: ALPN h2 over TLS, and the backend sees HTTP/2.
    let r = get(web, "/h2", &[]);
    assert_eq!(r.status, 200, "{r:?}");
    let echo = r.json();
    assert_eq!(echo["version"], "HTTP/2.0", "{echo}");
    assert_eq!(echo["tls"]["alpn"], "h2", "{echo}");
    assert_eq!(echo["tls"]["sni"], "payments.internal", "{echo}");

    // mTLS to the backend: the gateway's certificate is presented and verified.
    let r = get(web, "/mtls", &[]);
    assert_eq!(r.status, 200, "{r:?}");
    let echo = r.json();
    assert_eq!(echo["backend"], "payments-mtls");
    assert_eq!(
        echo["tls"]["peer_subject"], "CN=tollgate-gateway,O=Tollgate Tests",
        "{echo}"
    );
    // A service without the certificate cannot get through that backend's handshake.
    let before = mtls.requests();
    let r = get(web, "/nocert", &[]);
    assert_eq!(r.status, 502, "{r:?}");
    assert_eq!(mtls.requests(), before);
}

// ---------------------------------------------------------------------------------------
// 7. Redirect to https
// ---------------------------------------------------------------------------------------

#[test]
fn http_listener_redirects_to_the_https_listener_port() {
    let b = Backends::start(&["app"]);
    let ca = Ca::new("Redirect Test CA").unwrap();
    let a = ca.server(&["shop.example.com"]).unwrap();
    let cfg = format!(
        r#"
listeners:
  - name: web
    address: "127.0.0.1:0"
    redirect_to_https: websecure
  - name: websecure
    address: "127.0.0.1:0"
    protocol: https
    tls:
      certificates: [{{ cert: a.pem, key: a-key.pem }}]
services:
  - name: app
    endpoints: ["{}"]
routes:
  - {{ name: all, backends: [{{ service: app }}] }}
"#,
        b.ep(0)
    );
    let gw = start(
        &cfg,
        &[
            ("a.pem", &a.cert_pem),
            ("a-key.pem", &a.key_pem),
            ("ca.pem", ca.cert_pem()),
        ],
    );
    let web = gw.listener("web").unwrap();
    let secure = gw.listener("websecure").unwrap();
    let expected = format!(
        "https://shop.example.com:{}/cart/items?id=7&x=y",
        secure.port()
    );

    let r = get(web, "/cart/items?id=7&x=y", &[("host", "shop.example.com")]);
    assert_eq!(r.status, 301, "{r:?}");
    assert_eq!(r.header("location"), Some(expected.as_str()), "{r:?}");
    // The client's port is replaced by the https listener's.
    let r = get(
        web,
        "/cart/items?id=7&x=y",
        &[("host", "shop.example.com:8080")],
    );
    assert_eq!(r.status, 301, "{r:?}");
    assert_eq!(r.header("location"), Some(expected.as_str()), "{r:?}");
    let r = client::request(
        web,
        "HEAD",
        "/cart/items?id=7&x=y",
        &[("host", "shop.example.com")],
        "",
    )
    .unwrap();
    assert_eq!(r.status, 301, "{r:?}");
    // Other methods get 308, which keeps the method and body.
    let r = client::request(
        web,
        "POST",
        "/cart/items?id=7&x=y",
        &[("host", "shop.example.com")],
        "{\"n\":1}",
    )
    .unwrap();
    assert_eq!(r.status, 308, "{r:?}");
    assert_eq!(r.header("location"), Some(expected.as_str()), "{r:?}");
    assert_eq!(
        b.list[0].requests(),
        0,
        "the redirect listener routes nothing"
    );

    // A real client follows it to the https listener and reaches the backend.
    let ca_file = gw.dir.path().join("ca.pem");
    let (res_web, _) = resolve("shop.example.com", web, "");
    let (res_secure, _) = resolve("shop.example.com", secure, "");
    let url = format!("http://shop.example.com:{}/cart?id=7", web.port());
    let c = curl(&[
        "-L",
        "--resolve",
        &res_web,
        "--resolve",
        &res_secure,
        "--cacert",
        ca_file.to_str().unwrap(),
        &url,
    ]);
    assert_eq!((c.code, c.status), (0, 200), "{c:?}");
    let echo = c.json();
    assert_eq!(echo["path"], "/cart");
    assert_eq!(echo["query"], "id=7");
    assert_eq!(b.list[0].requests(), 1);
}

// ---------------------------------------------------------------------------------------
// 8. validate and expired certificates
// ---------------------------------------------------------------------------------------

#[test]
fn validate_rejects_a_key_that_does_not_match_its_certificate() {
    let ca = Ca::new("Validate Test CA").unwrap();
    let a = ca.server(&["a.example.com"]).unwrap();
    let other = ca.server(&["a.example.com"]).unwrap();
    let dir = TempDir::new("validate-tls").unwrap();
    let cfg = "listeners:\n  - name: websecure\n    address: \"127.0.0.1:0\"\n    protocol: https\n    tls:\n      certificates:\n        - { cert: a.pem, key: a-key.pem }\nservices:\n  - name: app\n    endpoints: [\"127.0.0.1:9\"]\nroutes:\n  - { name: all, backends: [{ service: app }] }\n";
    let cert_line = cfg.lines().position(|l| l.contains("a.pem")).unwrap() + 1;
    let config = dir.path().join("tollgate.yaml");
    std::fs::write(&config, cfg).unwrap();
    std::fs::write(dir.path().join("a.pem"), &a.cert_pem).unwrap();
    std::fs::write(dir.path().join("a-key.pem"), &other.key_pem).unwrap();

    let out = Command::new(BIN)
        .args(["validate", "-c"])
        .arg(&config)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    let prefix = format!("{}:{cert_line}:", config.display());
    assert!(
        stderr.starts_with(&prefix),
        "stderr must start with {prefix:?}: {stderr}"
    );
    assert!(stderr.contains("a.pem"), "names the certificate: {stderr}");
    assert!(
        stderr.contains("does not match"),
        "says what is wrong: {stderr}"
    );

    // The same files with the right key validate.
    std::fs::write(dir.path().join("a-key.pem"), &a.key_pem).unwrap();
    let out = Command::new(BIN)
        .args(["validate", "-c"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn an_expired_certificate_only_warns_and_keeps_serving() {
    let b = Backends::start(&["app"]);
    let ca = Ca::new("Expired Test CA").unwrap();
    let expired = ca.expired_server(&["old.example.com"]).unwrap();
    let cfg = https_config(
        "      certificates: [{ cert: old.pem, key: old-key.pem }]",
        &b.ep(0),
    );
    let gw = start(
        &cfg,
        &[
            ("old.pem", &expired.cert_pem),
            ("old-key.pem", &expired.key_pem),
            ("ca.pem", ca.cert_pem()),
        ],
    );
    let line = gw.wait_for_log("expired", Duration::from_secs(5)).unwrap();
    assert!(
        line.contains("old.pem"),
        "the warning names the file: {line}"
    );
    let addr = gw.listener("websecure").unwrap();
    // Served (clients decide what to make of it): verifying clients refuse it…
    let ca_file = gw.dir.path().join("ca.pem");
    let c = curl_https("old.example.com", addr, "/", &ca_file, &[]);
    assert_eq!(c.code, 60, "{c:?}");
    assert!(c.stderr.contains("expired"), "{}", c.stderr);
    // …and one that does not check gets through.
    let c = curl_https("old.example.com", addr, "/", &ca_file, &["-k"]);
    assert_eq!((c.code, c.status), (0, 200), "{c:?}");
}

// ---------------------------------------------------------------------------------------
// 9. Expect
// ---------------------------------------------------------------------------------------

#[test]
fn expect_100_continue_is_answered_by_the_gateway_and_others_get_417() {
    let b = Backends::start(&["app"]);
    let ca = Ca::new("Expect Test CA").unwrap();
    let a = ca.server(&["a.example.com"]).unwrap();
    let cfg = https_config(
        "      certificates: [{ cert: a.pem, key: a-key.pem }]",
        &b.ep(0),
    );
    let gw = start(
        &cfg,
        &[
            ("a.pem", &a.cert_pem),
            ("a-key.pem", &a.key_pem),
            ("ca.pem", ca.cert_pem()),
        ],
    );
    let addr = gw.listener("websecure").unwrap();
    let ca_file = gw.dir.path().join("ca.pem");
    let body = gw.dir.path().join("body.bin");
    std::fs::write(&body, vec![b'z'; 1024 * 1024]).unwrap();
    let data = format!("@{}", body.display());

    // curl waits up to --expect100-timeout for the 100 before sending the body: a long
    // one makes a gateway that never answers show up as a slow request.
    let c = curl_https(
        "a.example.com",
        addr,
        "/upload",
        &ca_file,
        &[
            "--http1.1",
            "-v",
            "-H",
            "Expect: 100-continue",
            "--expect100-timeout",
            "15",
            "--data-binary",
            &data,
        ],
    );
    assert_eq!((c.code, c.status), (0, 200), "{c:?}");
    assert!(
        c.stderr.contains("HTTP/1.1 100 Continue"),
        "the gateway answers the expectation: {}",
        c.stderr
    );
    assert!(
        c.elapsed < Duration::from_secs(5),
        "curl waited for a 100 that did not come: {:?}",
        c.elapsed
    );
    let echo = c.json();
    assert_eq!(echo["body_len"], 1024 * 1024);
    assert_eq!(echo["method"], "POST");
    assert!(
        echo["headers"].get("expect").is_none(),
        "the expectation must not travel upstream: {}",
        echo["headers"]
    );

    // Any other expectation: 417 in the gateway's JSON error shape, nothing forwarded.
    let c = curl_https(
        "a.example.com",
        addr,
        "/upload",
        &ca_file,
        &[
            "--http1.1",
            "-H",
            "Expect: something-else",
            "--data-binary",
            "small",
        ],
    );
    assert_eq!((c.code, c.status), (0, 417), "{c:?}");
    let err = c.json();
    assert!(err["message"].is_string(), "{err}");
    assert!(err["request_id"].is_string(), "{err}");
    assert_eq!(b.list[0].requests(), 1);
}

// ---------------------------------------------------------------------------------------
// Known limitations, reproduced. Run with `--run-ignored all`.
// ---------------------------------------------------------------------------------------

/// hyper's HTTP/2 server never sends `100 Continue` (hyperium/hyper#2743), and the
/// gateway strips the expectation, so an HTTP/2 client waits its whole expect timeout
/// (curl: 1 s by default) before sending every body.
#[test]
#[ignore = "known limitation: hyper's HTTP/2 server cannot send 100 Continue (hyper#2743); documented in the README"]
fn expect_100_continue_over_http2_is_answered_promptly() {
    let b = Backends::start(&["app"]);
    let ca = Ca::new("Expect h2 Test CA").unwrap();
    let a = ca.server(&["a.example.com"]).unwrap();
    let cfg = https_config(
        "      certificates: [{ cert: a.pem, key: a-key.pem }]",
        &b.ep(0),
    );
    let gw = start(
        &cfg,
        &[
            ("a.pem", &a.cert_pem),
            ("a-key.pem", &a.key_pem),
            ("ca.pem", ca.cert_pem()),
        ],
    );
    let addr = gw.listener("websecure").unwrap();
    let ca_file = gw.dir.path().join("ca.pem");
    let body = gw.dir.path().join("body.bin");
    std::fs::write(&body, vec![b'z'; 64 * 1024]).unwrap();
    let data = format!("@{}", body.display());
    let c = curl_https(
        "a.example.com",
        addr,
        "/upload",
        &ca_file,
        &[
            "--http2",
            "-v",
            "-H",
            "Expect: 100-continue",
            "--expect100-timeout",
            "5",
            "--data-binary",
            &data,
        ],
    );
    assert_eq!((c.code, c.status), (0, 200), "{c:?}");
    assert_eq!(c.json()["body_len"], 64 * 1024);
    assert!(
        !c.stderr.contains("Done waiting for 100-continue"),
        "curl gave up waiting for 100 Continue after {:?}",
        c.elapsed
    );
    assert!(c.elapsed < Duration::from_secs(4), "{:?}", c.elapsed);
}

/// `redirect_to_https` builds the location from the routing host, which has lost the
/// brackets of an IPv6 literal (`https://::1:8443/`), and from an empty host when an
/// HTTP/1.0 request has no Host (`https://:8443/`). Neither is a URL: the first is
/// re-bracketed, the second answered 400.
#[test]
fn https_redirect_location_is_a_valid_url_for_ipv6_and_hostless_requests() {
    let ca = Ca::new("Redirect Test CA").unwrap();
    let a = ca.server(&["shop.example.com"]).unwrap();
    let cfg = r#"
listeners:
  - { name: web, address: "127.0.0.1:0", redirect_to_https: websecure }
  - name: websecure
    address: "127.0.0.1:0"
    protocol: https
    tls: { certificates: [{ cert: a.pem, key: a-key.pem }] }
services: [{ name: app, endpoints: ["127.0.0.1:9"] }]
routes: [{ name: all, backends: [{ service: app }] }]
"#;
    let gw = start(cfg, &[("a.pem", &a.cert_pem), ("a-key.pem", &a.key_pem)]);
    let web = gw.listener("web").unwrap();
    let port = gw.listener("websecure").unwrap().port();

    let r = get(web, "/x", &[("host", "[::1]:8080")]);
    assert_eq!(r.status, 301, "{r:?}");
    assert_eq!(
        r.header("location"),
        Some(format!("https://[::1]:{port}/x").as_str())
    );

    let raw = client::raw(web, b"GET /x HTTP/1.0\r\n\r\n", Duration::from_secs(5)).unwrap();
    let r = client::parse(&raw).unwrap();
    let location = r.header("location").unwrap_or("");
    assert!(
        !location.starts_with("https://:"),
        "a redirect needs a host (or a 400 without one): {r:?}"
    );
    assert_eq!(r.status, 400, "{r:?}");
}
