//! IR TLS settings → rustls configurations (through `tollgate-tls`), and the I/O type
//! for upstream connections that may or may not be encrypted.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tollgate_ir as ir;
use tollgate_tls::rustls;

fn pair(p: &ir::CertKeyPem) -> tollgate_tls::PemPair {
    tollgate_tls::PemPair {
        cert_pem: p.cert_pem.clone().into_bytes(),
        key_pem: p.key_pem.clone().into_bytes(),
        label: p.label.clone(),
    }
}

/// Checks one key pair the way a listener will load it (see
/// [`tollgate_tls::check_pair`]), giving the reason it is unusable.
///
/// # Errors
///
/// Why the pair cannot be served: a certificate or key that does not parse, or a key
/// that does not match the leaf.
pub fn check_certificate(p: &ir::CertKeyPem) -> Result<(), String> {
    tollgate_tls::check_pair(&pair(p)).map_err(|e| {
        // The caller names the Secret; drop the label the error starts with.
        let text = e.to_string();
        text.strip_prefix(&format!("{}: ", p.label))
            .map_or_else(|| text.clone(), str::to_owned)
    })
}

/// A listener's server configuration, plus warnings (expiring certificates) to log.
pub(crate) fn server(
    t: &ir::ListenerTls,
) -> Result<(Arc<rustls::ServerConfig>, Vec<String>), String> {
    let settings = tollgate_tls::ServerTlsSettings {
        certificates: t.certificates.iter().map(pair).collect(),
        min_version: match t.min_version {
            ir::TlsVersion::Tls12 => tollgate_tls::MinVersion::Tls12,
            ir::TlsVersion::Tls13 => tollgate_tls::MinVersion::Tls13,
        },
        client_auth: t.client_auth.as_ref().map(|c| tollgate_tls::ClientAuth {
            ca_pem: c.ca_pem.clone().into_bytes(),
            required: c.required,
        }),
        alpn_h2: true,
    };
    tollgate_tls::server_config(&settings).map_err(|e| e.to_string())
}

/// A service's client configuration.
pub(crate) fn client(t: &ir::UpstreamTls, h2: bool) -> Result<Arc<rustls::ClientConfig>, String> {
    let settings = tollgate_tls::UpstreamTlsSettings {
        ca_pem: t.ca_pem.as_ref().map(|c| c.clone().into_bytes()),
        sni: t.sni.clone(),
        client_cert: t.client_cert.as_ref().map(pair),
        alpn: if h2 {
            tollgate_tls::UpstreamAlpn::H2
        } else {
            tollgate_tls::UpstreamAlpn::Http1
        },
        insecure_skip_verify: t.insecure_skip_verify,
    };
    tollgate_tls::client_config(&settings).map_err(|e| e.to_string())
}

/// An upstream connection: plain TCP or TLS over TCP. The TLS state is boxed so the
/// plain case stays small.
pub(crate) enum UpstreamIo {
    Plain(TcpStream),
    Tls(Box<tollgate_tls::tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for UpstreamIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for UpstreamIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Self::Plain(s) => s.is_write_vectored(),
            Self::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_flush(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
