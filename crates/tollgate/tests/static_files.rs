//! `static` routes end to end (docs/content-policies.md): a site directory next to the
//! configuration file, served with the route prefix stripped; index files, media types,
//! validators and 304s, ranges (206, 416), GET/HEAD only, a large file streamed whole
//! to curl, and every way out of the root refused (`..` in its spellings, an encoded
//! slash or backslash, a symlink to a file outside).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;

use std::net::SocketAddr;
use std::time::Duration;

use tollgate_test_support::process::TempDir;

const CONFIG: &str = r#"
listeners:
  - { name: web, address: "127.0.0.1:0" }
consumers:
  - { name: alice, keys: ["k-alice-0001"] }
routes:
  - name: docs
    match: { path: { prefix: /docs } }
    static: { root: ./site }
  - name: private
    match: { path: { prefix: /private } }
    policies:
      key_auth: {}
    static: { root: site, index: a.html }
"#;

const SECRET: &str = "top-secret-marker";
/// Larger than any buffer on the way, so the body has to stream.
const BIG: usize = 5 * 1024 * 1024 + 123;

fn big_byte(i: usize) -> u8 {
    (i % 251) as u8
}

/// The config and its site in one directory (`root` is relative to the config file):
/// `site/` with an index, a page, a stylesheet, a large file, a directory without index
/// and a symlink to `secret.txt`, which sits outside the root.
fn setup() -> (TempDir, Gateway, SocketAddr) {
    let dir = TempDir::new("static").unwrap();
    let d = dir.path();
    let site = d.join("site");
    std::fs::create_dir_all(site.join("sub")).unwrap();
    std::fs::create_dir_all(site.join("img")).unwrap();
    std::fs::write(site.join("index.html"), "<h1>home</h1>").unwrap();
    std::fs::write(site.join("a.html"), "<p>page a</p>").unwrap();
    std::fs::write(site.join("style.css"), "body{}").unwrap();
    std::fs::write(site.join("img/logo.svg"), "<svg/>").unwrap();
    std::fs::write(site.join("sub/notes.txt"), "notes").unwrap();
    let big: Vec<u8> = (0..BIG).map(big_byte).collect();
    std::fs::write(site.join("big.bin"), big).unwrap();
    std::fs::write(d.join("secret.txt"), SECRET).unwrap();
    std::os::unix::fs::symlink(d.join("secret.txt"), site.join("link.txt")).unwrap();
    let config = d.join("tollgate.yaml");
    std::fs::write(&config, CONFIG).unwrap();
    let gw = Gateway::start_args(BIN, &["-c", config.to_str().unwrap()], &[]).unwrap();
    gw.wait_for_log("serving", Duration::from_secs(20)).unwrap();
    let web = gw.listener("web").unwrap();
    (dir, gw, web)
}

fn curl(args: &[&str]) -> (String, Vec<u8>) {
    let out = std::process::Command::new("curl")
        .args(["-sS", "-D", "-"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Headers first, then the body.
    let text = out.stdout;
    let end = text
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(text.len(), |i| i + 4);
    (
        String::from_utf8_lossy(&text[..end]).to_lowercase(),
        text[end..].to_vec(),
    )
}

fn assert_json_error(r: &Reply, status: u16) {
    assert_eq!(r.status, status, "{}", r.body);
    assert!(r.json()["message"].is_string(), "{}", r.body);
}

#[test]
fn files_index_and_media_types() {
    let (_d, _gw, web) = setup();
    let r = get(web, "/docs/a.html", &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, "<p>page a</p>");
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(r.header("content-length"), Some("13"));
    assert_eq!(r.header("accept-ranges"), Some("bytes"));
    assert!(r.header("etag").is_some_and(|e| e.starts_with('"')));
    assert!(
        r.header("last-modified")
            .is_some_and(|d| d.ends_with("GMT"))
    );
    for target in ["/docs", "/docs/", "/docs//"] {
        let r = get(web, target, &[]);
        assert_eq!(r.status, 200, "{target}: {}", r.body);
        assert_eq!(r.body, "<h1>home</h1>", "{target}");
    }
    let r = get(web, "/docs/style.css", &[]);
    assert_eq!(r.header("content-type"), Some("text/css; charset=utf-8"));
    let r = get(web, "/docs/img/logo.svg", &[]);
    assert_eq!(r.header("content-type"), Some("image/svg+xml"));
    assert_eq!(r.body, "<svg/>");
    let r = get(web, "/docs/big.bin", &[("range", "bytes=0-0")]);
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));

    // Missing files and directories without an index: 404, no listing.
    assert_json_error(&get(web, "/docs/missing.html", &[]), 404);
    let r = get(web, "/docs/sub/", &[]);
    assert_json_error(&r, 404);
    assert!(!r.body.contains("notes"), "{}", r.body);
    assert_eq!(get(web, "/docs/sub/notes.txt", &[]).body, "notes");
}

#[test]
fn get_and_head_only() {
    let (_d, _gw, web) = setup();
    let r = client::request(web, "HEAD", "/docs/a.html", &[], "").unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.body, "");
    assert_eq!(r.header("content-length"), Some("13"));
    for method in ["POST", "PUT", "DELETE"] {
        let r = client::request(web, method, "/docs/a.html", &[], "").unwrap();
        assert_json_error(&r, 405);
        assert_eq!(r.header("allow"), Some("GET, HEAD"), "{method}");
    }
}

#[test]
fn validators_answer_304() {
    let (_d, _gw, web) = setup();
    let r = get(web, "/docs/a.html", &[]);
    let etag = r.header("etag").unwrap().to_owned();
    let date = r.header("last-modified").unwrap().to_owned();
    let r = get(web, "/docs/a.html", &[("if-none-match", &etag)]);
    assert_eq!(r.status, 304);
    assert_eq!(r.body, "");
    assert_eq!(r.header("etag"), Some(etag.as_str()));
    let r = get(web, "/docs/a.html", &[("if-modified-since", &date)]);
    assert_eq!(r.status, 304);
    let r = get(web, "/docs/a.html", &[("if-none-match", "\"stale\"")]);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, "<p>page a</p>");

    let (head, body) = curl(&[
        "-H",
        &format!("If-None-Match: {etag}"),
        &format!("http://{web}/docs/a.html"),
    ]);
    assert!(head.starts_with("http/1.1 304"), "{head}");
    assert!(body.is_empty());
}

#[test]
fn single_ranges() {
    let (_d, _gw, web) = setup();
    let r = get(web, "/docs/a.html", &[("range", "bytes=3-6")]);
    assert_eq!(r.status, 206);
    assert_eq!(r.body, "page");
    assert_eq!(r.header("content-range"), Some("bytes 3-6/13"));
    let r = get(web, "/docs/a.html", &[("range", "bytes=-4")]);
    assert_eq!(r.body, "</p>");
    assert_eq!(r.header("content-range"), Some("bytes 9-12/13"));
    let r = get(web, "/docs/a.html", &[("range", "bytes=13-")]);
    assert_json_error(&r, 416);
    assert_eq!(r.header("content-range"), Some("bytes */13"));
    // Several ranges are not supported: the whole file, as RFC 9110 allows.
    let r = get(web, "/docs/a.html", &[("range", "bytes=0-1,4-5")]);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, "<p>page a</p>");

    let (head, body) = curl(&[
        "--range",
        "1000000-1000009",
        &format!("http://{web}/docs/big.bin"),
    ]);
    assert!(head.starts_with("http/1.1 206"), "{head}");
    assert!(
        head.contains(&format!("content-range: bytes 1000000-1000009/{BIG}")),
        "{head}"
    );
    let want: Vec<u8> = (1_000_000..1_000_010).map(big_byte).collect();
    assert_eq!(body, want);
}

#[test]
fn large_files_stream_whole() {
    let (_d, _gw, web) = setup();
    for flag in ["--http1.1", "--http2-prior-knowledge"] {
        let (head, body) = curl(&[flag, &format!("http://{web}/docs/big.bin")]);
        assert!(head.contains(&format!("content-length: {BIG}")), "{head}");
        assert_eq!(body.len(), BIG, "{flag}");
        assert!(
            body.iter().enumerate().all(|(i, b)| *b == big_byte(i)),
            "{flag}"
        );
    }
}

#[test]
fn nothing_outside_the_root() {
    let (_d, _gw, web) = setup();
    for target in [
        "/docs/../secret.txt",
        "/docs/%2e%2e/secret.txt",
        "/docs/%2E%2E/secret.txt",
        "/docs/..%2fsecret.txt",
        "/docs/..%2Fsecret.txt",
        "/docs/..%5csecret.txt",
        "/docs/..\\secret.txt",
        "/docs/sub/../../secret.txt",
        "/docs/link.txt",
        "/docs/%00",
    ] {
        let out = std::process::Command::new("curl")
            .args(["-sS", "--path-as-is", "-o", "-", "-w", "\n%{http_code}"])
            .arg(format!("http://{web}{target}"))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(!text.contains(SECRET), "{target}: {text}");
        let status = text.rsplit('\n').next().unwrap();
        assert!(
            status == "400" || status == "404",
            "{target}: {status} {text}"
        );
    }
}

#[test]
fn access_policies_run_before_static() {
    let (_d, _gw, web) = setup();
    assert_json_error(&get(web, "/private/", &[]), 401);
    let r = get(web, "/private/", &[("apikey", "k-alice-0001")]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, "<p>page a</p>", "the route's own index");
}
