//! Attaching routes to listeners: a route's parentRefs select Gateways and listeners
//! (by sectionName and port), each listener's allowedRoutes must let the route in (kind
//! and namespace), and the route's hostnames must intersect the listener's.

use std::collections::BTreeSet;

use super::gateway::{Gw, Namespaces, RouteKind, Why};
use super::hostnames;
use super::index::{GATEWAY_GROUP, Index, Meta, selector_matches};
use super::reasons::reason;
use super::status::ParentRef;

/// The parts of a route attachment looks at.
pub(crate) struct RouteRef<'a> {
    pub(crate) kind: RouteKind,
    pub(crate) ns: &'a str,
    /// Lower case, valid; empty means any host.
    pub(crate) hostnames: Vec<String>,
    pub(crate) parents: Vec<ParentRef>,
}

/// Where a route is served on one listener.
pub(crate) struct Attachment {
    pub(crate) gw: usize,
    pub(crate) listener: usize,
    /// The hostnames the route serves there (`*`: any).
    pub(crate) hostnames: Vec<String>,
}

/// The outcome for one parentRef this controller is responsible for.
pub(crate) struct Parent {
    pub(crate) parent_ref: ParentRef,
    /// `Ok(message)` when attached somewhere.
    pub(crate) accepted: Result<String, Why>,
    pub(crate) attachments: Vec<Attachment>,
}

/// Every parent of the route that names a Gateway of ours (or a Gateway that does not
/// exist, reported as NoMatchingParent so a typo is visible). Parents of other
/// controllers are left out: their statuses are not ours to write.
pub(crate) fn attach(r: &RouteRef<'_>, gws: &mut [Gw<'_>], idx: &Index<'_>) -> Vec<Parent> {
    let mut counted: BTreeSet<(usize, usize)> = BTreeSet::new();
    let mut out = Vec::new();
    for p in &r.parents {
        let group = p.group.as_deref().unwrap_or(GATEWAY_GROUP);
        let kind = p.kind.as_deref().unwrap_or("Gateway");
        if (group, kind) != (GATEWAY_GROUP, "Gateway") {
            continue;
        }
        let ns = p.namespace.as_deref().unwrap_or(r.ns);
        let Some(gi) = gws
            .iter()
            .position(|g| g.obj.ns() == ns && g.obj.name() == p.name)
        else {
            let exists = idx
                .res
                .gateways
                .iter()
                .any(|g| g.ns() == ns && g.name() == p.name);
            if !exists {
                out.push(Parent {
                    parent_ref: p.clone(),
                    accepted: Err((
                        reason::NO_MATCHING_PARENT,
                        format!("Gateway {ns}/{} does not exist", p.name),
                    )),
                    attachments: Vec::new(),
                });
            }
            continue;
        };
        out.push(one(r, p, gi, gws, idx, &mut counted));
    }
    out
}

fn one(
    r: &RouteRef<'_>,
    p: &ParentRef,
    gi: usize,
    gws: &mut [Gw<'_>],
    idx: &Index<'_>,
    counted: &mut BTreeSet<(usize, usize)>,
) -> Parent {
    let g = &mut gws[gi];
    let gw_ns = g.obj.ns().to_owned();
    let selected: Vec<usize> = (0..g.listeners.len())
        .filter(|&i| {
            let l = &g.listeners[i];
            p.section_name.as_deref().is_none_or(|s| s == l.name)
                && p.port.is_none_or(|port| port == i32::from(l.port))
        })
        .collect();
    let fail = |why: &'static str, msg: String| Parent {
        parent_ref: p.clone(),
        accepted: Err((why, msg)),
        attachments: Vec::new(),
    };
    if selected.is_empty() {
        return fail(
            reason::NO_MATCHING_PARENT,
            match (&p.section_name, p.port) {
                (Some(s), Some(port)) => format!("no listener named {s:?} on port {port}"),
                (Some(s), None) => format!("no listener named {s:?}"),
                (None, Some(port)) => format!("no listener on port {port}"),
                (None, None) => "the Gateway has no listeners".to_owned(),
            },
        );
    }
    let route_labels = idx.namespace_labels(r.ns);
    let allowed: Vec<usize> = selected
        .into_iter()
        .filter(|&i| {
            let l = &g.listeners[i];
            l.kinds.contains(&r.kind)
                && match &l.namespaces {
                    Namespaces::Same => r.ns == gw_ns,
                    Namespaces::All => true,
                    Namespaces::Selector(s) => {
                        let exprs: Vec<(&str, &str, &[String])> = s
                            .match_expressions
                            .iter()
                            .flatten()
                            .map(|e| {
                                (
                                    e.key.as_str(),
                                    e.operator.as_str(),
                                    e.values.as_deref().unwrap_or_default(),
                                )
                            })
                            .collect();
                        selector_matches(s.match_labels.as_ref(), &exprs, &route_labels)
                    }
                }
        })
        .collect();
    if allowed.is_empty() {
        return fail(
            reason::NOT_ALLOWED_BY_LISTENERS,
            format!(
                "no selected listener allows {} routes from namespace {}",
                r.kind.kind(),
                r.ns
            ),
        );
    }
    // Attachment counts follow allowedRoutes and parentRefs only (hostnames do not
    // matter), once per route and listener.
    for &i in &allowed {
        if counted.insert((gi, i)) {
            g.listeners[i].attached += 1;
        }
    }
    let attachments: Vec<Attachment> = allowed
        .into_iter()
        .filter_map(|i| {
            let hosts = hostnames::intersect(g.listeners[i].hostname.as_deref(), &r.hostnames);
            (!hosts.is_empty()).then_some(Attachment {
                gw: gi,
                listener: i,
                hostnames: hosts,
            })
        })
        .collect();
    if attachments.is_empty() {
        return fail(
            reason::NO_MATCHING_LISTENER_HOSTNAME,
            "no allowing listener's hostname matches the route's hostnames".to_owned(),
        );
    }
    let names: Vec<&str> = attachments
        .iter()
        .map(|a| g.listeners[a.listener].name)
        .collect();
    Parent {
        parent_ref: p.clone(),
        accepted: Ok(format!("attached to listener(s) {}", names.join(", "))),
        attachments,
    }
}
