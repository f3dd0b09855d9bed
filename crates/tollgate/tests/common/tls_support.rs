//! Shared setup of the TLS end-to-end tests (`tls*.rs`): the gateway on a config plus
//! certificate files, curl runs that report the negotiated protocol and certificate, and
//! a tokio-rustls client for tests that need the exact certificate a connection got.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::common::*;
use anyhow::Context as _;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tollgate_test_support::pki::Ca;
use tollgate_tls::UpstreamTlsSettings;
use tollgate_tls::rustls::ClientConfig;
use tollgate_tls::rustls::pki_types::CertificateDer;
/// Bound on any one network step of the rustls client.
pub const STEP: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------
// Setup
// ---------------------------------------------------------------------------------------

/// Starts the gateway with `tollgate.yaml` = `cfg` plus certificate files.
pub fn start(cfg: &str, files: &[(&str, &str)]) -> Gateway {
    let mut all = vec![("tollgate.yaml", cfg)];
    all.extend_from_slice(files);
    Gateway::start_with(BIN, &all, &[])
        .unwrap_or_else(|e| panic!("gateway did not start: {e:#}\nconfig:\n{cfg}"))
}

/// An https listener `websecure` with the given `tls:` body (indented YAML lines), one
/// route to one plain backend.
pub fn https_config(tls: &str, backend: &str) -> String {
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

pub fn multi_thread_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

pub fn block_on<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// Reads a counter without labels from `/metrics` (0 when absent).
pub fn metric(gw: &Gateway, name: &str) -> u64 {
    let body = admin(gw, "/metrics").body;
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------------------
// curl
// ---------------------------------------------------------------------------------------

#[derive(Debug)]
pub struct Curl {
    /// curl's exit code.
    pub code: i32,
    /// The response body.
    pub body: String,
    /// `%{http_code}`; 0 when no response.
    pub status: u16,
    /// `%{http_version}`: `1.1`, `2`, …
    pub http_version: String,
    /// Diagnostics (`-v` output when asked).
    pub stderr: String,
    pub elapsed: Duration,
}

impl Curl {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
    }
}

/// Runs curl with `args`; the response's status and HTTP version come from `-w`.
pub fn curl(args: &[&str]) -> Curl {
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
pub fn resolve(host: &str, addr: SocketAddr, path: &str) -> (String, String) {
    (
        format!("{host}:{}:127.0.0.1", addr.port()),
        format!("https://{host}:{}{path}", addr.port()),
    )
}

/// curl to `https://host:port{path}` through `--resolve`, trusting `ca_file`, plus `extra`.
pub fn curl_https(
    host: &str,
    addr: SocketAddr,
    path: &str,
    ca_file: &Path,
    extra: &[&str],
) -> Curl {
    let (res, url) = resolve(host, addr, path);
    let ca = ca_file.to_str().unwrap();
    let mut args = vec!["--resolve", &res, "--cacert", ca];
    args.extend_from_slice(extra);
    args.push(&url);
    curl(&args)
}

/// The `subject:` curl -v printed for the server certificate.
pub fn curl_subject(c: &Curl) -> String {
    c.stderr
        .lines()
        .find_map(|l| l.trim_start_matches('*').trim().strip_prefix("subject:"))
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|| panic!("no subject in curl -v output: {c:?}"))
}

/// The TLS version from curl -v's `SSL connection using TLSv1.3 / …`.
pub fn curl_tls_version(c: &Curl) -> String {
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
pub fn trusting(ca: &Ca) -> Arc<ClientConfig> {
    tollgate_tls::client_config(&UpstreamTlsSettings {
        ca_pem: Some(ca.cert_pem().as_bytes().to_vec()),
        ..UpstreamTlsSettings::default()
    })
    .unwrap()
}

/// A client that accepts any certificate, to see what is presented for any name.
pub fn trusting_anything() -> Arc<ClientConfig> {
    tollgate_tls::client_config(&UpstreamTlsSettings {
        insecure_skip_verify: true,
        ..UpstreamTlsSettings::default()
    })
    .unwrap()
}

type ClientTls = tollgate_tls::tokio_rustls::client::TlsStream<TcpStream>;

/// One TLS connection to the gateway, kept alive across requests.
pub struct TlsConn {
    pub stream: ClientTls,
    /// The certificate the server presented on this connection.
    pub leaf: CertificateDer<'static>,
    pub host: String,
}

impl TlsConn {
    /// Connects with `server_name` as SNI (an IP address sends no SNI).
    pub async fn open(
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
    pub async fn get(&mut self, path: &str) -> anyhow::Result<Reply> {
        let req = format!("GET {path} HTTP/1.1\r\nhost: {}\r\n\r\n", self.host);
        tokio::time::timeout(STEP, exchange(&mut self.stream, &req))
            .await
            .context("request timed out")?
    }
}

/// A fresh connection, one GET with `connection: close`; the certificate served and the
/// response.
pub async fn fetch(
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
pub async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
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
