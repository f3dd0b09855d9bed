//! An in-process fake Kubernetes API server, for testing the controller against the real
//! kube-rs client, watcher and reflector (no kube-apiserver can run on our machines).
//!
//! This first part is the in-memory store; the HTTP side comes next.

// The store is only used by the HTTP layer, which is not written yet.
#![allow(dead_code)]

mod meta;
mod patch;
mod registry;
mod selector;
mod status;
mod store;

#[cfg(test)]
mod store_tests;

pub use registry::ResourceType;
