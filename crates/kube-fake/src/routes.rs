//! URL paths and query strings of the Kubernetes REST API.

use std::collections::BTreeMap;

/// What a path names: a collection (no `name`), an object, or an object's subresource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Target {
    pub(crate) group: String,
    pub(crate) version: String,
    pub(crate) plural: String,
    pub(crate) namespace: Option<String>,
    pub(crate) name: Option<String>,
    pub(crate) subresource: Option<String>,
}

/// Parses `/api/v1/...` and `/apis/{group}/{version}/...`.
///
/// The one ambiguity is `namespaces`: `/api/v1/namespaces/x` is the Namespace `x`, and
/// `/api/v1/namespaces/x/status` its status, while `/api/v1/namespaces/x/services` is the
/// Services in `x`. A third segment names a subresource only when it is `status` or
/// `finalize` (no resource has those plurals), and only in the core group, the one group
/// that has Namespaces.
pub(crate) fn parse_path(path: &str) -> Option<Target> {
    let segments: Vec<String> = path
        .trim_matches('/')
        .split('/')
        .map(percent_decode)
        .collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let (group, version, rest) = match segments.as_slice() {
        ["api", version, rest @ ..] => ("", *version, rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return None,
    };
    let target = |plural: &str, namespace: Option<&str>, name: Option<&str>, sub: Option<&str>| {
        Some(Target {
            group: group.to_owned(),
            version: version.to_owned(),
            plural: plural.to_owned(),
            namespace: namespace.map(str::to_owned),
            name: name.map(str::to_owned),
            subresource: sub.map(str::to_owned),
        })
    };
    match rest {
        [ns, name, sub] if *ns == "namespaces" && group.is_empty() && is_ns_subresource(sub) => {
            target("namespaces", None, Some(name), Some(sub))
        }
        [ns, namespace, plural, tail @ ..] if *ns == "namespaces" => match tail {
            [] => target(plural, Some(namespace), None, None),
            [name] => target(plural, Some(namespace), Some(name), None),
            [name, sub] => target(plural, Some(namespace), Some(name), Some(sub)),
            _ => None,
        },
        [plural] => target(plural, None, None, None),
        [plural, name] => target(plural, None, Some(name), None),
        [plural, name, sub] => target(plural, None, Some(name), Some(sub)),
        _ => None,
    }
    .filter(|t| !t.plural.is_empty() && t.name.as_deref() != Some(""))
}

fn is_ns_subresource(segment: &str) -> bool {
    matches!(segment, "status" | "finalize")
}

/// Parses a query string (`application/x-www-form-urlencoded`, as kube writes it).
pub(crate) fn parse_query(query: &str) -> BTreeMap<String, String> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (
                percent_decode(&key.replace('+', " ")),
                percent_decode(&value.replace('+', " ")),
            )
        })
        .collect()
}

/// Decodes `%XX` escapes; invalid escapes are kept as they are, invalid UTF-8 becomes U+FFFD.
fn percent_decode(input: &str) -> String {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied(),
            bytes.get(i + 2).copied(),
        ) {
            (b'%', Some(hi), Some(lo)) if hex(hi).is_some() && hex(lo).is_some() => {
                let value = hex(hi).unwrap_or(0) * 16 + hex(lo).unwrap_or(0);
                out.push(u8::try_from(value).unwrap_or(b'?'));
                i += 3;
            }
            (byte, _, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (plural, namespace, name, subresource)
    type Parsed = (String, Option<String>, Option<String>, Option<String>);

    fn t(path: &str) -> Option<Parsed> {
        parse_path(path).map(|t| (t.plural, t.namespace, t.name, t.subresource))
    }

    fn s(v: &str) -> Option<String> {
        Some(v.to_owned())
    }

    #[test]
    fn core_paths_and_the_namespaces_ambiguity() {
        assert_eq!(
            t("/api/v1/namespaces"),
            Some(("namespaces".into(), None, None, None))
        );
        assert_eq!(
            t("/api/v1/namespaces/a"),
            Some(("namespaces".into(), None, s("a"), None))
        );
        assert_eq!(
            t("/api/v1/namespaces/a/status"),
            Some(("namespaces".into(), None, s("a"), s("status")))
        );
        assert_eq!(
            t("/api/v1/namespaces/a/services"),
            Some(("services".into(), s("a"), None, None))
        );
        assert_eq!(
            t("/api/v1/namespaces/a/services/b/status"),
            Some(("services".into(), s("a"), s("b"), s("status")))
        );
        assert_eq!(
            t("/api/v1/services"),
            Some(("services".into(), None, None, None))
        );
        assert_eq!(t("/api/v1"), None);
        assert_eq!(t("/healthz"), None);
    }

    #[test]
    fn group_paths() {
        let gw = "/apis/gateway.networking.k8s.io/v1";
        assert_eq!(
            t(&format!("{gw}/gatewayclasses/c")),
            Some(("gatewayclasses".into(), None, s("c"), None))
        );
        assert_eq!(
            t(&format!("{gw}/namespaces/n/httproutes/r/status")),
            Some(("httproutes".into(), s("n"), s("r"), s("status")))
        );
        // Outside the core group a third segment after `namespaces/x` is a plural.
        assert_eq!(
            t(&format!("{gw}/namespaces/n/status")),
            Some(("status".into(), s("n"), None, None))
        );
        let target = parse_path(&format!("{gw}/gateways"));
        assert_eq!(
            target.map(|t| (t.group, t.version)),
            Some(("gateway.networking.k8s.io".into(), "v1".into()))
        );
    }

    #[test]
    fn queries_are_decoded() {
        let query = parse_query("labelSelector=app%3Dweb%2Ctier+in+%28a%29&watch=true&x");
        assert_eq!(
            query.get("labelSelector").map(String::as_str),
            Some("app=web,tier in (a)")
        );
        assert_eq!(query.get("watch").map(String::as_str), Some("true"));
        assert_eq!(query.get("x").map(String::as_str), Some(""));
    }
}
