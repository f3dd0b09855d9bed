//! Route actions that answer the request in the gateway itself (issue 9): `respond` and
//! `static`. A route has exactly one action; [`one_action`] reports a second one at the
//! line of the `respond` or `static` that conflicts.

use tollgate_ir as ir;
use tollgate_model::Spanned;
use tollgate_model::native::{Aggregate, Respond, Route, StaticFiles};

use crate::problems::{Pos, Scope};
use crate::syntax;

/// Headers whose value the gateway computes: a `respond` may not set them.
const COMPUTED: [&str; 3] = ["content-length", "transfer-encoding", "content-type"];

/// Reports a route with more than one action: `respond`, `static` or `aggregate` next
/// to each other, to `backends` or to a redirect filter (`redirect` is where that is
/// written).
pub(super) fn one_action(r: &Route, redirect: Option<Pos>, cx: &mut Scope<'_, '_>) {
    let mut own: Vec<(&str, Pos)> = Vec::new();
    if let Some(resp) = &r.respond {
        own.push(("respond", cx.pos_of(resp)));
    }
    if let Some(sf) = &r.static_files {
        own.push(("static", cx.pos_of(sf)));
    }
    if let Some(a) = &r.aggregate {
        own.push(("aggregate", cx.pos_of(a)));
    }
    let Some(&(key, pos)) = own.first() else {
        return;
    };
    for &(other, other_pos) in &own[1..] {
        cx.push(
            other_pos,
            format_args!("{other} and {key} both answer the request; keep one of them"),
        );
    }
    if !r.backends.is_empty() {
        cx.push(
            pos,
            format_args!("{key} answers the request itself, so the route cannot also have backends; remove one of them"),
        );
    }
    if redirect.is_some() {
        cx.push(
            pos,
            format_args!("{key} and a redirect filter both answer the request; keep one of them"),
        );
    }
}

/// `respond`, checked: a final status and valid headers.
pub(super) fn respond(resp: &Spanned<Respond>, cx: &mut Scope<'_, '_>) -> ir::DirectResponse {
    let pos = cx.pos_of(resp);
    let v = &resp.value;
    if !(200..=599).contains(&v.status.value) {
        cx.push(
            cx.pos_of(&v.status),
            format_args!(
                "respond.status {} is not a final status code; use 200–599",
                v.status.value
            ),
        );
    }
    if let Some(ct) = &v.content_type
        && let Err(e) = syntax::header_value(ct)
    {
        cx.push(pos, format_args!("respond.content_type: {e}"));
    }
    let mut headers: Vec<(String, String)> = Vec::with_capacity(v.headers.len());
    for (name, value) in &v.headers {
        let name = match syntax::header_name(name) {
            Ok(n) => n,
            Err(e) => {
                cx.push(pos, format_args!("respond.headers: {e}"));
                continue;
            }
        };
        if COMPUTED.contains(&name.as_str()) {
            let hint = if name == "content-type" {
                "use respond.content_type"
            } else {
                "the gateway sets it from the body"
            };
            cx.push(
                pos,
                format_args!("respond.headers cannot set {name:?}; {hint}"),
            );
            continue;
        }
        if let Err(e) = syntax::header_value(value) {
            cx.push(pos, format_args!("respond.headers {name:?}: {e}"));
            continue;
        }
        if headers.iter().any(|(n, _)| *n == name) {
            cx.push(
                pos,
                format_args!(
                    "respond.headers names {name:?} twice (header names ignore case); keep one"
                ),
            );
            continue;
        }
        headers.push((name, value.clone()));
    }
    ir::DirectResponse {
        status: v.status.value,
        body: v.body.clone().unwrap_or_default(),
        as_written: true,
        content_type: v.content_type.clone(),
        headers,
    }
}

/// `static`, checked: the route matches a path prefix (stripped before the file is looked
/// up), `root` is a directory (relative to the configuration file's directory, made
/// absolute here) and `index` is a plain file name.
pub(super) fn static_files(
    sf: &Spanned<StaticFiles>,
    path: &ir::PathMatch,
    cx: &mut Scope<'_, '_>,
) -> ir::StaticFiles {
    let v = &sf.value;
    if !matches!(path, ir::PathMatch::Prefix(_)) {
        cx.push(
            cx.pos_of(sf),
            "static needs a path prefix match (`match: { path: { prefix: /docs } }`): the prefix is what is stripped to find the file",
        );
    }
    let root = cx.base_dir().join(&v.root.value);
    let root = std::path::absolute(&root).unwrap_or(root);
    match std::fs::metadata(&root) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => cx.push(
            cx.pos_of(&v.root),
            format_args!("static.root {} is not a directory", root.display()),
        ),
        Err(e) => cx.push(
            cx.pos_of(&v.root),
            format_args!("static.root: cannot read {}: {e}", root.display()),
        ),
    }
    let index = match &v.index {
        Some(i) => {
            let bad = i.value.is_empty()
                || i.value == "."
                || i.value == ".."
                || i.value.contains(['/', '\\', '\0']);
            if bad {
                cx.push(
                    cx.pos_of(i),
                    format_args!(
                        "static.index {:?} must be a file name (no `/`, not `.` or `..`)",
                        i.value
                    ),
                );
            }
            i.value.clone()
        }
        None => "index.html".to_owned(),
    };
    ir::StaticFiles {
        root: root.to_string_lossy().into_owned(),
        index,
    }
}

/// Default time each aggregation call may take when neither the block nor the route says.
const AGGREGATE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// Default largest body of one aggregation part.
const AGGREGATE_MAX_BODY: u64 = 1 << 20;

/// `aggregate`, checked: at least one part, unique part names (they are JSON keys, and
/// `errors` is the answer's own), known services, paths that start with `/` and use only
/// variables of the route's path template.
pub(super) fn aggregate(
    a: &Spanned<Aggregate>,
    path: &ir::PathMatch,
    route_timeout: Option<std::time::Duration>,
    known: &super::Known<'_>,
    cx: &mut Scope<'_, '_>,
) -> ir::Aggregate {
    let v = &a.value;
    let pos = cx.pos_of(a);
    if v.parts.is_empty() {
        cx.push(pos, "aggregate.parts is empty; list the calls to make");
    }
    let vars: Vec<&str> = match path {
        ir::PathMatch::Template(t) => ir::template::parse(t)
            .map(|p| ir::template::vars(&p))
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    let mut parts: Vec<ir::AggregatePart> = Vec::with_capacity(v.parts.len());
    for part in &v.parts {
        let ppos = cx.pos_of(part);
        let p = &part.value;
        if p.name.is_empty() || p.name == "errors" {
            cx.push(
                ppos,
                format_args!(
                    "aggregate part name {:?} is not allowed (`errors` holds the failed parts); choose another",
                    p.name
                ),
            );
        } else if parts.iter().any(|q| q.name == p.name) {
            cx.push(
                ppos,
                format_args!(
                    "aggregate part name {:?} is used twice; names are the answer's keys",
                    p.name
                ),
            );
        }
        known.check_service("aggregate: ", &p.service, cx);
        part_path(&p.path, &vars, path, ppos, cx);
        parts.push(ir::AggregatePart {
            name: p.name.clone(),
            service: p.service.value.clone(),
            path: p.path.clone(),
            optional: p.optional,
        });
    }
    let mut forward_headers = Vec::with_capacity(v.forward_headers.len());
    for h in &v.forward_headers {
        match syntax::header_name(h) {
            Ok(n) if forward_headers.contains(&n) => {}
            Ok(n) => forward_headers.push(n),
            Err(e) => cx.push(pos, format_args!("aggregate.forward_headers: {e}")),
        }
    }
    let timeout = match v.timeout {
        Some(t) if t.0.is_zero() => {
            cx.push(pos, "aggregate.timeout must be greater than 0");
            AGGREGATE_TIMEOUT
        }
        Some(t) => t.0,
        None => route_timeout.unwrap_or(AGGREGATE_TIMEOUT),
    };
    let max_body = match v.max_body {
        Some(b) if b.0 == 0 => {
            cx.push(pos, "aggregate.max_body must be greater than 0");
            AGGREGATE_MAX_BODY
        }
        Some(b) => b.0,
        None => AGGREGATE_MAX_BODY,
    };
    ir::Aggregate {
        timeout,
        max_body,
        forward_headers,
        parts,
    }
}

/// A part's path and query: starts with `/`, and every `{name}` is a variable of the
/// route's template.
fn part_path(text: &str, vars: &[&str], path: &ir::PathMatch, pos: Pos, cx: &mut Scope<'_, '_>) {
    if !text.starts_with('/') {
        cx.push(
            pos,
            format_args!("aggregate part path {text:?} must start with /"),
        );
    }
    if text
        .chars()
        .any(|c| c.is_ascii_control() || c == ' ' || c == '#')
    {
        cx.push(
            pos,
            format_args!("aggregate part path {text:?} contains a space, `#` or control character; percent-encode it"),
        );
    }
    match ir::template::placeholders(text) {
        Err(e) => cx.push(pos, format_args!("aggregate part path {text:?}: {e}")),
        Ok(names) => {
            for n in names {
                if vars.contains(&n) {
                    continue;
                }
                if matches!(path, ir::PathMatch::Template(_)) {
                    cx.push(
                        pos,
                        format_args!("aggregate part path uses {{{n}}}, which the route's path template does not capture (it captures: {})", vars.join(", ")),
                    );
                } else {
                    cx.push(
                        pos,
                        format_args!("aggregate part path uses {{{n}}}, but the route's path is not a template; match with `path: {{ template: \"/…/{{{n}}}\" }}`"),
                    );
                }
            }
        }
    }
}
