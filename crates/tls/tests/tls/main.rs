//! Real handshakes between tokio-rustls peers built by tollgate-tls.
//!
//! One test binary with modules: one link of aws-lc-rs instead of one per file.

// Test helpers outside #[test] functions panic on setup failures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod client_auth;
mod loading;
mod negotiation;
mod reload;
mod sni;
mod support;
mod upstream;
