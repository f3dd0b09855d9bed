//! HTTPRoute filters (and GRPCRoute's, converted to the HTTPRoute types, whose shape they
//! share) to IR filters, a redirect, and backend-level filters.

use serde::Serialize;
use serde::de::DeserializeOwned;
use tollgate_ir as ir;
use tollgate_model::k8s::gateway_api::httproutes::{
    HttpRouteRulesFilters as Filter, HttpRouteRulesFiltersRequestMirror as Mirror,
    HttpRouteRulesFiltersRequestRedirect as Redirect,
    HttpRouteRulesFiltersRequestRedirectPathType as RedirectPathType,
    HttpRouteRulesFiltersRequestRedirectScheme as Scheme, HttpRouteRulesFiltersType as Type,
    HttpRouteRulesFiltersUrlRewrite as Rewrite,
    HttpRouteRulesFiltersUrlRewritePathType as RewritePathType,
};

use super::backends::BackendRef;
use super::gateway::Why;
use super::index::GATEWAY_GROUP;
use super::reasons::reason;
use super::route::Cx;
use super::status::ParentRef;
use crate::syntax;

/// Redirect status when none is given (Gateway API default).
const REDIRECT_STATUS: u16 = 302;

/// Re-reads a value as another type with the same serialized shape (GRPCRoute filters
/// and backend-level filters as HTTPRoute rule filters). `None` if the shapes differ,
/// which the generated types make impossible for the fields they share.
pub(crate) fn convert<T: Serialize, U: DeserializeOwned>(value: &T) -> Option<U> {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| serde_json::from_value(v).ok())
}

/// A rule's filters, translated.
#[derive(Default)]
pub(crate) struct Translated {
    pub(crate) filters: ir::Filters,
    pub(crate) redirect: Option<ir::Redirect>,
    /// The access policies of an ExtensionRef to a `tollgate.dev` Policy.
    pub(crate) policies: Option<ir::RoutePolicies>,
}

fn unsupported(msg: impl Into<String>) -> Why {
    (reason::UNSUPPORTED_VALUE, msg.into())
}

/// Translates filters. `prefix_match`: every match of the rule is a path prefix (needed by
/// `ReplacePrefixMatch`). Invalid mirrors are dropped and reported through `cx` as
/// unresolved references; anything else invalid makes the rule invalid.
pub(crate) fn translate(
    list: &[Filter],
    prefix_match: bool,
    backend_level: bool,
    cx: &mut Cx<'_, '_>,
) -> Result<Translated, Why> {
    let mut out = Translated::default();
    let mut seen: Vec<String> = Vec::new();
    for f in list {
        let name = type_name(&f.r#type).to_owned();
        if f.r#type != Type::RequestMirror {
            if seen.contains(&name) {
                return Err(unsupported(format!("filter {name} is given twice")));
            }
            seen.push(name.clone());
        }
        match f.r#type {
            // The request and response modifiers are distinct generated types with the
            // same shape; one macro keeps their translation identical.
            Type::RequestHeaderModifier => {
                let m = f
                    .request_header_modifier
                    .as_ref()
                    .ok_or_else(|| missing(&name))?;
                out.filters.request_headers = modifier!(m)?;
            }
            Type::ResponseHeaderModifier => {
                let m = f
                    .response_header_modifier
                    .as_ref()
                    .ok_or_else(|| missing(&name))?;
                out.filters.response_headers = modifier!(m)?;
            }
            Type::UrlRewrite => {
                let r = f.url_rewrite.as_ref().ok_or_else(|| missing(&name))?;
                out.filters.url_rewrite = Some(url_rewrite(r, prefix_match)?);
            }
            Type::RequestRedirect => {
                let r = f.request_redirect.as_ref().ok_or_else(|| missing(&name))?;
                out.redirect = Some(redirect(r, prefix_match)?);
            }
            Type::RequestMirror => {
                let m = f.request_mirror.as_ref().ok_or_else(|| missing(&name))?;
                if let Some(mirror) = mirror(m, cx) {
                    out.filters.mirrors.push(mirror);
                }
            }
            Type::ExtensionRef if !backend_level => {
                let e = f.extension_ref.as_ref().ok_or_else(|| missing(&name))?;
                out.policies = Some(extension_policy(&e.group, &e.kind, &e.name, cx)?);
            }
            Type::ExtensionRef | Type::Cors => {
                return Err(unsupported(format!(
                    "filter type {name} is not supported{}",
                    if backend_level {
                        " on a backendRef"
                    } else {
                        ""
                    }
                )));
            }
        }
    }
    if out.redirect.is_some() && out.filters.url_rewrite.is_some() {
        return Err((
            reason::INCOMPATIBLE_FILTERS,
            "RequestRedirect and URLRewrite cannot be used together".to_owned(),
        ));
    }
    Ok(out)
}

/// The Policy an ExtensionRef filter names (only `tollgate.dev` Policies, in the route's
/// namespace: the reference has no namespace of its own).
fn extension_policy(
    group: &str,
    kind: &str,
    name: &str,
    cx: &mut Cx<'_, '_>,
) -> Result<ir::RoutePolicies, Why> {
    if (group, kind) != (tollgate_model::crds::GROUP, "Policy") {
        return Err(unsupported(format!(
            "ExtensionRef to {group}/{kind} is not supported; only {}/Policy",
            tollgate_model::crds::GROUP
        )));
    }
    let ancestor = ParentRef {
        group: Some(GATEWAY_GROUP.to_owned()),
        kind: Some(cx.referrer.kind.to_owned()),
        namespace: Some(cx.referrer.ns.to_owned()),
        name: cx.name.clone(),
        section_name: cx.rule_name.clone(),
        port: None,
    };
    let ns = cx.referrer.ns;
    cx.policies
        .extension(ns, name, ancestor)
        .map_err(unsupported)
}

/// The filter type as Gateway API spells it.
fn type_name(t: &Type) -> &'static str {
    match t {
        Type::RequestHeaderModifier => "RequestHeaderModifier",
        Type::ResponseHeaderModifier => "ResponseHeaderModifier",
        Type::RequestMirror => "RequestMirror",
        Type::RequestRedirect => "RequestRedirect",
        Type::UrlRewrite => "URLRewrite",
        Type::ExtensionRef => "ExtensionRef",
        Type::Cors => "CORS",
    }
}

fn missing(name: &str) -> Why {
    unsupported(format!("filter {name} has no settings of its own"))
}

/// Header changes with lower-case names; nothing to do is `None`.
/// A Gateway API header modifier (`set`, `add`, `remove`) as IR header changes.
macro_rules! modifier {
    ($m:expr) => {{
        let m = $m;
        let set: Vec<_> = m
            .set
            .iter()
            .flatten()
            .map(|h| (&h.name, &h.value))
            .collect();
        let add: Vec<_> = m
            .add
            .iter()
            .flatten()
            .map(|h| (&h.name, &h.value))
            .collect();
        header_changes(&set, &add, m.remove.as_deref().unwrap_or_default())
    }};
}
use modifier;

fn header_changes(
    set: &[(&String, &String)],
    add: &[(&String, &String)],
    remove: &[String],
) -> Result<Option<ir::HeaderChanges>, Why> {
    let pair = |(n, v): &(&String, &String)| -> Result<(String, String), Why> {
        let name = syntax::header_name(n).map_err(unsupported)?;
        syntax::header_value(v).map_err(unsupported)?;
        Ok((name, (*v).clone()))
    };
    let changes = ir::HeaderChanges {
        set: set.iter().map(pair).collect::<Result<_, _>>()?,
        add: add.iter().map(pair).collect::<Result<_, _>>()?,
        remove: remove
            .iter()
            .map(|n| syntax::header_name(n).map_err(unsupported))
            .collect::<Result<_, _>>()?,
    };
    let empty = changes.set.is_empty() && changes.add.is_empty() && changes.remove.is_empty();
    Ok((!empty).then_some(changes))
}

fn path_rewrite(
    full: Option<&String>,
    prefix: Option<&String>,
    is_prefix: bool,
    prefix_match: bool,
) -> Result<ir::PathRewrite, Why> {
    let (rewrite, value) = if is_prefix {
        if !prefix_match {
            return Err(unsupported(
                "ReplacePrefixMatch needs every match of the rule to be a PathPrefix match",
            ));
        }
        let v = prefix.map_or("/", String::as_str);
        (ir::PathRewrite::Prefix(v.to_owned()), v)
    } else {
        let v = full.map_or("/", String::as_str);
        (ir::PathRewrite::Full(v.to_owned()), v)
    };
    syntax::path(value).map_err(unsupported)?;
    Ok(rewrite)
}

fn url_rewrite(r: &Rewrite, prefix_match: bool) -> Result<ir::UrlRewrite, Why> {
    let hostname = r
        .hostname
        .as_deref()
        .map(|h| syntax::hostname(h).map_err(unsupported))
        .transpose()?;
    let path = r
        .path
        .as_ref()
        .map(|p| {
            path_rewrite(
                p.replace_full_path.as_ref(),
                p.replace_prefix_match.as_ref(),
                p.r#type == RewritePathType::ReplacePrefixMatch,
                prefix_match,
            )
        })
        .transpose()?;
    Ok(ir::UrlRewrite { hostname, path })
}

fn redirect(r: &Redirect, prefix_match: bool) -> Result<ir::Redirect, Why> {
    let hostname = r
        .hostname
        .as_deref()
        .map(|h| syntax::hostname(h).map_err(unsupported))
        .transpose()?;
    let port = r
        .port
        .map(|p| {
            u16::try_from(p)
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| unsupported(format!("redirect port {p} is not from 1 to 65535")))
        })
        .transpose()?;
    let status = match r.status_code {
        None => REDIRECT_STATUS,
        Some(s @ (301 | 302 | 303 | 307 | 308)) => s as u16,
        Some(s) => {
            return Err(unsupported(format!(
                "redirect statusCode {s} is not supported"
            )));
        }
    };
    let path = r
        .path
        .as_ref()
        .map(|p| {
            path_rewrite(
                p.replace_full_path.as_ref(),
                p.replace_prefix_match.as_ref(),
                p.r#type == RedirectPathType::ReplacePrefixMatch,
                prefix_match,
            )
        })
        .transpose()?;
    Ok(ir::Redirect {
        scheme: r.scheme.as_ref().map(|s| {
            match s {
                Scheme::Http => "http",
                Scheme::Https => "https",
            }
            .to_owned()
        }),
        hostname,
        port,
        path,
        status,
    })
}

/// A mirror target, or `None` (reported as unresolved) when its backend is invalid.
fn mirror(m: &Mirror, cx: &mut Cx<'_, '_>) -> Option<ir::Mirror> {
    let b = &m.backend_ref;
    let r = BackendRef {
        group: b.group.as_deref(),
        kind: b.kind.as_deref(),
        name: &b.name,
        namespace: b.namespace.as_deref(),
        port: b.port,
    };
    let service = match cx.resolve(&r) {
        Ok(s) => s,
        Err(e) => {
            cx.unresolved.push(e);
            return None;
        }
    };
    // The IR counts in whole percent; a fraction is rounded to the nearest.
    let percent = match (&m.fraction, m.percent) {
        (Some(f), _) => {
            let den = i64::from(f.denominator.unwrap_or(100).max(1));
            let num = i64::from(f.numerator.clamp(0, i32::MAX));
            ((num * 100 + den / 2) / den).clamp(0, 100)
        }
        (None, Some(p)) => i64::from(p.clamp(0, 100)),
        (None, None) => 100,
    };
    Some(ir::Mirror {
        service,
        percent: u8::try_from(percent).unwrap_or(100),
    })
}
