//! The benchmark harness must not rot: run `bench/run.sh` with Tollgate only, tiny
//! durations and small route tables, and check that every scenario produced an `ok`
//! row. No timing is asserted; the numbers of a run this short mean nothing.
//!
//! Needs `wrk`, `h2load` and `openssl` (CI installs them in `.ci/run`); a missing tool
//! fails the test with its name instead of skipping it. nginx and HAProxy are not used.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The binary under test (debug build of this package).
const TOLLGATE: &str = env!("CARGO_BIN_EXE_tollgate");

/// Every scenario of the harness (the route-table ones with the sizes below).
const SCENARIOS: &[&str] = &[
    "http1_6b",
    "http1_6b_log",
    "http1_16k",
    "https_6b",
    "h2_6b",
    "routes_10",
    "routes_50",
    "reload_load",
    "reload_rss",
    "auth_key",
    "auth_jwt",
    "auth_oidc",
    "rl_local",
    "rl_redis",
    "cache_hit",
    "compression",
];

/// The echo backend is a binary of another package (`tollgate-test-support`), and Cargo
/// only tells a test where the binaries of its own package are. Building the workspace
/// (`cargo nextest run --workspace`, as CI does; `test-support/tests/echo_bin.rs` makes
/// Cargo build it) puts it next to `tollgate` in the same
/// profile directory, so look there; `ECHO_BIN` overrides. No nested cargo run: it could
/// wait on the lock of the cargo that runs this test.
fn echo_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("ECHO_BIN") {
        return PathBuf::from(p);
    }
    let dir = Path::new(TOLLGATE)
        .parent()
        .expect("tollgate binary has a directory");
    let p = dir.join(format!("tollgate-echo{}", std::env::consts::EXE_SUFFIX));
    assert!(
        p.is_file(),
        "{} not found: build it with `cargo build -p tollgate-test-support --bin tollgate-echo` \
         (same profile as this test), run the whole workspace (`cargo nextest run --workspace`), \
         or set ECHO_BIN",
        p.display()
    );
    p
}

fn require_tool(name: &str) {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {name}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        found,
        "`{name}` is not installed: the bench smoke test needs wrk, h2load and openssl \
         (Debian: apt-get install -y wrk nghttp2-client openssl; .ci/run installs them)"
    );
}

#[test]
fn bench_harness_runs_every_scenario() {
    for tool in ["wrk", "h2load", "openssl", "taskset", "python3"] {
        require_tool(tool);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let results = std::env::temp_dir().join(format!("tollgate-bench-smoke-{}", std::process::id()));
    let out = Command::new("bash")
        .arg(root.join("bench/run.sh"))
        .env("SKIP_BUILD", "1")
        .env("PROXIES", "tollgate")
        .env("SCENARIOS", SCENARIOS.join(" "))
        .env("DURATION", "1s")
        .env("WARMUP", "0s")
        .env("ROUTE_COUNTS", "10 50")
        .env("ROUTES_DURATION", "1s")
        .env("RELOAD_ROUTES", "50")
        .env("RELOAD_CHANGES", "3")
        .env("RELOAD_INTERVAL", "0.3")
        .env("RSS_CYCLES", "3")
        .env("RSS_BATCH", "5")
        .env("CONNECTIONS", "8")
        .env("H2_CONNECTIONS", "2")
        .env("H2_STREAMS", "4")
        .env("TOLLGATE_BIN", TOLLGATE)
        .env("ECHO_BIN", echo_bin())
        .env("RESULTS_DIR", &results)
        // Other tests run beside this one: a busy proxy core only makes rows "noisy",
        // which still counts as ok.
        .output()
        .expect("run bench/run.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let context = format!("--- stdout\n{stdout}\n--- stderr\n{stderr}");
    assert!(
        out.status.success(),
        "bench/run.sh failed: {:?}\n{context}",
        out.status
    );

    // The first table: scenario, proxy, 7 number columns, then the status.
    for scenario in SCENARIOS {
        let row = stdout.lines().find(|l| {
            let mut cols = l.split_whitespace();
            cols.next() == Some(scenario) && cols.next() == Some("tollgate")
        });
        let row = row.unwrap_or_else(|| panic!("no {scenario}/tollgate row\n{context}"));
        let status = row.split_whitespace().nth(9).unwrap_or("");
        assert!(
            status.starts_with("ok"),
            "{scenario} row is not ok: {row}\n{context}"
        );
    }
    assert!(
        stdout.contains("reload_rss: tollgate RSS") && stdout.contains("after 3 cycles"),
        "no RSS line for reload_rss\n{context}"
    );
    for policy in [
        "auth_key",
        "auth_jwt",
        "auth_oidc",
        "rl_local",
        "rl_redis",
        "cache_hit",
    ] {
        assert!(
            stdout.contains(&format!("{policy}: tollgate "))
                && stdout.contains("over its http1_6b"),
            "no policy delta line for {policy}\n{context}"
        );
    }
    assert!(
        stdout.contains("compression: tollgate ") && stdout.contains("over its http1_16k"),
        "no compression delta line\n{context}"
    );
    assert!(
        results.join("latest.json").is_file(),
        "no latest.json in {}",
        results.display()
    );
    let _ = std::fs::remove_dir_all(&results);
}
