//! Shared setup for end-to-end tests: real backends on a tokio runtime of their own, and
//! the real `tollgate` binary started on a config that uses port 0 everywhere.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

pub use tollgate_test_support::Backend;
pub use tollgate_test_support::client::{self, Reply};
pub use tollgate_test_support::process::Gateway;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_tollgate");

/// Backends running on their own runtime (tests themselves are plain blocking code, as a
/// client would be).
pub struct Backends {
    pub rt: tokio::runtime::Runtime,
    pub list: Vec<Backend>,
}

impl Backends {
    pub fn start(names: &[&str]) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let list = names
            .iter()
            .map(|n| rt.block_on(Backend::start(n)).unwrap())
            .collect();
        Self { rt, list }
    }

    pub fn ep(&self, i: usize) -> String {
        self.list[i].endpoint()
    }
}

/// A port nothing listens on (bound and released).
pub fn dead_port() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let a = l.local_addr().unwrap();
    drop(l);
    a.to_string()
}

/// Starts the gateway or panics with its log.
pub fn gateway(config: &str) -> Gateway {
    Gateway::start(BIN, config).unwrap_or_else(|e| panic!("gateway did not start: {e:#}"))
}

/// GET through the gateway with extra headers.
pub fn get(addr: SocketAddr, target: &str, headers: &[(&str, &str)]) -> Reply {
    client::request(addr, "GET", target, headers, "").unwrap()
}

/// Repeats `f` until it returns true or `timeout` passes.
pub fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    false
}

/// Admin GET.
pub fn admin(gw: &Gateway, path: &str) -> Reply {
    client::get(gw.admin, path).unwrap()
}

/// GET `path` on an open keep-alive connection (Host `t`), reading one whole reply.
pub fn keepalive_get(s: &mut std::net::TcpStream, path: &str) -> Reply {
    keepalive_get_host(s, "t", path)
}

/// GET `path` with `host` on an open keep-alive connection, reading one whole reply.
pub fn keepalive_get_host(s: &mut std::net::TcpStream, host: &str, path: &str) -> Reply {
    use std::io::{Read, Write};
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes())
        .unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk).unwrap();
        assert!(n > 0, "connection closed");
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf);
        if let Some(r) = client::parse(&text) {
            let len: usize = r
                .header("content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            if r.body.len() >= len {
                return r;
            }
        }
    }
}

pub mod cluster;
pub mod k8s;
