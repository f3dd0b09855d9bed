//! JSON merge patch (RFC 7386) and JSON patch (RFC 6902).
//!
//! Strategic merge patch and server-side apply are served with the merge patch: lists are
//! replaced whole (no `patchMergeKey`), and `$patch`/`$retainKeys` directives are not
//! understood. That is enough for status writes and for the simple patches a controller
//! sends; a test that depends on list merging needs a real cluster.

use serde_json::{Map, Value};

use crate::status::ApiError;

/// RFC 7386: objects merge recursively, `null` removes a key, anything else replaces.
pub(crate) fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(target) = target else {
        return;
    };
    for (key, value) in patch {
        if value.is_null() {
            target.remove(key);
        } else {
            merge_patch(target.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

/// RFC 6902: applies every operation in order, or none (the input is left as it was when
/// an operation fails). Supports add, remove, replace, move, copy and test.
pub(crate) fn json_patch(target: &mut Value, patch: &Value) -> Result<(), ApiError> {
    let Some(operations) = patch.as_array() else {
        return Err(ApiError::bad_request(
            "a JSON patch must be an array of operations",
        ));
    };
    let mut result = target.clone();
    for operation in operations {
        apply_operation(&mut result, operation)?;
    }
    *target = result;
    Ok(())
}

fn apply_operation(doc: &mut Value, operation: &Value) -> Result<(), ApiError> {
    let text = |key: &str| operation.get(key).and_then(Value::as_str);
    let op = text("op").ok_or_else(|| ApiError::bad_request("JSON patch operation without op"))?;
    let path = text("path")
        .ok_or_else(|| ApiError::bad_request(format!("JSON patch {op} without a path")))?;
    let value = || {
        operation
            .get("value")
            .cloned()
            .ok_or_else(|| ApiError::bad_request(format!("JSON patch {op} without a value")))
    };
    let from = || {
        text("from").ok_or_else(|| ApiError::bad_request(format!("JSON patch {op} without from")))
    };
    match op {
        "add" => add(doc, path, value()?),
        "remove" => remove(doc, path).map(drop),
        "replace" => {
            let slot = doc
                .pointer_mut(path)
                .ok_or_else(|| missing(path, "replace"))?;
            *slot = value()?;
            Ok(())
        }
        "move" => {
            let moved = remove(doc, from()?)?;
            add(doc, path, moved)
        }
        "copy" => {
            let from = from()?;
            let copied = doc
                .pointer(from)
                .cloned()
                .ok_or_else(|| missing(from, "copy"))?;
            add(doc, path, copied)
        }
        "test" => {
            if doc.pointer(path) == Some(&value()?) {
                Ok(())
            } else {
                Err(ApiError::invalid(format!(
                    "JSON patch test failed at {path}"
                )))
            }
        }
        other => Err(ApiError::bad_request(format!(
            "unsupported JSON patch operation {other:?}"
        ))),
    }
}

fn missing(path: &str, op: &str) -> ApiError {
    ApiError::invalid(format!("JSON patch {op}: no value at {path}"))
}

/// Splits a pointer into (parent pointer, last token, unescaped).
fn split_pointer(path: &str) -> Result<(&str, String), ApiError> {
    let (parent, last) = path
        .rsplit_once('/')
        .ok_or_else(|| ApiError::bad_request(format!("invalid JSON pointer {path:?}")))?;
    Ok((parent, last.replace("~1", "/").replace("~0", "~")))
}

fn add(doc: &mut Value, path: &str, value: Value) -> Result<(), ApiError> {
    if path.is_empty() {
        *doc = value;
        return Ok(());
    }
    let (parent, token) = split_pointer(path)?;
    match doc.pointer_mut(parent) {
        Some(Value::Object(map)) => {
            map.insert(token, value);
            Ok(())
        }
        Some(Value::Array(items)) => {
            let index = if token == "-" {
                items.len()
            } else {
                token
                    .parse::<usize>()
                    .ok()
                    .filter(|i| *i <= items.len())
                    .ok_or_else(|| missing(path, "add"))?
            };
            items.insert(index, value);
            Ok(())
        }
        _ => Err(missing(parent, "add")),
    }
}

fn remove(doc: &mut Value, path: &str) -> Result<Value, ApiError> {
    let (parent, token) = split_pointer(path)?;
    let removed = match doc.pointer_mut(parent) {
        Some(Value::Object(map)) => map.remove(&token),
        Some(Value::Array(items)) => token
            .parse::<usize>()
            .ok()
            .filter(|i| *i < items.len())
            .map(|i| items.remove(i)),
        _ => None,
    };
    removed.ok_or_else(|| missing(path, "remove"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn merge_patch_follows_rfc_7386() {
        // The RFC's own example.
        let mut target = json!({"a": "b", "c": {"d": "e", "f": "g"}});
        merge_patch(&mut target, &json!({"a": "z", "c": {"f": null}}));
        assert_eq!(target, json!({"a": "z", "c": {"d": "e"}}));
        let mut list = json!({"l": [1, 2, 3]});
        merge_patch(&mut list, &json!({"l": [4]}));
        assert_eq!(list, json!({"l": [4]}));
    }

    #[test]
    fn json_patch_operations() -> Result<(), ApiError> {
        let mut doc = json!({"metadata": {"labels": {"a/b": "1"}}, "spec": {"l": [1, 2]}});
        json_patch(
            &mut doc,
            &json!([
                {"op": "test", "path": "/metadata/labels/a~1b", "value": "1"},
                {"op": "replace", "path": "/metadata/labels/a~1b", "value": "2"},
                {"op": "add", "path": "/spec/l/-", "value": 3},
                {"op": "add", "path": "/spec/l/0", "value": 0},
                {"op": "remove", "path": "/spec/l/1"},
                {"op": "copy", "from": "/spec/l", "path": "/spec/m"},
                {"op": "move", "from": "/spec/m", "path": "/spec/n"},
            ]),
        )?;
        assert_eq!(
            doc,
            json!({"metadata": {"labels": {"a/b": "2"}}, "spec": {"l": [0, 2, 3], "n": [0, 2, 3]}})
        );
        Ok(())
    }

    #[test]
    fn failed_json_patch_changes_nothing() {
        let mut doc = json!({"spec": {"x": 1}});
        let result = json_patch(
            &mut doc,
            &json!([
                {"op": "replace", "path": "/spec/x", "value": 2},
                {"op": "test", "path": "/spec/x", "value": 1},
            ]),
        );
        assert_eq!(result.map_err(|e| e.code), Err(422));
        assert_eq!(doc, json!({"spec": {"x": 1}}));
        assert!(json_patch(&mut doc, &json!([{"op": "frobnicate", "path": "/x"}])).is_err());
    }
}
