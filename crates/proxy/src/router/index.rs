//! A virtual host's routes arranged by path, so that a lookup tries only the routes whose
//! path condition can hold instead of every route of the host.
//!
//! The index is a trie of path segments. A route is placed on the node of the segments
//! its path condition needs:
//!
//! - a prefix `/a/b` on node `a → b`: a request path reaches that node exactly when its
//!   first segments are `a`, `b`, which is [`prefix_matches`](super::prefix_matches)
//!   (segment-wise, `/a/b` matches `/a/b` and `/a/b/c`, not `/a/bc`); the empty prefix
//!   (from `/`) on the root, which every lookup reaches;
//! - an exact path `/a/b` on node `a → b` as well, but only a path that *ends* there
//!   is a candidate for it;
//! - a regex on the node of the whole segments of its literal prefix (every match of
//!   `/api/v1/items/[0-9]+` starts with `/api/v1/items/`, so it sits on
//!   `api → v1 → items`), with its path still checked by the regex; a regex without
//!   such a prefix, and anything else the trie cannot place, on the root, checked.
//!
//! Precedence stays the route's position in the host (the translator's order): every
//! node keeps its routes in that order, and the answer is the smallest position among
//! the routes on the nodes the request path reaches that fully match. So the result is
//! exactly the plain scan's (the property test in `index/tests.rs` checks it), and the
//! cost is one step per path segment plus the routes that share the request's nodes.

use std::collections::HashMap;
use std::sync::Arc;

use http::Method;
use regex::RegexSet;
use regex_syntax::hir::literal::{ExtractKind, Extractor};

use super::{PathMatcher, Route};

mod edges;

use edges::{Edges, Segment};

/// How many trie nodes a lookup remembers on its way down to try them deepest first
/// (a longer prefix usually has precedence, so the deepest node tends to hold the
/// answer and lets the shallower ones stop early). Deeper paths still work: the nodes
/// beyond this are tried on the way down instead.
const TRAIL: usize = 16;

/// Regexes with no usable literal prefix (they all sit on the root and every lookup
/// would try each of them) are screened by one `RegexSet` from this many on. At 4 the
/// set saves instructions (per lookup, for requests that mostly match none of them:
/// 5 % with 4 such regexes, 35 % with 16, 57 % with 64).
const REGEX_SET_MIN: usize = 4;

/// The index of one virtual host's routes.
pub(super) struct Index {
    /// The trie's nodes; `nodes[0]` is the root (the empty prefix).
    nodes: Vec<Node>,
    /// The trie's edges.
    edges: Edges,
    /// All regexes on the root that the set screens, when there are enough of them: a
    /// path that matches none of them skips them all.
    root_regexes: Option<RegexSet>,
}

/// One trie node: the routes placed on it.
#[derive(Default)]
struct Node {
    /// Candidates whenever the walk reaches this node, in precedence order.
    reached: Vec<Candidate>,
    /// Exact-path routes: candidates only when the request path ends on this node.
    ended: Vec<Candidate>,
}

/// A route placed on a node.
#[derive(Clone, Copy)]
struct Candidate {
    /// Position in the virtual host's routes, which is its precedence.
    route: u32,
    /// What of the path condition the node does not prove.
    check: Check,
}

/// How much of a candidate's match is left to check once its node is reached.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Check {
    /// Reaching the node proves the path condition: only methods, headers and query
    /// are left to check.
    Conditions,
    /// The route's whole match must be checked (a regex, or a path the trie cannot place).
    Path,
    /// A root regex screened by [`Index::root_regexes`]: checked only when the set
    /// matched the path.
    Screened,
}

// === impl Index ===

impl Index {
    /// Builds the index of `routes` (in precedence order). `None` when the host has more
    /// routes than a `u32` counts; such a host keeps the plain scan.
    pub(super) fn build(routes: &[Arc<Route>]) -> Option<Self> {
        let mut b = Builder::default();
        // (slot in the root's `reached`, pattern) of the regexes placed on the root.
        let mut root_regexes = Vec::new();
        for (i, r) in routes.iter().enumerate() {
            let route = u32::try_from(i).ok().filter(|&i| i != u32::MAX)?;
            let cand = |check| Candidate { route, check };
            match &r.path {
                PathMatcher::Exact(p) => match p.strip_prefix('/') {
                    Some(rest) => {
                        let n = b.node(rest.split('/'));
                        b.nodes[n].ended.push(cand(Check::Conditions));
                    }
                    None => b.nodes[0].reached.push(cand(Check::Path)),
                },
                PathMatcher::Prefix(p) if p.is_empty() => {
                    b.nodes[0].reached.push(cand(Check::Conditions));
                }
                PathMatcher::Prefix(p) => match p.strip_prefix('/') {
                    Some(rest) => {
                        let n = b.node(rest.split('/'));
                        b.nodes[n].reached.push(cand(Check::Conditions));
                    }
                    None => b.nodes[0].reached.push(cand(Check::Path)),
                },
                PathMatcher::Regex(re) | PathMatcher::Template(re) => {
                    let prefix = literal_prefix(re.as_str());
                    // Only the segments the prefix completes (those followed by a '/'
                    // inside it) are known: `/api/v` says nothing about the second one.
                    let whole = prefix
                        .as_deref()
                        .and_then(|p| p.strip_prefix('/'))
                        .and_then(|rest| rest.rsplit_once('/'))
                        .map(|(whole, _)| whole);
                    match whole {
                        Some(segments) => {
                            let n = b.node(segments.split('/'));
                            b.nodes[n].reached.push(cand(Check::Path));
                        }
                        None => {
                            root_regexes.push((b.nodes[0].reached.len(), re.as_str()));
                            b.nodes[0].reached.push(cand(Check::Path));
                        }
                    }
                }
            }
        }
        // One set pass instead of one regex per root regex: worth it once a few of them
        // would be tried on every lookup. The set holds the same anchored patterns, so
        // "no pattern of the set matches" means "none of these routes' paths match".
        let set = (root_regexes.len() >= REGEX_SET_MIN)
            .then(|| RegexSet::new(root_regexes.iter().map(|(_, p)| p)).ok())
            .flatten();
        if set.is_some() {
            for &(slot, _) in &root_regexes {
                if let Some(c) = b.nodes[0].reached.get_mut(slot) {
                    c.check = Check::Screened;
                }
            }
        }
        let (nodes, edges) = b.finish()?;
        Some(Self {
            nodes,
            edges,
            root_regexes: set,
        })
    }

    /// The position of the first route (in precedence order) that matches, as the plain
    /// scan over `routes` would find it. `routes` is what the index was built from.
    pub(super) fn find(
        &self,
        routes: &[Arc<Route>],
        method: &Method,
        path: &str,
        query: Option<&str>,
        headers: &http::HeaderMap,
    ) -> Option<usize> {
        let mut lookup = Lookup {
            routes,
            method,
            path,
            query,
            headers,
            screen: self.root_regexes.as_ref(),
            screened: None,
            best: u32::MAX,
        };
        // Walk down as far as the trie follows the path, remembering the nodes passed.
        let mut trail = [0u32; TRAIL];
        let mut depth = 0;
        let mut node = 0u32;
        let mut ended = false;
        if let Some(rest) = path.strip_prefix('/') {
            let mut rest = rest.as_bytes();
            loop {
                let segment = Segment::scan(rest);
                let Some(child) = self.edges.child(node, &segment) else {
                    break;
                };
                if depth < TRAIL {
                    trail[depth] = node;
                    depth += 1;
                } else {
                    lookup.try_all(&self.nodes[node as usize].reached);
                }
                node = child;
                // Past the segment and its '/'; no '/' means that was the last one.
                match rest
                    .get(segment.bytes.len()..)
                    .and_then(<[u8]>::split_first)
                {
                    Some((_, tail)) => rest = tail,
                    None => {
                        ended = true;
                        break;
                    }
                }
            }
        }
        // Deepest first, so that shallower nodes can stop at the first route that does
        // not beat the answer so far.
        let last = &self.nodes[node as usize];
        if ended {
            lookup.try_all(&last.ended);
        }
        lookup.try_all(&last.reached);
        for &n in trail[..depth].iter().rev() {
            lookup.try_all(&self.nodes[n as usize].reached);
        }
        (lookup.best != u32::MAX).then_some(lookup.best as usize)
    }
}

/// The state of one lookup: the request and the best route found so far.
struct Lookup<'a> {
    routes: &'a [Arc<Route>],
    method: &'a Method,
    path: &'a str,
    query: Option<&'a str>,
    headers: &'a http::HeaderMap,
    screen: Option<&'a RegexSet>,
    /// The screen's answer, computed the first time a screened route is tried.
    screened: Option<bool>,
    /// Position of the best matching route so far; `u32::MAX` for none.
    best: u32,
}

impl Lookup<'_> {
    /// Tries one node's candidates (in precedence order) until one matches or none left
    /// could beat `best`.
    fn try_all(&mut self, candidates: &[Candidate]) {
        for c in candidates {
            if c.route >= self.best {
                return;
            }
            let Some(r) = self.routes.get(c.route as usize) else {
                return;
            };
            let ok = match c.check {
                Check::Conditions => r.conditions_match(self.method, self.query, self.headers),
                Check::Path => r.matches(self.method, self.path, self.query, self.headers),
                Check::Screened => {
                    let (screen, path) = (self.screen, self.path);
                    *self
                        .screened
                        .get_or_insert_with(|| screen.is_none_or(|s| s.is_match(path)))
                        && r.matches(self.method, self.path, self.query, self.headers)
                }
            };
            if ok {
                self.best = c.route;
                return;
            }
        }
    }
}

/// The literal text every match of `pattern` starts with, when there is one. Taken from
/// the parsed pattern (the same syntax `regex` compiles), not from its text, so groups,
/// alternations and quantifiers are accounted for.
fn literal_prefix(pattern: &str) -> Option<String> {
    let hir = regex_syntax::Parser::new().parse(pattern).ok()?;
    let seq = Extractor::new().kind(ExtractKind::Prefix).extract(&hir);
    let prefix = seq.longest_common_prefix()?;
    std::str::from_utf8(prefix).ok().map(str::to_owned)
}

/// The trie under construction: children found through a map, which becomes the edge
/// table at the end.
struct Builder {
    nodes: Vec<Node>,
    children: HashMap<(usize, Box<str>), usize>,
}

impl Default for Builder {
    fn default() -> Self {
        Self {
            nodes: vec![Node::default()],
            children: HashMap::new(),
        }
    }
}

impl Builder {
    /// The node for these segments, created (with its parents) if new.
    fn node<'s>(&mut self, segments: impl Iterator<Item = &'s str>) -> usize {
        let mut at = 0;
        for s in segments {
            let next = self.nodes.len();
            at = *self.children.entry((at, s.into())).or_insert(next);
            if at == next {
                self.nodes.push(Node::default());
            }
        }
        at
    }

    /// The finished trie; `None` when it has more nodes than a `u32` counts.
    fn finish(mut self) -> Option<(Vec<Node>, Edges)> {
        u32::try_from(self.nodes.len()).ok()?;
        let edges = self
            .children
            .into_iter()
            .map(|((parent, segment), child)| {
                Some((
                    u32::try_from(parent).ok()?,
                    segment,
                    u32::try_from(child).ok()?,
                ))
            })
            .collect::<Option<Vec<_>>>()?;
        for n in &mut self.nodes {
            n.reached.shrink_to_fit();
            n.ended.shrink_to_fit();
        }
        Some((self.nodes, Edges::new(edges)))
    }
}

#[cfg(test)]
mod tests;
