//! The `cors`, `requestSize` and `compression` blocks of a `Policy`, checked by the same
//! code as the native blocks (`crate::content`, `crate::compression`) with the problems
//! collected for the Policy's status.

use std::str::FromStr;

use tollgate_ir as ir;
use tollgate_model::crds_content as crd;
use tollgate_model::units::{ByteSize, Dur};

use crate::compression::{self, CompressionIn};
use crate::content::{self, CorsIn, plain};

/// `cors`.
pub(crate) fn cors(c: &crd::Cors, problems: &mut Vec<String>) -> ir::Cors {
    let max_age = c.max_age.as_deref().and_then(|s| match Dur::from_str(s) {
        Ok(d) => Some(d.0),
        Err(e) => {
            problems.push(format!("cors.maxAge: {e}"));
            None
        }
    });
    let input = CorsIn {
        at: (),
        allow_origins: plain(&c.allow_origins),
        allow_methods: c.allow_methods.as_deref().map(plain),
        allow_headers: plain(&c.allow_headers),
        expose_headers: plain(&c.expose_headers),
        allow_credentials: c.allow_credentials.unwrap_or(false),
        max_age,
    };
    content::check_cors(input, problems)
}

fn size(key: &str, s: &str, problems: &mut Vec<String>) -> Option<u64> {
    match ByteSize::from_str(s) {
        Ok(b) => Some(b.0),
        Err(e) => {
            problems.push(format!("{key}: {e}"));
            None
        }
    }
}

/// `requestSize`.
pub(crate) fn request_size(r: &crd::RequestSize, problems: &mut Vec<String>) -> ir::RequestSize {
    match size("requestSize.maxBody", &r.max_body, problems) {
        Some(n) => content::check_request_size((), n, problems),
        None => ir::RequestSize { max_body: 0 },
    }
}

/// `compression`.
pub(crate) fn compression(c: &crd::Compression, problems: &mut Vec<String>) -> ir::Compression {
    let min_size = c
        .min_size
        .as_deref()
        .and_then(|s| size("compression.minSize", s, problems));
    let levels = c.levels.as_ref().map_or([None, None, None], |l| {
        [l.gzip, l.br, l.zstd].map(|v| v.map(|n| ((), n)))
    });
    let input = CompressionIn {
        at: (),
        algorithms: c.algorithms.as_deref().map(plain),
        min_size,
        content_types: c.content_types.as_deref().map(plain),
        levels,
    };
    compression::check(input, problems)
}
