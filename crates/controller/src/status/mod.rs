//! The status writer: only the leader writes, with server-side apply on `/status`, and
//! only what changed.
//!
//! Every translation publishes its statuses here (latest wins). The writer compares each
//! with the object's current status in the watch store, times aside, and patches only
//! the objects that differ. A write comes back as a watch event that changes no
//! generation, so it does not trigger another translation (see `reflect.rs`), and
//! `lastTransitionTime` moves only when a condition's status really flips: no hot loop.

mod body;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Client, Resource};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::watch;
use tollgate_translate::k8s::StatusUpdate;

pub use body::PublishAddress;

use crate::AbortOnDrop;
use crate::cluster::Stores;
use crate::metrics::KubeMetrics;

/// How often statuses are compared again even when nothing changed, to repair a status
/// someone else overwrote.
const RESYNC: Duration = Duration::from_secs(30);
/// A status just written is not written again for this long while the watch catches up.
const PENDING: Duration = Duration::from_secs(5);

/// Status-writer settings.
#[derive(Debug, Clone)]
pub struct StatusOptions {
    /// Field manager of the server-side apply patches.
    pub field_manager: String,
    /// This controller's name (`controllerName` in route parent statuses).
    pub controller_name: String,
    /// Address to publish in Gateway and Ingress statuses.
    pub publish: Option<PublishAddress>,
}

/// Writes statuses while this replica leads. Dropping it stops the writer.
pub struct StatusWriter {
    tx: watch::Sender<Arc<Vec<StatusUpdate>>>,
    _task: AbortOnDrop,
}

impl StatusWriter {
    /// Starts the writer; it writes only while `leader` is true.
    pub fn start(
        client: &Client,
        stores: Stores,
        leader: watch::Receiver<bool>,
        opts: StatusOptions,
        metrics: Arc<KubeMetrics>,
    ) -> Self {
        let (tx, rx) = watch::channel(Arc::new(Vec::new()));
        let w = Writer {
            client: client.clone(),
            stores,
            opts,
            metrics,
            written: HashMap::new(),
        };
        Self {
            tx,
            _task: AbortOnDrop(tokio::spawn(w.run(rx, leader))),
        }
    }

    /// The statuses of the latest translation (replaces the previous ones).
    pub fn publish(&self, statuses: Vec<StatusUpdate>) {
        self.tx.send_replace(Arc::new(statuses));
    }
}

type Key = (String, Option<String>, String);

struct Writer {
    client: Client,
    stores: Stores,
    opts: StatusOptions,
    metrics: Arc<KubeMetrics>,
    /// What was last written to each object, and when.
    written: HashMap<Key, (Value, tokio::time::Instant)>,
}

/// The current object behind a status update: its status as JSON, generation and
/// resource description.
struct Current {
    status: Value,
    generation: Option<i64>,
    resource: ApiResource,
}

fn current_of<K>(store: &Store<K>, u: &StatusUpdate) -> Option<Current>
where
    K: Resource<DynamicType = ()> + Clone + Serialize + 'static,
{
    let mut r = ObjectRef::<K>::new(&u.name);
    if let Some(ns) = &u.namespace {
        r = r.within(ns);
    }
    let obj = store.get(&r)?;
    let status = serde_json::to_value(&*obj)
        .ok()
        .and_then(|mut v| v.get_mut("status").map(Value::take))
        .unwrap_or(Value::Null);
    Some(Current {
        status,
        generation: obj.meta().generation,
        resource: ApiResource::erase::<K>(&()),
    })
}

impl Writer {
    async fn run(
        mut self,
        mut statuses: watch::Receiver<Arc<Vec<StatusUpdate>>>,
        mut leader: watch::Receiver<bool>,
    ) {
        loop {
            if *leader.borrow_and_update() {
                let latest = statuses.borrow_and_update().clone();
                self.write_all(&latest, &leader).await;
            } else {
                // A new leader starts from what the cluster says, not from our memory.
                self.written.clear();
            }
            tokio::select! {
                r = statuses.changed() => if r.is_err() { return },
                r = leader.changed() => if r.is_err() { return },
                _ = tokio::time::sleep(RESYNC) => {}
            }
        }
    }

    fn current(&self, u: &StatusUpdate) -> Option<Current> {
        let s = &self.stores;
        match u.kind.as_str() {
            "GatewayClass" => current_of(&s.gateway_classes, u),
            "Gateway" => current_of(&s.gateways, u),
            "HTTPRoute" => current_of(&s.http_routes, u),
            "GRPCRoute" => current_of(&s.grpc_routes, u),
            "Ingress" => current_of(&s.ingresses, u),
            "Policy" => current_of(&s.policies, u),
            "Consumer" => current_of(&s.consumers, u),
            _ => None,
        }
    }

    async fn write_all(&mut self, updates: &[StatusUpdate], leader: &watch::Receiver<bool>) {
        // metav1.Time has whole seconds: a finer time would differ from the same
        // condition read back, and look like a transition.
        let now = Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
        for u in updates {
            // Leadership can be lost mid-round: stop at once.
            if !*leader.borrow() {
                return;
            }
            // Objects that came from files (not the cluster) have no status to write.
            let Some(cur) = self.current(u) else { continue };
            // The translation is older than the object: the next one will be right.
            if let (Some(g), Some(seen)) = (cur.generation, u.generation)
                && g > seen
            {
                continue;
            }
            let Some(desired) = body::desired(
                u,
                &cur.status,
                &self.opts.controller_name,
                self.opts.publish.as_ref(),
                &now,
            ) else {
                continue;
            };
            if body::up_to_date(&desired, &cur.status) {
                self.metrics
                    .status_unchanged
                    .fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let key = (u.kind.clone(), u.namespace.clone(), u.name.clone());
            let fp = body::fingerprint(&desired);
            if self
                .written
                .get(&key)
                .is_some_and(|(w, at)| *w == fp && at.elapsed() < PENDING)
            {
                continue;
            }
            match self.patch(u, &cur.resource, desired).await {
                Ok(()) => {
                    self.metrics.status_writes.fetch_add(1, Ordering::Relaxed);
                    self.written.insert(key, (fp, tokio::time::Instant::now()));
                }
                Err(e) => {
                    self.metrics
                        .status_write_errors
                        .fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(kind = %u.kind, namespace = ?u.namespace, name = %u.name, "status write failed: {e}");
                }
            }
        }
    }

    async fn patch(
        &self,
        u: &StatusUpdate,
        ar: &ApiResource,
        status: Value,
    ) -> Result<(), kube::Error> {
        let api: Api<DynamicObject> = match &u.namespace {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, ar),
            None => Api::all_with(self.client.clone(), ar),
        };
        let mut metadata = json!({ "name": u.name });
        if let Some(ns) = &u.namespace {
            metadata["namespace"] = json!(ns);
        }
        let body = json!({
            "apiVersion": ar.api_version,
            "kind": ar.kind,
            "metadata": metadata,
            "status": status,
        });
        let params = PatchParams::apply(&self.opts.field_manager).force();
        api.patch_status(&u.name, &params, &Patch::Apply(&body))
            .await
            .map(|_| ())
    }
}
