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
    /// `tollgate.dev/v1alpha1` Policy.
    Policy,
    /// `tollgate.dev/v1alpha1` Consumer.
    Consumer,
    /// Secret labelled `tollgate.dev/credentials` (API keys, password hashes, JWT
    /// secrets, OIDC client and session secrets), watched apart from TLS Secrets.
    CredentialSecret,
}

impl Kind {
    /// How many kinds there are.
    pub const COUNT: usize = 14;

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
        Kind::Policy,
        Kind::Consumer,
        Kind::CredentialSecret,
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
            Kind::Policy => "Policy",
            Kind::Consumer => "Consumer",
            // Metrics and logs tell the two Secret watches apart by this name.
            Kind::CredentialSecret => "CredentialSecret",
        }
    }

    /// Is this kind's change only interesting when its spec, labels or annotations
    /// change? True for the kinds whose status the controller writes: their status
    /// writes come back as watch events, which must not trigger a rebuild each time.
    pub(crate) fn has_status(self) -> bool {
        matches!(
            self,
            Kind::GatewayClass
                | Kind::Gateway
                | Kind::HttpRoute
                | Kind::GrpcRoute
                | Kind::Ingress
                | Kind::Policy
                | Kind::Consumer
        )
    }
}
