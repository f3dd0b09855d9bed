//! Kubernetes resources: Gateway API (the `gateway-api` crate) and core/networking types
//! (the `k8s-openapi` crate), gathered in one plain [`Resources`] value.
//!
//! Every source of Kubernetes objects fills a `Resources`: the file loader here (manifests
//! in YAML or JSON files), and later the cluster watcher. The translator reads nothing
//! else, so what it computes depends only on this value.

pub use gateway_api::gatewayclasses::GatewayClass;
pub use gateway_api::gateways::Gateway;
pub use gateway_api::grpcroutes::GrpcRoute;
pub use gateway_api::httproutes::HttpRoute;
pub use gateway_api::referencegrants::ReferenceGrant;
pub use k8s_openapi::api::core::v1::{Namespace, Secret, Service};
pub use k8s_openapi::api::discovery::v1::EndpointSlice;
pub use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
pub use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

pub use crate::crds::{Consumer, Policy};

/// The Gateway API and Kubernetes types themselves, for code that needs their field types.
pub use gateway_api;
pub use k8s_openapi;

/// Everything the Kubernetes translator may look at. Plain data: no clients, no channels.
///
/// Order inside each list does not matter: the translator sorts by creation time, then
/// namespace and name, as the Gateway API tie-break rules ask.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Resources {
    /// `gateway.networking.k8s.io` GatewayClasses (cluster-scoped).
    pub gateway_classes: Vec<GatewayClass>,
    /// Gateways.
    pub gateways: Vec<Gateway>,
    /// HTTPRoutes.
    pub http_routes: Vec<HttpRoute>,
    /// GRPCRoutes.
    pub grpc_routes: Vec<GrpcRoute>,
    /// ReferenceGrants (v1 or v1beta1: the same schema).
    pub reference_grants: Vec<ReferenceGrant>,
    /// `networking.k8s.io/v1` Ingresses.
    pub ingresses: Vec<Ingress>,
    /// IngressClasses (cluster-scoped).
    pub ingress_classes: Vec<IngressClass>,
    /// Services.
    pub services: Vec<Service>,
    /// `discovery.k8s.io/v1` EndpointSlices: where a Service's ready endpoints are.
    pub endpoint_slices: Vec<EndpointSlice>,
    /// Secrets (TLS certificates for listeners and Ingress TLS; credentials in those
    /// labelled `tollgate.dev/credentials`).
    pub secrets: Vec<Secret>,
    /// Namespaces (their labels decide `allowedRoutes` selectors).
    pub namespaces: Vec<Namespace>,
    /// `tollgate.dev/v1alpha1` Policies (access control for routes).
    pub policies: Vec<Policy>,
    /// `tollgate.dev/v1alpha1` Consumers.
    pub consumers: Vec<Consumer>,
}

impl Resources {
    /// Holds no object at all.
    pub fn is_empty(&self) -> bool {
        self.gateway_classes.is_empty()
            && self.gateways.is_empty()
            && self.http_routes.is_empty()
            && self.grpc_routes.is_empty()
            && self.reference_grants.is_empty()
            && self.ingresses.is_empty()
            && self.ingress_classes.is_empty()
            && self.services.is_empty()
            && self.endpoint_slices.is_empty()
            && self.secrets.is_empty()
            && self.namespaces.is_empty()
            && self.policies.is_empty()
            && self.consumers.is_empty()
    }

    /// Appends every object of `other`.
    pub fn extend(&mut self, other: Self) {
        self.gateway_classes.extend(other.gateway_classes);
        self.gateways.extend(other.gateways);
        self.http_routes.extend(other.http_routes);
        self.grpc_routes.extend(other.grpc_routes);
        self.reference_grants.extend(other.reference_grants);
        self.ingresses.extend(other.ingresses);
        self.ingress_classes.extend(other.ingress_classes);
        self.services.extend(other.services);
        self.endpoint_slices.extend(other.endpoint_slices);
        self.secrets.extend(other.secrets);
        self.namespaces.extend(other.namespaces);
        self.policies.extend(other.policies);
        self.consumers.extend(other.consumers);
    }
}
