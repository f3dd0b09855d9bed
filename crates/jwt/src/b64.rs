//! base64url: strict for tokens, tolerant of padding for key material.

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// Tokens: base64url without padding and with zero trailing bits (RFC 7515 §2), so each
/// token has exactly one encoding and a cache keyed by the token text cannot be fooled by
/// a second spelling of the same bytes.
const STRICT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone),
);

/// Key material from configuration or an identity provider: some publish padded values.
/// It is trusted input, so being lenient costs nothing.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Decodes a token segment.
pub(crate) fn decode_strict(s: &str) -> Option<Vec<u8>> {
    STRICT.decode(s).ok()
}

/// Decodes a JWK member.
pub(crate) fn decode_lenient(s: &str) -> Option<Vec<u8>> {
    LENIENT.decode(s).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_refuses_padding_and_non_canonical_trailing_bits() {
        assert_eq!(
            decode_strict("UGF5bG9hZA").as_deref(),
            Some(&b"Payload"[..])
        );
        assert_eq!(decode_strict("UGF5bG9hZA=="), None);
        // "UGF5bG9hZB" has the same bytes with non-zero trailing bits.
        assert_eq!(decode_strict("UGF5bG9hZB"), None);
        assert_eq!(decode_strict("a+b/"), None);
        assert_eq!(
            decode_lenient("UGF5bG9hZA==").as_deref(),
            Some(&b"Payload"[..])
        );
    }
}
