//! `static` routes: files served by the gateway from a directory (issue 9).
//!
//! The route's path prefix is stripped and the rest names a file under the root; a
//! directory serves its index file, never a listing. GET and HEAD only. Answers carry
//! `ETag`, `Last-Modified` and `Accept-Ranges`; `If-None-Match` / `If-Modified-Since`
//! give 304 and a single `Range: bytes=` gives 206 (416 outside the file). Files are read
//! as the client takes them.
//!
//! Nothing outside the root is served: the request path is already normalised (no `.`
//! or `..` segments, no encoded `/`, `\` or NUL), and this module checks again on the
//! decoded segments, then canonicalises the file and requires it to be under the
//! canonical root, so a symlink pointing outside is refused too.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header};
use tokio::io::AsyncSeekExt as _;
use tollgate_ir as ir;

use crate::body::ProxyBody;
use crate::error::ProxyError;

const ALLOW: &str = "GET, HEAD";

/// Answers a request on a `static` route. `prefix` is the route's matched prefix
/// (without a trailing `/`), `path` the normalised request path.
pub(crate) async fn serve(
    sf: &ir::StaticFiles,
    prefix: Option<&str>,
    path: &str,
    method: &Method,
    req: &HeaderMap,
) -> Result<Response<ProxyBody>, ProxyError> {
    if *method != Method::GET && *method != Method::HEAD {
        return Err(ProxyError::MethodNotAllowed(ALLOW));
    }
    let rest = path.strip_prefix(prefix.unwrap_or("")).unwrap_or(path);
    let rel = relative_path(rest)
        .ok_or_else(|| ProxyError::BadRequest("invalid file path".to_owned()))?;
    let (file, meta) = open(Path::new(&sf.root), &rel, &sf.index)
        .await
        .ok_or_else(not_found)?;
    let len = meta.len();
    let modified = meta.modified().ok();
    let etag = etag(len, modified);
    let last_modified = modified.map(httpdate::fmt_http_date);

    let mut res = Response::new(ProxyBody::empty());
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    if let Some(v) = last_modified.and_then(|d| HeaderValue::from_str(&d).ok()) {
        h.insert(header::LAST_MODIFIED, v);
    }
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if not_modified(req, &etag, modified) {
        *res.status_mut() = StatusCode::NOT_MODIFIED;
        return Ok(res);
    }
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(&rel, &sf.index)),
    );

    let range = match req.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        Some(r) if if_range_holds(req, &etag) => parse_range(r, len),
        _ => None,
    };
    let (start, count) = match range {
        None => (0, len),
        Some(Err(())) => return Err(ProxyError::RangeNotSatisfiable(len)),
        Some(Ok((first, last))) => {
            *res.status_mut() = StatusCode::PARTIAL_CONTENT;
            if let Ok(v) = HeaderValue::from_str(&format!("bytes {first}-{last}/{len}")) {
                res.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            (first, last - first + 1)
        }
    };
    res.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(count));
    if *method == Method::GET && count > 0 {
        let mut file = file;
        if start > 0 {
            file.seek(std::io::SeekFrom::Start(start))
                .await
                .map_err(|_| not_found())?;
        }
        *res.body_mut() = ProxyBody::file(file, count);
    }
    Ok(res)
}

fn not_found() -> ProxyError {
    ProxyError::Direct(404, "file not found".to_owned())
}

/// The path under the root named by `rest` (what follows the route's prefix), from its
/// percent-decoded segments. `None` when a segment is `.` or `..` or decodes to
/// something with `/`, `\` or NUL in it, or has a malformed escape.
fn relative_path(rest: &str) -> Option<PathBuf> {
    if !rest.is_empty() && !rest.starts_with('/') {
        return None;
    }
    let mut out = PathBuf::new();
    for segment in rest.split('/').filter(|s| !s.is_empty()) {
        let bytes = percent_decode(segment)?;
        if bytes == b"." || bytes == b".." || bytes.iter().any(|b| matches!(b, b'/' | b'\\' | 0)) {
            return None;
        }
        out.push(OsStr::from_bytes(&bytes));
    }
    Some(out)
}

fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

/// Opens the file `rel` names under `root` (its index when it is a directory), if it is a
/// regular file whose real path is under the real root.
async fn open(
    root: &Path,
    rel: &Path,
    index: &str,
) -> Option<(tokio::fs::File, std::fs::Metadata)> {
    let root = tokio::fs::canonicalize(root).await.ok()?;
    let mut path = tokio::fs::canonicalize(root.join(rel)).await.ok()?;
    if !path.starts_with(&root) {
        return None;
    }
    if tokio::fs::metadata(&path).await.ok()?.is_dir() {
        path = tokio::fs::canonicalize(path.join(index)).await.ok()?;
        if !path.starts_with(&root) {
            return None;
        }
    }
    let file = tokio::fs::File::open(&path).await.ok()?;
    let meta = file.metadata().await.ok()?;
    meta.is_file().then_some((file, meta))
}

/// A strong validator from the size and modification time.
fn etag(len: u64, modified: Option<SystemTime>) -> String {
    let nanos = modified
        .and_then(|m| m.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    format!("\"{len:x}-{nanos:x}\"")
}

/// Whether a conditional GET is answered 304: `If-None-Match` lists the tag (or is `*`);
/// without it, `If-Modified-Since` is not before the file's time (whole seconds).
fn not_modified(req: &HeaderMap, etag: &str, modified: Option<SystemTime>) -> bool {
    if let Some(inm) = req.get(header::IF_NONE_MATCH) {
        let Ok(inm) = inm.to_str() else {
            return false;
        };
        return inm
            .split(',')
            .map(str::trim)
            .any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t) == etag);
    }
    let since = req
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok());
    match (since, modified) {
        (Some(since), Some(m)) => {
            let secs = |t: SystemTime| t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
            secs(m) <= secs(since)
        }
        _ => false,
    }
}

/// `If-Range`: the range applies only while the client's tag is current. A date (or any
/// other value) is not compared: the whole file is sent, which is always correct.
fn if_range_holds(req: &HeaderMap, etag: &str) -> bool {
    match req.get(header::IF_RANGE).map(HeaderValue::to_str) {
        None => true,
        Some(Ok(v)) => v == etag,
        Some(Err(_)) => false,
    }
}

/// One `bytes=` range over a file of `len` bytes: `None` to ignore the header (not
/// bytes, malformed or several ranges: the whole file is sent), `Some(Err(()))` when it
/// is unsatisfiable, otherwise the first and last byte (inclusive).
fn parse_range(h: &str, len: u64) -> Option<Result<(u64, u64), ()>> {
    let spec = h.trim().strip_prefix("bytes=")?.trim();
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (a, b) = (a.trim(), b.trim());
    let num = |s: &str| -> Option<u64> {
        if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
            None
        } else {
            s.parse().ok()
        }
    };
    if a.is_empty() {
        // The last `n` bytes.
        let n = num(b)?;
        if n == 0 || len == 0 {
            return Some(Err(()));
        }
        return Some(Ok((len.saturating_sub(n), len - 1)));
    }
    let first = num(a)?;
    let last = if b.is_empty() { None } else { Some(num(b)?) };
    if last.is_some_and(|l| l < first) {
        return None;
    }
    if first >= len {
        return Some(Err(()));
    }
    Some(Ok((first, last.map_or(len - 1, |l| l.min(len - 1)))))
}

/// The media type of a file from its extension (the index's, for a directory).
fn content_type(rel: &Path, index: &str) -> &'static str {
    let name = rel.file_name().map_or(index.as_bytes(), OsStr::as_bytes);
    let ext = name
        .iter()
        .rposition(|&b| b == b'.')
        .map_or(&[][..], |i| &name[i + 1..]);
    by_extension(&ext.to_ascii_lowercase())
}

fn by_extension(ext: &[u8]) -> &'static str {
    match ext {
        b"html" | b"htm" => "text/html; charset=utf-8",
        b"css" => "text/css; charset=utf-8",
        b"js" | b"mjs" => "text/javascript; charset=utf-8",
        b"json" | b"map" => "application/json",
        b"svg" => "image/svg+xml",
        b"png" => "image/png",
        b"jpg" | b"jpeg" => "image/jpeg",
        b"gif" => "image/gif",
        b"webp" => "image/webp",
        b"ico" => "image/x-icon",
        b"txt" => "text/plain; charset=utf-8",
        b"xml" => "application/xml",
        b"pdf" => "application/pdf",
        b"wasm" => "application/wasm",
        b"woff" => "font/woff",
        b"woff2" => "font/woff2",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-4", 10), Some(Ok((0, 4))));
        assert_eq!(parse_range("bytes=5-", 10), Some(Ok((5, 9))));
        assert_eq!(parse_range("bytes=-3", 10), Some(Ok((7, 9))));
        assert_eq!(parse_range("bytes=-30", 10), Some(Ok((0, 9))));
        assert_eq!(parse_range("bytes=8-100", 10), Some(Ok((8, 9))));
        assert_eq!(parse_range("bytes=10-", 10), Some(Err(())));
        assert_eq!(parse_range("bytes=10-20", 10), Some(Err(())));
        assert_eq!(parse_range("bytes=-0", 10), Some(Err(())));
        assert_eq!(parse_range("bytes=0-", 0), Some(Err(())));
        // Ignored: the whole file is sent.
        assert_eq!(parse_range("bytes=0-1,3-4", 10), None);
        assert_eq!(parse_range("items=0-1", 10), None);
        assert_eq!(parse_range("bytes=5-2", 10), None);
        assert_eq!(parse_range("bytes=a-2", 10), None);
        assert_eq!(parse_range("bytes=+1-2", 10), None);
        assert_eq!(parse_range("bytes=-", 10), None);
    }

    #[test]
    fn content_types() {
        let ct = |p: &str| content_type(Path::new(p), "index.html");
        assert_eq!(ct("a/b.HTML"), "text/html; charset=utf-8");
        assert_eq!(ct("app.mjs"), "text/javascript; charset=utf-8");
        assert_eq!(ct("app.js.map"), "application/json");
        assert_eq!(ct("f.woff2"), "font/woff2");
        assert_eq!(ct("logo.svg"), "image/svg+xml");
        assert_eq!(ct("x.jpeg"), "image/jpeg");
        assert_eq!(ct("m.wasm"), "application/wasm");
        assert_eq!(ct("README"), "application/octet-stream");
        assert_eq!(ct("archive.tar.gz"), "application/octet-stream");
        // A directory serves its index.
        assert_eq!(ct(""), "text/html; charset=utf-8");
    }

    #[test]
    fn paths_stay_under_the_root() {
        let rel = |p: &str| relative_path(p).map(|p| p.to_string_lossy().into_owned());
        assert_eq!(rel(""), Some(String::new()));
        assert_eq!(rel("/"), Some(String::new()));
        assert_eq!(rel("/a/b.html"), Some("a/b.html".to_owned()));
        assert_eq!(rel("//a//b"), Some("a/b".to_owned()));
        assert_eq!(rel("/my%20file.txt"), Some("my file.txt".to_owned()));
        assert_eq!(rel("/../secret"), None);
        assert_eq!(rel("/a/%2e%2e/secret"), None);
        assert_eq!(rel("/./a"), None);
        assert_eq!(rel("/..%2fsecret"), None);
        assert_eq!(rel("/a%5c..%5csecret"), None);
        assert_eq!(rel("/a%00b"), None);
        assert_eq!(rel("/a%zz"), None);
        assert_eq!(rel("/a%2"), None);
        assert_eq!(rel("x"), None, "a prefix that matched mid-segment");
    }

    #[test]
    fn etags_and_conditions() {
        let t = UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        let tag = etag(10, Some(t));
        let mut h = HeaderMap::new();
        assert!(!not_modified(&h, &tag, Some(t)));
        h.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_str(&format!("\"x\", W/{tag}")).unwrap(),
        );
        assert!(not_modified(&h, &tag, Some(t)));
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"other\""));
        assert!(
            !not_modified(&h, &tag, Some(t)),
            "a tag that differs wins over a date"
        );
        let mut h = HeaderMap::new();
        let date = httpdate::fmt_http_date(t);
        h.insert(
            header::IF_MODIFIED_SINCE,
            HeaderValue::from_str(&date).unwrap(),
        );
        assert!(not_modified(&h, &tag, Some(t)));
        let later = t + std::time::Duration::from_secs(1);
        assert!(!not_modified(&h, &etag(10, Some(later)), Some(later)));
    }

    #[tokio::test]
    async fn symlinks_out_of_the_root_are_refused() {
        let dir = std::env::temp_dir().join(format!("tollgate-static-{}", std::process::id()));
        let root = dir.join("root");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(dir.join("secret.txt"), "secret").unwrap();
        std::fs::write(root.join("sub/index.html"), "hi").unwrap();
        std::os::unix::fs::symlink(dir.join("secret.txt"), root.join("link.txt")).unwrap();
        std::os::unix::fs::symlink(root.join("sub/index.html"), root.join("inside.html")).unwrap();
        assert!(
            open(&root, Path::new("link.txt"), "index.html")
                .await
                .is_none()
        );
        assert!(
            open(&root, Path::new("inside.html"), "index.html")
                .await
                .is_some()
        );
        assert!(open(&root, Path::new("sub"), "index.html").await.is_some());
        assert!(
            open(&root, Path::new(""), "index.html").await.is_none(),
            "no index"
        );
        assert!(
            open(&root, Path::new("missing"), "index.html")
                .await
                .is_none()
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
