//! TLS for Tollgate: PEM material into rustls configurations.
//!
//! - [`server_config`]: a listener's certificates (chosen by SNI), minimum version,
//!   ALPN, session resumption and optional client authentication, plus warnings about
//!   certificates that are expired or about to be.
//! - [`LiveServerConfig`]: the current configuration of a listener, replaced whole when
//!   certificates are renewed.
//! - [`peer_identity`]: who a client proved to be with its certificate.
//! - [`client_config`] and [`connect`]: TLS from the gateway to a backend, with a
//!   custom CA or the compiled-in Mozilla roots, and an optional client certificate.
//! - [`describe`]: SANs and dates of a certificate, for status pages and logs.
//!
//! The crate reads no files and watches nothing: the caller reads PEM bytes (keeping
//! the path as the label for messages), and on renewal builds a new configuration from
//! the new bytes and swaps it in ([`LiveServerConfig::replace`]). A failed build leaves
//! the last good configuration in place.
//!
//! # Crypto provider
//!
//! Every configuration is built with `rustls::crypto::aws_lc_rs::default_provider()`
//! passed explicitly, so nothing depends on a process-wide default provider, and
//! `ring` is not in this crate's dependency tree (STACK.md pitfall #1).
//!
//! # Listener behaviour
//!
//! - **Versions**: TLS 1.3 and 1.2, or 1.3 only ([`MinVersion::Tls13`]). TLS 1.0 and
//!   1.1 are never possible: rustls does not implement them.
//! - **Certificate selection**: the SNI name is matched, case-insensitively, against
//!   each certificate's DNS SANs (its subject CN only when it has no DNS SAN): an exact
//!   name first, then a wildcard `*.example.com`, which covers exactly one label
//!   (`a.example.com`, not `b.a.example.com` nor `example.com`). Nothing matching, or no
//!   SNI at all (clients connecting by IP address send none), gets the first
//!   certificate. When two certificates share a name, the first listed keeps it.
//! - **ALPN**: `h2` then `http/1.1`, or `http/1.1` alone. A client offering only
//!   protocols we do not have is refused (`no_application_protocol`); a client offering
//!   no ALPN is accepted and speaks HTTP/1.1.
//! - **Resumption**: stateless tickets from the provider's ticketer (keys rotate every
//!   6 hours) and a server-side session cache for TLS 1.2 session IDs. Each
//!   configuration has its own, so sessions do not survive a configuration swap.
//! - **Client authentication**: rustls' webpki verifier over the given CA bundle;
//!   optional mode lets anonymous clients in but still rejects a certificate that does
//!   not verify.

mod client;
mod dn;
mod error;
mod peer;
mod pem;
mod server;
mod sni;
mod x509;

pub use client::{UpstreamAlpn, UpstreamTlsSettings, client_config, connect};
pub use error::TlsError;
pub use peer::{PeerIdentity, peer_identity, stream_peer_identity};
pub use pem::{PemPair, check_pair};
pub use server::{ClientAuth, LiveServerConfig, MinVersion, ServerTlsSettings, server_config};
pub use x509::{CertInfo, describe};

/// The rustls and tokio-rustls this crate builds against, so callers name the same
/// versions (`tollgate_tls::rustls::ServerConfig`).
pub use {rustls, tokio_rustls};
