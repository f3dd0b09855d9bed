//! TLS settings in `tollgate.yaml`. File paths are relative to the file that names them;
//! the loader reads them (see [`crate::load`]) so the translator stays free of I/O.

use serde::Deserialize;

use crate::native::Spanned;

/// TLS on an `https` listener.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerTls {
    /// Certificates chosen by SNI; the first is the default.
    pub certificates: Vec<CertKey>,
    /// Lowest TLS version offered: `"1.2"` (default) or `"1.3"`.
    pub min_version: Option<Spanned<String>>,
    /// Client certificates (mTLS from clients).
    pub client_auth: Option<ClientAuth>,
}

/// A certificate chain and its key, as PEM files.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertKey {
    /// PEM certificate chain, leaf first.
    pub cert: Spanned<String>,
    /// PEM private key.
    pub key: Spanned<String>,
}

/// Client-certificate verification.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientAuth {
    /// PEM CA certificates that client certificates must chain to.
    pub ca: Spanned<String>,
    /// Refuse clients without a certificate (default true).
    pub required: Option<bool>,
    /// Forward the verified subject upstream in this header (e.g. `x-client-subject`).
    pub forward_subject_header: Option<String>,
}

/// TLS from the gateway to a service's endpoints.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamTls {
    /// PEM CA certificates to verify the endpoints with (default: the public web roots).
    pub ca: Option<Spanned<String>>,
    /// Server name sent and verified (default: the endpoint's host).
    pub sni: Option<String>,
    /// Client certificate to present (mTLS to the backend).
    pub cert: Option<Spanned<String>>,
    /// Its key.
    pub key: Option<Spanned<String>>,
    /// Skip verification. Only for tests: anyone on the path can impersonate the backend.
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

impl crate::native::Document {
    /// Every file path this document names (certificates, keys, CAs), as written.
    pub fn file_refs(&self) -> Vec<&Spanned<String>> {
        let mut out = Vec::new();
        for l in &self.listeners {
            if let Some(tls) = &l.tls {
                for c in &tls.value.certificates {
                    out.push(&c.cert);
                    out.push(&c.key);
                }
                if let Some(ca) = &tls.value.client_auth {
                    out.push(&ca.ca);
                }
            }
        }
        for s in &self.services {
            if let Some(tls) = &s.tls {
                out.extend(tls.value.ca.iter());
                out.extend(tls.value.cert.iter());
                out.extend(tls.value.key.iter());
            }
        }
        if let Some(r) = &self.redis {
            out.extend(r.value.ca_file.iter());
        }
        for r in &self.routes {
            let oidc = r.policies.as_ref().and_then(|p| p.value.oidc.as_ref());
            if let Some(o) = oidc {
                out.extend(o.value.client_secret_file.iter());
                out.extend(o.value.session_secret_file.iter());
            }
        }
        out
    }
}
