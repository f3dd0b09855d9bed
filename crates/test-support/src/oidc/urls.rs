//! The little URL handling the browser and login tests need: resolving a `Location` or a
//! form action against the page it came from, and form encoding and decoding. Written
//! here rather than pulling a URL crate into the test tree for a few functions.

/// `reference` (absolute, scheme-relative, absolute-path, query-only or relative) resolved
/// against the absolute URL `base`, as a browser resolves a `Location` or a form action.
pub fn resolve(base: &str, reference: &str) -> String {
    if has_scheme(reference) {
        return reference.to_owned();
    }
    let base = base.split('#').next().unwrap_or(base);
    let (scheme, rest) = base.split_once("://").unwrap_or(("http", base));
    if let Some(r) = reference.strip_prefix("//") {
        return format!("{scheme}://{r}");
    }
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let origin = format!("{scheme}://{}", &rest[..authority_end]);
    let path_and_query = &rest[authority_end..];
    let path = path_and_query.split('?').next().unwrap_or("");
    let path = if path.is_empty() { "/" } else { path };
    match reference.chars().next() {
        None => base.to_owned(),
        Some('#') => format!("{base}{reference}"),
        Some('?') => format!("{origin}{path}{reference}"),
        Some('/') => format!("{origin}{}", remove_dots(reference)),
        Some(_) => {
            let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
            format!("{origin}{}", remove_dots(&format!("{dir}{reference}")))
        }
    }
}

/// `scheme://host[:port]` of an absolute URL.
pub fn origin(url: &str) -> &str {
    let Some(i) = url.find("://") else {
        return url;
    };
    let rest = &url[i + 3..];
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    &url[..i + 3 + end]
}

/// The first value of query parameter `name` in `url`, decoded.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split('#').next()?.split_once('?')?.1;
    parse_form(query)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// `application/x-www-form-urlencoded` pairs (also a query string), decoded.
pub fn parse_form(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// Encodes pairs as `application/x-www-form-urlencoded` (also right for a query string).
pub fn form_encode(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes percent escapes and `+` (a space in form encoding).
pub fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                // `get` is None past the end, so a trailing `%` stays as it is.
                match s
                    .get(i + 1..i + 3)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn has_scheme(s: &str) -> bool {
    s.split_once(':').is_some_and(|(scheme, _)| {
        !scheme.is_empty()
            && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    })
}

/// Removes `.` and `..` segments from an absolute path (keeping any query).
fn remove_dots(path_and_query: &str) -> String {
    let (path, query) = match path_and_query.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path_and_query, None),
    };
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    for (i, seg) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        match *seg {
            "." => {
                if last {
                    out.push("");
                }
            }
            ".." => {
                out.pop();
                if last {
                    out.push("");
                }
            }
            s => out.push(s),
        }
    }
    let mut s = format!("/{}", out.join("/"));
    if let Some(q) = query {
        s.push('?');
        s.push_str(q);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_like_a_browser() {
        let base = "http://127.0.0.1:8080/a/b?x=1#f";
        assert_eq!(resolve(base, "http://h/z"), "http://h/z");
        assert_eq!(resolve(base, "//h:1/z"), "http://h:1/z");
        assert_eq!(resolve(base, "/z?q"), "http://127.0.0.1:8080/z?q");
        assert_eq!(resolve(base, "?y=2"), "http://127.0.0.1:8080/a/b?y=2");
        assert_eq!(resolve(base, "c"), "http://127.0.0.1:8080/a/c");
        assert_eq!(resolve(base, "../c"), "http://127.0.0.1:8080/c");
        assert_eq!(resolve("http://h:1", "c"), "http://h:1/c");
        assert_eq!(origin(base), "http://127.0.0.1:8080");
    }

    #[test]
    fn encodes_and_decodes_forms() {
        let enc = form_encode(&[("a b", "x&y=z/é")]);
        assert_eq!(enc, "a%20b=x%26y%3Dz%2F%C3%A9");
        assert_eq!(parse_form(&enc), vec![("a b".into(), "x&y=z/é".into())]);
        assert_eq!(
            query_param("http://h/cb?code=a+b%2B&state=s#x", "code").as_deref(),
            Some("a b+")
        );
        assert_eq!(decode("100%"), "100%");
    }
}
