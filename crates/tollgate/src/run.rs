//! `tollgate run`: start the gateway, watch the configuration, stop gracefully.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Args;
use tokio::signal::unix::{SignalKind, signal};
use tollgate_proxy::Gateway;

use crate::k8s_opts::K8sArgs;
use crate::reload;

/// Arguments of `tollgate run`.
#[derive(Args)]
pub(crate) struct RunArgs {
    /// Config files or directories (*.yaml, *.yml, *.json); repeatable.
    #[arg(short, long = "config", required = true)]
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
    // The first configuration must be valid: there is no last good one to fall back to.
    let opts = args.k8s.options();
    let loaded = tollgate_translate::load_with(&args.config, &opts)
        .map_err(|e| anyhow::anyhow!("invalid configuration:\n{e}"))?;
    let gateway = Arc::new(Gateway::new());
    let admin = gateway
        .start_admin(args.admin)
        .with_context(|| format!("cannot bind the admin listener {}", args.admin))?;
    tracing::info!(address = %admin, "admin listening");
    gateway
        .apply(loaded.snapshot)
        .await
        .context("cannot start")?;
    gateway.reload_ok();
    for (name, addr) in gateway.listener_addrs().await {
        tracing::info!(listener = %name, address = %addr, "serving");
    }

    let watcher =
        reload::Reloader::start(gateway.clone(), args.config.clone(), loaded.files, opts)?;
    let mut hup = signal(SignalKind::hangup())?;
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
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
