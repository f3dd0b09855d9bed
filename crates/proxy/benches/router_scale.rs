//! Route matching in the table layout of `bench/run.sh` (`bench/routes.py`), from 10 to
//! 10,000 routes, and the crossover between the plain scan and the per-host index.
//!
//! `cargo bench -p tollgate-proxy --bench router_scale` (add `-- --warm-up-time 1
//! --measurement-time 3` for a quick run). See bench/README.md, "Micro-benchmarks".
//!
//! Route `i` is, by `i % 10`: 4 → whole-path regex `/reJ/[0-9]+`, 7 → prefix `/hJ` plus
//! header `x-tenant: tI`, else prefix `/pJ` (`J`: its position in its host). Each host's
//! routes are sorted here by the translator's precedence rule (regex before prefix,
//! longer first, more headers first, then written order).
//!
//! - `router/harness`: at most 100 routes per host and at least 2 hosts, as
//!   `routes.py` (10 → 2 × 5, 1k → 10 × 100, 10k → 100 × 100); requests on the last host.
//! - `router/harness_one`: all 10,000 routes on one host.
//! - `router/crossover`: one host of `k` routes; one iteration looks up every route's own
//!   request once plus one 404, by `find` (`indexed`) and by the plain scan
//!   (`linear`); divide by `k + 1` for the time per lookup.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::cmp::Reverse;
use std::hint::black_box;

use common::{add_listener, common_headers, header, route, service};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use http::{HeaderMap, HeaderValue, Method};
use tollgate_ir as ir;
use tollgate_proxy::Runtime;
use tollgate_proxy::bench_api::{self, Compiler};

/// What route `i` of the table is (`routes.py`'s `kind_of`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Prefix,
    Regex,
    Header,
}

fn kind_of(i: usize) -> Kind {
    match i % 10 {
        4 => Kind::Regex,
        7 => Kind::Header,
        _ => Kind::Prefix,
    }
}

/// One route of the abstract table, and a request it (and only it) matches.
struct Entry {
    name: String,
    kind: Kind,
    route: ir::Route,
    request: Request,
}

/// One request to look up, and the route it must find.
struct Request {
    host: String,
    path: String,
    headers: HeaderMap,
    expect: Option<String>,
}

fn host_name(h: usize) -> String {
    format!("h{h}.bench.local")
}

/// Host `h`'s routes `first..first + count`, in precedence order.
fn host_routes(h: usize, first: usize, count: usize) -> Vec<Entry> {
    let mut out: Vec<_> = (first..first + count)
        .map(|i| {
            let j = i - first;
            let name = format!("r{i}");
            let mut headers = common_headers();
            let (path, conds, request) = match kind_of(i) {
                Kind::Regex => (
                    ir::PathMatch::Regex(format!("/re{j}/[0-9]+")),
                    Vec::new(),
                    format!("/re{j}/12345"),
                ),
                Kind::Header => {
                    let tenant = format!("t{i}");
                    headers.insert("x-tenant", HeaderValue::from_str(&tenant).unwrap());
                    (
                        ir::PathMatch::Prefix(format!("/h{j}")),
                        vec![header("x-tenant", &tenant)],
                        format!("/h{j}/x"),
                    )
                }
                Kind::Prefix => (
                    ir::PathMatch::Prefix(format!("/p{j}")),
                    Vec::new(),
                    format!("/p{j}/x"),
                ),
            };
            Entry {
                kind: kind_of(i),
                route: route(name.clone(), path, conds, "echo".into()),
                request: Request {
                    host: host_name(h),
                    path: request,
                    headers,
                    expect: Some(name.clone()),
                },
                name,
            }
        })
        .collect();
    // The translator's precedence key (crates/translate/src/routes/precedence.rs).
    out.sort_by_key(|e| {
        let m = &e.route.matches;
        let (rank, len) = match &m.path {
            ir::PathMatch::Exact(_) => (0, 0),
            // This table has no templates; they would rank between exact and regex.
            ir::PathMatch::Template(t) => (1, t.chars().count()),
            ir::PathMatch::Regex(r) => (2, r.chars().count()),
            ir::PathMatch::Prefix(p) => (3, p.chars().count()),
        };
        (rank, Reverse(len), Reverse(m.headers.len()))
    });
    out
}

/// `hosts` hosts of `per_host` routes: the snapshot and each host's entries.
fn table(hosts: usize, per_host: usize) -> (ir::Snapshot, Vec<Vec<Entry>>) {
    let mut snap = ir::Snapshot::default();
    snap.services.insert("echo".into(), service("echo", 0));
    let all: Vec<Vec<Entry>> = (0..hosts)
        .map(|h| host_routes(h, h * per_host, per_host))
        .collect();
    let vhosts = all
        .iter()
        .enumerate()
        .map(|(h, es)| ir::VirtualHost {
            host: host_name(h),
            routes: es.iter().map(|e| e.route.clone()).collect(),
        })
        .collect();
    add_listener(&mut snap, vhosts);
    (snap, all)
}

/// A near miss on host `h`: a prefix route's shape, a name no route has.
fn miss(h: usize) -> Request {
    Request {
        host: host_name(h),
        path: "/p999999/x".into(),
        headers: common_headers(),
        expect: None,
    }
}

/// `routes.py`'s mix for one host: the first and last prefix route (by `J`), the last
/// regex route and the last header route, and a 404.
fn mix(h: usize, entries: Vec<Entry>) -> Vec<(&'static str, Request)> {
    let by_kind = |k: Kind| {
        let mut es: Vec<_> = entries.iter().filter(|e| e.kind == k).collect();
        es.sort_by_key(|e| e.name[1..].parse::<usize>().unwrap());
        es
    };
    let take = |e: &Entry| Request {
        host: e.request.host.clone(),
        path: e.request.path.clone(),
        headers: e.request.headers.clone(),
        expect: e.request.expect.clone(),
    };
    let (prefix, regex, hdr) = (
        by_kind(Kind::Prefix),
        by_kind(Kind::Regex),
        by_kind(Kind::Header),
    );
    let mut out = Vec::new();
    if let (Some(first), Some(last)) = (prefix.first(), prefix.last()) {
        out.push(("prefix_first", take(first)));
        out.push(("prefix_last", take(last)));
    }
    if let Some(r) = regex.last() {
        out.push(("regex", take(r)));
    }
    if let Some(r) = hdr.last() {
        out.push(("header", take(r)));
    }
    out.push(("miss", miss(h)));
    out
}

fn lookup<'a>(rt: &'a Runtime, r: &Request) -> Option<&'a str> {
    bench_api::find(rt, "web", &r.host, &Method::GET, &r.path, None, &r.headers)
}

fn lookup_linear<'a>(rt: &'a Runtime, r: &Request) -> Option<&'a str> {
    bench_api::find_linear(rt, "web", &r.host, &Method::GET, &r.path, None, &r.headers)
}

fn compile(snap: ir::Snapshot) -> Runtime {
    Compiler::new()
        .compile(snap, None)
        .expect("the generated snapshot compiles")
}

fn bench_mix(c: &mut Criterion, group: &str, sizes: &[(usize, usize)]) {
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements(1));
    for &(hosts, per_host) in sizes {
        let (snap, mut entries) = table(hosts, per_host);
        let rt = compile(snap);
        let last = entries.pop().expect("at least one host");
        for (kind, r) in mix(hosts - 1, last) {
            assert_eq!(lookup(&rt, &r), r.expect.as_deref(), "{kind}");
            assert_eq!(lookup_linear(&rt, &r), r.expect.as_deref(), "{kind}");
            g.bench_with_input(BenchmarkId::new(kind, hosts * per_host), &r, |b, r| {
                b.iter(|| lookup(black_box(&rt), black_box(r)).is_some());
            });
        }
    }
    g.finish();
}

fn crossover(c: &mut Criterion) {
    let mut g = c.benchmark_group("router/crossover");
    for k in [2, 4, 6, 8, 12, 16, 24, 32, 64] {
        let (snap, mut entries) = table(1, k);
        let rt = compile(snap);
        let mut reqs: Vec<Request> = entries
            .pop()
            .expect("one host")
            .into_iter()
            .map(|e| e.request)
            .collect();
        reqs.push(miss(0));
        g.throughput(Throughput::Elements(reqs.len() as u64));
        for r in &reqs {
            assert_eq!(lookup(&rt, r), r.expect.as_deref());
            assert_eq!(lookup_linear(&rt, r), r.expect.as_deref());
        }
        g.bench_with_input(BenchmarkId::new("indexed", k), &reqs, |b, reqs| {
            b.iter(|| {
                black_box(reqs)
                    .iter()
                    .filter(|r| lookup(black_box(&rt), r).is_some())
                    .count()
            });
        });
        g.bench_with_input(BenchmarkId::new("linear", k), &reqs, |b, reqs| {
            b.iter(|| {
                black_box(reqs)
                    .iter()
                    .filter(|r| lookup_linear(black_box(&rt), r).is_some())
                    .count()
            });
        });
    }
    g.finish();
}

fn router_scale(c: &mut Criterion) {
    bench_mix(c, "router/harness", &[(2, 5), (10, 100), (100, 100)]);
    bench_mix(c, "router/harness_one", &[(1, 10_000)]);
    crossover(c);
}

criterion_group!(benches, router_scale);
criterion_main!(benches);
