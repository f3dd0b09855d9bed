//! Route actions that answer the request in the gateway itself (issue 9): `respond` and
//! `static`. A route has exactly one action; [`one_action`] reports a second one at the
//! line of the `respond` or `static` that conflicts.

use tollgate_ir as ir;
use tollgate_model::Spanned;
use tollgate_model::native::{Respond, Route, StaticFiles};

use crate::problems::{Pos, Scope};
use crate::syntax;

/// Headers whose value the gateway computes: a `respond` may not set them.
const COMPUTED: [&str; 3] = ["content-length", "transfer-encoding", "content-type"];

/// Reports a route with more than one action: `respond` or `static` next to each
/// other, to `backends` or to a redirect filter (`redirect` is where that is written).
pub(super) fn one_action(r: &Route, redirect: Option<Pos>, cx: &mut Scope<'_, '_>) {
    let (key, pos) = match (&r.respond, &r.static_files) {
        (Some(resp), Some(sf)) => {
            cx.push(
                cx.pos_of(sf),
                "static and respond both answer the request; keep one of them",
            );
            ("respond", cx.pos_of(resp))
        }
        (Some(resp), None) => ("respond", cx.pos_of(resp)),
        (None, Some(sf)) => ("static", cx.pos_of(sf)),
        (None, None) => return,
    };
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
