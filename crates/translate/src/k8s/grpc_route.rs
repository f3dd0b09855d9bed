//! GRPCRoute: a gRPC call is `POST /<service>/<method>` over HTTP/2, so service and
//! method matches become path matches; filters and backendRefs have HTTPRoute's shape
//! and go through the same code. Backends are spoken to in h2c.

use tollgate_ir as ir;
use tollgate_model::k8s::GrpcRoute;
use tollgate_model::k8s::gateway_api::grpcroutes::{
    GrpcRouteRulesMatches, GrpcRouteRulesMatchesHeadersType as HeaderType,
    GrpcRouteRulesMatchesMethodType as MethodType,
};
use tollgate_model::k8s::gateway_api::httproutes::HttpRouteRules;

use super::filters::convert;
use super::http_route::value;
use super::route::{self, Cx};
use super::status::ParentRef;
use crate::syntax;

/// A service or method name segment: anything but `/`.
const SEGMENT: &str = "[^/]+";

/// The route's rules, translated into `cx`.
pub(crate) fn rules(r: &GrpcRoute, cx: &mut Cx<'_, '_>) {
    for (i, rule) in r.spec.rules.iter().flatten().enumerate() {
        let matches = match rule.matches.as_deref() {
            None | Some([]) => vec![Ok(ir::RouteMatch::default())],
            Some(list) => list.iter().map(one).collect(),
        };
        let as_http = HttpRouteRules {
            backend_refs: rule
                .backend_refs
                .as_ref()
                .map(|b| b.iter().filter_map(convert).collect()),
            filters: rule
                .filters
                .as_ref()
                .map(|f| f.iter().filter_map(convert).collect()),
            matches: None,
            name: rule.name.clone(),
            timeouts: None,
        };
        route::rule(cx, i, &as_http, matches);
    }
}

/// The route's parentRefs, in the shape statuses use.
pub(crate) fn parents(r: &GrpcRoute) -> Vec<ParentRef> {
    r.spec
        .parent_refs
        .iter()
        .flatten()
        .map(|p| ParentRef {
            group: p.group.clone(),
            kind: p.kind.clone(),
            namespace: p.namespace.clone(),
            name: p.name.clone(),
            section_name: p.section_name.clone(),
            port: p.port,
        })
        .collect()
}

fn one(m: &GrpcRouteRulesMatches) -> Result<ir::RouteMatch, String> {
    let path = match &m.method {
        None => ir::PathMatch::default(),
        Some(method) => {
            let service = method.service.as_deref().filter(|s| !s.is_empty());
            let name = method.method.as_deref().filter(|s| !s.is_empty());
            let regex = method.r#type.as_ref() == Some(&MethodType::RegularExpression);
            match (regex, service, name) {
                (_, None, None) => {
                    return Err("a gRPC method match needs a service or a method".to_owned());
                }
                (true, s, n) => {
                    let re = format!("/{}/{}", s.unwrap_or(SEGMENT), n.unwrap_or(SEGMENT));
                    syntax::regex(&re)?;
                    ir::PathMatch::Regex(re)
                }
                (false, Some(s), Some(n)) => {
                    let p = format!("/{s}/{n}");
                    segment(s)?;
                    segment(n)?;
                    syntax::path(&p)?;
                    ir::PathMatch::Exact(p)
                }
                (false, Some(s), None) => {
                    segment(s)?;
                    let p = format!("/{s}");
                    syntax::path(&p)?;
                    ir::PathMatch::Prefix(p)
                }
                (false, None, Some(n)) => {
                    segment(n)?;
                    ir::PathMatch::Regex(format!("/{SEGMENT}/{}", regex::escape(n)))
                }
            }
        }
    };
    let mut headers: Vec<ir::ValueMatch> = Vec::new();
    for h in m.headers.iter().flatten() {
        let name = syntax::header_name(&h.name)?;
        if headers.iter().any(|x| x.name == name) {
            continue;
        }
        let regex = h.r#type.as_ref() == Some(&HeaderType::RegularExpression);
        headers.push(ir::ValueMatch {
            name,
            value: value(&h.value, regex)?,
        });
    }
    Ok(ir::RouteMatch {
        path,
        methods: Vec::new(),
        headers,
        query: Vec::new(),
    })
}

/// A service or method name must be one path segment.
fn segment(s: &str) -> Result<(), String> {
    if s.contains('/') {
        Err(format!("gRPC service or method {s:?} must not contain /"))
    } else {
        Ok(())
    }
}
