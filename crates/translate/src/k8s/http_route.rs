//! HTTPRoute: matches to IR conditions; rules through [`super::route`].

use tollgate_ir as ir;
use tollgate_model::k8s::HttpRoute;
use tollgate_model::k8s::gateway_api::httproutes::{
    HttpRouteParentRefs, HttpRouteRulesMatches, HttpRouteRulesMatchesHeadersType as HeaderType,
    HttpRouteRulesMatchesMethod as Method, HttpRouteRulesMatchesPathType as PathType,
    HttpRouteRulesMatchesQueryParamsType as QueryType,
};

use super::route::{self, Cx};
use super::status::ParentRef;
use crate::syntax;

/// The route's rules, translated into `cx`.
pub(crate) fn rules(r: &HttpRoute, cx: &mut Cx<'_, '_>) {
    for (i, rule) in r.spec.rules.iter().flatten().enumerate() {
        let matches = match rule.matches.as_deref() {
            None | Some([]) => vec![Ok(ir::RouteMatch::default())],
            Some(list) => list.iter().map(one).collect(),
        };
        route::rule(cx, i, rule, matches);
    }
}

/// The route's parentRefs, in the shape statuses use.
pub(crate) fn parents(r: &HttpRoute) -> Vec<ParentRef> {
    r.spec
        .parent_refs
        .iter()
        .flatten()
        .map(|p: &HttpRouteParentRefs| ParentRef {
            group: p.group.clone(),
            kind: p.kind.clone(),
            namespace: p.namespace.clone(),
            name: p.name.clone(),
            section_name: p.section_name.clone(),
            port: p.port,
        })
        .collect()
}

/// One match. Header names are compared case-insensitively, so they are lower-cased;
/// query parameter names are compared as written. Only the first condition on a name
/// counts (Gateway API), so later ones are dropped.
fn one(m: &HttpRouteRulesMatches) -> Result<ir::RouteMatch, String> {
    let path = match &m.path {
        None => ir::PathMatch::default(),
        Some(p) => {
            let value = p.value.as_deref().unwrap_or("/");
            match p.r#type.as_ref().unwrap_or(&PathType::PathPrefix) {
                PathType::Exact => {
                    syntax::path(value)?;
                    ir::PathMatch::Exact(value.to_owned())
                }
                PathType::PathPrefix => {
                    syntax::path(value)?;
                    ir::PathMatch::Prefix(syntax::normalise_prefix(value))
                }
                PathType::RegularExpression => {
                    syntax::regex(value)?;
                    ir::PathMatch::Regex(value.to_owned())
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
    let mut query: Vec<ir::ValueMatch> = Vec::new();
    for q in m.query_params.iter().flatten() {
        if q.name.is_empty() {
            return Err("a query parameter match has an empty name".to_owned());
        }
        if query.iter().any(|x| x.name == q.name) {
            continue;
        }
        let regex = q.r#type.as_ref() == Some(&QueryType::RegularExpression);
        query.push(ir::ValueMatch {
            name: q.name.clone(),
            value: value(&q.value, regex)?,
        });
    }
    Ok(ir::RouteMatch {
        path,
        methods: m
            .method
            .as_ref()
            .map(|m| vec![method(m).to_owned()])
            .unwrap_or_default(),
        headers,
        query,
    })
}

pub(crate) fn value(v: &str, regex: bool) -> Result<ir::StringMatch, String> {
    if regex {
        syntax::regex(v)?;
        Ok(ir::StringMatch::Regex(v.to_owned()))
    } else {
        Ok(ir::StringMatch::Exact(v.to_owned()))
    }
}

fn method(m: &Method) -> &'static str {
    match m {
        Method::Get => "GET",
        Method::Head => "HEAD",
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Delete => "DELETE",
        Method::Connect => "CONNECT",
        Method::Options => "OPTIONS",
        Method::Trace => "TRACE",
        Method::Patch => "PATCH",
    }
}
