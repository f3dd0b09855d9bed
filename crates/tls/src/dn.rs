//! Distinguished names as RFC 4514 strings (`CN=alice,O=Example`).
//!
//! x509-parser's own `Display` lists RDNs in certificate order with `", "` between
//! them; RFC 4514 (what LDAP, Envoy's XFCC `Subject=` and most policy engines expect)
//! lists them last-first with a bare `,`, and escapes special characters.
//!
//! Beyond RFC 4514 we also escape every control character as `\XX`: these strings can
//! end up in a forwarded HTTP header, and a CR/LF from a certificate must never split one.

use std::borrow::Cow;
use std::fmt::Write as _;

use x509_parser::asn1_rs::{Tag, ToDer};
use x509_parser::x509::{AttributeTypeAndValue, X509Name};

/// The name in RFC 4514 form.
pub(crate) fn rfc4514(name: &X509Name<'_>) -> String {
    let rdns: Vec<_> = name.iter_rdn().collect();
    let mut out = String::new();
    for (i, rdn) in rdns.iter().rev().enumerate() {
        if i > 0 {
            out.push(',');
        }
        for (j, attribute) in rdn.iter().enumerate() {
            if j > 0 {
                out.push('+');
            }
            write_attribute(&mut out, attribute);
        }
    }
    out
}

/// Escapes control characters and `\` as `\XX`, for SAN values shown to people or
/// forwarded in headers.
pub(crate) fn escape_controls(s: &str) -> Cow<'_, str> {
    if !s.chars().any(|c| c.is_control() || c == '\\') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c.is_control() || c == '\\' {
            push_hex_escaped(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// The attribute types RFC 4514 §3 names; every other type is written as a dotted OID.
fn short_name(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.3" => "CN",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.6" => "C",
        "2.5.4.9" => "STREET",
        "0.9.2342.19200300.100.1.25" => "DC",
        "0.9.2342.19200300.100.1.1" => "UID",
        _ => return None,
    })
}

fn write_attribute(out: &mut String, attribute: &AttributeTypeAndValue<'_>) {
    let oid = attribute.attr_type().to_id_string();
    match short_name(&oid).zip(string_value(attribute)) {
        Some((short, value)) => {
            out.push_str(short);
            out.push('=');
            escape_value(out, &value);
        }
        None => {
            // RFC 4514 §2.4: dotted types, and values without a string form, are
            // written as `#` and the hex of their BER encoding.
            out.push_str(short_name(&oid).unwrap_or(&oid));
            out.push_str("=#");
            let der = attribute.attr_value().to_der_vec().unwrap_or_default();
            for byte in der {
                let _ = write!(out, "{byte:02x}");
            }
        }
    }
}

/// The value as text, for the DirectoryString types certificates use.
fn string_value(attribute: &AttributeTypeAndValue<'_>) -> Option<String> {
    if let Ok(s) = attribute.as_str() {
        return Some(s.to_owned());
    }
    let value = attribute.attr_value();
    let data = value.data;
    match value.tag() {
        // UCS-2 / UTF-16 big-endian, seen in older certificates.
        Tag::BmpString if data.len() % 2 == 0 => {
            let units = data
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]));
            char::decode_utf16(units)
                .collect::<Result<String, _>>()
                .ok()
        }
        Tag::UniversalString if data.len() % 4 == 0 => data
            .chunks_exact(4)
            .map(|c| char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
            .collect(),
        _ => None,
    }
}

/// RFC 4514 §2.4 escaping, plus `\XX` for every control character.
fn escape_value(out: &mut String, value: &str) {
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        match c {
            '"' | '+' | ',' | ';' | '<' | '>' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' ' | '#' if i == 0 => {
                out.push('\\');
                out.push(c);
            }
            ' ' if i == last => out.push_str("\\ "),
            c if c.is_control() => push_hex_escaped(out, c),
            c => out.push(c),
        }
    }
}

fn push_hex_escaped(out: &mut String, c: char) {
    let mut buf = [0u8; 4];
    for byte in c.encode_utf8(&mut buf).bytes() {
        let _ = write!(out, "\\{byte:02X}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escaped(value: &str) -> String {
        let mut out = String::new();
        escape_value(&mut out, value);
        out
    }

    #[test]
    fn escapes_rfc4514_specials() {
        assert_eq!(escaped("alice"), "alice");
        assert_eq!(escaped("Doe, John"), "Doe\\, John");
        assert_eq!(escaped("a+b;c<d>e\"f\\g"), "a\\+b\\;c\\<d\\>e\\\"f\\\\g");
        assert_eq!(escaped("#leading"), "\\#leading");
        assert_eq!(escaped(" both "), "\\ both\\ ");
        assert_eq!(escaped("mid#dle"), "mid#dle");
        assert_eq!(escaped("Zoë"), "Zoë");
    }

    #[test]
    fn escapes_control_characters_so_headers_cannot_split() {
        assert_eq!(
            escaped("evil\r\nX-Injected: 1"),
            "evil\\0D\\0AX-Injected: 1"
        );
        assert_eq!(escaped("nul\0"), "nul\\00");
        assert_eq!(escape_controls("a.example.com"), "a.example.com");
        assert_eq!(escape_controls("a\nb\\c"), "a\\0Ab\\5Cc");
    }
}
