//! Routes: conditions, filters and the action of each, plus where each one attaches.
//! Ordering routes inside a virtual host is [`precedence`]'s job; grouping them by
//! listener and host is the listeners module's.

use std::collections::{BTreeMap, BTreeSet};

use tollgate_ir as ir;
use tollgate_model::Spanned;
use tollgate_model::native::Route;

use crate::merge::Merged;
use crate::policies::KnownConsumers;
use crate::problems::{At, Problems, Scope, list_names};
use crate::syntax;

mod actions;
mod filters;
mod matches;
pub(crate) mod precedence;

use precedence::Precedence;

/// The names routes may refer to. A name counts even when its definition has problems of
/// its own, so one typo is not reported again at every reference.
pub(crate) struct Known<'a> {
    pub(crate) listeners: BTreeSet<&'a str>,
    pub(crate) services: BTreeSet<&'a str>,
}

impl<'a> Known<'a> {
    pub(crate) fn new(merged: &Merged<'a>) -> Self {
        Self {
            listeners: merged
                .listeners
                .iter()
                .map(|l| l.item.name.value.as_str())
                .collect(),
            services: merged
                .services
                .iter()
                .map(|s| s.item.name.value.as_str())
                .collect(),
        }
    }

    /// Reports `service` if no service has that name; `what` prefixes the message.
    fn check_service(&self, what: &str, service: &Spanned<String>, cx: &mut Scope<'_, '_>) {
        if !self.services.contains(service.value.as_str()) {
            cx.push(
                cx.pos_of(service),
                format_args!(
                    "{what}unknown service {:?} (defined services: {})",
                    service.value,
                    list_names(self.services.iter().copied())
                ),
            );
        }
    }
}

/// A translated route and where it attaches.
pub(crate) struct Routed {
    /// Listener names; `None` means every listener.
    pub(crate) listeners: Option<Vec<String>>,
    /// Host patterns, lower case, without repeats; `*` is any host.
    pub(crate) hosts: Vec<String>,
    /// Where the route goes among the routes of a virtual host.
    pub(crate) precedence: Precedence,
    /// The route itself.
    pub(crate) route: ir::Route,
}

/// Every route, in configuration order (which is the last precedence tie-break).
pub(crate) fn translate(
    routes: &[At<'_, Route>],
    known: &Known<'_>,
    consumers: &KnownConsumers<'_>,
    p: &mut Problems<'_>,
) -> Vec<Routed> {
    let mut out = Vec::with_capacity(routes.len());
    // (hosts, path) → (client, route) of each OIDC endpoint, to catch two clients
    // claiming one callback.
    let mut endpoints: BTreeMap<(Vec<String>, String), (String, String)> = BTreeMap::new();
    for (order, at) in routes.iter().enumerate() {
        let routed = route(*at, order, known, consumers, p);
        let extra = oidc_endpoints(&routed, order);
        for e in &extra {
            let ir::PathMatch::Exact(path) = &e.route.matches.path else {
                continue;
            };
            let Some(o) = e.route.policies.as_ref().and_then(|p| p.oidc.as_ref()) else {
                continue;
            };
            let client = format!("{} at {}", o.client_id, o.discovery);
            let key = (e.hosts.clone(), path.clone());
            match endpoints.get(&key) {
                Some((other, first)) if *other != client => {
                    let mut cx = Scope::new("route", &at.item.name, at.doc, p);
                    cx.here(format_args!(
                        "oidc: route {first:?} already uses {path} on the same hosts for another client; give each client its own redirect_path and logout_path"
                    ));
                }
                Some(_) => {}
                None => {
                    endpoints.insert(key, (client, at.item.name.value.clone()));
                }
            }
        }
        out.push(routed);
        out.extend(extra);
    }
    out
}

/// The OIDC callback and logout paths of a route with an `oidc` policy, as exact-path
/// routes of their own with the same hosts, action and policies: the provider's redirect
/// must reach the policy even when the route's own match (say `/app`) does not cover it.
fn oidc_endpoints(r: &Routed, order: usize) -> Vec<Routed> {
    let Some(o) = r.route.policies.as_ref().and_then(|p| p.oidc.as_ref()) else {
        return Vec::new();
    };
    let callback = if o.redirect_uri.starts_with('/') {
        Some(o.redirect_uri.clone())
    } else {
        url_path(&o.redirect_uri)
    };
    [("callback", callback), ("logout", o.logout_path.clone())]
        .into_iter()
        .filter_map(|(what, path)| {
            let matches = ir::RouteMatch {
                path: ir::PathMatch::Exact(path?),
                ..ir::RouteMatch::default()
            };
            Some(Routed {
                listeners: r.listeners.clone(),
                hosts: r.hosts.clone(),
                precedence: Precedence::of(&matches, order),
                route: ir::Route {
                    name: format!("{}/oidc-{what}", r.route.name),
                    matches,
                    filters: ir::Filters::default(),
                    action: r.route.action.clone(),
                    timeout: None,
                    backend_timeout: None,
                    policies: r.route.policies.clone(),
                },
            })
        })
        .collect()
}

fn route(
    at: At<'_, Route>,
    order: usize,
    known: &Known<'_>,
    consumers: &KnownConsumers<'_>,
    p: &mut Problems<'_>,
) -> Routed {
    let r = at.item;
    let mut cx = Scope::new("route", &r.name, at.doc, p);
    let listeners = listeners(r, known, &mut cx);
    let hosts = hosts(r, &mut cx);
    let matches = matches::translate(&r.matches, &mut cx);
    let filters = filters::translate(&r.filters, &matches.path, known, &mut cx);
    actions::one_action(r, filters.redirect.as_ref().map(|(p, _)| *p), &mut cx);
    let timeout = match r.timeout {
        Some(t) if t.0.is_zero() => {
            cx.here("timeout must be greater than 0; remove it to use the service's");
            None
        }
        t => t.map(|t| t.0),
    };
    let action = match (&r.respond, &r.static_files, &r.aggregate, filters.redirect) {
        (Some(resp), ..) => ir::Action::Respond(actions::respond(resp, &mut cx)),
        (None, Some(sf), ..) => {
            ir::Action::Static(actions::static_files(sf, &matches.path, &mut cx))
        }
        (None, None, Some(a), _) => ir::Action::Aggregate(actions::aggregate(
            a,
            &matches.path,
            timeout,
            known,
            &mut cx,
        )),
        (None, None, None, Some((pos, redirect))) => {
            if !r.backends.is_empty() {
                cx.push(
                    pos,
                    "a redirect answers the request itself, so the route cannot also have backends; remove one of them",
                );
            }
            ir::Action::Redirect(redirect)
        }
        (None, None, None, None) => forward(r, known, &mut cx),
    };
    let forwards = matches!(action, ir::Action::Forward(_));
    let policies = crate::policies::route_policies(
        r.policies.as_ref(),
        &r.name.value,
        consumers,
        forwards,
        &mut cx,
    );
    let precedence = Precedence::of(&matches, order);
    Routed {
        listeners,
        hosts,
        precedence,
        route: ir::Route {
            name: format!("route/{}", r.name.value),
            matches,
            filters: filters.filters,
            action,
            timeout,
            backend_timeout: None,
            policies,
        },
    }
}

fn listeners(r: &Route, known: &Known<'_>, cx: &mut Scope<'_, '_>) -> Option<Vec<String>> {
    let list = r.listeners.as_ref()?;
    if list.is_empty() {
        cx.here("listeners is empty; remove it to serve the route on every listener");
    }
    for l in list {
        if !known.listeners.contains(l.value.as_str()) {
            cx.push(
                cx.pos_of(l),
                format_args!(
                    "unknown listener {:?} (defined listeners: {})",
                    l.value,
                    list_names(known.listeners.iter().copied())
                ),
            );
        }
    }
    Some(list.iter().map(|l| l.value.clone()).collect())
}

/// Host patterns; none given means any host (`*`).
fn hosts(r: &Route, cx: &mut Scope<'_, '_>) -> Vec<String> {
    let Some(list) = &r.hosts else {
        return vec!["*".to_owned()];
    };
    if list.is_empty() {
        cx.here("hosts is empty; remove it to match any host");
    }
    let mut out: Vec<String> = Vec::with_capacity(list.len());
    for h in list {
        match syntax::host_pattern(&h.value) {
            // `Api.example.com` and `api.example.com` are one host: keep it once so the
            // route is not listed twice in one virtual host.
            Ok(host) if out.contains(&host) => {}
            Ok(host) => out.push(host),
            Err(e) => cx.push(cx.pos_of(h), e),
        }
    }
    out
}

/// Forward to the backends. If every weight is zero the route still exists but answers
/// 500, as Gateway API specifies for a rule whose backends all have weight 0.
fn forward(r: &Route, known: &Known<'_>, cx: &mut Scope<'_, '_>) -> ir::Action {
    if r.backends.is_empty() {
        cx.here(
            "no backends; add `backends: [{ service: NAME }]`, a redirect, `respond` or `static`",
        );
    }
    let backends: Vec<ir::WeightedBackend> = r
        .backends
        .iter()
        .map(|b| {
            known.check_service("", &b.service, cx);
            ir::WeightedBackend {
                service: b.service.value.clone(),
                weight: b.weight.unwrap_or(1),
                filters: ir::Filters::default(),
                respond: None,
            }
        })
        .collect();
    if !backends.is_empty() && backends.iter().all(|b| b.weight == 0) {
        return ir::Action::Respond(ir::DirectResponse {
            status: 500,
            body: "no backend with a non-zero weight".to_owned(),
            ..ir::DirectResponse::default()
        });
    }
    ir::Action::Forward(backends)
}

/// The path of an absolute `http(s)://host/path?query` URL (`/` when it has none).
fn url_path(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let path = rest.find('/').map_or("/", |i| &rest[i..]);
    let end = path.find(['?', '#']).unwrap_or(path.len());
    Some(path[..end].to_owned())
}
