//! A throwaway PKI for tests: a CA, server certificates with chosen SANs, client
//! certificates with a chosen CN, expired certificates, and PEM files written the way a
//! certificate manager writes them (atomically, by rename).
//!
//! Keys are ECDSA P-256 from rcgen on aws-lc-rs (no `ring`). Every certificate gets a
//! fresh serial number, so a renewed certificate for the same names is told apart by
//! its serial as well as its DER.
//!
//! ```no_run
//! # fn main() -> anyhow::Result<()> {
//! use tollgate_test_support::pki::Ca;
//! let ca = Ca::new("Test Root CA")?;
//! let leaf = ca.server(&["a.example.com", "127.0.0.1"])?;
//! let alice = ca.client("alice")?;
//! let dir = std::env::temp_dir();
//! ca.write(&dir, "ca.pem")?;
//! leaf.write(&dir, "a.pem", "a-key.pem")?;
//! # let _ = alice;
//! # Ok(())
//! # }
//! ```

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use tollgate_tls::rustls::ServerConfig;
use tollgate_tls::rustls::pki_types::CertificateDer;
use tollgate_tls::{ClientAuth, MinVersion, PemPair, ServerTlsSettings};

const DAY: u64 = 86_400;

/// A test certificate authority (self-signed root).
pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    cert_pem: String,
    der: CertificateDer<'static>,
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ca").finish_non_exhaustive()
    }
}

/// A certificate issued by a [`Ca`], with its private key.
#[derive(Clone)]
pub struct Minted {
    /// The certificate, PEM (leaf only; the CA is not appended).
    pub cert_pem: String,
    /// Its private key, PEM (PKCS#8).
    pub key_pem: String,
    /// The certificate, DER: compare it with what a server presented.
    pub der: CertificateDer<'static>,
    /// The serial number, big-endian bytes.
    pub serial: Vec<u8>,
}

impl std::fmt::Debug for Minted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Minted")
            .field("serial", &self.serial_hex())
            .finish_non_exhaustive()
    }
}

impl Ca {
    /// A new root CA with subject `CN=<cn>`, valid from yesterday for ten years.
    ///
    /// # Errors
    ///
    /// Key generation or signing failed.
    pub fn new(cn: &str) -> anyhow::Result<Self> {
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.serial_number = Some(next_serial());
        let now = now_unix();
        set_validity(&mut params, now - DAY, now + 3650 * DAY);
        let key = KeyPair::generate().context("generate CA key")?;
        let cert = params.self_signed(&key).context("self-sign CA")?;
        Ok(Self {
            cert_pem: cert.pem(),
            der: cert.der().clone(),
            issuer: Issuer::new(params, key),
        })
    }

    /// The CA certificate, PEM (what clients put in `--cacert` / `ca:`).
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA certificate, DER.
    pub fn der(&self) -> &CertificateDer<'static> {
        &self.der
    }

    /// Writes the CA certificate as `dir/name`; returns the path.
    ///
    /// # Errors
    ///
    /// The write failed.
    pub fn write(&self, dir: &Path, name: &str) -> std::io::Result<PathBuf> {
        let path = dir.join(name);
        write_atomic(&path, self.cert_pem.as_bytes())?;
        Ok(path)
    }

    /// A server certificate valid from yesterday for 90 days. `names` become SANs (IP
    /// addresses as IP SANs, anything else as DNS names, `*.example.com` included); the
    /// subject is `CN=<first name>`.
    ///
    /// # Errors
    ///
    /// `names` is empty, a name is not a valid DNS name, or signing failed.
    pub fn server(&self, names: &[&str]) -> anyhow::Result<Minted> {
        let now = now_unix();
        self.server_valid(names, now - DAY, now + 90 * DAY)
    }

    /// A server certificate that expired yesterday (valid for the 30 days before).
    ///
    /// # Errors
    ///
    /// As [`server`](Self::server).
    pub fn expired_server(&self, names: &[&str]) -> anyhow::Result<Minted> {
        let now = now_unix();
        self.server_valid(names, now - 31 * DAY, now - DAY)
    }

    /// A server certificate valid between two unix times.
    ///
    /// # Errors
    ///
    /// As [`server`](Self::server).
    pub fn server_valid(
        &self,
        names: &[&str],
        not_before: u64,
        not_after: u64,
    ) -> anyhow::Result<Minted> {
        let first = names.first().context("a server certificate needs a name")?;
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, *first);
        params.subject_alt_names = names.iter().map(|n| san(n)).collect::<Result<_, _>>()?;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        set_validity(&mut params, not_before, not_after);
        self.issue(params)
    }

    /// A client certificate with subject `CN=<cn>,O=Tollgate Tests` (RFC 4514 order),
    /// valid from yesterday for 90 days.
    ///
    /// # Errors
    ///
    /// Signing failed.
    pub fn client(&self, cn: &str) -> anyhow::Result<Minted> {
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::OrganizationName, "Tollgate Tests");
        params.distinguished_name.push(DnType::CommonName, cn);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let now = now_unix();
        set_validity(&mut params, now - DAY, now + 90 * DAY);
        self.issue(params)
    }

    /// Signs `params` (with a fresh key pair and, unless set, a fresh serial number).
    ///
    /// # Errors
    ///
    /// Key generation or signing failed.
    pub fn issue(&self, mut params: CertificateParams) -> anyhow::Result<Minted> {
        if params.serial_number.is_none() {
            params.serial_number = Some(next_serial());
        }
        let serial = params
            .serial_number
            .as_ref()
            .map(SerialNumber::to_bytes)
            .unwrap_or_default();
        let key = KeyPair::generate().context("generate key")?;
        let cert = params
            .signed_by(&key, &self.issuer)
            .context("sign certificate")?;
        Ok(Minted {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().clone(),
            serial,
        })
    }
}

impl Minted {
    /// Writes the certificate to `dir/cert_name` and the key to `dir/key_name`, each
    /// atomically (temporary file, then rename), the key first. Returns both paths.
    ///
    /// # Errors
    ///
    /// A write or rename failed.
    pub fn write(
        &self,
        dir: &Path,
        cert_name: &str,
        key_name: &str,
    ) -> std::io::Result<(PathBuf, PathBuf)> {
        let cert = dir.join(cert_name);
        let key = dir.join(key_name);
        write_atomic(&key, self.key_pem.as_bytes())?;
        write_atomic(&cert, self.cert_pem.as_bytes())?;
        Ok((cert, key))
    }

    /// The certificate followed by `ca`'s: a chain file.
    pub fn chain_pem(&self, ca: &Ca) -> String {
        format!("{}{}", self.cert_pem, ca.cert_pem)
    }

    /// The serial number as lower-case hex.
    pub fn serial_hex(&self) -> String {
        self.serial.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The pair as `tollgate-tls` takes it.
    pub fn pem_pair(&self, label: &str) -> PemPair {
        PemPair {
            cert_pem: self.cert_pem.clone().into_bytes(),
            key_pem: self.key_pem.clone().into_bytes(),
            label: label.to_owned(),
        }
    }

    /// A rustls server configuration presenting this certificate, built by
    /// `tollgate_tls::server_config` (ALPN `h2` and `http/1.1`, TLS 1.2 and 1.3); with
    /// `client_ca`, client certificates from that CA are verified and, if `required`,
    /// demanded. For [`Backend::start_tls`](crate::Backend::start_tls).
    ///
    /// # Errors
    ///
    /// The configuration did not build.
    pub fn server_config(
        &self,
        client_ca: Option<&Ca>,
        required: bool,
    ) -> anyhow::Result<Arc<ServerConfig>> {
        let settings = ServerTlsSettings {
            certificates: vec![self.pem_pair("test backend certificate")],
            min_version: MinVersion::Tls12,
            client_auth: client_ca.map(|ca| ClientAuth {
                ca_pem: ca.cert_pem.clone().into_bytes(),
                required,
            }),
            alpn_h2: true,
        };
        let (config, _warnings) = tollgate_tls::server_config(&settings)?;
        Ok(config)
    }
}

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename,
/// so a watcher never sees a half-written file.
///
/// # Errors
///
/// The write or rename failed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| std::io::Error::other("path has no file name"))?;
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", next_serial_u64()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

fn san(name: &str) -> anyhow::Result<SanType> {
    Ok(match name.parse::<IpAddr>() {
        Ok(ip) => SanType::IpAddress(ip),
        Err(_) => SanType::DnsName(
            name.try_into()
                .with_context(|| format!("{name:?} is not a DNS name"))?,
        ),
    })
}

fn set_validity(params: &mut CertificateParams, not_before: u64, not_after: u64) {
    let epoch = rcgen::date_time_ymd(1970, 1, 1);
    params.not_before = epoch + Duration::from_secs(not_before);
    params.not_after = epoch + Duration::from_secs(not_after);
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Unique within the process, different across processes and runs.
fn next_serial_u64() -> u64 {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    (u64::from(std::process::id()) << 40)
        ^ (u64::from(nanos) << 8)
        ^ N.fetch_add(1, Ordering::Relaxed)
}

/// A positive 9-byte serial number (the leading `01` keeps it positive and unpadded).
fn next_serial() -> SerialNumber {
    static N: AtomicU64 = AtomicU64::new(1);
    let mut bytes = vec![0x01];
    let n = N.fetch_add(1, Ordering::Relaxed) ^ (next_serial_u64() << 16);
    bytes.extend_from_slice(&n.to_be_bytes());
    SerialNumber::from_slice(&bytes)
}
