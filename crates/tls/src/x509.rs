//! What we read from certificates: names for SNI, identities, validity dates.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::{SystemTime, UNIX_EPOCH};

use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::FromDer;

use crate::TlsError;
use crate::dn;
use crate::pem::{self, PemPair};

/// Warn this long before a certificate expires.
const EXPIRY_WARNING_SECS: i64 = 14 * 24 * 60 * 60;

/// Facts about one certificate, for status pages and logs. See [`describe`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// The label of the [`PemPair`] described.
    pub label: String,
    /// The leaf's subject as an RFC 4514 string, e.g. `CN=example.com,O=Example`.
    pub subject: String,
    /// The leaf's issuer as an RFC 4514 string.
    pub issuer: String,
    /// The leaf's subject alternative names, typed: `DNS:example.com`, `IP:10.0.0.1`,
    /// `URI:spiffe://…`, `email:a@example.com`. Other kinds are left out.
    pub sans: Vec<String>,
    /// The leaf's notBefore, in unix seconds.
    pub not_before: i64,
    /// The leaf's notAfter, in unix seconds.
    pub not_after: i64,
    /// How many certificates the chain holds, leaf included.
    pub chain_len: usize,
    /// The earliest notAfter of any certificate of the chain, in unix seconds: an expired
    /// intermediate breaks clients as surely as an expired leaf.
    pub chain_not_after: i64,
}

/// Describes a certificate chain for status and logs: SANs, subject, validity.
///
/// Only the certificates are read; the key is not loaded or checked (that is
/// [`server_config`](crate::server_config)'s job).
///
/// # Errors
///
/// The certificate errors of [`TlsError`]: empty or malformed PEM, no certificate, a
/// certificate that does not parse.
pub fn describe(pair: &PemPair) -> Result<CertInfo, TlsError> {
    let (_, chain) = pem::parse_chain(&pair.cert_pem, &pair.label)?;
    let Some(leaf) = chain.first() else {
        // parse_chain refuses an empty chain; kept as an error rather than a panic.
        return Err(TlsError::NoCertificate {
            label: pair.label.clone(),
        });
    };
    Ok(CertInfo {
        label: pair.label.clone(),
        subject: leaf.subject.clone(),
        issuer: leaf.issuer.clone(),
        sans: leaf.sans.clone(),
        not_before: leaf.not_before,
        not_after: leaf.not_after,
        chain_len: chain.len(),
        chain_not_after: chain
            .iter()
            .map(|c| c.not_after)
            .min()
            .unwrap_or(leaf.not_after),
    })
}

/// What this crate needs from one parsed certificate.
#[derive(Debug, Clone)]
pub(crate) struct CertFacts {
    pub(crate) subject: String,
    pub(crate) issuer: String,
    /// Typed SANs (`DNS:…`), for people.
    pub(crate) sans: Vec<String>,
    /// DNS SANs as written in the certificate, for SNI selection.
    pub(crate) dns_names: Vec<String>,
    /// The first subject CN, when it is a string.
    pub(crate) common_name: Option<String>,
    pub(crate) not_before: i64,
    pub(crate) not_after: i64,
}

/// Parses one DER certificate. The error is the parser's message.
pub(crate) fn facts(der: &[u8]) -> Result<CertFacts, String> {
    let (_, cert) = X509Certificate::from_der(der).map_err(|e| e.to_string())?;
    let mut sans = Vec::new();
    let mut dns_names = Vec::new();
    for name in general_names(&cert)? {
        if let GeneralName::DNSName(dns) = name {
            dns_names.push(String::from(*dns));
        }
        sans.extend(format_san(name));
    }
    let common_name = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_owned);
    let validity = cert.validity();
    Ok(CertFacts {
        subject: dn::rfc4514(cert.subject()),
        issuer: dn::rfc4514(cert.issuer()),
        sans,
        dns_names,
        common_name,
        not_before: validity.not_before.timestamp(),
        not_after: validity.not_after.timestamp(),
    })
}

/// The subject's typed SANs and its RFC 4514 subject, for [`PeerIdentity`](crate::PeerIdentity).
pub(crate) fn subject_and_sans(der: &[u8]) -> Option<(String, Vec<String>)> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let sans = general_names(&cert)
        .ok()?
        .iter()
        .filter_map(|n| format_san(n))
        .collect();
    Some((dn::rfc4514(cert.subject()), sans))
}

fn general_names<'a>(cert: &'a X509Certificate<'_>) -> Result<Vec<&'a GeneralName<'a>>, String> {
    // An error here means a malformed or duplicated SAN extension: refuse the
    // certificate rather than guess which names it meant.
    let ext = cert.subject_alternative_name().map_err(|e| e.to_string())?;
    Ok(ext
        .map(|ext| ext.value.general_names.iter().collect())
        .unwrap_or_default())
}

/// `DNS:`, `IP:`, `URI:` and `email:` SANs; other kinds have no use for us yet.
/// Control characters are escaped, so the result is safe in a header or a log line.
fn format_san(name: &GeneralName<'_>) -> Option<String> {
    Some(match name {
        GeneralName::DNSName(s) => format!("DNS:{}", dn::escape_controls(s)),
        GeneralName::URI(s) => format!("URI:{}", dn::escape_controls(s)),
        GeneralName::RFC822Name(s) => format!("email:{}", dn::escape_controls(s)),
        GeneralName::IPAddress(bytes) => match <[u8; 4]>::try_from(*bytes) {
            Ok(v4) => format!("IP:{}", Ipv4Addr::from(v4)),
            Err(_) => format!("IP:{}", Ipv6Addr::from(<[u8; 16]>::try_from(*bytes).ok()?)),
        },
        _ => return None,
    })
}

/// Warnings about a chain's validity dates at `now` (unix seconds): not yet valid,
/// expired, or expiring within 14 days. Each names the label and the date.
pub(crate) fn validity_warnings(label: &str, chain: &[CertFacts], now: i64) -> Vec<String> {
    let mut warnings = Vec::new();
    for (i, cert) in chain.iter().enumerate() {
        let which = if i == 0 {
            "certificate".to_owned()
        } else {
            format!("chain certificate {} ({})", i + 1, cert.subject)
        };
        if now < cert.not_before {
            warnings.push(format!(
                "{label}: {which} is not valid until {}",
                format_unix(cert.not_before)
            ));
        }
        if now >= cert.not_after {
            warnings.push(format!(
                "{label}: {which} expired on {}",
                format_unix(cert.not_after)
            ));
        } else if cert.not_after - now <= EXPIRY_WARNING_SECS {
            let days = (cert.not_after - now) / 86_400;
            warnings.push(format!(
                "{label}: {which} expires on {} (in {days} days)",
                format_unix(cert.not_after)
            ));
        }
    }
    warnings
}

/// The current time in unix seconds (0 if the clock is before 1970).
pub(crate) fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Unix seconds as an RFC 3339 UTC timestamp, e.g. `2026-05-01T12:00:00Z`.
pub(crate) fn format_unix(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm);
/// avoids a date-time dependency for one formatting need.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(not_before: i64, not_after: i64) -> CertFacts {
        CertFacts {
            subject: "CN=Intermediate".to_owned(),
            issuer: "CN=Root".to_owned(),
            sans: Vec::new(),
            dns_names: Vec::new(),
            common_name: None,
            not_before,
            not_after,
        }
    }

    #[test]
    fn formats_unix_seconds_as_rfc3339() {
        assert_eq!(format_unix(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_unix(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(format_unix(1_767_225_599), "2025-12-31T23:59:59Z");
        assert_eq!(format_unix(-86_400), "1969-12-31T00:00:00Z");
    }

    #[test]
    fn warns_about_dates_with_label_and_position() {
        let now = 1_000_000_000;
        let day = 86_400;
        let fine = cert(now - day, now + 90 * day);
        assert!(validity_warnings("a.pem", std::slice::from_ref(&fine), now).is_empty());

        let expired = cert(now - 10 * day, now - day);
        let w = validity_warnings("a.pem", &[expired], now);
        assert_eq!(w, ["a.pem: certificate expired on 2001-09-08T01:46:40Z"]);

        let soon = cert(now - day, now + 3 * day);
        let w = validity_warnings("a.pem", &[fine, soon], now);
        assert_eq!(w.len(), 1);
        assert!(w[0].starts_with("a.pem: chain certificate 2 (CN=Intermediate) expires on"));
        assert!(w[0].ends_with("(in 3 days)"));

        let future = cert(now + day, now + 90 * day);
        let w = validity_warnings("a.pem", &[future], now);
        assert_eq!(
            w,
            ["a.pem: certificate is not valid until 2001-09-10T01:46:40Z"]
        );
    }
}
