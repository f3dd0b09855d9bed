//! Variables captured by a path template route, and the texts they fill (rewrite paths,
//! aggregation part paths). The translator checked that every `{name}` in such a text is
//! a variable of the route's template.

use regex::Regex;

/// The variables of one matched path.
pub(crate) struct Captures<'p>(regex::Captures<'p>);

impl<'p> Captures<'p> {
    /// Runs the template's regex over `path`; `None` when it does not match.
    pub(crate) fn of(re: &Regex, path: &'p str) -> Option<Self> {
        re.captures(path).map(Self)
    }

    /// The text captured for `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&'p str> {
        self.0.name(name).map(|m| m.as_str())
    }

    /// `text` with each `{name}` replaced by its captured value. A value is one path
    /// segment as the client sent it (already percent-encoded where it had to be); after
    /// a `?` it is a query value, so the characters that would end or split one (`&`,
    /// `=`, `+`, `#`, and anything outside the URI's characters) are percent-encoded.
    pub(crate) fn fill(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len() + 16);
        let mut rest = text;
        let mut in_query = false;
        while let Some(open) = rest.find('{') {
            let (before, after) = rest.split_at(open);
            in_query |= before.contains('?');
            out.push_str(before);
            let Some(close) = after.find('}') else {
                out.push_str(after);
                return out;
            };
            let value = self.get(&after[1..close]).unwrap_or("");
            if in_query {
                encode_query_value(value, &mut out);
            } else {
                out.push_str(value);
            }
            rest = &after[close + 1..];
        }
        out.push_str(rest);
        out
    }
}

fn encode_query_value(v: &str, out: &mut String) {
    for b in v.bytes() {
        let keep = b.is_ascii_alphanumeric() || b"-._~%!$'()*,;:@/".contains(&b);
        if keep {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(b"0123456789ABCDEF"[usize::from(b >> 4)]));
            out.push(char::from(b"0123456789ABCDEF"[usize::from(b & 15)]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn re(t: &str) -> Regex {
        let pieces = tollgate_ir::template::parse(t).unwrap();
        Regex::new(&format!("^(?:{})$", tollgate_ir::template::regex(&pieces))).unwrap()
    }

    #[test]
    fn fills_path_and_query_values() {
        let r = re("/api/dashboard/{user}");
        let c = Captures::of(&r, "/api/dashboard/a&b=c").unwrap();
        assert_eq!(c.get("user"), Some("a&b=c"));
        assert_eq!(c.fill("/users/{user}"), "/users/a&b=c");
        assert_eq!(
            c.fill("/orders?user={user}&x=1"),
            "/orders?user=a%26b%3Dc&x=1"
        );
        assert!(Captures::of(&r, "/api/dashboard/a/b").is_none());
        assert!(Captures::of(&r, "/api/dashboard/").is_none());
    }

    #[test]
    fn keeps_percent_escapes_and_literal_text() {
        let r = re("/f/{name}.json");
        let c = Captures::of(&r, "/f/r%C3%A9sum%C3%A9.json").unwrap();
        assert_eq!(c.fill("/files/{name}"), "/files/r%C3%A9sum%C3%A9");
        assert_eq!(c.fill("/q?n={name}"), "/q?n=r%C3%A9sum%C3%A9");
        assert_eq!(c.fill("/plain"), "/plain");
    }
}
