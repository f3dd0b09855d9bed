//! The object store: collections of JSON objects, one global resourceVersion counter (like
//! etcd's revision) and a per-collection event history that watches are served from.

use std::collections::hash_map::RandomState;
use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, Hasher};
use std::ops::Bound;

use serde_json::Value;
use tokio::sync::watch;

use crate::meta;
use crate::registry::{Registry, ResourceKey, ResourceType};
use crate::selector::Filter;
use crate::status::ApiError;

/// (namespace or `""`, name): sorted like etcd keys, namespace first, which is the order
/// LIST pages walk.
pub(crate) type ObjectKey = (String, String);

/// A watch event type as it appears on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Added => "ADDED",
            Self::Modified => "MODIFIED",
            Self::Deleted => "DELETED",
        }
    }
}

/// One write, kept so a watch can replay it. `prev` is the object before the write: a
/// filtered watch needs it to tell "started matching" (ADDED) from "stopped matching"
/// (DELETED carrying the previous object), as the real watch cache does.
#[derive(Clone, Debug)]
pub(crate) struct HistoryEvent {
    pub(crate) rv: u64,
    pub(crate) kind: EventType,
    pub(crate) object: Value,
    pub(crate) prev: Option<Value>,
}

#[derive(Default)]
struct Collection {
    objects: BTreeMap<ObjectKey, Value>,
    history: Vec<HistoryEvent>,
    /// The newest rv `compact` discarded from `history`: a live watch that has not seen
    /// events up to it has lost some.
    discarded_up_to: u64,
}

/// How a write treats `status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WriteMode {
    /// A write to the main resource: on kinds with a status subresource the stored status
    /// is kept (and a create drops the given one).
    Main,
    /// A write to `/status`: only `status` changes.
    Status,
    /// The test's own `apply`: the object is taken as given, status included; an object
    /// without a `status` key keeps the stored status.
    Everything,
}

pub(crate) struct Store {
    rv: u64,
    compacted: u64,
    next_uid: u64,
    uid_seed: u64,
    registry: Registry,
    collections: HashMap<ResourceKey, Collection>,
    /// Carries the newest rv; every open watch holds a receiver and wakes on a write.
    changes: watch::Sender<u64>,
}

impl Store {
    pub(crate) fn new() -> Self {
        Self {
            rv: 1,
            compacted: 0,
            next_uid: 1,
            // Random per server so that objects of two fake servers never share a uid.
            uid_seed: RandomState::new().build_hasher().finish(),
            registry: Registry::builtin(),
            collections: HashMap::new(),
            changes: watch::Sender::new(1),
        }
    }

    pub(crate) fn registry(&self) -> &Registry {
        &self.registry
    }

    pub(crate) fn register(&mut self, resource: ResourceType) {
        self.registry.register(resource);
    }

    /// The newest resourceVersion (the global revision).
    pub(crate) fn rv(&self) -> u64 {
        self.rv
    }

    pub(crate) fn compacted(&self) -> u64 {
        self.compacted
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    pub(crate) fn get(&self, resource: &ResourceKey, key: &ObjectKey) -> Option<&Value> {
        self.collections.get(resource)?.objects.get(key)
    }

    /// Objects after `after` (all when `None`) that pass `filter`, in key order.
    pub(crate) fn list<'a>(
        &'a self,
        resource: &ResourceKey,
        filter: &'a Filter,
        after: Option<&ObjectKey>,
    ) -> impl Iterator<Item = (&'a ObjectKey, &'a Value)> + 'a {
        let lower = after.map_or(Bound::Unbounded, |key| Bound::Excluded(key.clone()));
        self.collections
            .get(resource)
            .into_iter()
            .flat_map(move |collection| collection.objects.range((lower.clone(), Bound::Unbounded)))
            .filter(|(_, object)| filter.matches(object))
    }

    /// The events of a collection newer than `since`, or `None` when compaction discarded
    /// some of them.
    pub(crate) fn events_since(
        &self,
        resource: &ResourceKey,
        since: u64,
    ) -> Option<Vec<HistoryEvent>> {
        let Some(collection) = self.collections.get(resource) else {
            return Some(Vec::new());
        };
        if since < collection.discarded_up_to {
            return None;
        }
        let start = collection
            .history
            .partition_point(|event| event.rv <= since);
        Some(collection.history[start..].to_vec())
    }

    /// Forgets all history up to now: new watches from an older rv (and old continue
    /// tokens) get 410 Gone.
    pub(crate) fn compact(&mut self) {
        self.compacted = self.rv;
        for collection in self.collections.values_mut() {
            if let Some(last) = collection.history.last() {
                collection.discarded_up_to = last.rv;
            }
            collection.history.clear();
        }
    }

    /// Creates an object; its name and namespace must already be valid for `resource`.
    pub(crate) fn create(
        &mut self,
        resource: &ResourceType,
        mut object: Value,
        mode: WriteMode,
    ) -> Result<Value, ApiError> {
        let key = object_key(resource, &object)?;
        if self.get(&resource.key(), &key).is_some() {
            return Err(ApiError::already_exists(resource, &key.1));
        }
        let uid = self.next_uid();
        set_type(resource, &mut object);
        meta::set_str(&mut object, "uid", &uid);
        meta::set_str(&mut object, "creationTimestamp", &meta::now_rfc3339());
        meta::set(&mut object, "generation", 1);
        if mode == WriteMode::Main
            && resource.status_subresource
            && let Some(map) = object.as_object_mut()
        {
            map.remove("status");
        }
        Ok(self.commit(resource, key, EventType::Added, Some(object), None))
    }

    /// Replaces an existing object. Unless `mode` is `Everything`, a `resourceVersion` in
    /// the object is a precondition (409 Conflict when it is not the stored one). A write
    /// that changes nothing is not a write: no new rv, no event (as the real server).
    pub(crate) fn update(
        &mut self,
        resource: &ResourceType,
        new: Value,
        mode: WriteMode,
    ) -> Result<Value, ApiError> {
        let key = object_key(resource, &new)?;
        let Some(old) = self.get(&resource.key(), &key).cloned() else {
            return Err(ApiError::not_found(resource, &key.1));
        };
        if mode != WriteMode::Everything
            && let Some(rv) = meta::resource_version(&new)
            && Some(rv) != meta::resource_version(&old)
        {
            return Err(ApiError::conflict(resource, &key.1));
        }
        let mut result = match mode {
            WriteMode::Status => with_status_of(old.clone(), &new),
            WriteMode::Main if resource.status_subresource => with_status_of(new, &old),
            // Like `kubectl apply` of a manifest without status: the status a controller
            // wrote survives the test editing the spec.
            WriteMode::Everything if new.get("status").is_none() => with_status_of(new, &old),
            WriteMode::Main | WriteMode::Everything => new,
        };
        set_type(resource, &mut result);
        for field in ["uid", "creationTimestamp", "resourceVersion"] {
            match old.get("metadata").and_then(|m| m.get(field)) {
                Some(value) => meta::set(&mut result, field, value.clone()),
                None => drop(meta::metadata_mut(&mut result).remove(field)),
            }
        }
        let generation = old
            .get("metadata")
            .and_then(|m| m.get("generation"))
            .and_then(Value::as_i64)
            .unwrap_or(1);
        let bump = i64::from(meta::spec_differs(&old, &result));
        meta::set(&mut result, "generation", generation + bump);
        if result == old {
            return Ok(old);
        }
        Ok(self.commit(resource, key, EventType::Modified, Some(result), Some(old)))
    }

    /// Deletes an object, checking the optional `resourceVersion`/`uid` preconditions.
    pub(crate) fn delete(
        &mut self,
        resource: &ResourceType,
        key: ObjectKey,
        precondition_rv: Option<&str>,
        precondition_uid: Option<&str>,
    ) -> Result<Value, ApiError> {
        let Some(old) = self.get(&resource.key(), &key).cloned() else {
            return Err(ApiError::not_found(resource, &key.1));
        };
        let rv_differs = precondition_rv.is_some_and(|rv| Some(rv) != meta::resource_version(&old));
        let uid_differs = precondition_uid.is_some_and(|uid| Some(uid) != meta::field(&old, "uid"));
        if rv_differs || uid_differs {
            return Err(ApiError::conflict(resource, &key.1));
        }
        Ok(self.commit(resource, key, EventType::Deleted, None, Some(old)))
    }

    /// Writes (or removes, when `object` is `None`) under the next rv and records the event.
    /// A deleted object is reported with the deletion's rv, as etcd does, so a watcher
    /// resuming from it does not see the deletion twice.
    fn commit(
        &mut self,
        resource: &ResourceType,
        key: ObjectKey,
        kind: EventType,
        object: Option<Value>,
        prev: Option<Value>,
    ) -> Value {
        self.rv += 1;
        let rv = self.rv.to_string();
        let collection = self.collections.entry(resource.key()).or_default();
        let mut event_object = match (object, &prev) {
            (Some(object), _) => object,
            (None, Some(prev)) => prev.clone(),
            (None, None) => Value::Null,
        };
        meta::set_str(&mut event_object, "resourceVersion", &rv);
        if kind == EventType::Deleted {
            collection.objects.remove(&key);
        } else {
            collection.objects.insert(key, event_object.clone());
        }
        collection.history.push(HistoryEvent {
            rv: self.rv,
            kind,
            object: event_object.clone(),
            prev,
        });
        self.changes.send_replace(self.rv);
        event_object
    }

    /// `metadata.generateName`: the prefix and five characters, unused in the namespace.
    pub(crate) fn generate_name(
        &mut self,
        resource: &ResourceType,
        object: &Value,
        prefix: &str,
    ) -> String {
        let namespace = meta::namespace(object).filter(|_| resource.namespaced);
        loop {
            self.next_uid += 1;
            // A cheap mix so successive names do not look sequential.
            let mut n = self.next_uid.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ self.uid_seed;
            let suffix: String = (0..5)
                .map(|_| {
                    let c = b"bcdfghjklmnpqrstvwxz2456789"[(n % 27) as usize];
                    n /= 27;
                    char::from(c)
                })
                .collect();
            let name = format!("{prefix}{suffix}");
            let key = (namespace.unwrap_or("").to_owned(), name.clone());
            if self.get(&resource.key(), &key).is_none() {
                return name;
            }
        }
    }

    /// A unique, UUID-shaped uid.
    fn next_uid(&mut self) -> String {
        let n = self.next_uid;
        self.next_uid += 1;
        let seed = self.uid_seed;
        format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{n:012x}",
            seed >> 32,
            (seed >> 16) & 0xffff,
            (seed >> 4) & 0xfff,
            seed & 0xfff
        )
    }
}

/// `target` with the `status` of `source` (or none, when `source` has none).
fn with_status_of(mut target: Value, source: &Value) -> Value {
    if let Some(map) = target.as_object_mut() {
        match source.get("status") {
            Some(status) => drop(map.insert("status".to_owned(), status.clone())),
            None => drop(map.remove("status")),
        }
    }
    target
}

/// Stored objects carry the storage version and the registered kind.
fn set_type(resource: &ResourceType, object: &mut Value) {
    if let Some(map) = object.as_object_mut() {
        map.insert(
            "apiVersion".to_owned(),
            resource.storage_api_version().into(),
        );
        map.insert("kind".to_owned(), resource.kind.clone().into());
        if !resource.namespaced
            && let Some(Value::Object(metadata)) = map.get_mut("metadata")
        {
            metadata.remove("namespace");
        }
    }
}

/// The key of an object of `resource`: name required; namespace required on namespaced
/// kinds and ignored on cluster-scoped ones.
pub(crate) fn object_key(resource: &ResourceType, object: &Value) -> Result<ObjectKey, ApiError> {
    let name = meta::name(object)
        .ok_or_else(|| ApiError::invalid("metadata.name: Required value: name is required"))?;
    let namespace = match (resource.namespaced, meta::namespace(object)) {
        (true, Some(ns)) => ns.to_owned(),
        (true, None) => {
            return Err(ApiError::invalid(format!(
                "metadata.namespace: Required value: {} is namespaced",
                resource.kind
            )));
        }
        (false, _) => String::new(),
    };
    Ok((namespace, name.to_owned()))
}

/// An object as served at `version`: apiVersion rewritten to it (one schema per kind).
pub(crate) fn present(resource: &ResourceType, object: &Value, version: &str) -> Value {
    let mut object = object.clone();
    if let Some(map) = object.as_object_mut() {
        map.insert(
            "apiVersion".to_owned(),
            resource.api_version(version).into(),
        );
        map.insert("kind".to_owned(), resource.kind.clone().into());
    }
    object
}
