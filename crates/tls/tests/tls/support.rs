//! A throwaway PKI per test, a real tokio-rustls server on 127.0.0.1:0, and a client.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tollgate_tls::rustls::pki_types::CertificateDer;
use tollgate_tls::rustls::{ClientConfig, HandshakeKind, ProtocolVersion, ServerConfig};
use tollgate_tls::{LiveServerConfig, PeerIdentity, PemPair, UpstreamTlsSettings};

/// Generous bound on any one network step, so a broken test fails instead of hanging.
const STEP: Duration = Duration::from_secs(10);

pub(crate) const DAY: u64 = 86_400;

/// Unix seconds now.
pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A freshly minted certificate and key.
pub(crate) struct Minted {
    pub(crate) cert_pem: String,
    pub(crate) key_pem: String,
    pub(crate) der: CertificateDer<'static>,
}

impl Minted {
    pub(crate) fn pair(&self, label: &str) -> PemPair {
        PemPair {
            cert_pem: self.cert_pem.clone().into_bytes(),
            key_pem: self.key_pem.clone().into_bytes(),
            label: label.to_owned(),
        }
    }
}

/// A test certificate authority.
pub(crate) struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pub(crate) pem: String,
}

impl Ca {
    pub(crate) fn new(name: &str) -> Self {
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Self {
            issuer: Issuer::new(params, key),
            pem: cert.pem(),
        }
    }

    /// Parameters for a leaf valid from yesterday for 90 days.
    pub(crate) fn params(&self) -> CertificateParams {
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        validity(&mut params, now() - DAY, now() + 90 * DAY);
        params
    }

    /// A server certificate for `names` (DNS names, or IP addresses as IP SANs), CN = the first.
    pub(crate) fn server(&self, names: &[&str]) -> Minted {
        let mut params = self.params();
        params.distinguished_name.push(DnType::CommonName, names[0]);
        params.subject_alt_names = names.iter().map(|n| san(n)).collect();
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.issue(&params)
    }

    /// A client certificate with subject `O=<org>, CN=<cn>` (RFC 4514: `CN=<cn>,O=<org>`).
    pub(crate) fn client(&self, cn: &str, org: &str, sans: Vec<SanType>) -> Minted {
        let mut params = self.params();
        params
            .distinguished_name
            .push(DnType::OrganizationName, org);
        params.distinguished_name.push(DnType::CommonName, cn);
        params.subject_alt_names = sans;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.issue(&params)
    }

    pub(crate) fn issue(&self, params: &CertificateParams) -> Minted {
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Minted {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().clone(),
        }
    }
}

/// Sets the validity window in unix seconds.
pub(crate) fn validity(params: &mut CertificateParams, not_before: u64, not_after: u64) {
    let epoch = rcgen::date_time_ymd(1970, 1, 1);
    params.not_before = epoch + Duration::from_secs(not_before);
    params.not_after = epoch + Duration::from_secs(not_after);
}

fn san(name: &str) -> SanType {
    match name.parse::<IpAddr>() {
        Ok(ip) => SanType::IpAddress(ip),
        Err(_) => SanType::DnsName(name.try_into().unwrap()),
    }
}

/// What the server saw of one handshake.
#[derive(Debug)]
pub(crate) struct Accepted {
    pub(crate) sni: Option<String>,
    pub(crate) alpn: Option<Vec<u8>>,
    pub(crate) version: Option<ProtocolVersion>,
    pub(crate) peer: Option<PeerIdentity>,
    pub(crate) resumed: bool,
}

/// A TLS server answering `hello` and closing, reporting every handshake.
pub(crate) struct Server {
    pub(crate) addr: SocketAddr,
    outcomes: mpsc::UnboundedReceiver<Result<Accepted, String>>,
}

impl Server {
    pub(crate) async fn start(config: Arc<ServerConfig>) -> Self {
        Self::start_live(Arc::new(LiveServerConfig::from_config(config))).await
    }

    pub(crate) async fn start_live(live: Arc<LiveServerConfig>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, outcomes) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                // Per connection, as an accept loop would: picks up replaced configs.
                let acceptor = live.acceptor();
                let tx = tx.clone();
                tokio::spawn(async move {
                    let outcome = match acceptor.accept(tcp).await {
                        Ok(mut tls) => {
                            let conn = tls.get_ref().1;
                            let accepted = Accepted {
                                sni: conn.server_name().map(str::to_owned),
                                alpn: conn.alpn_protocol().map(<[u8]>::to_vec),
                                version: conn.protocol_version(),
                                peer: tollgate_tls::stream_peer_identity(&tls),
                                resumed: conn.handshake_kind() == Some(HandshakeKind::Resumed),
                            };
                            let _ = tls.write_all(b"hello").await;
                            let _ = tls.shutdown().await;
                            Ok(accepted)
                        }
                        Err(e) => Err(e.to_string()),
                    };
                    let _ = tx.send(outcome);
                });
            }
        });
        Self { addr, outcomes }
    }

    /// The next handshake's outcome: what was accepted, or the server's error.
    pub(crate) async fn next(&mut self) -> Result<Accepted, String> {
        tokio::time::timeout(STEP, self.outcomes.recv())
            .await
            .expect("server reported nothing")
            .expect("server task ended")
    }
}

/// What the client saw of one exchange.
#[derive(Debug)]
pub(crate) struct Dialed {
    pub(crate) leaf: CertificateDer<'static>,
    pub(crate) alpn: Option<Vec<u8>>,
    pub(crate) version: Option<ProtocolVersion>,
    pub(crate) resumed: bool,
}

/// Connects with `tollgate_tls::connect`, reads the server's `hello` to the end.
/// A failed handshake or a failed read (TLS 1.3 client-auth refusals arrive after the
/// client's side of the handshake) are both errors.
pub(crate) async fn dial(
    cfg: Arc<ClientConfig>,
    addr: SocketAddr,
    server_name: &str,
) -> anyhow::Result<Dialed> {
    let tcp = TcpStream::connect(addr).await?;
    let mut tls = tokio::time::timeout(STEP, tollgate_tls::connect(cfg, server_name, tcp))
        .await
        .context("handshake timed out")??;
    let mut body = Vec::new();
    tokio::time::timeout(STEP, tls.read_to_end(&mut body))
        .await
        .context("read timed out")??;
    anyhow::ensure!(body == b"hello", "unexpected body {body:?}");
    let conn = tls.get_ref().1;
    Ok(Dialed {
        leaf: conn.peer_certificates().context("no server certificate")?[0].clone(),
        alpn: conn.alpn_protocol().map(<[u8]>::to_vec),
        version: conn.protocol_version(),
        resumed: conn.handshake_kind() == Some(HandshakeKind::Resumed),
    })
}

/// A verifying upstream client trusting `ca`.
pub(crate) fn client_trusting(ca: &Ca) -> Arc<ClientConfig> {
    tollgate_tls::client_config(&UpstreamTlsSettings {
        ca_pem: Some(ca.pem.clone().into_bytes()),
        ..UpstreamTlsSettings::default()
    })
    .unwrap()
}

/// A client that accepts any certificate, to see what the server presents for names
/// the certificate does not cover.
pub(crate) fn client_trusting_anything() -> Arc<ClientConfig> {
    tollgate_tls::client_config(&UpstreamTlsSettings {
        insecure_skip_verify: true,
        ..UpstreamTlsSettings::default()
    })
    .unwrap()
}
