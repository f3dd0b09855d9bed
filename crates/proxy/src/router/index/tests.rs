//! The index must pick exactly the route the plain scan picks. Random tables (exact,
//! prefix and regex paths over a small vocabulary of segments, so that routes share
//! prefixes and overlap; methods, headers, query conditions) against random requests
//! (paths near the routes' paths, odd ones too), from a fixed seed.

use std::sync::Arc;

use http::{HeaderMap, HeaderValue, Method};
use tollgate_ir as ir;

use super::edges::{Edges, Segment};
use super::{Index, literal_prefix};
use crate::metrics::Metrics;
use crate::router::{Route, Upstreams};

/// SplitMix64: small, deterministic, good enough to pick test cases.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn segment(&mut self) -> &'static str {
        SEGMENTS[self.below(SEGMENTS.len())]
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Segments routes and requests are made of; few, so that they collide often. Some
/// are eight bytes or longer, or differ only in a late byte: the edge table reads
/// segments eight bytes at a time.
const SEGMENTS: [&str; 13] = [
    "a",
    "b",
    "ab",
    "api",
    "v1",
    "x",
    "",
    "42",
    "a.b",
    "abcdefgh",
    "abcdefgX",
    "abcdefgh1",
    "abcdefgh12345678",
];

/// A path of `0..max` segments; now and then with a trailing slash or without the
/// leading one.
fn path(rng: &mut Rng, max: usize) -> String {
    let mut p = String::new();
    for _ in 0..rng.below(max + 1) {
        p.push('/');
        p.push_str(rng.segment());
    }
    if p.is_empty() || rng.chance(10) {
        p.push('/');
    }
    if rng.chance(3) {
        p.remove(0);
    }
    p
}

/// A regex of one of the shapes people write, around a random path: literal prefixes
/// (whole segments or not), groups, alternations, quantifiers, classes, flags.
fn regex(rng: &mut Rng) -> String {
    let p = regex::escape(&path(rng, 3));
    let q = regex::escape(&path(rng, 2));
    match rng.below(12) {
        0 => format!("{p}/[0-9]+"),
        1 => format!("{p}(/.*)?"),
        2 => format!("(?i){p}"),
        3 => format!("{p}|{q}"),
        4 => format!("/(a|api)/{}", rng.segment()),
        5 => format!(".*{}", rng.segment()),
        6 => format!("{p}b?"),
        7 => format!("{p}[bx]/.*"),
        8 => format!("({p})*"),
        9 => format!("/a{{0,2}}{q}"),
        10 => format!("{p}.*"),
        _ => p,
    }
}

fn random_route(rng: &mut Rng, i: usize) -> ir::Route {
    let path = match rng.below(10) {
        0..=2 => ir::PathMatch::Exact(path(rng, 4)),
        3..=6 => ir::PathMatch::Prefix(path(rng, 4)),
        7 => ir::PathMatch::Template(if rng.chance(50) {
            format!("/{}/{{id}}", path(rng, 3).trim_start_matches('/'))
        } else {
            format!("/{}/{{id}}.json", path(rng, 3).trim_start_matches('/'))
        }),
        _ => ir::PathMatch::Regex(regex(rng)),
    };
    let methods = match rng.below(6) {
        0 => vec!["GET".to_owned()],
        1 => vec!["POST".to_owned(), "PUT".to_owned()],
        _ => Vec::new(),
    };
    let value = |rng: &mut Rng| match rng.below(3) {
        0 => ir::StringMatch::Regex("[12]".into()),
        n => ir::StringMatch::Exact(n.to_string()),
    };
    let headers = (0..rng.below(5).saturating_sub(2))
        .map(|_| ir::ValueMatch {
            name: rng.pick(&["x-t", "x-u"]).to_string(),
            value: value(rng),
        })
        .collect();
    let query = (0..rng.below(6).saturating_sub(4))
        .map(|_| ir::ValueMatch {
            name: "q".into(),
            value: value(rng),
        })
        .collect();
    ir::Route {
        name: format!("r{i}"),
        matches: ir::RouteMatch {
            path,
            methods,
            headers,
            query,
        },
        filters: ir::Filters::default(),
        action: ir::Action::Respond(ir::DirectResponse {
            status: 200,
            body: String::new(),
            ..ir::DirectResponse::default()
        }),
        timeout: None,
        backend_timeout: None,
        policies: None,
    }
}

/// A request path: one of a route's own (exact, prefix or regex source text, as is or
/// with a segment more), or a random one, deep now and then.
fn request_path(rng: &mut Rng, routes: &[ir::Route]) -> String {
    let depth = if rng.chance(10) { 24 } else { 5 };
    let mut p = match &rng.pick(routes).matches.path {
        _ if rng.chance(30) => path(rng, depth),
        ir::PathMatch::Exact(p) | ir::PathMatch::Prefix(p) => p.clone(),
        ir::PathMatch::Regex(_) => path(rng, 4),
        ir::PathMatch::Template(t) => t.replace("{id}", rng.segment()),
    };
    match rng.below(5) {
        0 => p.push_str("/42"),
        1 => p.push_str(rng.segment()),
        2 => p.push('/'),
        _ => {}
    }
    p
}

struct Request {
    method: Method,
    path: String,
    query: Option<&'static str>,
    headers: HeaderMap,
}

fn random_request(rng: &mut Rng, routes: &[ir::Route]) -> Request {
    let mut headers = HeaderMap::new();
    for name in ["x-t", "x-u"] {
        if let Some(v) = rng.pick(&[None, Some("1"), Some("2"), Some("3")]) {
            headers.insert(name, HeaderValue::from_static(v));
        }
    }
    Request {
        method: rng.pick(&[Method::GET, Method::POST, Method::PUT]).clone(),
        path: request_path(rng, routes),
        query: *rng.pick(&[
            None,
            Some("q=1"),
            Some("q=2&q=1"),
            Some("a=1"),
            Some("q=%31"),
        ]),
        headers,
    }
}

fn compile(routes: &[ir::Route]) -> Vec<Arc<Route>> {
    let metrics = Metrics::default();
    let mut pol = crate::policy::PolicyCompiler::new(None, &metrics, false);
    routes
        .iter()
        .map(|r| {
            Arc::new(
                Route::compile(r, &metrics, &Upstreams::new(), &mut pol)
                    .unwrap_or_else(|e| panic!("{:?} does not compile: {e}", r.matches.path)),
            )
        })
        .collect()
}

#[test]
fn index_picks_the_route_the_scan_picks() {
    let mut rng = Rng(0x7011_6a7e);
    let (mut lookups, mut matched) = (0, 0);
    for table in 0..600 {
        // Mostly above the index threshold; some big enough for the regex screen to
        // matter, a few tiny (the index must be right for any size).
        let n = match table % 10 {
            0 => 1 + rng.below(4),
            1 => 60 + rng.below(60),
            _ => 5 + rng.below(30),
        };
        let ir_routes: Vec<_> = (0..n).map(|i| random_route(&mut rng, i)).collect();
        let routes = compile(&ir_routes);
        let index = Index::build(&routes).expect("builds");
        for _ in 0..150 {
            let r = random_request(&mut rng, &ir_routes);
            let scan = routes
                .iter()
                .position(|route| route.matches(&r.method, &r.path, r.query, &r.headers));
            let found = index.find(&routes, &r.method, &r.path, r.query, &r.headers);
            assert_eq!(
                found,
                scan,
                "table {table}: {} {:?} query {:?} headers {:?}\nroutes: {:#?}",
                r.method,
                r.path,
                r.query,
                r.headers,
                ir_routes.iter().map(|r| &r.matches).collect::<Vec<_>>()
            );
            lookups += 1;
            matched += usize::from(scan.is_some());
        }
    }
    // The generator must exercise both outcomes, or the test proves little.
    assert!(
        matched > lookups / 4 && matched < lookups * 3 / 4,
        "{matched}/{lookups}"
    );
}

#[test]
fn deep_paths_beyond_the_trail() {
    let deep = |k: usize| "/a".repeat(k);
    let ir_routes: Vec<_> = [30, 20, 17, 16, 3, 0]
        .iter()
        .enumerate()
        .map(|(i, &k)| {
            let mut r = random_route(&mut Rng(1), i);
            r.matches = ir::RouteMatch {
                path: ir::PathMatch::Prefix(deep(k)),
                ..ir::RouteMatch::default()
            };
            r
        })
        .collect();
    let routes = compile(&ir_routes);
    let index = Index::build(&routes).expect("builds");
    let h = HeaderMap::new();
    for (k, want) in [
        (40, 0),
        (30, 0),
        (29, 1),
        (18, 2),
        (17, 2),
        (16, 3),
        (5, 4),
        (1, 5),
    ] {
        let found = index.find(&routes, &Method::GET, &deep(k), None, &h);
        assert_eq!(found, Some(want), "depth {k}");
    }
}

#[test]
fn literal_prefixes() {
    let anchored = |p: &str| format!("^(?:{p})$");
    for (pattern, want) in [
        ("/api/v1/[0-9]+", Some("/api/v1/")),
        ("/re7/[0-9]+", Some("/re7/")),
        ("/a|/b", Some("/")),
        ("/api/(v1|v2)/x", Some("/api/v")),
        ("(?i)/api", Some("/")),
        ("/ab?", Some("/a")),
        ("(/a)*", Some("")),
        (".*", None),
    ] {
        assert_eq!(
            literal_prefix(&anchored(pattern)).as_deref(),
            want,
            "{pattern}"
        );
    }
}

#[test]
fn a_segment_hashes_the_same_wherever_it_ends() {
    for seg in SEGMENTS {
        let alone = Segment::scan(seg.as_bytes());
        assert_eq!(alone.bytes, seg.as_bytes());
        for tail in ["/", "/x", "/abcdefgh/y"] {
            let path = format!("{seg}{tail}");
            let s = Segment::scan(path.as_bytes());
            assert_eq!(s.bytes, seg.as_bytes(), "{path}");
            assert_eq!((s.hash, s.head), (alone.hash, alone.head), "{path}");
        }
    }
}

#[test]
fn an_edge_needs_equal_bytes_not_just_an_equal_hash() {
    let edges = Edges::new(vec![(0, "abcdefgh1".into(), 1), (0, "abcdefgh".into(), 2)]);
    let found = |s: &str| edges.child(0, &Segment::scan(s.as_bytes()));
    assert_eq!(
        (found("abcdefgh1"), found("abcdefgh"), found("abc")),
        (Some(1), Some(2), None)
    );
    // A segment forged to collide in hash (and head) with a stored one.
    let forged = |stored: &str, bytes: &'static str| {
        let s = Segment::scan(stored.as_bytes());
        Segment {
            bytes: bytes.as_bytes(),
            ..s
        }
    };
    // Past eight bytes the bytes themselves are compared...
    assert_eq!(edges.child(0, &forged("abcdefgh1", "abcdefgh2")), None);
    // ...up to eight, the head is the bytes.
    let mut short = forged("abcdefgh", "abcdefgX");
    short.head = Segment::scan(b"abcdefgX").head;
    assert_eq!(edges.child(0, &short), None);
    assert_eq!(edges.child(1, &Segment::scan(b"abcdefgh")), None);
}
