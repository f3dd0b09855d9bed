//! The access phase: IP filter, authentication, authorization, in that order.
//!
//! A route with policies gets a compiled [`RouteAccess`]; a route without any pays
//! nothing (one `Option` check). Authentication methods are tried cheapest first (mTLS,
//! API key, JWT, then basic, whose hash is slow): the first method whose credential is
//! present *and* valid admits the request, so one API can take keys and tokens alike.
//! With no credential at all the answer is 401 with a challenge for every method; with
//! credentials that all fail, 401 with the first failure.

mod basic;
mod consumers;
pub(crate) mod cors;
mod ext_auth;
mod jwt;
mod oidc;

use std::net::IpAddr;
use std::sync::Arc;

use http::{HeaderMap, HeaderName, HeaderValue, header};
use ipnet::IpNet;
use tollgate_ir as ir;

pub(crate) use basic::PasswordChecks;
pub(crate) use consumers::{ConsumerInfo, Consumers};
pub(crate) use jwt::Verifiers;

use crate::error::ProxyError;

/// `x-consumer`: the authenticated consumer's name, for the upstream.
pub(crate) static X_CONSUMER: HeaderName = HeaderName::from_static("x-consumer");
/// `x-consumer-groups`: its groups, comma-separated.
pub(crate) static X_CONSUMER_GROUPS: HeaderName = HeaderName::from_static("x-consumer-groups");

/// A route's compiled policies.
pub(crate) struct RouteAccess {
    ip: Option<IpRules>,
    key: Option<KeyMethod>,
    basic: Option<String>,
    jwt: Option<jwt::JwtMethod>,
    oidc: Option<Arc<oidc::OidcMethod>>,
    mtls: bool,
    acl: Option<ir::Acl>,
    ext: Option<ext_auth::ExtAuth>,
    /// Headers only the gateway may set upstream: removed from every request first.
    reserved: Vec<HeaderName>,
    /// `WWW-Authenticate` values for a request that brought no credential.
    challenges: Vec<HeaderValue>,
}

struct IpRules {
    allow: Vec<IpNet>,
    deny: Vec<IpNet>,
}

struct KeyMethod {
    header: Option<HeaderName>,
    query: Option<String>,
}

/// What the access phase found out about an admitted request.
#[derive(Default)]
pub(crate) struct Admitted {
    /// The authenticated consumer, when the method maps to one.
    pub(crate) consumer: Option<Arc<ConsumerInfo>>,
    /// A query parameter carrying the API key, to be removed before forwarding.
    pub(crate) strip_query: Option<String>,
    /// The access phase's own answer (an OIDC login redirect, callback or logout): sent
    /// instead of running the route.
    pub(crate) answer: Option<http::Response<crate::body::ProxyBody>>,
    /// A `Set-Cookie` for the response (a refreshed OIDC session).
    pub(crate) set_cookie: Option<HeaderValue>,
}

/// What a check needs from the runtime and the process.
pub(crate) struct AccessCx<'a> {
    pub(crate) consumers: &'a Consumers,
    pub(crate) passwords: &'a PasswordChecks,
}

/// The request facts the access phase reads.
pub(crate) struct Caller<'a> {
    pub(crate) ip: IpAddr,
    pub(crate) query: Option<&'a str>,
    /// The normalized request path (OIDC callback and logout paths).
    pub(crate) path: &'a str,
    /// The verified client-certificate subject, on mTLS listeners.
    pub(crate) subject: Option<&'a str>,
    /// Method, target, host and scheme, for `ext_auth`.
    pub(crate) method: &'a http::Method,
    pub(crate) target: &'a str,
    pub(crate) host: Option<&'a HeaderValue>,
    pub(crate) scheme: &'static str,
}

/// Compiles route policies; carries JWT verifiers and local limiters from the previous
/// runtime to the next.
pub(crate) struct PolicyCompiler<'a> {
    previous: Option<&'a Verifiers>,
    /// Verifiers in use by the runtime being compiled.
    pub(crate) verifiers: Verifiers,
    /// Rate limits and quotas.
    pub(crate) limits: crate::limits::LimitCompiler<'a>,
    /// OIDC policies by their whole configuration: routes with the same block (the
    /// callback and logout routes the translator adds among them) share one, and so its
    /// opened sessions and its one refresh per refresh token.
    oidc: std::collections::HashMap<String, Arc<oidc::OidcMethod>>,
    start_tasks: bool,
    /// The response-cache stores routes with `cache` use (set by the runtime compiler).
    pub(crate) cache: crate::cache::Stores,
}

impl<'a> PolicyCompiler<'a> {
    /// `start_tasks` is false where no tokio runtime may start JWKS fetches
    /// (`tollgate validate`, benches).
    pub(crate) fn new(
        previous: Option<(&'a Verifiers, &'a crate::limits::Limiters)>,
        metrics: &'a crate::metrics::Metrics,
        start_tasks: bool,
    ) -> Self {
        Self {
            previous: previous.map(|p| p.0),
            verifiers: Verifiers::new(),
            limits: crate::limits::LimitCompiler::new(previous.map(|p| p.1), metrics),
            oidc: std::collections::HashMap::new(),
            start_tasks,
            cache: crate::cache::Stores::carry(None, tollgate_ir::DEFAULT_CACHE_MEMORY, None),
        }
    }

    /// Compiles one route's access policies; `None` when it has none (limits only).
    pub(crate) fn access(
        &mut self,
        p: &ir::RoutePolicies,
    ) -> Result<Option<Box<RouteAccess>>, String> {
        if p.ip_filter.is_none() && !p.authenticates() && p.acl.is_none() && p.ext_auth.is_none() {
            return Ok(None);
        }
        self.route(p).map(|a| Some(Box::new(a)))
    }

    /// Compiles one route's policies.
    fn route(&mut self, p: &ir::RoutePolicies) -> Result<RouteAccess, String> {
        let empty = Verifiers::new();
        let previous = self.previous.unwrap_or(&empty);
        let (next, start) = (&mut self.verifiers, self.start_tasks);
        let jwt = p
            .jwt
            .as_ref()
            .map(|j| jwt::compile(j, previous, next, start))
            .transpose()?;
        let oidc = match p.oidc.as_deref() {
            Some(o) => {
                let key = serde_json::to_string(o).map_err(|e| format!("oidc: {e}"))?;
                match self.oidc.get(&key) {
                    Some(m) => Some(m.clone()),
                    None => {
                        let m = Arc::new(oidc::compile(o, previous, next, start)?);
                        self.oidc.insert(key, m.clone());
                        Some(m)
                    }
                }
            }
            None => None,
        };
        let key = match &p.key_auth {
            Some(k) => Some(KeyMethod {
                header: k
                    .header
                    .as_deref()
                    .map(|h| HeaderName::from_bytes(h.as_bytes()))
                    .transpose()
                    .map_err(|_| format!("key_auth: invalid header {:?}", k.header))?,
                query: k.query.clone(),
            }),
            None => None,
        };
        let mut challenges = Vec::new();
        let mut reserved = Vec::new();
        if p.authenticates() {
            reserved.push(X_CONSUMER.clone());
            reserved.push(X_CONSUMER_GROUPS.clone());
        }
        if let Some(k) = &key {
            let what = match (&k.header, &k.query) {
                (Some(h), _) => format!("ApiKey header=\"{h}\""),
                (None, Some(q)) => format!("ApiKey query=\"{q}\""),
                (None, None) => "ApiKey".to_owned(),
            };
            challenges.push(what);
        }
        if let Some(j) = &jwt {
            challenges.push(j.challenge.clone());
            reserved.extend(jwt::written_headers(j).cloned());
        }
        if let Some(o) = &oidc {
            challenges.push(o.challenge.clone());
            reserved.extend(o.written_headers().cloned());
        }
        let basic = p.basic_auth.as_ref().map(|b| {
            let realm = b.realm.replace(['"', '\\'], "'");
            format!("Basic realm=\"{realm}\", charset=\"UTF-8\"")
        });
        challenges.extend(basic.clone());
        let ext = p
            .ext_auth
            .as_ref()
            .map(ext_auth::ExtAuth::compile)
            .transpose()?;
        if let Some(e) = &ext {
            reserved.extend(e.written_headers().cloned());
        }
        Ok(RouteAccess {
            ip: p.ip_filter.as_ref().map(|f| IpRules {
                allow: f.allow.clone(),
                deny: f.deny.clone(),
            }),
            key,
            basic,
            jwt,
            oidc,
            mtls: p.mtls_auth,
            acl: p.acl.clone(),
            ext,
            reserved,
            challenges: challenges
                .iter()
                .filter_map(|c| HeaderValue::from_str(c).ok())
                .collect(),
        })
    }
}

/// One authentication attempt's outcome.
enum Outcome {
    /// No credential of this kind in the request.
    Absent,
    /// Authenticated, as this consumer if it maps to one.
    Admitted(Option<Arc<ConsumerInfo>>),
    /// A credential that was refused.
    Refused(ProxyError),
}

impl RouteAccess {
    /// Whether the route authenticates (and so forwards consumer headers).
    fn authenticates(&self) -> bool {
        self.key.is_some()
            || self.basic.is_some()
            || self.jwt.is_some()
            || self.oidc.is_some()
            || self.mtls
    }

    /// Runs the access phase on a request's headers: refuses it, or admits it with the
    /// consumer headers set and the credential removed where the method asks.
    pub(crate) async fn check(
        &self,
        cx: &AccessCx<'_>,
        headers: &mut HeaderMap,
        caller: &Caller<'_>,
    ) -> Result<Admitted, ProxyError> {
        if let Some(ip) = &self.ip {
            let denied = ip.deny.iter().any(|n| n.contains(&caller.ip))
                || (!ip.allow.is_empty() && !ip.allow.iter().any(|n| n.contains(&caller.ip)));
            if denied {
                return Err(ProxyError::Forbidden(
                    "client address is not allowed".into(),
                ));
            }
        }
        let mut admitted = Admitted::default();
        if let Some(o) = &self.oidc
            && let Some(answer) = o.endpoint(headers, caller).await
        {
            admitted.answer = Some(answer?);
            return Ok(admitted);
        }
        for h in &self.reserved {
            headers.remove(h);
        }
        if self.authenticates() {
            let consumer = self
                .authenticate(cx, headers, caller, &mut admitted)
                .await?;
            if admitted.answer.is_some() {
                return Ok(admitted);
            }
            if let Some(o) = &self.oidc {
                o.strip_cookies(headers);
            }
            if let Some(acl) = &self.acl {
                authorize(acl, consumer.as_deref())?;
            }
            if let Some(c) = &consumer {
                if let Some(v) = &c.name_header {
                    headers.insert(X_CONSUMER.clone(), v.clone());
                }
                if let Some(v) = &c.groups_header {
                    headers.insert(X_CONSUMER_GROUPS.clone(), v.clone());
                }
            }
            admitted.consumer = consumer;
        }
        if let Some(ext) = &self.ext {
            // Last: the service sees the request as the upstream would (credentials
            // checked, consumer headers set).
            let asked = ext_auth::Asked {
                method: caller.method,
                uri: caller.target,
                host: caller.host,
                scheme: caller.scheme,
                client_ip: caller.ip,
            };
            ext.check(headers, &asked).await?;
        }
        Ok(admitted)
    }

    async fn authenticate(
        &self,
        cx: &AccessCx<'_>,
        headers: &mut HeaderMap,
        caller: &Caller<'_>,
        admitted: &mut Admitted,
    ) -> Result<Option<Arc<ConsumerInfo>>, ProxyError> {
        let mut refused: Option<ProxyError> = None;
        for step in 0..5 {
            let outcome = match step {
                0 => self.by_certificate(cx, caller),
                1 => self.by_key(cx, headers, caller, admitted),
                2 => self.by_token(cx, headers).await,
                3 => self.by_session(cx, headers, caller, admitted).await,
                _ => self.by_password(cx, headers).await,
            };
            match outcome {
                Outcome::Absent => {}
                Outcome::Admitted(consumer) => return Ok(consumer),
                Outcome::Refused(e) => {
                    refused.get_or_insert(e);
                }
            }
        }
        if let Some(o) = &self.oidc
            && refused.is_none()
            && oidc::is_navigation(caller.method, headers)
        {
            // A browser without a session: off to the provider to log in.
            admitted.answer = Some(o.login(caller).await?);
            return Ok(None);
        }
        Err(refused.unwrap_or_else(|| ProxyError::Unauthorized {
            message: "authentication required".into(),
            challenges: self.challenges.clone(),
        }))
    }

    async fn by_session(
        &self,
        cx: &AccessCx<'_>,
        headers: &mut HeaderMap,
        caller: &Caller<'_>,
        admitted: &mut Admitted,
    ) -> Outcome {
        let Some(o) = &self.oidc else {
            return Outcome::Absent;
        };
        match o.authenticate(headers, caller).await {
            Ok(None) => Outcome::Absent,
            Ok(Some(who)) => {
                admitted.set_cookie = who.set_cookie;
                Outcome::Admitted(
                    cx.consumers
                        .by_jwt(Some(&who.issuer), &who.subject)
                        .cloned(),
                )
            }
            Err(e) => Outcome::Refused(e),
        }
    }

    fn by_certificate(&self, cx: &AccessCx<'_>, caller: &Caller<'_>) -> Outcome {
        if !self.mtls {
            return Outcome::Absent;
        }
        let Some(subject) = caller.subject else {
            return Outcome::Absent;
        };
        match cx.consumers.by_subject(subject) {
            Some(c) => Outcome::Admitted(Some(c.clone())),
            None => {
                Outcome::Refused(self.unauthorized("client certificate is not a known consumer"))
            }
        }
    }

    fn by_key(
        &self,
        cx: &AccessCx<'_>,
        headers: &mut HeaderMap,
        caller: &Caller<'_>,
        admitted: &mut Admitted,
    ) -> Outcome {
        let Some(k) = &self.key else {
            return Outcome::Absent;
        };
        // Removed whether it is valid or not: a key never travels upstream.
        let from_header = k.header.as_ref().and_then(|h| headers.remove(h));
        let key: std::borrow::Cow<'_, [u8]> = match &from_header {
            Some(v) => std::borrow::Cow::Borrowed(v.as_bytes()),
            None => {
                let q = k
                    .query
                    .as_deref()
                    .zip(caller.query)
                    .and_then(|(name, q)| crate::router::query_value(q, name));
                match q {
                    Some(v) => {
                        admitted.strip_query = k.query.clone();
                        std::borrow::Cow::Owned(v.into_bytes())
                    }
                    None => return Outcome::Absent,
                }
            }
        };
        match cx.consumers.by_key(&key) {
            Some(c) => Outcome::Admitted(Some(c.clone())),
            None => Outcome::Refused(self.unauthorized("invalid API key")),
        }
    }

    async fn by_token(&self, cx: &AccessCx<'_>, headers: &mut HeaderMap) -> Outcome {
        let Some(j) = &self.jwt else {
            return Outcome::Absent;
        };
        let Some(token) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| tollgate_jwt::bearer_token(v.as_bytes()))
        else {
            return Outcome::Absent;
        };
        let Some(verifier) = &j.verifier else {
            return Outcome::Refused(ProxyError::AuthUnavailable(
                "token verification is not running".into(),
            ));
        };
        let verified = match verifier.verify(token).await {
            Ok(v) => v,
            Err(e) if e.http_status() == 503 => {
                return Outcome::Refused(ProxyError::AuthUnavailable(e.to_string()));
            }
            Err(e) => {
                let challenge = e
                    .www_authenticate(Some(&j.realm))
                    .and_then(|c| HeaderValue::from_str(&c).ok());
                return Outcome::Refused(ProxyError::Unauthorized {
                    message: e.to_string(),
                    challenges: challenge.into_iter().collect(),
                });
            }
        };
        match j.claim_headers.headers(verified.claims()) {
            Ok(list) => {
                for (name, value) in list {
                    headers.insert(name, value);
                }
            }
            Err(e) => {
                return Outcome::Refused(ProxyError::Unauthorized {
                    message: e.to_string(),
                    challenges: Vec::new(),
                });
            }
        }
        if !j.forward_token {
            headers.remove(header::AUTHORIZATION);
        }
        let consumer = verified
            .subject()
            .and_then(|sub| cx.consumers.by_jwt(verified.issuer(), sub))
            .cloned();
        Outcome::Admitted(consumer)
    }

    async fn by_password(&self, cx: &AccessCx<'_>, headers: &mut HeaderMap) -> Outcome {
        if self.basic.is_none() {
            return Outcome::Absent;
        }
        let Some(value) = headers.get(header::AUTHORIZATION) else {
            return Outcome::Absent;
        };
        if !value
            .as_bytes()
            .get(..6)
            .is_some_and(|p| p.eq_ignore_ascii_case(b"basic "))
        {
            return Outcome::Absent;
        }
        let Some((user, password)) = basic::credentials(value.as_bytes()) else {
            return Outcome::Refused(self.unauthorized("malformed basic credentials"));
        };
        let found = cx.consumers.by_user(&user);
        match cx
            .passwords
            .check(&user, &password, found.map(|f| f.1))
            .await
        {
            Ok(true) => {
                // Admitted by password: the password is not the upstream's business.
                headers.remove(header::AUTHORIZATION);
                Outcome::Admitted(found.map(|f| f.0.clone()))
            }
            Ok(false) => Outcome::Refused(self.unauthorized("invalid username or password")),
            Err(basic::Busy) => Outcome::Refused(ProxyError::AuthUnavailable(
                "too many password checks in progress".into(),
            )),
        }
    }

    fn unauthorized(&self, message: &str) -> ProxyError {
        ProxyError::Unauthorized {
            message: message.to_owned(),
            challenges: self.challenges.clone(),
        }
    }
}

/// The ACL: deny lists win; with allow lists, the consumer must be on one.
fn authorize(acl: &ir::Acl, consumer: Option<&ConsumerInfo>) -> Result<(), ProxyError> {
    let Some(c) = consumer else {
        return Err(ProxyError::Forbidden(
            "the credential is not tied to a consumer this route allows".into(),
        ));
    };
    let in_group = |groups: &[String]| c.groups.iter().any(|g| groups.contains(g));
    let named = |names: &[String]| names.iter().any(|n| **n == *c.name);
    if named(&acl.deny_consumers) || in_group(&acl.deny_groups) {
        return Err(ProxyError::Forbidden("consumer is not allowed".into()));
    }
    let allow_set = !acl.allow_consumers.is_empty() || !acl.allow_groups.is_empty();
    if allow_set && !named(&acl.allow_consumers) && !in_group(&acl.allow_groups) {
        return Err(ProxyError::Forbidden("consumer is not allowed".into()));
    }
    Ok(())
}
