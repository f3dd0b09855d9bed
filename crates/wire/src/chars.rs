//! Byte classes from RFC 9110 / RFC 3986, as lookup tables so that hot loops do one
//! load per byte.

const fn table(ranges: &[(u8, u8)]) -> [bool; 256] {
    let mut t = [false; 256];
    let mut r = 0;
    while r < ranges.len() {
        let (lo, hi) = ranges[r];
        let mut b = lo as usize;
        while b <= hi as usize {
            t[b] = true;
            b += 1;
        }
        r += 1;
    }
    t
}

/// `tchar` (RFC 9110 §5.6.2): the bytes of header names and transfer-coding names.
static TOKEN: [bool; 256] = table(&[
    (b'0', b'9'),
    (b'A', b'Z'),
    (b'a', b'z'),
    (b'!', b'!'),
    (b'#', b'\''),
    (b'*', b'+'),
    (b'-', b'.'),
    (b'^', b'`'),
    (b'|', b'|'),
    (b'~', b'~'),
]);

/// Bytes allowed in a field value: HTAB, SP, VCHAR and obs-text; no other controls.
static FIELD_VALUE: [bool; 256] = table(&[(b'\t', b'\t'), (b' ', b'~'), (0x80, 0xff)]);

/// Bytes of an `authority` without userinfo (RFC 3986 §3.2.2-3.2.3): unreserved,
/// sub-delims, `:` for the port, `[]` for IP literals and `%` for zone ids / escapes.
static HOST: [bool; 256] = table(&[
    (b'0', b'9'),
    (b'A', b'Z'),
    (b'a', b'z'),
    (b'-', b'.'),
    (b'_', b'_'),
    (b'~', b'~'),
    (b'!', b'!'),
    (b'$', b'$'),
    (b'&', b','),
    (b';', b';'),
    (b'=', b'='),
    (b':', b':'),
    (b'[', b'['),
    (b']', b']'),
    (b'%', b'%'),
]);

/// Whether `b` is a `tchar`.
pub(crate) fn is_token(b: u8) -> bool {
    TOKEN[usize::from(b)]
}

/// Whether `b` may appear in a field value.
pub(crate) fn is_field_value(b: u8) -> bool {
    FIELD_VALUE[usize::from(b)]
}

/// Whether `b` may appear in a `Host` value.
pub(crate) fn is_host(b: u8) -> bool {
    HOST[usize::from(b)]
}

/// Strips optional whitespace (SP / HTAB) from both ends.
pub(crate) fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// The value of one hex digit.
pub(crate) fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// `1*DIGIT` into a `u64`: no sign, no spaces, no overflow.
pub(crate) fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |acc, &b| {
        if !b.is_ascii_digit() {
            return None;
        }
        acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
    })
}
