//! User-facing configuration types for Tollgate.
//!
//! This crate owns the *native* configuration format (`tollgate.yaml`): its types
//! ([`native`]), human units ([`units`]) and the loader that reads files and directories
//! and reports every problem as `file:line: problem` ([`load`]). It also gathers
//! Kubernetes objects (Gateway API, Ingress, Services, EndpointSlices, Secrets) read from
//! manifest files into one plain [`Resources`] value ([`k8s`]).
//!
//! Nothing here does network I/O or spawns tasks; the translator turns these values into
//! the IR.

pub mod crds;
pub mod crds_cache;
pub mod crds_content;
pub mod crds_limits;
pub mod crds_oidc;
pub mod k8s;
pub mod limits;
pub mod load;
pub mod native;
pub mod policies;
pub mod tls;
pub mod units;

pub use k8s::Resources;
pub use load::{LoadError, Problem, Source, load_paths};
pub use native::{Document, Spanned};
