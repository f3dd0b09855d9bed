//! The one error type of this crate.

use std::io;

/// Why TLS material could not be loaded, or a TLS connection could not be made.
///
/// Every variant about configured material carries the `label` of that material (the
/// file path, as given in [`PemPair::label`](crate::PemPair::label) or a fixed name such
/// as `client CA`), so a reload failure can be reported against the right file.
/// No variant ever contains private key bytes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The PEM input has no content at all (an empty or half-written file).
    #[error("{label}: the {what} PEM is empty")]
    EmptyPem {
        /// Which material (file path).
        label: String,
        /// `certificate`, `private key` or `CA`.
        what: &'static str,
    },

    /// The PEM input could not be decoded (broken BEGIN/END lines, bad base64).
    #[error("{label}: the {what} PEM cannot be read: {reason}")]
    MalformedPem {
        /// Which material (file path).
        label: String,
        /// `certificate`, `private key` or `CA`.
        what: &'static str,
        /// What is wrong, without quoting the input (it may be a private key).
        reason: &'static str,
    },

    /// The certificate PEM holds no `CERTIFICATE` section.
    #[error("{label}: no certificate found in the PEM")]
    NoCertificate {
        /// Which material (file path).
        label: String,
    },

    /// The key PEM holds no private key section (PKCS#8, PKCS#1 or SEC1).
    #[error("{label}: no private key found in the key PEM")]
    NoPrivateKey {
        /// Which material (file path).
        label: String,
    },

    /// The private key was found but the crypto provider cannot use it
    /// (corrupt, unsupported algorithm, RSA shorter than 2048 bits).
    #[error("{label}: the private key cannot be used: {source}")]
    InvalidKey {
        /// Which material (file path).
        label: String,
        /// What rustls reported.
        #[source]
        source: rustls::Error,
    },

    /// The private key does not belong to the first certificate of the chain.
    #[error("{label}: the private key does not match the certificate")]
    KeyMismatch {
        /// Which material (file path).
        label: String,
    },

    /// A certificate of the chain is not a parsable X.509 certificate.
    #[error("{label}: certificate {position} of the chain cannot be parsed: {reason}")]
    InvalidCertificate {
        /// Which material (file path).
        label: String,
        /// 1 for the leaf, 2 for the first intermediate, and so on.
        position: usize,
        /// What the parser reported.
        reason: String,
    },

    /// A CA bundle (client-auth CA or upstream CA) is unusable.
    #[error("{label}: invalid CA: {reason}")]
    InvalidCa {
        /// Which material (`client CA`, `upstream CA`).
        label: String,
        /// What is wrong.
        reason: String,
    },

    /// A listener was configured without any certificate.
    #[error("a TLS listener needs at least one certificate")]
    NoCertificates,

    /// The name given to [`connect`](crate::connect) is neither a DNS name nor an IP address.
    #[error("{name:?} is not a valid TLS server name")]
    InvalidServerName {
        /// The name as given.
        name: String,
    },

    /// The TLS handshake with an upstream failed (I/O error, alert, verification failure).
    #[error("TLS handshake with {server_name} failed: {source}")]
    Handshake {
        /// The server name the handshake was for.
        server_name: String,
        /// The error from tokio-rustls; its source is the `rustls::Error` when TLS failed.
        #[source]
        source: io::Error,
    },

    /// rustls refused to build a configuration (should not happen with the fixed
    /// provider and versions used here; kept rather than panicking).
    #[error("building the TLS configuration failed: {0}")]
    Config(#[source] rustls::Error),
}
