//! State shared by every connection and request of one gateway process.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use arc_swap::ArcSwap;
use tollgate_wire::{Responder, Violation};

use crate::access_log::AccessLog;
use crate::error::raw_error_response;
use crate::headers::RequestIds;
use crate::metrics::{Metrics, RouteStats};
use crate::runtime::Runtime;

/// Shared state. One `Arc` of it is held by each connection task.
pub(crate) struct Shared {
    /// The runtime; loaded once per request.
    pub(crate) store: ArcSwap<Runtime>,
    pub(crate) metrics: Arc<Metrics>,
    /// Stats for requests that matched no route.
    pub(crate) no_route: Arc<RouteStats>,
    pub(crate) ids: Arc<RequestIds>,
    pub(crate) log: AccessLog,
    /// Cleared on shutdown so `/readyz` fails while we still serve.
    pub(crate) ready: AtomicBool,
    /// Answers framing violations found by the HTTP/1 guard.
    pub(crate) responder: Responder,
    /// Bound addresses by listener name (configurations may ask for port 0).
    pub(crate) bound: ArcSwap<std::collections::HashMap<String, std::net::SocketAddr>>,
    /// Connection and tunnel tasks, waited for on shutdown.
    pub(crate) tracker: tokio_util::task::TaskTracker,
    /// Basic-auth password verification: slots and remembered results.
    pub(crate) passwords: crate::policy::PasswordChecks,
}

impl Shared {
    pub(crate) fn new(
        initial: Runtime,
        metrics: Arc<Metrics>,
        tracker: tokio_util::task::TaskTracker,
    ) -> Self {
        let ids = Arc::new(RequestIds::new());
        let responder: Responder = {
            let ids = ids.clone();
            let metrics = metrics.clone();
            Arc::new(move |v: &Violation| {
                metrics.rejected(v.status());
                let id = ids.generate();
                raw_error_response(v.status(), &v.to_string(), id.to_str().unwrap_or(""))
            })
        };
        Self {
            no_route: metrics.route("none"),
            store: ArcSwap::from_pointee(initial),
            metrics,
            ids,
            log: AccessLog::start(),
            ready: AtomicBool::new(true),
            responder,
            bound: ArcSwap::from_pointee(std::collections::HashMap::new()),
            tracker,
            passwords: crate::policy::PasswordChecks::new(),
        }
    }

    /// Is access logging on in this runtime?
    pub(crate) fn access_log_on(&self, rt: &Runtime) -> bool {
        rt.snapshot.server.access_log
    }
}
