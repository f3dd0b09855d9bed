//! Services: endpoints and how to talk to them, with every default filled in.

use std::collections::BTreeMap;
use std::time::Duration;

use tollgate_ir as ir;
use tollgate_model::native::{self, Service};

use crate::problems::{At, Problems, Scope};
use crate::syntax;

mod resilience;

/// Connect timeout when a service sets none.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Request timeout (request sent to response head) when a service sets none.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Idle timeout for streamed bodies and upgraded connections when a service sets none.
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// Connections per endpoint when no circuit breaker sets a limit.
pub(crate) const MAX_CONNECTIONS_PER_ENDPOINT: u32 = 1024;

/// Every service by name. With duplicate names (already reported) the first one wins.
pub(crate) fn translate(
    services: &[At<'_, Service>],
    p: &mut Problems<'_>,
) -> BTreeMap<String, ir::Service> {
    let mut out = BTreeMap::new();
    for at in services {
        let service = service(*at, p);
        out.entry(service.name.clone()).or_insert(service);
    }
    out
}

fn service(at: At<'_, Service>, p: &mut Problems<'_>) -> ir::Service {
    let s = at.item;
    let mut cx = Scope::new("service", &s.name, at.doc, p);
    let timeouts = s.timeouts.as_ref();
    let connect_timeout = cx.positive(
        "timeouts.connect",
        timeouts.and_then(|t| t.connect),
        CONNECT_TIMEOUT,
    );
    let request_timeout = cx.positive(
        "timeouts.request",
        timeouts.and_then(|t| t.request),
        REQUEST_TIMEOUT,
    );
    let idle_timeout = cx.positive("timeouts.idle", timeouts.and_then(|t| t.idle), IDLE_TIMEOUT);
    let max_connections_per_endpoint = cx.at_least_one(
        "circuit_breaker.max_connections",
        s.circuit_breaker.as_ref().and_then(|c| c.max_connections),
        MAX_CONNECTIONS_PER_ENDPOINT,
    );
    ir::Service {
        name: s.name.value.clone(),
        endpoints: endpoints(s, &mut cx),
        protocol: match s.protocol {
            native::UpstreamProtocol::Http => ir::UpstreamProtocol::Http,
            native::UpstreamProtocol::H2c => ir::UpstreamProtocol::H2c,
            native::UpstreamProtocol::Https => ir::UpstreamProtocol::Https,
            native::UpstreamProtocol::H2 => ir::UpstreamProtocol::H2,
        },
        tls: crate::tls::upstream(s, &mut cx),
        load_balancer: load_balancer(s, &mut cx),
        health_check: s
            .health_check
            .as_ref()
            .map(|h| resilience::health_check(h, &mut cx)),
        outlier_detection: resilience::outlier_detection(s.outlier_detection.as_ref(), &mut cx),
        connect_timeout,
        request_timeout,
        idle_timeout,
        retries: resilience::retries(s.retries.as_ref(), &mut cx),
        max_connections_per_endpoint,
    }
}

/// Canonical endpoints. The same endpoint twice is refused: it would silently get twice
/// the traffic.
fn endpoints(s: &Service, cx: &mut Scope<'_, '_>) -> Vec<String> {
    if s.endpoints.is_empty() {
        cx.here("endpoints is empty; list at least one host:port");
    }
    let mut out: Vec<String> = Vec::with_capacity(s.endpoints.len());
    for e in &s.endpoints {
        let pos = cx.pos_of(e);
        match syntax::endpoint(&e.value) {
            Ok(canon) if out.contains(&canon) => {
                cx.push(pos, format_args!("endpoint {canon:?} is listed twice"));
            }
            Ok(canon) => out.push(canon),
            Err(msg) => cx.push(pos, msg),
        }
    }
    out
}

fn load_balancer(s: &Service, cx: &mut Scope<'_, '_>) -> ir::LoadBalancer {
    use native::LoadBalancer as Lb;
    let lb = match s.load_balancer {
        Lb::RoundRobin => ir::LoadBalancer::RoundRobin,
        Lb::LeastRequest => ir::LoadBalancer::LeastRequest,
        Lb::Random => ir::LoadBalancer::Random,
        Lb::ConsistentHash => {
            return ir::LoadBalancer::ConsistentHash(hash_on(s.hash_on.as_ref(), cx));
        }
    };
    // A key that nothing reads is a sign the balancer is not the one intended.
    if s.hash_on.is_some() {
        let name = match s.load_balancer {
            Lb::RoundRobin => "round_robin",
            Lb::LeastRequest => "least_request",
            Lb::Random => "random",
            Lb::ConsistentHash => "consistent_hash",
        };
        cx.here(format_args!(
            "hash_on only applies to load_balancer: consistent_hash (this service uses {name})"
        ));
    }
    lb
}

fn hash_on(h: Option<&native::HashOn>, cx: &mut Scope<'_, '_>) -> ir::HashOn {
    match h {
        None | Some(native::HashOn::ClientIp) => ir::HashOn::ClientIp,
        Some(native::HashOn::Path) => ir::HashOn::Path,
        Some(native::HashOn::Header(name)) => match syntax::header_name(name) {
            Ok(name) => ir::HashOn::Header(name),
            Err(e) => {
                cx.here(format_args!("hash_on.header: {e}"));
                ir::HashOn::ClientIp
            }
        },
    }
}
