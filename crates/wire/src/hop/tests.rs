use super::*;

fn map(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in pairs {
        headers.append(*name, HeaderValue::from_static(value));
    }
    headers
}

fn names(headers: &HeaderMap) -> Vec<&str> {
    let mut names: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
    names.sort_unstable();
    names
}

#[test]
fn removes_the_fixed_set() {
    let mut headers = map(&[
        ("connection", "keep-alive"),
        ("keep-alive", "timeout=5"),
        ("proxy-connection", "keep-alive"),
        ("te", "gzip"),
        ("trailer", "x-sum"),
        ("transfer-encoding", "chunked"),
        ("upgrade", "websocket"),
        ("host", "a"),
        ("x-end-to-end", "1"),
    ]);
    let found = strip_hop_by_hop(&mut headers);
    assert_eq!(names(&headers), ["host", "x-end-to-end"]);
    assert_eq!(
        found,
        HopByHop::default(),
        "no upgrade without Connection: upgrade"
    );
}

#[test]
fn removes_headers_named_in_connection() {
    let mut headers = map(&[
        ("connection", " X-Foo ,, close,x-bar\t"),
        ("connection", "X-Baz"),
        ("x-foo", "1"),
        ("x-bar", "2"),
        ("x-bar", "3"),
        ("x-baz", "4"),
        ("x-keep", "5"),
    ]);
    strip_hop_by_hop(&mut headers);
    assert_eq!(names(&headers), ["x-keep"]);
}

#[test]
fn invalid_tokens_in_connection_are_ignored() {
    let mut headers = map(&[("connection", "bad name, x-a"), ("x-a", "1"), ("x-b", "2")]);
    strip_hop_by_hop(&mut headers);
    assert_eq!(names(&headers), ["x-b"]);
}

#[test]
fn reports_te_trailers_and_upgrade() {
    let mut headers = map(&[
        ("te", "deflate;q=0.5, Trailers"),
        ("connection", "Upgrade, TE"),
        ("upgrade", "websocket"),
    ]);
    let found = strip_hop_by_hop(&mut headers);
    assert!(headers.is_empty());
    assert_eq!(
        found,
        HopByHop {
            te_trailers: true,
            upgrade: Some(HeaderValue::from_static("websocket")),
        }
    );

    let mut no_trailers = map(&[("te", "trailersx, gzip")]);
    assert!(!strip_hop_by_hop(&mut no_trailers).te_trailers);
}

#[test]
fn empty_map_is_untouched() {
    let mut headers = HeaderMap::new();
    assert_eq!(strip_hop_by_hop(&mut headers), HopByHop::default());
}
