//! `compression` end to end (docs/content-policies.md#compression): answers compressed
//! with gzip, br and zstd and decoded by curl byte for byte, the coding chosen by
//! `Accept-Encoding` q-values and the route's order, the answers left alone (small,
//! images, already encoded, gRPC, event streams, HEAD, `no-transform`), `Vary` and weak
//! ETags, static files and direct answers, and a slowly streamed answer that reaches the
//! client compressed piece by piece before the backend has finished.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::time::Duration;

use tollgate_test_support::json_text;
use tollgate_test_support::process::TempDir;

fn config(b: &Backends, site: &str, stream_backend: SocketAddr) -> String {
    format!(
        r#"
listeners:
  - {{ name: web, address: "127.0.0.1:0" }}
services:
  - {{ name: app, endpoints: ["{app}"] }}
  - {{ name: slow, endpoints: ["{stream_backend}"], retries: {{ attempts: 0 }} }}
routes:
  - name: api
    match: {{ path: {{ prefix: /api }} }}
    policies:
      compression: {{ min_size: 1KiB }}
    filters:
      strip_prefix: true
    backends: [{{ service: app }}]
  - name: gzip-first
    match: {{ path: {{ prefix: /gz }} }}
    policies:
      compression: {{ algorithms: [gzip, br] }}
    filters:
      strip_prefix: true
    backends: [{{ service: app }}]
  - name: plain
    match: {{ path: {{ prefix: /plain }} }}
    filters:
      strip_prefix: true
    backends: [{{ service: app }}]
  - name: slow
    match: {{ path: {{ prefix: /slow }} }}
    policies:
      compression: {{ algorithms: [gzip] }}
    backends: [{{ service: slow }}]
  - name: site
    match: {{ path: {{ prefix: /site }} }}
    policies:
      compression: {{}}
    static: {{ root: "{site}" }}
  - name: hello
    match: {{ path: {{ exact: /hello }} }}
    policies:
      compression: {{ min_size: 0 }}
    respond: {{ status: 200, body: "{hello}", content_type: text/plain }}
"#,
        app = b.ep(0),
        hello = "hello ".repeat(300),
    )
}

struct Setup {
    _b: Backends,
    _dir: TempDir,
    gw: Gateway,
    web: SocketAddr,
    slow: TcpListener,
}

fn setup() -> Setup {
    let b = Backends::start(&["app"]);
    let dir = TempDir::new("compression").unwrap();
    let site = dir.path().join("site");
    std::fs::create_dir_all(&site).unwrap();
    std::fs::write(site.join("data.json"), json_text(20_000)).unwrap();
    std::fs::write(site.join("logo.png"), vec![0x89u8; 5000]).unwrap();
    let slow = TcpListener::bind("127.0.0.1:0").unwrap();
    let gw = gateway(&config(
        &b,
        site.to_str().unwrap(),
        slow.local_addr().unwrap(),
    ));
    let web = gw.listener("web").unwrap();
    Setup {
        _b: b,
        _dir: dir,
        gw,
        web,
        slow,
    }
}

/// What curl got: status, headers (lower-case names), and the body as sent on the
/// wire, and decoded when `decode`.
struct Got {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Got {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

fn curl(web: SocketAddr, path: &str, accept: Option<&str>, extra: &[&str]) -> Got {
    let mut cmd = Command::new("curl");
    cmd.args([
        "-s",
        "-S",
        "--max-time",
        "20",
        "-D",
        "-",
        "-o",
        "/dev/stdout",
    ]);
    if let Some(a) = accept {
        cmd.args(["-H", &format!("Accept-Encoding: {a}")]);
    }
    cmd.args(extra);
    cmd.arg(format!("http://{web}{path}"));
    let out = cmd.output().expect("run curl");
    assert!(
        out.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let split = out
        .stdout
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let head = String::from_utf8_lossy(&out.stdout[..split]).into_owned();
    let body = out.stdout[split + 4..].to_vec();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Got {
        status,
        headers,
        body,
    }
}

#[test]
fn each_coding_decodes_to_the_same_bytes() {
    let s = setup();
    let want = json_text(16 * 1024);
    for coding in ["gzip", "br", "zstd"] {
        let raw = curl(s.web, "/api/text/16384", Some(coding), &[]);
        assert_eq!(raw.status, 200);
        assert_eq!(raw.header("content-encoding"), Some(coding));
        assert_eq!(raw.header("content-length"), None);
        assert_eq!(raw.all("vary"), ["Accept-Encoding"]);
        assert!(
            raw.body.len() < want.len() / 3,
            "{coding}: {} bytes on the wire for {}",
            raw.body.len(),
            want.len()
        );
        // curl decodes the coding itself.
        let decoded = curl(s.web, "/api/text/16384", Some(coding), &["--compressed"]);
        assert!(
            decoded.body == want[..],
            "{coding} decodes to the backend's bytes"
        );
    }
    // Without Accept-Encoding: as sent, still marked as varying.
    let plain = curl(s.web, "/api/text/16384", None, &[]);
    assert_eq!(plain.header("content-encoding"), None);
    assert_eq!(plain.header("content-length"), Some("16384"));
    assert_eq!(plain.all("vary"), ["Accept-Encoding"]);
    assert!(plain.body == want[..]);
    // A route without the policy does not touch the answer.
    let untouched = curl(s.web, "/plain/text/16384", Some("gzip"), &[]);
    assert_eq!(untouched.header("content-encoding"), None);
    assert_eq!(untouched.header("vary"), None);
    drop(s.gw);
}

#[test]
fn q_values_and_the_route_order_choose() {
    let s = setup();
    let enc = |path: &str, accept: &str| {
        curl(s.web, path, Some(accept), &[])
            .header("content-encoding")
            .map(str::to_owned)
    };
    let p = "/api/text/4096";
    assert_eq!(enc(p, "gzip, deflate, br, zstd").as_deref(), Some("zstd"));
    assert_eq!(enc(p, "gzip;q=1, br;q=0.5").as_deref(), Some("gzip"));
    assert_eq!(enc(p, "br;q=0, gzip;q=0.1").as_deref(), Some("gzip"));
    assert_eq!(enc(p, "br;q=0").as_deref(), None);
    assert_eq!(enc(p, "*").as_deref(), Some("zstd"));
    assert_eq!(enc(p, "*;q=0.5, zstd;q=0").as_deref(), Some("br"));
    assert_eq!(enc(p, "identity").as_deref(), None);
    assert_eq!(enc(p, "GZIP;Q=0.8").as_deref(), Some("gzip"));
    assert_eq!(enc(p, "gzip;q=nonsense").as_deref(), None);
    // The route's order: gzip before br.
    assert_eq!(
        enc("/gz/text/4096", "br, gzip, zstd").as_deref(),
        Some("gzip")
    );
    assert_eq!(enc("/gz/text/4096", "zstd").as_deref(), None);
}

#[test]
fn answers_that_must_stay_as_they_are() {
    let s = setup();
    let all = Some("gzip, br, zstd");
    // Under min_size (declared length).
    let small = curl(s.web, "/api/text/1000", all, &[]);
    assert_eq!(small.header("content-encoding"), None);
    assert_eq!(small.header("content-length"), Some("1000"));
    assert_eq!(small.all("vary"), ["Accept-Encoding"]);
    // Not a compressible type, and types that are never compressed.
    for ty in [
        "image/png",
        "application/grpc",
        "text/event-stream",
        "application/zip",
    ] {
        let r = curl(s.web, &format!("/api/text/4096?type={ty}"), all, &[]);
        assert_eq!(r.header("content-type"), Some(ty));
        assert_eq!(r.header("content-encoding"), None, "{ty}");
        assert_eq!(r.header("vary"), None, "{ty}");
        assert!(r.body == json_text(4096)[..], "{ty}");
    }
    // Already encoded by the upstream: passed through as it is.
    let done = curl(s.web, "/api/text/4096?encoding=br", all, &[]);
    assert_eq!(done.header("content-encoding"), Some("br"));
    assert!(done.body == json_text(4096)[..]);
    // The upstream forbids transformations.
    let nt = curl(s.web, "/api/text/4096?cache_control=no-transform", all, &[]);
    assert_eq!(nt.header("content-encoding"), None);
    assert_eq!(nt.header("content-length"), Some("4096"));
    // HEAD: headers of the uncompressed answer.
    let head = curl(s.web, "/api/text/4096", all, &["-I"]);
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-encoding"), None);
    assert_eq!(head.all("vary"), ["Accept-Encoding"]);
}

#[test]
fn validators_vary_and_other_actions() {
    let s = setup();
    let strong = curl(s.web, "/api/text/4096?etag=v1", Some("gzip"), &[]);
    assert_eq!(strong.header("etag"), Some("W/\"v1\""));
    let weak = curl(s.web, "/api/text/4096?etag=W/v2", Some("gzip"), &[]);
    assert_eq!(weak.header("etag"), Some("W/\"v2\""));
    let uncompressed = curl(s.web, "/api/text/4096?etag=v1", None, &[]);
    assert_eq!(uncompressed.header("etag"), Some("\"v1\""));

    // Static files: compressible ones compressed, ranges and images left alone.
    let want = json_text(20_000);
    let file = curl(s.web, "/site/data.json", Some("br"), &["--compressed"]);
    assert_eq!(file.status, 200);
    assert_eq!(file.header("content-encoding"), Some("br"));
    assert_eq!(file.header("accept-ranges"), None);
    assert!(file.header("etag").unwrap().starts_with("W/\""));
    assert!(file.body == want[..]);
    let range = curl(s.web, "/site/data.json", Some("br"), &["-r", "0-99"]);
    assert_eq!(range.status, 206);
    assert_eq!(range.header("content-encoding"), None);
    assert!(range.body == want[..100]);
    let png = curl(s.web, "/site/logo.png", Some("br"), &[]);
    assert_eq!(png.header("content-encoding"), None);
    assert_eq!(png.body.len(), 5000);

    // A direct answer.
    let hello = curl(s.web, "/hello", Some("zstd"), &["--compressed"]);
    assert_eq!(hello.header("content-encoding"), Some("zstd"));
    assert_eq!(hello.body, "hello ".repeat(300).into_bytes());
}

/// Reads one HTTP/1.1 chunk: `None` at the last (empty) chunk.
fn read_chunk(r: &mut BufReader<TcpStream>) -> Option<Vec<u8>> {
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    let size = usize::from_str_radix(line.trim().split(';').next().unwrap(), 16).unwrap();
    let mut data = vec![0; size + 2];
    r.read_exact(&mut data).unwrap();
    data.truncate(size);
    (size > 0).then_some(data)
}

#[test]
fn a_slow_stream_arrives_compressed_piece_by_piece() {
    let s = setup();
    let first = json_text(3000);
    let second = b"the rest, sent only after the client has decoded the first part\n".repeat(50);
    let (go_on, wait) = std::sync::mpsc::channel::<()>();
    let slow = s.slow.try_clone().unwrap();
    let second_copy = second.clone();
    let first_copy = first.clone();
    // A backend that sends its second part only when the client has decoded the first:
    // a gateway that waited for the whole body would never deliver it.
    let backend = std::thread::spawn(move || {
        let (mut conn, _) = slow.accept().unwrap();
        let mut r = BufReader::new(conn.try_clone().unwrap());
        let mut line = String::new();
        while r.read_line(&mut line).unwrap() > 2 {
            line.clear();
        }
        let mut out =
            b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n"
                .to_vec();
        out.extend_from_slice(format!("{:x}\r\n", first_copy.len()).as_bytes());
        out.extend_from_slice(&first_copy);
        out.extend_from_slice(b"\r\n");
        conn.write_all(&out).unwrap();
        wait.recv_timeout(Duration::from_secs(30)).unwrap();
        let mut out = format!("{:x}\r\n", second_copy.len()).into_bytes();
        out.extend_from_slice(&second_copy);
        out.extend_from_slice(b"\r\n0\r\n\r\n");
        conn.write_all(&out).unwrap();
    });

    let mut client = TcpStream::connect(s.web).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    client
        .write_all(b"GET /slow HTTP/1.1\r\nhost: x\r\naccept-encoding: gzip\r\n\r\n")
        .unwrap();
    let mut r = BufReader::new(client);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        if line == "\r\n" {
            break;
        }
        head.push_str(&line.to_ascii_lowercase());
    }
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("content-encoding: gzip"), "{head}");
    assert!(head.contains("transfer-encoding: chunked"), "{head}");
    let mut decoder = flate2::write::GzDecoder::new(Vec::new());
    let mut pieces_before = 0;
    while decoder.get_ref().len() < first.len() {
        let piece = read_chunk(&mut r).expect("the first part, before the stream ends");
        decoder.write_all(&piece).unwrap();
        decoder.flush().unwrap();
        pieces_before += 1;
    }
    assert!(decoder.get_ref()[..] == first[..]);
    assert!(pieces_before >= 1);
    go_on.send(()).unwrap();
    while let Some(piece) = read_chunk(&mut r) {
        decoder.write_all(&piece).unwrap();
    }
    let all = decoder.finish().unwrap();
    let mut want = first.to_vec();
    want.extend_from_slice(&second);
    assert!(all == want, "the whole stream decodes");
    backend.join().unwrap();
}
