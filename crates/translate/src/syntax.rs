//! Checks and normal forms for the small languages inside configuration strings: HTTP
//! tokens, header values, host names, endpoints, CIDRs, paths and regular expressions.
//!
//! Each check returns the normal form or a message fragment saying what is wrong; the
//! caller adds which object it belongs to (`route "orders": ...`) and where it is.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddrV6};

use ipnet::IpNet;

/// Is `s` an HTTP token (RFC 9110 §5.6.2), the syntax of header names and methods?
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// A header name, lower-cased. HTTP/2 sends names in lower case and HTTP/1 compares them
/// case-insensitively, so the IR keeps one spelling.
pub(crate) fn header_name(s: &str) -> Result<String, String> {
    if is_token(s) {
        Ok(s.to_ascii_lowercase())
    } else {
        Err(format!(
            "{s:?} is not a valid header name (letters, digits and !#$%&'*+-.^_`|~ only)"
        ))
    }
}

/// A header value: anything but control characters (tab is allowed), which would let a
/// value end the header line early or be refused by the HTTP library at request time.
pub(crate) fn header_value(s: &str) -> Result<(), String> {
    if s.chars().any(|c| c.is_ascii_control() && c != '\t') {
        Err(format!(
            "header value {s:?} contains a control character (line breaks are not allowed)"
        ))
    } else {
        Ok(())
    }
}

/// A request method, upper-cased: methods are case-sensitive on the wire, but a
/// lower-case `get` in a config file means `GET`.
pub(crate) fn method(s: &str) -> Result<String, String> {
    if is_token(s) {
        Ok(s.to_ascii_uppercase())
    } else {
        Err(format!("{s:?} is not a valid method (e.g. GET, POST)"))
    }
}

/// A DNS name (already lower case) made of letters, digits and hyphens.
fn dns_name(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("an empty host name".to_owned());
    }
    if s.len() > 253 {
        return Err(format!("{s:?} is longer than 253 characters"));
    }
    if s.ends_with('.') {
        return Err(format!("{s:?} ends with a dot; remove it"));
    }
    for label in s.split('.') {
        let valid = (1..=63).contains(&label.len())
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !valid {
            return Err(format!(
                "{s:?} is not a valid DNS name (labels of 1-63 letters, digits and inner hyphens)"
            ));
        }
    }
    // No top-level domain is all digits, so this is a mistyped IPv4 address such as
    // `10.0.0.256`, not a name to look up.
    if s.rsplit('.')
        .next()
        .is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(format!("{s:?} is not a valid IPv4 address or DNS name"));
    }
    Ok(())
}

/// A host name without wildcards (for rewrites and redirects): an IPv4 address or a DNS
/// name, lower-cased.
pub(crate) fn hostname(s: &str) -> Result<String, String> {
    let h = s.to_ascii_lowercase();
    if h.contains(':') {
        return Err(format!(
            "{s:?}: give the host name without a port (and without a scheme)"
        ));
    }
    if h.parse::<Ipv4Addr>().is_ok() {
        return Ok(h);
    }
    dns_name(&h)?;
    Ok(h)
}

/// A route host pattern: an exact host, `*.suffix` (one leading wildcard label), or `*`
/// (any host). Lower-cased, because host names compare case-insensitively.
pub(crate) fn host_pattern(s: &str) -> Result<String, String> {
    let h = s.to_ascii_lowercase();
    if h == "*" {
        return Ok(h);
    }
    if h.contains(':') {
        return Err(format!(
            "host {s:?}: hosts are matched without the port (and without a scheme); write only the name"
        ));
    }
    let suffix = h.strip_prefix("*.").unwrap_or(&h);
    if suffix.contains('*') {
        return Err(format!(
            "host {s:?}: a wildcard may only be the whole first label, e.g. *.example.com, or `*` alone for any host"
        ));
    }
    if suffix.len() == h.len() && h.parse::<Ipv4Addr>().is_ok() {
        return Ok(h);
    }
    dns_name(suffix).map_err(|e| format!("host {e}"))?;
    Ok(h)
}

fn port(p: &str, whole: &str) -> Result<u16, String> {
    match p.parse::<u16>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!(
            "endpoint {whole:?}: port {p:?} is not a number from 1 to 65535"
        )),
    }
}

/// An upstream endpoint `host:port`, where host is an IPv4 address, a DNS name, or an
/// IPv6 address in brackets. Returns the canonical spelling (lower-case names, compressed
/// IPv6), so the same endpoint written two ways is one pool key in the proxy.
pub(crate) fn endpoint(s: &str) -> Result<String, String> {
    if s.contains("://") {
        return Err(format!(
            "endpoint {s:?}: write host:port without a scheme, e.g. 10.0.0.1:8080"
        ));
    }
    if let Some(rest) = s.strip_prefix('[') {
        let Some((ip, p)) = rest.split_once("]:") else {
            return Err(format!(
                "endpoint {s:?}: write IPv6 endpoints as [address]:port, e.g. [::1]:8080"
            ));
        };
        let ip: Ipv6Addr = ip
            .parse()
            .map_err(|_| format!("endpoint {s:?}: {ip:?} is not an IPv6 address"))?;
        return Ok(SocketAddrV6::new(ip, port(p, s)?, 0, 0).to_string());
    }
    let Some((host, p)) = s.rsplit_once(':') else {
        return Err(format!(
            "endpoint {s:?} has no port; write host:port, e.g. {s}:80"
        ));
    };
    if host.contains(':') {
        return Err(format!(
            "endpoint {s:?}: put IPv6 addresses in brackets, e.g. [{host}]:{p}"
        ));
    }
    let port = port(p, s)?;
    let host = host.to_ascii_lowercase();
    if host.parse::<Ipv4Addr>().is_err() {
        dns_name(&host).map_err(|e| format!("endpoint {s:?}: host {e}"))?;
    }
    Ok(format!("{host}:{port}"))
}

/// A trusted-proxy entry: a CIDR, or a bare address meaning just that host (/32, /128).
/// Host bits below the prefix are dropped (`10.0.0.1/8` is `10.0.0.0/8`), which is how the
/// entry is matched anyway and keeps the snapshot canonical.
pub(crate) fn cidr(s: &str) -> Result<IpNet, String> {
    if let Ok(net) = s.parse::<IpNet>() {
        return Ok(net.trunc());
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok(IpNet::from(ip));
    }
    Err(format!(
        "{s:?} is not an IP address or CIDR (e.g. 10.0.0.0/8, 192.168.1.7, fd00::/8)"
    ))
}

/// A literal request path (exact or prefix match, rewrite target).
pub(crate) fn path(p: &str) -> Result<(), String> {
    if !p.starts_with('/') {
        return Err(format!("path {p:?} must start with /"));
    }
    if let Some(c) = p.chars().find(|c| matches!(c, '?' | '#')) {
        return Err(format!(
            "path {p:?} contains {c:?}; paths never include the query or fragment (use `query:` to match parameters)"
        ));
    }
    if p.chars().any(|c| c.is_ascii_control() || c == ' ') {
        return Err(format!(
            "path {p:?} contains a space or control character; percent-encode it"
        ));
    }
    // The proxy removes dot segments before matching (RFC 3986 §5.2.4), so a condition
    // containing one could never match.
    if p.split('/').any(|seg| seg == "." || seg == "..") {
        return Err(format!(
            "path {p:?} contains a `.` or `..` segment, which never appears in a normalised request path"
        ));
    }
    Ok(())
}

/// A prefix without its trailing slash (`/orders/` is `/orders`), except `/` itself:
/// prefixes match whole segments, so the slash adds nothing and would make two spellings
/// of one route sort differently.
pub(crate) fn normalise_prefix(p: &str) -> String {
    let trimmed = p.trim_end_matches('/');
    if trimmed.is_empty() {
        "/".to_owned()
    } else {
        trimmed.to_owned()
    }
}

/// A regular expression in the `regex` crate's syntax (what the proxy compiles).
pub(crate) fn regex(re: &str) -> Result<(), String> {
    regex::Regex::new(re).map(drop).map_err(|e| {
        // Syntax errors render as several lines (the pattern, a caret, `error: why`);
        // keep the reason so the problem stays one line. The pattern is quoted with
        // backticks, not `{:?}`, which would double every backslash in it.
        let text = e.to_string();
        let why = text
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix("error: "))
            .unwrap_or(&text)
            .to_owned();
        format!("regex `{re}` does not compile: {why}")
    })
}

#[cfg(test)]
mod tests;

/// A stored password hash the proxy can verify, checked as fully as the proxy will load
/// it: an argon2 PHC string (`$argon2id$…`, `$argon2i$…`, `$argon2d$…`) that parses, or a
/// bcrypt hash in its exact layout (`$2a$`/`$2b$`/`$2y$`, cost 04–31, `$`, 53 characters
/// of `./A-Za-z0-9`). Plaintext is refused so a password never sits in a config file.
pub(crate) fn password_hash(h: &str) -> Result<(), String> {
    let argon = ["$argon2id$", "$argon2i$", "$argon2d$"];
    if argon.iter().any(|p| h.starts_with(p)) {
        // $argon2id$v=19$m=..,t=..,p=..$salt$hash
        if h.split('$').count() != 6 {
            return Err("this argon2 hash is not a complete PHC string ($argon2id$v=19$m=…,t=…,p=…$salt$hash)".into());
        }
        return argon2::PasswordHash::new(h)
            .map(drop)
            .map_err(|e| format!("not a valid argon2 hash: {e}"));
    }
    if ["$2a$", "$2b$", "$2y$"].iter().any(|p| h.starts_with(p)) {
        if h.len() != 60 {
            return Err(format!(
                "a bcrypt hash is 60 characters, this one is {}",
                h.len()
            ));
        }
        let cost_ok = h
            .get(4..6)
            .and_then(|c| c.parse::<u32>().ok())
            .is_some_and(|c| (4..=31).contains(&c));
        let body_ok = h.get(6..7) == Some("$")
            && h.get(7..).is_some_and(|b| {
                b.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'.' || c == b'/')
            });
        if cost_ok && body_ok {
            return Ok(());
        }
        return Err(
            "not a valid bcrypt hash ($2b$, a cost from 04 to 31, $, 53 characters of ./A-Za-z0-9)"
                .into(),
        );
    }
    Err("expected an argon2 (`$argon2id$…`) or bcrypt (`$2b$…`) hash, not a plaintext password; make one with `tollgate hash-password`".into())
}
