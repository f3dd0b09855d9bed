//! Route conditions: path, methods, headers and query parameters.

use tollgate_ir as ir;
use tollgate_model::Spanned;
use tollgate_model::native::{PathMatch, RouteMatch, ValueMatch};

use crate::problems::Scope;
use crate::syntax;

pub(super) fn translate(m: &RouteMatch, cx: &mut Scope<'_, '_>) -> ir::RouteMatch {
    ir::RouteMatch {
        path: m.path.as_ref().map(|p| path(p, cx)).unwrap_or_default(),
        methods: methods(m.methods.as_deref().unwrap_or_default(), cx),
        headers: values(Kind::Header, &m.headers, cx),
        query: values(Kind::Query, &m.query, cx),
    }
}

fn path(p: &Spanned<PathMatch>, cx: &mut Scope<'_, '_>) -> ir::PathMatch {
    let pos = cx.pos_of(p);
    let checked = match &p.value {
        PathMatch::Prefix(s) => {
            syntax::path(s).map(|()| ir::PathMatch::Prefix(syntax::normalise_prefix(s)))
        }
        PathMatch::Exact(s) => syntax::path(s).map(|()| ir::PathMatch::Exact(s.clone())),
        PathMatch::Regex(s) => syntax::regex(s).map(|()| ir::PathMatch::Regex(s.clone())),
        PathMatch::Template(s) => template(s).map(|()| ir::PathMatch::Template(s.clone())),
    };
    checked.unwrap_or_else(|e| {
        cx.push(pos, format_args!("match.path: {e}"));
        ir::PathMatch::default()
    })
}

/// A path template: its braces and names, and the path it would be with every variable
/// filled (so the literal parts follow the path rules).
fn template(t: &str) -> Result<(), String> {
    let pieces = ir::template::parse(t).map_err(|e| format!("template {t:?}: {e}"))?;
    let filled: String = pieces
        .iter()
        .map(|p| match p {
            ir::template::Piece::Literal(l) => *l,
            ir::template::Piece::Var(_) => "x",
        })
        .collect();
    syntax::path(&filled).map_err(|e| format!("template {t:?}: {e}"))
}

/// Upper case, each once, in the order written.
fn methods(list: &[String], cx: &mut Scope<'_, '_>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(list.len());
    for m in list {
        match syntax::method(m) {
            Ok(m) if out.contains(&m) => {}
            Ok(m) => out.push(m),
            Err(e) => cx.here(format_args!("match.methods: {e}")),
        }
    }
    out
}

#[derive(Clone, Copy)]
enum Kind {
    Header,
    Query,
}

impl Kind {
    fn key(self) -> &'static str {
        match self {
            Self::Header => "match.headers",
            Self::Query => "match.query",
        }
    }
}

/// Header or query conditions. A name may appear once: Gateway API says only the first
/// of repeated names counts, and silently ignoring a condition the user wrote is worse
/// than asking them to merge the two.
fn values(kind: Kind, list: &[Spanned<ValueMatch>], cx: &mut Scope<'_, '_>) -> Vec<ir::ValueMatch> {
    let key = kind.key();
    let mut out: Vec<ir::ValueMatch> = Vec::with_capacity(list.len());
    // Names seen so far, valid conditions or not, so a repeat is reported even when the
    // first one has a problem of its own.
    let mut seen: Vec<String> = Vec::with_capacity(list.len());
    for spanned in list {
        let pos = cx.pos_of(spanned);
        let m = &spanned.value;
        let name = match kind {
            Kind::Header => syntax::header_name(&m.name),
            // Parameter names are compared exactly as written.
            Kind::Query if m.name.is_empty() => Err("the parameter name is empty".to_owned()),
            Kind::Query => Ok(m.name.clone()),
        };
        let name = match name {
            Ok(name) => name,
            Err(e) => {
                cx.push(pos, format_args!("{key}: {e}"));
                continue;
            }
        };
        if seen.contains(&name) {
            cx.push(
                pos,
                format_args!(
                    "{key}: {name:?} is matched twice; combine the conditions into one regex"
                ),
            );
            continue;
        }
        seen.push(name.clone());
        let value = match (&m.value, &m.regex) {
            (Some(v), None) => match kind {
                Kind::Header => syntax::header_value(v).map(|()| ir::StringMatch::Exact(v.clone())),
                Kind::Query => Ok(ir::StringMatch::Exact(v.clone())),
            },
            (None, Some(re)) => syntax::regex(re).map(|()| ir::StringMatch::Regex(re.clone())),
            _ => Err("give exactly one of `value` or `regex`".to_owned()),
        };
        match value {
            Ok(value) => out.push(ir::ValueMatch { name, value }),
            Err(e) => cx.push(pos, format_args!("{key} {name:?}: {e}")),
        }
    }
    out
}
