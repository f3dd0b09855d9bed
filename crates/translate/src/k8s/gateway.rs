//! GatewayClasses and Gateways: which Gateways are ours, their listeners checked one by
//! one (protocol, port, hostname, TLS, allowed routes) and against each other (listeners
//! sharing a port must agree on the protocol and differ in hostname), and their statuses.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use tollgate_ir as ir;
use tollgate_model::k8s::Gateway;
use tollgate_model::k8s::gateway_api::gateways::{
    GatewayListeners, GatewayListenersAllowedRoutesNamespacesFrom as From,
    GatewayListenersAllowedRoutesNamespacesSelector as Selector, GatewayListenersTlsMode,
};

use super::index::{GATEWAY_GROUP, Index, Meta, by_age};
use super::reasons::{self, reason};
use super::status::{Condition, ObjectStatus, StatusUpdate};
use super::{Options, tls};
use crate::syntax;

/// The route kinds a listener can take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum RouteKind {
    Http,
    Grpc,
}

impl RouteKind {
    pub(crate) fn kind(self) -> &'static str {
        match self {
            Self::Http => "HTTPRoute",
            Self::Grpc => "GRPCRoute",
        }
    }
}

/// Which namespaces' routes a listener takes.
pub(crate) enum Namespaces<'a> {
    Same,
    All,
    Selector(&'a Selector),
}

/// A `(reason, message)` for a condition that is False.
pub(crate) type Why = (&'static str, String);

/// One listener of one of our Gateways, checked.
pub(crate) struct Listener<'a> {
    pub(crate) name: &'a str,
    pub(crate) port: u16,
    /// `None`: not a protocol Tollgate serves.
    pub(crate) protocol: Option<ir::ListenerProtocol>,
    /// Lower case; `None` matches any host.
    pub(crate) hostname: Option<String>,
    /// Certificates of an HTTPS listener (the valid ones).
    pub(crate) certificates: Vec<ir::CertKeyPem>,
    pub(crate) kinds: Vec<RouteKind>,
    pub(crate) namespaces: Namespaces<'a>,
    pub(crate) accepted: Result<(), Why>,
    pub(crate) resolved_refs: Result<(), Why>,
    pub(crate) conflicted: Option<Why>,
    /// Routes attached (filled in by attachment).
    pub(crate) attached: i32,
}

impl Listener<'_> {
    /// Does the listener produce data-plane configuration?
    pub(crate) fn programmed(&self) -> bool {
        self.accepted.is_ok()
            && self.conflicted.is_none()
            && match self.protocol {
                Some(ir::ListenerProtocol::Http) => true,
                Some(ir::ListenerProtocol::Https) => !self.certificates.is_empty(),
                None => false,
            }
    }
}

/// One of our Gateways.
pub(crate) struct Gw<'a> {
    pub(crate) obj: &'a Gateway,
    pub(crate) listeners: Vec<Listener<'a>>,
}

/// GatewayClass statuses, and the names of the classes that are ours.
pub(crate) fn classes(idx: &Index<'_>, opts: &Options) -> (Vec<String>, Vec<StatusUpdate>) {
    let mut ours = Vec::new();
    let mut statuses = Vec::new();
    for c in by_age(&idx.res.gateway_classes) {
        if c.spec.controller_name != opts.controller_name {
            continue;
        }
        ours.push(c.name().to_owned());
        statuses.push(StatusUpdate {
            kind: "GatewayClass".to_owned(),
            namespace: None,
            name: c.name().to_owned(),
            generation: c.generation(),
            status: ObjectStatus::GatewayClass {
                conditions: vec![Condition::new(
                    reasons::ACCEPTED,
                    true,
                    reason::ACCEPTED,
                    "handled by Tollgate",
                    c.generation(),
                )],
            },
        });
    }
    (ours, statuses)
}

/// Our Gateways (their class is ours), oldest first, listeners checked. `taken`: addresses
/// already bound by native listeners.
pub(crate) fn gateways<'a>(
    idx: &Index<'a>,
    opts: &Options,
    classes: &[String],
    taken: &[SocketAddr],
) -> Vec<Gw<'a>> {
    let mut gws: Vec<Gw<'a>> = by_age(&idx.res.gateways)
        .into_iter()
        .filter(|g| classes.contains(&g.spec.gateway_class_name))
        .map(|g| Gw {
            obj: g,
            listeners: g
                .spec
                .listeners
                .iter()
                .map(|l| listener(g, l, idx, opts, taken))
                .collect(),
        })
        .collect();
    conflicts(&mut gws);
    gws
}

fn listener<'a>(
    g: &'a Gateway,
    l: &'a GatewayListeners,
    idx: &Index<'a>,
    opts: &Options,
    taken: &[SocketAddr],
) -> Listener<'a> {
    let mut accepted = Ok(());
    let port = u16::try_from(l.port).ok().filter(|p| *p > 0);
    let port = port.unwrap_or_else(|| {
        accepted = Err((
            reason::PORT_UNAVAILABLE,
            format!("port {} is not from 1 to 65535", l.port),
        ));
        0
    });
    let address = SocketAddr::new(opts.bind_address, port);
    if accepted.is_ok() && taken.iter().any(|t| clashes(*t, address)) {
        accepted = Err((
            reason::PORT_UNAVAILABLE,
            format!("port {port} is used by a listener of the native configuration"),
        ));
    }
    let passthrough = l
        .tls
        .as_ref()
        .and_then(|t| t.mode.as_ref())
        .is_some_and(|m| *m == GatewayListenersTlsMode::Passthrough);
    let protocol = match l.protocol.as_str() {
        "HTTP" => Some(ir::ListenerProtocol::Http),
        "HTTPS" if !passthrough => Some(ir::ListenerProtocol::Https),
        other => {
            if accepted.is_ok() {
                accepted = Err((
                    reason::UNSUPPORTED_PROTOCOL,
                    format!(
                        "protocol {other}{} is not supported; use HTTP or HTTPS (TLS terminated here)",
                        if passthrough {
                            " with TLS passthrough"
                        } else {
                            ""
                        }
                    ),
                ));
            }
            None
        }
    };
    let hostname = l.hostname.as_deref().and_then(|h| match syntax::host_pattern(h) {
        Ok(h) if h != "*" => Some(h),
        Ok(_) | Err(_) => {
            if accepted.is_ok() {
                accepted = Err((
                    reason::INVALID,
                    format!(
                        "hostname {h:?} is not a host name or a *.suffix wildcard; remove it to match any host"
                    ),
                ));
            }
            None
        }
    });
    let (mut kinds, mut resolved_refs) = kinds(l);
    if protocol.is_none() {
        // No route kind can be served on a protocol Tollgate does not speak.
        kinds.clear();
    }
    let mut certificates = Vec::new();
    if protocol == Some(ir::ListenerProtocol::Https) {
        let (certs, refs) = tls::certificates(g, l, idx);
        certificates = certs;
        if resolved_refs.is_ok() {
            resolved_refs = refs;
        }
    }
    let namespaces = match l
        .allowed_routes
        .as_ref()
        .and_then(|a| a.namespaces.as_ref())
    {
        None => Namespaces::Same,
        Some(n) => match (&n.from, &n.selector) {
            (Some(From::All), _) => Namespaces::All,
            (Some(From::Selector), Some(s)) => Namespaces::Selector(s),
            // A selector policy without a selector selects nothing we can name: the
            // narrowest reading, like `Same`.
            (Some(From::Selector), None) | (Some(From::Same) | None, _) => Namespaces::Same,
        },
    };
    Listener {
        name: &l.name,
        port,
        protocol,
        hostname,
        certificates,
        kinds,
        namespaces,
        accepted,
        resolved_refs,
        conflicted: None,
        attached: 0,
    }
}

/// Two binds collide when the ports match and either address is a wildcard or they are
/// equal.
fn clashes(a: SocketAddr, b: SocketAddr) -> bool {
    a.port() == b.port() && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
}

/// The route kinds a listener takes: HTTPRoute and GRPCRoute unless `allowedRoutes.kinds`
/// narrows them; a kind Tollgate does not serve makes ResolvedRefs False.
fn kinds(l: &GatewayListeners) -> (Vec<RouteKind>, Result<(), Why>) {
    let Some(list) = l.allowed_routes.as_ref().and_then(|a| a.kinds.as_ref()) else {
        return (vec![RouteKind::Http, RouteKind::Grpc], Ok(()));
    };
    let mut kinds = Vec::new();
    let mut invalid = Vec::new();
    for k in list {
        let group = k.group.as_deref().unwrap_or(GATEWAY_GROUP);
        match (group, k.kind.as_str()) {
            (GATEWAY_GROUP, "HTTPRoute") => kinds.push(RouteKind::Http),
            (GATEWAY_GROUP, "GRPCRoute") => kinds.push(RouteKind::Grpc),
            (g, kind) => invalid.push(format!("{g}/{kind}")),
        }
    }
    kinds.sort();
    kinds.dedup();
    let resolved = if invalid.is_empty() {
        Ok(())
    } else {
        Err((
            reason::INVALID_ROUTE_KINDS,
            format!(
                "route kinds not supported: {}; supported are HTTPRoute and GRPCRoute",
                invalid.join(", ")
            ),
        ))
    };
    (kinds, resolved)
}

/// Listeners share a port when they agree on the protocol and differ in hostname; the
/// oldest Gateway's listener (then the first in its list) keeps the port or hostname.
fn conflicts(gws: &mut [Gw<'_>]) {
    let mut ports: BTreeMap<u16, (Option<ir::ListenerProtocol>, Vec<Option<String>>)> =
        BTreeMap::new();
    for l in gws.iter_mut().flat_map(|g| g.listeners.iter_mut()) {
        if l.accepted.is_err() {
            continue;
        }
        let (protocol, hostnames) = ports
            .entry(l.port)
            .or_insert_with(|| (l.protocol, Vec::new()));
        if *protocol != l.protocol {
            l.conflicted = Some((
                reason::PROTOCOL_CONFLICT,
                format!(
                    "port {} is already used by a listener with another protocol",
                    l.port
                ),
            ));
        } else if hostnames.contains(&l.hostname) {
            l.conflicted = Some((
                reason::HOSTNAME_CONFLICT,
                format!(
                    "port {} already has a listener for {}",
                    l.port,
                    l.hostname.as_deref().unwrap_or("any hostname")
                ),
            ));
        } else {
            hostnames.push(l.hostname.clone());
        }
    }
}
