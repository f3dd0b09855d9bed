//! TLS material in the IR. PEM text is carried inline (read by the loader, or from a
//! Kubernetes Secret) so the snapshot is self-contained; private keys are redacted by
//! [`crate::Snapshot::redacted`].

use serde::{Deserialize, Serialize};

/// What a redacted secret is replaced with.
pub const REDACTED: &str = "<redacted>";

/// TLS on a listener.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListenerTls {
    /// Chosen by SNI; the first is the default.
    pub certificates: Vec<CertKeyPem>,
    /// Lowest version offered.
    pub min_version: TlsVersion,
    /// Client-certificate verification.
    pub client_auth: Option<ClientAuth>,
}

/// A certificate chain and key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertKeyPem {
    /// Where it came from (`file:line: path`), for messages.
    pub label: String,
    /// PEM chain, leaf first.
    pub cert_pem: String,
    /// PEM private key (a secret).
    pub key_pem: String,
}

/// TLS versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TlsVersion {
    /// TLS 1.2 and 1.3.
    Tls12,
    /// TLS 1.3 only.
    Tls13,
}

/// Client-certificate verification on a listener.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientAuth {
    /// PEM CA certificates.
    pub ca_pem: String,
    /// Refuse clients without a certificate.
    pub required: bool,
    /// Forward the verified subject in this header (lower case).
    pub forward_subject_header: Option<String>,
}

/// TLS from the gateway to a service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpstreamTls {
    /// PEM CA certificates; `None` means the public web roots.
    pub ca_pem: Option<String>,
    /// Server name to send and verify; `None` means the endpoint's host.
    pub sni: Option<String>,
    /// Client certificate for mTLS.
    pub client_cert: Option<CertKeyPem>,
    /// Skip verification (tests only).
    pub insecure_skip_verify: bool,
}

impl CertKeyPem {
    pub(crate) fn redact(&mut self) {
        self.key_pem = REDACTED.to_owned();
    }
}
