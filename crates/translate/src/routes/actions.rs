//! Route actions that answer the request in the gateway itself (issue 9): `respond`.
//! A route has exactly one action; the checks here report a second one at its line.

use tollgate_ir as ir;
use tollgate_model::Spanned;
use tollgate_model::native::{Respond, Route};

use crate::problems::{Pos, Scope};
use crate::syntax;

/// Headers whose value the gateway computes: a `respond` may not set them.
const COMPUTED: [&str; 3] = ["content-length", "transfer-encoding", "content-type"];

/// `respond`, checked: a final status, valid headers, and no other action on the route.
/// `redirect` is where the route's redirect filter is written, if it has one.
pub(super) fn respond(
    r: &Route,
    resp: &Spanned<Respond>,
    redirect: Option<Pos>,
    cx: &mut Scope<'_, '_>,
) -> ir::DirectResponse {
    let pos = cx.pos_of(resp);
    let v = &resp.value;
    if !r.backends.is_empty() {
        cx.push(
            pos,
            "respond answers the request itself, so the route cannot also have backends; remove one of them",
        );
    }
    if redirect.is_some() {
        cx.push(
            pos,
            "respond and a redirect filter both answer the request; keep one of them",
        );
    }
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
