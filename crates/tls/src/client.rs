//! Upstream (gateway → backend) TLS.

use std::fmt;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ResolvesClientCert, WantsClientCert};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms, aws_lc_rs};
use rustls::sign::CertifiedKey;
use rustls::version::{TLS12, TLS13};
use rustls::{ClientConfig, ConfigBuilder, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::TlsError;
use crate::pem::{self, PemPair};
use crate::x509;

const LABEL_UPSTREAM_CA: &str = "upstream CA";

/// The application protocol offered to a backend.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum UpstreamAlpn {
    /// Offer `http/1.1` only.
    #[default]
    Http1,
    /// Offer `h2` only. A backend that does not speak it fails the handshake
    /// (`no_application_protocol`) or, if it ignores ALPN, negotiates nothing: check
    /// the stream's `alpn_protocol()` before speaking h2.
    H2,
}

/// How the gateway connects to one backend over TLS.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct UpstreamTlsSettings {
    /// PEM bundle of the CAs trusted for this backend; `None` trusts the Mozilla roots
    /// compiled in from `webpki-roots` (the host's trust store is not read).
    pub ca_pem: Option<Vec<u8>>,
    /// The name to send as SNI and verify the certificate against, when it differs
    /// from the host the backend is addressed by. See [`Self::server_name`].
    pub sni: Option<String>,
    /// A client certificate to present (mTLS to the backend).
    pub client_cert: Option<PemPair>,
    /// The application protocol to offer.
    pub alpn: UpstreamAlpn,
    /// **Dangerous.** Accept any server certificate, from anyone, for any name: the
    /// connection is encrypted but not authenticated, so anyone on the path can read and
    /// change it. Only for tests and local development; a warning is logged each time
    /// such a configuration is built.
    pub insecure_skip_verify: bool,
}

impl UpstreamTlsSettings {
    /// The server name to pass to [`connect`]: `sni` if set, else `default_host` (the
    /// host the backend is addressed by, a DNS name or an IP address).
    pub fn server_name<'a>(&'a self, default_host: &'a str) -> &'a str {
        self.sni.as_deref().unwrap_or(default_host)
    }
}

impl fmt::Debug for UpstreamTlsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpstreamTlsSettings")
            .field("ca_pem_len", &self.ca_pem.as_ref().map(Vec::len))
            .field("sni", &self.sni)
            .field("client_cert", &self.client_cert)
            .field("alpn", &self.alpn)
            .field("insecure_skip_verify", &self.insecure_skip_verify)
            .finish()
    }
}

/// Builds the rustls client configuration for one backend.
///
/// TLS 1.3 and 1.2, the aws-lc-rs provider explicitly, session resumption (rustls'
/// default in-memory store), SNI on for DNS names. Share one configuration among all
/// connections to the backend: resumption works per configuration.
///
/// # Errors
///
/// An unusable CA bundle; for the client certificate, every certificate and key error
/// of [`server_config`](crate::server_config).
pub fn client_config(s: &UpstreamTlsSettings) -> Result<Arc<ClientConfig>, TlsError> {
    let provider = Arc::new(aws_lc_rs::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&TLS13, &TLS12])
        .map_err(TlsError::Config)?;
    let builder = if s.insecure_skip_verify {
        tracing::warn!(
            sni = s.sni.as_deref(),
            "upstream TLS certificate verification is disabled (insecure_skip_verify)"
        );
        let verifier = AcceptAnyServerCert {
            algorithms: provider.signature_verification_algorithms,
        };
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
    } else {
        let roots = match &s.ca_pem {
            Some(ca) => pem::load_roots(ca, LABEL_UPSTREAM_CA)?,
            None => RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            },
        };
        builder.with_root_certificates(roots)
    };
    let mut config = with_client_cert(builder, s.client_cert.as_ref(), &provider)?;
    config.alpn_protocols = match s.alpn {
        UpstreamAlpn::Http1 => vec![b"http/1.1".to_vec()],
        UpstreamAlpn::H2 => vec![b"h2".to_vec()],
    };
    Ok(Arc::new(config))
}

fn with_client_cert(
    builder: ConfigBuilder<ClientConfig, WantsClientCert>,
    pair: Option<&PemPair>,
    provider: &CryptoProvider,
) -> Result<ClientConfig, TlsError> {
    let Some(pair) = pair else {
        return Ok(builder.with_no_client_auth());
    };
    let loaded = pem::load_pair(pair, provider)?;
    // The caller gets no warnings list here; a client certificate about to expire is
    // still worth a log line before backends start refusing it.
    for warning in x509::validity_warnings(&pair.label, &loaded.chain, x509::now_unix()) {
        tracing::warn!("{warning}");
    }
    Ok(builder.with_client_cert_resolver(Arc::new(ClientCert {
        certified: loaded.certified,
        label: pair.label.clone(),
    })))
}

/// Connects TLS over an already connected TCP stream.
///
/// `server_name` is what [`UpstreamTlsSettings::server_name`] returns: a DNS name
/// (sent as SNI, verified against the certificate's DNS SANs) or an IP address, with
/// or without `[]` (no SNI is sent, verified against IP SANs). There is no timeout
/// here: wrap the call in the caller's connect timeout.
///
/// # Errors
///
/// [`TlsError::InvalidServerName`], or [`TlsError::Handshake`] with the I/O or TLS
/// error (e.g. certificate verification failure) as its source.
pub async fn connect(
    cfg: Arc<ClientConfig>,
    server_name: &str,
    tcp: TcpStream,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, TlsError> {
    let name = parse_server_name(server_name)?;
    TlsConnector::from(cfg)
        .connect(name, tcp)
        .await
        .map_err(|source| TlsError::Handshake {
            server_name: server_name.to_owned(),
            source,
        })
}

fn parse_server_name(name: &str) -> Result<ServerName<'static>, TlsError> {
    let bare = name
        .strip_prefix('[')
        .and_then(|n| n.strip_suffix(']'))
        .unwrap_or(name);
    ServerName::try_from(bare.to_owned()).map_err(|_| TlsError::InvalidServerName {
        name: name.to_owned(),
    })
}

/// Presents one fixed certificate to every backend that asks.
struct ClientCert {
    certified: Arc<CertifiedKey>,
    label: String,
}

impl ResolvesClientCert for ClientCert {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        // rustls checks the key against the offered schemes and sends an empty
        // certificate if none fits; the backend then decides.
        Some(self.certified.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

impl fmt::Debug for ClientCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCert")
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}

/// The `insecure_skip_verify` verifier: any certificate chain for any name is
/// accepted. Handshake signatures are still checked, which proves only that the peer
/// holds the key of whatever certificate it sent, not who it is.
#[derive(Debug)]
struct AcceptAnyServerCert {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AcceptAnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names_accept_dns_ipv4_and_bracketed_ipv6() {
        assert!(matches!(
            parse_server_name("backend.internal"),
            Ok(ServerName::DnsName(_))
        ));
        assert!(matches!(
            parse_server_name("127.0.0.1"),
            Ok(ServerName::IpAddress(_))
        ));
        assert!(matches!(
            parse_server_name("[::1]"),
            Ok(ServerName::IpAddress(_))
        ));
        assert!(matches!(
            parse_server_name("::1"),
            Ok(ServerName::IpAddress(_))
        ));
        assert!(matches!(
            parse_server_name("bad name"),
            Err(TlsError::InvalidServerName { .. })
        ));
    }

    #[test]
    fn sni_overrides_the_default_host() {
        let mut s = UpstreamTlsSettings::default();
        assert_eq!(s.server_name("10.0.0.5"), "10.0.0.5");
        s.sni = Some("api.internal".to_owned());
        assert_eq!(s.server_name("10.0.0.5"), "api.internal");
    }
}
