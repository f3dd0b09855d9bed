//! Path templates: `/users/{id}` or `/files/{name}.json`, as API-management operations
//! are written. A variable matches the non-empty rest of one segment up to the next
//! literal, never a `/`. Parsing lives here because the translator checks templates and
//! the proxy compiles them, and both must read them the same way.

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece<'t> {
    /// Text that must appear as written.
    Literal(&'t str),
    /// A variable, by name.
    Var(&'t str),
}

/// Splits a template into literals and variables, or says what is wrong with it.
///
/// Rules: it starts with `/`; a variable is `{name}` with a name of ASCII letters, digits
/// and `_` not starting with a digit; names are unique; two variables cannot touch (where
/// one would end is unknowable); a brace outside a variable is an error.
pub fn parse(template: &str) -> Result<Vec<Piece<'_>>, String> {
    if !template.starts_with('/') {
        return Err("a path template must start with `/`".to_owned());
    }
    let mut pieces = Vec::new();
    let mut rest = template;
    while !rest.is_empty() {
        match rest.find(['{', '}']) {
            None => {
                pieces.push(Piece::Literal(rest));
                break;
            }
            Some(i) if rest.as_bytes()[i] == b'}' => {
                return Err(format!(
                    "unmatched `}}` at byte {}",
                    template.len() - rest.len() + i
                ));
            }
            Some(i) => {
                if i > 0 {
                    pieces.push(Piece::Literal(&rest[..i]));
                } else if matches!(pieces.last(), Some(Piece::Var(_))) {
                    return Err(
                        "two variables touch; put a literal (such as `/` or `.`) between them"
                            .to_owned(),
                    );
                }
                let after = &rest[i + 1..];
                let end = after
                    .find('}')
                    .ok_or_else(|| "a `{` is not closed by `}`".to_owned())?;
                let name = &after[..end];
                check_name(name)?;
                if pieces.contains(&Piece::Var(name)) {
                    return Err(format!("variable {{{name}}} appears twice"));
                }
                pieces.push(Piece::Var(name));
                rest = &after[end + 1..];
            }
        }
    }
    Ok(pieces)
}

fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let ok_start = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !ok_start || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!(
            "invalid variable name {{{name}}}: use letters, digits and `_`, not starting with a digit"
        ));
    }
    Ok(())
}

/// The variables of a parsed template, in order.
pub fn vars<'t>(pieces: &[Piece<'t>]) -> Vec<&'t str> {
    pieces
        .iter()
        .filter_map(|p| match p {
            Piece::Var(v) => Some(*v),
            Piece::Literal(_) => None,
        })
        .collect()
}

/// The regular expression (unanchored) a template matches with: literals escaped, each
/// variable a named group over one segment's characters.
pub fn regex(pieces: &[Piece<'_>]) -> String {
    let mut out = String::new();
    for p in pieces {
        match p {
            Piece::Literal(l) => out.push_str(&escape(l)),
            Piece::Var(v) => {
                out.push_str("(?P<");
                out.push_str(v);
                out.push_str(">[^/]+)");
            }
        }
    }
    out
}

/// `regex::escape` without the dependency: every regex metacharacter gets a backslash.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Names used as `{name}` in a substitution text (a rewrite path, an aggregation part's
/// path), or what is wrong with its braces.
pub fn placeholders(text: &str) -> Result<Vec<&str>, String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find(['{', '}']) {
        if rest.as_bytes()[i] == b'}' {
            return Err("unmatched `}`".to_owned());
        }
        let after = &rest[i + 1..];
        let end = after
            .find('}')
            .ok_or_else(|| "a `{` is not closed by `}`".to_owned())?;
        let name = &after[..end];
        check_name(name)?;
        out.push(name);
        rest = &after[end + 1..];
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_builds_a_regex() {
        let p = parse("/api/dashboard/{user}").unwrap();
        assert_eq!(
            p,
            vec![Piece::Literal("/api/dashboard/"), Piece::Var("user")]
        );
        assert_eq!(regex(&p), "/api/dashboard/(?P<user>[^/]+)");
        let p = parse("/files/{name}.json").unwrap();
        assert_eq!(vars(&p), vec!["name"]);
        assert_eq!(regex(&p), r"/files/(?P<name>[^/]+)\.json");
        let p = parse("/a/{x}/b/{y}").unwrap();
        assert_eq!(vars(&p), vec!["x", "y"]);
    }

    #[test]
    fn refuses_bad_templates() {
        assert!(parse("users/{id}").is_err());
        assert!(parse("/users/{id").unwrap_err().contains("not closed"));
        assert!(parse("/users/id}").unwrap_err().contains("unmatched"));
        assert!(parse("/u/{1id}").unwrap_err().contains("invalid variable"));
        assert!(parse("/u/{}").is_err());
        assert!(parse("/u/{a}{b}").unwrap_err().contains("touch"));
        assert!(parse("/u/{a}/{a}").unwrap_err().contains("twice"));
    }

    #[test]
    fn finds_placeholders() {
        assert_eq!(
            placeholders("/orders?user={user}&x={id}").unwrap(),
            vec!["user", "id"]
        );
        assert!(placeholders("/x/{").is_err());
        assert!(placeholders("/x/}").is_err());
        assert!(placeholders("/x").unwrap().is_empty());
    }
}
