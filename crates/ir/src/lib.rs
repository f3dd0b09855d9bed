//! The Tollgate IR: what every configuration source becomes and what the data plane is
//! compiled from.
//!
//! Plain, serializable, comparable data with no behaviour and no I/O. Maps are `BTreeMap`
//! and lists are sorted by the translator, so the same input always gives the same
//! snapshot (golden tests and `tollgate translate` depend on that). Routes inside a virtual
//! host are already in precedence order: the proxy takes the first that matches.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

pub mod content;
pub mod limits;
pub mod policies;
pub mod template;
pub mod tls;
pub use content::{Coding, Compression, CompressionLevels, DEFAULT_COMPRESSIBLE_TYPES};
pub use limits::{LimitKey, LimitStore, Quota, QuotaWindow, RateLimit, RedisSettings};
pub use policies::{
    Acl, BasicAuth, BasicCredential, Cache, CacheStore, Consumer, Cors, ExtAuth, IpFilter, JwtAuth,
    JwtIdentity, JwtKeys, KeyAuth, OidcAuth, RequestSize, RoutePolicies,
};
pub use tls::{CertKeyPem, ClientAuth, ListenerTls, REDACTED, TlsVersion, UpstreamTls};

/// Everything the data plane runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Client-facing settings shared by all listeners.
    pub server: ServerSettings,
    /// Peers whose `X-Forwarded-*` headers are believed.
    pub trusted_proxies: Vec<IpNet>,
    /// Listeners by name.
    pub listeners: BTreeMap<String, Listener>,
    /// Upstream services by name.
    pub services: BTreeMap<String, Service>,
    /// Consumers for access policies, by name order. Omitted when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub consumers: Vec<Consumer>,
    /// Shared state for Redis limits and quotas. Omitted when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redis: Option<RedisSettings>,
}

/// Client-facing limits and behaviour.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerSettings {
    /// Most client connections at once over all listeners.
    pub max_connections: u32,
    /// Time for a complete HTTP/1 request head.
    #[serde(with = "duration")]
    pub header_read_timeout: Duration,
    /// Longest pause while reading a request body.
    #[serde(with = "duration")]
    pub body_read_timeout: Duration,
    /// Idle keep-alive timeout.
    #[serde(with = "duration")]
    pub idle_timeout: Duration,
    /// Largest request head in bytes.
    pub max_header_bytes: u32,
    /// Most header lines per request.
    pub max_header_count: u32,
    /// Most concurrent HTTP/2 streams per connection.
    pub h2_max_concurrent_streams: u32,
    /// Not-ready-but-serving time after SIGTERM.
    #[serde(with = "duration")]
    pub shutdown_delay: Duration,
    /// Time in-flight requests get to finish after the delay.
    #[serde(with = "duration")]
    pub shutdown_grace: Duration,
    /// One JSON line per request on stdout.
    pub access_log: bool,
    /// Byte budget of the local response cache (bodies and headers), shared by every
    /// route with `cache: { store: local }`. Omitted when the default.
    #[serde(
        default = "default_cache_memory",
        skip_serializing_if = "is_default_cache_memory"
    )]
    pub cache_max_memory: u64,
}

/// 64 MiB.
pub const DEFAULT_CACHE_MEMORY: u64 = 64 * 1024 * 1024;

fn default_cache_memory() -> u64 {
    DEFAULT_CACHE_MEMORY
}

fn is_default_cache_memory(v: &u64) -> bool {
    *v == DEFAULT_CACHE_MEMORY
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            max_connections: 10_000,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            max_header_bytes: 16 * 1024,
            max_header_count: 100,
            h2_max_concurrent_streams: 128,
            shutdown_delay: Duration::from_secs(2),
            shutdown_grace: Duration::from_secs(30),
            access_log: true,
            cache_max_memory: DEFAULT_CACHE_MEMORY,
        }
    }
}

/// A listening socket and the routes it serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listener {
    /// Listener name.
    pub name: String,
    /// Address to bind.
    pub address: SocketAddr,
    /// Wire protocol.
    pub protocol: ListenerProtocol,
    /// TLS, for `https` listeners.
    pub tls: Option<ListenerTls>,
    /// Redirect every request to this `https` listener (by name) instead of routing.
    pub redirect_to_https: Option<String>,
    /// Limits over every request of the listener. Omitted when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rate_limits: Vec<RateLimit>,
    /// Virtual hosts. Lookup order: exact host, then the longest matching `*.suffix`,
    /// then `*` (any host). No fallback between them once one is chosen.
    pub virtual_hosts: Vec<VirtualHost>,
}

/// Listener protocols.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ListenerProtocol {
    /// HTTP/1.1 and h2c prior knowledge.
    Http,
    /// TLS with ALPN h2 / http/1.1.
    Https,
}

/// The routes for one host pattern.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VirtualHost {
    /// `api.example.com`, `*.example.com` or `*`. Lower case.
    pub host: String,
    /// In precedence order; the first that matches wins.
    pub routes: Vec<Route>,
}

/// One route match and what to do with the requests it matches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    /// Hierarchical name, e.g. `route/orders` or `route/orders/match/1`; used in logs
    /// and metrics.
    pub name: String,
    /// Conditions.
    pub matches: RouteMatch,
    /// Transformations, in the order request headers, URL rewrite.
    pub filters: Filters,
    /// Forward, redirect or answer directly.
    pub action: Action,
    /// Total time for the request including retries; `None` uses the service's.
    #[serde(with = "opt_duration", default)]
    pub timeout: Option<Duration>,
    /// Time for each attempt, from request sent to response head, instead of the
    /// service's `request_timeout` (Gateway API `timeouts.backendRequest`). Omitted when
    /// `None`, so snapshots that do not use it read as before.
    #[serde(
        with = "opt_duration",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub backend_timeout: Option<Duration>,
    /// Access policies. Omitted when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policies: Option<Box<RoutePolicies>>,
}

/// Request conditions; all must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteMatch {
    /// Path condition.
    pub path: PathMatch,
    /// Upper-case methods; empty means any.
    pub methods: Vec<String>,
    /// Header conditions (names lower case).
    pub headers: Vec<ValueMatch>,
    /// Query-parameter conditions (names as written, case-sensitive).
    pub query: Vec<ValueMatch>,
}

/// A path condition, applied to the normalised path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PathMatch {
    /// Segment-wise prefix; `/` matches everything. Stored without a trailing slash
    /// (except `/` itself).
    Prefix(String),
    /// Exact path.
    Exact(String),
    /// Regular expression over the whole path (anchored by the proxy).
    Regex(String),
    /// A path template (`/users/{id}`, see [`template`]) over the whole path; its
    /// variables are captured for rewrites and aggregation.
    Template(String),
}

impl Default for PathMatch {
    fn default() -> Self {
        Self::Prefix("/".to_owned())
    }
}

/// A header or query condition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValueMatch {
    /// Header name (lower case) or query parameter name.
    pub name: String,
    /// Exact value or whole-value regular expression.
    pub value: StringMatch,
}

/// Exact or regular-expression string condition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StringMatch {
    /// Equal to.
    Exact(String),
    /// Whole value matches (anchored by the proxy).
    Regex(String),
}

/// Request and response transformations.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filters {
    /// Request header changes.
    pub request_headers: Option<HeaderChanges>,
    /// Response header changes.
    pub response_headers: Option<HeaderChanges>,
    /// Host and path rewrite before forwarding.
    pub url_rewrite: Option<UrlRewrite>,
    /// Copies of the request to other services.
    pub mirrors: Vec<Mirror>,
}

impl Filters {
    /// Changes nothing.
    pub fn is_empty(&self) -> bool {
        self.request_headers.is_none()
            && self.response_headers.is_none()
            && self.url_rewrite.is_none()
            && self.mirrors.is_empty()
    }
}

/// Header changes, applied remove, then set, then add. Names lower case.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeaderChanges {
    /// Headers to replace or create.
    pub set: Vec<(String, String)>,
    /// Values to append.
    pub add: Vec<(String, String)>,
    /// Headers to remove.
    pub remove: Vec<String>,
}

/// Host and path rewrite.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UrlRewrite {
    /// New host.
    pub hostname: Option<String>,
    /// New path.
    pub path: Option<PathRewrite>,
}

/// How a path is rewritten.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PathRewrite {
    /// Replace the whole path.
    Full(String),
    /// Replace the route's matched path prefix with this (Gateway API semantics:
    /// `/foo` + prefix `/` on `/foo/bar` gives `/bar`).
    Prefix(String),
}

/// A mirror target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mirror {
    /// Service name.
    pub service: String,
    /// Share of requests mirrored, 0–100.
    pub percent: u8,
}

/// What a matched route does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Forward to one of these services, chosen by weight.
    Forward(Vec<WeightedBackend>),
    /// Answer with a redirect.
    Redirect(Redirect),
    /// Answer directly (also how invalid Kubernetes routes answer 500).
    Respond(DirectResponse),
    /// Serve files from a directory (native `static`; the route's path match is a prefix).
    Static(StaticFiles),
    /// Call several services at once and answer with their JSON merged (native
    /// `aggregate`).
    Aggregate(Aggregate),
}

/// One answer made of several backend calls (the gateway aggregation pattern).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Aggregate {
    /// Time each call may take, from sending to the whole body.
    #[serde(with = "duration")]
    pub timeout: Duration,
    /// Largest body a part may answer with, in bytes.
    pub max_body: u64,
    /// Client request headers copied onto every call (lower case).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub forward_headers: Vec<String>,
    /// The calls, in the merged answer's key order.
    pub parts: Vec<AggregatePart>,
}

/// One call of an [`Aggregate`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AggregatePart {
    /// Key of its answer in the merged object.
    pub name: String,
    /// Service called (a key of [`Snapshot::services`]).
    pub service: String,
    /// Path and query sent, with `{var}` filled from the route's path template.
    pub path: String,
    /// When it fails, the answer has `null` for it and an entry in `errors`; when a
    /// required part fails the whole answer is 502.
    #[serde(default, skip_serializing_if = "is_false")]
    pub optional: bool,
}

/// Files served by the gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaticFiles {
    /// Absolute directory the files are served from.
    pub root: String,
    /// File name served for a directory.
    pub index: String,
}

/// A service and its relative weight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WeightedBackend {
    /// Service name (a key of [`Snapshot::services`]); empty when `respond` is set.
    pub service: String,
    /// Relative weight; 0 takes no traffic.
    pub weight: u32,
    /// Transformations applied when this backend is chosen, after the route's own
    /// (Gateway API backendRef filters). Omitted when empty.
    #[serde(default, skip_serializing_if = "Filters::is_empty")]
    pub filters: Filters,
    /// When set, the requests that pick this entry are answered with this response
    /// instead of being forwarded: Gateway API asks that the share of traffic of an
    /// invalid backendRef gets 500 while the valid ones keep working. Omitted when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub respond: Option<DirectResponse>,
}

/// A redirect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Redirect {
    /// New scheme.
    pub scheme: Option<String>,
    /// New host.
    pub hostname: Option<String>,
    /// New port.
    pub port: Option<u16>,
    /// New path.
    pub path: Option<PathRewrite>,
    /// 301, 302, 303, 307 or 308.
    pub status: u16,
}

/// A response made by the gateway.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectResponse {
    /// Status code.
    pub status: u16,
    /// Body; unless `as_written`, a JSON error body is made from it when the status is
    /// 4xx or 5xx.
    pub body: String,
    /// Send status, body and headers exactly as given, even for 4xx and 5xx (a `respond`
    /// action written by the user). Omitted when false.
    #[serde(default, skip_serializing_if = "is_false")]
    pub as_written: bool,
    /// `Content-Type`; `None` is `text/plain; charset=utf-8`. Omitted when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// Extra headers as (lower-case name, value). Omitted when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<(String, String)>,
}

/// An upstream service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Service {
    /// Service name.
    pub name: String,
    /// `ip:port` or `name:port`.
    pub endpoints: Vec<String>,
    /// Protocol to the endpoints.
    pub protocol: UpstreamProtocol,
    /// Endpoint choice.
    pub load_balancer: LoadBalancer,
    /// Active health checking.
    pub health_check: Option<HealthCheck>,
    /// Passive ejection.
    pub outlier_detection: OutlierDetection,
    /// Time to connect.
    #[serde(with = "duration")]
    pub connect_timeout: Duration,
    /// Time from request sent to response head.
    #[serde(with = "duration")]
    pub request_timeout: Duration,
    /// Longest pause in a streamed body or upgraded connection.
    #[serde(with = "duration")]
    pub idle_timeout: Duration,
    /// Retries.
    pub retries: Retries,
    /// Most connections per endpoint.
    pub max_connections_per_endpoint: u32,
    /// TLS to the endpoints (`https`, `h2`).
    pub tls: Option<UpstreamTls>,
}

/// Upstream protocols.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpstreamProtocol {
    /// HTTP/1.1.
    Http,
    /// HTTP/2 cleartext, prior knowledge.
    H2c,
    /// HTTP/1.1 over TLS.
    Https,
    /// HTTP/2 over TLS.
    H2,
}

impl UpstreamProtocol {
    /// Speaks HTTP/2.
    pub fn is_h2(self) -> bool {
        matches!(self, Self::H2c | Self::H2)
    }

    /// Uses TLS.
    pub fn is_tls(self) -> bool {
        matches!(self, Self::Https | Self::H2)
    }
}

/// Load-balancing algorithms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoadBalancer {
    /// Each endpoint in turn.
    RoundRobin,
    /// Power of two choices on in-flight requests.
    LeastRequest,
    /// Uniformly at random.
    Random,
    /// Rendezvous hashing on a key.
    ConsistentHash(HashOn),
}

/// Consistent-hash key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HashOn {
    /// Client IP.
    ClientIp,
    /// Request path.
    Path,
    /// A request header's value (name lower case).
    Header(String),
}

/// Active health check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthCheck {
    /// Path to GET.
    pub path: String,
    /// Between probes.
    #[serde(with = "duration")]
    pub interval: Duration,
    /// Per probe.
    #[serde(with = "duration")]
    pub timeout: Duration,
    /// Successes to become healthy.
    pub healthy_threshold: u32,
    /// Failures to become unhealthy.
    pub unhealthy_threshold: u32,
}

/// Passive ejection settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutlierDetection {
    /// Consecutive failures before ejection.
    pub consecutive_failures: u32,
    /// How long an endpoint stays ejected.
    #[serde(with = "duration")]
    pub ejection_time: Duration,
    /// Largest share ejected at once, percent.
    pub max_ejection_percent: u8,
}

impl Default for OutlierDetection {
    fn default() -> Self {
        Self {
            consecutive_failures: 5,
            ejection_time: Duration::from_secs(30),
            max_ejection_percent: 50,
        }
    }
}

/// Retry policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retries {
    /// Extra attempts after the first.
    pub attempts: u32,
    /// Retry when the connection could not be opened.
    pub on_connect_failure: bool,
    /// Retry when the connection was reset before a response head.
    pub on_reset: bool,
    /// Retry on these response statuses.
    pub on_status: Vec<u16>,
    /// Retries may add at most this percentage of requests.
    pub budget_percent: u8,
}

impl Default for Retries {
    fn default() -> Self {
        Self {
            attempts: 0,
            on_connect_failure: true,
            on_reset: false,
            on_status: Vec::new(),
            budget_percent: 20,
        }
    }
}

/// Durations serialize as human strings (`250ms`, `5s`) so snapshots read well.
pub mod duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    /// Serializes as `Nms` or `Ns`.
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("{}", Human(*d)))
    }

    /// Parses `Nms`, `Ns`, `Nm`, `Nh`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        parse(&s).ok_or_else(|| serde::de::Error::custom(format!("invalid duration {s:?}")))
    }

    pub(crate) fn parse(s: &str) -> Option<Duration> {
        let end = s.find(|c: char| !c.is_ascii_digit())?;
        let n: u64 = s[..end].parse().ok()?;
        match &s[end..] {
            "ms" => Some(Duration::from_millis(n)),
            "s" => Some(Duration::from_secs(n)),
            "m" => Some(Duration::from_secs(n * 60)),
            "h" => Some(Duration::from_secs(n * 3600)),
            _ => None,
        }
    }

    pub(crate) struct Human(pub(crate) Duration);

    impl std::fmt::Display for Human {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            let ms = self.0.as_millis();
            if ms == 0 || !ms.is_multiple_of(1000) {
                write!(f, "{ms}ms")
            } else {
                write!(f, "{}s", ms / 1000)
            }
        }
    }
}

/// Optional durations, same format as [`duration`].
pub mod opt_duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    /// Serializes `None` as null.
    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.collect_str(&format_args!("{}", super::duration::Human(*d))),
            None => s.serialize_none(),
        }
    }

    /// Parses an optional duration.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let s = Option::<String>::deserialize(d)?;
        s.map(|s| {
            super::duration::parse(&s)
                .ok_or_else(|| serde::de::Error::custom(format!("invalid duration {s:?}")))
        })
        .transpose()
    }
}

impl Snapshot {
    /// A copy safe to show (`/config`, `tollgate translate`): every secret (private keys
    /// today; API key digests, password hashes, JWT and OIDC secrets) replaced by
    /// [`REDACTED`].
    pub fn redacted(&self) -> Self {
        let mut s = self.clone();
        for l in s.listeners.values_mut() {
            if let Some(tls) = &mut l.tls {
                tls.certificates.iter_mut().for_each(CertKeyPem::redact);
            }
        }
        for svc in s.services.values_mut() {
            if let Some(c) = svc.tls.as_mut().and_then(|t| t.client_cert.as_mut()) {
                c.redact();
            }
        }
        if let Some(r) = &mut s.redis {
            r.url = limits::redact_url(&r.url);
        }
        for c in &mut s.consumers {
            c.key_digests
                .iter_mut()
                .for_each(|k| *k = REDACTED.to_owned());
            if let Some(b) = &mut c.basic {
                b.password_hash = REDACTED.to_owned();
            }
        }
        for l in s.listeners.values_mut() {
            for r in l.virtual_hosts.iter_mut().flat_map(|v| v.routes.iter_mut()) {
                let Some(p) = r.policies.as_mut() else {
                    continue;
                };
                if let Some(JwtKeys::Secret(secret)) = p.jwt.as_mut().map(|j| &mut j.keys) {
                    *secret = REDACTED.to_owned();
                }
                if let Some(o) = &mut p.oidc {
                    o.client_secret = REDACTED.to_owned();
                    if let Some(s) = &mut o.session_secret {
                        *s = REDACTED.to_owned();
                    }
                }
            }
        }
        s
    }
}

/// For `skip_serializing_if`: a `false` flag is left out of snapshots.
fn is_false(b: &bool) -> bool {
    !*b
}
