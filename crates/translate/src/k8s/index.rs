//! Lookups over [`Resources`]: objects by namespace and name, EndpointSlices by Service,
//! namespace labels, and the ReferenceGrant check. Built once per translation.

use std::collections::BTreeMap;

use tollgate_model::Resources;
use tollgate_model::k8s::k8s_openapi::jiff::Timestamp;
use tollgate_model::k8s::{self, EndpointSlice, Namespace, ObjectMeta, Secret, Service};

/// Namespace of objects that do not say (what `kubectl apply` would use).
pub(crate) const DEFAULT_NAMESPACE: &str = "default";
/// The label Kubernetes puts on every EndpointSlice of a Service.
const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";
/// The label Kubernetes puts on every Namespace (so selectors can name namespaces).
const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";
/// Gateway API group.
pub(crate) const GATEWAY_GROUP: &str = "gateway.networking.k8s.io";

/// Namespace, name, generation and age of an object.
pub(crate) trait Meta {
    fn meta(&self) -> &ObjectMeta;

    fn ns(&self) -> &str {
        self.meta()
            .namespace
            .as_deref()
            .filter(|n| !n.is_empty())
            .unwrap_or(DEFAULT_NAMESPACE)
    }

    fn name(&self) -> &str {
        self.meta().name.as_deref().unwrap_or("")
    }

    fn generation(&self) -> Option<i64> {
        self.meta().generation
    }

    /// Gateway API's tie-break: oldest first, then `namespace/name` alphabetically. An
    /// object without a creation time (typical in files) sorts before those with one.
    fn age_key(&self) -> (Option<Timestamp>, &str, &str) {
        (
            self.meta().creation_timestamp.as_ref().map(|t| t.0),
            self.ns(),
            self.name(),
        )
    }
}

macro_rules! meta {
    ($($t:ty),*) => {$(
        impl Meta for $t {
            fn meta(&self) -> &ObjectMeta {
                &self.metadata
            }
        }
    )*};
}

meta!(
    k8s::GatewayClass,
    k8s::Gateway,
    k8s::HttpRoute,
    k8s::GrpcRoute,
    k8s::ReferenceGrant,
    k8s::Ingress,
    k8s::IngressClass,
    Service,
    EndpointSlice,
    Secret,
    Namespace,
    tollgate_model::crds::Policy,
    tollgate_model::crds::Consumer
);

/// Objects sorted by [`Meta::age_key`], each namespace/name once: the same object read
/// from two files counts once (the first read wins).
pub(crate) fn by_age<T: Meta>(items: &[T]) -> Vec<&T> {
    let mut v: Vec<&T> = items.iter().collect();
    v.sort_by(|a, b| a.age_key().cmp(&b.age_key()));
    let mut seen = std::collections::BTreeSet::new();
    v.retain(|o| seen.insert((o.ns(), o.name())));
    v
}

/// A reference from one kind of object to another, for ReferenceGrant checks.
pub(crate) struct CrossRef<'a> {
    pub(crate) from_group: &'a str,
    pub(crate) from_kind: &'a str,
    pub(crate) from_namespace: &'a str,
    pub(crate) to_group: &'a str,
    pub(crate) to_kind: &'a str,
    pub(crate) to_namespace: &'a str,
    pub(crate) to_name: &'a str,
}

/// The resources, indexed.
pub(crate) struct Index<'a> {
    pub(crate) res: &'a Resources,
    namespaces: BTreeMap<&'a str, &'a Namespace>,
    services: BTreeMap<(&'a str, &'a str), &'a Service>,
    slices: BTreeMap<(&'a str, &'a str), Vec<&'a EndpointSlice>>,
    secrets: BTreeMap<(&'a str, &'a str), &'a Secret>,
    /// Checks Secrets' key pairs (see [`Options::cert_check`](super::Options)).
    pub(crate) cert_check: super::CertCheck,
}

impl<'a> Index<'a> {
    pub(crate) fn new(res: &'a Resources) -> Self {
        // Later duplicates (the same object in two files) lose: first wins, by age order.
        let mut namespaces = BTreeMap::new();
        for n in by_age(&res.namespaces) {
            namespaces.entry(n.name()).or_insert(n);
        }
        let mut services = BTreeMap::new();
        for s in by_age(&res.services) {
            services.entry((s.ns(), s.name())).or_insert(s);
        }
        let mut secrets = BTreeMap::new();
        for s in by_age(&res.secrets) {
            secrets.entry((s.ns(), s.name())).or_insert(s);
        }
        let mut slices: BTreeMap<(&str, &str), Vec<&EndpointSlice>> = BTreeMap::new();
        for s in by_age(&res.endpoint_slices) {
            let service = s
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(SERVICE_NAME_LABEL));
            if let Some(service) = service {
                slices.entry((s.ns(), service)).or_default().push(s);
            }
        }
        Self {
            res,
            namespaces,
            services,
            slices,
            secrets,
            cert_check: super::CertCheck::default(),
        }
    }

    pub(crate) fn service(&self, ns: &str, name: &str) -> Option<&'a Service> {
        self.services.get(&(ns, name)).copied()
    }

    pub(crate) fn slices(&self, ns: &str, service: &str) -> Vec<&'a EndpointSlice> {
        self.slices.get(&(ns, service)).cloned().unwrap_or_default()
    }

    pub(crate) fn secret(&self, ns: &str, name: &str) -> Option<&'a Secret> {
        self.secrets.get(&(ns, name)).copied()
    }

    /// A namespace's labels, with the name label Kubernetes always sets (so a selector on
    /// it works even when the Namespace object is not among the files).
    pub(crate) fn namespace_labels(&self, ns: &str) -> BTreeMap<String, String> {
        let mut labels = self
            .namespaces
            .get(ns)
            .and_then(|n| n.metadata.labels.clone())
            .unwrap_or_default();
        labels.insert(NAMESPACE_NAME_LABEL.to_owned(), ns.to_owned());
        labels
    }

    /// Does a ReferenceGrant in the target's namespace allow this reference? A reference
    /// within one namespace needs none.
    pub(crate) fn permits(&self, r: &CrossRef<'_>) -> bool {
        if r.from_namespace == r.to_namespace {
            return true;
        }
        self.res
            .reference_grants
            .iter()
            .filter(|g| g.ns() == r.to_namespace)
            .any(|g| {
                let from = g.spec.from.iter().any(|f| {
                    f.group == r.from_group
                        && f.kind == r.from_kind
                        && f.namespace == r.from_namespace
                });
                let to = g.spec.to.iter().any(|t| {
                    t.group == r.to_group
                        && t.kind == r.to_kind
                        && t.name.as_deref().is_none_or(|n| n == r.to_name)
                });
                from && to
            })
    }
}

/// A label selector term: `matchLabels` and `matchExpressions` (In, NotIn, Exists,
/// DoesNotExist). An unknown operator matches nothing, so a typo never widens access.
pub(crate) fn selector_matches(
    match_labels: Option<&BTreeMap<String, String>>,
    expressions: &[(&str, &str, &[String])],
    labels: &BTreeMap<String, String>,
) -> bool {
    let labels_ok = match_labels
        .into_iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    labels_ok
        && expressions.iter().all(|(key, op, values)| {
            let value = labels.get(*key);
            match *op {
                "In" => value.is_some_and(|v| values.contains(v)),
                "NotIn" => value.is_none_or(|v| !values.contains(v)),
                "Exists" => value.is_some(),
                "DoesNotExist" => value.is_none(),
                _ => false,
            }
        })
}
