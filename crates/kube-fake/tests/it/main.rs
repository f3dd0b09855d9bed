//! The fake driven by the real kube-rs client, watcher and reflector over real sockets.
//! One test binary (modules below) so kube is linked once.

mod crud;
mod list;
mod outage;
mod patch;
mod raw_watch;
mod reflect;

use std::fmt::Debug;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use futures::StreamExt;
use kube::runtime::WatchStreamExt;
use kube::runtime::reflector::{self, Store, reflector as reflect_stream};
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tollgate_kube_fake::FakeApiServer;

/// Upper bound for every wait in these tests.
const WAIT: Duration = Duration::from_secs(20);

/// A fake server and a kube client pointed at it.
async fn start() -> Result<(FakeApiServer, Client)> {
    let api = FakeApiServer::start().await?;
    let client = client_for(&api)?;
    Ok((api, client))
}

fn client_for(api: &FakeApiServer) -> Result<Client> {
    let config = kube::Config::new(api.url().parse()?);
    Ok(Client::try_from(config)?)
}

/// A Service manifest with labels.
fn service(namespace: &str, name: &str, labels: &[(&str, &str)]) -> Value {
    let labels: serde_json::Map<String, Value> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Value::String((*v).to_owned())))
        .collect();
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {"ports": [{"port": 80}]},
    })
}

/// An HTTPRoute manifest with one hostname.
fn route(namespace: &str, name: &str, hostname: &str) -> Value {
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"hostnames": [hostname], "parentRefs": [{"name": "gw"}]},
    })
}

/// The status code of a kube API error.
fn api_code(error: &kube::Error) -> Option<u16> {
    match error {
        kube::Error::Api(status) => Some(status.code),
        _ => None,
    }
}

fn api_reason(error: &kube::Error) -> Option<&str> {
    match error {
        kube::Error::Api(status) => Some(status.reason.as_str()),
        _ => None,
    }
}

/// Polls `check` until it holds, at most [`WAIT`]. For state the fake cannot signal (a
/// reflector's store lives in the client).
async fn eventually(what: &str, mut check: impl FnMut() -> bool) -> Result<()> {
    let deadline = Instant::now() + WAIT;
    while !check() {
        if Instant::now() > deadline {
            bail!("timed out after {WAIT:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

/// A reflector (watcher with the default backoff) running in a task, and a log of the
/// watcher events it produced: `init`, `init-apply NAME`, `init-done`, `apply NAME`,
/// `delete NAME`, `error TEXT`.
struct Reflected<K: Resource + 'static>
where
    K::DynamicType: Eq + Hash + Clone,
{
    store: Store<K>,
    log: Arc<Mutex<Vec<String>>>,
    task: JoinHandle<()>,
}

impl<K> Reflected<K>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Eq + Hash + Clone + Default,
{
    fn start(api: Api<K>, config: watcher::Config) -> Self {
        let (store, writer) = reflector::store();
        let log = Arc::new(Mutex::new(Vec::new()));
        let stream = reflect_stream(writer, watcher::watcher(api, config).default_backoff());
        let task = tokio::spawn({
            let log = Arc::clone(&log);
            async move {
                let mut stream = std::pin::pin!(stream);
                while let Some(event) = stream.next().await {
                    let line = match event {
                        Ok(Event::Init) => "init".to_owned(),
                        Ok(Event::InitApply(o)) => format!("init-apply {}", o.name_any()),
                        Ok(Event::InitDone) => "init-done".to_owned(),
                        Ok(Event::Apply(o)) => format!("apply {}", o.name_any()),
                        Ok(Event::Delete(o)) => format!("delete {}", o.name_any()),
                        Err(error) => format!("error {error}"),
                    };
                    log.lock().unwrap_or_else(|e| e.into_inner()).push(line);
                }
            }
        });
        Self { store, log, task }
    }

    async fn ready(&self) -> Result<()> {
        tokio::time::timeout(WAIT, self.store.wait_until_ready())
            .await
            .context("reflector store never became ready")??;
        Ok(())
    }

    fn events(&self) -> Vec<String> {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn count(&self, event: &str) -> usize {
        self.events().iter().filter(|line| *line == event).count()
    }

    /// Names in the store, sorted.
    fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.store.state().iter().map(|o| o.name_any()).collect();
        names.sort();
        names
    }

    async fn wait_for_names(&self, expected: &[&str]) -> Result<()> {
        let what = format!("the store to hold {expected:?}");
        eventually(&what, || self.names() == expected).await
    }
}

impl<K: Resource + 'static> Drop for Reflected<K>
where
    K::DynamicType: Eq + Hash + Clone,
{
    fn drop(&mut self) {
        self.task.abort();
    }
}
