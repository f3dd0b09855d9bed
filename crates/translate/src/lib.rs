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
//! - `routes`: conditions, filters, action, and each route's precedence key;
//! - `listeners`: routes attached to listeners and grouped into virtual hosts, in
//!   precedence order.

use std::path::PathBuf;

use tollgate_ir as ir;
use tollgate_model::{Document, LoadError};

mod listeners;
mod merge;
mod problems;
mod routes;
mod server;
mod services;
mod syntax;
mod tls;

use problems::Problems;

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
    let routes = routes::translate(&merged.routes, &known, &mut p);
    let listeners = listeners::translate(&merged.listeners, &routes, &mut p);
    p.finish(ir::Snapshot {
        server,
        trusted_proxies,
        listeners,
        services,
    })
}

/// A translated configuration and the files it depends on.
#[derive(Debug)]
pub struct Loaded {
    /// The IR.
    pub snapshot: ir::Snapshot,
    /// Configuration files read, then files they named (certificates, keys): everything
    /// a change to which should trigger a reload.
    pub files: Vec<PathBuf>,
}

/// Loads paths, translates, and says which files the result depends on.
pub fn load(paths: &[PathBuf]) -> Result<Loaded, LoadError> {
    let source = tollgate_model::load_paths(paths)?;
    let snapshot = translate_native(&source.documents)?;
    let mut files = source.files;
    files.extend(source.referenced);
    Ok(Loaded { snapshot, files })
}

/// Convenience for tests/CLI: load paths then translate.
///
/// Paths are files or directories, as [`tollgate_model::load_paths`] reads them. Parse
/// problems are returned before any translation is tried.
pub fn load_and_translate(paths: &[PathBuf]) -> Result<ir::Snapshot, LoadError> {
    let source = tollgate_model::load_paths(paths)?;
    translate_native(&source.documents)
}
