//! The identity a client proved with its certificate.

use rustls::ServerConnection;

use crate::x509;

/// The verified client certificate's identity, for policies and an optional
/// forwarding header.
///
/// Strings contain no control characters (they are escaped as `\XX`), so they can be
/// put in a header value as they are. They can contain non-ASCII UTF-8 from the
/// certificate; a header writer that needs ASCII must encode them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerIdentity {
    /// The subject as an RFC 4514 string, most specific first: `CN=alice,O=Example`.
    pub subject: String,
    /// The subject alternative names, typed: `DNS:…`, `IP:…`, `URI:…` (SPIFFE IDs),
    /// `email:…`. Other kinds are left out.
    pub sans: Vec<String>,
}

/// The client's identity after a handshake in which it presented a certificate.
///
/// `None` when the client presented none (listener without client auth, or optional
/// client auth and an anonymous client), or before the handshake completed. rustls
/// only records a client certificate that the listener's verifier accepted, so a
/// `Some` is always a verified identity; on a resumed session it is the identity
/// verified in the original handshake.
pub fn peer_identity(conn: &ServerConnection) -> Option<PeerIdentity> {
    let leaf = conn.peer_certificates()?.first()?;
    let (subject, sans) = x509::subject_and_sans(leaf)?;
    Some(PeerIdentity { subject, sans })
}

/// [`peer_identity`] for a tokio-rustls server stream.
pub fn stream_peer_identity<IO>(
    stream: &tokio_rustls::server::TlsStream<IO>,
) -> Option<PeerIdentity> {
    peer_identity(stream.get_ref().1)
}
