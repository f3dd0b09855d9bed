//! Response content policies of a route: `compression`.

use serde::{Deserialize, Serialize};

/// A content coding the gateway can produce (RFC 9110 §8.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Coding {
    /// Zstandard (RFC 8878, `zstd`).
    Zstd,
    /// Brotli (RFC 7932, `br`).
    Br,
    /// gzip (RFC 1952).
    Gzip,
}

impl Coding {
    /// Every coding, in the default preference order.
    pub const ALL: [Coding; 3] = [Coding::Zstd, Coding::Br, Coding::Gzip];

    /// The token in `Accept-Encoding` and `Content-Encoding`.
    pub fn token(self) -> &'static str {
        match self {
            Coding::Zstd => "zstd",
            Coding::Br => "br",
            Coding::Gzip => "gzip",
        }
    }
}

/// Media types compressed when a route's `compression` does not list its own: text and
/// the structured-text types APIs and web pages send. Forms: `type/subtype`, `type/*`,
/// `type/*+suffix`.
pub const DEFAULT_COMPRESSIBLE_TYPES: [&str; 9] = [
    "text/*",
    "application/json",
    "application/*+json",
    "application/javascript",
    "application/xml",
    "application/*+xml",
    "image/svg+xml",
    "application/x-ndjson",
    "application/wasm",
];

/// Response compression, negotiated by the request's `Accept-Encoding`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Compression {
    /// Codings the route may use, most preferred first (the tie-break between codings
    /// the client accepts with the same q-value). Not empty, no duplicates.
    pub algorithms: Vec<Coding>,
    /// Bodies with a declared `Content-Length` below this are sent as they are.
    pub min_size: u64,
    /// Media types compressed (lower case, parameters left out).
    pub content_types: Vec<String>,
    /// Compression levels.
    pub levels: CompressionLevels,
}

/// Compression level per coding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompressionLevels {
    /// gzip, 1–9.
    pub gzip: u32,
    /// Brotli quality, 0–11.
    pub br: u32,
    /// zstd, 1–19.
    pub zstd: i32,
}

impl Default for CompressionLevels {
    /// Fast levels: a gateway compresses on the request path, on every answer. gzip 2,
    /// not 1: zlib-rs's (and zlib-ng's) level 1 is a quick mode whose output is about 40 %
    /// larger than zlib's level 1; its level 2 is zlib's fast algorithm, NGINX's default.
    fn default() -> Self {
        Self {
            gzip: 2,
            br: 4,
            zstd: 3,
        }
    }
}
