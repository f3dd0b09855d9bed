//! Errors as the API server reports them: `Status` objects with a code and a reason.

use serde_json::{Value, json};

use crate::registry::ResourceType;

/// A failed API call, turned into a `kind: Status` body by [`ApiError::to_status`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub(crate) code: u16,
    pub(crate) reason: &'static str,
    pub(crate) message: String,
    /// (group, kind, name) for `details`, which kube's error helpers read.
    details: Option<(String, String, String)>,
}

impl ApiError {
    fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }

    fn about(mut self, resource: &ResourceType, name: &str) -> Self {
        self.details = Some((
            resource.group.clone(),
            resource.kind.clone(),
            name.to_owned(),
        ));
        self
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    /// 404 for a path the fake does not serve at all (unknown resource, discovery).
    pub(crate) fn no_route() -> Self {
        Self::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
    }

    pub(crate) fn not_found(resource: &ResourceType, name: &str) -> Self {
        let message = format!("{} \"{name}\" not found", resource.qualified_plural());
        Self::new(404, "NotFound", message).about(resource, name)
    }

    pub(crate) fn already_exists(resource: &ResourceType, name: &str) -> Self {
        let message = format!("{} \"{name}\" already exists", resource.qualified_plural());
        Self::new(409, "AlreadyExists", message).about(resource, name)
    }

    /// The optimistic-concurrency failure: the caller's `resourceVersion` is not current.
    pub(crate) fn conflict(resource: &ResourceType, name: &str) -> Self {
        let message = format!(
            "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; \
             please apply your changes to the latest version and try again",
            resource.qualified_plural()
        );
        Self::new(409, "Conflict", message).about(resource, name)
    }

    /// 410: the requested resourceVersion (or continue token) is older than the history.
    pub(crate) fn gone(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }

    pub(crate) fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(405, "MethodNotAllowed", message)
    }

    pub(crate) fn unsupported_media_type(content_type: &str) -> Self {
        let message = format!("the body of the request was in an unknown format: {content_type}");
        Self::new(415, "UnsupportedMediaType", message)
    }

    /// 422, what the API server answers for a well-formed but invalid object or patch.
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(422, "Invalid", message)
    }

    /// The `Status` object, as sent in an error response body or a watch `ERROR` event.
    pub(crate) fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let (Some((group, kind, name)), Some(map)) = (&self.details, status.as_object_mut()) {
            map.insert(
                "details".to_owned(),
                json!({ "name": name, "group": group, "kind": kind }),
            );
        }
        status
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.code, self.reason, self.message)
    }
}
