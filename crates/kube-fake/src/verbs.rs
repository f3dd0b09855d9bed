//! GET, LIST, WATCH, POST, PUT, PATCH and DELETE on a routed path.

use std::time::Duration;

use serde_json::{Value, json};

use crate::handler::{Call, Reply};
use crate::meta;
use crate::patch::{json_patch, merge_patch};
use crate::registry::split_api_version;
use crate::selector::Filter;
use crate::shared::Shared;
use crate::status::ApiError;
use crate::store::WriteMode;
use crate::watch::{Start, WatchSpec};

const GONE_CONTINUE: &str = "The provided continue parameter is too old to display a \
    consistent list result. You can start a new list without the continue parameter.";

pub(crate) fn get(shared: &Shared, call: &Call<'_>) -> Result<Reply, ApiError> {
    let key = call.key();
    let store = shared.store();
    let object = store
        .get(&call.resource.key(), &key)
        .ok_or_else(|| ApiError::not_found(&call.resource, &key.1))?;
    Ok(Reply::Json(200, call.present(object)))
}

fn filter(call: &Call<'_>) -> Result<Filter, ApiError> {
    let secrets = call.resource.group.is_empty() && call.resource.kind == "Secret";
    let filter = Filter::parse(
        call.target.namespace.as_deref(),
        call.param("labelSelector"),
        call.param("fieldSelector"),
        secrets,
    )?;
    Ok(match &call.target.name {
        Some(name) => filter.with_name(name),
        None => filter,
    })
}

/// LIST, paginated with `limit` and `continue`. Pages after the first are read from the
/// current state after the last key (not from a snapshot at the first page's rv, which
/// the fake does not keep) but report the first page's rv: a watch from it then delivers
/// anything that changed in between, so a watcher still ends up consistent.
pub(crate) fn list(shared: &Shared, call: &Call<'_>) -> Result<Reply, ApiError> {
    let filter = filter(call)?;
    let limit = match call.param("limit") {
        None => None,
        Some(limit) => Some(
            limit
                .parse::<usize>()
                .map_err(|_| ApiError::bad_request(format!("invalid limit {limit:?}")))?,
        )
        .filter(|limit| *limit > 0),
    };
    let store = shared.store();
    let (list_rv, after) = match call.param("continue") {
        Some(token) => {
            let (rv, key) = decode_continue(token)?;
            if rv < store.compacted() {
                return Err(ApiError::gone(GONE_CONTINUE));
            }
            (rv, Some(key))
        }
        None => (store.rv(), None),
    };
    let mut items = Vec::new();
    let mut last = None;
    let mut next = None;
    for (key, object) in store.list(&call.resource.key(), &filter, after.as_ref()) {
        if limit.is_some_and(|limit| items.len() == limit) {
            next = last.map(|(ns, name): &(String, String)| format!("{list_rv}/{ns}/{name}"));
            break;
        }
        items.push(call.present(object));
        last = Some(key);
    }
    let mut metadata = json!({ "resourceVersion": list_rv.to_string() });
    if let Some(token) = next {
        metadata["continue"] = Value::String(token);
    }
    Ok(Reply::Json(
        200,
        json!({
            "apiVersion": call.resource.api_version(&call.target.version),
            "kind": format!("{}List", call.resource.kind),
            "metadata": metadata,
            "items": items,
        }),
    ))
}

/// A continue token is `rv/namespace/name` (neither can contain a slash).
fn decode_continue(token: &str) -> Result<(u64, (String, String)), ApiError> {
    let bad = || ApiError::bad_request(format!("invalid continue token {token:?}"));
    let mut parts = token.splitn(3, '/');
    let rv = parts
        .next()
        .and_then(|rv| rv.parse().ok())
        .ok_or_else(bad)?;
    let namespace = parts.next().ok_or_else(bad)?;
    let name = parts.next().ok_or_else(bad)?;
    Ok((rv, (namespace.to_owned(), name.to_owned())))
}

pub(crate) fn watch(call: &Call<'_>) -> Result<Reply, ApiError> {
    let filter = filter(call)?;
    let bookmarks = call.param("allowWatchBookmarks") == Some("true");
    let initial_events = call.param("sendInitialEvents") == Some("true");
    if initial_events && call.param("resourceVersionMatch") != Some("NotOlderThan") {
        return Err(ApiError::invalid(
            "sendInitialEvents requires resourceVersionMatch=NotOlderThan",
        ));
    }
    if initial_events && !bookmarks {
        return Err(ApiError::invalid(
            "sendInitialEvents requires setting allowWatchBookmarks to true",
        ));
    }
    let start = match call.param("resourceVersion") {
        _ if initial_events => Start::Now {
            initial_events_end: true,
        },
        None | Some("0") => Start::Now {
            initial_events_end: false,
        },
        Some(rv) => Start::After(
            rv.parse()
                .map_err(|_| ApiError::bad_request(format!("invalid resourceVersion {rv:?}")))?,
        ),
    };
    let timeout = match call.param("timeoutSeconds") {
        None => None,
        Some(secs) => Some(Duration::from_secs(secs.parse().map_err(|_| {
            ApiError::bad_request(format!("invalid timeoutSeconds {secs:?}"))
        })?)),
    };
    Ok(Reply::Watch(Box::new(WatchSpec {
        resource: call.resource.clone(),
        version: call.target.version.clone(),
        filter,
        start,
        bookmarks,
        timeout,
    })))
}

/// Writes with `dryRun` would be persisted by a fake that ignored it: refuse them.
fn refuse_dry_run(call: &Call<'_>) -> Result<(), ApiError> {
    match call.param("dryRun") {
        Some(_) => Err(ApiError::bad_request(
            "the fake API server does not support dryRun",
        )),
        None => Ok(()),
    }
}

fn body_json(call: &Call<'_>) -> Result<Value, ApiError> {
    serde_json::from_slice(call.body)
        .map_err(|e| ApiError::bad_request(format!("the fake reads request bodies as JSON: {e}")))
}

fn body_object(call: &Call<'_>) -> Result<Value, ApiError> {
    let body = body_json(call)?;
    if !body.is_object() {
        return Err(ApiError::bad_request(
            "the request body must be a JSON object",
        ));
    }
    check_type(call, &body)?;
    Ok(body)
}

/// `kind` and `apiVersion`, when given, must be those of the path.
fn check_type(call: &Call<'_>, object: &Value) -> Result<(), ApiError> {
    let resource = &call.resource;
    if let Some(kind) = object.get("kind").and_then(Value::as_str)
        && kind != resource.kind
    {
        return Err(ApiError::bad_request(format!(
            "the object's kind {kind} does not match the resource {} served at this path",
            resource.kind
        )));
    }
    if let Some(api_version) = object.get("apiVersion").and_then(Value::as_str) {
        let (group, version) = split_api_version(api_version);
        if group != resource.group || !resource.versions.iter().any(|v| v == version) {
            return Err(ApiError::bad_request(format!(
                "the object's apiVersion {api_version} is not served at this path"
            )));
        }
    }
    Ok(())
}

/// Fills namespace and name from the path, refusing a body that names another object.
fn place(call: &Call<'_>, object: &mut Value) -> Result<(), ApiError> {
    if let Some(path_ns) = &call.target.namespace {
        match meta::namespace(object) {
            Some(ns) if ns != path_ns => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            _ => meta::set_str(object, "namespace", path_ns),
        }
    }
    if let Some(path_name) = &call.target.name {
        match meta::name(object) {
            Some(name) if name != path_name => {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({name}) does not match the name on the URL ({path_name})"
                )));
            }
            _ => meta::set_str(object, "name", path_name),
        }
    }
    Ok(())
}

pub(crate) fn create(shared: &Shared, call: &Call<'_>) -> Result<Reply, ApiError> {
    refuse_dry_run(call)?;
    let mut object = body_object(call)?;
    place(call, &mut object)?;
    let mut store = shared.store();
    if meta::name(&object).is_none()
        && let Some(prefix) = meta::field(&object, "generateName").map(str::to_owned)
    {
        let name = store.generate_name(&call.resource, &object, &prefix);
        meta::set_str(&mut object, "name", &name);
    }
    let created = store.create(&call.resource, object, WriteMode::Main)?;
    Ok(Reply::Json(201, call.present(&created)))
}

pub(crate) fn replace(shared: &Shared, call: &Call<'_>) -> Result<Reply, ApiError> {
    refuse_dry_run(call)?;
    let mut object = body_object(call)?;
    place(call, &mut object)?;
    let updated = shared.store().update(&call.resource, object, call.mode())?;
    Ok(Reply::Json(200, call.present(&updated)))
}

const APPLY: &str = "application/apply-patch+yaml";
const MERGE: &str = "application/merge-patch+json";
const STRATEGIC: &str = "application/strategic-merge-patch+json";
const JSON_PATCH: &str = "application/json-patch+json";

/// PATCH. The read-modify-write happens under one store lock, so concurrent patches never
/// lose each other's changes.
pub(crate) fn patch(shared: &Shared, call: &Call<'_>) -> Result<Reply, ApiError> {
    refuse_dry_run(call)?;
    let content_type = call.content_type.unwrap_or("");
    if ![APPLY, MERGE, STRATEGIC, JSON_PATCH].contains(&content_type) {
        return Err(ApiError::unsupported_media_type(content_type));
    }
    let patch = body_json(call)?;
    let apply = content_type == APPLY;
    if apply {
        if call.param("fieldManager").is_none() {
            return Err(ApiError::invalid(
                "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: \
                 is required for apply patch",
            ));
        }
        if !patch.get("apiVersion").is_some_and(Value::is_string)
            || !patch.get("kind").is_some_and(Value::is_string)
        {
            return Err(ApiError::bad_request(
                "an apply patch must set apiVersion and kind",
            ));
        }
    }
    if content_type != JSON_PATCH && !patch.is_object() {
        return Err(ApiError::bad_request(
            "a merge or apply patch must be a JSON object",
        ));
    }
    if content_type != JSON_PATCH {
        check_type(call, &patch)?;
    }
    let key = call.key();
    let mut store = shared.store();
    let Some(old) = store.get(&call.resource.key(), &key).cloned() else {
        // Server-side apply creates a missing object (but not a missing object's status).
        if apply && call.mode() == WriteMode::Main {
            let mut object = patch;
            place(call, &mut object)?;
            let created = store.create(&call.resource, object, WriteMode::Main)?;
            return Ok(Reply::Json(201, call.present(&created)));
        }
        return Err(ApiError::not_found(&call.resource, &key.1));
    };
    if let Some(rv) = meta::resource_version(&patch)
        && Some(rv) != meta::resource_version(&old)
    {
        return Err(ApiError::conflict(&call.resource, &key.1));
    }
    let mut new = old.clone();
    match content_type {
        // Apply on /status sets the status from the patch; field ownership is not modelled.
        APPLY if call.mode() == WriteMode::Status => {
            if let (Some(status), Some(map)) = (patch.get("status"), new.as_object_mut()) {
                map.insert("status".to_owned(), status.clone());
            }
        }
        JSON_PATCH => json_patch(&mut new, &patch)?,
        _ => merge_patch(&mut new, &patch),
    }
    if !new.is_object() {
        return Err(ApiError::invalid("the patch did not leave an object"));
    }
    if meta::name(&new) != meta::name(&old) || meta::namespace(&new) != meta::namespace(&old) {
        return Err(ApiError::invalid(
            "metadata.name and metadata.namespace are immutable",
        ));
    }
    let updated = store.update(&call.resource, new, call.mode())?;
    Ok(Reply::Json(200, call.present(&updated)))
}

pub(crate) fn delete(shared: &Shared, call: &Call<'_>) -> Result<Reply, ApiError> {
    refuse_dry_run(call)?;
    let options = if call.body.is_empty() {
        Value::Null
    } else {
        body_json(call)?
    };
    let precondition = |field: &str| {
        options
            .get("preconditions")
            .and_then(|p| p.get(field))
            .and_then(Value::as_str)
    };
    let deleted = shared.store().delete(
        &call.resource,
        call.key(),
        precondition("resourceVersion"),
        precondition("uid"),
    )?;
    Ok(Reply::Json(200, call.present(&deleted)))
}
