//! The configuration path: native YAML → model → IR → runtime, by stage and whole.
//!
//! `cargo bench -p tollgate --bench config_path` (add `-- --warm-up-time 1
//! --measurement-time 3` for a quick run). See bench/README.md, "Micro-benchmarks".
//!
//! The configuration is generated here as native YAML text with the same shape as the
//! router bench's `wide` layout (N/100 hosts of 100 routes, 2 hosts of 5 for N = 10: one
//! exact `/healthz`, 5 % regex paths, 5 % header-matched canaries, the rest prefixes; one
//! service per 10 routes), written to a temporary directory and read by the real loader.
//! Routes are written in a natural order (each service's canary next to it, regexes
//! among them) so that the translator has real sorting to do; before timing, the compiled
//! result is checked to route the router bench's requests to the same routes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Write as _;
use std::hint::black_box;
use std::path::PathBuf;

use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use http::{HeaderMap, HeaderValue, Method};
use tollgate_ir as ir;
use tollgate_proxy::bench_api::{self, Compiler};
use tollgate_translate::Options;

/// Configuration sizes, in routes.
const SIZES: [usize; 3] = [10, 1_000, 10_000];

/// Native YAML for `n` routes. `changed` gives the first plain route a timeout: the
/// "one route changed" edit.
fn config_yaml(n: usize, changed: bool) -> String {
    let hosts = (n / 100).max(2);
    let per_host = n / hosts;
    let regex = (per_host / 20).max(1);
    let canary = (per_host / 20).max(1);
    let prefix = per_host - 1 - regex - canary;
    let mut y = String::with_capacity(n * 200);
    y.push_str("listeners:\n  - { name: web, address: \"127.0.0.1:0\" }\nservices:\n");
    for h in 0..hosts {
        for s in 0..per_host.div_ceil(10) {
            let (a, b) = ((h * 100 + s) / 250 % 250, (h * 100 + s) % 250);
            writeln!(
                y,
                "  - {{ name: svc-h{h:04}-{s:03}, endpoints: [\"10.{a}.{b}.1:8080\", \"10.{a}.{b}.2:8080\"] }}"
            )
            .unwrap();
        }
    }
    y.push_str("routes:\n");
    for h in 0..hosts {
        let host = if h % 10 == 9 || h == hosts - 1 {
            format!("\"*.h{h:04}.example.com\"")
        } else {
            format!("h{h:04}.example.com")
        };
        let mut route = |name: String, k: usize, matches: String, extra: &str| {
            writeln!(
                y,
                "  - name: h{h:04}-{name}\n    hosts: [{host}]\n    match: {matches}\n    backends: [{{ service: svc-h{h:04}-{:03} }}]{extra}",
                k / 10
            )
            .unwrap();
        };
        for k in 0..prefix {
            let extra = if changed && h == 0 && k == 0 {
                "\n    timeout: 5s"
            } else {
                ""
            };
            let path = format!("/api/v1/s{k:04}");
            route(
                format!("svc-{k:04}"),
                k,
                format!("{{ path: {{ prefix: {path} }} }}"),
                extra,
            );
            if k < canary {
                route(
                    format!("canary-{k:04}"),
                    k,
                    format!(
                        "{{ path: {{ prefix: {path} }}, headers: [{{ name: x-canary, value: always }}] }}"
                    ),
                    "",
                );
            }
            if k < regex {
                route(
                    format!("regex-{k:04}"),
                    k,
                    format!("{{ path: {{ regex: \"/api/v1/r{k:04}/items/[0-9]+\" }} }}"),
                    "",
                );
            }
            if k == prefix / 2 {
                route(
                    "healthz".into(),
                    0,
                    "{ path: { exact: /healthz } }".into(),
                    "",
                );
            }
        }
    }
    y
}

/// A configuration written to its own temporary directory, removed on drop.
struct ConfigDir(PathBuf);

impl ConfigDir {
    fn new(n: usize, changed: bool) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "tollgate-bench-{}-{n}-{}",
            std::process::id(),
            if changed { "b" } else { "a" }
        ));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        std::fs::write(dir.join("tollgate.yaml"), config_yaml(n, changed)).expect("write config");
        Self(dir)
    }

    fn paths(&self) -> Vec<PathBuf> {
        vec![self.0.clone()]
    }
}

impl Drop for ConfigDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn load(dir: &ConfigDir) -> tollgate_model::Source {
    tollgate_model::load_paths(&dir.paths()).expect("generated config loads")
}

fn translate(src: &tollgate_model::Source) -> ir::Snapshot {
    tollgate_translate::translate_all(&src.documents, &src.resources, &Options::default())
        .expect("generated config translates")
        .snapshot
}

/// The translated configuration routes the router bench's requests where that bench
/// expects (so both benches time the same table shape).
fn check_routing(rt: &tollgate_proxy::Runtime, n: usize) {
    let hosts = (n / 100).max(2);
    let per_host = n / hosts;
    let (regex, canary) = ((per_host / 20).max(1), (per_host / 20).max(1));
    let prefix = per_host - 1 - regex - canary;
    let last = hosts - 1;
    let wildcard = format!("acme.h{last:04}.example.com");
    let mut canary_headers = HeaderMap::new();
    canary_headers.insert("x-canary", HeaderValue::from_static("always"));
    let cases = [
        (
            "h0000.example.com",
            "/healthz".to_owned(),
            Some("route/h0000-healthz".to_owned()),
        ),
        (
            "h0000.example.com",
            format!("/api/v1/s{:04}/orders/42", prefix - 1),
            Some(format!("route/h0000-svc-{:04}", prefix - 1)),
        ),
        (
            "h0000.example.com",
            format!("/api/v1/r{:04}/items/12345", regex - 1),
            Some(format!("route/h0000-regex-{:04}", regex - 1)),
        ),
        (
            wildcard.as_str(),
            "/healthz".to_owned(),
            Some(format!("route/h{last:04}-healthz")),
        ),
        ("h0000.example.com", "/nope/42".to_owned(), None),
    ];
    for (host, path, expect) in cases {
        let got = bench_api::find(
            rt,
            "web",
            host,
            &Method::GET,
            &path,
            None,
            &HeaderMap::new(),
        );
        assert_eq!(got, expect.as_deref(), "{host}{path}, {n} routes");
    }
    let path = format!("/api/v1/s{:04}/orders/42", canary - 1);
    let got = bench_api::find(
        rt,
        "web",
        "h0000.example.com",
        &Method::GET,
        &path,
        None,
        &canary_headers,
    );
    assert_eq!(got, Some(&*format!("route/h0000-canary-{:04}", canary - 1)));
}

fn config_path(c: &mut Criterion) {
    let mut g = c.benchmark_group("config");
    // 10,000 routes take tens of milliseconds per stage: 10 samples is what fits.
    g.sample_size(10);
    for n in SIZES {
        let dir = ConfigDir::new(n, false);
        let dir_b = ConfigDir::new(n, true);
        let src = load(&dir);
        let snap = translate(&src);
        let snap_b = translate(&load(&dir_b));
        assert_ne!(snap, snap_b, "the edit changes the snapshot");
        let mut compiler = Compiler::new();
        let previous = compiler.compile(snap.clone(), None).expect("compiles");
        check_routing(&previous, n);

        g.bench_function(BenchmarkId::new("load", n), |b| {
            b.iter(|| load(black_box(&dir)))
        });
        g.bench_function(BenchmarkId::new("translate", n), |b| {
            b.iter(|| translate(black_box(&src)))
        });
        // `check` is what `tollgate validate` runs: a clone of the snapshot, then compile.
        g.bench_function(BenchmarkId::new("check", n), |b| {
            b.iter(|| tollgate_proxy::check(black_box(&snap)).expect("checks"))
        });
        // First compile (startup): fresh metrics, no previous runtime; clone not timed.
        g.bench_function(BenchmarkId::new("compile", n), |b| {
            b.iter_batched(
                || (Compiler::new(), snap.clone()),
                |(mut c, s)| c.compile(s, None).expect("compiles"),
                BatchSize::PerIteration,
            )
        });
        g.bench_function(BenchmarkId::new("all", n), |b| {
            b.iter(|| {
                let s = translate(&load(black_box(&dir)));
                Compiler::new().compile(s, None).expect("compiles")
            })
        });
        // One route changed: the reload compile, with the running runtime as `previous`
        // (every service is unchanged, so every upstream is reused).
        g.bench_function(BenchmarkId::new("recompile_one_changed", n), |b| {
            b.iter_batched(
                || snap_b.clone(),
                |s| compiler.compile(s, Some(&previous)).expect("compiles"),
                BatchSize::PerIteration,
            )
        });
        // The whole reload of a one-route edit as the file watcher runs it, minus the swap.
        // `Gateway::apply` itself is not benched: its access-log thread holds the stdout
        // lock for the life of the gateway, so criterion's next report line would block.
        g.bench_function(BenchmarkId::new("reload_one_changed", n), |b| {
            b.iter(|| {
                let s = translate(&load(black_box(&dir_b)));
                compiler.compile(s, Some(&previous)).expect("compiles")
            })
        });
    }
    g.finish();
}

criterion_group!(benches, config_path);
criterion_main!(benches);
