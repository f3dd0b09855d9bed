//! WATCH: newline-delimited JSON events, one chunk per event.
//!
//! A stream replays the collection's history after its start rv, then waits for writes.
//! Selectors are applied per event against the object before and after the write, so an
//! object that starts matching arrives as ADDED and one that stops matching as DELETED
//! (carrying its previous content at the new rv), as the real watch cache does.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::Stream;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::meta;
use crate::registry::ResourceType;
use crate::selector::Filter;
use crate::shared::{Shared, WatchGuard};
use crate::status::ApiError;
use crate::store::{EventType, HistoryEvent, present};

/// Where a watch starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Start {
    /// After this rv (`resourceVersion=N`): replayed from history, 410 when compacted.
    After(u64),
    /// From the current state (`resourceVersion` unset or `0`): an ADDED per existing
    /// object first. With `initial_events_end` (`sendInitialEvents=true`), a BOOKMARK
    /// annotated `k8s.io/initial-events-end: "true"` follows them.
    Now { initial_events_end: bool },
}

/// A parsed watch request.
pub(crate) struct WatchSpec {
    pub(crate) resource: ResourceType,
    pub(crate) version: String,
    pub(crate) filter: Filter,
    pub(crate) start: Start,
    pub(crate) bookmarks: bool,
    pub(crate) timeout: Option<Duration>,
}

struct WatchStream {
    spec: WatchSpec,
    /// Everything up to this rv has been sent (or did not concern this watch).
    last_rv: u64,
    queue: VecDeque<Bytes>,
    /// End once the queue is drained.
    finished: bool,
    changes: watch::Receiver<u64>,
    breaks: watch::Receiver<u64>,
    deadline: Option<Instant>,
    next_bookmark: Instant,
    guard: WatchGuard,
}

enum Wake {
    Changed,
    End,
    Bookmark,
}

/// Opens a watch: the returned stream yields one JSON line per event and ends on
/// `timeoutSeconds`, `break_watches`, a 410, or when its connection is dropped.
pub(crate) fn open(shared: Arc<Shared>, spec: WatchSpec) -> impl Stream<Item = Bytes> + Send {
    let interval = shared.options.bookmark_interval;
    let breaks = shared.breaks.subscribe();
    let (changes, start_rv, compacted, initial) = {
        let store = shared.store();
        let initial: Vec<Value> = match spec.start {
            Start::Now { .. } => store
                .list(&spec.resource.key(), &spec.filter, None)
                .map(|(_, object)| object.clone())
                .collect(),
            Start::After(_) => Vec::new(),
        };
        (store.subscribe(), store.rv(), store.compacted(), initial)
    };
    let now = Instant::now();
    let mut stream = WatchStream {
        last_rv: start_rv,
        queue: VecDeque::new(),
        finished: false,
        changes,
        breaks,
        deadline: spec.timeout.map(|t| now + t),
        next_bookmark: now + interval,
        guard: WatchGuard::new(shared, spec.resource.key()),
        spec,
    };
    match stream.spec.start {
        Start::After(rv) if rv < compacted => {
            stream.push_gone(rv, compacted);
        }
        Start::After(rv) => {
            stream.last_rv = rv;
            stream.collect();
            if stream.spec.bookmarks {
                stream.push_bookmark(false);
            }
        }
        Start::Now { initial_events_end } => {
            for object in &initial {
                stream.push_event(EventType::Added, object);
            }
            if initial_events_end || stream.spec.bookmarks {
                stream.push_bookmark(initial_events_end);
            }
        }
    }
    futures::stream::unfold(stream, |mut stream| async move {
        let line = stream.next_line().await?;
        Some((line, stream))
    })
}

impl WatchStream {
    async fn next_line(&mut self) -> Option<Bytes> {
        loop {
            if let Some(line) = self.queue.pop_front() {
                return Some(line);
            }
            if self.finished {
                return None;
            }
            // Mark the current rv seen before reading the store: a write after this point
            // wakes the `changed` below.
            self.changes.borrow_and_update();
            if self.collect() {
                continue;
            }
            let deadline = self.deadline;
            let bookmark_at = self.next_bookmark;
            let wake = tokio::select! {
                changed = self.changes.changed() => {
                    if changed.is_ok() { Wake::Changed } else { Wake::End }
                }
                _ = self.breaks.changed() => Wake::End,
                () = sleep_until(deadline) => Wake::End,
                () = tokio::time::sleep_until(bookmark_at), if self.spec.bookmarks => Wake::Bookmark,
            };
            match wake {
                Wake::Changed => {}
                Wake::End => self.finished = true,
                Wake::Bookmark => self.push_bookmark(false),
            }
        }
    }

    /// Queues the events after `last_rv`; true when there is something to send.
    fn collect(&mut self) -> bool {
        let shared = Arc::clone(self.guard.shared());
        let store = shared.store();
        match store.events_since(&self.spec.resource.key(), self.last_rv) {
            Some(events) => {
                for event in &events {
                    self.push_history_event(event);
                }
                self.last_rv = self.last_rv.max(store.rv());
            }
            // Compaction discarded events this live watch had not sent yet.
            None => {
                let (last, compacted) = (self.last_rv, store.compacted());
                drop(store);
                self.push_gone(last, compacted);
            }
        }
        !self.queue.is_empty() || self.finished
    }

    fn push_history_event(&mut self, event: &HistoryEvent) {
        let filter = &self.spec.filter;
        let matches_now = filter.matches(&event.object);
        match event.kind {
            EventType::Added | EventType::Deleted if matches_now => {
                self.push_event(event.kind, &event.object);
            }
            EventType::Added | EventType::Deleted => {}
            EventType::Modified => {
                let matched_before = event.prev.as_ref().is_some_and(|prev| filter.matches(prev));
                match (matched_before, matches_now) {
                    (true, true) => self.push_event(EventType::Modified, &event.object),
                    (false, true) => self.push_event(EventType::Added, &event.object),
                    (true, false) => {
                        let mut gone = event.prev.clone().unwrap_or_default();
                        meta::set_str(&mut gone, "resourceVersion", &event.rv.to_string());
                        self.push_event(EventType::Deleted, &gone);
                    }
                    (false, false) => {}
                }
            }
        }
    }

    fn push_event(&mut self, kind: EventType, object: &Value) {
        let object = present(&self.spec.resource, object, &self.spec.version);
        self.push_line(&json!({ "type": kind.as_str(), "object": object }));
    }

    /// A BOOKMARK at `last_rv`: every event up to it has been sent.
    fn push_bookmark(&mut self, initial_events_end: bool) {
        let mut metadata = json!({ "resourceVersion": self.last_rv.to_string() });
        if initial_events_end {
            metadata["annotations"] = json!({ "k8s.io/initial-events-end": "true" });
        }
        let object = json!({
            "kind": self.spec.resource.kind,
            "apiVersion": self.spec.resource.api_version(&self.spec.version),
            "metadata": metadata,
        });
        self.push_line(&json!({ "type": "BOOKMARK", "object": object }));
        self.next_bookmark = Instant::now() + self.guard.shared().options.bookmark_interval;
    }

    /// The 410 ERROR event that makes a client relist; the stream ends after it.
    fn push_gone(&mut self, rv: u64, compacted: u64) {
        let status = ApiError::gone(format!("too old resource version: {rv} ({compacted})"));
        self.push_line(&json!({ "type": "ERROR", "object": status.to_status() }));
        self.finished = true;
    }

    fn push_line(&mut self, event: &Value) {
        let mut line = serde_json::to_vec(event).unwrap_or_default();
        line.push(b'\n');
        self.queue.push_back(Bytes::from(line));
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
