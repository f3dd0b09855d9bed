//! Several files make one configuration: their lists are concatenated in file order, and
//! the process-wide blocks may be set by one file only.

use std::collections::BTreeMap;

use tollgate_model::limits::Redis;
use tollgate_model::native::{Listener, Route, Server, Service};
use tollgate_model::policies::Consumer;
use tollgate_model::{Document, Spanned};

use crate::problems::{At, Pos, Problems};

/// All documents as one, every item still knowing its file.
pub(crate) struct Merged<'a> {
    pub(crate) listeners: Vec<At<'a, Listener>>,
    pub(crate) services: Vec<At<'a, Service>>,
    pub(crate) routes: Vec<At<'a, Route>>,
    pub(crate) consumers: Vec<At<'a, Consumer>>,
    pub(crate) server: Option<At<'a, Spanned<Server>>>,
    pub(crate) trusted_proxies: Option<At<'a, Spanned<Vec<String>>>>,
    pub(crate) redis: Option<At<'a, Spanned<Redis>>>,
}

/// Concatenates the documents and reports blocks set twice and names defined twice.
pub(crate) fn merge<'a>(docs: &'a [Document], p: &mut Problems<'_>) -> Merged<'a> {
    let mut merged = Merged {
        listeners: Vec::new(),
        services: Vec::new(),
        routes: Vec::new(),
        consumers: Vec::new(),
        server: None,
        trusted_proxies: None,
        redis: None,
    };
    for (doc, d) in docs.iter().enumerate() {
        merged
            .listeners
            .extend(d.listeners.iter().map(|item| At { doc, item }));
        merged
            .services
            .extend(d.services.iter().map(|item| At { doc, item }));
        merged
            .routes
            .extend(d.routes.iter().map(|item| At { doc, item }));
        merged
            .consumers
            .extend(d.consumers.iter().map(|item| At { doc, item }));
        once("server", &mut merged.server, d.server.as_ref(), doc, p);
        once(
            "trusted_proxies",
            &mut merged.trusted_proxies,
            d.trusted_proxies.as_ref(),
            doc,
            p,
        );
        once("redis", &mut merged.redis, d.redis.as_ref(), doc, p);
    }
    unique_names("listener", &merged.listeners, |l| &l.name, p);
    unique_names("service", &merged.services, |s| &s.name, p);
    unique_names("route", &merged.routes, |r| &r.name, p);
    unique_names("consumer", &merged.consumers, |c| &c.name, p);
    merged
}

/// Keeps the first file's block; a second one is a problem, because silently preferring
/// either would make the result depend on file names.
fn once<'a, T>(
    key: &str,
    slot: &mut Option<At<'a, Spanned<T>>>,
    found: Option<&'a Spanned<T>>,
    doc: usize,
    p: &mut Problems<'_>,
) {
    let Some(item) = found else {
        return;
    };
    let here = Pos::of(doc, item);
    match slot {
        Some(first) => {
            let first = p.place(first.pos(first.item));
            p.push(
                here,
                format!("`{key}:` is already set at {first}; set it in one file only"),
            );
        }
        None => *slot = Some(At { doc, item }),
    }
}

/// Names are how routes refer to listeners and services and how logs name routes, so each
/// must be unique over all files. Empty names are refused for the same reason.
fn unique_names<T>(
    kind: &str,
    items: &[At<'_, T>],
    name: impl Fn(&T) -> &Spanned<String>,
    p: &mut Problems<'_>,
) {
    let mut seen: BTreeMap<&str, Pos> = BTreeMap::new();
    for at in items {
        let n = name(at.item);
        let here = at.pos(n);
        if n.value.trim().is_empty() {
            p.push(here, format!("{kind} name is empty; give it a unique name"));
            continue;
        }
        if let Some(prefix) = crate::k8s::RESERVED_PREFIXES
            .iter()
            .find(|r| n.value.starts_with(**r))
        {
            p.push(
                here,
                format!(
                    "{kind} name {:?} starts with {prefix:?}, which is reserved for names made from Kubernetes resources; rename it",
                    n.value
                ),
            );
        }
        if let Some(first) = seen.get(n.value.as_str()) {
            let first = p.place(*first);
            p.push(
                here,
                format!(
                    "{kind} {:?} is defined twice (first at {first}); names must be unique",
                    n.value
                ),
            );
        } else {
            seen.insert(&n.value, here);
        }
    }
}
