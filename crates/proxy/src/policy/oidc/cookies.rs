//! The few cookie operations the OIDC policy needs: read one cookie, remove the gateway's
//! cookies before the request goes upstream, and write `Set-Cookie` values.

use http::{HeaderMap, HeaderValue, header};

/// The value of cookie `name` in the request (`Cookie` may be split over several header
/// fields in HTTP/2). The first one wins, as browsers send the most specific path first.
pub(crate) fn get<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (n, v) = pair.trim().split_once('=')?;
            (n == name).then(|| v.trim_matches('"'))
        })
}

/// Removes the cookies in `names` from the request: they are the gateway's, and a sealed
/// session is not the upstream's business. Other cookies pass untouched.
pub(crate) fn strip(headers: &mut HeaderMap, names: &[&str]) {
    if !headers.contains_key(header::COOKIE) {
        return;
    }
    let ours = |pair: &str| {
        pair.trim()
            .split_once('=')
            .is_some_and(|(n, _)| names.contains(&n))
    };
    let values: Vec<HeaderValue> = headers.get_all(header::COOKIE).iter().cloned().collect();
    if !values
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(';').any(ours))
    {
        return;
    }
    headers.remove(header::COOKIE);
    for v in values {
        let Ok(text) = v.to_str() else {
            headers.append(header::COOKIE, v);
            continue;
        };
        let kept: Vec<&str> = text
            .split(';')
            .filter(|p| !ours(p) && !p.trim().is_empty())
            .map(str::trim)
            .collect();
        if !kept.is_empty()
            && let Ok(v) = HeaderValue::from_str(&kept.join("; "))
        {
            headers.append(header::COOKIE, v);
        }
    }
}

/// Attributes every gateway cookie carries.
#[derive(Clone, Copy)]
pub(crate) struct Attributes {
    /// Add `Secure` (the listener is HTTPS).
    pub(crate) secure: bool,
}

/// `Set-Cookie` for `name=value`, living `max_age` seconds. `HttpOnly` (scripts never see
/// a session), `SameSite=Lax` (sent on the top-level redirect back from the provider,
/// not on cross-site subrequests), `Path=/` (one login covers every route of the policy).
pub(crate) fn set(name: &str, value: &str, max_age: u64, a: Attributes) -> Option<HeaderValue> {
    let secure = if a.secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}"
    ))
    .ok()
}

/// `Set-Cookie` that deletes `name`.
pub(crate) fn clear(name: &str, a: Attributes) -> Option<HeaderValue> {
    set(name, "", 0, a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(header::COOKIE, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn reads_a_cookie_from_any_cookie_field() {
        let h = headers(&["a=1; sess=abc", "b=2"]);
        assert_eq!(get(&h, "sess"), Some("abc"));
        assert_eq!(get(&h, "b"), Some("2"));
        assert_eq!(get(&h, "ses"), None);
        assert_eq!(get(&headers(&["x=\"q\""]), "x"), Some("q"));
    }

    #[test]
    fn strips_only_the_gateway_cookies() {
        let mut h = headers(&["a=1; sess=abc; sess_login=z", "b=2"]);
        strip(&mut h, &["sess", "sess_login"]);
        let left: Vec<_> = h.get_all(header::COOKIE).iter().collect();
        assert_eq!(left, ["a=1", "b=2"]);
        let mut h = headers(&["sess=abc"]);
        strip(&mut h, &["sess"]);
        assert!(!h.contains_key(header::COOKIE));
        let mut h = headers(&["a=1"]);
        strip(&mut h, &["sess"]);
        assert_eq!(h.get(header::COOKIE).unwrap(), "a=1");
    }

    #[test]
    fn writes_cookie_attributes() {
        let v = set("s", "v", 60, Attributes { secure: true }).unwrap();
        assert_eq!(v, "s=v; Path=/; Max-Age=60; HttpOnly; SameSite=Lax; Secure");
        let v = clear("s", Attributes { secure: false }).unwrap();
        assert_eq!(v, "s=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax");
    }
}
