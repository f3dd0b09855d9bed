//! Reflectors: one kube watcher per kind, each feeding a store, plus the bookkeeping the
//! rest of the controller needs (first sync per kind, a change counter, health).

use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::fmt::Debug;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::StreamExt as _;
use kube::runtime::reflector::{self, Store};
use kube::runtime::utils::Backoff;
use kube::runtime::{WatchStreamExt as _, watcher};
use kube::{Api, Client, Resource, ResourceExt as _};
use serde::de::DeserializeOwned;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::kinds::Kind;
use crate::metrics::KubeMetrics;

/// What every watcher task shares.
pub(crate) struct Shared {
    synced: [AtomicBool; Kind::COUNT],
    /// Woken whenever a kind becomes synced.
    sync_notify: Notify,
    /// Bumped on every change that can alter the translation.
    changes: watch::Sender<u64>,
    pub(crate) metrics: Arc<KubeMetrics>,
    /// Longest pause between retries after an error.
    max_backoff: Duration,
}

impl Shared {
    pub(crate) fn new(metrics: Arc<KubeMetrics>, max_backoff: Duration) -> Self {
        Self {
            synced: Default::default(),
            sync_notify: Notify::new(),
            changes: watch::channel(0).0,
            metrics,
            max_backoff,
        }
    }

    fn mark_synced(&self, kind: Kind) {
        if !self.synced[kind as usize].swap(true, Ordering::AcqRel) {
            tracing::debug!(kind = kind.name(), "first list received");
        }
        self.metrics.set_synced(kind);
        self.sync_notify.notify_waiters();
    }

    /// Has every kind had its first full list (or been found absent)?
    pub(crate) fn all_synced(&self) -> bool {
        self.synced.iter().all(|s| s.load(Ordering::Acquire))
    }

    /// Waits until every kind is synced.
    pub(crate) async fn wait_synced(&self) {
        loop {
            let notified = self.sync_notify.notified();
            if self.all_synced() {
                return;
            }
            notified.await;
        }
    }

    fn changed(&self) {
        self.changes.send_modify(|n| *n += 1);
    }

    /// A receiver that sees every later change.
    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }
}

/// Retries after errors: 250 ms doubling up to a ceiling, so a returning API server is
/// found again within seconds (kube's default waits up to 30 s).
struct Retry {
    next: Duration,
    max: Duration,
}

impl Iterator for Retry {
    type Item = Duration;
    fn next(&mut self) -> Option<Duration> {
        let d = self.next;
        self.next = (self.next * 2).min(self.max);
        Some(d)
    }
}

impl Backoff for Retry {
    fn reset(&mut self) {
        self.next = Duration::from_millis(250);
    }
}

/// Removes what the translator never reads, so a large cluster does not cost memory for
/// it: managed fields and the last-applied annotation on every object.
pub(crate) fn strip_meta<K: Resource>(o: &mut K) {
    o.meta_mut().managed_fields = None;
    if let Some(a) = o.meta_mut().annotations.as_mut() {
        a.remove("kubectl.kubernetes.io/last-applied-configuration");
    }
}

/// The part of an object whose change matters to the translator when its status is
/// ours to write: spec (through the generation), labels and annotations. Status writes
/// (ours included) change none of them, so they do not trigger a rebuild.
fn trigger_key<K: Resource>(o: &K) -> u64 {
    let m = o.meta();
    let mut h = DefaultHasher::new();
    m.generation.hash(&mut h);
    m.labels.hash(&mut h);
    m.annotations.hash(&mut h);
    m.deletion_timestamp.is_some().hash(&mut h);
    h.finish()
}

fn is_not_found(e: &watcher::Error) -> bool {
    let (watcher::Error::InitialListFailed(api)
    | watcher::Error::WatchStartFailed(api)
    | watcher::Error::WatchFailed(api)) = e
    else {
        return false;
    };
    matches!(api, kube::Error::Api(s) if s.code == 404)
}

/// Starts the watcher of one kind; returns its store and task.
pub(crate) fn spawn<K>(
    client: &Client,
    kind: Kind,
    config: watcher::Config,
    strip: fn(&mut K),
    shared: Arc<Shared>,
) -> (Store<K>, JoinHandle<()>)
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    let api: Api<K> = Api::all(client.clone());
    let (reader, writer) = reflector::store();
    let retry = Retry {
        next: Duration::from_millis(250),
        max: shared.max_backoff,
    };
    let stream = watcher(api, config)
        .backoff(retry)
        .modify(move |o: &mut K| strip(o))
        .reflect(writer);
    let task = tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        // Last trigger key per object, for kinds whose status we write.
        let mut keys: HashMap<(Option<String>, String), u64> = HashMap::new();
        let mut absent_reported = false;
        while let Some(item) = stream.next().await {
            let m = &shared.metrics;
            let ev = match item {
                Ok(ev) => ev,
                Err(e) if is_not_found(&e) => {
                    // The CRD is not installed: nothing of this kind exists. That is not
                    // an outage, and must not hold readiness back forever; the watcher
                    // keeps retrying and picks the kind up once the CRD appears.
                    if !absent_reported {
                        tracing::warn!(
                            kind = kind.name(),
                            "the API server does not serve this kind (CRD not installed?); treating it as empty"
                        );
                        absent_reported = true;
                    }
                    m.set_up(kind, true);
                    shared.mark_synced(kind);
                    continue;
                }
                Err(e) => {
                    m.error(kind);
                    m.set_up(kind, false);
                    tracing::warn!(kind = kind.name(), "watch failed, retrying: {e}");
                    continue;
                }
            };
            m.set_up(kind, true);
            let id = |o: &K| (o.namespace(), o.name_any());
            match ev {
                watcher::Event::Init => keys.clear(),
                watcher::Event::InitApply(o) => {
                    keys.insert(id(&o), trigger_key(&o));
                }
                watcher::Event::InitDone => {
                    absent_reported = false;
                    shared.mark_synced(kind);
                    shared.changed();
                }
                watcher::Event::Apply(o) => {
                    m.event(kind);
                    let key = trigger_key(&o);
                    let before = keys.insert(id(&o), key);
                    if !kind.has_status() || before != Some(key) {
                        shared.changed();
                    }
                }
                watcher::Event::Delete(o) => {
                    m.event(kind);
                    keys.remove(&id(&o));
                    shared.changed();
                }
            }
        }
    });
    (reader, task)
}
