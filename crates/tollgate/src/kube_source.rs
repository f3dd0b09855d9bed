//! `tollgate run --kubernetes`: the live cluster as a configuration source, with leader
//! election and the status writer. The reloader translates the cluster's resources
//! together with any `-c` files; this module only connects and holds the parts.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use tollgate_controller::{
    Cluster, Elector, KubeMetrics, LeaseOptions, PublishAddress, StatusOptions, StatusWriter,
    WatchOptions,
};
use tollgate_model::units::Dur;

/// Flags of the Kubernetes source.
#[derive(Args, Debug, Clone)]
pub(crate) struct KubeArgs {
    /// Watch the cluster (in-cluster config, or KUBECONFIG / ~/.kube/config) for Gateway
    /// API and Ingress resources, and serve them.
    #[arg(long)]
    pub(crate) kubernetes: bool,
    /// This replica's identity in the leader-election Lease (default: the host name).
    #[arg(long, env = "POD_NAME", value_name = "NAME")]
    pod_name: Option<String>,
    /// Namespace of the leader-election Lease.
    #[arg(
        long,
        env = "POD_NAMESPACE",
        value_name = "NS",
        default_value = "tollgate-system"
    )]
    lease_namespace: String,
    /// Name of the leader-election Lease.
    #[arg(
        long,
        value_name = "NAME",
        default_value = "tollgate-gateway-controller"
    )]
    lease_name: String,
    /// How long a Lease not renewed stays held (the leader renews every 2/15 of it).
    #[arg(long, value_name = "DURATION", default_value = "15s")]
    lease_duration: Dur,
    /// Address written to Gateway `status.addresses` and Ingress
    /// `status.loadBalancer` (an IP or a DNS name: the gateway Service's address).
    #[arg(long, value_name = "ADDRESS")]
    publish_address: Option<String>,
}

/// The running Kubernetes source.
pub(crate) struct KubeSource {
    pub(crate) cluster: Cluster,
    pub(crate) status: StatusWriter,
    elector: Elector,
}

impl KubeSource {
    /// Connects and starts watching, campaigning and (while leading) writing status.
    pub(crate) async fn start(
        args: &KubeArgs,
        controller_name: &str,
        metrics: Arc<KubeMetrics>,
    ) -> anyhow::Result<Self> {
        let client = tollgate_controller::connect()
            .await
            .context("cannot reach the Kubernetes API server (in-cluster config or KUBECONFIG)")?;
        let cluster = Cluster::start(&client, &WatchOptions::default(), metrics.clone());
        let identity = args
            .pod_name
            .clone()
            .filter(|n| !n.is_empty())
            .or_else(hostname)
            .context("no identity for leader election: set POD_NAME or --pod-name")?;
        let lease = LeaseOptions::with_duration(
            args.lease_namespace.clone(),
            args.lease_name.clone(),
            identity,
            args.lease_duration.0,
        );
        let elector = Elector::start(&client, lease, metrics.clone());
        let status = StatusWriter::start(
            &client,
            cluster.stores().clone(),
            elector.subscribe(),
            StatusOptions {
                field_manager: "tollgate".into(),
                controller_name: controller_name.into(),
                publish: args.publish_address.as_deref().map(PublishAddress::parse),
            },
            metrics,
        );
        Ok(Self {
            cluster,
            status,
            elector,
        })
    }

    /// Hands the Lease over at shutdown, so another replica writes status at once.
    pub(crate) async fn release(&self) {
        self.elector.release(Duration::from_secs(2)).await;
    }
}

fn hostname() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}
