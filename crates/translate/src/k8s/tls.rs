//! TLS certificates from `kubernetes.io/tls` Secrets, for HTTPS listeners and Ingress TLS.
//!
//! The translator checks the PEM shape (a certificate block in `tls.crt`, a private key in
//! `tls.key`) and hands the pair to [`Options::cert_check`](super::Options) for the rest
//! (the binary's checker parses both and matches the key to the leaf), so one bad Secret
//! drops one certificate with a condition instead of failing the whole snapshot.

use tollgate_ir as ir;
use tollgate_model::k8s::Gateway;
use tollgate_model::k8s::gateway_api::gateways::GatewayListeners;

use super::gateway::Why;
use super::index::{CrossRef, GATEWAY_GROUP, Index, Meta};
use super::reasons::reason;

/// Secret type for TLS key pairs.
const TLS_SECRET: &str = "kubernetes.io/tls";

/// The valid certificates of an HTTPS listener, and whether every reference resolved.
/// Invalid references are skipped; the listener is served when at least one is valid.
pub(crate) fn certificates(
    g: &Gateway,
    l: &GatewayListeners,
    idx: &Index<'_>,
) -> (Vec<ir::CertKeyPem>, Result<(), Why>) {
    let refs = l
        .tls
        .as_ref()
        .and_then(|t| t.certificate_refs.as_deref())
        .unwrap_or_default();
    if refs.is_empty() {
        return (
            Vec::new(),
            Err((
                reason::INVALID_CERTIFICATE_REF,
                "an HTTPS listener needs tls.certificateRefs naming a kubernetes.io/tls Secret"
                    .to_owned(),
            )),
        );
    }
    let mut certs = Vec::new();
    let mut first_error: Option<Why> = None;
    for r in refs {
        let group = r.group.as_deref().unwrap_or("");
        let kind = r.kind.as_deref().unwrap_or("Secret");
        let ns = r.namespace.as_deref().unwrap_or(g.ns());
        let result = if (group, kind) != ("", "Secret") {
            let shown = if group.is_empty() {
                kind.to_owned()
            } else {
                format!("{group}/{kind}")
            };
            Err((
                reason::INVALID_CERTIFICATE_REF,
                format!(
                    "certificateRef {shown} {:?}: only core Secrets are supported",
                    r.name
                ),
            ))
        } else if !idx.permits(&CrossRef {
            from_group: GATEWAY_GROUP,
            from_kind: "Gateway",
            from_namespace: g.ns(),
            to_group: "",
            to_kind: "Secret",
            to_namespace: ns,
            to_name: &r.name,
        }) {
            Err((
                reason::REF_NOT_PERMITTED,
                format!(
                    "Secret {ns}/{} is in another namespace and no ReferenceGrant there allows it",
                    r.name
                ),
            ))
        } else {
            secret(idx, ns, &r.name).map_err(|e| (reason::INVALID_CERTIFICATE_REF, e))
        };
        match result {
            Ok(c) => certs.push(c),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    (certs, first_error.map_or(Ok(()), Err))
}

/// The key pair in a `kubernetes.io/tls` Secret.
pub(crate) fn secret(idx: &Index<'_>, ns: &str, name: &str) -> Result<ir::CertKeyPem, String> {
    let Some(s) = idx.secret(ns, name) else {
        return Err(format!("Secret {ns}/{name} does not exist"));
    };
    if s.type_.as_deref() != Some(TLS_SECRET) {
        return Err(format!("Secret {ns}/{name} is not of type {TLS_SECRET}"));
    }
    let field = |key: &str| -> Option<String> {
        // `stringData` is what a user writes; `data` (base64) what the API server keeps.
        if let Some(v) = s.string_data.as_ref().and_then(|d| d.get(key)) {
            return Some(v.clone());
        }
        let bytes = &s.data.as_ref()?.get(key)?.0;
        String::from_utf8(bytes.clone()).ok()
    };
    let cert = field("tls.crt").filter(|c| c.contains("-----BEGIN CERTIFICATE-----"));
    let key = field("tls.key").filter(|k| k.contains("PRIVATE KEY-----"));
    match (cert, key) {
        (Some(cert_pem), Some(key_pem)) => {
            let pair = ir::CertKeyPem {
                label: format!("secret/{ns}/{name}"),
                cert_pem,
                key_pem,
            };
            idx.cert_check
                .check(&pair)
                .map_err(|e| format!("Secret {ns}/{name}: {e}"))?;
            Ok(pair)
        }
        (None, _) => Err(format!(
            "Secret {ns}/{name}: tls.crt is missing or holds no PEM certificate"
        )),
        (_, None) => Err(format!(
            "Secret {ns}/{name}: tls.key is missing or holds no PEM private key"
        )),
    }
}
