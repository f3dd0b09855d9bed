//! The error type of the in-process API.

use std::time::Duration;

use crate::status::ApiError;

/// What the in-process API of [`FakeApiServer`](crate::FakeApiServer) can fail with.
#[derive(Debug, thiserror::Error)]
pub enum FakeError {
    /// The kind is not in the table; add it with [`FakeApiServer::register`](crate::FakeApiServer::register).
    #[error("unknown kind {kind} in {api_version}: register it with FakeApiServer::register")]
    UnknownKind {
        /// The `apiVersion` asked for.
        api_version: String,
        /// The `kind` asked for.
        kind: String,
    },
    /// The object is not one the fake can store (no `apiVersion`, `kind` or name...).
    #[error("invalid object: {0}")]
    Invalid(String),
    /// The store refused the operation, as the API server would (e.g. 404 on delete).
    #[error("{code} {reason}: {message}")]
    Api {
        /// HTTP status code the API server would answer.
        code: u16,
        /// Kubernetes `Status` reason, e.g. `NotFound`.
        reason: String,
        /// Human-readable message.
        message: String,
    },
    /// Binding the listener failed.
    #[error("listener: {0}")]
    Io(#[from] std::io::Error),
    /// A wait ended before its condition held.
    #[error("timed out after {0:?} waiting for {1}")]
    Timeout(Duration, String),
    /// The server was shut down.
    #[error("the fake API server was shut down")]
    ShutDown,
}

impl From<ApiError> for FakeError {
    fn from(error: ApiError) -> Self {
        Self::Api {
            code: error.code,
            reason: error.reason.to_owned(),
            message: error.message,
        }
    }
}
