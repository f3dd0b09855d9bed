//! Every HTTPRoute and GRPCRoute, oldest first: rules translated, parents attached, and
//! the route's status towards each parent.

use tollgate_ir as ir;
use tollgate_model::k8s::{GrpcRoute, HttpRoute};

use super::attach::{self, Attachment, Parent, RouteRef};
use super::backends::{Backends, Referrer};
use super::gateway::{Gw, RouteKind};
use super::index::{GATEWAY_GROUP, Index, Meta, by_age};
use super::policy_attach::Policies;
use super::reasons::{self, reason};
use super::route::Cx;
use super::status::{Condition, ObjectStatus, RouteParentStatus, StatusUpdate};
use super::{Options, grpc_route, http_route};
use crate::routes::precedence::Precedence;

/// A route of either kind.
#[derive(Clone, Copy)]
enum Any<'a> {
    Http(&'a HttpRoute),
    Grpc(&'a GrpcRoute),
}

impl Any<'_> {
    fn kind(self) -> RouteKind {
        match self {
            Self::Http(_) => RouteKind::Http,
            Self::Grpc(_) => RouteKind::Grpc,
        }
    }

    fn meta(&self) -> &dyn Meta {
        match self {
            Self::Http(r) => *r,
            Self::Grpc(r) => *r,
        }
    }

    fn hostnames(&self) -> &[String] {
        match self {
            Self::Http(r) => r.spec.hostnames.as_deref().unwrap_or_default(),
            Self::Grpc(r) => r.spec.hostnames.as_deref().unwrap_or_default(),
        }
    }
}

/// A route's IR routes and where they are attached.
pub(crate) struct Served {
    pub(crate) attachments: Vec<Attachment>,
    pub(crate) routes: Vec<(Precedence, ir::Route)>,
}

/// Translates and attaches every route. `order`: the precedence order to continue from.
pub(crate) fn translate<'i>(
    idx: &Index<'i>,
    opts: &Options,
    gws: &mut [Gw<'_>],
    backends: &mut Backends,
    policies: &mut Policies<'i>,
    order: &mut usize,
) -> (Vec<Served>, Vec<StatusUpdate>) {
    let mut all: Vec<Any<'_>> = by_age(&idx.res.http_routes)
        .into_iter()
        .map(Any::Http)
        .chain(by_age(&idx.res.grpc_routes).into_iter().map(Any::Grpc))
        .collect();
    // Gateway API tie-break across all routes: oldest, then namespace/name.
    all.sort_by(|a, b| (a.meta().age_key(), a.kind()).cmp(&(b.meta().age_key(), b.kind())));
    let mut served = Vec::new();
    let mut statuses = Vec::new();
    for r in all {
        let kind = r.kind();
        let ns = r.meta().ns().to_owned();
        let name = r.meta().name().to_owned();
        let mut cx = Cx {
            idx,
            backends,
            referrer: Referrer {
                group: GATEWAY_GROUP,
                kind: kind.kind(),
                ns: &ns,
            },
            grpc: kind == RouteKind::Grpc,
            prefix: format!("{}/{ns}/{name}", kind.kind().to_ascii_lowercase()),
            name: name.clone(),
            rule_name: None,
            policies,
            order: *order,
            unresolved: Vec::new(),
            invalid: Vec::new(),
            routes: Vec::new(),
        };
        let (rules, parents) = match r {
            Any::Http(h) => {
                http_route::rules(h, &mut cx);
                (
                    h.spec.rules.as_ref().map_or(0, Vec::len),
                    http_route::parents(h),
                )
            }
            Any::Grpc(g) => {
                grpc_route::rules(g, &mut cx);
                (
                    g.spec.rules.as_ref().map_or(0, Vec::len),
                    grpc_route::parents(g),
                )
            }
        };
        *order = cx.order;
        let route_ref = RouteRef {
            kind,
            ns: &ns,
            hostnames: r
                .hostnames()
                .iter()
                .map(|h| h.to_ascii_lowercase())
                .collect(),
            parents,
        };
        let parents = attach::attach(&route_ref, gws, idx);
        if !parents.is_empty() {
            statuses.push(StatusUpdate {
                kind: kind.kind().to_owned(),
                namespace: Some(ns.clone()),
                name: name.clone(),
                generation: r.meta().generation(),
                status: ObjectStatus::Route {
                    parents: parents
                        .iter()
                        .map(|p| parent_status(p, &cx, rules, r.meta().generation(), opts))
                        .collect(),
                },
            });
        }
        served.push(Served {
            attachments: parents.into_iter().flat_map(|p| p.attachments).collect(),
            routes: cx.routes,
        });
    }
    (served, statuses)
}

fn parent_status(
    p: &Parent,
    cx: &Cx<'_, '_>,
    rules: usize,
    generation: Option<i64>,
    opts: &Options,
) -> RouteParentStatus {
    let all_invalid = rules > 0 && cx.invalid.len() == rules;
    let accepted = match (&p.accepted, cx.invalid.first()) {
        (Err((why, msg)), _) => {
            Condition::new(reasons::ACCEPTED, false, why, msg.clone(), generation)
        }
        (Ok(_), Some((_, (why, msg)))) if all_invalid => Condition::new(
            reasons::ACCEPTED,
            false,
            why,
            format!("no rule is valid: {msg}"),
            generation,
        ),
        (Ok(msg), _) => Condition::new(
            reasons::ACCEPTED,
            true,
            reason::ACCEPTED,
            msg.clone(),
            generation,
        ),
    };
    let resolved = match cx.unresolved.first() {
        None => Condition::new(
            reasons::RESOLVED_REFS,
            true,
            reason::RESOLVED_REFS,
            "all references resolved",
            generation,
        ),
        Some((why, _)) => {
            let mut msgs: Vec<&str> = cx.unresolved.iter().map(|(_, m)| m.as_str()).collect();
            msgs.dedup();
            Condition::new(
                reasons::RESOLVED_REFS,
                false,
                why,
                msgs.join("; "),
                generation,
            )
        }
    };
    let mut conditions = vec![accepted, resolved];
    if p.accepted.is_ok() && !cx.invalid.is_empty() && !all_invalid {
        let list: Vec<String> = cx
            .invalid
            .iter()
            .map(|(i, (_, msg))| format!("rule {i}: {msg}"))
            .collect();
        conditions.push(Condition::new(
            reasons::PARTIALLY_INVALID,
            true,
            reason::UNSUPPORTED_VALUE,
            format!(
                "Dropped Rule(s): requests they match answer 500; {}",
                list.join("; ")
            ),
            generation,
        ));
    }
    RouteParentStatus {
        parent_ref: p.parent_ref.clone(),
        controller_name: opts.controller_name.clone(),
        conditions,
    }
}
