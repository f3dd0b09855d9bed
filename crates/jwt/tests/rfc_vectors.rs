//! Signature test vectors typed in from the RFCs: RFC 7515 Appendix A (JWS examples),
//! RFC 7520 §4 (JOSE cookbook signatures, with the §3 keys) and RFC 8037 Appendix A.4
//! (Ed25519). Each must verify, and fail with one bit of its signature flipped.

mod common;

use std::sync::Arc;

use common::flip_signature_bit;
use serde_json::json;
use tollgate_jwt::{
    Algorithm, Jws, JwtError, KeySet, KeySource, ManualClock, Verifier, VerifierConfig,
    VerifyingKey,
};

// === RFC 7515 Appendix A ===

/// The claims of A.1–A.3: `{"iss":"joe",\r\n "exp":1300819380,\r\n "http://example.com/is_root":true}`.
const A_PAYLOAD: &str = "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";

const A1_TOKEN: &str = concat!(
    "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.",
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.",
    "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
);
const A1_KEY: &str =
    "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow";

const A2_TOKEN: &str = concat!(
    "eyJhbGciOiJSUzI1NiJ9.",
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.",
    "cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5",
    "jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1",
    "L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYE",
    "UipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw"
);
const A2_N: &str = concat!(
    "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4Q",
    "lL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBY",
    "UsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWN",
    "moudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ"
);

const A3_TOKEN: &str = concat!(
    "eyJhbGciOiJFUzI1NiJ9.",
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.",
    "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q"
);
const A3_X: &str = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
const A3_Y: &str = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";

/// A.4 signs the text "Payload", not a JWT.
const A4_TOKEN: &str = concat!(
    "eyJhbGciOiJFUzUxMiJ9.UGF5bG9hZA.",
    "AdwMgeerwtHoh-l192l60hp9wAHZFVJbLfD_UxMi70cwnZOYaRI1bKPWROc-mZZqwqT2SI-KGDKB34XO0aw_7XdtAG8",
    "GaSwFKdCAPZgoXD2YBJZCPEX3xKpRwcdOO8KpEHwJjyqOgzDO7iKvU8vcnwNrmxYbSW9ERBXukOXolLzeO_Jn"
);
const A4_X: &str =
    "AekpBQ8ST8a8VcfVOTNl353vSrDCLLJXmPk06wTjxrrjcBpXp5EOnYG_NjFZ6OvLFV1jSfS9tsz4qUxcWceqwQGk";
const A4_Y: &str =
    "ADSmRA43Z1DSNx_RvcLI87cdL07l6jQyyBXMoxVg_l2Th-x3S1WDhjDly79ajL4Kkd0AZMaZmh9ubmf63e3kyMj2";

/// A verifier for the A.1–A.3 JWTs, with the clock a minute before their `exp`.
fn appendix_a_verifier(
    key: serde_json::Value,
    alg: Algorithm,
    clock: Arc<ManualClock>,
) -> Verifier {
    let mut keys = KeySet::new();
    keys.push(VerifyingKey::from_jwk(&key).expect("RFC key"));
    let mut config = VerifierConfig::new(vec![alg]);
    config.issuer = Some("joe".into());
    config.leeway = std::time::Duration::ZERO;
    Verifier::new(config, KeySource::Static(Arc::new(keys)), clock).expect("verifier")
}

#[tokio::test]
async fn rfc7515_a1_to_a3_jwts_verify_and_expire() {
    let cases = [
        (
            A1_TOKEN,
            json!({"kty": "oct", "k": A1_KEY}),
            Algorithm::HS256,
        ),
        (
            A2_TOKEN,
            json!({"kty": "RSA", "n": A2_N, "e": "AQAB"}),
            Algorithm::RS256,
        ),
        (
            A3_TOKEN,
            json!({"kty": "EC", "crv": "P-256", "x": A3_X, "y": A3_Y}),
            Algorithm::ES256,
        ),
    ];
    for (token, key, alg) in cases {
        assert!(token.contains(A_PAYLOAD));
        let clock = Arc::new(ManualClock::new(1_300_819_320));
        let verifier = appendix_a_verifier(key, alg, Arc::clone(&clock));
        let verified = verifier
            .verify(token)
            .await
            .unwrap_or_else(|e| panic!("{alg}: {e}"));
        assert_eq!(verified.issuer(), Some("joe"));
        assert_eq!(verified.algorithm(), alg);
        assert_eq!(
            verified.claims().get("http://example.com/is_root"),
            Some(&json!(true))
        );

        let flipped = flip_signature_bit(token);
        assert_eq!(
            verifier.verify(&flipped).await.err(),
            Some(JwtError::InvalidSignature),
            "{alg}"
        );

        clock.set(1_300_819_380);
        assert_eq!(
            verifier.verify(token).await.err(),
            Some(JwtError::Expired),
            "{alg}"
        );
    }
}

#[test]
fn rfc7515_a4_es512_verifies() {
    let key = json!({"kty": "EC", "crv": "P-521", "x": A4_X, "y": A4_Y});
    let mut keys = KeySet::new();
    keys.push(VerifyingKey::from_jwk(&key).expect("RFC 7515 A.4 key"));
    let jws = Jws::parse(A4_TOKEN).expect("compact JWS");
    assert_eq!(
        jws.verify(&keys, &[Algorithm::ES512])
            .expect("A.4 verifies"),
        b"Payload"
    );
    assert_eq!(
        jws.verify(&keys, &[Algorithm::ES256]).err(),
        Some(JwtError::AlgorithmNotAllowed)
    );
    let flipped = flip_signature_bit(A4_TOKEN);
    let jws = Jws::parse(&flipped).expect("compact JWS");
    assert_eq!(
        jws.verify(&keys, &[Algorithm::ES512]).err(),
        Some(JwtError::InvalidSignature)
    );
}

// === RFC 7520 §4 (keys from §3) ===

/// "It’s a dangerous business, Frodo, going out your door. …" (RFC 7520 §4, Figure 7).
const COOKBOOK_PAYLOAD: &str = concat!(
    "SXTigJlzIGEgZGFuZ2Vyb3VzIGJ1c2luZXNzLCBGcm9kbywgZ29pbmcgb3V0IHlvdXIgZG9vci4gWW91IHN0ZXAgb250",
    "byB0aGUgcm9hZCwgYW5kIGlmIHlvdSBkb24ndCBrZWVwIHlvdXIgZmVldCwgdGhlcmXigJlzIG5vIGtub3dpbmcgd2hl",
    "cmUgeW91IG1pZ2h0IGJlIHN3ZXB0IG9mZiB0by4"
);

/// §3.3 RSA public key and §3.2 P-521 public key; both have kid bilbo.baggins@hobbiton.example.
fn cookbook_public_keys() -> KeySet {
    let jwks = json!({"keys": [
        {
            "kty": "RSA", "kid": "bilbo.baggins@hobbiton.example", "use": "sig", "e": "AQAB",
            "n": concat!(
                "n4EPtAOCc9AlkeQHPzHStgAbgs7bTZLwUBZdR8_KuKPEHLd4rHVTeT-O-XV2jRojdNhxJWTDvNd7nqQ0VEiZQHz_",
                "AJmSCpMaJMRBSFKrKb2wqVwGU_NsYOYL-QtiWN2lbzcEe6XC0dApr5ydQLrHqkHHig3RBordaZ6Aj-oBHqFEHYpP",
                "e7Tpe-OfVfHd1E6cS6M1FZcD1NNLYD5lFHpPI9bTwJlsde3uhGqC0ZCuEHg8lhzwOHrtIQbS0FVbb9k3-tVTU4fg",
                "_3L_vniUFAKwuCLqKnS2BYwdq_mzSnbLY7h_qixoR7jig3__kRhuaxwUkRz5iaiQkqgc5gHdrNP5zw"
            ),
        },
        {
            "kty": "EC", "kid": "bilbo.baggins@hobbiton.example", "use": "sig", "crv": "P-521",
            "x": "AHKZLLOsCOzz5cY97ewNUajB957y-C-U88c3v13nmGZx6sYl_oJXu9A5RkTKqjqvjyekWF-7ytDyRXYgCF5cj0Kt",
            "y": "AdymlHvOiLxXkEhayXQnNCvDX4h9htZaCJN34kfmC6pV5OhQHiraVySsUdaQkAgDPrwQrJmbnX9cwlGfP-HqHZR1",
        },
    ]});
    KeySet::from_jwks(jwks.to_string().as_bytes())
        .expect("RFC 7520 keys")
        .0
}

/// §3.5 symmetric key.
fn cookbook_secret() -> KeySet {
    let jwks = json!({"keys": [{
        "kty": "oct", "kid": "018c0ae5-4d9b-471b-bfd6-eef314bc7037", "use": "sig", "alg": "HS256",
        "k": "hJtXIZ2uSN5kbQfbtTNWbpdmhkV8FJG-Onbc6mxCcYg",
    }]});
    KeySet::from_jwks(jwks.to_string().as_bytes())
        .expect("RFC 7520 secret")
        .0
}

const BILBO_RS256: &str =
    "eyJhbGciOiJSUzI1NiIsImtpZCI6ImJpbGJvLmJhZ2dpbnNAaG9iYml0b24uZXhhbXBsZSJ9";
const BILBO_PS384: &str =
    "eyJhbGciOiJQUzM4NCIsImtpZCI6ImJpbGJvLmJhZ2dpbnNAaG9iYml0b24uZXhhbXBsZSJ9";
const BILBO_ES512: &str =
    "eyJhbGciOiJFUzUxMiIsImtpZCI6ImJpbGJvLmJhZ2dpbnNAaG9iYml0b24uZXhhbXBsZSJ9";
const SECRET_HS256: &str =
    "eyJhbGciOiJIUzI1NiIsImtpZCI6IjAxOGMwYWU1LTRkOWItNDcxYi1iZmQ2LWVlZjMxNGJjNzAzNyJ9";

const SIG_4_1: &str = concat!(
    "MRjdkly7_-oTPTS3AXP41iQIGKa80A0ZmTuV5MEaHoxnW2e5CZ5NlKtainoFmKZopdHM1O2U4mwzJdQx996ivp83xug",
    "lII7PNDi84wnB-BDkoBwA78185hX-Es4JIwmDLJK3lfWRa-XtL0RnltuYv746iYTh_qHRD68BNt1uSNCrUCTJDt5aAE6",
    "x8wW1Kt9eRo4QPocSadnHXFxnt8Is9UzpERV0ePPQdLuW3IS_de3xyIrDaLGdjluPxUAhb6L2aXic1U12podGU0KLUQSE",
    "_oI-ZnmKJ3F4uOZDnd6QZWJushZ41Axf_fcIe8u9ipH84ogoree7vjbU5y18kDquDg"
);
const SIG_4_2: &str = concat!(
    "cu22eBqkYDKgIlTpzDXGvaFfz6WGoz7fUDcfT0kkOy42miAh2qyBzk1xEsnk2IpN6-tPid6VrklHkqsGqDqHCdP6O8TTB",
    "5dDDItllVo6_1OLPpcbUrhiUSMxbbXUvdvWXzg-UD8biiReQFlfz28zGWVsdiNAUf8ZnyPEgVFn442ZdNqiVJRmBqrYR",
    "Xe8P_ijQ7p8Vdz0TTrxUeT3lm8d9shnr2lfJT8ImUjvAA2Xez2Mlp8cBE5awDzT0qI0n6uiP1aCN_2_jLAeQTlqRHtfa6",
    "4QQSUmFAAjVKPbByi7xho0uTOcbH510a6GYmJUAfmWjwZ6oD4ifKo8DYM-X72Eaw"
);
const SIG_4_3: &str = concat!(
    "AE_R_YZCChjn4791jSQCrdPZCNYqHXCTZH0-JZGYNlaAjP2kqaluUIIUnC9qvbu9Plon7KRTzoNEuT4Va2cmL1eJAQy3",
    "mtPBu_u_sDDyYjnAMDxXPn7XrT0lw-kvAD890jl8e2puQens_IEKBpHABlsbEPX6sFY8OcGDqoRuBomu9xQ2"
);
const SIG_4_4: &str = "s0h6KThzkfBBBkLspW1h84VsJZFTsPPqMDA7g1Md7p0";

#[test]
fn rfc7520_section_4_signatures_verify() {
    let public = cookbook_public_keys();
    let secret = cookbook_secret();
    let cases = [
        (
            "4.1 RSA v1.5",
            BILBO_RS256,
            SIG_4_1,
            &public,
            Algorithm::RS256,
        ),
        (
            "4.2 RSA-PSS",
            BILBO_PS384,
            SIG_4_2,
            &public,
            Algorithm::PS384,
        ),
        ("4.3 ECDSA", BILBO_ES512, SIG_4_3, &public, Algorithm::ES512),
        (
            "4.4 HMAC-SHA2",
            SECRET_HS256,
            SIG_4_4,
            &secret,
            Algorithm::HS256,
        ),
    ];
    for (name, header, sig, keys, alg) in cases {
        let token = format!("{header}.{COOKBOOK_PAYLOAD}.{sig}");
        let jws = Jws::parse(&token).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(jws.algorithm(), alg, "{name}");
        let payload = jws
            .verify(keys, &Algorithm::ALL)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let text = String::from_utf8(payload).expect("UTF-8 payload");
        assert!(
            text.starts_with("It’s a dangerous business, Frodo"),
            "{name}: {text}"
        );

        let flipped = flip_signature_bit(&token);
        let jws = Jws::parse(&flipped).expect("compact JWS");
        assert_eq!(
            jws.verify(keys, &Algorithm::ALL).err(),
            Some(JwtError::InvalidSignature),
            "{name}"
        );
    }
}

// === RFC 8037 Appendix A.4 ===

#[test]
fn rfc8037_a4_ed25519_verifies() {
    let token = concat!(
        "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.",
        "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
    );
    let key =
        json!({"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"});
    let mut keys = KeySet::new();
    keys.push(VerifyingKey::from_jwk(&key).expect("RFC 8037 A.2 key"));
    let payload = Jws::parse(token).and_then(|j| j.verify(&keys, &[Algorithm::EdDSA]));
    assert_eq!(payload.as_deref(), Ok(&b"Example of Ed25519 signing"[..]));
    let flipped = flip_signature_bit(token);
    let result = Jws::parse(&flipped).and_then(|j| j.verify(&keys, &[Algorithm::EdDSA]));
    assert_eq!(result.err(), Some(JwtError::InvalidSignature));
}
