//! Pure translation from configuration to the Tollgate IR.
//!
//! ```text
//!  [model::Document] ──merge──▶ one configuration ──check + fill defaults──▶ ir::Snapshot
//!   (one per file)              (file order kept)   every mistake a Problem   (or LoadError)
//! ```
//!
//! This crate may depend on `tollgate-model` and `tollgate-ir` only (plus small pure
//! helpers such as `regex` and `ipnet`): no tokio, no hyper, no I/O except through
//! [`load_and_translate`], which is the model's loader followed by [`translate_native`].
//!
//! The native format has nowhere to report status, so unlike Kubernetes sources (where a
//! bad route becomes a route answering 500) any mistake refuses the whole configuration,
//! with every problem and its `file:line:column`.
//!
//! Pipeline, one module per step:
//! - `merge`: documents concatenated; `server:` and `trusted_proxies:` set once; names
//!   unique;
//! - `server`: process-wide settings and trusted proxies;
//! - `services`: endpoints, balancing, health, retries, with defaults;
//! - `policies`: consumers (keys hashed) and each route's access policies;
//! - `limits`: rate limits and quotas (route and listener), the `redis:` block;
//! - `routes`: conditions, filters, action, and each route's precedence key;
//! - `listeners`: routes attached to listeners and grouped into virtual hosts, in
//!   precedence order.
//!
//! Kubernetes resources (Gateway API, Ingress) go through [`k8s`], which never fails:
//! mistakes there become status conditions. [`translate_all`] puts both into one
//! snapshot.

use std::net::SocketAddr;
use std::path::PathBuf;

use tollgate_ir as ir;
use tollgate_model::{Document, LoadError, Problem, Resources};

mod cache;
mod compression;
mod content;
pub mod k8s;
mod limits;
mod listeners;
mod merge;
mod oidc;
mod policies;
mod problems;
mod routes;
mod server;
mod services;
mod syntax;
mod tls;

use problems::Problems;

pub use k8s::{CertCheck, Options, StatusUpdate, Translation, translate_resources};

/// Native documents (one per file) -> IR. Every user mistake is a Problem with file:line.
///
/// Deterministic: the same documents always give the same snapshot. Problems come back
/// all at once, in file order (the order of `docs`), then line and column.
pub fn translate_native(docs: &[Document]) -> Result<ir::Snapshot, LoadError> {
    let mut p = Problems::new(docs);
    let merged = merge::merge(docs, &mut p);
    let known = routes::Known::new(&merged);
    let server = server::settings(merged.server, &mut p);
    let trusted_proxies = server::trusted_proxies(merged.trusted_proxies, &mut p);
    let services = services::translate(&merged.services, &mut p);
    let redis = limits::redis(merged.redis, &mut p);
    let (consumers, mut known_consumers) = policies::consumers(&merged.consumers, &mut p);
    known_consumers.redis = redis.is_some();
    let routes = routes::translate(&merged.routes, &known, &known_consumers, &mut p);
    let listeners = listeners::translate(&merged.listeners, &routes, redis.is_some(), &mut p);
    p.finish(ir::Snapshot {
        server,
        trusted_proxies,
        listeners,
        services,
        consumers,
        redis,
    })
}

/// Native documents and Kubernetes resources -> one snapshot, plus the resources'
/// statuses. Native problems refuse the whole configuration (as [`translate_native`]);
/// Kubernetes mistakes only show in statuses. Native listeners keep their addresses: a
/// Gateway listener on the same port is reported PortUnavailable.
pub fn translate_all(
    docs: &[Document],
    resources: &Resources,
    opts: &Options,
) -> Result<Translation, LoadError> {
    let mut snapshot = translate_native(docs)?;
    let taken: Vec<SocketAddr> = snapshot.listeners.values().map(|l| l.address).collect();
    let k = k8s::translate_with(resources, opts, &taken, &snapshot.consumers);
    // Names cannot collide: Kubernetes names use prefixes native names may not.
    snapshot.listeners.extend(k.snapshot.listeners);
    snapshot.services.extend(k.snapshot.services);
    snapshot.consumers.extend(k.snapshot.consumers);
    snapshot.consumers.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Translation {
        snapshot,
        statuses: k.statuses,
    })
}

/// A translated configuration and the files it depends on.
#[derive(Debug)]
pub struct Loaded {
    /// The IR.
    pub snapshot: ir::Snapshot,
    /// Statuses of the Kubernetes resources (empty when there are none).
    pub statuses: Vec<StatusUpdate>,
    /// Documents the loader skipped (kinds Tollgate does not read): worth a debug line.
    pub notes: Vec<Problem>,
    /// Configuration files read, then files they named (certificates, keys): everything
    /// a change to which should trigger a reload.
    pub files: Vec<PathBuf>,
}

/// Loads paths (native files and Kubernetes manifests), translates with default
/// [`Options`], and says which files the result depends on.
pub fn load(paths: &[PathBuf]) -> Result<Loaded, LoadError> {
    load_with(paths, &Options::default())
}

/// [`load`] with explicit options.
pub fn load_with(paths: &[PathBuf], opts: &Options) -> Result<Loaded, LoadError> {
    let source = tollgate_model::load_paths(paths)?;
    finish(source, None, opts)
}

/// Translates what was loaded, with a cluster's resources when there are some.
fn finish(
    source: tollgate_model::Source,
    cluster: Option<Resources>,
    opts: &Options,
) -> Result<Loaded, LoadError> {
    let resources = match cluster {
        None => source.resources,
        Some(c) if source.resources.is_empty() => c,
        Some(c) => {
            let mut r = source.resources;
            r.extend(c);
            r
        }
    };
    let t = translate_all(&source.documents, &resources, opts)?;
    let mut files = source.files;
    files.extend(source.referenced);
    Ok(Loaded {
        snapshot: t.snapshot,
        statuses: t.statuses,
        notes: source.notes,
        files,
    })
}

/// [`load_with`] plus the resources of a live cluster (`tollgate run --kubernetes`):
/// objects from files and from the cluster are translated together, in one pass. With
/// no paths the configuration is the cluster's alone.
pub fn load_with_cluster(
    paths: &[PathBuf],
    opts: &Options,
    cluster: Resources,
) -> Result<Loaded, LoadError> {
    let source = if paths.is_empty() {
        tollgate_model::Source::default()
    } else {
        tollgate_model::load_paths(paths)?
    };
    finish(source, Some(cluster), opts)
}

/// Convenience for tests/CLI: load paths then translate.
///
/// Paths are files or directories, as [`tollgate_model::load_paths`] reads them. Parse
/// problems are returned before any translation is tried.
pub fn load_and_translate(paths: &[PathBuf]) -> Result<ir::Snapshot, LoadError> {
    load_and_translate_all(paths, &Options::default()).map(|t| t.snapshot)
}

/// Like [`load_and_translate`], with the statuses of the Kubernetes resources.
pub fn load_and_translate_all(paths: &[PathBuf], opts: &Options) -> Result<Translation, LoadError> {
    let source = tollgate_model::load_paths(paths)?;
    translate_all(&source.documents, &source.resources, opts)
}
