//! Route matching: the cost of one `RouteTable::find`, by table size and request kind.
//!
//! `cargo bench -p tollgate-proxy --bench router` (add `-- --warm-up-time 1
//! --measurement-time 3` for a quick run). See bench/README.md, "Micro-benchmarks".
//!
//! The tables are `ir::Snapshot`s built here in code, compiled by the real runtime
//! compiler (`bench_api::Compiler`). Building IR directly keeps this bench free of the
//! translator (the proxy must not depend on it), so the routes of each virtual host are
//! written here in the order the translator's precedence rule would sort them (exact, then
//! regex, then prefix; equal prefixes: more header conditions first; then written order).
//! Each lookup's result is checked before it is timed, so a wrong order or a broken
//! table fails the bench instead of timing the wrong thing.
//!
//! Two layouts of the same N routes:
//! - `wide`: N/100 hosts of 100 routes (2 hosts of 5 for N = 10): a multi-tenant or
//!   multi-API gateway;
//! - `deep`: 2 hosts of N/2 routes: one big API on one host (the matcher's worst case).
//!
//! Every 10th host, and the last one, is a wildcard (`*.hNNNN.example.com`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::hint::black_box;

use common::{add_listener, common_headers, route, service};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use http::{HeaderMap, HeaderValue, Method};
use tollgate_ir as ir;
use tollgate_proxy::Runtime;
use tollgate_proxy::bench_api::{self, Compiler};

/// Table sizes, in routes.
const SIZES: [usize; 3] = [10, 1_000, 10_000];

/// How N routes are spread over hosts.
#[derive(Clone, Copy)]
enum Layout {
    Wide,
    Deep,
}

impl Layout {
    fn name(self) -> &'static str {
        match self {
            Self::Wide => "wide",
            Self::Deep => "deep",
        }
    }

    /// (hosts, routes per host).
    fn shape(self, n: usize) -> (usize, usize) {
        let hosts = match self {
            Self::Wide => (n / 100).max(2),
            Self::Deep => 2,
        };
        (hosts, n / hosts)
    }
}

/// The kinds of routes in one virtual host of `r` routes, in precedence order.
struct VhostShape {
    /// Regex-path routes (`/api/v1/rNNNN/items/[0-9]+`), 5 %.
    regex: usize,
    /// Header-matched canary routes (`/api/v1/sNNNN` + `x-canary: always`), 5 %.
    canary: usize,
    /// Plain prefix routes (`/api/v1/sNNNN`), the rest after the one exact `/healthz`.
    prefix: usize,
}

impl VhostShape {
    fn of(r: usize) -> Self {
        let regex = (r / 20).max(1);
        let canary = (r / 20).max(1);
        Self {
            regex,
            canary,
            prefix: r - 1 - regex - canary,
        }
    }
}

fn host_name(i: usize, hosts: usize) -> String {
    if i % 10 == 9 || i == hosts - 1 {
        format!("*.h{i:04}.example.com")
    } else {
        format!("h{i:04}.example.com")
    }
}

/// One listener `web`; one service per 10 routes of a host.
fn snapshot(layout: Layout, n: usize) -> ir::Snapshot {
    let (hosts, per_host) = layout.shape(n);
    let shape = VhostShape::of(per_host);
    let mut snap = ir::Snapshot::default();
    let mut virtual_hosts = Vec::with_capacity(hosts);
    for h in 0..hosts {
        let mut routes = Vec::with_capacity(per_host);
        let svc = |k: usize| format!("svc-h{h:04}-{:03}", k / 10);
        routes.push(route(
            format!("h{h:04}/healthz"),
            ir::PathMatch::Exact("/healthz".into()),
            Vec::new(),
            svc(0),
        ));
        for k in 0..shape.regex {
            routes.push(route(
                format!("h{h:04}/regex-{k:04}"),
                ir::PathMatch::Regex(format!("/api/v1/r{k:04}/items/[0-9]+")),
                Vec::new(),
                svc(k),
            ));
        }
        for k in 0..shape.canary {
            routes.push(route(
                format!("h{h:04}/canary-{k:04}"),
                ir::PathMatch::Prefix(format!("/api/v1/s{k:04}")),
                vec![common::header("x-canary", "always")],
                svc(k),
            ));
        }
        for k in 0..shape.prefix {
            routes.push(route(
                format!("h{h:04}/svc-{k:04}"),
                ir::PathMatch::Prefix(format!("/api/v1/s{k:04}")),
                Vec::new(),
                svc(k),
            ));
        }
        for k in (0..per_host).step_by(10) {
            let name = svc(k);
            let i = snap.services.len();
            snap.services.insert(name.clone(), service(&name, i));
        }
        virtual_hosts.push(ir::VirtualHost {
            host: host_name(h, hosts),
            routes,
        });
    }
    add_listener(&mut snap, virtual_hosts);
    snap
}

/// One request to look up, and the route it must find.
struct Request {
    kind: &'static str,
    host: String,
    path: String,
    headers: HeaderMap,
    expect: Option<String>,
}

/// The request kinds: first route, a late route, a regex route, a header-matched route,
/// a wildcard host, a 404 on a known host and a 404 on an unknown host. The known-host
/// 404 is a near miss (`/api/v2/…`, a version that does not exist): a path shorter than
/// every route's is rejected by length checks alone and would flatter the matcher.
fn requests(layout: Layout, n: usize) -> Vec<Request> {
    let (hosts, per_host) = layout.shape(n);
    let s = VhostShape::of(per_host);
    let exact = "h0000.example.com".to_owned();
    let last = hosts - 1; // always a wildcard, and the last one the matcher tries
    let req = |kind, host: &str, path: String, expect: Option<String>| Request {
        kind,
        host: host.to_owned(),
        path,
        headers: common_headers(),
        expect,
    };
    let mut canary = req(
        "header",
        &exact,
        format!("/api/v1/s{:04}/orders/42", s.canary - 1),
        Some(format!("h0000/canary-{:04}", s.canary - 1)),
    );
    canary
        .headers
        .insert("x-canary", HeaderValue::from_static("always"));
    vec![
        req(
            "first",
            &exact,
            "/healthz".into(),
            Some("h0000/healthz".into()),
        ),
        req(
            "late",
            &exact,
            format!("/api/v1/s{:04}/orders/42", s.prefix - 1),
            Some(format!("h0000/svc-{:04}", s.prefix - 1)),
        ),
        req(
            "regex",
            &exact,
            format!("/api/v1/r{:04}/items/12345", s.regex - 1),
            Some(format!("h0000/regex-{:04}", s.regex - 1)),
        ),
        canary,
        req(
            "wildcard",
            &format!("acme.h{last:04}.example.com"),
            "/healthz".into(),
            Some(format!("h{last:04}/healthz")),
        ),
        req("miss", &exact, "/api/v2/orders/42".into(), None),
        req("miss_host", "unknown.example.org", "/healthz".into(), None),
    ]
}

fn lookup<'a>(rt: &'a Runtime, r: &Request) -> Option<&'a str> {
    bench_api::find(rt, "web", &r.host, &Method::GET, &r.path, None, &r.headers)
}

fn bench_layout(c: &mut Criterion, layout: Layout) {
    let mut group = c.benchmark_group(format!("router/{}", layout.name()));
    group.throughput(Throughput::Elements(1));
    for n in SIZES {
        // 10 routes is the same table in both layouts: measured once, under `wide`.
        if matches!(layout, Layout::Deep) && n == SIZES[0] {
            continue;
        }
        let rt = Compiler::new()
            .compile(snapshot(layout, n), None)
            .expect("the generated snapshot compiles");
        for r in requests(layout, n) {
            assert_eq!(
                lookup(&rt, &r),
                r.expect.as_deref(),
                "{} request, {n} routes",
                r.kind
            );
            group.bench_with_input(BenchmarkId::new(r.kind, n), &r, |b, r| {
                b.iter(|| lookup(black_box(&rt), black_box(r)).is_some());
            });
        }
    }
    group.finish();
}

fn router(c: &mut Criterion) {
    bench_layout(c, Layout::Wide);
    bench_layout(c, Layout::Deep);
}

criterion_group!(benches, router);
criterion_main!(benches);
