//! Kubernetes resources (Gateway API and Ingress) to IR listeners and services, plus the
//! status of every object this controller is responsible for.
//!
//! ```text
//!  Resources ──index──▶ GatewayClasses ours? ──▶ Gateways: listeners checked, conflicts
//!      │                                                    ▲ attachedRoutes
//!      └──▶ HTTPRoutes + GRPCRoutes, oldest first ──rules──┤──attach (parentRefs,
//!           (backendRefs → Services → EndpointSlices)      │  allowedRoutes, hostnames)
//!                                                          ▼
//!                      listeners sharing a port → one IR listener, virtual hosts by
//!                      hostname, routes in precedence order      + Ingresses
//! ```
//!
//! Pure, total and deterministic: no I/O, no clock, no panics, and no input is refused.
//! A mistake becomes a status condition with its reason, and where it affects traffic a
//! route answering 500 (Gateway API's rule), never a rejected configuration.
//!
//! Names are hierarchical and cannot collide with native ones (which may not start with
//! these prefixes): listeners `gw/<ns>/<gateway>/<listener>` (the first listener on the
//! port names the merged IR listener) and `ingress/http|https`, services
//! `svc/<ns>/<name>/<port>`, routes `httproute/<ns>/<name>/rule/<i>/match/<j>`,
//! `grpcroute/...` and `ingress/<ns>/<name>/rule/<i>/path/<j>`.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use tollgate_ir as ir;
use tollgate_model::Resources;

mod attach;
mod backends;
mod consumers;
mod credentials;
mod filters;
mod gateway;
mod gateway_status;
mod grpc_route;
mod hostnames;
mod http_route;
mod index;
mod ingress;
mod listeners;
mod policy;
mod policy_attach;
mod policy_cache;
mod policy_content;
mod policy_limits;
mod policy_oidc;
pub mod reasons;
mod route;
mod routes;
pub mod status;
mod tls;

pub use ingress::STRIP_PATH_ANNOTATION;
pub use status::{Condition, ObjectStatus, PolicyAncestorStatus, StatusUpdate};

use listeners::{Entry, Port};

/// Name prefixes of IR objects made from Kubernetes resources; native names may not use
/// them, so the two kinds of configuration can never clash.
pub const RESERVED_PREFIXES: &[&str] = &[
    "gw/",
    "svc/",
    "ingress/",
    "httproute/",
    "grpcroute/",
    "consumer/",
];

/// Translation settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Gateways are served when their GatewayClass names this controller.
    pub controller_name: String,
    /// Ingresses with this `ingressClassName` are served.
    pub ingress_class: String,
    /// ... and those whose IngressClass names this controller.
    pub ingress_controller: String,
    /// Address Gateway and Ingress listeners bind (with the listener's port).
    pub bind_address: IpAddr,
    /// Port of the Ingress HTTP listener.
    pub ingress_http_port: u16,
    /// Port of the Ingress HTTPS listener (made when an Ingress has TLS).
    pub ingress_https_port: u16,
    /// Checks a Secret's key pair beyond its PEM shape (parses, key matches the leaf).
    /// The translator has no crypto, so the binary supplies one; a pair it refuses is
    /// dropped with `InvalidCertificateRef` instead of failing the whole snapshot.
    pub cert_check: CertCheck,
}

/// A function that checks one key pair, giving the reason it is unusable.
type CheckFn = dyn Fn(&ir::CertKeyPem) -> Result<(), String> + Send + Sync;

/// An optional certificate checker for [`Options::cert_check`].
///
/// Two checkers compare equal when both are absent or both are the same function, so
/// `Options` keeps its `PartialEq`.
#[derive(Clone, Default)]
pub struct CertCheck(Option<std::sync::Arc<CheckFn>>);

impl CertCheck {
    /// A checker that calls `f`.
    pub fn new(f: impl Fn(&ir::CertKeyPem) -> Result<(), String> + Send + Sync + 'static) -> Self {
        Self(Some(std::sync::Arc::new(f)))
    }

    /// Checks `pair`; without a checker every pair passes.
    pub(crate) fn check(&self, pair: &ir::CertKeyPem) -> Result<(), String> {
        self.0.as_ref().map_or(Ok(()), |f| f(pair))
    }
}

impl std::fmt::Debug for CertCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "CertCheck(set)"
        } else {
            "CertCheck(none)"
        })
    }
}

impl PartialEq for CertCheck {
    fn eq(&self, other: &Self) -> bool {
        match (&self.0, &other.0) {
            (None, None) => true,
            (Some(a), Some(b)) => std::sync::Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl Eq for CertCheck {}

impl Default for Options {
    fn default() -> Self {
        Self {
            controller_name: "tollgate.dev/gateway-controller".to_owned(),
            ingress_class: "tollgate".to_owned(),
            ingress_controller: "tollgate.dev/ingress-controller".to_owned(),
            bind_address: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            ingress_http_port: 80,
            ingress_https_port: 443,
            cert_check: CertCheck::default(),
        }
    }
}

/// What the resources become: the data-plane configuration and what to tell the user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Translation {
    /// Listeners and services from the resources (server settings are the defaults; the
    /// native configuration sets them when both are loaded).
    pub snapshot: ir::Snapshot,
    /// Statuses, sorted by kind, namespace and name.
    pub statuses: Vec<StatusUpdate>,
}

/// Translates Kubernetes resources alone.
pub fn translate_resources(res: &Resources, opts: &Options) -> Translation {
    translate_with(res, opts, &[], &[])
}

/// Translates Kubernetes resources next to native listeners bound at `taken`, which keep
/// their ports (a Gateway listener asking for one is reported PortUnavailable), and
/// native consumers, which keep their credentials (a Consumer repeating one is
/// Conflicted).
pub(crate) fn translate_with(
    res: &Resources,
    opts: &Options,
    taken: &[SocketAddr],
    native_consumers: &[ir::Consumer],
) -> Translation {
    let mut idx = index::Index::new(res);
    idx.cert_check = opts.cert_check.clone();
    let (classes, mut statuses) = gateway::classes(&idx, opts);
    let mut gws = gateway::gateways(&idx, opts, &classes, taken);
    let mut backends = backends::Backends::default();
    let mut order = 0;
    let (consumers, known_consumers, consumer_statuses) =
        consumers::translate(&idx, native_consumers);
    statuses.extend(consumer_statuses);
    let mut policies = policy_attach::Policies::build(&idx, &known_consumers);
    let (served, route_statuses) = routes::translate(
        &idx,
        opts,
        &mut gws,
        &mut backends,
        &mut policies,
        &mut order,
    );
    statuses.extend(route_statuses);
    statuses.extend(policies.statuses(&opts.controller_name));
    let mut listeners = gateway_listeners(&gws, &served, &policies, opts);
    statuses.extend(gateway_status::statuses(&gws));
    let mut used: Vec<SocketAddr> = taken.to_vec();
    used.extend(listeners.values().map(|l| l.address));
    let (ingress_listeners, ingress_statuses) =
        ingress::translate(&idx, opts, &mut backends, &used, &mut order);
    listeners.extend(ingress_listeners.into_iter().map(|l| (l.name.clone(), l)));
    statuses.extend(ingress_statuses);
    statuses.sort_by(|a, b| {
        (kind_rank(&a.kind), &a.namespace, &a.name).cmp(&(
            kind_rank(&b.kind),
            &b.namespace,
            &b.name,
        ))
    });
    let services = used_services(&listeners, backends.finish());
    Translation {
        snapshot: ir::Snapshot {
            listeners,
            services,
            consumers,
            ..ir::Snapshot::default()
        },
        statuses,
    }
}

/// The services some served route forwards or mirrors to: a route that attached nowhere
/// resolved its backends too, but nothing sends them traffic.
fn used_services(
    listeners: &BTreeMap<String, ir::Listener>,
    mut services: BTreeMap<String, ir::Service>,
) -> BTreeMap<String, ir::Service> {
    let mut used = std::collections::BTreeSet::new();
    let routes = listeners
        .values()
        .flat_map(|l| &l.virtual_hosts)
        .flat_map(|v| &v.routes);
    for r in routes {
        used.extend(r.filters.mirrors.iter().map(|m| m.service.as_str()));
        if let ir::Action::Forward(backends) = &r.action {
            for b in backends {
                used.insert(b.service.as_str());
                used.extend(b.filters.mirrors.iter().map(|m| m.service.as_str()));
            }
        }
    }
    services.retain(|name, _| used.contains(name.as_str()));
    services
}

fn kind_rank(kind: &str) -> usize {
    [
        "GatewayClass",
        "Gateway",
        "HTTPRoute",
        "GRPCRoute",
        "Ingress",
        "Consumer",
        "Policy",
    ]
    .iter()
    .position(|k| *k == kind)
    .unwrap_or(usize::MAX)
}

/// One IR listener per port of the programmed Gateway listeners.
fn gateway_listeners<'r>(
    gws: &'r [gateway::Gw<'_>],
    served: &'r [routes::Served],
    policies: &'r policy_attach::Policies<'_>,
    opts: &Options,
) -> BTreeMap<String, ir::Listener> {
    // (gateway, listener) -> (port, index among the port's listeners)
    let mut slot: BTreeMap<(usize, usize), (u16, usize)> = BTreeMap::new();
    let mut ports: BTreeMap<u16, Port<'r>> = BTreeMap::new();
    for (gi, g) in gws.iter().enumerate() {
        for (li, l) in g.listeners.iter().enumerate() {
            let Some(protocol) = l.protocol.filter(|_| l.programmed()) else {
                continue;
            };
            let port = ports.entry(l.port).or_insert_with(|| Port {
                name: format!(
                    "gw/{}/{}/{}",
                    index::Meta::ns(g.obj),
                    index::Meta::name(g.obj),
                    l.name
                ),
                address: SocketAddr::new(opts.bind_address, l.port),
                protocol,
                hostnames: Vec::new(),
                certificates: Vec::new(),
                entries: Vec::new(),
            });
            slot.insert((gi, li), (l.port, port.hostnames.len()));
            port.hostnames.push(l.hostname.clone());
            for c in &l.certificates {
                if !port.certificates.iter().any(|x| x.label == c.label) {
                    port.certificates.push(c.clone());
                }
            }
        }
    }
    for s in served {
        for a in &s.attachments {
            let Some(&(port, listener)) = slot.get(&(a.gw, a.listener)) else {
                continue;
            };
            let Some(p) = ports.get_mut(&port) else {
                continue;
            };
            let g = gws[a.gw].obj;
            let access = policies.for_gateway(index::Meta::ns(g), index::Meta::name(g));
            for host in &a.hostnames {
                for (precedence, route) in &s.routes {
                    p.entries.push(Entry {
                        listener,
                        host: host.clone(),
                        precedence: *precedence,
                        route,
                        access,
                    });
                }
            }
        }
    }
    ports
        .into_values()
        .map(|p| {
            let l = p.build();
            (l.name.clone(), l)
        })
        .collect()
}
