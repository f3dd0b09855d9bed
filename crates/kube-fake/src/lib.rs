//! An in-process fake Kubernetes API server, for testing the controller against the real
//! kube-rs client, watcher and reflector (no kube-apiserver can run on our machines).
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use tollgate_kube_fake::FakeApiServer;
//!
//! let api = FakeApiServer::start().await?; // 127.0.0.1, a free port
//! let config = kube::Config::new(api.url().parse()?);
//! let client = kube::Client::try_from(config)?;
//! api.apply(serde_json::json!({
//!     "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps"},
//! }))?;
//! # drop(client);
//! # Ok(())
//! # }
//! ```
//!
//! # What is modelled
//!
//! * Objects are JSON values in collections keyed by API group and plural (not version:
//!   every served version of a kind shares one collection and one schema). One global
//!   resourceVersion counter, like etcd; `uid`, `creationTimestamp`, and `generation`
//!   (bumped when anything but `metadata` and `status` changes) are filled in. A write that
//!   changes nothing gets no new resourceVersion and no event.
//! * LIST with `limit`/`continue`, label selectors (`=`, `==`, `!=`, exists, `!`, `in`,
//!   `notin`) and field selectors (`metadata.name`, `metadata.namespace`, `type` on
//!   Secrets); anything else is a 400.
//! * WATCH from a resourceVersion (replayed from history; 410 `Expired` ERROR event once
//!   [`FakeApiServer::compact`] forgot it), selectors applied per event (an object that
//!   stops matching arrives as DELETED), bookmarks, `timeoutSeconds`, and streaming lists
//!   (`sendInitialEvents=true`).
//! * GET, POST (409 `AlreadyExists`), PUT (409 `Conflict` on a stale resourceVersion),
//!   DELETE (with preconditions), PATCH: server-side apply, merge, strategic merge (as a
//!   merge patch: lists are replaced whole), JSON patch. `/status` subresources: writes to
//!   the main resource keep the status, writes to `/status` change only the status.
//! * Errors are `Status` objects with kube's codes and reasons.
//!
//! # What is not
//!
//! Field ownership (`managedFields`, apply conflicts: `force` is only recorded), admission
//! and validation against schemas, defaulting, finalizers and `deletionTimestamp` (a delete
//! is immediate), garbage collection and cascading deletes (also of a Namespace's
//! contents), the need for a Namespace to exist, `dryRun` (refused with 400), DELETE of a
//! collection (405), discovery (`/api`, `/apis`: 404; `/version` is served), metadata-only
//! (`PartialObjectMetadata`) and table responses, authentication and authorization, and a
//! consistent snapshot across LIST pages (later pages read the current state; the
//! following watch delivers what changed, so a watcher still converges).
//!
//! The crate's `README.md` lists the exact requests kube 4.2's watcher sends, and the test
//! controls ([`FakeApiServer::break_watches`], [`FakeApiServer::hold_watches`],
//! [`FakeApiServer::compact`], [`FakeApiServer::set_available`]).

mod error;
mod handler;
mod meta;
mod patch;
mod registry;
mod routes;
mod selector;
mod server;
mod shared;
mod status;
mod store;
mod verbs;
mod watch;

#[cfg(test)]
mod store_tests;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use error::FakeError;
pub use registry::ResourceType;
pub use shared::{FakeOptions, RecordedRequest, Verb};

use registry::split_api_version;
use shared::{Shared, lock};
use store::{WriteMode, object_key, present};

/// The running accept loop: dropping `stop` ends it.
struct Accept {
    task: Option<(JoinHandle<()>, oneshot::Sender<()>)>,
    shut_down: bool,
}

/// A fake API server on `127.0.0.1` and a free port. Dropping it (or [`Self::shutdown`])
/// closes the listener and every connection, which ends all open watch streams.
pub struct FakeApiServer {
    shared: Arc<Shared>,
    addr: SocketAddr,
    url: String,
    accept: Mutex<Accept>,
}

impl FakeApiServer {
    /// Starts a server with the default options. Must run inside a tokio runtime.
    pub async fn start() -> Result<Self, FakeError> {
        Self::start_with(FakeOptions::default()).await
    }

    /// Starts a server with `options`.
    pub async fn start_with(options: FakeOptions) -> Result<Self, FakeError> {
        let shared = Shared::new(options);
        let listener = server::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel();
        let task = server::spawn_accept(Arc::clone(&shared), listener, stopped);
        Ok(Self {
            shared,
            addr,
            url: format!("http://{addr}"),
            accept: Mutex::new(Accept {
                task: Some((task, stop)),
                shut_down: false,
            }),
        })
    }

    /// `http://127.0.0.1:PORT`, for `kube::Config::new(api.url().parse()?)`.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The address the server listens on (the same across [`Self::set_available`]).
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Adds a kind to the table (or replaces the one with the same group and plural), e.g.
    /// our own CRDs: `ResourceType::new("tollgate.dev", "v1alpha1", "ApiKey", "apikeys", true)`.
    pub fn register(&self, resource: ResourceType) {
        self.shared.store().register(resource);
    }

    fn resource(&self, api_version: &str, kind: &str) -> Result<ResourceType, FakeError> {
        self.shared
            .store()
            .registry()
            .by_kind(api_version, kind)
            .cloned()
            .ok_or_else(|| FakeError::UnknownKind {
                api_version: api_version.to_owned(),
                kind: kind.to_owned(),
            })
    }

    /// Creates or replaces an object by apiVersion/kind/namespace/name. The test is the
    /// whole cluster: no resourceVersion check, and a `status` in the object is stored (so
    /// a test can play another controller); an object without a `status` key keeps the
    /// stored one (as `kubectl apply` of a manifest would), so editing a spec does not
    /// wipe what the controller under test wrote. Emits ADDED or MODIFIED, or nothing
    /// when the object is unchanged. Returns the stored object.
    pub fn apply(&self, object: Value) -> Result<Value, FakeError> {
        let text = |key: &str| object.get(key).and_then(Value::as_str).map(str::to_owned);
        let (Some(api_version), Some(kind)) = (text("apiVersion"), text("kind")) else {
            return Err(FakeError::Invalid(
                "apiVersion and kind are required".into(),
            ));
        };
        let resource = self.resource(&api_version, &kind)?;
        let mut store = self.shared.store();
        let key = object_key(&resource, &object)?;
        let stored = if store.get(&resource.key(), &key).is_some() {
            store.update(&resource, object, WriteMode::Everything)?
        } else {
            store.create(&resource, object, WriteMode::Everything)?
        };
        Ok(present(
            &resource,
            &stored,
            split_api_version(&api_version).1,
        ))
    }

    /// Deletes an object (emits DELETED with its last state); returns that state.
    pub fn delete(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Value, FakeError> {
        let resource = self.resource(api_version, kind)?;
        let key = (object_namespace(&resource, namespace), name.to_owned());
        let deleted = self.shared.store().delete(&resource, key, None, None)?;
        Ok(present(
            &resource,
            &deleted,
            split_api_version(api_version).1,
        ))
    }

    /// One object, as the version in `api_version` shows it.
    pub fn get(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Option<Value>, FakeError> {
        let resource = self.resource(api_version, kind)?;
        let key = (object_namespace(&resource, namespace), name.to_owned());
        let store = self.shared.store();
        let object = store.get(&resource.key(), &key);
        Ok(object.map(|o| present(&resource, o, split_api_version(api_version).1)))
    }

    /// Every object of a kind, all namespaces, sorted by namespace then name. (The kind
    /// needs its apiVersion: core `v1` and `events.k8s.io/v1` both have an `Event`.)
    pub fn list(&self, api_version: &str, kind: &str) -> Result<Vec<Value>, FakeError> {
        let resource = self.resource(api_version, kind)?;
        let everything = selector::Filter::default();
        let store = self.shared.store();
        let version = split_api_version(api_version).1;
        let objects = store.list(&resource.key(), &everything, None);
        Ok(objects
            .map(|(_, o)| present(&resource, o, version))
            .collect())
    }

    /// The newest resourceVersion.
    #[must_use]
    pub fn resource_version(&self) -> u64 {
        self.shared.store().rv()
    }

    /// Ends every open watch stream cleanly. Clients see the stream end and resume from
    /// their last resourceVersion; events made in between are replayed from history.
    pub fn break_watches(&self) {
        self.shared.breaks.send_modify(|n| *n += 1);
    }

    /// `true`: new watch requests are held unanswered (the client waits for the response)
    /// until `hold_watches(false)`; open streams are not affected. With
    /// [`Self::break_watches`] this makes a deterministic gap in which writes happen while
    /// no watch is open. Held watches start from the resourceVersion they asked for, so
    /// they replay what happened meanwhile (or get 410 after a [`Self::compact`]).
    pub fn hold_watches(&self, hold: bool) {
        self.shared.watches_held.send_replace(hold);
    }

    /// Forgets all history up to now, as etcd compaction does. Open watches are not
    /// affected, but a watch resumed (or a LIST continued) from an older resourceVersion
    /// gets 410 Gone, and kube's watcher must relist.
    pub fn compact(&self) {
        self.shared.store().compact();
    }

    /// `false`: close the listener and every connection (clients get connection refused);
    /// `true`: listen again, on the same port. The store is kept; the test-side API keeps
    /// working meanwhile. Returns when the change is done.
    pub async fn set_available(&self, available: bool) -> Result<(), FakeError> {
        let running = {
            let mut accept = lock(&self.accept);
            if accept.shut_down {
                return Err(FakeError::ShutDown);
            }
            if available {
                if accept.task.is_none() {
                    let listener = server::bind(self.addr)?;
                    let (stop, stopped) = oneshot::channel();
                    let task = server::spawn_accept(Arc::clone(&self.shared), listener, stopped);
                    accept.task = Some((task, stop));
                }
                return Ok(());
            }
            accept.task.take()
        };
        stop(running).await;
        Ok(())
    }

    /// Whether the server is listening.
    #[must_use]
    pub fn is_available(&self) -> bool {
        lock(&self.accept).task.is_some()
    }

    /// Stops the server and waits until every connection is closed.
    pub async fn shutdown(self) {
        let running = {
            let mut accept = lock(&self.accept);
            accept.shut_down = true;
            accept.task.take()
        };
        stop(running).await;
    }

    /// Every request received so far, oldest first.
    #[must_use]
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.requests().clone()
    }

    /// Forgets the recorded requests (so that the next waits and assertions only see new
    /// ones).
    pub fn clear_requests(&self) {
        self.shared.requests().clear();
    }

    /// Waits for a recorded request (including ones already received) that `matches`.
    pub async fn wait_for_request(
        &self,
        matches: impl Fn(&RecordedRequest) -> bool,
        timeout: Duration,
    ) -> Result<RecordedRequest, FakeError> {
        let found = self
            .shared
            .wait_for(timeout, |shared| {
                shared.requests().iter().find(|r| matches(r)).cloned()
            })
            .await;
        found.ok_or_else(|| FakeError::Timeout(timeout, "a matching request".into()))
    }

    /// How many watch streams on a kind's collection are open now.
    pub fn open_watches(&self, api_version: &str, kind: &str) -> Result<usize, FakeError> {
        let resource = self.resource(api_version, kind)?;
        Ok(self.shared.open_watches(&resource.key()))
    }

    /// Waits until exactly `count` watch streams on a kind's collection are open (0: the
    /// old streams are really gone, e.g. after [`Self::break_watches`]).
    pub async fn wait_for_open_watches(
        &self,
        api_version: &str,
        kind: &str,
        count: usize,
        timeout: Duration,
    ) -> Result<(), FakeError> {
        let key = self.resource(api_version, kind)?.key();
        let found = self
            .shared
            .wait_for(timeout, |shared| {
                (shared.open_watches(&key) == count).then_some(())
            })
            .await;
        found.ok_or_else(|| FakeError::Timeout(timeout, format!("{count} open {kind} watches")))
    }
}

/// Stops an accept loop and waits for it (and its connections) to end.
async fn stop(running: Option<(JoinHandle<()>, oneshot::Sender<()>)>) {
    if let Some((task, stop)) = running {
        drop(stop);
        // A panicked or cancelled accept task is stopped all the same.
        let _ = task.await;
    }
}

fn object_namespace(resource: &ResourceType, namespace: Option<&str>) -> String {
    if resource.namespaced {
        namespace.unwrap_or_default().to_owned()
    } else {
        String::new()
    }
}
