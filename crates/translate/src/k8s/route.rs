//! One route rule (HTTPRoute, or GRPCRoute converted to HTTPRoute's shape) to IR
//! routes, one per match: filters, action and timeouts.
//!
//! Gateway API asks that a bad rule does not take the rest of the route down: an invalid
//! rule answers 500 and a backendRef that cannot be resolved gets its share of the
//! traffic answered with 500, while the valid ones keep working. Every such problem is
//! recorded for the route's status.

use std::str::FromStr;

use tollgate_ir as ir;
use tollgate_model::k8s::gateway_api::Duration as ApiDuration;
use tollgate_model::k8s::gateway_api::httproutes::{HttpRouteRules, HttpRouteRulesFilters};

use super::backends::{BackendRef, Backends, Referrer};
use super::filters;
use super::gateway::Why;
use super::index::Index;
use super::policy_attach::Policies;
use super::reasons::reason;
use crate::routes::precedence::Precedence;

/// What translating one route needs and collects.
pub(crate) struct Cx<'a, 'i> {
    pub(crate) idx: &'a Index<'i>,
    pub(crate) backends: &'a mut Backends,
    pub(crate) referrer: Referrer<'a>,
    /// GRPCRoute: backends speak HTTP/2.
    pub(crate) grpc: bool,
    /// `httproute/<ns>/<name>`.
    pub(crate) prefix: String,
    /// The route's name.
    pub(crate) name: String,
    /// The `name` of the rule being translated.
    pub(crate) rule_name: Option<String>,
    /// Policies, for ExtensionRef filters and targetRef attachments.
    pub(crate) policies: &'a mut Policies<'i>,
    /// Next precedence order (the last tie-break): routes by age, then rule and match.
    pub(crate) order: usize,
    /// References that did not resolve (ResolvedRefs False).
    pub(crate) unresolved: Vec<Why>,
    /// Invalid rules by index.
    pub(crate) invalid: Vec<(usize, Why)>,
    /// The IR routes, each with its precedence.
    pub(crate) routes: Vec<(Precedence, ir::Route)>,
}

impl Cx<'_, '_> {
    pub(crate) fn resolve(&mut self, r: &BackendRef<'_>) -> Result<String, Why> {
        self.backends
            .resolve(self.idx, &self.referrer, r, self.grpc)
    }
}

fn respond(status: u16, body: impl Into<String>) -> ir::Action {
    ir::Action::Respond(ir::DirectResponse {
        status,
        body: body.into(),
        ..ir::DirectResponse::default()
    })
}

/// Translates rule `i` whose matches are already translated. A match that is not valid
/// makes the whole rule invalid: its valid matches answer 500, and the invalid ones are
/// left out, since what they were meant to match is unknown (answering 500 for, say,
/// every path instead could take requests meant for other routes).
pub(crate) fn rule(
    cx: &mut Cx<'_, '_>,
    i: usize,
    rule: &HttpRouteRules,
    matches: Vec<Result<ir::RouteMatch, String>>,
) {
    let mut problem: Option<Why> = None;
    let mut ok_matches: Vec<(usize, ir::RouteMatch)> = Vec::with_capacity(matches.len());
    for (j, m) in matches.into_iter().enumerate() {
        match m {
            Ok(m) => ok_matches.push((j, m)),
            Err(e) => {
                problem.get_or_insert((reason::UNSUPPORTED_VALUE, e));
            }
        }
    }
    let prefix_match = ok_matches
        .iter()
        .all(|(_, m)| matches!(m.path, ir::PathMatch::Prefix(_)));
    cx.rule_name.clone_from(&rule.name);
    let mut own_policies = None;
    let translated = filters::translate(
        rule.filters.as_deref().unwrap_or_default(),
        prefix_match,
        false,
        cx,
    );
    let (filters, action) = match translated {
        Ok(t) => {
            own_policies = t.policies;
            match t.redirect {
                Some(r) => (t.filters, ir::Action::Redirect(r)),
                None => {
                    let mut filters = t.filters;
                    let action = forward(cx, rule, prefix_match, &mut filters, &mut problem);
                    (filters, action)
                }
            }
        }
        Err(e) => {
            problem.get_or_insert(e);
            (ir::Filters::default(), respond(500, ""))
        }
    };
    let (timeout, backend_timeout) = timeouts(rule, &mut problem);
    let (filters, action) = match &problem {
        Some((_, msg)) => (
            ir::Filters::default(),
            respond(500, format!("this route rule is invalid: {msg}")),
        ),
        None => (filters, action),
    };
    let (policies, action) = match access(cx, own_policies) {
        Ok(p) => (p.map(Box::new), action),
        // The Policy's status says why; the client learns nothing about the policy.
        Err(_) => (None, respond(500, "this route's access policy is invalid")),
    };
    if let Some(p) = problem {
        cx.invalid.push((i, p));
    }
    for (j, m) in ok_matches {
        let precedence = Precedence::of(&m, cx.order);
        cx.order += 1;
        cx.routes.push((
            precedence,
            ir::Route {
                name: format!("{}/rule/{i}/match/{j}", cx.prefix),
                matches: m,
                filters: filters.clone(),
                action: action.clone(),
                timeout,
                backend_timeout,
                policies: policies.clone(),
            },
        ));
    }
}

/// The rule's access policies: its ExtensionRef's Policy, then the Policies targeting
/// the rule or (HTTPRoutes only) the route. `Err` when an invalid Policy targets it.
fn access(
    cx: &Cx<'_, '_>,
    own: Option<ir::RoutePolicies>,
) -> Result<Option<ir::RoutePolicies>, String> {
    if cx.referrer.kind != "HTTPRoute" {
        return Ok(own);
    }
    cx.policies
        .for_rule(cx.referrer.ns, &cx.name, cx.rule_name.as_deref(), own)
}

/// The forward action: valid backends by weight, the share of invalid ones answering 500.
/// `rule_filters` may take over the filters of a rule's only backend (see [`hoist`]).
fn forward(
    cx: &mut Cx<'_, '_>,
    rule: &HttpRouteRules,
    prefix_match: bool,
    rule_filters: &mut ir::Filters,
    problem: &mut Option<Why>,
) -> ir::Action {
    let refs = rule.backend_refs.as_deref().unwrap_or_default();
    if refs.is_empty() {
        // Gateway API: a rule without backendRefs (and no filter answering) gets 500.
        return respond(500, "this route rule has no backendRefs");
    }
    let mut backends = Vec::with_capacity(refs.len());
    let mut redirects = Vec::new();
    for b in refs {
        let weight = u32::try_from(b.weight.unwrap_or(1)).unwrap_or(0);
        let r = BackendRef {
            group: b.group.as_deref(),
            kind: b.kind.as_deref(),
            name: &b.name,
            namespace: b.namespace.as_deref(),
            port: b.port,
        };
        let resolved = cx.resolve(&r);
        let own: Vec<HttpRouteRulesFilters> = b
            .filters
            .iter()
            .flatten()
            .filter_map(filters::convert)
            .collect();
        let own = match filters::translate(&own, prefix_match, true, cx) {
            Ok(t) => {
                redirects.extend(t.redirect.filter(|_| weight > 0));
                t.filters
            }
            Err(e) => {
                problem.get_or_insert(e);
                ir::Filters::default()
            }
        };
        match resolved {
            Ok(service) => backends.push(ir::WeightedBackend {
                service,
                weight,
                filters: own,
                respond: None,
            }),
            Err(e) => {
                let body = format!("backend unavailable: {}", e.1);
                cx.unresolved.push(e);
                backends.push(ir::WeightedBackend {
                    service: String::new(),
                    weight,
                    filters: ir::Filters::default(),
                    respond: Some(ir::DirectResponse {
                        status: 500,
                        body,
                        ..ir::DirectResponse::default()
                    }),
                });
            }
        }
    }
    backends.retain(|b| b.weight > 0);
    if backends.is_empty() {
        return respond(500, "no backend with a non-zero weight");
    }
    if let [only] = backends.as_slice() {
        if let Some(r) = &only.respond {
            return ir::Action::Respond(r.clone());
        }
        if let Some(r) = redirects.pop() {
            // The only backend takes every request, so its redirect answers them all.
            return ir::Action::Redirect(r);
        }
    }
    if !redirects.is_empty() {
        problem.get_or_insert((
            reason::UNSUPPORTED_VALUE,
            "RequestRedirect on a backendRef is supported only when the rule has one backend"
                .to_owned(),
        ));
    }
    if backends.iter().all(|b| b.respond.is_some()) {
        return respond(500, "no backend of this route rule is available");
    }
    if let [only] = backends.as_mut_slice() {
        hoist(rule_filters, &mut only.filters);
    }
    ir::Action::Forward(backends)
}

/// The only backend of a rule gets every request, so its filters are the rule's, applied
/// after the rule's own. Each filter the rule does not have itself moves to the rule
/// (mirrors always can): the result is the same, and the proxy's per-backend path is only
/// needed for what is left.
fn hoist(rule: &mut ir::Filters, backend: &mut ir::Filters) {
    if rule.request_headers.is_none() {
        rule.request_headers = backend.request_headers.take();
    }
    if rule.response_headers.is_none() {
        rule.response_headers = backend.response_headers.take();
    }
    if rule.url_rewrite.is_none() {
        rule.url_rewrite = backend.url_rewrite.take();
    }
    rule.mirrors.append(&mut backend.mirrors);
}

/// `timeouts.request` (the whole request) and `timeouts.backendRequest` (each attempt).
/// Zero means no timeout; the IR then keeps the defaults (the service's request timeout
/// still bounds each attempt).
fn timeouts(
    rule: &HttpRouteRules,
    problem: &mut Option<Why>,
) -> (Option<std::time::Duration>, Option<std::time::Duration>) {
    let Some(t) = &rule.timeouts else {
        return (None, None);
    };
    let mut parse = |key: &str, v: Option<&String>| {
        let v = v?;
        match ApiDuration::from_str(v) {
            Ok(d) if d.is_zero() => None,
            Ok(d) => Some(std::time::Duration::from_millis(
                u64::try_from(d.as_millis()).unwrap_or(u64::MAX),
            )),
            Err(e) => {
                problem.get_or_insert((
                    reason::UNSUPPORTED_VALUE,
                    format!("timeouts.{key} {v:?}: {e}"),
                ));
                None
            }
        }
    };
    let request = parse("request", t.request.as_ref());
    let backend = parse("backendRequest", t.backend_request.as_ref());
    // Kubernetes services are not retried, so a request makes a single attempt: the
    // attempt's limit also bounds the whole request, which the proxy enforces today.
    let whole = match (request, backend) {
        (Some(r), Some(b)) => Some(r.min(b)),
        (r, b) => r.or(b),
    };
    (whole, backend)
}
