//! [`Cluster`]: every watched kind's store, and the [`Resources`] the translator reads,
//! built from them on demand.

use std::sync::Arc;
use std::time::Duration;

use kube::Client;
use kube::runtime::reflector::Store;
use kube::runtime::watcher;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tollgate_model::Resources;
use tollgate_model::crds::CREDENTIALS_LABEL;
use tollgate_model::k8s::{
    Consumer, EndpointSlice, Gateway, GatewayClass, GrpcRoute, HttpRoute, Ingress, IngressClass,
    Namespace, Policy, ReferenceGrant, Secret, Service,
};

use crate::kinds::Kind;
use crate::metrics::KubeMetrics;
use crate::reflect::{self, Shared, strip_meta};

/// Secret keys the translator reads from TLS Secrets; the rest of their data is dropped
/// as it arrives. (Secrets labelled `tollgate.dev/credentials` are watched apart and kept
/// whole: their data is what the translator reads. No other Secret is ever received.)
const SECRET_KEYS: &[&str] = &["tls.crt", "tls.key", "ca.crt"];

/// Watch settings.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// Longest pause between retries while the API server cannot be reached.
    pub max_backoff: Duration,
}

impl Default for WatchOptions {
    fn default() -> Self {
        Self {
            max_backoff: Duration::from_secs(5),
        }
    }
}

/// The stores of every watched kind (cheap to clone: each is a shared reader).
#[derive(Clone)]
pub struct Stores {
    pub(crate) gateway_classes: Store<GatewayClass>,
    pub(crate) gateways: Store<Gateway>,
    pub(crate) http_routes: Store<HttpRoute>,
    pub(crate) grpc_routes: Store<GrpcRoute>,
    pub(crate) reference_grants: Store<ReferenceGrant>,
    pub(crate) ingresses: Store<Ingress>,
    pub(crate) ingress_classes: Store<IngressClass>,
    pub(crate) services: Store<Service>,
    pub(crate) endpoint_slices: Store<EndpointSlice>,
    pub(crate) secrets: Store<Secret>,
    pub(crate) namespaces: Store<Namespace>,
    pub(crate) policies: Store<Policy>,
    pub(crate) consumers: Store<Consumer>,
    /// Secrets labelled `tollgate.dev/credentials`, whole.
    pub(crate) credential_secrets: Store<Secret>,
}

fn owned<K>(s: &Store<K>) -> Vec<K>
where
    K: kube::Resource + Clone + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    s.state().iter().map(|o| K::clone(o)).collect()
}

impl Stores {
    /// Everything watched, as the translator's input. The translator sorts what it
    /// reads, so store order does not matter.
    pub fn resources(&self) -> Resources {
        Resources {
            gateway_classes: owned(&self.gateway_classes),
            gateways: owned(&self.gateways),
            http_routes: owned(&self.http_routes),
            grpc_routes: owned(&self.grpc_routes),
            reference_grants: owned(&self.reference_grants),
            ingresses: owned(&self.ingresses),
            ingress_classes: owned(&self.ingress_classes),
            services: owned(&self.services),
            endpoint_slices: owned(&self.endpoint_slices),
            secrets: merged_secrets(&self.secrets, &self.credential_secrets),
            namespaces: owned(&self.namespaces),
            policies: owned(&self.policies),
            consumers: owned(&self.consumers),
        }
    }
}

/// TLS Secrets and labelled credential Secrets as one list. A labelled TLS Secret is in
/// both watches; the credential copy is whole (the TLS copy keeps only the certificate
/// keys), so it is the one kept.
fn merged_secrets(tls: &Store<Secret>, credentials: &Store<Secret>) -> Vec<Secret> {
    let creds = owned(credentials);
    let id = |s: &Secret| (s.metadata.namespace.clone(), s.metadata.name.clone());
    let whole: std::collections::BTreeSet<_> = creds.iter().map(id).collect();
    let mut out: Vec<Secret> = owned(tls)
        .into_iter()
        .filter(|s| !whole.contains(&id(s)))
        .collect();
    out.extend(creds);
    out
}

/// The watched cluster. Dropping it stops every watch.
pub struct Cluster {
    stores: Stores,
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn strip_secret(s: &mut Secret) {
    strip_meta(s);
    s.string_data = None;
    if let Some(d) = s.data.as_mut() {
        d.retain(|k, _| SECRET_KEYS.contains(&k.as_str()));
    }
}

/// While some watch is down, asks the API server for its version every second; once it
/// answers, the watches are healthy again. A watch resumed after an outage yields no
/// event until something changes, so without this the `connected` gauge would stay at
/// 0 on a quiet cluster. A kind that keeps failing (forbidden, say) turns itself back
/// to 0 on its next error.
async fn probe(client: Client, shared: Arc<Shared>) {
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if shared.metrics.connected() {
            continue;
        }
        if client.apiserver_version().await.is_ok() {
            for k in Kind::ALL {
                shared.metrics.set_up(k, true);
            }
            tracing::info!("API server reachable again");
        }
    }
}

impl Cluster {
    /// Starts a watch (list, then watch, resuming and relisting as needed) of every
    /// kind the translator reads, across all namespaces. Must run inside tokio.
    pub fn start(client: &Client, opts: &WatchOptions, metrics: Arc<KubeMetrics>) -> Self {
        let shared = Arc::new(Shared::new(metrics, opts.max_backoff));
        let mut tasks = Vec::with_capacity(Kind::COUNT);
        let cfg = watcher::Config::default;
        macro_rules! kind {
            ($k:expr, $cfg:expr, $strip:expr) => {{
                let (store, task) = reflect::spawn(client, $k, $cfg, $strip, shared.clone());
                tasks.push(task);
                store
            }};
        }
        let stores = Stores {
            gateway_classes: kind!(Kind::GatewayClass, cfg(), strip_meta),
            gateways: kind!(Kind::Gateway, cfg(), strip_meta),
            http_routes: kind!(Kind::HttpRoute, cfg(), strip_meta),
            grpc_routes: kind!(Kind::GrpcRoute, cfg(), strip_meta),
            reference_grants: kind!(Kind::ReferenceGrant, cfg(), strip_meta),
            ingresses: kind!(Kind::Ingress, cfg(), strip_meta),
            ingress_classes: kind!(Kind::IngressClass, cfg(), strip_meta),
            services: kind!(Kind::Service, cfg(), strip_meta),
            endpoint_slices: kind!(Kind::EndpointSlice, cfg(), strip_meta),
            // Only TLS Secrets: the API server filters, so other Secrets never arrive.
            secrets: kind!(
                Kind::Secret,
                cfg().fields("type=kubernetes.io/tls"),
                strip_secret
            ),
            namespaces: kind!(Kind::Namespace, cfg(), strip_meta),
            policies: kind!(Kind::Policy, cfg(), strip_meta),
            consumers: kind!(Kind::Consumer, cfg(), strip_meta),
            // Only labelled Secrets (the API server filters): their data is credentials
            // the translator reads, so it is kept; no other Secret's data arrives.
            credential_secrets: kind!(
                Kind::CredentialSecret,
                cfg().labels(CREDENTIALS_LABEL),
                strip_meta
            ),
        };
        tasks.push(tokio::spawn(probe(client.clone(), shared.clone())));
        Self {
            stores,
            shared,
            tasks,
        }
    }

    /// The stores.
    pub fn stores(&self) -> &Stores {
        &self.stores
    }

    /// Everything watched, as the translator's input.
    pub fn resources(&self) -> Resources {
        self.stores.resources()
    }

    /// Waits for the first full list of every kind (a kind the API server does not
    /// serve counts as listed, empty).
    pub async fn wait_synced(&self) {
        self.shared.wait_synced().await;
    }

    /// Has every kind had its first full list?
    pub fn synced(&self) -> bool {
        self.shared.all_synced()
    }

    /// A receiver whose value changes whenever something the translator reads changed
    /// (status-only updates of objects whose status we write do not count).
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.shared.subscribe()
    }

    /// The metrics the watches update.
    pub fn metrics(&self) -> &Arc<KubeMetrics> {
        &self.shared.metrics
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::ByteString;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ManagedFieldsEntry, ObjectMeta};

    use super::*;

    fn secret(name: &str, keys: &[&str]) -> Secret {
        Secret {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("default".into()),
                ..ObjectMeta::default()
            },
            data: Some(
                keys.iter()
                    .map(|k| ((*k).to_owned(), ByteString(k.as_bytes().to_vec())))
                    .collect(),
            ),
            ..Secret::default()
        }
    }

    #[test]
    fn a_labelled_tls_secret_counts_once_with_its_whole_data() {
        use kube::runtime::{reflector, watcher};
        let (tls, mut tls_w) = reflector::store::<Secret>();
        let (creds, mut creds_w) = reflector::store::<Secret>();
        tls_w.apply_watcher_event(&watcher::Event::Apply(secret("both", &["tls.crt"])));
        tls_w.apply_watcher_event(&watcher::Event::Apply(secret("cert", &["tls.crt"])));
        creds_w.apply_watcher_event(&watcher::Event::Apply(secret("both", &["tls.crt", "key"])));
        creds_w.apply_watcher_event(&watcher::Event::Apply(secret("keys", &["key"])));
        let mut got: Vec<(String, usize)> = merged_secrets(&tls, &creds)
            .iter()
            .map(|s| {
                let n = s.data.as_ref().map_or(0, BTreeMap::len);
                (s.metadata.name.clone().unwrap_or_default(), n)
            })
            .collect();
        got.sort();
        let want = [("both", 2), ("cert", 1), ("keys", 1)].map(|(n, k)| (n.to_owned(), k));
        assert_eq!(got, want);
    }

    #[test]
    fn secrets_keep_only_certificate_keys_and_no_bookkeeping() {
        let data: BTreeMap<String, ByteString> = ["tls.crt", "tls.key", "ca.crt", "password"]
            .iter()
            .map(|k| ((*k).to_owned(), ByteString(k.as_bytes().to_vec())))
            .collect();
        let mut s = Secret {
            metadata: ObjectMeta {
                name: Some("cert".into()),
                managed_fields: Some(vec![ManagedFieldsEntry::default()]),
                annotations: Some(BTreeMap::from([
                    (
                        "kubectl.kubernetes.io/last-applied-configuration".to_owned(),
                        "{...the whole secret...}".to_owned(),
                    ),
                    ("team".to_owned(), "shop".to_owned()),
                ])),
                ..ObjectMeta::default()
            },
            data: Some(data),
            string_data: Some(BTreeMap::from([("x".to_owned(), "y".to_owned())])),
            ..Secret::default()
        };
        strip_secret(&mut s);
        let keys: Vec<&String> = s
            .data
            .as_ref()
            .map(|d| d.keys().collect())
            .unwrap_or_default();
        assert_eq!(keys, ["ca.crt", "tls.crt", "tls.key"]);
        assert!(s.string_data.is_none());
        assert!(s.metadata.managed_fields.is_none());
        let annotations = s.metadata.annotations.unwrap_or_default();
        assert_eq!(annotations.keys().collect::<Vec<_>>(), ["team"]);
    }
}
