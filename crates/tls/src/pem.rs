//! PEM bytes into rustls types, with errors that name the file they came from.

use std::fmt;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::sign::CertifiedKey;
use rustls::{Error as RustlsError, InconsistentKeys, RootCertStore};
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::TlsError;
use crate::x509::{self, CertFacts};

/// One certificate chain and its private key, as PEM bytes, with a label for messages.
///
/// `cert_pem` holds the leaf first, then any intermediates. `key_pem` holds one private
/// key (PKCS#8, PKCS#1 or SEC1). The crate never reads files: the caller reads them and
/// passes the path as `label`, so errors and warnings point at the right file.
///
/// `Debug` shows only the label and the byte lengths, so the key can never reach a log.
#[derive(Clone, PartialEq, Eq)]
pub struct PemPair {
    /// The certificate chain, leaf first.
    pub cert_pem: Vec<u8>,
    /// The private key of the leaf.
    pub key_pem: Vec<u8>,
    /// Where the material came from (usually the certificate file path).
    pub label: String,
}

impl fmt::Debug for PemPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PemPair")
            .field("label", &self.label)
            .field("cert_pem_len", &self.cert_pem.len())
            .field("key_pem_len", &self.key_pem.len())
            .finish_non_exhaustive()
    }
}

/// A certificate chain whose key was loaded and checked against the leaf.
pub(crate) struct LoadedPair {
    pub(crate) certified: Arc<CertifiedKey>,
    /// Facts about each certificate of the chain, leaf first.
    pub(crate) chain: Vec<CertFacts>,
}

/// Parses and checks one [`PemPair`]: every certificate must parse, the key must load
/// with `provider`, and the key must match the leaf.
pub(crate) fn load_pair(pair: &PemPair, provider: &CryptoProvider) -> Result<LoadedPair, TlsError> {
    let (certs, chain) = parse_chain(&pair.cert_pem, &pair.label)?;
    let key_der = parse_key(&pair.key_pem, &pair.label)?;
    let key = provider
        .key_provider
        .load_private_key(key_der)
        .map_err(|source| TlsError::InvalidKey {
            label: pair.label.clone(),
            source,
        })?;
    let certified = CertifiedKey::new(certs, key);
    match certified.keys_match() {
        // `Unknown`: the key cannot tell its public half. aws-lc-rs keys always can; for
        // any other we accept, as rustls' own `CertifiedKey::from_der` does.
        Ok(()) | Err(RustlsError::InconsistentKeys(InconsistentKeys::Unknown)) => {}
        Err(RustlsError::InconsistentKeys(_)) => {
            return Err(TlsError::KeyMismatch {
                label: pair.label.clone(),
            });
        }
        // The leaf already parsed with x509-parser, so webpki refusing it is unusual;
        // still report it against the certificate, not as a key problem.
        Err(other) => {
            return Err(TlsError::InvalidCertificate {
                label: pair.label.clone(),
                position: 1,
                reason: other.to_string(),
            });
        }
    }
    Ok(LoadedPair {
        certified: Arc::new(certified),
        chain,
    })
}

/// Checks one [`PemPair`] the way [`server_config`](crate::server_config) will load it:
/// every certificate parses, the key loads, and the key matches the leaf. For callers that
/// want to drop a bad pair before building a configuration (Kubernetes Secrets).
///
/// # Errors
///
/// The certificate and key errors of [`TlsError`].
pub fn check_pair(pair: &PemPair) -> Result<(), TlsError> {
    load_pair(pair, &rustls::crypto::aws_lc_rs::default_provider()).map(|_| ())
}

/// Parses a certificate chain: at least one certificate, each one valid X.509.
pub(crate) fn parse_chain(
    cert_pem: &[u8],
    label: &str,
) -> Result<(Vec<CertificateDer<'static>>, Vec<CertFacts>), TlsError> {
    let certs = parse_certs(cert_pem, label, "certificate")?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            label: label.to_owned(),
        });
    }
    let facts = certs
        .iter()
        .enumerate()
        .map(|(i, der)| {
            x509::facts(der).map_err(|reason| TlsError::InvalidCertificate {
                label: label.to_owned(),
                position: i + 1,
                reason,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((certs, facts))
}

/// Builds a trust store from a CA bundle. Every certificate must be usable as a trust
/// anchor: a silently skipped CA would only show up later as refused handshakes.
pub(crate) fn load_roots(ca_pem: &[u8], label: &str) -> Result<RootCertStore, TlsError> {
    let certs = parse_certs(ca_pem, label, "CA")?;
    if certs.is_empty() {
        return Err(TlsError::InvalidCa {
            label: label.to_owned(),
            reason: "no certificate found in the PEM".to_owned(),
        });
    }
    let mut roots = RootCertStore::empty();
    for (i, der) in certs.into_iter().enumerate() {
        roots.add(der).map_err(|e| TlsError::InvalidCa {
            label: label.to_owned(),
            reason: format!("certificate {} of the bundle: {e}", i + 1),
        })?;
    }
    Ok(roots)
}

/// All `CERTIFICATE` sections of `input`; other sections (a key in the same file) are
/// skipped. An empty result is for the caller to judge.
fn parse_certs(
    input: &[u8],
    label: &str,
    what: &'static str,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    check_not_empty(input, label, what)?;
    CertificateDer::pem_slice_iter(input)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| malformed(&e, label, what))
}

fn parse_key(input: &[u8], label: &str) -> Result<PrivateKeyDer<'static>, TlsError> {
    const WHAT: &str = "private key";
    check_not_empty(input, label, WHAT)?;
    match PrivateKeyDer::from_pem_slice(input) {
        Ok(key) => Ok(key),
        Err(pem::Error::NoItemsFound) => Err(TlsError::NoPrivateKey {
            label: label.to_owned(),
        }),
        Err(e) => Err(malformed(&e, label, WHAT)),
    }
}

fn check_not_empty(input: &[u8], label: &str, what: &'static str) -> Result<(), TlsError> {
    if input.iter().all(u8::is_ascii_whitespace) {
        return Err(TlsError::EmptyPem {
            label: label.to_owned(),
            what,
        });
    }
    Ok(())
}

/// Maps a PEM decoding error to a fixed reason. The error's own text can quote input
/// lines, and for a key file we never want input in a message.
fn malformed(e: &pem::Error, label: &str, what: &'static str) -> TlsError {
    let reason = match e {
        pem::Error::MissingSectionEnd { .. } => "a section has no END line",
        pem::Error::IllegalSectionStart { .. } => "a BEGIN line is malformed",
        pem::Error::Base64Decode(_) => "a section is not valid base64",
        pem::Error::SectionTooLarge => "a section is too large",
        _ => "the PEM is malformed",
    };
    TlsError::MalformedPem {
        label: label.to_owned(),
        what,
        reason,
    }
}
