//! Route precedence inside a virtual host, as a value: a derived `Ord` key per route,
//! sorted once, so the proxy can take the first route that matches.
//!
//! The rules are Gateway API's HTTPRoute precedence, with the implementation-specific
//! parts chosen as Envoy Gateway does:
//!
//! 1. an exact path beats a path template, which beats a regex path, which beats a
//!    prefix path (a template is written for one operation, as API management matches
//!    them: literal text first);
//! 2. between templates the one with more literal characters wins, between regexes the
//!    longer pattern, between prefixes the longer prefix (in characters; prefixes are
//!    stored without a trailing slash so `/a/` and `/a` tie);
//! 3. a method condition beats none;
//! 4. more header conditions beat fewer;
//! 5. more query conditions beat fewer;
//! 6. the route written first (earlier file, then earlier in the file) wins.
//!
//! The key's fields are declared in that order and compared lexicographically by the
//! derived `Ord`, so the declaration order below *is* the rule: reorder with care.

use std::cmp::Reverse;

use tollgate_ir as ir;

/// Sort key of a route; smaller sorts first and so is tried first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Precedence {
    path: PathRank,
    method: MethodRank,
    /// More header conditions first, hence `Reverse`.
    headers: Reverse<usize>,
    /// More query conditions first.
    query: Reverse<usize>,
    /// Position in the merged configuration; unique, so the order is total.
    order: usize,
}

/// The kind of path condition, most specific first (variant order is the rank).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum PathRank {
    Exact,
    /// Literal characters of the template, most first.
    Template(Reverse<usize>),
    /// Pattern length in characters, longest first.
    Regex(Reverse<usize>),
    /// Prefix length in characters, longest first.
    Prefix(Reverse<usize>),
}

/// Whether the route restricts methods; restricted first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum MethodRank {
    Restricted,
    Any,
}

impl Precedence {
    /// The key of a route with these conditions, written `order`-th in the configuration.
    pub(crate) fn of(m: &ir::RouteMatch, order: usize) -> Self {
        let path = match &m.path {
            ir::PathMatch::Exact(_) => PathRank::Exact,
            ir::PathMatch::Template(t) => PathRank::Template(Reverse(literal_chars(t))),
            ir::PathMatch::Regex(re) => PathRank::Regex(Reverse(re.chars().count())),
            ir::PathMatch::Prefix(p) => PathRank::Prefix(Reverse(p.chars().count())),
        };
        Self {
            path,
            method: if m.methods.is_empty() {
                MethodRank::Any
            } else {
                MethodRank::Restricted
            },
            headers: Reverse(m.headers.len()),
            query: Reverse(m.query.len()),
            order,
        }
    }
}

/// Characters of a template outside its variables (a template that does not parse was
/// reported already; it ranks as all literal).
fn literal_chars(t: &str) -> usize {
    match ir::template::parse(t) {
        Ok(pieces) => pieces
            .iter()
            .map(|p| match p {
                ir::template::Piece::Literal(l) => l.chars().count(),
                ir::template::Piece::Var(_) => 0,
            })
            .sum(),
        Err(_) => t.chars().count(),
    }
}

#[cfg(test)]
mod tests;
