//! The `tollgate-echo` binary, as the demos and `bench/run.sh` run it. Having this test
//! also makes `cargo nextest run --workspace` build the binary, which the tollgate bench
//! smoke test looks for next to `tollgate`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

use tollgate_test_support::client;

/// Kills the echo process when the test ends, passing or not.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the binary with `args` on a free port; returns it and the bound address it
/// printed.
fn start(args: &[&str]) -> (Running, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tollgate-echo"))
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let running = Running(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let addr = line
        .trim()
        .rsplit(' ')
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    (running, addr)
}

#[test]
fn the_echo_binary_reports_what_it_received() {
    let (_echo, addr) = start(&["--name", "orders"]);
    let r = client::request(addr, "GET", "/a/b?c=d", &[("x-test", "1")], "").unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    let j = r.json();
    assert_eq!(j["backend"], "orders", "{j}");
    assert_eq!(j["path"], "/a/b", "{j}");
    assert_eq!(j["headers"]["x-test"][0], "1", "{j}");
}

#[test]
fn the_echo_binary_answers_a_fixed_body_for_benchmarks() {
    let (_echo, addr) = start(&["--fixed-body-size", "6"]);
    let r = client::get(addr, "/anything").unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body, "xxxxxx");
}
