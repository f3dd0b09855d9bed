//! The compiled runtime: what one request sees from start to end.
//!
//! [`compile`] turns an `ir::Snapshot` into a [`Runtime`] (regexes compiled, host tables
//! built, backends resolved to upstreams). It is fallible and runs *before* the swap: when
//! it fails, the last good runtime keeps serving. Upstreams are reused from the previous
//! runtime when their configuration did not change, so connection pools and health state
//! survive reloads.

use std::collections::HashMap;
use std::sync::Arc;

use ipnet::IpNet;
use tollgate_ir as ir;
use tollgate_wire::GuardConfig;

use crate::limits::Limiters;
use crate::metrics::Metrics;
use crate::policy::{Consumers, PolicyCompiler, Verifiers};
use crate::router::{RouteTable, Upstreams};
use crate::upstream::{Upstream, health};
use tollgate_ratelimit::RedisStore;

/// One consistent, immutable view of the configuration.
pub struct Runtime {
    /// Monotonic version, 1 for the first configuration.
    pub version: u64,
    /// The snapshot this was compiled from (served by `/config`).
    pub snapshot: Arc<ir::Snapshot>,
    pub(crate) tables: HashMap<String, Arc<RouteTable>>,
    pub(crate) upstreams: Upstreams,
    pub(crate) trusted: Vec<IpNet>,
    pub(crate) guard: Arc<GuardConfig>,
    /// Consumers, indexed by credential.
    pub(crate) consumers: Consumers,
    /// JWT verifiers in use, handed to the next runtime so keys stay cached.
    pub(crate) verifiers: Verifiers,
    /// Local limiters in use, handed to the next runtime so counters survive reloads.
    pub(crate) limiters: Limiters,
    /// The Redis store of shared limits, with the settings it was made from.
    pub(crate) redis: Option<(ir::RedisSettings, Arc<RedisStore>)>,
    /// The local response cache, handed to the next runtime so entries survive reloads.
    pub(crate) cache: Arc<crate::cache::LocalStore>,
}

impl Runtime {
    /// The Redis store, when one is configured.
    pub(crate) fn redis(&self) -> Option<&RedisStore> {
        self.redis.as_ref().map(|(_, s)| &**s)
    }
}

/// Why a snapshot could not be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot compile configuration: {0}")]
pub struct CompileError(pub String);

/// Compiles a snapshot, reusing what it can from `previous`.
pub(crate) fn compile(
    snapshot: ir::Snapshot,
    previous: Option<&Runtime>,
    metrics: &Metrics,
    version: u64,
    start_health_checks: bool,
) -> Result<Runtime, CompileError> {
    let mut upstreams = HashMap::with_capacity(snapshot.services.len());
    let mut fresh = Vec::new();
    for (name, svc) in &snapshot.services {
        let old = previous.and_then(|p| p.upstreams.get(name));
        let up = match old {
            Some(o) if o.config == *svc => o.clone(),
            _ => {
                let up = Arc::new(Upstream::new(svc, old.map(|o| &**o)).map_err(CompileError)?);
                fresh.push(up.clone());
                up
            }
        };
        upstreams.insert(name.clone(), up);
    }
    let consumers = Consumers::compile(&snapshot.consumers).map_err(CompileError)?;
    let mut pol = PolicyCompiler::new(
        previous.map(|p| (&p.verifiers, &p.limiters)),
        metrics,
        start_health_checks,
    );
    let redis = crate::limits::store(
        snapshot.redis.as_ref(),
        previous.and_then(|p| p.redis.as_ref()),
        start_health_checks,
    )
    .map_err(CompileError)?;
    pol.cache = crate::cache::Stores::carry(
        previous.map(|p| &p.cache),
        snapshot.server.cache_max_memory,
        redis.as_ref(),
    );
    let mut tables = HashMap::with_capacity(snapshot.listeners.len());
    for (name, l) in &snapshot.listeners {
        let mut t = RouteTable::compile(l, metrics, &upstreams, &mut pol)
            .map_err(|e| CompileError(format!("listener {name:?}: {e}")))?;
        if let Some(src) = &l.tls {
            let old = previous
                .and_then(|p| p.tables.get(name))
                .filter(|o| o.tls_source.as_ref() == Some(src))
                .and_then(|o| o.tls.clone());
            t.tls = Some(match old {
                Some(cfg) => cfg,
                None => {
                    // The error starts with the certificate's `file:line:col: path` label.
                    let (cfg, warnings) = crate::tls::server(src)
                        .map_err(|e| CompileError(format!("{e} (listener {name:?})")))?;
                    for w in warnings {
                        tracing::warn!(listener = %name, "{w}");
                    }
                    cfg
                }
            });
        }
        tables.insert(name.clone(), Arc::new(t));
    }
    // Health checks start only once compilation has succeeded, so a refused snapshot
    // leaves nothing running.
    if start_health_checks {
        for up in &fresh {
            health::spawn(up);
        }
    }
    let s = &snapshot.server;
    let guard = Arc::new(GuardConfig {
        max_head_bytes: s.max_header_bytes as usize,
        max_headers: s.max_header_count as usize,
        header_read_timeout: s.header_read_timeout,
        idle_timeout: s.idle_timeout,
        body_read_timeout: s.body_read_timeout,
        ..GuardConfig::default()
    });
    Ok(Runtime {
        version,
        trusted: snapshot.trusted_proxies.clone(),
        snapshot: Arc::new(snapshot),
        tables,
        upstreams,
        guard,
        consumers,
        verifiers: pol.verifiers,
        limiters: pol.limits.limiters,
        redis,
        cache: pol.cache.local,
    })
}
