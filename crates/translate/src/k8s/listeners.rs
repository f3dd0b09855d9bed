//! Listeners that share a port become one IR listener whose virtual hosts reproduce
//! Gateway API's choice: a request goes to the listener with the most specific hostname
//! matching its host, and there to the routes attached to that listener whose hostnames
//! match, the most specific hostname first, then by match precedence.
//!
//! The proxy picks one virtual host per request (exact host, else the longest matching
//! `*.suffix`, else `*`) and never falls back to another, so every host pattern that
//! could be chosen gets a virtual host holding exactly the routes that apply to it: the
//! patterns are the listeners' hostnames and the routes' (intersected) hostnames. For a
//! request, the pattern the proxy picks is the most specific one matching its host;
//! every listener or route hostname that matches the host also covers that pattern, so
//! the routes collected for the pattern are the routes for the host.

use std::collections::BTreeSet;

use tollgate_ir as ir;

use super::hostnames::{HostRank, covers};
use super::policy::{blocks, fill_missing};
use super::policy_attach::Access;
use crate::routes::precedence::Precedence;

/// A route on one of the port's listeners, for one hostname.
pub(crate) struct Entry<'r> {
    /// Index into [`Port::hostnames`].
    pub(crate) listener: usize,
    /// `*` for any host.
    pub(crate) host: String,
    pub(crate) precedence: Precedence,
    pub(crate) route: &'r ir::Route,
    /// What the Policies attached to the route's Gateway give it.
    pub(crate) access: Option<&'r Access>,
}

/// Everything served on one port.
pub(crate) struct Port<'r> {
    pub(crate) name: String,
    pub(crate) address: std::net::SocketAddr,
    pub(crate) protocol: ir::ListenerProtocol,
    /// Each listener's hostname (`None`: any host).
    pub(crate) hostnames: Vec<Option<String>>,
    pub(crate) certificates: Vec<ir::CertKeyPem>,
    pub(crate) entries: Vec<Entry<'r>>,
}

impl Port<'_> {
    /// The IR listener.
    pub(crate) fn build(self) -> ir::Listener {
        let listener_patterns: Vec<&str> = self
            .hostnames
            .iter()
            .map(|h| h.as_deref().unwrap_or("*"))
            .collect();
        let patterns: BTreeSet<&str> = listener_patterns
            .iter()
            .copied()
            .chain(self.entries.iter().map(|e| e.host.as_str()))
            .collect();
        let virtual_hosts = patterns
            .into_iter()
            .filter_map(|v| {
                // The listener a request for `v` reaches: the most specific one covering it.
                let listener = listener_patterns
                    .iter()
                    .enumerate()
                    .filter(|(_, l)| covers(l, v))
                    .min_by_key(|(_, l)| HostRank::of(l))
                    .map(|(i, _)| i)?;
                let mut entries: Vec<&Entry<'_>> = self
                    .entries
                    .iter()
                    .filter(|e| e.listener == listener && covers(&e.host, v))
                    .collect();
                entries.sort_by_key(|e| (HostRank::of(&e.host), e.precedence));
                let mut seen = BTreeSet::new();
                let routes = entries
                    .into_iter()
                    // A route reached through two of its hostnames counts at the better one.
                    .filter(|e| seen.insert(e.route.name.as_str()))
                    .map(|e| self.fill(e))
                    .collect();
                Some(ir::VirtualHost {
                    host: v.to_owned(),
                    routes,
                })
            })
            .collect();
        let tls = (self.protocol == ir::ListenerProtocol::Https).then(|| ir::ListenerTls {
            certificates: self.certificates.clone(),
            min_version: ir::TlsVersion::Tls12,
            client_auth: None,
        });
        ir::Listener {
            name: self.name,
            address: self.address,
            protocol: self.protocol,
            tls,
            redirect_to_https: None,
            rate_limits: Vec::new(),
            virtual_hosts,
        }
    }

    /// A redirect that keeps the scheme and gives no port goes to the listener's port
    /// (Gateway API), not to whatever port the client wrote in its Host header.
    ///
    /// The Gateway's Policies fill the access blocks the route's own do not set; an
    /// invalid one makes the route answer 500 rather than go unprotected.
    fn fill(&self, e: &Entry<'_>) -> ir::Route {
        let mut r = e.route.clone();
        if let Some(a) = e.access {
            if a.invalid.is_some() {
                r.action = ir::Action::Respond(ir::DirectResponse {
                    status: 500,
                    body: "this route's access policy is invalid".to_owned(),
                    ..ir::DirectResponse::default()
                });
            } else {
                let mut p = r.policies.take().map(|b| *b).unwrap_or_default();
                fill_missing(&mut p, &a.policies);
                r.policies = (!blocks(&p).is_empty()).then(|| Box::new(p));
            }
        }
        if let ir::Action::Redirect(rd) = &mut r.action
            && rd.scheme.is_none()
            && rd.port.is_none()
        {
            rd.port = Some(self.address.port());
        }
        r
    }
}
