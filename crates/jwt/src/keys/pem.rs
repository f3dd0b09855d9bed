//! PEM `PUBLIC KEY` blocks (RFC 7468 §13) into DER SubjectPublicKeyInfo.

use base64::Engine as _;

use crate::error::ConfigError;

const BEGIN: &str = "-----BEGIN ";
const DASHES: &str = "-----";

/// The DER of the first `PUBLIC KEY` block. Other labels are refused with a reason: a
/// private key or a certificate pasted by mistake should say so, not "invalid key".
pub(super) fn public_key_der(pem: &str) -> Result<Vec<u8>, ConfigError> {
    let start = pem
        .find(BEGIN)
        .ok_or_else(|| ConfigError::InvalidKey("no PEM block found".into()))?;
    let after = &pem[start + BEGIN.len()..];
    let label_end = after
        .find(DASHES)
        .ok_or_else(|| ConfigError::InvalidKey("unterminated PEM header".into()))?;
    let label = &after[..label_end];
    if label != "PUBLIC KEY" {
        return Err(ConfigError::InvalidKey(format!(
            "PEM block is {label:?}; a \"PUBLIC KEY\" (SubjectPublicKeyInfo) is expected"
        )));
    }
    let body = &after[label_end + DASHES.len()..];
    let end_marker = format!("-----END {label}-----");
    let body_end = body
        .find(&end_marker)
        .ok_or_else(|| ConfigError::InvalidKey("PEM block has no END line".into()))?;
    let text: String = body[..body_end]
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| ConfigError::InvalidKey("PEM body is not base64".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_public_keys_and_names_other_blocks() {
        let pem =
            "junk\r\n-----BEGIN PUBLIC KEY-----\r\nAAEC\r\nAw==\r\n-----END PUBLIC KEY-----\r\n";
        assert_eq!(public_key_der(pem).expect("valid block"), [0, 1, 2, 3]);
        let private = "-----BEGIN PRIVATE KEY-----\nAAEC\n-----END PRIVATE KEY-----\n";
        let err = public_key_der(private)
            .expect_err("private keys are refused")
            .to_string();
        assert!(err.contains("PRIVATE KEY"), "{err}");
        assert!(public_key_der("-----BEGIN PUBLIC KEY-----\nAAEC\n").is_err());
    }
}
