//! `kube::runtime::watcher` + `reflector` against the fake: what the controller runs.

use anyhow::{Context, Result};
use gateway_api::httproutes::HttpRoute;
use k8s_openapi::api::core::v1::Service;
use kube::Api;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use tollgate_kube_fake::Verb;

use crate::{Reflected, WAIT, eventually, route, service, start};

fn hostnames(store: &Reflected<HttpRoute>, name: &str) -> Option<Vec<String>> {
    let route = store.store.get(&ObjectRef::new(name).within("apps"))?;
    route.spec.hostnames.clone()
}

#[tokio::test]
async fn reflector_follows_added_modified_deleted() -> Result<()> {
    let (api, client) = start().await?;
    api.apply(route("apps", "before", "before.example"))?;
    let listed_at = api.resource_version().to_string();
    let routes: Api<HttpRoute> = Api::namespaced(client, "apps");
    let reflected = Reflected::start(routes, watcher::Config::default());
    reflected.ready().await?;
    assert_eq!(reflected.names(), ["before"]);
    api.wait_for_open_watches("gateway.networking.k8s.io/v1", "HTTPRoute", 1, WAIT)
        .await?;

    api.apply(route("apps", "r", "a.example"))?;
    reflected.wait_for_names(&["before", "r"]).await?;
    api.apply(route("apps", "r", "b.example"))?;
    let want = Some(vec!["b.example".to_owned()]);
    eventually("the modified hostname", || {
        hostnames(&reflected, "r") == want
    })
    .await?;
    api.delete(
        "gateway.networking.k8s.io/v1",
        "HTTPRoute",
        Some("apps"),
        "before",
    )?;
    reflected.wait_for_names(&["r"]).await?;

    let events = reflected.events();
    let expected = [
        "init",
        "init-apply before",
        "init-done",
        "apply r",
        "apply r",
        "delete before",
    ];
    assert_eq!(events, expected);
    // The watcher's requests, as kube 4.2 sends them.
    let requests = api.requests();
    let list = requests
        .iter()
        .find(|r| r.verb == Verb::List)
        .context("a LIST")?;
    assert_eq!(list.param("limit"), Some("500"));
    assert_eq!(list.param("resourceVersion"), None);
    let watch = requests
        .iter()
        .find(|r| r.verb == Verb::Watch)
        .context("a WATCH")?;
    assert_eq!(watch.param("watch"), Some("true"));
    assert_eq!(watch.param("allowWatchBookmarks"), Some("true"));
    assert_eq!(watch.param("timeoutSeconds"), Some("290"));
    assert_eq!(watch.param("resourceVersion"), Some(listed_at.as_str()));
    Ok(())
}

#[tokio::test]
async fn break_watches_resumes_without_relist_or_lost_events() -> Result<()> {
    let (api, client) = start().await?;
    api.apply(service("default", "a", &[]))?;
    let services: Api<Service> = Api::namespaced(client, "default");
    let reflected = Reflected::start(services, watcher::Config::default());
    reflected.ready().await?;
    api.wait_for_open_watches("v1", "Service", 1, WAIT).await?;
    let last_seen = api.resource_version().to_string();
    api.clear_requests();

    // A deterministic gap: the stream ends, and the watcher's new watch waits until the
    // write below has happened.
    api.hold_watches(true);
    api.break_watches();
    api.wait_for_open_watches("v1", "Service", 0, WAIT).await?;
    api.apply(service("default", "b", &[]))?;
    api.hold_watches(false);

    reflected.wait_for_names(&["a", "b"]).await?;
    assert_eq!(
        reflected.count("init"),
        1,
        "no relist: {:?}",
        reflected.events()
    );
    let requests = api.requests();
    assert!(
        requests.iter().all(|r| r.verb != Verb::List),
        "{requests:?}"
    );
    let resumed = requests
        .iter()
        .find(|r| r.verb == Verb::Watch)
        .context("a new WATCH")?;
    assert_eq!(resumed.param("resourceVersion"), Some(last_seen.as_str()));
    Ok(())
}

#[tokio::test]
async fn compaction_in_a_gap_forces_a_correct_relist() -> Result<()> {
    let (api, client) = start().await?;
    for name in ["a", "b"] {
        api.apply(service("default", name, &[]))?;
    }
    let services: Api<Service> = Api::namespaced(client, "default");
    let reflected = Reflected::start(services, watcher::Config::default());
    reflected.ready().await?;
    api.wait_for_open_watches("v1", "Service", 1, WAIT).await?;
    api.clear_requests();

    api.hold_watches(true);
    api.break_watches();
    api.wait_for_open_watches("v1", "Service", 0, WAIT).await?;
    api.delete("v1", "Service", Some("default"), "b")?;
    api.apply(service("default", "a", &[("v", "2")]))?;
    api.apply(service("default", "c", &[]))?;
    api.compact();
    api.hold_watches(false);

    reflected.wait_for_names(&["a", "c"]).await?;
    let a = reflected.store.get(&ObjectRef::new("a").within("default"));
    let version = a
        .and_then(|a| a.metadata.labels.clone())
        .and_then(|l| l.get("v").cloned());
    assert_eq!(version.as_deref(), Some("2"));
    assert_eq!(
        reflected.count("init"),
        2,
        "relisted: {:?}",
        reflected.events()
    );
    let events = reflected.events();
    assert!(
        events
            .iter()
            .any(|e| e.starts_with("error") && e.contains("Expired")),
        "{events:?}"
    );
    api.wait_for_request(|r| r.verb == Verb::List, WAIT).await?;
    Ok(())
}

#[tokio::test]
async fn label_selected_reflector_drops_objects_that_stop_matching() -> Result<()> {
    let (api, client) = start().await?;
    api.apply(service("default", "a", &[("app", "web")]))?;
    api.apply(service("default", "b", &[("app", "db")]))?;
    let services: Api<Service> = Api::namespaced(client, "default");
    let reflected = Reflected::start(services, watcher::Config::default().labels("app=web"));
    reflected.ready().await?;
    assert_eq!(reflected.names(), ["a"]);
    api.wait_for_open_watches("v1", "Service", 1, WAIT).await?;
    api.apply(service("default", "a", &[("app", "db")]))?;
    reflected.wait_for_names(&[]).await?;
    api.apply(service("default", "b", &[("app", "web")]))?;
    reflected.wait_for_names(&["b"]).await?;
    Ok(())
}

#[tokio::test]
async fn streaming_list_reflector() -> Result<()> {
    let (api, client) = start().await?;
    api.apply(service("default", "a", &[]))?;
    let services: Api<Service> = Api::namespaced(client, "default");
    let reflected = Reflected::start(services, watcher::Config::default().streaming_lists());
    reflected.ready().await?;
    assert_eq!(reflected.names(), ["a"]);
    api.apply(service("default", "b", &[]))?;
    reflected.wait_for_names(&["a", "b"]).await?;
    assert!(api.requests().iter().all(|r| r.verb != Verb::List));
    Ok(())
}
