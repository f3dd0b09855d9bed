//! The kinds the controller watches: every kind the translator reads.

/// One watched kind. The order is the order of [`Kind::ALL`] and of per-kind metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `gateway.networking.k8s.io/v1` GatewayClass (cluster-scoped).
    GatewayClass,
    /// Gateway.
    Gateway,
    /// HTTPRoute.
    HttpRoute,
    /// GRPCRoute.
    GrpcRoute,
    /// ReferenceGrant (v1).
    ReferenceGrant,
    /// `networking.k8s.io/v1` Ingress.
    Ingress,
    /// IngressClass (cluster-scoped).
    IngressClass,
    /// Service.
    Service,
    /// `discovery.k8s.io/v1` EndpointSlice.
    EndpointSlice,
    /// Secret of type `kubernetes.io/tls`.
    Secret,
    /// Namespace (labels for `allowedRoutes` selectors).
    Namespace,
}

impl Kind {
    /// How many kinds there are.
    pub const COUNT: usize = 11;

    /// Every kind, in order.
    pub const ALL: [Kind; Self::COUNT] = [
        Kind::GatewayClass,
        Kind::Gateway,
        Kind::HttpRoute,
        Kind::GrpcRoute,
        Kind::ReferenceGrant,
        Kind::Ingress,
        Kind::IngressClass,
        Kind::Service,
        Kind::EndpointSlice,
        Kind::Secret,
        Kind::Namespace,
    ];

    /// The Kubernetes kind name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::GatewayClass => "GatewayClass",
            Kind::Gateway => "Gateway",
            Kind::HttpRoute => "HTTPRoute",
            Kind::GrpcRoute => "GRPCRoute",
            Kind::ReferenceGrant => "ReferenceGrant",
            Kind::Ingress => "Ingress",
            Kind::IngressClass => "IngressClass",
            Kind::Service => "Service",
            Kind::EndpointSlice => "EndpointSlice",
            Kind::Secret => "Secret",
            Kind::Namespace => "Namespace",
        }
    }

    /// Is this kind's change only interesting when its spec, labels or annotations
    /// change? True for the kinds whose status the controller writes: their status
    /// writes come back as watch events, which must not trigger a rebuild each time.
    pub(crate) fn has_status(self) -> bool {
        matches!(
            self,
            Kind::GatewayClass | Kind::Gateway | Kind::HttpRoute | Kind::GrpcRoute | Kind::Ingress
        )
    }
}
