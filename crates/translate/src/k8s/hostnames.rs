//! Host patterns as Gateway API uses them: exact names, `*.suffix` wildcards (one or more
//! leading labels) and `*` for any host. All lower case.

use std::cmp::Reverse;

/// Does `pattern` match every host that `host` matches? (`*.example.com` covers
/// `a.example.com` and `*.a.example.com`; `*` covers everything; a pattern covers itself.)
pub(crate) fn covers(pattern: &str, host: &str) -> bool {
    if pattern == "*" || pattern == host {
        return true;
    }
    match pattern.strip_prefix('*') {
        // `host` is longer than the suffix, so at least one label stands for the `*`.
        Some(suffix) => host.len() > suffix.len() && host.ends_with(suffix) && host != "*",
        None => false,
    }
}

/// The hostnames a route serves on a listener: the intersection of the listener's
/// hostname (`None`: any) with the route's (empty: any). Where one side is a wildcard
/// covering the other, the narrower wins. Empty when they do not intersect.
pub(crate) fn intersect(listener: Option<&str>, route: &[String]) -> Vec<String> {
    let listener = listener.unwrap_or("*");
    if route.is_empty() {
        return vec![listener.to_owned()];
    }
    let mut out: Vec<String> = Vec::new();
    for r in route {
        let h = if covers(listener, r) {
            r.as_str()
        } else if covers(r, listener) {
            listener
        } else {
            continue;
        };
        if !out.iter().any(|o| o == h) {
            out.push(h.to_owned());
        }
    }
    out
}

/// Sort key of a host pattern, most specific first: exact names (longer first), then
/// wildcards (longer suffix first), then `*`. Gateway API gives precedence to the route
/// with "the largest number of characters in a matching non-wildcard hostname", then in
/// a matching hostname.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct HostRank {
    exact: Reverse<usize>,
    any: Reverse<usize>,
}

impl HostRank {
    pub(crate) fn of(host: &str) -> Self {
        let wildcard = host.starts_with('*');
        Self {
            exact: Reverse(if wildcard { 0 } else { host.len() }),
            any: Reverse(if host == "*" { 0 } else { host.len() }),
        }
    }
}

#[cfg(test)]
mod tests;
