//! TLS settings: listener certificates and client authentication, upstream TLS. PEM
//! contents were read by the loader; here they are checked for presence and text, and
//! labelled with where they were named so the proxy's certificate checks (key matches,
//! expiry) can point back at the configuration.

use tollgate_ir as ir;
use tollgate_model::native::{self, Listener, Service, Spanned};

use crate::problems::Scope;

/// The PEM text of a named file, or a problem at its reference.
fn pem(cx: &mut Scope<'_, '_>, r: &Spanned<String>, what: &str) -> Option<String> {
    let at = cx.pos_of(r);
    match cx.file(&r.value) {
        Some(Ok(bytes)) => match String::from_utf8(bytes.clone()) {
            Ok(text) if text.contains("-----BEGIN ") => Some(text),
            _ => {
                cx.push(at, format!("{what} {:?} is not a PEM file", r.value));
                None
            }
        },
        Some(Err(e)) => {
            cx.push(at, format!("{what}: {e}"));
            None
        }
        None => {
            cx.push(at, format!("{what} {:?} was not read", r.value));
            None
        }
    }
}

fn pair(
    cx: &mut Scope<'_, '_>,
    cert: &Spanned<String>,
    key: &Spanned<String>,
) -> Option<ir::CertKeyPem> {
    let cert_pem = pem(cx, cert, "certificate");
    let key_pem = pem(cx, key, "key");
    let label = format!("{}: {}", cx.place(cx.pos_of(cert)), cert.value);
    Some(ir::CertKeyPem {
        label,
        cert_pem: cert_pem?,
        key_pem: key_pem?,
    })
}

/// A listener's TLS, checked against its protocol.
pub(crate) fn listener(l: &Listener, cx: &mut Scope<'_, '_>) -> Option<ir::ListenerTls> {
    let https = l.protocol == native::ListenerProtocol::Https;
    let Some(tls) = &l.tls else {
        if https {
            cx.here("protocol https needs a `tls:` block with at least one certificate");
        }
        return None;
    };
    if !https {
        let at = cx.pos_of(tls);
        cx.push(
            at,
            "`tls:` is set on a listener whose protocol is not https; add `protocol: https`",
        );
        return None;
    }
    let tls = &tls.value;
    if tls.certificates.is_empty() {
        cx.here("tls.certificates is empty: give at least one { cert, key }");
    }
    let certificates: Vec<_> = tls
        .certificates
        .iter()
        .filter_map(|c| pair(cx, &c.cert, &c.key))
        .collect();
    let min_version = match tls
        .min_version
        .as_ref()
        .map(|v| (v.value.as_str(), cx.pos_of(v)))
    {
        None | Some(("1.2", _)) => ir::TlsVersion::Tls12,
        Some(("1.3", _)) => ir::TlsVersion::Tls13,
        Some((other, at)) => {
            cx.push(at, format!("min_version {other:?}: use \"1.2\" or \"1.3\" (TLS 1.0 and 1.1 are not supported)"));
            ir::TlsVersion::Tls12
        }
    };
    let client_auth = tls.client_auth.as_ref().and_then(|ca| {
        let ca_pem = pem(cx, &ca.ca, "client_auth.ca")?;
        let header = ca
            .forward_subject_header
            .as_ref()
            .map(|h| h.to_ascii_lowercase());
        if let Some(h) = &header
            && http_token(h).is_none()
        {
            cx.here(format!(
                "client_auth.forward_subject_header {h:?} is not a valid header name"
            ));
        }
        Some(ir::ClientAuth {
            ca_pem,
            required: ca.required.unwrap_or(true),
            forward_subject_header: header,
        })
    });
    Some(ir::ListenerTls {
        certificates,
        min_version,
        client_auth,
    })
}

fn http_token(s: &str) -> Option<&str> {
    let ok = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    ok.then_some(s)
}

/// A service's upstream TLS, checked against its protocol.
pub(crate) fn upstream(s: &Service, cx: &mut Scope<'_, '_>) -> Option<ir::UpstreamTls> {
    let tls_protocol = matches!(
        s.protocol,
        native::UpstreamProtocol::Https | native::UpstreamProtocol::H2
    );
    let Some(tls) = &s.tls else {
        return tls_protocol.then_some(ir::UpstreamTls {
            ca_pem: None,
            sni: None,
            client_cert: None,
            insecure_skip_verify: false,
        });
    };
    if !tls_protocol {
        let at = cx.pos_of(tls);
        cx.push(
            at,
            "`tls:` is set but the protocol is not https or h2; set `protocol: https` (or h2)",
        );
        return None;
    }
    let t = &tls.value;
    let ca_pem = t.ca.as_ref().and_then(|ca| pem(cx, ca, "tls.ca"));
    let client_cert = match (&t.cert, &t.key) {
        (Some(c), Some(k)) => pair(cx, c, k),
        (None, None) => None,
        _ => {
            let at = cx.pos_of(tls);
            cx.push(at, "tls.cert and tls.key go together: give both or neither");
            None
        }
    };
    Some(ir::UpstreamTls {
        ca_pem,
        sni: t.sni.as_ref().map(|s| s.to_ascii_lowercase()),
        client_cert,
        insecure_skip_verify: t.insecure_skip_verify,
    })
}
