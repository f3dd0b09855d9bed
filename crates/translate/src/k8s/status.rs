//! Statuses as plain data: what the translator concluded about each object, for the
//! status writer to apply (and for `tollgate translate` to show).
//!
//! Field names follow the Kubernetes status they become (`observedGeneration`,
//! `attachedRoutes`, `parentRef`). There is no `lastTransitionTime`: translation has no
//! clock, so the writer stamps it, and only when a condition really changed.

use serde::Serialize;

use super::reasons::status::{FALSE, TRUE};

/// The status one object should have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusUpdate {
    /// `GatewayClass`, `Gateway`, `HTTPRoute`, `GRPCRoute`, `Ingress`, `Policy` or
    /// `Consumer`.
    pub kind: String,
    /// Namespace; `None` for cluster-scoped kinds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
    /// The `metadata.generation` the status was computed from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
    /// The status itself.
    pub status: ObjectStatus,
}

/// The status of one kind of object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum ObjectStatus {
    /// GatewayClass: `Accepted`.
    GatewayClass {
        /// Conditions.
        conditions: Vec<Condition>,
    },
    /// Gateway: `Accepted`, `Programmed`, and one entry per listener.
    Gateway {
        /// Gateway conditions.
        conditions: Vec<Condition>,
        /// Per listener, in spec order.
        listeners: Vec<ListenerStatus>,
    },
    /// HTTPRoute or GRPCRoute: one entry per parentRef this controller is responsible for.
    Route {
        /// Per parent.
        parents: Vec<RouteParentStatus>,
    },
    /// Ingress. Its Kubernetes status has no conditions; these are Tollgate's own, for
    /// `tollgate translate` and for the writer to report as events.
    Ingress {
        /// `Accepted` and `ResolvedRefs`.
        conditions: Vec<Condition>,
    },
    /// `tollgate.dev` Policy: a summary `Accepted`, and one entry per target (Gateway
    /// API `PolicyAncestorStatus`).
    Policy {
        /// `Accepted`: is the spec valid?
        conditions: Vec<Condition>,
        /// Per target or referencing rule.
        ancestors: Vec<PolicyAncestorStatus>,
    },
    /// `tollgate.dev` Consumer: `Accepted`.
    Consumer {
        /// `Accepted`: were its credentials read, and are they valid and its own?
        conditions: Vec<Condition>,
    },
}

/// A Policy's status at one target (Gateway API `PolicyAncestorStatus`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyAncestorStatus {
    /// The target: a Gateway, an HTTPRoute, or one rule of it (`sectionName`).
    pub ancestor_ref: ParentRef,
    /// This controller's name.
    pub controller_name: String,
    /// `Accepted` (reason `Accepted`, `Invalid`, `TargetNotFound` or `Conflicted`).
    pub conditions: Vec<Condition>,
}

/// A condition, as in `metav1.Condition` without the transition time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// `Accepted`, `Programmed`, `ResolvedRefs`, ...
    #[serde(rename = "type")]
    pub type_: String,
    /// `True` or `False`.
    pub status: String,
    /// CamelCase reason (see [`super::reasons`]).
    pub reason: String,
    /// For people.
    pub message: String,
    /// The object's generation the condition describes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

impl Condition {
    /// A condition of type `type_`, True when `ok`.
    pub fn new(
        type_: &str,
        ok: bool,
        reason: &str,
        message: impl Into<String>,
        generation: Option<i64>,
    ) -> Self {
        Self {
            type_: type_.to_owned(),
            status: if ok { TRUE } else { FALSE }.to_owned(),
            reason: reason.to_owned(),
            message: message.into(),
            observed_generation: generation,
        }
    }

    /// Is the condition True?
    pub fn is_true(&self) -> bool {
        self.status == TRUE
    }
}

/// A listener's status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListenerStatus {
    /// Listener name.
    pub name: String,
    /// Route kinds the listener accepts.
    pub supported_kinds: Vec<RouteGroupKind>,
    /// Routes attached (allowed by the listener and selecting it), valid or not.
    pub attached_routes: i32,
    /// `Accepted`, `Programmed`, `ResolvedRefs`, `Conflicted`.
    pub conditions: Vec<Condition>,
}

/// A route kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouteGroupKind {
    /// API group.
    pub group: String,
    /// Kind.
    pub kind: String,
}

/// A route's status towards one parent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteParentStatus {
    /// The parentRef as written (defaults left out).
    pub parent_ref: ParentRef,
    /// This controller's name.
    pub controller_name: String,
    /// `Accepted`, `ResolvedRefs` (and `PartiallyInvalid` when some rules are invalid).
    pub conditions: Vec<Condition>,
}

/// A parent reference, as written in the route.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ParentRef {
    /// API group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Kind.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
    /// Listener name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub section_name: Option<String>,
    /// Listener port.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<i32>,
}
