//! Listeners, and the virtual hosts each one serves: routes grouped by host pattern and
//! put in precedence order.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use tollgate_ir as ir;
use tollgate_model::native::{self, Listener};

use crate::problems::{At, Pos, Problems, Scope};
use crate::routes::Routed;

/// Every listener by name, with its virtual hosts. With duplicate names (already
/// reported) the first one wins.
pub(crate) fn translate(
    listeners: &[At<'_, Listener>],
    routes: &[Routed],
    redis: bool,
    p: &mut Problems<'_>,
) -> BTreeMap<String, ir::Listener> {
    check_addresses(listeners, p);
    let mut out = BTreeMap::new();
    for at in listeners {
        let l = at.item;
        let name = &l.name.value;
        if out.contains_key(name) {
            continue;
        }
        let mut cx = Scope::new("listener", &l.name, at.doc, p);
        let tls = crate::tls::listener(l, &mut cx);
        let redirect_to_https = redirect_to_https(l, listeners, &mut cx);
        let owner = crate::limits::Owner {
            name: &format!("listener/{name}"),
            authenticates: false,
            redis,
        };
        let rate_limits = crate::limits::rate_limits(l.rate_limit.as_ref(), &owner, &mut cx);
        let listener = ir::Listener {
            name: name.clone(),
            address: l.address.value,
            protocol: match l.protocol {
                native::ListenerProtocol::Http => ir::ListenerProtocol::Http,
                native::ListenerProtocol::Https => ir::ListenerProtocol::Https,
            },
            tls,
            redirect_to_https,
            rate_limits,
            virtual_hosts: virtual_hosts(name, routes),
        };
        out.insert(name.clone(), listener);
    }
    out
}

/// `redirect_to_https` must name another listener that speaks https.
fn redirect_to_https(
    l: &Listener,
    listeners: &[At<'_, Listener>],
    cx: &mut Scope<'_, '_>,
) -> Option<String> {
    let target = l.redirect_to_https.as_ref()?;
    let at = cx.pos_of(target);
    match listeners.iter().find(|o| o.item.name.value == target.value) {
        Some(o) if o.item.protocol == native::ListenerProtocol::Https => Some(target.value.clone()),
        Some(_) => {
            cx.push(
                at,
                format!(
                    "redirect_to_https: listener {:?} is not an https listener",
                    target.value
                ),
            );
            None
        }
        None => {
            let names =
                crate::problems::list_names(listeners.iter().map(|o| o.item.name.value.as_str()));
            cx.push(
                at,
                format!(
                    "redirect_to_https: unknown listener {:?} (defined listeners: {names})",
                    target.value
                ),
            );
            None
        }
    }
}

/// Two listeners cannot bind one address. Port 0 asks the OS for a free port, so
/// every such listener gets its own and they never clash.
fn check_addresses(listeners: &[At<'_, Listener>], p: &mut Problems<'_>) {
    let mut seen: BTreeMap<SocketAddr, (&str, Pos)> = BTreeMap::new();
    for at in listeners {
        let l = at.item;
        let addr = l.address.value;
        if addr.port() == 0 {
            continue;
        }
        let here = at.pos(&l.address);
        if let Some((first, first_pos)) = seen.get(&addr) {
            let place = p.place(*first_pos);
            p.push(
                here,
                format!(
                    "listener {:?}: address {addr} is already used by listener {first:?} ({place})",
                    l.name.value
                ),
            );
        } else {
            seen.insert(addr, (&l.name.value, here));
        }
    }
}

/// The routes on listener `name`, one virtual host per host pattern, sorted by host.
/// A route without `listeners` is on every listener; a route with several hosts is in
/// each of their virtual hosts.
fn virtual_hosts(name: &str, routes: &[Routed]) -> Vec<ir::VirtualHost> {
    let mut by_host: BTreeMap<&str, Vec<&Routed>> = BTreeMap::new();
    let attached = routes.iter().filter(|r| {
        r.listeners
            .as_ref()
            .is_none_or(|ls| ls.iter().any(|l| l == name))
    });
    for r in attached {
        for host in &r.hosts {
            by_host.entry(host).or_default().push(r);
        }
    }
    by_host
        .into_iter()
        .map(|(host, mut rs)| {
            rs.sort_by_key(|r| r.precedence);
            ir::VirtualHost {
                host: host.to_owned(),
                routes: rs.into_iter().map(|r| r.route.clone()).collect(),
            }
        })
        .collect()
}
