//! Tollgate's Kubernetes controller: the cluster as a configuration source.
//!
//! - [`Cluster`] watches every kind the translator reads (kube reflectors, one per
//!   kind), strips what the translator never reads, and builds the same
//!   [`tollgate_model::Resources`] the file loader builds, so there is one translation
//!   path. It reports when the first full list of every kind has arrived (readiness)
//!   and when anything that matters changed.
//! - [`Elector`] holds a `coordination.k8s.io` Lease: one replica leads.
//! - [`StatusWriter`] writes the translator's statuses with server-side apply, while
//!   this replica leads, and only what changed.
//!
//! The binary wires them: changes → debounce → translate → apply to the data plane →
//! publish statuses. Every replica serves traffic; only the leader writes.

mod cluster;
mod kinds;
mod leader;
mod metrics;
mod reflect;
mod status;

pub use cluster::{Cluster, Stores, WatchOptions};
pub use kinds::Kind;
pub use leader::{Elector, LeaseOptions};
pub use metrics::KubeMetrics;
pub use status::{PublishAddress, StatusOptions, StatusWriter};

/// Aborts a task when dropped, so dropping a handle stops its work.
pub(crate) struct AbortOnDrop(pub(crate) tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

pub use kube::Client;

/// A client for the API server: the in-cluster service account when running in a pod,
/// else `KUBECONFIG` (or `~/.kube/config`) and its current context.
pub async fn connect() -> Result<Client, kube::Error> {
    Client::try_default().await
}
