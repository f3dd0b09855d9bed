//! The few internals that benchmarks need, and nothing else. Not a stable API.
//!
//! The router is crate-private, so `benches/router.rs` (and the config-path bench in the
//! `tollgate` crate) reach it through this module. Everything here calls the real code
//! (the runtime compiler and `RouteTable::find`), so what a bench measures is what a
//! request or a reload costs, not a copy of it.

use http::{HeaderMap, Method};
use tollgate_ir as ir;

use crate::metrics::Metrics;
use crate::runtime::{self, CompileError, Runtime};

/// Compiles snapshots the way [`Gateway::apply`](crate::Gateway::apply) does, minus the
/// listener binding and the health-check tasks (a bench has no tokio runtime, and neither
/// is part of compile time).
#[derive(Default)]
pub struct Compiler {
    /// Shared across compiles, as the gateway shares it across reloads: route stats are
    /// kept by route name, so a recompile finds them instead of creating them.
    metrics: Metrics,
    version: u64,
}

impl Compiler {
    /// A compiler with fresh metrics.
    pub fn new() -> Self {
        Self::default()
    }

    /// Compiles `snapshot` into a runtime. With `previous`, unchanged services keep their
    /// upstreams (pools, health state) and unchanged TLS listeners their rustls configs,
    /// which is the reload path.
    pub fn compile(
        &mut self,
        snapshot: ir::Snapshot,
        previous: Option<&Runtime>,
    ) -> Result<Runtime, CompileError> {
        self.version += 1;
        runtime::compile(snapshot, previous, &self.metrics, self.version, false)
    }
}

/// The name of the route a request matches on `listener`, or `None` (the gateway's 404).
///
/// `host` must be what the handler passes: lower case, without the port. An unknown
/// listener is `None` too.
pub fn find<'a>(
    rt: &'a Runtime,
    listener: &str,
    host: &str,
    method: &Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Option<&'a str> {
    rt.tables
        .get(listener)?
        .find(host, method, path, query, headers)
        .map(|r| &*r.name)
}

/// As [`find`], but always by the plain precedence-order scan of the virtual host's
/// routes, without the per-host index: the baseline that the index must beat (and agree
/// with), for the crossover bench.
#[doc(hidden)]
pub fn find_linear<'a>(
    rt: &'a Runtime,
    listener: &str,
    host: &str,
    method: &Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Option<&'a str> {
    rt.tables
        .get(listener)?
        .find_linear(host, method, path, query, headers)
        .map(|r| &*r.name)
}
