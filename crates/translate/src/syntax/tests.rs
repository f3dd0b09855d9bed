use super::*;

#[test]
fn tokens() {
    assert!(is_token("X-Request-Id"));
    assert!(is_token("PURGE"));
    assert!(!is_token(""));
    assert!(!is_token("a b"));
    assert!(!is_token("a:b"));
    assert_eq!(header_name("X-Env"), Ok("x-env".to_owned()));
    assert_eq!(method("get"), Ok("GET".to_owned()));
    assert!(header_value("a\tb").is_ok());
    assert!(header_value("a\r\nb").is_err());
}

#[test]
fn host_patterns() {
    assert_eq!(
        host_pattern("API.Example.com"),
        Ok("api.example.com".to_owned())
    );
    assert_eq!(
        host_pattern("*.example.com"),
        Ok("*.example.com".to_owned())
    );
    assert_eq!(host_pattern("*"), Ok("*".to_owned()));
    assert_eq!(host_pattern("10.0.0.1"), Ok("10.0.0.1".to_owned()));
    assert_eq!(host_pattern("localhost"), Ok("localhost".to_owned()));
    for bad in [
        "a.*.com",
        "*a.com",
        "*.",
        "api.example.com:80",
        "-a.com",
        "a-.com",
        "a..com",
        "a_b.com",
        "a.com.",
        "10.0.0.256",
        "*.10.0.0.1",
    ] {
        assert!(host_pattern(bad).is_err(), "{bad} should be refused");
    }
    assert!(host_pattern(&format!("{}.com", "a".repeat(64))).is_err());
    assert!(host_pattern(&format!("{}.com", "a".repeat(63))).is_ok());
}

#[test]
fn hostnames_have_no_wildcards() {
    assert_eq!(hostname("Example.COM"), Ok("example.com".to_owned()));
    assert!(hostname("*.example.com").is_err());
    assert!(hostname("example.com:443").is_err());
}

#[test]
fn endpoints() {
    assert_eq!(endpoint("10.0.0.1:80"), Ok("10.0.0.1:80".to_owned()));
    assert_eq!(endpoint("Svc.NS:8080"), Ok("svc.ns:8080".to_owned()));
    assert_eq!(endpoint("[::1]:80"), Ok("[::1]:80".to_owned()));
    assert_eq!(
        endpoint("[2001:DB8:0::1]:443"),
        Ok("[2001:db8::1]:443".to_owned())
    );
    for bad in [
        "10.0.0.1",
        "10.0.0.1:",
        "10.0.0.1:0",
        "10.0.0.1:65536",
        "10.0.0.1:http",
        "::1:80",
        "[::1]",
        "[::1]:0",
        "[nope]:80",
        "http://a:80",
        ":80",
        "a b:80",
    ] {
        assert!(endpoint(bad).is_err(), "{bad} should be refused");
    }
}

#[test]
fn cidrs() {
    assert_eq!(
        cidr("10.0.0.0/8").map(|n| n.to_string()),
        Ok("10.0.0.0/8".to_owned())
    );
    assert_eq!(
        cidr("10.1.2.3/8").map(|n| n.to_string()),
        Ok("10.0.0.0/8".to_owned())
    );
    assert_eq!(
        cidr("192.168.1.7").map(|n| n.to_string()),
        Ok("192.168.1.7/32".to_owned())
    );
    assert_eq!(cidr("::1").map(|n| n.to_string()), Ok("::1/128".to_owned()));
    assert!(cidr("10.0.0.0/33").is_err());
    assert!(cidr("localhost").is_err());
}

#[test]
fn paths() {
    assert!(path("/").is_ok());
    assert!(path("/orders/1").is_ok());
    assert!(path("/a.b/..c").is_ok(), "dots inside a segment are fine");
    for bad in [
        "", "orders", "/a?b=1", "/a#b", "/a b", "/a/./b", "/a/..", "/..",
    ] {
        assert!(path(bad).is_err(), "{bad:?} should be refused");
    }
}

#[test]
fn prefixes_lose_their_trailing_slash() {
    assert_eq!(normalise_prefix("/"), "/");
    assert_eq!(normalise_prefix("//"), "/");
    assert_eq!(normalise_prefix("/orders/"), "/orders");
    assert_eq!(normalise_prefix("/orders"), "/orders");
}

#[test]
fn regex_errors_are_one_line() {
    assert!(regex("^/a/[0-9]+$").is_ok());
    let e = regex("(").expect_err("unclosed group");
    assert_eq!(e, "regex `(` does not compile: unclosed group");
}
