//! Listener (client → gateway) TLS configuration.

use std::fmt;
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::crypto::{CryptoProvider, aws_lc_rs};
use rustls::server::{ServerSessionMemoryCache, WebPkiClientVerifier};
use rustls::version::{TLS12, TLS13};
use rustls::{ServerConfig, SupportedProtocolVersion};
use tokio_rustls::TlsAcceptor;

use crate::TlsError;
use crate::pem::{self, PemPair};
use crate::sni::{SniIndex, SniResolver};
use crate::x509;

/// Server-side sessions kept for TLS 1.2 session-ID resumption (and TLS 1.3 clients
/// that ignore tickets). Tickets carry most resumptions and cost no server memory; an
/// entry here is a few hundred bytes, plus the client chain under mTLS.
const SESSION_CACHE_SIZE: usize = 4096;

const LABEL_CLIENT_CA: &str = "client CA";

static TLS12_AND_13: &[&SupportedProtocolVersion] = &[&TLS13, &TLS12];
static TLS13_ONLY: &[&SupportedProtocolVersion] = &[&TLS13];

/// The lowest TLS version a listener accepts.
///
/// There is no TLS 1.0 or 1.1: rustls does not implement them, so no configuration of
/// this crate can offer them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MinVersion {
    /// TLS 1.2 and 1.3 (1.3 preferred).
    #[default]
    Tls12,
    /// TLS 1.3 only.
    Tls13,
}

/// Client certificate authentication (mTLS) on a listener.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientAuth {
    /// PEM bundle of the CAs whose client certificates are accepted.
    pub ca_pem: Vec<u8>,
    /// `true`: a handshake without a valid client certificate fails. `false`: clients
    /// may stay anonymous, but a certificate they do present must verify.
    pub required: bool,
}

impl fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientAuth")
            .field("ca_pem_len", &self.ca_pem.len())
            .field("required", &self.required)
            .finish()
    }
}

/// Everything one TLS listener needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerTlsSettings {
    /// Certificates chosen by SNI; the first one is the default. Must not be empty.
    pub certificates: Vec<PemPair>,
    /// The lowest TLS version accepted.
    pub min_version: MinVersion,
    /// Client certificate authentication, if any.
    pub client_auth: Option<ClientAuth>,
    /// Offer ALPN `h2` (before `http/1.1`). Without it only `http/1.1` is offered.
    pub alpn_h2: bool,
}

/// Loads and checks a listener's certificates and builds its rustls configuration.
///
/// The configuration uses the aws-lc-rs provider explicitly (never a process default),
/// selects certificates by SNI (see the crate docs), offers ALPN `h2` and `http/1.1`
/// (or only `http/1.1`), resumes sessions with tickets from the provider's rotating
/// ticketer and a server-side cache, and verifies client certificates when asked.
///
/// Returns the configuration and warnings that do not stop it from serving: a
/// certificate expired, not yet valid or expiring within 14 days (each names the label
/// and the date), and SNI names that are ignored or shadowed by an earlier certificate.
///
/// # Errors
///
/// No certificates; for any certificate: empty or malformed PEM, no certificate, no or
/// unusable private key, key not matching the certificate, unparsable certificate; an
/// unusable client CA.
pub fn server_config(s: &ServerTlsSettings) -> Result<(Arc<ServerConfig>, Vec<String>), TlsError> {
    if s.certificates.is_empty() {
        return Err(TlsError::NoCertificates);
    }
    let provider = Arc::new(aws_lc_rs::default_provider());
    let now = x509::now_unix();
    let mut warnings = Vec::new();
    let mut keys = Vec::with_capacity(s.certificates.len());
    let mut names = Vec::with_capacity(s.certificates.len());
    for pair in &s.certificates {
        let loaded = pem::load_pair(pair, &provider)?;
        warnings.extend(x509::validity_warnings(&pair.label, &loaded.chain, now));
        names.push((pair.label.as_str(), sni_names(&loaded.chain)));
        keys.push(loaded.certified);
    }
    let (index, sni_warnings) = SniIndex::build(names);
    warnings.extend(sni_warnings);
    let labels = s.certificates.iter().map(|p| p.label.clone()).collect();
    let resolver = SniResolver::new(index, keys, labels);

    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions(s.min_version))
        .map_err(TlsError::Config)?;
    let builder = match &s.client_auth {
        None => builder.with_no_client_auth(),
        Some(auth) => builder.with_client_cert_verifier(client_verifier(auth, provider)?),
    };
    let mut config = builder.with_cert_resolver(Arc::new(resolver));
    config.alpn_protocols = if s.alpn_h2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    // A fresh cache and ticketer per configuration: a session from an older
    // configuration (say, before client auth became required) cannot resume here.
    config.session_storage = ServerSessionMemoryCache::new(SESSION_CACHE_SIZE);
    config.ticketer = aws_lc_rs::Ticketer::new().map_err(TlsError::Config)?;
    Ok((Arc::new(config), warnings))
}

fn versions(min: MinVersion) -> &'static [&'static SupportedProtocolVersion] {
    match min {
        MinVersion::Tls12 => TLS12_AND_13,
        MinVersion::Tls13 => TLS13_ONLY,
    }
}

/// The names SNI may select a certificate by: its DNS SANs, or its CN when it has no
/// DNS SAN (legacy certificates). Only the leaf's names count.
fn sni_names(chain: &[x509::CertFacts]) -> Vec<String> {
    let Some(leaf) = chain.first() else {
        return Vec::new();
    };
    if leaf.dns_names.is_empty() {
        leaf.common_name.iter().cloned().collect()
    } else {
        leaf.dns_names.clone()
    }
}

fn client_verifier(
    auth: &ClientAuth,
    provider: Arc<CryptoProvider>,
) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, TlsError> {
    let roots = pem::load_roots(&auth.ca_pem, LABEL_CLIENT_CA)?;
    let mut builder = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
    if !auth.required {
        builder = builder.allow_unauthenticated();
    }
    builder.build().map_err(|e| TlsError::InvalidCa {
        label: LABEL_CLIENT_CA.to_owned(),
        reason: e.to_string(),
    })
}

/// A listener's current configuration, replaced whole on certificate renewal.
///
/// Accept loops call [`acceptor`](Self::acceptor) (or [`current`](Self::current)) per
/// connection, a lock-free load; reloads call [`replace`](Self::replace). Connections
/// already established keep the configuration they started with. A replacement that
/// fails leaves the last good configuration serving.
pub struct LiveServerConfig {
    current: ArcSwap<ServerConfig>,
}

impl LiveServerConfig {
    /// Builds the first configuration with [`server_config`].
    ///
    /// # Errors
    ///
    /// As [`server_config`].
    pub fn new(s: &ServerTlsSettings) -> Result<(Self, Vec<String>), TlsError> {
        let (config, warnings) = server_config(s)?;
        Ok((Self::from_config(config), warnings))
    }

    /// Wraps an already built configuration.
    pub fn from_config(config: Arc<ServerConfig>) -> Self {
        Self {
            current: ArcSwap::new(config),
        }
    }

    /// The configuration new connections should use.
    pub fn current(&self) -> Arc<ServerConfig> {
        self.current.load_full()
    }

    /// A tokio-rustls acceptor for the current configuration.
    pub fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.current())
    }

    /// Builds a configuration from `s` and, only if that succeeds, makes it current.
    ///
    /// # Errors
    ///
    /// As [`server_config`]; the previous configuration then stays current.
    pub fn replace(&self, s: &ServerTlsSettings) -> Result<Vec<String>, TlsError> {
        let (config, warnings) = server_config(s)?;
        self.current.store(config);
        Ok(warnings)
    }
}

impl fmt::Debug for LiveServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LiveServerConfig").finish_non_exhaustive()
    }
}
