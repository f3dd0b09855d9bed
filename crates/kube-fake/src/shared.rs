//! State shared by the test's handle, the HTTP handlers and the watch streams.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::registry::ResourceKey;
use crate::store::Store;

/// What a request did, in the API server's audit vocabulary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verb {
    /// GET of one object (or of its `/status`).
    Get,
    /// GET of a collection.
    List,
    /// GET of a collection (or object) with `watch=true`.
    Watch,
    /// POST to a collection.
    Create,
    /// PUT of an object or its `/status`.
    Update,
    /// PATCH of an object or its `/status`.
    Patch,
    /// DELETE of an object.
    Delete,
    /// Anything the fake does not serve (unknown path or method), and `/version`.
    Other,
}

/// One request the fake received, as the tests assert on it.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedRequest {
    /// HTTP method, e.g. `PATCH`.
    pub method: String,
    /// What the request did (decided from method, path and `watch`).
    pub verb: Verb,
    /// URL path without the query, e.g. `/apis/gateway.networking.k8s.io/v1/namespaces/default/httproutes/r/status`.
    pub path: String,
    /// Query parameters, percent-decoded (the last one wins when a name repeats).
    pub query: BTreeMap<String, String>,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// The body parsed as JSON; a body that is not JSON is kept as a JSON string.
    pub body: Option<Value>,
    /// The HTTP status the fake answered with (200 for a watch, whatever it then streamed).
    pub status: u16,
}

impl RecordedRequest {
    /// A query parameter, e.g. `param("fieldManager")`.
    #[must_use]
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query.get(name).map(String::as_str)
    }

    /// Whether the path ends in `/status`.
    #[must_use]
    pub fn is_status(&self) -> bool {
        self.path.ends_with("/status")
    }
}

/// Options for [`crate::FakeApiServer::start_with`].
#[derive(Clone, Debug)]
pub struct FakeOptions {
    /// How often a watch that asked for bookmarks (`allowWatchBookmarks=true`) gets one.
    /// Every watch also gets one as soon as it has caught up. Default: 2 seconds.
    pub bookmark_interval: Duration,
}

impl Default for FakeOptions {
    fn default() -> Self {
        Self {
            bookmark_interval: Duration::from_secs(2),
        }
    }
}

pub(crate) struct Shared {
    pub(crate) store: Mutex<Store>,
    pub(crate) options: FakeOptions,
    /// Bumped by `break_watches`: every open watch ends.
    pub(crate) breaks: watch::Sender<u64>,
    /// While true, new watch requests wait before they are answered.
    pub(crate) watches_held: watch::Sender<bool>,
    requests: Mutex<Vec<RecordedRequest>>,
    open_watches: Mutex<HashMap<ResourceKey, usize>>,
    /// Bumped whenever a request is recorded or a watch opens or closes, to wake waiters.
    activity: watch::Sender<u64>,
}

/// Locks a mutex, ignoring poisoning: a panicking test thread must not hide the state from
/// the assertions that follow.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    pub(crate) fn new(options: FakeOptions) -> Arc<Self> {
        Arc::new(Self {
            store: Mutex::new(Store::new()),
            options,
            breaks: watch::Sender::new(0),
            watches_held: watch::Sender::new(false),
            requests: Mutex::new(Vec::new()),
            open_watches: Mutex::new(HashMap::new()),
            activity: watch::Sender::new(0),
        })
    }

    pub(crate) fn store(&self) -> MutexGuard<'_, Store> {
        lock(&self.store)
    }

    pub(crate) fn record(&self, request: RecordedRequest) {
        lock(&self.requests).push(request);
        self.activity.send_modify(|n| *n += 1);
    }

    pub(crate) fn requests(&self) -> MutexGuard<'_, Vec<RecordedRequest>> {
        lock(&self.requests)
    }

    pub(crate) fn open_watches(&self, resource: &ResourceKey) -> usize {
        lock(&self.open_watches).get(resource).copied().unwrap_or(0)
    }

    /// Waits until `check` returns something, re-checking after every request and every
    /// watch opened or closed; `None` when `timeout` passes first.
    pub(crate) async fn wait_for<T>(
        &self,
        timeout: Duration,
        mut check: impl FnMut(&Self) -> Option<T>,
    ) -> Option<T> {
        let deadline = Instant::now() + timeout;
        let mut activity = self.activity.subscribe();
        loop {
            activity.borrow_and_update();
            if let Some(found) = check(self) {
                return Some(found);
            }
            // The sender lives in `self`, so `changed` only ends by the deadline.
            if tokio::time::timeout_at(deadline, activity.changed())
                .await
                .is_err()
            {
                return None;
            }
        }
    }
}

/// Counts one open watch on a collection for as long as it lives (the watch stream owns it,
/// so the count drops when the stream ends or its connection goes away).
pub(crate) struct WatchGuard {
    shared: Arc<Shared>,
    resource: ResourceKey,
}

impl WatchGuard {
    pub(crate) fn new(shared: Arc<Shared>, resource: ResourceKey) -> Self {
        *lock(&shared.open_watches)
            .entry(resource.clone())
            .or_default() += 1;
        shared.activity.send_modify(|n| *n += 1);
        Self { shared, resource }
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }
}

impl Drop for WatchGuard {
    fn drop(&mut self) {
        if let Some(count) = lock(&self.shared.open_watches).get_mut(&self.resource) {
            *count = count.saturating_sub(1);
        }
        self.shared.activity.send_modify(|n| *n += 1);
    }
}
