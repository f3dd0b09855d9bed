//! The store's write rules, without HTTP.

use serde_json::{Value, json};

use crate::registry::{Registry, ResourceType};
use crate::selector::Filter;
use crate::status::ApiError;
use crate::store::{EventType, Store, WriteMode};

fn kind(kind: &str, api_version: &str) -> Result<ResourceType, ApiError> {
    Registry::builtin()
        .by_kind(api_version, kind)
        .cloned()
        .ok_or_else(|| ApiError::bad_request(format!("{kind} is built in")))
}

fn route(hostname: &str) -> Value {
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": "r", "namespace": "ns"},
        "spec": {"hostnames": [hostname]},
    })
}

fn field<'a>(object: &'a Value, path: &str) -> &'a Value {
    object.pointer(path).unwrap_or(&Value::Null)
}

#[test]
fn writes_count_generation_and_resource_version() -> Result<(), ApiError> {
    let routes = kind("HTTPRoute", "gateway.networking.k8s.io/v1")?;
    let mut store = Store::new();
    let created = store.create(&routes, route("a"), WriteMode::Main)?;
    assert_eq!(field(&created, "/metadata/generation"), 1);
    assert_eq!(field(&created, "/metadata/resourceVersion"), "2");
    let uid = field(&created, "/metadata/uid").clone();

    let mut relabelled = route("a");
    relabelled["metadata"]["labels"] = json!({"x": "y"});
    let relabelled = store.update(&routes, relabelled, WriteMode::Main)?;
    assert_eq!(field(&relabelled, "/metadata/generation"), 1);
    assert_eq!(field(&relabelled, "/metadata/uid"), &uid);

    let respecced = store.update(&routes, route("b"), WriteMode::Main)?;
    assert_eq!(field(&respecced, "/metadata/generation"), 2);
    assert_eq!(store.rv(), 4);

    // The same content again: not a write.
    let same = store.update(&routes, route("b"), WriteMode::Main)?;
    assert_eq!(same, respecced);
    assert_eq!(store.rv(), 4);
    Ok(())
}

#[test]
fn status_subresource_rules() -> Result<(), ApiError> {
    let routes = kind("HTTPRoute", "gateway.networking.k8s.io/v1")?;
    let mut store = Store::new();
    let mut with_status = route("a");
    with_status["status"] = json!({"parents": []});
    let created = store.create(&routes, with_status.clone(), WriteMode::Main)?;
    assert_eq!(created.get("status"), None, "a create drops the status");

    let status = store.update(&routes, with_status, WriteMode::Status)?;
    assert_eq!(field(&status, "/status"), &json!({"parents": []}));
    assert_eq!(field(&status, "/metadata/generation"), 1);

    // A main write keeps the status; a status write ignores the spec.
    let mut main = route("b");
    main["status"] = json!({"parents": [{"x": 1}]});
    let main = store.update(&routes, main, WriteMode::Main)?;
    assert_eq!(field(&main, "/status"), &json!({"parents": []}));
    let mut spec_in_status_write = route("c");
    spec_in_status_write["status"] = json!({"parents": [{"y": 2}]});
    let status = store.update(&routes, spec_in_status_write, WriteMode::Status)?;
    assert_eq!(field(&status, "/spec/hostnames/0"), "b");
    assert_eq!(field(&status, "/status/parents/0/y"), 2);

    // The test's own apply sets a given status and keeps the stored one otherwise.
    let applied = store.update(&routes, route("d"), WriteMode::Everything)?;
    assert_eq!(field(&applied, "/status/parents/0/y"), 2);
    assert_eq!(field(&applied, "/metadata/generation"), 3);
    Ok(())
}

#[test]
fn stale_resource_version_conflicts() -> Result<(), ApiError> {
    let leases = kind("Lease", "coordination.k8s.io/v1")?;
    let mut store = Store::new();
    let lease =
        json!({"metadata": {"name": "l", "namespace": "ns"}, "spec": {"holderIdentity": "a"}});
    let created = store.create(&leases, lease, WriteMode::Main)?;
    let mut next = created.clone();
    next["spec"]["holderIdentity"] = json!("b");
    store.update(&leases, next, WriteMode::Main)?;
    let mut stale = created;
    stale["spec"]["holderIdentity"] = json!("c");
    let conflict = store.update(&leases, stale.clone(), WriteMode::Main);
    assert_eq!(conflict.map_err(|e| e.reason), Err("Conflict"));
    // The test's own apply has no precondition.
    assert!(store.update(&leases, stale, WriteMode::Everything).is_ok());
    Ok(())
}

#[test]
fn history_deletes_and_compaction() -> Result<(), ApiError> {
    let services = kind("Service", "v1")?;
    let mut store = Store::new();
    let svc = |name: &str| json!({"metadata": {"name": name, "namespace": "ns"}});
    store.create(&services, svc("a"), WriteMode::Main)?;
    let start = store.rv();
    store.create(&services, svc("b"), WriteMode::Main)?;
    let deleted = store.delete(&services, ("ns".into(), "a".into()), None, None)?;
    assert_eq!(
        field(&deleted, "/metadata/resourceVersion"),
        &store.rv().to_string()
    );

    let events = store
        .events_since(&services.key(), start)
        .unwrap_or_default();
    let kinds: Vec<EventType> = events.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [EventType::Added, EventType::Deleted]);
    let everything = Filter::default();
    let names: Vec<&str> = store
        .list(&services.key(), &everything, None)
        .map(|(key, _)| key.1.as_str())
        .collect();
    assert_eq!(names, ["b"]);

    store.compact();
    assert!(
        store.events_since(&services.key(), start).is_none(),
        "lost events"
    );
    let now = store.rv();
    assert_eq!(
        store.events_since(&services.key(), now).map(|e| e.len()),
        Some(0)
    );
    assert_eq!(store.compacted(), now);
    Ok(())
}

#[test]
fn names_and_namespaces_are_required_where_they_apply() -> Result<(), ApiError> {
    let services = kind("Service", "v1")?;
    let namespaces = kind("Namespace", "v1")?;
    let mut store = Store::new();
    let no_ns = store.create(
        &services,
        json!({"metadata": {"name": "a"}}),
        WriteMode::Main,
    );
    assert_eq!(no_ns.map_err(|e| e.code), Err(422));
    let no_name = store.create(&namespaces, json!({"metadata": {}}), WriteMode::Main);
    assert_eq!(no_name.map_err(|e| e.code), Err(422));
    // A namespace on a cluster-scoped object is dropped.
    let ns = json!({"metadata": {"name": "x", "namespace": "y"}});
    let created = store.create(&namespaces, ns, WriteMode::Main)?;
    assert_eq!(created["metadata"].get("namespace"), None);
    let again = store.create(
        &namespaces,
        json!({"metadata": {"name": "x"}}),
        WriteMode::Main,
    );
    assert_eq!(again.map_err(|e| e.reason), Err("AlreadyExists"));
    Ok(())
}

#[test]
fn the_handle_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<crate::FakeApiServer>();
}
