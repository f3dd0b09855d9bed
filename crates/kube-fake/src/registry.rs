//! Which kinds the fake knows, and how a kind maps to its collection.
//!
//! A collection is keyed by API group and plural only: the version is not part of the key,
//! so `gateway.networking.k8s.io/v1beta1` and `/v1` ReferenceGrants are one collection, as
//! in a real cluster where both versions are served from one storage version.

use std::collections::BTreeMap;

/// One kind the fake serves: the facts a real API server learns from its built-in types or
/// from a CustomResourceDefinition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceType {
    /// API group, `""` for the core group (`v1`).
    pub group: String,
    /// Served versions, the storage version first. Objects are stored with the first one and
    /// rewritten to the version a client asks for (the fake assumes every version has the
    /// same schema, which holds for the built-in table).
    pub versions: Vec<String>,
    /// `Kind`, e.g. `HTTPRoute`.
    pub kind: String,
    /// Lower-case plural used in URL paths, e.g. `httproutes`.
    pub plural: String,
    /// Whether objects live in a namespace.
    pub namespaced: bool,
    /// Whether the kind has a `/status` subresource. When it does, writes to the main
    /// resource keep the stored `status` (and a create drops it), and only writes to
    /// `/status` change it, like a real API server. Without it, `/status` is 404.
    pub status_subresource: bool,
}

impl ResourceType {
    /// A kind in `group` served at `version` (add more with [`ResourceType::with_version`]).
    #[must_use]
    pub fn new(group: &str, version: &str, kind: &str, plural: &str, namespaced: bool) -> Self {
        Self {
            group: group.to_owned(),
            versions: vec![version.to_owned()],
            kind: kind.to_owned(),
            plural: plural.to_owned(),
            namespaced,
            status_subresource: true,
        }
    }

    /// Also serve `version` (after the storage version).
    #[must_use]
    pub fn with_version(mut self, version: &str) -> Self {
        self.versions.push(version.to_owned());
        self
    }

    /// Set whether the kind has a `/status` subresource (default: yes).
    #[must_use]
    pub fn with_status(mut self, status_subresource: bool) -> Self {
        self.status_subresource = status_subresource;
        self
    }

    /// `apiVersion` for `version`: `v1` in the core group, `group/version` otherwise.
    pub(crate) fn api_version(&self, version: &str) -> String {
        if self.group.is_empty() {
            version.to_owned()
        } else {
            format!("{}/{version}", self.group)
        }
    }

    /// The `apiVersion` objects are stored with.
    pub(crate) fn storage_api_version(&self) -> String {
        self.api_version(self.versions.first().map_or("v1", String::as_str))
    }

    /// `plural` or `plural.group`, the way the API server names a resource in messages.
    pub(crate) fn qualified_plural(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    pub(crate) fn key(&self) -> ResourceKey {
        ResourceKey {
            group: self.group.clone(),
            plural: self.plural.clone(),
        }
    }
}

/// The version-independent identity of a collection.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct ResourceKey {
    pub(crate) group: String,
    pub(crate) plural: String,
}

/// Splits `apiVersion` into (group, version): `v1` → (`""`, `v1`).
pub(crate) fn split_api_version(api_version: &str) -> (&str, &str) {
    api_version.rsplit_once('/').unwrap_or(("", api_version))
}

/// The known kinds, looked up by (group, kind) for the in-process API and by
/// (group, plural) for HTTP paths.
#[derive(Debug, Clone)]
pub(crate) struct Registry {
    by_plural: BTreeMap<ResourceKey, ResourceType>,
}

impl Registry {
    /// The built-in table: what a Gateway API / Ingress controller reads and writes.
    pub(crate) fn builtin() -> Self {
        let core = |kind: &str, plural: &str, namespaced: bool, status: bool| {
            ResourceType::new("", "v1", kind, plural, namespaced).with_status(status)
        };
        let gw = "gateway.networking.k8s.io";
        let table = [
            core("Namespace", "namespaces", false, true),
            core("Service", "services", true, true),
            core("Secret", "secrets", true, false),
            core("ConfigMap", "configmaps", true, false),
            core("Event", "events", true, false),
            ResourceType::new(
                "discovery.k8s.io",
                "v1",
                "EndpointSlice",
                "endpointslices",
                true,
            )
            .with_status(false),
            ResourceType::new("networking.k8s.io", "v1", "Ingress", "ingresses", true),
            ResourceType::new(
                "networking.k8s.io",
                "v1",
                "IngressClass",
                "ingressclasses",
                false,
            )
            .with_status(false),
            ResourceType::new("coordination.k8s.io", "v1", "Lease", "leases", true)
                .with_status(false),
            ResourceType::new("events.k8s.io", "v1", "Event", "events", true).with_status(false),
            ResourceType::new(gw, "v1", "GatewayClass", "gatewayclasses", false),
            ResourceType::new(gw, "v1", "Gateway", "gateways", true),
            ResourceType::new(gw, "v1", "HTTPRoute", "httproutes", true),
            ResourceType::new(gw, "v1", "GRPCRoute", "grpcroutes", true),
            ResourceType::new(gw, "v1", "ReferenceGrant", "referencegrants", true)
                .with_version("v1beta1")
                .with_status(false),
        ];
        let mut registry = Self {
            by_plural: BTreeMap::new(),
        };
        for resource in table {
            registry.register(resource);
        }
        registry
    }

    /// Adds or replaces a kind (keyed by group and plural).
    pub(crate) fn register(&mut self, resource: ResourceType) {
        self.by_plural.insert(resource.key(), resource);
    }

    /// The kind served at `/{group}/{version}/{plural}`, if the version is one it serves.
    pub(crate) fn by_path(
        &self,
        group: &str,
        version: &str,
        plural: &str,
    ) -> Option<&ResourceType> {
        let key = ResourceKey {
            group: group.to_owned(),
            plural: plural.to_owned(),
        };
        self.by_plural
            .get(&key)
            .filter(|resource| resource.versions.iter().any(|v| v == version))
    }

    /// The kind named by an object's `apiVersion` and `kind`.
    pub(crate) fn by_kind(&self, api_version: &str, kind: &str) -> Option<&ResourceType> {
        let (group, version) = split_api_version(api_version);
        self.by_plural.values().find(|resource| {
            resource.group == group
                && resource.kind == kind
                && resource.versions.iter().any(|v| v == version)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_grant_versions_share_a_collection() {
        let registry = Registry::builtin();
        let v1 = registry
            .by_kind("gateway.networking.k8s.io/v1", "ReferenceGrant")
            .map(ResourceType::key);
        let beta = registry
            .by_kind("gateway.networking.k8s.io/v1beta1", "ReferenceGrant")
            .map(ResourceType::key);
        assert!(v1.is_some());
        assert_eq!(v1, beta);
        assert!(
            registry
                .by_kind("gateway.networking.k8s.io/v2", "ReferenceGrant")
                .is_none()
        );
    }

    #[test]
    fn the_two_event_kinds_are_different_collections() {
        let registry = Registry::builtin();
        let core = registry.by_kind("v1", "Event").map(ResourceType::key);
        let events = registry
            .by_kind("events.k8s.io/v1", "Event")
            .map(ResourceType::key);
        assert!(core.is_some() && events.is_some());
        assert_ne!(core, events);
    }
}
