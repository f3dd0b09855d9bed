//! The token-endpoint half of the flow: the callback that turns a code into a session,
//! the refresh that renews one, and the ID-token checks both rely on.

use std::sync::Arc;

use http::{HeaderMap, Response};
use tollgate_jwt::Verified;

use super::session::{self, Login, RefreshError, Session, now};
use super::{Caller, EXPIRY_MARGIN, OidcMethod, cookies, redirect_to, same, tokens};
use crate::body::ProxyBody;
use crate::error::ProxyError;

impl OidcMethod {
    pub(super) async fn callback(
        &self,
        headers: &HeaderMap,
        caller: &Caller<'_>,
    ) -> Result<Response<ProxyBody>, ProxyError> {
        let mut code = None;
        let mut state = None;
        let mut error = None;
        for (k, v) in form_urlencoded::parse(caller.query.unwrap_or("").as_bytes()) {
            match &*k {
                "code" => code = code.or(Some(v)),
                "state" => state = state.or(Some(v)),
                "error" => error = error.or(Some(v)),
                _ => {}
            }
        }
        let again = "; open the page again to sign in";
        let login: Login = cookies::get(headers, &self.login_cookie)
            .and_then(|v| self.open(&self.login_cookie, v))
            .filter(|l: &Login| l.expires > now())
            .ok_or_else(|| {
                ProxyError::BadRequest(format!(
                    "no login is in progress in this browser (its login cookie is missing or expired){again}"
                ))
            })?;
        if !state.is_some_and(|s| same(&s, &login.state)) {
            return Err(ProxyError::BadRequest(format!(
                "the callback's state does not match this browser's login{again}"
            )));
        }
        if let Some(e) = error {
            return Err(ProxyError::Unauthorized {
                message: format!("the identity provider ended the login with {e:?}"),
                challenges: Vec::new(),
            });
        }
        let code = code.ok_or_else(|| ProxyError::BadRequest("the callback has no code".into()))?;
        let redirect_uri = self.redirect_uri(caller)?;
        let grant = [
            ("grant_type", "authorization_code"),
            ("code", &*code),
            ("redirect_uri", &redirect_uri),
            ("code_verifier", &login.verifier),
        ];
        let tokens = self.tokens(&grant).await.map_err(|e| match e {
            RefreshError::Refused => ProxyError::Unauthorized {
                message: "the identity provider refused the authorization code".into(),
                challenges: Vec::new(),
            },
            RefreshError::Unavailable(m) => ProxyError::AuthUnavailable(m),
        })?;
        let id_token = tokens
            .id_token
            .as_deref()
            .ok_or_else(|| ProxyError::Unauthorized {
                message: "the token response has no id_token (is `openid` among the scopes?)"
                    .into(),
                challenges: Vec::new(),
            })?;
        let verified = self.verify_id_token(id_token).await?;
        let nonce = verified.claims().get("nonce").and_then(|n| n.as_str());
        if !nonce.is_some_and(|n| same(n, &login.nonce)) {
            return Err(ProxyError::Unauthorized {
                message: "the ID token's nonce is not this login's".into(),
                challenges: Vec::new(),
            });
        }
        let t = now();
        let session = self.session(Some(&verified), None, &tokens, t)?;
        let a = Self::attributes(caller);
        let value = self.seal(&self.cookie, &session)?;
        let cookies = [
            cookies::set(&self.cookie, &value, self.max_age(&session, t), a),
            cookies::clear(&self.login_cookie, a),
        ];
        tracing::info!(issuer = %session.iss, subject = %session.sub, "OIDC login");
        redirect_to(&login.return_to, cookies.into_iter().flatten().collect())
    }

    pub(super) async fn verify_id_token(&self, token: &str) -> Result<Arc<Verified>, ProxyError> {
        let verified = self.verifiers()?.0.verify(token).await.map_err(|e| {
            if e.http_status() == 503 {
                ProxyError::AuthUnavailable(e.to_string())
            } else {
                ProxyError::Unauthorized {
                    message: format!("the ID token was refused: {e}"),
                    challenges: Vec::new(),
                }
            }
        })?;
        // OIDC Core §3.1.3.7: with several audiences, `azp` must be this client.
        let several = verified
            .claims()
            .get("aud")
            .and_then(|a| a.as_array())
            .is_some_and(|a| a.len() > 1);
        let azp = verified.claims().get("azp").and_then(|a| a.as_str());
        if (several || azp.is_some()) && azp != Some(self.client_id.as_str()) {
            return Err(ProxyError::Unauthorized {
                message: "the ID token was issued to another client (azp)".into(),
                challenges: Vec::new(),
            });
        }
        Ok(verified)
    }

    async fn tokens(&self, grant: &[(&str, &str)]) -> Result<tokens::TokenResponse, RefreshError> {
        let provider = self
            .provider()
            .await
            .map_err(|e| RefreshError::Unavailable(e.to_string()))?;
        let endpoint = provider.token_endpoint.as_deref().ok_or_else(|| {
            RefreshError::Unavailable("the provider has no token_endpoint".into())
        })?;
        let client = tokens::Client {
            endpoint,
            id: &self.client_id,
            secret: &self.client_secret,
        };
        tokens::request(&client, grant).await.map_err(|e| match e {
            tokens::TokenError::Refused(why) => {
                tracing::info!(%why, "OIDC token request refused");
                RefreshError::Refused
            }
            tokens::TokenError::Unavailable(m) => RefreshError::Unavailable(m),
        })
    }

    /// A session from a token response: who from the ID token (or the session being
    /// refreshed, when the provider sends no new ID token), until when from `expires_in`.
    fn session(
        &self,
        id: Option<&Verified>,
        previous: Option<&Session>,
        tokens: &tokens::TokenResponse,
        t: u64,
    ) -> Result<Session, ProxyError> {
        let started = previous.map_or(t, |p| p.started);
        let (iss, sub, claims) = match (id, previous) {
            (Some(v), _) => {
                let claims = self
                    .claims
                    .claim_names()
                    .filter_map(|c| Some((c.to_owned(), v.claims().get(c)?.clone())))
                    .collect();
                let who = |s: Option<&str>| s.unwrap_or_default().to_owned();
                (who(v.issuer()), who(v.subject()), claims)
            }
            (None, Some(p)) => (p.iss.clone(), p.sub.clone(), p.claims.clone()),
            (None, None) => {
                return Err(ProxyError::Unauthorized {
                    message: "no ID token".into(),
                    challenges: Vec::new(),
                });
            }
        };
        let id_exp = id
            .and_then(|v| v.claims().get("exp"))
            .and_then(serde_json::Value::as_u64);
        let expires = tokens
            .expires_in
            .map(|e| t + e)
            .or(id_exp)
            .unwrap_or(t + 300)
            .min(started + self.lifetime);
        let margin = EXPIRY_MARGIN.min(expires.saturating_sub(t) / 4);
        Ok(Session {
            iss,
            sub,
            claims,
            access_token: self
                .forward_access_token
                .then(|| tokens.access_token.clone()),
            refresh_token: tokens
                .refresh_token
                .clone()
                .or_else(|| previous.and_then(|p| p.refresh_token.clone())),
            expires,
            refresh_from: expires - margin,
            started,
        })
    }

    /// The cookie lives as long as the session may (past token expiry, so it can be
    /// refreshed).
    pub(super) fn max_age(&self, s: &Session, t: u64) -> u64 {
        (s.started + self.lifetime).saturating_sub(t)
    }

    pub(super) async fn refresh(&self, session: &Session, rt: &str) -> session::Refreshed {
        let grant = [
            ("grant_type", "refresh_token"),
            ("refresh_token", rt),
            ("scope", &self.scope),
        ];
        let tokens = self.tokens(&grant).await?;
        // A new ID token must be valid and about the same user (OIDC Core §12.2).
        let id = match &tokens.id_token {
            Some(t) => {
                let v = self
                    .verify_id_token(t)
                    .await
                    .map_err(|_| RefreshError::Refused)?;
                if v.subject() != Some(session.sub.as_str()) || v.issuer() != Some(&session.iss) {
                    return Err(RefreshError::Refused);
                }
                Some(v)
            }
            None => None,
        };
        let t = now();
        let next = self
            .session(id.as_deref(), Some(session), &tokens, t)
            .map_err(|e| RefreshError::Unavailable(e.to_string()))?;
        let sealed = self
            .seal(&self.cookie, &next)
            .map_err(|e| RefreshError::Unavailable(e.to_string()))?;
        tracing::debug!(subject = %next.sub, "OIDC session refreshed");
        Ok(Arc::new((next, sealed)))
    }
}
