//! Hot reload: watch the configuration paths, and on a change (or SIGHUP) load, translate
//! and apply. A bad configuration is logged with its `file:line` problems, counted in
//! `tollgate_config_reloads_total{result="failed"}`, and the last good one keeps serving.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tollgate_proxy::Gateway;

/// Bursts of file events (editors write, rename, chmod) are folded into one reload.
const DEBOUNCE: Duration = Duration::from_millis(150);

/// Watches the configuration until dropped.
pub(crate) struct Reloader {
    tx: mpsc::UnboundedSender<()>,
    _watcher: notify::RecommendedWatcher,
}

impl Reloader {
    pub(crate) fn start(gateway: Arc<Gateway>, paths: Vec<PathBuf>) -> anyhow::Result<Self> {
        let (tx, mut rx) = mpsc::unbounded_channel::<()>();
        let events = tx.clone();
        let mut watcher = notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
            let Ok(ev) = ev else { return };
            if ev.kind.is_access() {
                return;
            }
            // In a directory only config files count; a swap file or notes.txt must not
            // trigger a reload.
            if ev
                .paths
                .iter()
                .any(|p| tollgate_model::load::is_config_file(p))
            {
                let _ = events.send(());
            }
        })?;
        for p in &paths {
            // Watch the parent of a file too: editors replace files by renaming, which
            // a watch on the file itself would lose.
            let target = if p.is_dir() {
                p.clone()
            } else {
                p.parent().map_or_else(
                    || PathBuf::from("."),
                    |d| {
                        if d.as_os_str().is_empty() {
                            PathBuf::from(".")
                        } else {
                            d.to_path_buf()
                        }
                    },
                )
            };
            watcher.watch(&target, RecursiveMode::NonRecursive)?;
        }
        tokio::spawn(async move {
            while rx.recv().await.is_some() {
                tokio::time::sleep(DEBOUNCE).await;
                while rx.try_recv().is_ok() {}
                reload(&gateway, &paths).await;
            }
        });
        Ok(Self {
            tx,
            _watcher: watcher,
        })
    }

    /// Reload now (SIGHUP).
    pub(crate) fn trigger(&self) {
        let _ = self.tx.send(());
    }
}

async fn reload(gateway: &Gateway, paths: &[PathBuf]) {
    let snapshot = match tollgate_translate::load_and_translate(paths) {
        Ok(s) => s,
        Err(e) => {
            gateway.reload_failed();
            for p in &e.problems {
                tracing::error!(problem = %p, "configuration rejected; still serving the last good one");
            }
            return;
        }
    };
    match gateway.apply(snapshot).await {
        Ok(version) => {
            gateway.reload_ok();
            tracing::info!(version, "configuration reloaded");
        }
        Err(e) => {
            gateway.reload_failed();
            tracing::error!("configuration rejected; still serving the last good one: {e}");
        }
    }
}
