//! WATCH as kube's `Api::watch` sees it, event by event.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Service;
use kube::api::{WatchEvent, WatchParams};
use kube::{Api, ResourceExt};
use tollgate_kube_fake::{FakeApiServer, FakeOptions};

use crate::{WAIT, client_for, service, start};

type Events = BoxStream<'static, kube::Result<WatchEvent<Service>>>;

async fn open(services: &Api<Service>, params: &WatchParams, rv: &str) -> Result<Events> {
    Ok(services.watch(params, rv).await?.boxed())
}

/// The next event, or `None` when the stream ended.
async fn next(events: &mut Events) -> Result<Option<WatchEvent<Service>>> {
    let next = tokio::time::timeout(WAIT, events.try_next()).await;
    Ok(next.context("no watch event in time")??)
}

/// A short description: `ADDED name`, `BOOKMARK rv`, `ERROR code reason`.
async fn next_line(events: &mut Events) -> Result<String> {
    Ok(match next(events).await? {
        Some(WatchEvent::Added(s)) => format!("ADDED {}", s.name_any()),
        Some(WatchEvent::Modified(s)) => format!("MODIFIED {}", s.name_any()),
        Some(WatchEvent::Deleted(s)) => format!("DELETED {}", s.name_any()),
        Some(WatchEvent::Bookmark(b)) => format!("BOOKMARK {}", b.metadata.resource_version),
        Some(WatchEvent::Error(e)) => format!("ERROR {} {}", e.code, e.reason),
        None => "END".to_owned(),
    })
}

fn rv_of(object: &serde_json::Value) -> Result<String> {
    let rv = object["metadata"]["resourceVersion"].as_str();
    Ok(rv
        .context("stored objects have a resourceVersion")?
        .to_owned())
}

#[tokio::test]
async fn watch_replays_history_then_bookmarks_then_times_out() -> Result<()> {
    let options = FakeOptions {
        bookmark_interval: Duration::from_millis(100),
    };
    let api = FakeApiServer::start_with(options).await?;
    let services: Api<Service> = Api::namespaced(client_for(&api)?, "default");
    let first = api.apply(service("default", "a", &[]))?;
    api.apply(service("default", "b", &[]))?;
    api.apply(service("default", "a", &[("v", "2")]))?;
    let newest = api.resource_version();

    let mut events = open(
        &services,
        &WatchParams::default().timeout(1),
        &rv_of(&first)?,
    )
    .await?;
    assert_eq!(next_line(&mut events).await?, "ADDED b");
    assert_eq!(next_line(&mut events).await?, "MODIFIED a");
    assert_eq!(next_line(&mut events).await?, format!("BOOKMARK {newest}"));
    // Periodic bookmarks, then the end after timeoutSeconds=1.
    assert_eq!(next_line(&mut events).await?, format!("BOOKMARK {newest}"));
    let mut rest = Vec::new();
    loop {
        let line = next_line(&mut events).await?;
        if line == "END" {
            break;
        }
        rest.push(line);
    }
    assert!(rest.iter().all(|l| l.starts_with("BOOKMARK")), "{rest:?}");
    Ok(())
}

#[tokio::test]
async fn watch_from_zero_lists_then_follows_live_writes() -> Result<()> {
    let (api, client) = start().await?;
    let services: Api<Service> = Api::namespaced(client, "default");
    api.apply(service("default", "a", &[]))?;
    api.apply(service("other", "elsewhere", &[]))?;
    let mut events = open(&services, &WatchParams::default(), "0").await?;
    assert_eq!(next_line(&mut events).await?, "ADDED a");
    assert!(next_line(&mut events).await?.starts_with("BOOKMARK"));
    api.apply(service("default", "b", &[]))?;
    assert_eq!(next_line(&mut events).await?, "ADDED b");
    let deleted = api.delete("v1", "Service", Some("default"), "a")?;
    match next(&mut events).await? {
        Some(WatchEvent::Deleted(s)) => {
            assert_eq!(s.name_any(), "a");
            // The deletion's own rv, so a watcher resuming from it does not see it again.
            assert_eq!(s.resource_version(), Some(rv_of(&deleted)?));
            assert_eq!(
                s.resource_version(),
                Some(api.resource_version().to_string())
            );
        }
        other => bail!("expected DELETED a, got {other:?}"),
    }
    Ok(())
}

#[tokio::test]
async fn selector_watch_sees_objects_move_in_and_out() -> Result<()> {
    let (api, client) = start().await?;
    let services: Api<Service> = Api::namespaced(client, "default");
    api.apply(service("default", "a", &[("app", "web")]))?;
    let rv = api.resource_version().to_string();
    let mut events = open(&services, &WatchParams::default().labels("app=web"), &rv).await?;
    assert!(next_line(&mut events).await?.starts_with("BOOKMARK"));
    api.apply(service("default", "a", &[("app", "db")]))?;
    api.apply(service("default", "a", &[("app", "db"), ("x", "y")]))?;
    api.apply(service("default", "a", &[("app", "web")]))?;
    api.apply(service("default", "a", &[("app", "web"), ("x", "z")]))?;
    assert_eq!(next_line(&mut events).await?, "DELETED a");
    assert_eq!(next_line(&mut events).await?, "ADDED a");
    assert_eq!(next_line(&mut events).await?, "MODIFIED a");
    Ok(())
}

#[tokio::test]
async fn watch_from_a_compacted_rv_gets_410_then_ends() -> Result<()> {
    let (api, client) = start().await?;
    let services: Api<Service> = Api::namespaced(client, "default");
    let old = api.apply(service("default", "a", &[]))?;
    api.apply(service("default", "b", &[]))?;
    api.compact();
    let mut events = open(&services, &WatchParams::default(), &rv_of(&old)?).await?;
    assert_eq!(next_line(&mut events).await?, "ERROR 410 Expired");
    assert_eq!(next_line(&mut events).await?, "END");
    // From the compaction point itself nothing was lost.
    let now = api.resource_version().to_string();
    let mut events = open(&services, &WatchParams::default(), &now).await?;
    assert_eq!(next_line(&mut events).await?, format!("BOOKMARK {now}"));
    Ok(())
}

#[tokio::test]
async fn streaming_list_ends_initial_events_with_an_annotated_bookmark() -> Result<()> {
    let (api, client) = start().await?;
    let services: Api<Service> = Api::namespaced(client, "default");
    api.apply(service("default", "a", &[]))?;
    api.apply(service("default", "b", &[]))?;
    let mut events = open(&services, &WatchParams::streaming_lists(), "0").await?;
    assert_eq!(next_line(&mut events).await?, "ADDED a");
    assert_eq!(next_line(&mut events).await?, "ADDED b");
    match next(&mut events).await? {
        Some(WatchEvent::Bookmark(b)) => {
            let end = b.metadata.annotations.get("k8s.io/initial-events-end");
            assert_eq!(end.map(String::as_str), Some("true"));
            assert_eq!(
                b.metadata.resource_version,
                api.resource_version().to_string()
            );
        }
        other => bail!("expected the initial-events-end bookmark, got {other:?}"),
    }
    let request = api
        .wait_for_request(|r| r.param("sendInitialEvents").is_some(), WAIT)
        .await?;
    assert_eq!(request.param("resourceVersionMatch"), Some("NotOlderThan"));
    Ok(())
}

#[tokio::test]
async fn break_watches_and_shutdown_end_streams() -> Result<()> {
    let (api, client) = start().await?;
    let services: Api<Service> = Api::namespaced(client, "default");
    let mut events = open(&services, &WatchParams::default(), "0").await?;
    assert!(next_line(&mut events).await?.starts_with("BOOKMARK"));
    api.wait_for_open_watches("v1", "Service", 1, WAIT).await?;
    api.break_watches();
    assert_eq!(next_line(&mut events).await?, "END");
    api.wait_for_open_watches("v1", "Service", 0, WAIT).await?;

    let mut events = open(&services, &WatchParams::default(), "0").await?;
    assert!(next_line(&mut events).await?.starts_with("BOOKMARK"));
    api.shutdown().await;
    // A reset connection ends the stream, possibly after an error item.
    let ended = tokio::time::timeout(WAIT, async {
        while let Some(item) = events.next().await {
            if item.is_err() {
                break;
            }
        }
    })
    .await;
    assert!(
        ended.is_ok(),
        "the stream must end when the server shuts down"
    );
    Ok(())
}

#[tokio::test]
async fn a_watch_the_client_drops_is_closed() -> Result<()> {
    // Bookmarks far apart: the server must notice the closed connection by itself.
    let options = FakeOptions {
        bookmark_interval: Duration::from_secs(600),
    };
    let api = FakeApiServer::start_with(options).await?;
    let services: Api<Service> = Api::namespaced(client_for(&api)?, "default");
    let mut events = open(&services, &WatchParams::default(), "0").await?;
    assert!(next_line(&mut events).await?.starts_with("BOOKMARK"));
    api.wait_for_open_watches("v1", "Service", 1, WAIT).await?;
    drop(events);
    api.wait_for_open_watches("v1", "Service", 0, WAIT).await?;
    Ok(())
}
