//! `tollgate run`: start the gateway, watch the configuration, stop gracefully.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Args;
use tokio::signal::unix::{SignalKind, signal};
use tollgate_proxy::Gateway;

use crate::k8s_opts::K8sArgs;
use crate::kube_source::{KubeArgs, KubeSource};
use crate::reload;

/// Arguments of `tollgate run`.
#[derive(Args)]
pub(crate) struct RunArgs {
    /// Config files or directories (*.yaml, *.yml, *.json); repeatable. Optional with
    /// `--kubernetes`, where they are served next to the cluster's resources.
    #[arg(short, long = "config", required_unless_present = "kubernetes")]
    config: Vec<PathBuf>,
    /// Admin listener: /healthz /readyz /metrics /config.
    #[arg(long, default_value = "127.0.0.1:9901")]
    admin: SocketAddr,
    /// Data-plane worker threads (default: one per core).
    #[arg(long)]
    workers: Option<usize>,
    /// Log format for diagnostics on stderr: text or json.
    #[arg(long, default_value = "text")]
    log_format: String,
    #[command(flatten)]
    k8s: K8sArgs,
    #[command(flatten)]
    kube: KubeArgs,
}

pub(crate) fn run(args: RunArgs) -> anyhow::Result<()> {
    init_tracing(&args.log_format);
    let workers = args
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    tollgate_proxy::tune_allocator(workers);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers.max(1))
        .thread_name("tollgate-worker")
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    rt.block_on(serve(args))
}

async fn serve(args: RunArgs) -> anyhow::Result<()> {
    let opts = args.k8s.options();
    let gateway = Arc::new(Gateway::new());
    let admin = gateway
        .start_admin(args.admin)
        .with_context(|| format!("cannot bind the admin listener {}", args.admin))?;
    tracing::info!(address = %admin, "admin listening");

    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let kube = if args.kube.kubernetes {
        let metrics = Arc::new(tollgate_controller::KubeMetrics::default());
        let m = metrics.clone();
        gateway.metrics().add_collector(move |out| m.render(out));
        let k = KubeSource::start(&args.kube, &opts.controller_name, metrics).await?;
        // Readiness is held until then: a new replica must never answer 404 for
        // routes that exist just because it has not seen them yet.
        tracing::info!("waiting for the first full list of every watched kind");
        tokio::select! {
            _ = k.cluster.wait_synced() => {}
            _ = term.recv() => return Ok(()),
            _ = int.recv() => return Ok(()),
        }
        tracing::info!("cluster synced");
        Some(Arc::new(k))
    } else {
        None
    };
    // Changes from now on trigger a reload; the first translation below sees everything
    // before.
    let mut changes = kube.as_ref().map(|k| k.cluster.changes());

    // The first configuration must be valid: there is no last good one to fall back to.
    let first = {
        let (paths, opts) = (args.config.clone(), opts.clone());
        let stores = kube.as_ref().map(|k| k.cluster.stores().clone());
        tokio::task::spawn_blocking(move || match stores {
            Some(s) => tollgate_translate::load_with_cluster(&paths, &opts, s.resources()),
            None => tollgate_translate::load_with(&paths, &opts),
        })
        .await?
    };
    let loaded = first.map_err(|e| anyhow::anyhow!("invalid configuration:\n{e}"))?;
    gateway
        .apply(loaded.snapshot)
        .await
        .context("cannot start")?;
    gateway.reload_ok();
    if let Some(k) = &kube {
        k.status.publish(loaded.statuses);
    }
    for (name, addr) in gateway.listener_addrs().await {
        tracing::info!(listener = %name, address = %addr, "serving");
    }

    let watcher = reload::Reloader::start(
        gateway.clone(),
        args.config.clone(),
        loaded.files,
        opts,
        kube.clone(),
    )?;
    if let Some(mut rx) = changes.take() {
        let trigger = watcher.trigger_handle();
        tokio::spawn(async move {
            while rx.changed().await.is_ok() {
                if trigger.send(()).is_err() {
                    return;
                }
            }
        });
    }
    let mut hup = signal(SignalKind::hangup())?;
    loop {
        tokio::select! {
            _ = hup.recv() => {
                tracing::info!("SIGHUP: reloading");
                watcher.trigger();
            }
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
    drop(watcher);
    if let Some(k) = &kube {
        k.release().await;
    }
    let (delay, grace) = gateway.shutdown_timing();
    tracing::info!(?delay, ?grace, "shutting down: not ready, draining");
    if !gateway.shutdown(delay, grace).await {
        tracing::warn!("grace period over with requests still in flight");
    }
    tracing::info!("stopped");
    Ok(())
}

fn init_tracing(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TOLLGATE_LOG")
        // rustls warns once per connection about things clients control (an IP address
        // sent as SNI, for one); at info level that is a log flood anyone can cause.
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,rustls=error"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}
