//! A cookie-keeping HTTP client for login tests, driven through the `curl` binary with a
//! cookie jar file (so cookie handling is curl's, a real client's, not ours). It never
//! follows a redirect by itself: every hop is a [`Page`] a test can assert on, and
//! [`Browser::follow`] and [`Browser::login`] walk the hops for the common cases.

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, bail};

use super::form::Form;
use super::urls;
use crate::process::TempDir;

/// One HTTP response.
#[derive(Debug, Clone)]
pub struct Page {
    /// The URL that was requested.
    pub url: String,
    /// Status code.
    pub status: u16,
    /// Headers as (lower-case name, value), in order, repeated ones (`set-cookie`) kept.
    pub headers: Vec<(String, String)>,
    /// The body, as text.
    pub body: String,
}

impl Page {
    /// The first value of header `name` (lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// `Location`, resolved to an absolute URL against the requested URL.
    pub fn location(&self) -> Option<String> {
        self.header("location").map(|l| urls::resolve(&self.url, l))
    }

    /// Every `Set-Cookie` value.
    pub fn set_cookies(&self) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k == "set-cookie")
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Whether this is a redirect the browser follows (301, 302, 303, 307, 308 with a
    /// `Location`).
    pub fn is_redirect(&self) -> bool {
        matches!(self.status, 301 | 302 | 303 | 307 | 308) && self.header("location").is_some()
    }

    /// The body as JSON (`Null` if it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// The first `<form>` in the body, if any.
    pub fn form(&self) -> Option<Form> {
        Form::parse(&self.body, &self.url)
    }
}

/// A cookie-keeping client. Cookies live in a jar file in a temporary directory that is
/// removed on drop.
#[derive(Debug)]
pub struct Browser {
    dir: TempDir,
    jar: PathBuf,
    requests: AtomicU64,
}

impl Browser {
    /// A browser with an empty cookie jar.
    pub fn new() -> anyhow::Result<Self> {
        let dir = TempDir::new("browser")?;
        let jar = dir.path().join("cookies.txt");
        std::fs::write(&jar, "")?;
        Ok(Self {
            dir,
            jar,
            requests: AtomicU64::new(0),
        })
    }

    /// GET `url`.
    pub fn get(&self, url: &str) -> anyhow::Result<Page> {
        self.request("GET", url, &[], None)
    }

    /// GET `url` with extra request headers.
    pub fn get_with(&self, url: &str, headers: &[(&str, &str)]) -> anyhow::Result<Page> {
        self.request("GET", url, headers, None)
    }

    /// POST `fields` form-encoded to `url`.
    pub fn post_form(&self, url: &str, fields: &[(&str, &str)]) -> anyhow::Result<Page> {
        self.post_form_with(url, &[], fields)
    }

    /// POST `fields` form-encoded to `url` with extra request headers.
    pub fn post_form_with(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        fields: &[(&str, &str)],
    ) -> anyhow::Result<Page> {
        self.request("POST", url, headers, Some(&urls::form_encode(fields)))
    }

    /// Submits `form` with its fields, where `extra` replaces fields of the same name and
    /// adds the others (e.g. `("login", "alice")`, or a button's `("logout", "yes")`).
    pub fn submit(&self, form: &Form, extra: &[(&str, &str)]) -> anyhow::Result<Page> {
        let mut fields: Vec<(&str, &str)> = form
            .fields
            .iter()
            .filter(|(k, _)| !extra.iter().any(|(e, _)| e == k))
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        fields.extend_from_slice(extra);
        if form.method == "post" {
            self.post_form(&form.action, &fields)
        } else {
            let sep = if form.action.contains('?') { '&' } else { '?' };
            self.get(&format!(
                "{}{sep}{}",
                form.action,
                urls::form_encode(&fields)
            ))
        }
    }

    /// GETs `url` and follows redirects (with GET) until a response that is not one.
    /// Returns every URL requested, `url` first, and the last response.
    pub fn follow(&self, url: &str, max_hops: usize) -> anyhow::Result<(Vec<String>, Page)> {
        self.follow_while(url, max_hops, |_| true)
    }

    /// Like [`follow`](Self::follow), but stops at a redirect whose target `keep` refuses
    /// and returns that redirect, unrequested (e.g. to read `code` off a callback URL).
    pub fn follow_while(
        &self,
        url: &str,
        max_hops: usize,
        keep: impl Fn(&str) -> bool,
    ) -> anyhow::Result<(Vec<String>, Page)> {
        let page = self.get(url)?;
        self.continue_from(vec![url.to_owned()], page, max_hops, &keep)
    }

    /// Logs `user` in: follows redirects from `start_url` (a gateway URL or an
    /// authorization URL) to the provider's login form, submits `login=user`, and
    /// follows every redirect after it. Returns the URLs requested and the last response.
    /// Fails if no login form is reached (with a provider session already there, no form
    /// is shown: use [`follow`](Self::follow)).
    pub fn login(&self, start_url: &str, user: &str) -> anyhow::Result<(Vec<String>, Page)> {
        self.login_while(start_url, user, |_| true)
    }

    /// Like [`login`](Self::login), but after the form stops at the first redirect whose
    /// target `keep` refuses (e.g. `|u| u.starts_with(issuer)` stops at the redirect to
    /// the client's callback, with its `code` and `state`).
    pub fn login_while(
        &self,
        start_url: &str,
        user: &str,
        keep: impl Fn(&str) -> bool,
    ) -> anyhow::Result<(Vec<String>, Page)> {
        let (mut visited, page) = self.follow(start_url, 20)?;
        let form = page
            .form()
            .filter(|f| f.fields.iter().any(|(k, _)| k == "login"))
            .with_context(|| {
                format!(
                    "no login form at {} (status {}): {}",
                    page.url, page.status, page.body
                )
            })?;
        visited.push(form.action.clone());
        let page = self.submit(&form, &[("login", user)])?;
        self.continue_from(visited, page, 20, &keep)
    }

    /// Every cookie in the jar as (domain, name, value).
    pub fn cookies(&self) -> anyhow::Result<Vec<(String, String, String)>> {
        let text = std::fs::read_to_string(&self.jar)?;
        Ok(text
            .lines()
            .filter_map(|line| {
                // curl marks HttpOnly cookies with this prefix on an otherwise normal line.
                let line = line.strip_prefix("#HttpOnly_").unwrap_or(line);
                if line.starts_with('#') || line.trim().is_empty() {
                    return None;
                }
                let f: Vec<&str> = line.split('\t').collect();
                let name = f.get(5)?;
                Some((
                    f[0].to_owned(),
                    (*name).to_owned(),
                    f.get(6).copied().unwrap_or("").to_owned(),
                ))
            })
            .collect())
    }

    /// The value of the first cookie named `name`, whatever its domain and path.
    pub fn cookie(&self, name: &str) -> anyhow::Result<Option<String>> {
        Ok(self
            .cookies()?
            .into_iter()
            .find(|(_, n, _)| n == name)
            .map(|(_, _, v)| v))
    }

    /// Empties the cookie jar (a fresh browser session).
    pub fn clear_cookies(&self) -> anyhow::Result<()> {
        Ok(std::fs::write(&self.jar, "")?)
    }

    fn continue_from(
        &self,
        mut visited: Vec<String>,
        mut page: Page,
        max_hops: usize,
        keep: &dyn Fn(&str) -> bool,
    ) -> anyhow::Result<(Vec<String>, Page)> {
        let mut hops = 0;
        while page.is_redirect() {
            let next = page.location().context("redirect without location")?;
            if !keep(&next) {
                break;
            }
            hops += 1;
            if hops > max_hops {
                bail!("more than {max_hops} redirects: {visited:?}");
            }
            page = self.get(&next)?;
            visited.push(next);
        }
        Ok((visited, page))
    }

    fn request(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        form: Option<&str>,
    ) -> anyhow::Result<Page> {
        let n = self.requests.fetch_add(1, Ordering::Relaxed);
        let head = self.dir.path().join(format!("{n}.head"));
        let body = self.dir.path().join(format!("{n}.body"));
        let mut cmd = Command::new("curl");
        // --globoff: URLs carry `[]{}` literally; no -L: redirects are the caller's.
        cmd.args(["-sS", "--globoff", "--max-time", "15", "-X", method])
            .arg("-c")
            .arg(&self.jar)
            .arg("-b")
            .arg(&self.jar)
            .arg("-D")
            .arg(&head)
            .arg("-o")
            .arg(&body)
            .args(["-w", "%{http_code}"]);
        // What a browser's navigation sends, so a gateway can tell it from an API call;
        // a caller's own Accept (later on the command line) replaces it.
        cmd.args(["-H", "accept: text/html,application/xhtml+xml,*/*;q=0.8"]);
        for (k, v) in headers {
            cmd.arg("-H").arg(format!("{k}: {v}"));
        }
        if let Some(form) = form {
            cmd.args(["-H", "content-type: application/x-www-form-urlencoded"])
                .arg("--data-binary")
                .arg(form);
        }
        let out = cmd.arg(url).output().context("running curl")?;
        if !out.status.success() {
            bail!(
                "curl {method} {url} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let status = String::from_utf8_lossy(&out.stdout).trim().parse()?;
        let head_text = std::fs::read_to_string(&head).unwrap_or_default();
        let body_bytes = std::fs::read(&body).unwrap_or_default();
        let _ = std::fs::remove_file(&head);
        let _ = std::fs::remove_file(&body);
        // Only the last header block counts (a `100 Continue` may come before it).
        let block = head_text
            .split("\r\n\r\n")
            .filter(|b| !b.trim().is_empty())
            .last()
            .unwrap_or("");
        let headers = block
            .lines()
            .skip(1)
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        Ok(Page {
            url: url.to_owned(),
            status,
            headers,
            body: String::from_utf8_lossy(&body_bytes).into_owned(),
        })
    }
}
