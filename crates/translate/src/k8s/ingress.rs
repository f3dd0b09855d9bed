//! Ingress (`networking.k8s.io/v1`): host and path rules, a default backend and TLS,
//! served on two listeners of their own (`ingress/http`, and `ingress/https` when some
//! Ingress has TLS). All Ingress rules are served on both.
//!
//! Paths: `Exact`, `Prefix` (whole segments, trailing slash ignored) and
//! `ImplementationSpecific`, which is a prefix here. The annotation
//! `tollgate.dev/strip-path: "true"` removes the matched prefix before forwarding.

use std::net::SocketAddr;

use tollgate_ir as ir;
use tollgate_model::k8s::Ingress;
use tollgate_model::k8s::k8s_openapi::api::networking::v1::IngressBackend;

use super::backends::{Backends, PortRef};
use super::gateway::Why;
use super::index::{Index, Meta, by_age};
use super::listeners::{Entry, Port};
use super::reasons::{self, reason};
use super::status::{Condition, ObjectStatus, StatusUpdate};
use super::{Options, tls};
use crate::routes::precedence::Precedence;
use crate::syntax;

/// Strips the matched path prefix before forwarding when `"true"`.
pub const STRIP_PATH_ANNOTATION: &str = "tollgate.dev/strip-path";
/// The legacy way to name an Ingress's class.
const CLASS_ANNOTATION: &str = "kubernetes.io/ingress.class";
/// Marks the IngressClass used by Ingresses that name none.
const DEFAULT_CLASS_ANNOTATION: &str = "ingressclass.kubernetes.io/is-default-class";

/// What one Ingress became.
struct One {
    routes: Vec<(String, Precedence, ir::Route)>,
    certificates: Vec<ir::CertKeyPem>,
    problems: Vec<Why>,
}

/// The Ingress listeners and the Ingress statuses. `used`: addresses other listeners
/// already bind.
pub(crate) fn translate(
    idx: &Index<'_>,
    opts: &Options,
    backends: &mut Backends,
    used: &[SocketAddr],
    order: &mut usize,
) -> (Vec<ir::Listener>, Vec<StatusUpdate>) {
    let ours: Vec<&Ingress> = by_age(&idx.res.ingresses)
        .into_iter()
        .filter(|i| is_ours(i, idx, opts))
        .collect();
    if ours.is_empty() {
        return (Vec::new(), Vec::new());
    }
    let translated: Vec<One> = ours.iter().map(|i| one(i, idx, backends, order)).collect();
    let mut certificates: Vec<ir::CertKeyPem> = Vec::new();
    for c in translated.iter().flat_map(|t| &t.certificates) {
        if !certificates.iter().any(|x| x.label == c.label) {
            certificates.push(c.clone());
        }
    }
    let mut listeners = Vec::new();
    let mut unavailable = Vec::new();
    let mut wanted = vec![(
        "ingress/http",
        opts.ingress_http_port,
        ir::ListenerProtocol::Http,
    )];
    if !certificates.is_empty() {
        wanted.push((
            "ingress/https",
            opts.ingress_https_port,
            ir::ListenerProtocol::Https,
        ));
    }
    for (name, port, protocol) in wanted {
        let address = SocketAddr::new(opts.bind_address, port);
        if used.iter().any(|u| u.port() == port) {
            unavailable.push(format!(
                "port {port} is used by another listener; {name} is not served"
            ));
            continue;
        }
        let entries = translated
            .iter()
            .flat_map(|t| &t.routes)
            .map(|(host, precedence, route)| Entry {
                access: None,
                listener: 0,
                host: host.clone(),
                precedence: *precedence,
                route,
            })
            .collect();
        let p = Port {
            name: name.to_owned(),
            address,
            protocol,
            hostnames: vec![None],
            certificates: certificates.clone(),
            entries,
        };
        listeners.push(p.build());
    }
    let statuses = ours
        .iter()
        .zip(&translated)
        .map(|(i, t)| status(i, t, &unavailable))
        .collect();
    (listeners, statuses)
}

fn is_ours(i: &Ingress, idx: &Index<'_>, opts: &Options) -> bool {
    let class = i
        .spec
        .as_ref()
        .and_then(|s| s.ingress_class_name.as_deref())
        .or_else(|| {
            i.metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(CLASS_ANNOTATION))
                .map(String::as_str)
        });
    let controller_is_ours = |c: &tollgate_model::k8s::IngressClass| {
        c.spec.as_ref().and_then(|s| s.controller.as_deref())
            == Some(opts.ingress_controller.as_str())
    };
    match class {
        Some(name) if name == opts.ingress_class => true,
        Some(name) => idx
            .res
            .ingress_classes
            .iter()
            .any(|c| c.name() == name && controller_is_ours(c)),
        None => idx.res.ingress_classes.iter().any(|c| {
            controller_is_ours(c)
                && c.metadata
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get(DEFAULT_CLASS_ANNOTATION))
                    .is_some_and(|v| v == "true")
        }),
    }
}

fn one(i: &Ingress, idx: &Index<'_>, backends: &mut Backends, order: &mut usize) -> One {
    let ns = i.ns();
    let prefix = format!("ingress/{ns}/{}", i.name());
    let strip = i
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(STRIP_PATH_ANNOTATION))
        .is_some_and(|v| v == "true");
    let mut out = One {
        routes: Vec::new(),
        certificates: Vec::new(),
        problems: Vec::new(),
    };
    let Some(spec) = &i.spec else {
        return out;
    };
    for (ri, rule) in spec.rules.iter().flatten().enumerate() {
        let host = rule
            .host
            .as_deref()
            .map_or_else(|| "*".to_owned(), str::to_ascii_lowercase);
        for (pi, p) in rule.http.iter().flat_map(|h| &h.paths).enumerate() {
            let value = p.path.as_deref().unwrap_or("/");
            let path = match p.path_type.as_str() {
                "Exact" => syntax::path(value).map(|()| ir::PathMatch::Exact(value.to_owned())),
                _ => syntax::path(value)
                    .map(|()| ir::PathMatch::Prefix(syntax::normalise_prefix(value))),
            };
            let matches = match path {
                Ok(path) => ir::RouteMatch {
                    path,
                    ..ir::RouteMatch::default()
                },
                Err(e) => {
                    out.problems.push((
                        reason::UNSUPPORTED_VALUE,
                        format!("rule {ri} path {pi}: {e}"),
                    ));
                    continue;
                }
            };
            let name = format!("{prefix}/rule/{ri}/path/{pi}");
            let mut cx = Backend {
                ns,
                idx,
                backends,
                problems: &mut out.problems,
            };
            let route = cx.route(name, matches, &p.backend, strip);
            out.routes
                .push((host.clone(), Precedence::of(&route.matches, *order), route));
            *order += 1;
        }
    }
    if let Some(b) = &spec.default_backend {
        let mut cx = Backend {
            ns,
            idx,
            backends,
            problems: &mut out.problems,
        };
        let route = cx.route(
            format!("{prefix}/default-backend"),
            ir::RouteMatch::default(),
            b,
            false,
        );
        // After every rule of every Ingress: the default backend takes what nothing else does.
        out.routes.push((
            "*".to_owned(),
            Precedence::of(&route.matches, usize::MAX),
            route,
        ));
    }
    for t in spec.tls.iter().flatten() {
        let Some(secret) = &t.secret_name else {
            continue;
        };
        match tls::secret(idx, ns, secret) {
            Ok(c) => out.certificates.push(c),
            Err(e) => out.problems.push((reason::INVALID_CERTIFICATE_REF, e)),
        }
    }
    out
}

/// Resolving an Ingress's backends, recording what does not resolve.
struct Backend<'a, 'i> {
    ns: &'a str,
    idx: &'a Index<'i>,
    backends: &'a mut Backends,
    problems: &'a mut Vec<Why>,
}

impl Backend<'_, '_> {
    /// The route for one path (or the default backend).
    fn route(
        &mut self,
        name: String,
        matches: ir::RouteMatch,
        backend: &IngressBackend,
        strip: bool,
    ) -> ir::Route {
        let ns = self.ns;
        let resolved = match (&backend.service, &backend.resource) {
            (Some(s), _) => {
                let port = s
                    .port
                    .as_ref()
                    .and_then(|p| match (p.number, p.name.as_deref()) {
                        (Some(n), _) => Some(PortRef::Number(n)),
                        (None, Some(n)) => Some(PortRef::Name(n)),
                        (None, None) => None,
                    });
                match port {
                    Some(port) => self.backends.ingress(self.idx, ns, &s.name, &port),
                    None => Err((
                        reason::BACKEND_NOT_FOUND,
                        format!("backend Service {ns}/{} names no port", s.name),
                    )),
                }
            }
            (None, Some(r)) => Err((
                reason::INVALID_KIND,
                format!("resource backend {} {:?} is not supported", r.kind, r.name),
            )),
            (None, None) => Err((
                reason::BACKEND_NOT_FOUND,
                "a backend names neither a Service nor a resource".to_owned(),
            )),
        };
        let action = match resolved {
            Ok(service) => ir::Action::Forward(vec![ir::WeightedBackend {
                service,
                weight: 1,
                filters: ir::Filters::default(),
                respond: None,
            }]),
            Err(e) => {
                let body = format!("backend unavailable: {}", e.1);
                self.problems.push(e);
                ir::Action::Respond(ir::DirectResponse {
                    status: 500,
                    body,
                    ..ir::DirectResponse::default()
                })
            }
        };
        let url_rewrite = strip.then(|| ir::UrlRewrite {
            hostname: None,
            path: Some(match matches.path {
                ir::PathMatch::Prefix(_) => ir::PathRewrite::Prefix("/".to_owned()),
                _ => ir::PathRewrite::Full("/".to_owned()),
            }),
        });
        ir::Route {
            name,
            matches,
            filters: ir::Filters {
                url_rewrite,
                ..ir::Filters::default()
            },
            action,
            timeout: None,
            backend_timeout: None,
            policies: None,
        }
    }
}

fn status(i: &Ingress, t: &One, unavailable: &[String]) -> StatusUpdate {
    let generation = i.generation();
    let accepted = if unavailable.is_empty() {
        Condition::new(
            reasons::ACCEPTED,
            true,
            reason::ACCEPTED,
            "served by Tollgate",
            generation,
        )
    } else {
        Condition::new(
            reasons::ACCEPTED,
            false,
            reason::PORT_UNAVAILABLE,
            unavailable.join("; "),
            generation,
        )
    };
    let resolved = match t.problems.first() {
        None => Condition::new(
            reasons::RESOLVED_REFS,
            true,
            reason::RESOLVED_REFS,
            "all references resolved",
            generation,
        ),
        Some((why, _)) => {
            let msgs: Vec<&str> = t.problems.iter().map(|(_, m)| m.as_str()).collect();
            Condition::new(
                reasons::RESOLVED_REFS,
                false,
                why,
                msgs.join("; "),
                generation,
            )
        }
    };
    StatusUpdate {
        kind: "Ingress".to_owned(),
        namespace: Some(i.ns().to_owned()),
        name: i.name().to_owned(),
        generation,
        status: ObjectStatus::Ingress {
            conditions: vec![accepted, resolved],
        },
    }
}
