//! The process end to end: hot reload, refused reloads, listeners added and removed,
//! SIGHUP, SIGTERM draining, admin endpoints, access log, and the CLI.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

fn cfg(b: &Backends, route_backend: usize, extra_listener: bool) -> String {
    let more = if extra_listener {
        "\n  - { name: extra, address: \"127.0.0.1:0\" }"
    } else {
        ""
    };
    format!(
        r#"
server: {{ shutdown_delay: 1s, shutdown_grace: 5s }}
listeners:
  - {{ name: web, address: "127.0.0.1:0" }}{more}
services:
  - {{ name: a, endpoints: ["{}"] }}
  - {{ name: b, endpoints: ["{}"] }}
routes:
  - {{ name: r, backends: [{{ service: {} }}] }}
"#,
        b.ep(0),
        b.ep(1),
        ["a", "b"][route_backend]
    )
}

#[test]
fn hot_reload_applies_and_keeps_connections() {
    let b = Backends::start(&["a", "b"]);
    let gw = gateway(&cfg(&b, 0, false));
    let web = gw.listener("web").unwrap();
    let mut conn = TcpStream::connect(web).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(keepalive_get(&mut conn, "/").json()["backend"], "a");

    let started = Instant::now();
    gw.write_config("tollgate.yaml", &cfg(&b, 1, false))
        .unwrap();
    assert!(
        eventually(
            Duration::from_secs(3),
            || get(web, "/", &[]).json()["backend"] == "b"
        ),
        "new config not applied: {}",
        gw.log()
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "applied in {:?}",
        started.elapsed()
    );
    // The idle keep-alive connection opened before the reload still works, on the new config.
    assert_eq!(keepalive_get(&mut conn, "/").json()["backend"], "b");
    assert!(
        admin(&gw, "/metrics")
            .body
            .contains("tollgate_config_reloads_total{result=\"ok\"} 2")
    );
}

#[test]
fn invalid_reload_is_refused_and_last_good_keeps_serving() {
    let b = Backends::start(&["a", "b"]);
    let gw = gateway(&cfg(&b, 0, false));
    let web = gw.listener("web").unwrap();
    let bad = cfg(&b, 0, false).replace("service: a", "service: nope");
    gw.write_config("tollgate.yaml", &bad).unwrap();
    let line = gw
        .wait_for_log("configuration rejected", Duration::from_secs(5))
        .unwrap();
    assert!(
        line.contains("tollgate.yaml:"),
        "file:line in the log: {line}"
    );
    assert!(line.contains("unknown service"), "{line}");
    assert_eq!(get(web, "/", &[]).json()["backend"], "a", "still serving");
    let m = admin(&gw, "/metrics").body;
    assert!(
        m.contains("tollgate_config_reloads_total{result=\"failed\"} 1"),
        "{m}"
    );
    assert!(m.contains("tollgate_config_version 1"), "{m}");
    // A syntax error too.
    gw.write_config("tollgate.yaml", "listeners: [").unwrap();
    assert!(eventually(Duration::from_secs(5), || gw
        .count_log("configuration rejected")
        >= 2));
    assert_eq!(get(web, "/", &[]).status, 200);
}

#[test]
fn listeners_are_added_and_removed_live() {
    let b = Backends::start(&["a", "b"]);
    let gw = gateway(&cfg(&b, 0, false));
    let web = gw.listener("web").unwrap();
    gw.write_config("tollgate.yaml", &cfg(&b, 0, true)).unwrap();
    gw.wait_for_log("listener bound", Duration::from_secs(5))
        .unwrap();
    // Generous: under a loaded machine the file watch and reload can take seconds.
    assert!(eventually(Duration::from_secs(15), || gw
        .listener("extra")
        .is_ok()));
    let extra = gw.listener("extra").unwrap();
    assert_eq!(get(extra, "/", &[]).status, 200);
    gw.write_config("tollgate.yaml", &cfg(&b, 0, false))
        .unwrap();
    gw.wait_for_log("listener removed", Duration::from_secs(5))
        .unwrap();
    assert!(eventually(Duration::from_secs(3), || TcpStream::connect(
        extra
    )
    .is_err()));
    assert_eq!(
        get(web, "/", &[]).status,
        200,
        "the unchanged listener kept serving"
    );
}

#[test]
fn sighup_reloads() {
    let b = Backends::start(&["a", "b"]);
    let gw = gateway(&cfg(&b, 0, false));
    gw.signal("HUP").unwrap();
    assert!(
        eventually(Duration::from_secs(3), || gw
            .count_log("configuration reloaded")
            >= 1),
        "{}",
        gw.log()
    );
}

#[test]
fn sigterm_drains_then_exits_zero() {
    let b = Backends::start(&["a", "b"]);
    let mut gw = gateway(&cfg(&b, 0, false));
    let web = gw.listener("web").unwrap();
    assert_eq!(admin(&gw, "/readyz").status, 200);
    let inflight = std::thread::spawn(move || get(web, "/delay/1500", &[]));
    std::thread::sleep(Duration::from_millis(200));
    gw.signal("TERM").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        admin(&gw, "/readyz").status,
        503,
        "not ready during the delay"
    );
    assert_eq!(
        get(web, "/", &[]).status,
        200,
        "still serving during the delay"
    );
    assert_eq!(
        inflight.join().unwrap().status,
        200,
        "in-flight request finished"
    );
    assert_eq!(gw.wait_exit(Duration::from_secs(10)).unwrap(), Some(0));
}

#[test]
fn admin_endpoints_and_access_log() {
    let b = Backends::start(&["a", "b"]);
    let gw = gateway(&cfg(&b, 0, false));
    let web = gw.listener("web").unwrap();
    assert_eq!(admin(&gw, "/healthz").status, 200);
    assert_eq!(admin(&gw, "/readyz").status, 200);
    let r = get(web, "/some/path", &[("x-request-id", "log-me-1")]);
    assert_eq!(r.status, 200);
    let config = admin(&gw, "/config").json();
    assert_eq!(config["version"], 1);
    assert!(config["snapshot"]["services"]["a"].is_object(), "{config}");
    let m = admin(&gw, "/metrics").body;
    for name in [
        "tollgate_requests_total{route=\"route/r\",status=\"200\"} 1",
        "tollgate_request_duration_seconds_bucket",
        "tollgate_active_connections",
        "tollgate_config_version 1",
    ] {
        assert!(m.contains(name), "{name} missing from\n{m}");
    }
    assert!(eventually(Duration::from_secs(3), || gw
        .access_log()
        .iter()
        .any(|l| l.contains("log-me-1"))));
    let line = gw
        .access_log()
        .into_iter()
        .find(|l| l.contains("log-me-1"))
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["status"], 200);
    assert_eq!(v["route"], "route/r");
    assert_eq!(v["path"], "/some/path");
    assert_eq!(v["upstream"], b.ep(0));
    assert!(v["bytes"].as_u64().unwrap() > 0);
}

#[test]
fn access_log_can_be_switched_off() {
    let b = Backends::start(&["a", "b"]);
    let gw = gateway(&cfg(&b, 0, false).replace("server: {", "server: { access_log: false,"));
    let web = gw.listener("web").unwrap();
    assert_eq!(get(web, "/", &[]).status, 200);
    std::thread::sleep(Duration::from_millis(300));
    assert!(gw.access_log().is_empty(), "{:?}", gw.access_log());
}

#[test]
fn validate_and_translate_cli() {
    let dir = tollgate_test_support::process::TempDir::new("cli").unwrap();
    let good = dir.path().join("good.yaml");
    std::fs::write(&good, "listeners: [{ name: web, address: \"127.0.0.1:0\" }]\nservices: [{ name: s, endpoints: [\"127.0.0.1:1\"] }]\nroutes: [{ name: r, backends: [{ service: s }] }]\n").unwrap();
    let out = Command::new(BIN)
        .args(["validate", "-c"])
        .arg(&good)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "routes:\n  - name: r\n    backends: [{ service: missing }]\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["validate", "-c"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.yaml:3:"), "{err}");
    let out = Command::new(BIN)
        .args(["translate", "-c"])
        .arg(&good)
        .output()
        .unwrap();
    assert!(out.status.success());
    let yaml = String::from_utf8_lossy(&out.stdout);
    assert!(yaml.contains("route/r"), "{yaml}");
    let out = Command::new(BIN).args(["run", "--help"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("--workers"));
}

#[test]
fn every_example_validates() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut n = 0;
    for e in std::fs::read_dir(&root).unwrap() {
        let p = e.unwrap().path();
        // A directory of config files is one configuration split over several files
        // (other directories, like certs/, hold material the examples refer to).
        let is_config_dir = p.is_dir()
            && std::fs::read_dir(&p).unwrap().any(|e| {
                e.unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "yaml" || x == "json")
            });
        if is_config_dir || p.extension().is_some_and(|x| x == "yaml") {
            let out = Command::new(BIN)
                .args(["validate", "-c"])
                .arg(&p)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}: {}",
                p.display(),
                String::from_utf8_lossy(&out.stderr)
            );
            n += 1;
        }
    }
    assert!(n >= 5, "{n} examples");
}
