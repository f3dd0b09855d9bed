//! Certificate selection by SNI.
//!
//! Order: an exact DNS name, then a wildcard, then the first certificate (the default,
//! also used when the client sends no SNI, e.g. because it connected by IP address).
//! A wildcard `*.example.com` covers exactly one more label: `a.example.com`, not
//! `b.a.example.com` and not `example.com` (RFC 6125 §6.4.3, as browsers do). Since a
//! wildcard spans one label, at most one wildcard name can match a given SNI, so
//! "the longest matching wildcard" is a single hash lookup of the SNI minus its first
//! label.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;
use std::sync::Arc;

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// Names (lowercase, no trailing dot) to certificate positions.
#[derive(Debug, Default)]
pub(crate) struct SniIndex {
    exact: HashMap<String, usize>,
    /// Keyed by the part after `*.`.
    wildcard: HashMap<String, usize>,
}

impl SniIndex {
    /// Builds the index from each certificate's label and names, in configuration
    /// order. When two certificates claim a name, the first keeps it (with a warning).
    pub(crate) fn build<'a>(
        certs: impl IntoIterator<Item = (&'a str, Vec<String>)>,
    ) -> (Self, Vec<String>) {
        let mut index = Self::default();
        let mut owners: Vec<&str> = Vec::new();
        let mut warnings = Vec::new();
        for (position, (label, names)) in certs.into_iter().enumerate() {
            owners.push(label);
            if names.is_empty() && position > 0 {
                warnings.push(format!(
                    "{label}: the certificate has no DNS name (no DNS SAN and no CN), \
                     so SNI never selects it"
                ));
            }
            for raw in names {
                let name = normalize(&raw);
                let (map, key) = match name.strip_prefix("*.") {
                    Some(rest) if !rest.is_empty() && !rest.contains('*') => {
                        (&mut index.wildcard, rest.to_owned())
                    }
                    _ if name.contains('*') || name.is_empty() => {
                        warnings.push(format!(
                            "{label}: name {raw:?} is not usable for SNI (only a leading \
                             \"*.\" wildcard is supported); ignored"
                        ));
                        continue;
                    }
                    _ => (&mut index.exact, name.into_owned()),
                };
                match map.entry(key) {
                    Entry::Vacant(slot) => {
                        slot.insert(position);
                    }
                    Entry::Occupied(taken) if *taken.get() != position => {
                        let first = owners.get(*taken.get()).copied().unwrap_or("?");
                        warnings.push(format!(
                            "{label}: name {raw:?} is also on {first}, which is listed \
                             first and keeps it"
                        ));
                    }
                    // The same certificate naming itself twice (e.g. CN and SAN).
                    Entry::Occupied(_) => {}
                }
            }
        }
        (index, warnings)
    }

    /// The position of the certificate for `sni`; 0 (the default) when nothing matches.
    pub(crate) fn select(&self, sni: Option<&str>) -> usize {
        let Some(sni) = sni else { return 0 };
        let name = normalize(sni);
        if let Some(&position) = self.exact.get(name.as_ref()) {
            return position;
        }
        if let Some((_, parent)) = name.split_once('.')
            && let Some(&position) = self.wildcard.get(parent)
        {
            return position;
        }
        0
    }
}

/// Lowercase without a trailing dot. rustls already lowercases the SNI, so the common
/// case borrows.
fn normalize(name: &str) -> std::borrow::Cow<'_, str> {
    let name = name.trim().strip_suffix('.').unwrap_or(name.trim());
    if name.bytes().any(|b| b.is_ascii_uppercase()) {
        std::borrow::Cow::Owned(name.to_ascii_lowercase())
    } else {
        std::borrow::Cow::Borrowed(name)
    }
}

/// rustls' hook: picks one of a listener's certificates for each handshake.
pub(crate) struct SniResolver {
    index: SniIndex,
    /// Configuration order; never empty (checked by `server_config`).
    keys: Vec<Arc<CertifiedKey>>,
    labels: Vec<String>,
}

impl SniResolver {
    pub(crate) fn new(index: SniIndex, keys: Vec<Arc<CertifiedKey>>, labels: Vec<String>) -> Self {
        Self {
            index,
            keys,
            labels,
        }
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let sni = client_hello.server_name();
        let position = self.index.select(sni);
        tracing::trace!(
            sni,
            certificate = self.labels.get(position).map(String::as_str),
            "SNI"
        );
        // `None` aborts the handshake; only possible with no certificates at all.
        self.keys
            .get(position)
            .or_else(|| self.keys.first())
            .cloned()
    }
}

impl fmt::Debug for SniResolver {
    // By hand: `CertifiedKey`'s Debug would print the chain bytes; labels say enough.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SniResolver")
            .field("certificates", &self.labels)
            .field("exact_names", &self.index.exact.len())
            .field("wildcard_names", &self.index.wildcard.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    fn index() -> SniIndex {
        let (index, warnings) = SniIndex::build([
            ("default.pem", names(&["default.test"])),
            ("wild.pem", names(&["*.example.com"])),
            ("exact.pem", names(&["Exact.Example.com", "other.test."])),
            ("deep.pem", names(&["*.a.example.com"])),
        ]);
        assert!(warnings.is_empty(), "{warnings:?}");
        index
    }

    #[test]
    fn exact_then_one_label_wildcard_then_default() {
        let index = index();
        assert_eq!(index.select(Some("exact.example.com")), 2);
        assert_eq!(index.select(Some("other.test")), 2);
        assert_eq!(index.select(Some("a.example.com")), 1);
        assert_eq!(index.select(Some("b.a.example.com")), 3);
        assert_eq!(index.select(Some("c.b.a.example.com")), 0);
        assert_eq!(index.select(Some("example.com")), 0);
        assert_eq!(index.select(Some("unknown.test")), 0);
        assert_eq!(index.select(None), 0);
    }

    #[test]
    fn matching_ignores_case_and_trailing_dot() {
        let index = index();
        assert_eq!(index.select(Some("EXACT.example.COM")), 2);
        assert_eq!(index.select(Some("exact.example.com.")), 2);
        assert_eq!(index.select(Some("Z.Example.Com")), 1);
    }

    #[test]
    fn first_certificate_keeps_a_shared_name_and_odd_names_are_reported() {
        let (index, warnings) = SniIndex::build([
            ("one.pem", names(&["shared.test"])),
            (
                "two.pem",
                names(&["SHARED.test", "foo*.test", "*.*.test", "*."]),
            ),
            ("three.pem", Vec::new()),
        ]);
        assert_eq!(index.select(Some("shared.test")), 0);
        assert_eq!(warnings.len(), 5, "{warnings:?}");
        assert!(warnings[0].contains("two.pem") && warnings[0].contains("one.pem"));
        assert!(warnings[1].contains("foo*.test"));
        assert!(warnings[4].starts_with("three.pem: the certificate has no DNS name"));
    }
}
