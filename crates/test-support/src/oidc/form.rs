//! Reading the first HTML form off a page, as a browser would submit it: its action
//! (resolved against the page), method and `<input>` fields. Just enough HTML for the
//! provider's login and logout pages and a gateway's own forms.

use super::urls;

/// An HTML form as a browser would submit it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Form {
    /// Where it submits to (absolute).
    pub action: String,
    /// `get` or `post` (lower-case).
    pub method: String,
    /// Its `<input>` fields with their current values (submit buttons are not included:
    /// pass the one you "click" as an extra field to
    /// [`Browser::submit`](super::Browser::submit)).
    pub fields: Vec<(String, String)>,
}

impl Form {
    /// Parses the first form in `html`; `page_url` resolves a relative action.
    pub(super) fn parse(html: &str, page_url: &str) -> Option<Self> {
        let lower = html.to_ascii_lowercase();
        let start = lower.find("<form")?;
        let tag_end = start + lower[start..].find('>')?;
        let attrs = attributes(&html[start + 5..tag_end]);
        let end = lower[tag_end..]
            .find("</form")
            .map_or(html.len(), |i| tag_end + i);
        let get = |name: &str| {
            attrs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let action = get("action").filter(|a| !a.is_empty());
        let mut fields = Vec::new();
        let mut at = tag_end;
        while let Some(i) = lower[at..end].find("<input") {
            let open = at + i;
            let close = open + lower[open..end].find('>')?;
            let a = attributes(&html[open + 6..close]);
            let attr = |n: &str| a.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
            let kind = attr("type").unwrap_or("text").to_ascii_lowercase();
            let skipped = matches!(
                kind.as_str(),
                "submit" | "button" | "reset" | "image" | "file"
            ) || (matches!(kind.as_str(), "checkbox" | "radio")
                && attr("checked").is_none());
            if let (Some(name), false) = (attr("name"), skipped) {
                fields.push((name.to_owned(), attr("value").unwrap_or("").to_owned()));
            }
            at = close;
        }
        Some(Self {
            action: action.map_or_else(|| page_url.to_owned(), |a| urls::resolve(page_url, &a)),
            method: get("method")
                .unwrap_or_else(|| "get".into())
                .to_ascii_lowercase(),
            fields,
        })
    }
}

/// Attributes of a tag (the text between the tag name and `>`), names lower-cased and
/// values unescaped.
fn attributes(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = s.trim_start();
    while !rest.is_empty() {
        let name_end = rest
            .find(|c: char| c.is_whitespace() || c == '=' || c == '/')
            .unwrap_or(rest.len());
        let name = rest[..name_end].to_ascii_lowercase();
        rest = rest[name_end..].trim_start();
        let mut value = String::new();
        if let Some(r) = rest.strip_prefix('=') {
            let r = r.trim_start();
            let (v, after) = match r.chars().next() {
                Some(q @ ('"' | '\'')) => {
                    let end = r[1..].find(q).map_or(r.len(), |i| i + 1);
                    (&r[1..end], r.get(end + 1..).unwrap_or(""))
                }
                _ => {
                    let end = r.find(char::is_whitespace).unwrap_or(r.len());
                    (&r[..end], &r[end..])
                }
            };
            value = unescape(v);
            rest = after;
        } else if name.is_empty() {
            // A stray `/` (self-closing tag): skip it.
            rest = rest.get(1..).unwrap_or("");
        }
        if !name.is_empty() {
            out.push((name, value));
        }
        rest = rest.trim_start();
    }
    out
}

/// Undoes HTML character references in an attribute value.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let Some(end) = tail.find(';').filter(|&e| e <= 10) else {
            out.push('&');
            rest = &tail[1..];
            continue;
        };
        let entity = &tail[1..end];
        let ch = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .map(|h| u32::from_str_radix(h, 16))
                .or_else(|| entity.strip_prefix('#').map(str::parse))
                .and_then(Result::ok)
                .and_then(char::from_u32),
        };
        match ch {
            Some(c) => {
                out.push(c);
                rest = &tail[end + 1..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_first_form() {
        let html = r#"<p>x</p><FORM id="f" method="POST" action="/interaction/a&amp;b/login">
            <input type="hidden" name="xsrf" value="t&#39;k"/>
            <input type=text name=login autofocus>
            <input type="submit" name="go" value="Go">
            <input type="checkbox" name="remember">
            </form><form action="/other"><input name="no"></form>"#;
        let f = Form::parse(html, "http://127.0.0.1:9/interaction/a&b").unwrap_or_else(|| {
            panic!("no form parsed");
        });
        assert_eq!(f.action, "http://127.0.0.1:9/interaction/a&b/login");
        assert_eq!(f.method, "post");
        assert_eq!(
            f.fields,
            vec![
                ("xsrf".to_owned(), "t'k".to_owned()),
                ("login".to_owned(), String::new())
            ]
        );
    }
}
