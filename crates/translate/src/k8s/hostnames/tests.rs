use super::*;

fn v(hosts: &[&str]) -> Vec<String> {
    hosts.iter().map(|h| (*h).to_owned()).collect()
}

#[test]
fn wildcards_cover_subdomains_not_the_apex() {
    assert!(covers("*.example.com", "a.example.com"));
    assert!(covers("*.example.com", "a.b.example.com"));
    assert!(covers("*.example.com", "*.a.example.com"));
    assert!(!covers("*.example.com", "example.com"));
    assert!(!covers("a.example.com", "*.example.com"));
    assert!(covers("*", "*.example.com"));
}

#[test]
fn intersection_keeps_the_narrower_side() {
    assert_eq!(intersect(None, &[]), v(&["*"]));
    assert_eq!(intersect(Some("a.com"), &[]), v(&["a.com"]));
    assert_eq!(
        intersect(
            Some("*.wildcard.io"),
            &v(&["wildcard.io", "foo.wildcard.io"])
        ),
        v(&["foo.wildcard.io"])
    );
    assert_eq!(
        intersect(Some("very.specific.com"), &v(&["*.specific.com"])),
        v(&["very.specific.com"])
    );
    assert!(intersect(Some("a.com"), &v(&["b.com"])).is_empty());
}

#[test]
fn exact_before_wildcard_before_any() {
    let mut hosts = vec!["*", "*.a.com", "x.a.com", "*.b.a.com", "long.x.a.com"];
    hosts.sort_by_key(|h| HostRank::of(h));
    assert_eq!(
        hosts,
        vec!["long.x.a.com", "x.a.com", "*.b.a.com", "*.a.com", "*"]
    );
}
