//! IR builders shared by the router benches: routes, services and the one listener they
//! hang off. Everything here is plain `ir` data; the benches compile it with the real
//! runtime compiler.

#![allow(dead_code)] // each bench target uses a different subset

use std::time::Duration;

use http::{HeaderMap, HeaderValue};
use tollgate_ir as ir;

/// A forwarding route to `svc` with a path and header conditions, no filters.
pub(crate) fn route(
    name: String,
    path: ir::PathMatch,
    headers: Vec<ir::ValueMatch>,
    svc: String,
) -> ir::Route {
    ir::Route {
        name,
        matches: ir::RouteMatch {
            path,
            methods: Vec::new(),
            headers,
            query: Vec::new(),
        },
        filters: ir::Filters::default(),
        action: ir::Action::Forward(vec![ir::WeightedBackend {
            service: svc,
            weight: 1,
            filters: ir::Filters::default(),
            respond: None,
        }]),
        timeout: None,
        backend_timeout: None,
        policies: None,
    }
}

/// An exact header condition.
pub(crate) fn header(name: &str, value: &str) -> ir::ValueMatch {
    ir::ValueMatch {
        name: name.into(),
        value: ir::StringMatch::Exact(value.into()),
    }
}

/// A plain HTTP service with two endpoints derived from `i`.
pub(crate) fn service(name: &str, i: usize) -> ir::Service {
    ir::Service {
        name: name.to_owned(),
        endpoints: vec![
            format!("10.{}.{}.1:8080", i / 250 % 250, i % 250),
            format!("10.{}.{}.2:8080", i / 250 % 250, i % 250),
        ],
        protocol: ir::UpstreamProtocol::Http,
        load_balancer: ir::LoadBalancer::RoundRobin,
        health_check: None,
        outlier_detection: ir::OutlierDetection::default(),
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(30),
        idle_timeout: Duration::from_secs(300),
        retries: ir::Retries::default(),
        max_connections_per_endpoint: 1024,
        tls: None,
    }
}

/// Adds the one listener `web` (plain HTTP) with these virtual hosts to `snap`.
pub(crate) fn add_listener(snap: &mut ir::Snapshot, virtual_hosts: Vec<ir::VirtualHost>) {
    snap.listeners.insert(
        "web".into(),
        ir::Listener {
            name: "web".into(),
            address: "127.0.0.1:8080".parse().expect("a valid address"),
            protocol: ir::ListenerProtocol::Http,
            tls: None,
            redirect_to_https: None,
            rate_limits: Vec::new(),
            virtual_hosts,
        },
    );
}

/// Headers a browser or SDK sends anyway: the matcher sees them on every request.
pub(crate) fn common_headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in [
        ("user-agent", "bench/1.0"),
        ("accept", "application/json"),
        ("accept-encoding", "gzip, br"),
        ("x-request-id", "3f2b8c1e-bench"),
        ("authorization", "Bearer abc.def.ghi"),
    ] {
        h.insert(k, HeaderValue::from_static(v));
    }
    h
}
