//! The Tollgate data plane.
//!
//! [`Gateway`] owns the listeners and the current [`Runtime`]. Feed it `ir::Snapshot`s with
//! [`Gateway::apply`]: each is compiled first and swapped in atomically only if it
//! compiles and every new listener binds; otherwise the last good configuration keeps
//! serving. Requests load the runtime once and see one version from start to end.
//!
//! This crate depends on the IR only, never on the translator or Kubernetes.

mod access_log;
mod admin;
mod aggregate;
#[doc(hidden)]
pub mod bench_api;
mod body;
mod cache;
mod compression;
pub mod error;
mod forward;
mod handler;
mod headers;
mod limits;
pub mod metrics;
mod outbound;
mod policy;
mod router;
mod runtime;
mod server;
mod shared;
mod static_files;
mod tls;
mod upgrade;
mod upstream;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tollgate_ir as ir;

pub use body::{BodyError, OnDone, ProxyBody};
pub use runtime::{CompileError, Runtime};
pub use tls::check_certificate;

use crate::metrics::Metrics;
use crate::server::RunningListener;
use crate::shared::Shared;

/// Why a snapshot was not applied. The previous configuration is still serving.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApplyError {
    /// The snapshot did not compile.
    #[error(transparent)]
    Compile(#[from] CompileError),
    /// A new listener could not be bound.
    #[error("listener {name:?}: cannot bind {address}: {source}")]
    Bind {
        /// Listener name.
        name: String,
        /// Address.
        address: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
}

/// A running gateway.
pub struct Gateway {
    shared: Arc<Shared>,
    listeners: tokio::sync::Mutex<HashMap<String, RunningListener>>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
}

impl Default for Gateway {
    fn default() -> Self {
        Self::new()
    }
}

impl Gateway {
    /// A gateway with no configuration yet (`/readyz` answers 503 until the first apply).
    pub fn new() -> Self {
        let metrics = Arc::new(Metrics::default());
        let empty = runtime::compile(ir::Snapshot::default(), None, &metrics, 0, false)
            .unwrap_or_else(|_| unreachable_empty());
        let tracker = TaskTracker::new();
        Self {
            shared: Arc::new(Shared::new(empty, metrics, tracker.clone())),
            listeners: tokio::sync::Mutex::new(HashMap::new()),
            shutdown: CancellationToken::new(),
            tracker,
        }
    }

    /// Compiles and applies a snapshot; returns the new version. Must be called within a
    /// tokio runtime (the data-plane one: accept loops are spawned on it).
    pub async fn apply(&self, snapshot: ir::Snapshot) -> Result<u64, ApplyError> {
        // Serialised: two reloads must not interleave their listener changes.
        let mut running = self.listeners.lock().await;
        let current = self.shared.store.load_full();
        let version = current.version + 1;
        // Compiling 10,000 routes takes tens of milliseconds: on a worker thread that
        // would stall every connection the worker serves (the reload p99 spike), so it
        // runs on the blocking pool, which the OS time-slices with the workers.
        let metrics = self.shared.metrics.clone();
        let previous = current.clone();
        let compiled = tokio::task::spawn_blocking(move || {
            runtime::compile(snapshot, Some(&previous), &metrics, version, true)
        })
        .await;
        let rt = match compiled {
            Ok(rt) => rt?,
            // The compiler panicked: refuse this snapshot; the last good one keeps serving.
            Err(e) => {
                return Err(ApplyError::Compile(CompileError(format!(
                    "the compiler failed: {e}"
                ))));
            }
        };

        // Bind every new or moved listener before anything changes. A listener whose
        // address (a fixed port) belongs to a running listener whose name is no longer
        // wanted is a rename: it keeps that socket and its connections.
        let mut fresh = Vec::new();
        let mut renames: Vec<(String, String)> = Vec::new();
        for (name, l) in &rt.snapshot.listeners {
            let unchanged = running.get(name).is_some_and(|r| r.configured == l.address);
            if unchanged {
                continue;
            }
            let renamed = (l.address.port() != 0)
                .then(|| {
                    running.iter().find(|(old, r)| {
                        r.configured == l.address
                            && !rt.snapshot.listeners.contains_key(*old)
                            && !renames.iter().any(|(o, _)| o == *old)
                    })
                })
                .flatten();
            if let Some((old, _)) = renamed {
                renames.push((old.clone(), name.clone()));
                continue;
            }
            let socket = server::bind(l.address).map_err(|source| ApplyError::Bind {
                name: name.clone(),
                address: l.address,
                source,
            })?;
            fresh.push((name.clone(), l.address, socket));
        }
        let wanted: Vec<String> = rt.snapshot.listeners.keys().cloned().collect();
        self.shared.store.store(Arc::new(rt));
        self.shared
            .metrics
            .config_version
            .store(version, Ordering::Relaxed);

        for (old, new) in renames {
            if let Some(r) = running.remove(&old) {
                r.name.store(Arc::new(new.clone()));
                tracing::info!(listener = %new, was = %old, address = %r.bound, "listener renamed");
                if let Some(replaced) = running.insert(new, r) {
                    replaced.stop.cancel();
                }
            }
        }
        for (name, configured, socket) in fresh {
            let bound = socket.local_addr().unwrap_or(configured);
            let stop = self.shutdown.child_token();
            let cell: server::ListenerName =
                Arc::new(arc_swap::ArcSwap::from_pointee(name.clone()));
            if let Err(e) = server::spawn_accept(
                self.shared.clone(),
                cell.clone(),
                socket,
                stop.clone(),
                self.tracker.clone(),
            ) {
                tracing::error!(listener = %name, "cannot start accepting: {e}");
                continue;
            }
            tracing::info!(listener = %name, address = %bound, "listener bound");
            if let Some(old) = running.insert(
                name,
                RunningListener {
                    configured,
                    bound,
                    stop,
                    name: cell,
                },
            ) {
                old.stop.cancel();
            }
        }
        running.retain(|name, l| {
            let keep = wanted.contains(name);
            if !keep {
                tracing::info!(listener = %name, "listener removed");
                l.stop.cancel();
            }
            keep
        });
        let bound = running.iter().map(|(k, v)| (k.clone(), v.bound)).collect();
        self.shared.bound.store(Arc::new(bound));
        // Freeing a large route table is not free either; when this was the last
        // reference, free it on the blocking pool too. Then hand what the reload freed
        // back to the OS: glibc keeps freed memory in per-thread arenas (the blocking
        // threads that parsed and compiled get their own), and without a trim RSS
        // settles ~70 % above its starting point after a few reloads (bench reload_rss).
        let metrics = self.shared.metrics.clone();
        tokio::task::spawn_blocking(move || {
            drop(current);
            metrics.prune_routes();
            release_freed_memory();
        });
        Ok(version)
    }

    /// Counts a configuration that was refused before reaching [`Gateway::apply`] (for
    /// example one that did not parse).
    pub fn reload_failed(&self) {
        self.shared
            .metrics
            .reloads_failed
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a successful reload.
    pub fn reload_ok(&self) {
        self.shared
            .metrics
            .reloads_ok
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Bound addresses by listener name (useful when the configuration says port 0).
    pub async fn listener_addrs(&self) -> BTreeMap<String, SocketAddr> {
        self.listeners
            .lock()
            .await
            .iter()
            .map(|(k, v)| (k.clone(), v.bound))
            .collect()
    }

    /// The version being served (0 before the first apply).
    pub fn version(&self) -> u64 {
        self.shared.store.load().version
    }

    /// Process metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.shared.metrics
    }

    /// Starts the admin listener on its own thread; returns the bound address.
    pub fn start_admin(&self, addr: SocketAddr) -> std::io::Result<SocketAddr> {
        admin::start(self.shared.clone(), addr)
    }

    /// Graceful stop: report not-ready for `delay` while still serving (so load balancers
    /// stop sending), then stop accepting and give in-flight requests `grace` to finish.
    /// Returns true when everything finished within the grace period.
    pub async fn shutdown(&self, delay: Duration, grace: Duration) -> bool {
        self.shared.ready.store(false, Ordering::Release);
        tokio::time::sleep(delay).await;
        self.shutdown.cancel();
        self.tracker.close();
        let drained = tokio::time::timeout(grace, self.tracker.wait())
            .await
            .is_ok();
        self.shared.log.flush();
        drained
    }

    /// The configured shutdown delay and grace of the running configuration.
    pub fn shutdown_timing(&self) -> (Duration, Duration) {
        let rt = self.shared.store.load();
        (
            rt.snapshot.server.shutdown_delay,
            rt.snapshot.server.shutdown_grace,
        )
    }
}

/// Compiles a snapshot without running it: what `tollgate validate` checks beyond the
/// translator (certificates and keys load and match, TLS settings are coherent).
pub fn check(snapshot: &ir::Snapshot) -> Result<(), CompileError> {
    runtime::compile(snapshot.clone(), None, &Metrics::default(), 0, false).map(|_| ())
}

/// Caps glibc's malloc arenas at `workers` (at least 2) unless `MALLOC_ARENA_MAX` is set.
/// Call once at startup, before the runtime's threads start.
///
/// glibc gives threads up to 8 arenas per core; memory freed in one stays there. Reloads
/// parse and compile on blocking-pool threads, so with the default RSS settled ~16 %
/// above its baseline after 20 add/remove cycles, ~3 % with this cap (bench reload_rss);
/// one arena per worker keeps request-path allocation uncontended.
pub fn tune_allocator(workers: usize) {
    if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
        return;
    }
    set_arena_max(workers.max(2));
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)] // one FFI call, see the SAFETY note
fn set_arena_max(n: usize) {
    let n = i32::try_from(n).unwrap_or(i32::MAX);
    // SAFETY: mallopt only sets an allocator parameter; M_ARENA_MAX may be changed at
    // any time and affects arenas created afterwards.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, n);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn set_arena_max(_n: usize) {}

/// Returns freed heap memory to the OS (glibc only; elsewhere the allocator decides).
#[allow(unsafe_code)] // one FFI call, see the SAFETY note
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists; it takes the
    // arena locks itself and is safe to call from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Compiling the empty snapshot cannot fail; this keeps `new` free of `unwrap`.
fn unreachable_empty() -> Runtime {
    unreachable!("the empty snapshot always compiles")
}
