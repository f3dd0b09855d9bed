//! Small helpers to read and write `metadata` fields of a JSON object.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

/// `metadata.<field>` as a string.
pub(crate) fn field<'a>(object: &'a Value, field: &str) -> Option<&'a str> {
    object.get("metadata")?.get(field)?.as_str()
}

pub(crate) fn name(object: &Value) -> Option<&str> {
    field(object, "name").filter(|name| !name.is_empty())
}

pub(crate) fn namespace(object: &Value) -> Option<&str> {
    field(object, "namespace").filter(|ns| !ns.is_empty())
}

/// `metadata.resourceVersion`, treating `""` like a missing one (kube sends either).
pub(crate) fn resource_version(object: &Value) -> Option<&str> {
    field(object, "resourceVersion").filter(|rv| !rv.is_empty())
}

/// `metadata`, created (and made an object) when missing.
pub(crate) fn metadata_mut(object: &mut Value) -> &mut Map<String, Value> {
    let Some(map) = object.as_object_mut() else {
        unreachable!("the store only holds JSON objects");
    };
    let metadata = map
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if !metadata.is_object() {
        *metadata = Value::Object(Map::new());
    }
    match metadata {
        Value::Object(metadata) => metadata,
        _ => unreachable!("just made an object"),
    }
}

pub(crate) fn set(object: &mut Value, field: &str, value: impl Into<Value>) {
    metadata_mut(object).insert(field.to_owned(), value.into());
}

pub(crate) fn set_str(object: &mut Value, field: &str, value: &str) {
    set(object, field, Value::String(value.to_owned()));
}

/// Whether the parts of two objects that count for `metadata.generation` differ: anything
/// but `metadata` and `status` (the real rule for CRDs and most built-in kinds).
pub(crate) fn spec_differs(old: &Value, new: &Value) -> bool {
    let strip = |object: &Value| -> Map<String, Value> {
        let mut map = object.as_object().cloned().unwrap_or_default();
        for key in ["metadata", "status", "apiVersion", "kind"] {
            map.remove(key);
        }
        map
    };
    strip(old) != strip(new)
}

/// The labels of an object (empty when it has none).
pub(crate) fn labels(object: &Value) -> Map<String, Value> {
    object
        .get("metadata")
        .and_then(|m| m.get("labels"))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

/// The current time as the API server writes timestamps: RFC 3339, UTC, whole seconds.
pub(crate) fn now_rfc3339() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format_rfc3339(secs)
}

/// Formats Unix seconds as `YYYY-MM-DDTHH:MM:SSZ` (days to civil date: Howard Hinnant's
/// algorithm, so no date crate is needed for one timestamp field).
fn format_rfc3339(secs: u64) -> String {
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let (hour, minute, second) = (rem / 3600, rem % 3600 / 60, rem % 60);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_timestamps() {
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(format_rfc3339(1_767_225_599), "2025-12-31T23:59:59Z");
    }

    #[test]
    fn generation_ignores_metadata_and_status() {
        let old = serde_json::json!({"metadata": {"labels": {"a": "1"}}, "spec": {"x": 1}});
        let relabelled = serde_json::json!({"metadata": {}, "spec": {"x": 1}, "status": {"y": 2}});
        let respecced = serde_json::json!({"metadata": {}, "spec": {"x": 2}});
        assert!(!spec_differs(&old, &relabelled));
        assert!(spec_differs(&old, &respecced));
    }
}
