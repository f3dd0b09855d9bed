//! The native configuration format, `tollgate.yaml`.
//!
//! Keys are snake_case and parsed strictly: an unknown key is an error with its line. A
//! configuration may be split over several files; [`crate::load_paths`] reads each as a
//! [`Document`] and the translator merges them.
//!
//! Names and references carry their source position ([`Spanned`]) so that a reference that
//! does not resolve can be reported as `file:line: problem`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

use crate::units::{ByteSize, Dur};

/// A value with the line and column it was read from.
pub type Spanned<T> = serde_saphyr::Spanned<T>;

/// One configuration file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Document {
    /// The file this document was read from (set by the loader).
    #[serde(skip)]
    pub source: PathBuf,
    /// Where clients connect.
    #[serde(default)]
    pub listeners: Vec<Listener>,
    /// Backend services: named groups of endpoints.
    #[serde(default)]
    pub services: Vec<Service>,
    /// Routes from requests to services.
    #[serde(default)]
    pub routes: Vec<Route>,
    /// Who calls the APIs, for access policies.
    #[serde(default)]
    pub consumers: Vec<crate::policies::Consumer>,
    /// Shared state for `store: redis` limits and quotas. At most one file may set it.
    #[serde(default)]
    pub redis: Option<Spanned<crate::limits::Redis>>,
    /// Peers (CIDRs) whose `X-Forwarded-*` headers are believed. Default: none.
    #[serde(default)]
    pub trusted_proxies: Option<Spanned<Vec<String>>>,
    /// Process-wide client-side settings. At most one file may set them.
    #[serde(default)]
    pub server: Option<Spanned<Server>>,
    /// Contents of the files this document names (see [`Document::file_refs`]), keyed
    /// by the path as written; read by the loader so translation needs no I/O.
    #[serde(skip)]
    pub files: BTreeMap<String, Result<Vec<u8>, String>>,
}

/// Client-facing limits and behaviour shared by every listener.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Server {
    /// Most client connections open at once, over all listeners (default 10000).
    pub max_connections: Option<u32>,
    /// Time allowed for a client to send a complete request head (default 10s).
    pub header_read_timeout: Option<Dur>,
    /// Longest pause allowed while a client sends a request body (default 30s).
    pub body_read_timeout: Option<Dur>,
    /// How long an idle keep-alive client connection is kept (default 60s).
    pub idle_timeout: Option<Dur>,
    /// Largest request head in bytes (default 16KiB).
    pub max_header_bytes: Option<ByteSize>,
    /// Most header lines in a request head (default 100).
    pub max_header_count: Option<u32>,
    /// Most concurrent HTTP/2 streams per client connection (default 128).
    pub h2_max_concurrent_streams: Option<u32>,
    /// After SIGTERM, how long `/readyz` reports not-ready while still serving (default 2s).
    pub shutdown_delay: Option<Dur>,
    /// After the delay, how long in-flight requests get to finish (default 30s).
    pub shutdown_grace: Option<Dur>,
    /// Write one JSON access-log line per request to stdout (default true).
    pub access_log: Option<bool>,
    /// Memory for the local response cache of every `cache: { store: local }` route
    /// (default 64MiB).
    pub cache_max_memory: Option<ByteSize>,
}

/// Where clients connect.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Listener {
    /// Unique listener name, referenced by routes.
    pub name: Spanned<String>,
    /// `ip:port` to bind.
    pub address: Spanned<SocketAddr>,
    /// Wire protocol: `http` (HTTP/1.1 and h2c) or `https` (TLS, ALPN h2 and http/1.1).
    #[serde(default)]
    pub protocol: ListenerProtocol,
    /// Certificates and client authentication; required for `https`.
    pub tls: Option<Spanned<crate::tls::ListenerTls>>,
    /// Answer every request with a redirect to this `https` listener instead of routing.
    pub redirect_to_https: Option<Spanned<String>>,
    /// Rate limits over every request of this listener (a ceiling above route limits).
    pub rate_limit: Option<Spanned<crate::limits::OneOrMany<crate::limits::RateLimit>>>,
}

/// Listener protocols.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ListenerProtocol {
    /// Cleartext HTTP/1.1, and HTTP/2 with prior knowledge (h2c).
    #[default]
    Http,
    /// TLS; HTTP/2 or HTTP/1.1 by ALPN.
    Https,
}

/// A backend service: endpoints plus how to talk to them.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    /// Unique service name, referenced by routes.
    pub name: Spanned<String>,
    /// `ip:port` or `dns-name:port` (names are re-resolved).
    pub endpoints: Vec<Spanned<String>>,
    /// Protocol spoken to the endpoints.
    #[serde(default)]
    pub protocol: UpstreamProtocol,
    /// How a request picks an endpoint.
    #[serde(default)]
    pub load_balancer: LoadBalancer,
    /// What `consistent_hash` hashes (default: the client IP).
    pub hash_on: Option<HashOn>,
    /// Active health checking.
    pub health_check: Option<HealthCheck>,
    /// Passive ejection of endpoints that keep failing.
    pub outlier_detection: Option<OutlierDetection>,
    /// Upstream timeouts.
    pub timeouts: Option<UpstreamTimeouts>,
    /// Retry policy.
    pub retries: Option<Retries>,
    /// Upstream connection limits.
    pub circuit_breaker: Option<CircuitBreaker>,
    /// TLS to the endpoints (for `https` and `h2`).
    pub tls: Option<Spanned<crate::tls::UpstreamTls>>,
}

/// Protocols spoken to backends.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpstreamProtocol {
    /// HTTP/1.1 with keep-alive.
    #[default]
    Http,
    /// HTTP/2 over cleartext, prior knowledge.
    H2c,
    /// HTTP/1.1 over TLS.
    Https,
    /// HTTP/2 over TLS (ALPN h2).
    H2,
}

/// Load-balancing algorithms.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoadBalancer {
    /// Each endpoint in turn.
    #[default]
    RoundRobin,
    /// Power of two choices on in-flight requests.
    LeastRequest,
    /// Uniformly at random.
    Random,
    /// The same key goes to the same endpoint (rendezvous hashing).
    ConsistentHash,
}

/// The key for consistent hashing.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum HashOn {
    /// The client IP (after `trusted_proxies`).
    ClientIp,
    /// The request path.
    Path,
    /// The value of a request header.
    Header(String),
}

/// Active health checks: an HTTP GET to every endpoint.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthCheck {
    /// Path to GET; any 2xx or 3xx is healthy.
    pub path: String,
    /// Time between probes (default 5s).
    pub interval: Option<Dur>,
    /// Time a probe may take (default 1s).
    pub timeout: Option<Dur>,
    /// Consecutive successes that make an endpoint healthy again (default 2).
    pub healthy: Option<u32>,
    /// Consecutive failures that make an endpoint unhealthy (default 3).
    pub unhealthy: Option<u32>,
}

/// Passive ejection: endpoints that fail real requests are taken out for a while.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutlierDetection {
    /// Consecutive failures (connect errors, resets, 5xx) before ejection (default 5).
    pub consecutive_failures: Option<u32>,
    /// How long an ejected endpoint stays out (default 30s).
    pub ejection_time: Option<Dur>,
    /// Largest share of endpoints ejected at once, in percent (default 50).
    pub max_ejection_percent: Option<u8>,
}

/// Upstream timeouts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamTimeouts {
    /// Time to open a connection (default 2s).
    pub connect: Option<Dur>,
    /// Time from sending the request to receiving the response head (default 30s).
    pub request: Option<Dur>,
    /// Longest pause in a streamed response body or upgraded connection (default 300s).
    pub idle: Option<Dur>,
}

/// When to try a request again.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retries {
    /// Extra attempts after the first (default 2).
    pub attempts: Option<u32>,
    /// Conditions: `connect-failure`, `reset`, or a status code such as `503`.
    #[serde(default)]
    pub on: Vec<Spanned<RetryOn>>,
    /// Retries may add at most this share of the requests, in percent (default 20).
    pub budget_percent: Option<u8>,
}

/// A retry condition: a keyword or a status code.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum RetryOn {
    /// `503`
    Status(u16),
    /// `connect-failure`, `reset`
    Keyword(String),
}

/// Upstream connection limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CircuitBreaker {
    /// Most connections open to one endpoint; beyond it requests get 503 at once
    /// (default 1024).
    pub max_connections: Option<u32>,
}

/// A route: which requests, what to do to them, where they go.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// Unique route name (used in logs and metrics).
    pub name: Spanned<String>,
    /// Listeners this route serves (default: every listener).
    pub listeners: Option<Vec<Spanned<String>>>,
    /// Host names, exact or `*.suffix` (default: any host).
    pub hosts: Option<Vec<Spanned<String>>>,
    /// Conditions that must all hold.
    #[serde(rename = "match", default)]
    pub matches: RouteMatch,
    /// Transformations applied on the way.
    #[serde(default)]
    pub filters: Filters,
    /// Where matching requests go.
    #[serde(default)]
    pub backends: Vec<Backend>,
    /// Answer every request with this response instead of forwarding.
    pub respond: Option<Spanned<Respond>>,
    /// Serve files from a directory instead of forwarding.
    #[serde(rename = "static")]
    pub static_files: Option<Spanned<StaticFiles>>,
    /// Call several services at once and answer with their JSON answers merged.
    pub aggregate: Option<Spanned<Aggregate>>,
    /// Overall time allowed for the request, retries included (default: the service's).
    pub timeout: Option<Dur>,
    /// Access control: IP filter, authentication, ACL.
    pub policies: Option<Spanned<crate::policies::Policies>>,
}

/// Request conditions. All given conditions must hold.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteMatch {
    /// Path condition (default: prefix `/`).
    pub path: Option<Spanned<PathMatch>>,
    /// Allowed methods (default: any).
    pub methods: Option<Vec<String>>,
    /// Header conditions.
    #[serde(default)]
    pub headers: Vec<Spanned<ValueMatch>>,
    /// Query-parameter conditions.
    #[serde(default)]
    pub query: Vec<Spanned<ValueMatch>>,
}

/// A path condition.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum PathMatch {
    /// Whole segments: `/orders` matches `/orders` and `/orders/1`, not `/ordersx`.
    Prefix(String),
    /// The whole path.
    Exact(String),
    /// A regular expression that must match the whole path.
    Regex(String),
    /// A path template, `/users/{id}`: each `{name}` matches one segment's text and is
    /// captured for `url_rewrite` and `aggregate` paths.
    Template(String),
}

/// A header or query condition: exact value or regular expression.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValueMatch {
    /// Header or parameter name.
    pub name: String,
    /// Exact value.
    pub value: Option<String>,
    /// Regular expression matching the whole value.
    pub regex: Option<String>,
}

/// Transformations.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filters {
    /// Remove the matched path prefix before forwarding (`/orders/1` -> `/1`).
    #[serde(default)]
    pub strip_prefix: bool,
    /// Rewrite host and/or path before forwarding.
    pub url_rewrite: Option<Spanned<UrlRewrite>>,
    /// Change request headers.
    pub request_headers: Option<HeaderChanges>,
    /// Change response headers.
    pub response_headers: Option<HeaderChanges>,
    /// Answer with a redirect instead of forwarding.
    pub redirect: Option<Spanned<Redirect>>,
    /// Send a copy of each request to these services; their answers are ignored.
    #[serde(default)]
    pub mirror: Vec<Mirror>,
}

/// Header changes, applied in the order remove, set, add.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderChanges {
    /// Replace (or create) these headers.
    #[serde(default)]
    pub set: BTreeMap<String, String>,
    /// Append these values.
    #[serde(default)]
    pub add: BTreeMap<String, String>,
    /// Remove these headers.
    #[serde(default)]
    pub remove: Vec<String>,
}

/// Host and path rewrite.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UrlRewrite {
    /// New `Host` for the upstream request.
    pub hostname: Option<String>,
    /// New path.
    pub path: Option<PathRewrite>,
}

/// How a path is rewritten.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum PathRewrite {
    /// Replace the whole path.
    ReplaceFull(String),
    /// Replace the matched prefix (needs a prefix path match).
    ReplacePrefix(String),
}

/// A redirect answer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Redirect {
    /// `http` or `https`.
    pub scheme: Option<String>,
    /// New host.
    pub hostname: Option<String>,
    /// New port.
    pub port: Option<u16>,
    /// New path.
    pub path: Option<PathRewrite>,
    /// 301, 302, 303, 307 or 308 (default 302).
    pub status: Option<u16>,
}

/// A response written in the configuration, sent as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Respond {
    /// Status code, 200–599.
    pub status: Spanned<u16>,
    /// Body (default: empty).
    pub body: Option<String>,
    /// `Content-Type` (default `text/plain; charset=utf-8`).
    pub content_type: Option<String>,
    /// Extra response headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

/// Files served by the gateway itself.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticFiles {
    /// Directory, relative to the configuration file's directory.
    pub root: Spanned<String>,
    /// File served for a directory (default `index.html`).
    pub index: Option<Spanned<String>>,
}

/// One answer made of several backend calls.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Aggregate {
    /// Time each call may take, to its whole body (default: the route's `timeout`, else 10s).
    pub timeout: Option<Dur>,
    /// Largest body a part may answer with (default 1MiB).
    pub max_body: Option<ByteSize>,
    /// Client request headers copied onto every call.
    #[serde(default)]
    pub forward_headers: Vec<String>,
    /// The calls.
    pub parts: Vec<Spanned<AggregatePart>>,
}

/// One call of an `aggregate`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AggregatePart {
    /// Key of its answer in the merged JSON object.
    pub name: String,
    /// Service called.
    pub service: Spanned<String>,
    /// Path and query, with `{name}` filled from the route's path template.
    pub path: String,
    /// A failure gives `null` and an `errors` entry instead of failing the whole answer.
    #[serde(default)]
    pub optional: bool,
}

/// A mirror target.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mirror {
    /// Service that receives the copies.
    pub service: Spanned<String>,
    /// Share of requests mirrored, in percent (default 100).
    pub percent: Option<u8>,
}

/// A weighted backend.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Backend {
    /// Service name.
    pub service: Spanned<String>,
    /// Relative weight (default 1; 0 takes no traffic).
    pub weight: Option<u32>,
}
