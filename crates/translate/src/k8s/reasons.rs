//! Condition types and reasons, as Gateway API names them (`apis/v1/*_types.go`), in one
//! place so statuses, goldens and the status writer agree on the spelling.

/// `Accepted`: the object is valid and taken by this controller.
pub const ACCEPTED: &str = "Accepted";
/// `Programmed`: the data plane has configuration for it.
pub const PROGRAMMED: &str = "Programmed";
/// `ResolvedRefs`: every reference it makes resolved.
pub const RESOLVED_REFS: &str = "ResolvedRefs";
/// `Conflicted` (listeners): it clashes with another listener on its port.
pub const CONFLICTED: &str = "Conflicted";
/// `PartiallyInvalid` (routes): some rules are valid, some are not.
pub const PARTIALLY_INVALID: &str = "PartiallyInvalid";

/// Reasons, for conditions of every kind. A reason spelled like a condition type is the
/// reason used when that condition is True.
pub mod reason {
    /// The positive reason of `Accepted`.
    pub const ACCEPTED: &str = "Accepted";
    /// The positive reason of `Programmed`.
    pub const PROGRAMMED: &str = "Programmed";
    /// The positive reason of `ResolvedRefs`.
    pub const RESOLVED_REFS: &str = "ResolvedRefs";
    /// `Conflicted` is False.
    pub const NO_CONFLICTS: &str = "NoConflicts";

    /// Gateway or listener: something in its spec is invalid.
    pub const INVALID: &str = "Invalid";
    /// Gateway: Accepted, but some listeners are not valid.
    pub const LISTENERS_NOT_VALID: &str = "ListenersNotValid";

    /// Listener: the port is taken (by a native listener, or out of range).
    pub const PORT_UNAVAILABLE: &str = "PortUnavailable";
    /// Listener: protocol not served (only HTTP and HTTPS are).
    pub const UNSUPPORTED_PROTOCOL: &str = "UnsupportedProtocol";
    /// Listener: another listener on the port has the same hostname.
    pub const HOSTNAME_CONFLICT: &str = "HostnameConflict";
    /// Listener: another listener on the port speaks another protocol.
    pub const PROTOCOL_CONFLICT: &str = "ProtocolConflict";
    /// Listener: a TLS certificateRef is missing, of the wrong kind, or malformed.
    pub const INVALID_CERTIFICATE_REF: &str = "InvalidCertificateRef";
    /// Listener: `allowedRoutes.kinds` names a kind this controller does not serve.
    pub const INVALID_ROUTE_KINDS: &str = "InvalidRouteKinds";

    /// Route: no listener of the parent allows this route (namespace or kind).
    pub const NOT_ALLOWED_BY_LISTENERS: &str = "NotAllowedByListeners";
    /// Route: no allowing listener's hostname intersects the route's hostnames.
    pub const NO_MATCHING_LISTENER_HOSTNAME: &str = "NoMatchingListenerHostname";
    /// Route: the parent or the listener named by sectionName/port does not exist.
    pub const NO_MATCHING_PARENT: &str = "NoMatchingParent";
    /// Route: a value is not supported (a filter type, an invalid regex, ...).
    pub const UNSUPPORTED_VALUE: &str = "UnsupportedValue";
    /// Route: filters that cannot go together (RequestRedirect with URLRewrite).
    pub const INCOMPATIBLE_FILTERS: &str = "IncompatibleFilters";

    /// A reference to another namespace without a ReferenceGrant allowing it.
    pub const REF_NOT_PERMITTED: &str = "RefNotPermitted";
    /// Route: a backendRef to a group/kind other than core Service.
    pub const INVALID_KIND: &str = "InvalidKind";
    /// Route: a backendRef to a Service (or Service port) that does not exist.
    pub const BACKEND_NOT_FOUND: &str = "BackendNotFound";
    /// Policy or Consumer: it clashes with an older one (the same credential, or the
    /// same access block on the same target).
    pub const CONFLICTED: &str = "Conflicted";
    /// Policy: a targetRef names an object that does not exist.
    pub const TARGET_NOT_FOUND: &str = "TargetNotFound";

    /// Route: the Service port's appProtocol is not one Tollgate speaks.
    pub const UNSUPPORTED_PROTOCOL_BACKEND: &str = "UnsupportedProtocol";
}

/// Condition status values.
pub mod status {
    /// The condition holds.
    pub const TRUE: &str = "True";
    /// The condition does not hold.
    pub const FALSE: &str = "False";
}
