//! The controller's own metrics, as atomics the binary renders next to the proxy's.
//!
//! Plain atomics (no registry): the watcher tasks update them on every event, and
//! `/metrics` reads them. The kinds are a fixed list, so a per-kind array needs no lock.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use crate::kinds::Kind;

/// Counters and gauges of the Kubernetes source.
#[derive(Debug, Default)]
pub struct KubeMetrics {
    /// Per kind: 1 while its watch is healthy, 0 after an error until it recovers.
    up: [AtomicI64; Kind::COUNT],
    /// Per kind: 1 once the first full list has been received.
    synced: [AtomicI64; Kind::COUNT],
    /// Per kind: watch events received (applied or deleted objects).
    events: [AtomicU64; Kind::COUNT],
    /// Per kind: watch or list errors.
    errors: [AtomicU64; Kind::COUNT],
    /// 1 while this replica holds the leader lease.
    pub leader: AtomicI64,
    /// Status writes sent (server-side apply patches), successful.
    pub status_writes: AtomicU64,
    /// Status writes that failed.
    pub status_write_errors: AtomicU64,
    /// Status writes skipped because the object already had that status.
    pub status_unchanged: AtomicU64,
    /// Leader lease transitions this replica made (acquired).
    pub lease_acquired: AtomicU64,
    /// Times this replica lost or gave up the lease.
    pub lease_lost: AtomicU64,
}

impl KubeMetrics {
    pub(crate) fn set_up(&self, kind: Kind, up: bool) {
        self.up[kind as usize].store(i64::from(up), Ordering::Relaxed);
    }

    pub(crate) fn set_synced(&self, kind: Kind) {
        self.synced[kind as usize].store(1, Ordering::Relaxed);
    }

    pub(crate) fn event(&self, kind: Kind) {
        self.events[kind as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn error(&self, kind: Kind) {
        self.errors[kind as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Is every watch healthy? False while the API server cannot be reached.
    pub fn connected(&self) -> bool {
        self.up.iter().all(|u| u.load(Ordering::Relaxed) == 1)
    }

    /// Appends the Prometheus text exposition of these metrics to `out`.
    pub fn render(&self, out: &mut String) {
        let gauge = |out: &mut String, name: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        };
        let counter = |out: &mut String, name: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        };
        gauge(
            out,
            "tollgate_kubernetes_connected",
            "1 while every watch on the API server is healthy; 0 means the last good configuration is being served while the API server cannot be reached.",
        );
        let _ = writeln!(
            out,
            "tollgate_kubernetes_connected {}",
            i64::from(self.connected())
        );
        let per_kind = |out: &mut String, name: &str, values: &dyn Fn(usize) -> String| {
            for k in Kind::ALL {
                let _ = writeln!(
                    out,
                    "{name}{{kind=\"{}\"}} {}",
                    k.name(),
                    values(k as usize)
                );
            }
        };
        gauge(
            out,
            "tollgate_kubernetes_watch_up",
            "1 while the watch of a kind is healthy.",
        );
        per_kind(out, "tollgate_kubernetes_watch_up", &|i| {
            self.up[i].load(Ordering::Relaxed).to_string()
        });
        gauge(
            out,
            "tollgate_kubernetes_synced",
            "1 once the first full list of a kind has been received.",
        );
        per_kind(out, "tollgate_kubernetes_synced", &|i| {
            self.synced[i].load(Ordering::Relaxed).to_string()
        });
        counter(
            out,
            "tollgate_kubernetes_watch_events_total",
            "Objects applied or deleted, by kind.",
        );
        per_kind(out, "tollgate_kubernetes_watch_events_total", &|i| {
            self.events[i].load(Ordering::Relaxed).to_string()
        });
        counter(
            out,
            "tollgate_kubernetes_watch_errors_total",
            "List or watch errors, by kind.",
        );
        per_kind(out, "tollgate_kubernetes_watch_errors_total", &|i| {
            self.errors[i].load(Ordering::Relaxed).to_string()
        });
        gauge(
            out,
            "tollgate_kubernetes_leader",
            "1 while this replica holds the leader lease and writes status.",
        );
        let _ = writeln!(
            out,
            "tollgate_kubernetes_leader {}",
            self.leader.load(Ordering::Relaxed)
        );
        counter(
            out,
            "tollgate_kubernetes_status_writes_total",
            "Status patches by result.",
        );
        for (result, v) in [
            ("ok", &self.status_writes),
            ("error", &self.status_write_errors),
            ("unchanged", &self.status_unchanged),
        ] {
            let _ = writeln!(
                out,
                "tollgate_kubernetes_status_writes_total{{result=\"{result}\"}} {}",
                v.load(Ordering::Relaxed)
            );
        }
        counter(
            out,
            "tollgate_kubernetes_lease_transitions_total",
            "Leader lease acquired or lost by this replica.",
        );
        for (what, v) in [
            ("acquired", &self.lease_acquired),
            ("lost", &self.lease_lost),
        ] {
            let _ = writeln!(
                out,
                "tollgate_kubernetes_lease_transitions_total{{event=\"{what}\"}} {}",
                v.load(Ordering::Relaxed)
            );
        }
    }
}
