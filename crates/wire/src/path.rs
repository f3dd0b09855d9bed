//! Request path normalisation, so that routing, policies and the upstream all see one
//! spelling of a path, and `/admin` cannot be reached as `/public/%2E%2E/admin`.

use std::borrow::Cow;

use crate::chars::hex_value;

#[cfg(test)]
mod tests;

/// Why a path was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PathError {
    /// The path does not start with `/`.
    #[error("request path must start with '/'")]
    NotAbsolute,
    /// `%2F`: an encoded `/` would be a separator to some upstreams and not to others.
    #[error("request path contains an encoded slash (%2F)")]
    EncodedSlash,
    /// `%5C`: an encoded `\`, a separator to some upstreams (Windows, some frameworks).
    #[error("request path contains an encoded backslash (%5C)")]
    EncodedBackslash,
    /// `%00`: truncates paths in C-based upstreams.
    #[error("request path contains an encoded NUL (%00)")]
    EncodedNul,
    /// A `%` not followed by two hex digits.
    #[error("request path contains a malformed percent-encoding")]
    MalformedEscape,
}

/// Normalises the path part of a request target (no query).
///
/// Percent-encoded unreserved characters (ALPHA DIGIT `-` `.` `_` `~`) are decoded and
/// the hex of the remaining escapes is upper-cased; encoded `/`, `\`, NUL and malformed
/// escapes are refused; repeated slashes are merged; `.` and `..` segments (also those
/// that only appear after decoding) are resolved as RFC 3986 §5.2.4 does, `..` never
/// climbing above the root. A trailing slash is kept.
///
/// Returns the input borrowed when nothing changes, which is the common case and costs
/// one scan and no allocation.
///
/// # Errors
///
/// [`PathError`] when the path does not start with `/` or has an encoded `/`, `\`
/// or NUL, or a malformed escape; the request should then be answered with 400.
pub fn normalize_path(path: &str) -> Result<Cow<'_, str>, PathError> {
    if !path.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    if is_normal(path.as_bytes())? {
        Ok(Cow::Borrowed(path))
    } else {
        rewrite(path).map(Cow::Owned)
    }
}

/// Decodes one escape at `bytes[0] == b'%'`: its byte value and whether its hex is
/// already upper-case.
fn escape(bytes: &[u8]) -> Result<(u8, bool), PathError> {
    let (Some(&hi), Some(&lo)) = (bytes.get(1), bytes.get(2)) else {
        return Err(PathError::MalformedEscape);
    };
    let (Some(h), Some(l)) = (hex_value(hi), hex_value(lo)) else {
        return Err(PathError::MalformedEscape);
    };
    let value = h << 4 | l;
    match value {
        b'/' => Err(PathError::EncodedSlash),
        b'\\' => Err(PathError::EncodedBackslash),
        0 => Err(PathError::EncodedNul),
        _ => Ok((value, !hi.is_ascii_lowercase() && !lo.is_ascii_lowercase())),
    }
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Whether `segment` (the bytes after a `/`) starts with a `.` or `..` segment.
fn starts_with_dot_segment(segment: &[u8]) -> bool {
    matches!(
        segment,
        [b'.'] | [b'.', b'/', ..] | [b'.', b'.'] | [b'.', b'.', b'/', ..]
    )
}

/// The fast check: `Ok(true)` when the path is already normal. Stops at the first thing
/// to rewrite (the rewrite validates the rest).
fn is_normal(bytes: &[u8]) -> Result<bool, PathError> {
    for at in memchr::memchr2_iter(b'/', b'%', bytes) {
        let rest = &bytes[at..];
        if rest[0] == b'/' {
            let next = &rest[1..];
            if next.first() == Some(&b'/') || starts_with_dot_segment(next) {
                return Ok(false);
            }
        } else {
            let (value, upper) = escape(rest)?;
            if !upper || is_unreserved(value) {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

/// The slow path: decodes and resolves segment by segment into one new string.
fn rewrite(path: &str) -> Result<String, PathError> {
    let mut out = String::with_capacity(path.len());
    // Whether the output must end with `/`: the last segment was empty, `.` or `..`.
    let mut trailing_slash = false;
    // Skip the empty text before the leading `/`.
    for segment in path.split('/').skip(1) {
        let mark = out.len();
        out.push('/');
        decode_into(segment, &mut out)?;
        match &out[mark + 1..] {
            "" | "." => {
                out.truncate(mark);
                trailing_slash = true;
            }
            ".." => {
                out.truncate(mark);
                // Drop the previous segment; at the root there is none to drop.
                let parent = out.rfind('/').unwrap_or(0);
                out.truncate(parent);
                trailing_slash = true;
            }
            _ => trailing_slash = false,
        }
    }
    if trailing_slash || out.is_empty() {
        out.push('/');
    }
    Ok(out)
}

/// Appends `segment` with unreserved escapes decoded and other escapes upper-cased.
fn decode_into(segment: &str, out: &mut String) -> Result<(), PathError> {
    let bytes = segment.as_bytes();
    let mut copied = 0;
    for at in memchr::memchr_iter(b'%', bytes) {
        let (value, _) = escape(&bytes[at..])?;
        // `%` is ASCII, so these are char boundaries.
        out.push_str(&segment[copied..at]);
        if is_unreserved(value) {
            out.push(char::from(value));
        } else {
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            out.push('%');
            out.push(char::from(HEX[usize::from(value >> 4)]));
            out.push(char::from(HEX[usize::from(value & 0xf)]));
        }
        copied = at + 3;
    }
    out.push_str(&segment[copied..]);
    Ok(())
}
