//! Route filters: header changes, URL rewrite, strip_prefix, redirect and mirrors.

use std::collections::BTreeMap;

use tollgate_ir as ir;
use tollgate_model::Spanned;
use tollgate_model::native::{Filters, HeaderChanges, PathRewrite, Redirect, UrlRewrite};

use super::Known;
use crate::problems::{Pos, Scope};
use crate::syntax;

/// Redirect status when none is given: 302, the Gateway API default.
const REDIRECT_STATUS: u16 = 302;

/// The filters, and the redirect with its position if the route answers with one.
pub(super) struct Translated {
    pub(super) filters: ir::Filters,
    pub(super) redirect: Option<(Pos, ir::Redirect)>,
}

pub(super) fn translate(
    f: &Filters,
    path: &ir::PathMatch,
    known: &Known<'_>,
    cx: &mut Scope<'_, '_>,
) -> Translated {
    let mut url_rewrite = f.url_rewrite.as_ref().map(|u| url_rewrite(u, path, cx));
    if f.strip_prefix {
        strip_prefix(f.url_rewrite.as_ref(), &mut url_rewrite, path, cx);
    }
    let mirrors = f
        .mirror
        .iter()
        .map(|m| {
            known.check_service("mirror: ", &m.service, cx);
            ir::Mirror {
                service: m.service.value.clone(),
                // Reported at the entry: `service` is the mirror's only position.
                percent: cx.percent(cx.pos_of(&m.service), "mirror.percent", m.percent, 100),
            }
        })
        .collect();
    let redirect = f.redirect.as_ref().map(|r| {
        let pos = cx.pos_of(r);
        // A redirect answers without forwarding, so anything that shapes the forwarded
        // request would silently do nothing.
        if f.url_rewrite.is_some() || f.strip_prefix {
            cx.push(
                pos,
                "redirect cannot be combined with url_rewrite or strip_prefix (nothing is forwarded); put the new path in redirect.path",
            );
        }
        if !f.mirror.is_empty() {
            cx.push(
                pos,
                "redirect cannot be combined with mirror (nothing is forwarded, so nothing is mirrored)",
            );
        }
        (pos, redirect(r, path, cx))
    });
    Translated {
        filters: ir::Filters {
            request_headers: f
                .request_headers
                .as_ref()
                .and_then(|h| header_changes("request_headers", h, cx)),
            response_headers: f
                .response_headers
                .as_ref()
                .and_then(|h| header_changes("response_headers", h, cx)),
            url_rewrite,
            mirrors,
        },
        redirect,
    }
}

fn url_rewrite(
    u: &Spanned<UrlRewrite>,
    path: &ir::PathMatch,
    cx: &mut Scope<'_, '_>,
) -> ir::UrlRewrite {
    let pos = cx.pos_of(u);
    let hostname = u.value.hostname.as_ref().and_then(|h| {
        syntax::hostname(h)
            .map_err(|e| cx.push(pos, format_args!("url_rewrite.hostname: {e}")))
            .ok()
    });
    let path = u
        .value
        .path
        .as_ref()
        .map(|p| path_rewrite("url_rewrite.path", p, path, pos, cx));
    ir::UrlRewrite { hostname, path }
}

/// `strip_prefix: true` is the Gateway API "replace prefix match with `/`".
fn strip_prefix(
    written: Option<&Spanned<UrlRewrite>>,
    url_rewrite: &mut Option<ir::UrlRewrite>,
    path: &ir::PathMatch,
    cx: &mut Scope<'_, '_>,
) {
    if let Some(u) = written.filter(|u| u.value.path.is_some()) {
        cx.push(
            cx.pos_of(u),
            "strip_prefix and url_rewrite.path both rewrite the path; keep one (strip_prefix is url_rewrite.path.replace_prefix: /)",
        );
        return;
    }
    if !matches!(path, ir::PathMatch::Prefix(_)) {
        cx.here("strip_prefix needs a prefix path match (match.path.prefix) to know what to strip");
        return;
    }
    url_rewrite.get_or_insert_with(ir::UrlRewrite::default).path =
        Some(ir::PathRewrite::Prefix("/".to_owned()));
}

/// A rewritten path; replacing the prefix needs a prefix match to say which prefix.
/// A route without a path condition matches prefix `/`, so it qualifies.
fn path_rewrite(
    key: &str,
    p: &PathRewrite,
    path: &ir::PathMatch,
    pos: Pos,
    cx: &mut Scope<'_, '_>,
) -> ir::PathRewrite {
    let (rewrite, value) = match p {
        PathRewrite::ReplaceFull(s) => (ir::PathRewrite::Full(s.clone()), s),
        PathRewrite::ReplacePrefix(s) => {
            if !matches!(path, ir::PathMatch::Prefix(_)) {
                cx.push(
                    pos,
                    format_args!(
                        "{key}.replace_prefix needs a prefix path match (match.path.prefix); use replace_full with an exact or regex match"
                    ),
                );
            }
            (ir::PathRewrite::Prefix(s.clone()), s)
        }
    };
    match template_filled(value, path) {
        Ok(filled) => {
            if let Err(e) = syntax::path(&filled) {
                cx.push(pos, format_args!("{key}: {e}"));
            }
        }
        Err(e) => cx.push(pos, format_args!("{key}: {e}")),
    }
    rewrite
}

/// A rewrite path with every `{name}` filled by a sample value, when each is a variable
/// of the route's path template (the proxy fills them with the captured text).
fn template_filled(value: &str, path: &ir::PathMatch) -> Result<String, String> {
    let names = ir::template::placeholders(value).map_err(|e| format!("{value:?}: {e}"))?;
    if names.is_empty() {
        return Ok(value.to_owned());
    }
    let ir::PathMatch::Template(t) = path else {
        return Err(format!(
            "{value:?} uses {{{}}}, but the route's path is not a template; match with `path: {{ template: ... }}` to capture variables",
            names[0]
        ));
    };
    let vars = ir::template::parse(t)
        .map(|p| ir::template::vars(&p).join(","))
        .unwrap_or_default();
    let mut filled = value.to_owned();
    for n in names {
        if !vars.split(',').any(|v| v == n) {
            return Err(format!(
                "{value:?} uses {{{n}}}, which the route's path template does not capture"
            ));
        }
        filled = filled.replace(&format!("{{{n}}}"), "x");
    }
    Ok(filled)
}

fn redirect(r: &Spanned<Redirect>, path: &ir::PathMatch, cx: &mut Scope<'_, '_>) -> ir::Redirect {
    let pos = cx.pos_of(r);
    let r = &r.value;
    let scheme = r.scheme.as_ref().map(|s| s.to_ascii_lowercase());
    if let Some(s) = scheme
        .as_deref()
        .filter(|s| !matches!(*s, "http" | "https"))
    {
        cx.push(
            pos,
            format_args!("redirect.scheme {s:?} must be http or https"),
        );
    }
    let hostname = r.hostname.as_ref().and_then(|h| {
        syntax::hostname(h)
            .map_err(|e| cx.push(pos, format_args!("redirect.hostname: {e}")))
            .ok()
    });
    if r.port == Some(0) {
        cx.push(pos, "redirect.port must be from 1 to 65535");
    }
    let status = r.status.unwrap_or(REDIRECT_STATUS);
    if !matches!(status, 301 | 302 | 303 | 307 | 308) {
        cx.push(
            pos,
            format_args!(
                "redirect.status {status} is not a redirect; use 301, 302, 303, 307 or 308"
            ),
        );
    }
    ir::Redirect {
        scheme,
        hostname,
        port: r.port,
        path: r
            .path
            .as_ref()
            .map(|p| path_rewrite("redirect.path", p, path, pos, cx)),
        status,
    }
}

/// Header changes with lower-case names, sorted by name so the snapshot does not depend
/// on how names were capitalised. Nothing to do is `None`.
fn header_changes(
    key: &str,
    h: &HeaderChanges,
    cx: &mut Scope<'_, '_>,
) -> Option<ir::HeaderChanges> {
    let set = pairs(key, "set", &h.set, cx);
    let add = pairs(key, "add", &h.add, cx);
    let mut remove: Vec<String> = Vec::with_capacity(h.remove.len());
    for name in &h.remove {
        match syntax::header_name(name) {
            Ok(n) if remove.contains(&n) => {}
            Ok(n) => remove.push(n),
            Err(e) => cx.here(format_args!("{key}.remove: {e}")),
        }
    }
    let changes = ir::HeaderChanges { set, add, remove };
    let empty = changes.set.is_empty() && changes.add.is_empty() && changes.remove.is_empty();
    (!empty).then_some(changes)
}

/// `set` and `add` as pairs. Setting one header twice is a conflict; adding it twice
/// (spelled in two cases, since the map keys differ) appends both values.
fn pairs(
    key: &str,
    op: &str,
    map: &BTreeMap<String, String>,
    cx: &mut Scope<'_, '_>,
) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::with_capacity(map.len());
    for (name, value) in map {
        let name = match syntax::header_name(name) {
            Ok(n) => n,
            Err(e) => {
                cx.here(format_args!("{key}.{op}: {e}"));
                continue;
            }
        };
        if let Err(e) = syntax::header_value(value) {
            cx.here(format_args!("{key}.{op} {name:?}: {e}"));
        }
        if op == "set" && out.iter().any(|(n, _)| *n == name) {
            cx.here(format_args!(
                "{key}.set names {name:?} twice (header names ignore case); keep one"
            ));
            continue;
        }
        out.push((name, value.clone()));
    }
    // Stable, so values added under one name keep their order.
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}
