//! Hot reload: watch the configuration (and the certificate files it names), and on a
//! change or SIGHUP load, translate and apply. A bad configuration is logged with its
//! `file:line` problems, counted in `tollgate_config_reloads_total{result="failed"}`, and
//! the last good one keeps serving.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tollgate_proxy::Gateway;

use crate::kube_source::KubeSource;

/// Bursts of file events (editors write, rename, chmod) are folded into one reload: the
/// reload starts once no event has come for this long...
const QUIET: Duration = Duration::from_millis(40);
/// ...or this long after the first event, if events keep coming.
const MAX_WAIT: Duration = Duration::from_millis(500);

/// What to react to: configuration files inside the configured directories, and exactly
/// the files the configuration names or is.
#[derive(Default)]
struct Interest {
    dirs: HashSet<PathBuf>,
    files: HashSet<PathBuf>,
}

impl Interest {
    fn matches(&self, p: &Path) -> bool {
        if self.files.contains(p) {
            return true;
        }
        tollgate_model::load::is_config_file(p) && p.parent().is_some_and(|d| self.dirs.contains(d))
    }
}

/// Watches the configuration until dropped.
pub(crate) struct Reloader {
    tx: mpsc::UnboundedSender<()>,
}

impl Reloader {
    /// `files`: every file the first configuration depends on; `opts`: how Kubernetes
    /// resources are translated at every reload; `cluster`: the live cluster, whose
    /// resources are translated with the files' (and whose statuses are published) at
    /// every reload.
    pub(crate) fn start(
        gateway: Arc<Gateway>,
        paths: Vec<PathBuf>,
        files: Vec<PathBuf>,
        opts: tollgate_translate::Options,
        cluster: Option<Arc<KubeSource>>,
    ) -> anyhow::Result<Self> {
        let (tx, mut rx) = mpsc::unbounded_channel::<()>();
        let interest = Arc::new(Mutex::new(Interest::default()));
        let events = tx.clone();
        let seen = interest.clone();
        let mut watcher = notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
            let Ok(ev) = ev else { return };
            if ev.kind.is_access() {
                return;
            }
            let Ok(interest) = seen.lock() else { return };
            if ev.paths.iter().any(|p| interest.matches(p)) {
                let _ = events.send(());
            }
        })?;
        let mut watched = HashSet::new();
        {
            let mut i = interest.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
            for p in &paths {
                let p = absolute(p);
                if p.is_dir() {
                    i.dirs.insert(p);
                }
            }
        }
        watch_all(&mut watcher, &mut watched, &interest, &files);
        for p in &paths {
            let p = absolute(p);
            if p.is_dir() && watched.insert(p.clone()) {
                watcher.watch(&p, RecursiveMode::NonRecursive)?;
            }
        }
        tokio::spawn(async move {
            // The watcher lives in this task: new certificate directories are added
            // after each successful reload.
            let mut watcher = watcher;
            while rx.recv().await.is_some() {
                let deadline = tokio::time::Instant::now() + MAX_WAIT;
                loop {
                    tokio::time::sleep(QUIET).await;
                    let mut more = false;
                    while rx.try_recv().is_ok() {
                        more = true;
                    }
                    if !more || tokio::time::Instant::now() >= deadline {
                        break;
                    }
                }
                if let Some(files) = reload(&gateway, &paths, &opts, cluster.as_deref()).await {
                    watch_all(&mut watcher, &mut watched, &interest, &files);
                }
            }
        });
        Ok(Self { tx })
    }

    /// Reload now (SIGHUP).
    pub(crate) fn trigger(&self) {
        let _ = self.tx.send(());
    }

    /// A sender that triggers a (debounced) reload, for other sources of change.
    pub(crate) fn trigger_handle(&self) -> mpsc::UnboundedSender<()> {
        self.tx.clone()
    }
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// Watches the directory of each file (editors and Kubernetes replace files by renaming,
/// which a watch on the file itself would lose) and marks the file as interesting.
fn watch_all(
    watcher: &mut notify::RecommendedWatcher,
    watched: &mut HashSet<PathBuf>,
    interest: &Mutex<Interest>,
    files: &[PathBuf],
) {
    let Ok(mut i) = interest.lock() else { return };
    for f in files {
        let f = absolute(f);
        let Some(dir) = f.parent().map(Path::to_path_buf) else {
            continue;
        };
        i.files.insert(f);
        if watched.insert(dir.clone())
            && let Err(e) = watcher.watch(&dir, RecursiveMode::NonRecursive)
        {
            tracing::warn!(dir = %dir.display(), "cannot watch: {e}");
        }
    }
}

/// Reloads; returns the files the new configuration depends on when it was applied.
pub(crate) async fn reload(
    gateway: &Gateway,
    paths: &[PathBuf],
    opts: &tollgate_translate::Options,
    cluster: Option<&KubeSource>,
) -> Option<Vec<PathBuf>> {
    // Reading, parsing and translating 10,000 routes takes hundreds of milliseconds: off
    // the worker threads, so serving traffic does not wait for it.
    let (paths, opts) = (paths.to_vec(), opts.clone());
    let stores = cluster.map(|k| k.cluster.stores().clone());
    let loaded = tokio::task::spawn_blocking(move || match stores {
        Some(s) => tollgate_translate::load_with_cluster(&paths, &opts, s.resources()),
        None => tollgate_translate::load_with(&paths, &opts),
    });
    let loaded = match loaded.await {
        Ok(Ok(l)) => l,
        Err(e) => {
            gateway.reload_failed();
            tracing::error!("configuration loader failed: {e}; still serving the last good one");
            return None;
        }
        Ok(Err(e)) => {
            gateway.reload_failed();
            for p in &e.problems {
                tracing::error!(problem = %p, "configuration rejected; still serving the last good one");
            }
            return None;
        }
    };
    match gateway.apply(loaded.snapshot).await {
        Ok(version) => {
            gateway.reload_ok();
            tracing::info!(version, "configuration reloaded");
            if let Some(k) = cluster {
                k.status.publish(loaded.statuses);
            }
            Some(loaded.files)
        }
        Err(e) => {
            gateway.reload_failed();
            tracing::error!("configuration rejected; still serving the last good one: {e}");
            None
        }
    }
}
