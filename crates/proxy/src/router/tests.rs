use super::*;

#[test]
fn prefix_is_segment_wise() {
    assert!(prefix_matches("/orders", "/orders"));
    assert!(prefix_matches("/orders", "/orders/1"));
    assert!(!prefix_matches("/orders", "/ordersx"));
    assert!(prefix_matches("", "/anything"));
}

#[test]
fn query_values_are_decoded() {
    assert_eq!(query_value("a=1&v=2", "v").as_deref(), Some("2"));
    assert_eq!(query_value("v=a%20b", "v").as_deref(), Some("a b"));
    assert_eq!(query_value("v", "v").as_deref(), Some(""));
    assert_eq!(query_value("x=1", "v"), None);
    assert_eq!(query_value("v=%zz", "v").as_deref(), Some("%zz"));
    assert_eq!(query_value("v=%4", "v").as_deref(), Some("%4"));
}

/// A route answering directly, so no upstream is needed.
fn direct(name: &str, path: ir::PathMatch, headers: &[(&str, &str)]) -> ir::Route {
    ir::Route {
        name: name.into(),
        matches: ir::RouteMatch {
            path,
            headers: headers
                .iter()
                .map(|&(n, v)| ir::ValueMatch {
                    name: n.into(),
                    value: ir::StringMatch::Exact(v.into()),
                })
                .collect(),
            ..ir::RouteMatch::default()
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

#[test]
fn big_hosts_are_indexed_small_ones_scanned_with_the_same_answers() {
    use ir::PathMatch::{Exact, Prefix, Regex};
    // In the translator's order: exact, regex, then longer prefixes first.
    let mut big = vec![
        direct("healthz", Exact("/healthz".into()), &[]),
        direct("item", Regex("/api/items/[0-9]+".into()), &[]),
        direct("canary", Prefix("/api/orders".into()), &[("x-canary", "1")]),
    ];
    big.extend((0..30).map(|i| direct(&format!("p{i}"), Prefix(format!("/p{i}")), &[])));
    big.push(direct("orders", Prefix("/api/orders".into()), &[]));
    big.push(direct("api", Prefix("/api".into()), &[]));
    big.push(direct("root", Prefix("/".into()), &[]));
    let small = big[..3].to_vec();
    let vhost = |host: &str, routes| ir::VirtualHost {
        host: host.into(),
        routes,
    };
    let listener = ir::Listener {
        name: "web".into(),
        address: "127.0.0.1:8080".parse().expect("an address"),
        protocol: ir::ListenerProtocol::Http,
        tls: None,
        redirect_to_https: None,
        rate_limits: Vec::new(),
        virtual_hosts: vec![vhost("big", big), vhost("small", small)],
    };
    let metrics = Metrics::default();
    let mut pol = crate::policy::PolicyCompiler::new(None, &metrics, false);
    let t =
        RouteTable::compile(&listener, &metrics, &Upstreams::new(), &mut pol).expect("compiles");
    assert!(t.vhosts[0].index.is_some() && t.vhosts[1].index.is_none());

    let mut canary = http::HeaderMap::new();
    canary.insert("x-canary", http::HeaderValue::from_static("1"));
    let plain = http::HeaderMap::new();
    for (host, path, headers, want) in [
        ("big", "/healthz", &plain, Some("healthz")),
        ("big", "/healthz/x", &plain, Some("root")),
        ("big", "/api/items/42", &plain, Some("item")),
        ("big", "/api/items/x", &plain, Some("api")),
        ("big", "/api/orders/1", &canary, Some("canary")),
        ("big", "/api/orders/1", &plain, Some("orders")),
        ("big", "/api/ordersx", &plain, Some("api")),
        ("big", "/p29/a/b", &plain, Some("p29")),
        ("big", "/p3", &plain, Some("p3")),
        ("big", "/p30", &plain, Some("root")),
        ("small", "/api/orders/1", &canary, Some("canary")),
        ("small", "/p3", &plain, None),
    ] {
        let found = t.find(host, &Method::GET, path, None, headers);
        let scanned = t.find_linear(host, &Method::GET, path, None, headers);
        assert_eq!(found.map(|r| &*r.name), want, "{host} {path}");
        assert_eq!(scanned.map(|r| &*r.name), want, "{host} {path} (scan)");
    }
}
