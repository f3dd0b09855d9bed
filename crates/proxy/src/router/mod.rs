//! Compiled route tables and request matching.
//!
//! The translator already sorted every virtual host's routes by precedence, so matching is
//! "first route whose conditions hold". Host lookup: exact name, then the longest
//! `*.suffix`, then `*`. A host with more than a few routes gets an [`index`] by path
//! segment built at compile time, so a lookup tries only the routes whose path can
//! match, with the same answer as the plain scan.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, Method};
use regex::Regex;
use tollgate_ir as ir;

mod captures;
mod filters;
mod index;
mod query;

use filters::resolve;
pub(crate) use filters::{Backend, CompiledFilters};
use index::Index;
pub(crate) use query::query_value;

use crate::policy::PolicyCompiler;

use crate::metrics::{Metrics, RouteStats};
use crate::upstream::Upstream;

/// Upstreams by service name, for resolving route backends at compile time.
pub(crate) type Upstreams = HashMap<String, Arc<Upstream>>;

/// A listener's routing table.
pub(crate) struct RouteTable {
    /// Redirect everything to this https listener instead of routing.
    pub(crate) redirect_to_https: Option<String>,
    /// TLS for this listener (set by the runtime compiler).
    pub(crate) tls: Option<Arc<tollgate_tls::rustls::ServerConfig>>,
    /// What `tls` was built from, so a reload that does not change it keeps it (and its
    /// session-ticket keys).
    pub(crate) tls_source: Option<ir::ListenerTls>,
    /// Header carrying the verified client-certificate subject upstream.
    pub(crate) forward_subject_header: Option<HeaderName>,
    /// Limits over every request of the listener, checked before routing.
    pub(crate) limits: Option<crate::limits::Limits>,
    exact: HashMap<Box<str>, usize>,
    /// `(".example.com", vhost)`, longest suffix first.
    wildcard: Vec<(Box<str>, usize)>,
    any: Option<usize>,
    vhosts: Vec<VirtualHost>,
}

/// A virtual host's routes, in precedence order, and their index when there are enough
/// of them for the index to pay.
struct VirtualHost {
    routes: Vec<Arc<Route>>,
    index: Option<Index>,
}

/// Hosts with more routes than this get an index; smaller ones are scanned in order.
/// The index costs about as much as scanning 12 (`bench/run.sh`'s table layout: 1 in 10
/// a regex) to 16 (the router bench's: 1 in 20) routes, measured in instructions per
/// lookup under cachegrind and by `benches/router_scale.rs` (`router/crossover`); up to
/// here the scan is at least as fast, and a small table must not pay for the index.
const INDEX_MIN_ROUTES: usize = 16;

/// A compiled route.
pub(crate) struct Route {
    pub(crate) name: Arc<str>,
    path: PathMatcher,
    methods: Vec<Method>,
    headers: Vec<(HeaderName, ValueMatcher)>,
    query: Vec<(String, ValueMatcher)>,
    /// The route's own filters.
    pub(crate) filters: CompiledFilters,
    /// Weighted backends, resolved (empty unless the action is `Forward`).
    pub(crate) backends: Vec<Backend>,
    pub(crate) action: ir::Action,
    pub(crate) timeout: Option<Duration>,
    /// Per-try time to the response head, instead of the service's (Gateway API
    /// `timeouts.backendRequest`).
    pub(crate) backend_timeout: Option<Duration>,
    pub(crate) stats: Arc<RouteStats>,
    /// Sum of backend weights, for weighted choice.
    pub(crate) total_weight: u64,
    /// Access policies; `None` costs a policy-free route nothing more.
    pub(crate) access: Option<Box<crate::policy::RouteAccess>>,
    /// Rate limits and quota.
    pub(crate) limits: Option<Box<crate::limits::Limits>>,
    /// Cross-origin resource sharing.
    pub(crate) cors: Option<Box<crate::policy::cors::Cors>>,
    /// Largest request body, in bytes.
    pub(crate) max_body: Option<u64>,
    /// Response caching.
    pub(crate) cache: Option<Arc<crate::cache::RouteCache>>,
    /// Response compression.
    pub(crate) compression: Option<Box<crate::compression::Compression>>,
}

enum PathMatcher {
    Prefix(String),
    Exact(String),
    Regex(Regex),
    /// A path template compiled to a regex with one named group per variable.
    Template(Regex),
}

enum ValueMatcher {
    Exact(String),
    Regex(Regex),
}

fn anchored(pattern: &str) -> Result<Regex, String> {
    Regex::new(&format!("^(?:{pattern})$")).map_err(|e| format!("invalid regex {pattern:?}: {e}"))
}

impl ValueMatcher {
    fn compile(m: &ir::StringMatch) -> Result<Self, String> {
        Ok(match m {
            ir::StringMatch::Exact(s) => Self::Exact(s.clone()),
            ir::StringMatch::Regex(r) => Self::Regex(anchored(r)?),
        })
    }

    fn matches(&self, v: &str) -> bool {
        match self {
            Self::Exact(s) => s == v,
            Self::Regex(r) => r.is_match(v),
        }
    }
}

impl Route {
    fn compile(
        r: &ir::Route,
        metrics: &Metrics,
        ups: &Upstreams,
        pol: &mut PolicyCompiler<'_>,
    ) -> Result<Self, String> {
        let backends = match &r.action {
            ir::Action::Aggregate(a) => a
                .parts
                .iter()
                .map(|p| {
                    Ok(Backend {
                        upstream: Some(resolve(ups, &p.service)?),
                        respond: None,
                        weight: 0,
                        filters: CompiledFilters::default(),
                    })
                })
                .collect::<Result<Vec<_>, String>>()?,
            ir::Action::Forward(b) => b
                .iter()
                .map(|b| {
                    let upstream = match &b.respond {
                        Some(_) => None,
                        None => Some(resolve(ups, &b.service)?),
                    };
                    Ok(Backend {
                        upstream,
                        respond: b.respond.clone(),
                        weight: b.weight,
                        filters: CompiledFilters::compile(&b.filters, ups)?,
                    })
                })
                .collect::<Result<Vec<_>, String>>()?,
            _ => Vec::new(),
        };
        let path = match &r.matches.path {
            ir::PathMatch::Prefix(p) => PathMatcher::Prefix(p.trim_end_matches('/').to_owned()),
            ir::PathMatch::Exact(p) => PathMatcher::Exact(p.clone()),
            ir::PathMatch::Regex(p) => PathMatcher::Regex(anchored(p)?),
            ir::PathMatch::Template(t) => {
                let pieces = ir::template::parse(t)?;
                PathMatcher::Template(anchored(&ir::template::regex(&pieces))?)
            }
        };
        let methods = r
            .matches
            .methods
            .iter()
            .map(|m| Method::from_bytes(m.as_bytes()).map_err(|_| format!("invalid method {m:?}")))
            .collect::<Result<_, _>>()?;
        let headers = r
            .matches
            .headers
            .iter()
            .map(|h| {
                let name = HeaderName::from_bytes(h.name.as_bytes())
                    .map_err(|_| format!("invalid header name {:?}", h.name))?;
                Ok((name, ValueMatcher::compile(&h.value)?))
            })
            .collect::<Result<_, String>>()?;
        let query = r
            .matches
            .query
            .iter()
            .map(|q| Ok((q.name.clone(), ValueMatcher::compile(&q.value)?)))
            .collect::<Result<_, String>>()?;
        let total_weight = match &r.action {
            ir::Action::Forward(b) => b.iter().map(|b| u64::from(b.weight)).sum(),
            _ => 0,
        };
        let cache = match r.policies.as_ref().and_then(|p| p.cache.as_ref()) {
            Some(c) => {
                // A miss waits for another's fetch of the same key at most as long as
                // its own fetch could take.
                let wait = r.timeout.unwrap_or_else(|| {
                    backends
                        .iter()
                        .filter_map(|b| b.upstream.as_ref())
                        .map(|u| u.config.request_timeout)
                        .max()
                        .unwrap_or(Duration::from_secs(30))
                });
                let c = crate::cache::RouteCache::compile(&r.name, c, &pol.cache, wait, metrics)?;
                Some(Arc::new(c))
            }
            None => None,
        };
        Ok(Self {
            name: r.name.as_str().into(),
            path,
            methods,
            headers,
            query,
            filters: CompiledFilters::compile(&r.filters, ups)?,
            backends,
            action: r.action.clone(),
            timeout: r.timeout,
            backend_timeout: r.backend_timeout,
            stats: metrics.route(&r.name),
            total_weight,
            access: match &r.policies {
                Some(p) => pol.access(p)?,
                None => None,
            },
            limits: match &r.policies {
                Some(p) => pol
                    .limits
                    .compile(&p.rate_limits, p.quota.as_ref())?
                    .map(Box::new),
                None => None,
            },
            cors: match r.policies.as_ref().and_then(|p| p.cors.as_ref()) {
                Some(c) => Some(Box::new(crate::policy::cors::Cors::compile(c)?)),
                None => None,
            },
            max_body: r
                .policies
                .as_ref()
                .and_then(|p| p.request_size)
                .map(|s| s.max_body),
            cache,
            compression: match r.policies.as_ref().and_then(|p| p.compression.as_ref()) {
                Some(c) => Some(Box::new(crate::compression::Compression::compile(c)?)),
                None => None,
            },
        })
    }

    /// Whether the request meets every condition of the route.
    // These three are inlined into each caller, as `matches` was when the scan was its
    // only caller: a call per route tried made a small table's lookup up to a sixth
    // slower (instruction counts under cachegrind).
    #[inline(always)]
    fn matches(
        &self,
        method: &Method,
        path: &str,
        query: Option<&str>,
        headers: &http::HeaderMap,
    ) -> bool {
        self.path_matches(path) && self.conditions_match(method, query, headers)
    }

    #[inline(always)]
    fn path_matches(&self, path: &str) -> bool {
        match &self.path {
            PathMatcher::Exact(p) => p == path,
            PathMatcher::Prefix(p) => prefix_matches(p, path),
            PathMatcher::Regex(r) | PathMatcher::Template(r) => r.is_match(path),
        }
    }

    /// The conditions besides the path: methods, headers, query. The index calls this
    /// alone where the trie node already proves the path.
    #[inline(always)]
    fn conditions_match(
        &self,
        method: &Method,
        query: Option<&str>,
        headers: &http::HeaderMap,
    ) -> bool {
        if !self.methods.is_empty() && !self.methods.contains(method) {
            return false;
        }
        for (name, m) in &self.headers {
            let ok = headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| m.matches(v));
            if !ok {
                return false;
            }
        }
        if !self.query.is_empty() {
            let q = query.unwrap_or("");
            for (name, m) in &self.query {
                if !query_value(q, name).is_some_and(|v| m.matches(&v)) {
                    return false;
                }
            }
        }
        true
    }

    /// Picks a backend entry by weight. `None` when no entry can take traffic (no
    /// entries, or every weight is 0), which Gateway API answers with 500.
    pub(crate) fn choose_backend(&self) -> Option<&Backend> {
        match self.backends.as_slice() {
            [] => None,
            // The common case needs no random number.
            [b] => (b.weight > 0).then_some(b),
            _ if self.total_weight == 0 => None,
            all => {
                let mut pick = rand::random_range(0..self.total_weight);
                all.iter().find(|b| {
                    let w = u64::from(b.weight);
                    if pick < w {
                        true
                    } else {
                        pick -= w;
                        false
                    }
                })
            }
        }
    }

    /// The matched prefix, for prefix rewrites.
    pub(crate) fn matched_prefix(&self) -> Option<&str> {
        match &self.path {
            PathMatcher::Prefix(p) => Some(p),
            _ => None,
        }
    }

    /// The variables a path template route captured from `path` (`None` for other
    /// routes, or a path it does not match).
    pub(crate) fn captures<'p>(&self, path: &'p str) -> Option<captures::Captures<'p>> {
        match &self.path {
            PathMatcher::Template(re) => captures::Captures::of(re, path),
            _ => None,
        }
    }
}

/// Segment-wise prefix: `/orders` matches `/orders` and `/orders/1`, not `/ordersx`.
/// `prefix` has no trailing slash; the empty prefix (from `/`) matches everything.
fn prefix_matches(prefix: &str, path: &str) -> bool {
    path.starts_with(prefix)
        && (path.len() == prefix.len()
            || path.as_bytes()[prefix.len()] == b'/'
            || prefix.is_empty())
}

/// The first route, in precedence order, whose conditions all hold: small hosts' lookup
/// and the baseline the index must agree with.
#[inline]
fn scan<'r>(
    routes: &'r [Arc<Route>],
    method: &Method,
    path: &str,
    query: Option<&str>,
    headers: &http::HeaderMap,
) -> Option<&'r Arc<Route>> {
    routes
        .iter()
        .find(|r| r.matches(method, path, query, headers))
}

impl RouteTable {
    /// Compiles a listener's virtual hosts.
    pub(crate) fn compile(
        l: &ir::Listener,
        metrics: &Metrics,
        ups: &Upstreams,
        pol: &mut PolicyCompiler<'_>,
    ) -> Result<Self, String> {
        let mut t = Self {
            redirect_to_https: l.redirect_to_https.clone(),
            tls: None,
            tls_source: l.tls.clone(),
            forward_subject_header: l
                .tls
                .as_ref()
                .and_then(|t| t.client_auth.as_ref())
                .and_then(|c| c.forward_subject_header.as_ref())
                .and_then(|h| HeaderName::from_bytes(h.as_bytes()).ok()),
            limits: pol.limits.compile(&l.rate_limits, None)?,
            exact: HashMap::new(),
            wildcard: Vec::new(),
            any: None,
            vhosts: Vec::with_capacity(l.virtual_hosts.len()),
        };
        for (i, vh) in l.virtual_hosts.iter().enumerate() {
            let routes = vh
                .routes
                .iter()
                .map(|r| {
                    Route::compile(r, metrics, ups, pol)
                        .map(Arc::new)
                        .map_err(|e| format!("{}: {e}", r.name))
                })
                .collect::<Result<Vec<_>, _>>()?;
            // Built at compile time, so a lookup only walks it.
            let index = (routes.len() > INDEX_MIN_ROUTES)
                .then(|| Index::build(&routes))
                .flatten();
            t.vhosts.push(VirtualHost { routes, index });
            let host = vh.host.to_ascii_lowercase();
            if host == "*" {
                t.any = Some(i);
            } else if let Some(suffix) = host.strip_prefix('*') {
                t.wildcard.push((suffix.into(), i));
            } else {
                t.exact.insert(host.into(), i);
            }
        }
        t.wildcard.sort_by_key(|w| std::cmp::Reverse(w.0.len()));
        Ok(t)
    }

    /// The route for a request; `host` is lower case without port.
    pub(crate) fn find(
        &self,
        host: &str,
        method: &Method,
        path: &str,
        query: Option<&str>,
        headers: &http::HeaderMap,
    ) -> Option<&Arc<Route>> {
        let vh = &self.vhosts[self.vhost(host)?];
        match &vh.index {
            Some(index) => vh
                .routes
                .get(index.find(&vh.routes, method, path, query, headers)?),
            None => scan(&vh.routes, method, path, query, headers),
        }
    }

    /// The route for a request by trying every route of the virtual host in precedence
    /// order, even where [`find`](Self::find) uses the index: what `find` must always
    /// agree with.
    pub(crate) fn find_linear(
        &self,
        host: &str,
        method: &Method,
        path: &str,
        query: Option<&str>,
        headers: &http::HeaderMap,
    ) -> Option<&Arc<Route>> {
        scan(
            &self.vhosts[self.vhost(host)?].routes,
            method,
            path,
            query,
            headers,
        )
    }

    /// The virtual host for `host`: exact name, then the longest `*.suffix`, then `*`.
    fn vhost(&self, host: &str) -> Option<usize> {
        self.exact
            .get(host)
            .copied()
            .or_else(|| {
                self.wildcard
                    .iter()
                    .find(|(s, _)| host.len() > s.len() && host.ends_with(&**s))
                    .map(|(_, i)| *i)
            })
            .or(self.any)
    }
}

#[cfg(test)]
mod tests;
