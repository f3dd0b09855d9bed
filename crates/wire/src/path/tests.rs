use super::*;

fn norm(path: &str) -> Result<String, PathError> {
    normalize_path(path).map(Cow::into_owned)
}

#[test]
fn normal_paths_are_borrowed() {
    for path in [
        "/",
        "/a",
        "/a/b/",
        "/a.b/..c/.d/c..",
        "/%20x%C3%A9",
        "/a;b=c/d",
        "/~user/x-y_z",
    ] {
        assert!(
            matches!(normalize_path(path), Ok(Cow::Borrowed(p)) if p == path),
            "{path}"
        );
    }
}

#[test]
fn rewrites() {
    let cases = [
        ("//", "/"),
        ("//a//b///", "/a/b/"),
        ("/a/./b", "/a/b"),
        ("/a/.", "/a/"),
        ("/a/b/..", "/a/"),
        ("/a/b/../c", "/a/c"),
        ("/..", "/"),
        ("/../../a", "/a"),
        ("/a/../../b", "/b"),
        ("/.", "/"),
        ("/./", "/"),
        ("/%41%62%7e%2d%2E%5F", "/Ab~-._"),
        ("/%2e%2E/admin", "/admin"),
        ("/public/%2E%2E/admin", "/admin"),
        ("/a/.%2e/b", "/b"),
        ("/a/%2e/b", "/a/b"),
        ("/%c3%a9", "/%C3%A9"),
        ("/%3f%23", "/%3F%23"),
        ("/a%2e", "/a."),
        ("/a/..b/", "/a/..b/"),
        ("/a//../b", "/b"),
    ];
    for (input, want) in cases {
        assert_eq!(norm(input).as_deref(), Ok(want), "{input}");
    }
}

#[test]
fn refusals() {
    let cases = [
        ("", PathError::NotAbsolute),
        ("a/b", PathError::NotAbsolute),
        ("*", PathError::NotAbsolute),
        ("http://a/b", PathError::NotAbsolute),
        ("/a%2Fb", PathError::EncodedSlash),
        ("/a%2fb", PathError::EncodedSlash),
        ("/a%5Cb", PathError::EncodedBackslash),
        ("/a%5cb", PathError::EncodedBackslash),
        ("/a%00", PathError::EncodedNul),
        ("/a%", PathError::MalformedEscape),
        ("/a%4", PathError::MalformedEscape),
        ("/a%zz", PathError::MalformedEscape),
        ("/a%%41", PathError::MalformedEscape),
        // Found even after something that needs rewriting.
        ("//a%2F", PathError::EncodedSlash),
        ("/./%G0", PathError::MalformedEscape),
    ];
    for (input, want) in cases {
        assert_eq!(norm(input), Err(want), "{input}");
    }
}

/// A deliberately naive model: decode everything decodable to unreserved, split, stack.
fn model(path: &str) -> Result<String, PathError> {
    let mut segments: Vec<String> = Vec::new();
    let parts: Vec<&str> = path.split('/').skip(1).collect();
    let mut trailing = false;
    for part in &parts {
        let mut seg = String::new();
        decode_into(part, &mut seg)?;
        trailing = matches!(seg.as_str(), "" | "." | "..");
        match seg.as_str() {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            _ => segments.push(seg),
        }
    }
    let mut out = String::new();
    for seg in &segments {
        out.push('/');
        out.push_str(seg);
    }
    if trailing || out.is_empty() {
        out.push('/');
    }
    Ok(out)
}

/// xorshift64: a fixed sequence, so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

const PIECES: &[&str] = &[
    "/", "/", "/", ".", "..", "a", "b", "%2E", "%2e", "%41", "%7e", "%20", "%2f", "%5C", "%",
    "%G1", "%00", "%3a", "%C3", "x.y", "~", ";p", "//", "/./", "/../", "%25", "%252E",
];

#[test]
fn properties_hold_for_generated_paths() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut checked = 0;
    for _ in 0..20_000 {
        let mut path = String::from("/");
        for _ in 0..(rng.next() % 10) {
            path.push_str(PIECES[(rng.next() % PIECES.len() as u64) as usize]);
        }
        let result = normalize_path(&path);
        assert_eq!(
            result.clone().map(Cow::into_owned),
            model(&path),
            "model disagrees on {path:?}"
        );
        let Ok(once) = result else { continue };
        checked += 1;
        let twice = normalize_path(&once).expect("normal output is valid");
        assert!(
            matches!(twice, Cow::Borrowed(_)),
            "not idempotent: {path:?} -> {once:?}"
        );
        assert!(once.starts_with('/'));
        for bad in ["//", "/./", "/../"] {
            assert!(!once.contains(bad), "{path:?} -> {once:?} contains {bad}");
        }
        assert!(
            !once.ends_with("/.") && !once.ends_with("/.."),
            "{path:?} -> {once:?}"
        );
        let upper = once.to_ascii_uppercase();
        assert!(!upper.contains("%2F") && !upper.contains("%5C"), "{once:?}");
        // Decoding never creates a separator.
        assert!(
            once.matches('/').count() <= path.matches('/').count(),
            "{path:?} -> {once:?}"
        );
    }
    assert!(
        checked > 1000,
        "the generator should produce valid paths too"
    );
}
