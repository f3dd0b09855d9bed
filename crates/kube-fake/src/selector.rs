//! Label and field selectors, as LIST and WATCH accept them.
//!
//! Label selectors: `k=v`, `k==v`, `k!=v`, `k`, `!k`, `k in (a,b)`, `k notin (a,b)`,
//! comma-separated (AND). Field selectors: `metadata.name`, `metadata.namespace` and, on
//! Secrets, `type`, with `=`, `==` or `!=`. Anything else is a 400, as the real server
//! answers for a field it does not index.

use serde_json::Value;

use crate::meta;
use crate::status::ApiError;

#[derive(Debug, Clone, PartialEq, Eq)]
enum LabelRequirement {
    Equals(String, String),
    NotEquals(String, String),
    Exists(String),
    NotExists(String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct FieldRequirement {
    path: FieldPath,
    value: String,
    equals: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FieldPath {
    Name,
    Namespace,
    Type,
}

/// Everything a LIST or WATCH filters on: namespace (from the path), labels and fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Filter {
    namespace: Option<String>,
    labels: Vec<LabelRequirement>,
    fields: Vec<FieldRequirement>,
}

impl Filter {
    /// Parses the selectors; `secrets` says whether the `type` field selector is allowed.
    pub(crate) fn parse(
        namespace: Option<&str>,
        label_selector: Option<&str>,
        field_selector: Option<&str>,
        secrets: bool,
    ) -> Result<Self, ApiError> {
        let labels = match label_selector {
            Some(selector) => parse_labels(selector)?,
            None => Vec::new(),
        };
        let fields = match field_selector {
            Some(selector) => parse_fields(selector, secrets)?,
            None => Vec::new(),
        };
        Ok(Self {
            namespace: namespace.map(str::to_owned),
            labels,
            fields,
        })
    }

    /// Adds `metadata.name=name` (a watch on a single object's path).
    pub(crate) fn with_name(mut self, name: &str) -> Self {
        self.fields.push(FieldRequirement {
            path: FieldPath::Name,
            value: name.to_owned(),
            equals: true,
        });
        self
    }

    pub(crate) fn matches(&self, object: &Value) -> bool {
        if let Some(ns) = &self.namespace
            && meta::namespace(object) != Some(ns.as_str())
        {
            return false;
        }
        let labels = meta::labels(object);
        let label = |key: &str| labels.get(key).and_then(Value::as_str);
        let labels_match = self.labels.iter().all(|req| match req {
            LabelRequirement::Equals(k, v) => label(k) == Some(v.as_str()),
            LabelRequirement::NotEquals(k, v) => label(k) != Some(v.as_str()),
            LabelRequirement::Exists(k) => labels.contains_key(k),
            LabelRequirement::NotExists(k) => !labels.contains_key(k),
            LabelRequirement::In(k, vs) => label(k).is_some_and(|l| vs.iter().any(|v| v == l)),
            LabelRequirement::NotIn(k, vs) => !label(k).is_some_and(|l| vs.iter().any(|v| v == l)),
        });
        labels_match
            && self.fields.iter().all(|req| {
                let actual = match req.path {
                    FieldPath::Name => meta::name(object),
                    FieldPath::Namespace => meta::namespace(object),
                    FieldPath::Type => object.get("type").and_then(Value::as_str),
                }
                .unwrap_or("");
                (actual == req.value) == req.equals
            })
    }
}

/// Splits on commas outside parentheses (`a in (x,y),b` is two requirements).
fn split_top_level(selector: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, c) in selector.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&selector[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&selector[start..]);
    parts
}

fn valid_label_part(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
}

fn parse_labels(selector: &str) -> Result<Vec<LabelRequirement>, ApiError> {
    let bad = |part: &str| {
        ApiError::bad_request(format!(
            "unable to parse requirement {part:?} of labelSelector {selector:?} \
             (the fake supports =, ==, !=, in, notin, exists and !exists)"
        ))
    };
    let mut requirements = Vec::new();
    for part in split_top_level(selector) {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let requirement = if let Some(key) = part.strip_prefix('!') {
            LabelRequirement::NotExists(key.trim().to_owned())
        } else if let Some((key, value)) = part.split_once("!=") {
            LabelRequirement::NotEquals(key.trim().to_owned(), value.trim().to_owned())
        } else if let Some((key, value)) = part.split_once("==").or_else(|| part.split_once('=')) {
            LabelRequirement::Equals(key.trim().to_owned(), value.trim().to_owned())
        } else if let Some((key, set)) = part.split_once(" notin ") {
            LabelRequirement::NotIn(
                key.trim().to_owned(),
                parse_set(set).ok_or_else(|| bad(part))?,
            )
        } else if let Some((key, set)) = part.split_once(" in ") {
            LabelRequirement::In(
                key.trim().to_owned(),
                parse_set(set).ok_or_else(|| bad(part))?,
            )
        } else {
            LabelRequirement::Exists(part.to_owned())
        };
        let (key, values): (&str, Vec<&str>) = match &requirement {
            LabelRequirement::Equals(k, v) | LabelRequirement::NotEquals(k, v) => {
                (k, vec![v.as_str()])
            }
            LabelRequirement::Exists(k) | LabelRequirement::NotExists(k) => (k, vec![]),
            LabelRequirement::In(k, vs) | LabelRequirement::NotIn(k, vs) => {
                (k, vs.iter().map(String::as_str).collect())
            }
        };
        // Values may be empty (`k=`), keys may not; `>`/`<` and stray symbols end up here.
        if !valid_label_part(key) || !values.iter().all(|v| v.is_empty() || valid_label_part(v)) {
            return Err(bad(part));
        }
        requirements.push(requirement);
    }
    Ok(requirements)
}

/// `(a, b)` → `[a, b]`.
fn parse_set(set: &str) -> Option<Vec<String>> {
    let inner = set.trim().strip_prefix('(')?.strip_suffix(')')?;
    Some(
        inner
            .split(',')
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .collect(),
    )
}

fn parse_fields(selector: &str, secrets: bool) -> Result<Vec<FieldRequirement>, ApiError> {
    let mut requirements = Vec::new();
    for part in selector.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, value, equals) = if let Some((k, v)) = part.split_once("!=") {
            (k, v, false)
        } else if let Some((k, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
            (k, v, true)
        } else {
            return Err(ApiError::bad_request(format!(
                "invalid fieldSelector requirement {part:?}: expected key=value or key!=value"
            )));
        };
        let path = match key.trim() {
            "metadata.name" => FieldPath::Name,
            "metadata.namespace" => FieldPath::Namespace,
            "type" if secrets => FieldPath::Type,
            other => {
                return Err(ApiError::bad_request(format!(
                    "field label not supported: {other} (the fake supports metadata.name, \
                     metadata.namespace, and type on Secrets)"
                )));
            }
        };
        requirements.push(FieldRequirement {
            path,
            value: value.trim().to_owned(),
            equals,
        });
    }
    Ok(requirements)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn object() -> Value {
        json!({
            "metadata": {"name": "a", "namespace": "ns", "labels": {"app": "web", "tier": "x"}},
            "type": "kubernetes.io/tls",
        })
    }

    fn matches(labels: Option<&str>, fields: Option<&str>) -> Result<bool, ApiError> {
        Ok(Filter::parse(None, labels, fields, true)?.matches(&object()))
    }

    #[test]
    fn label_selectors() -> Result<(), ApiError> {
        assert!(matches(Some("app=web"), None)?);
        assert!(matches(Some("app==web,tier"), None)?);
        assert!(!matches(Some("app!=web"), None)?);
        assert!(matches(Some("!missing"), None)?);
        assert!(!matches(Some("missing"), None)?);
        assert!(matches(Some("app in (api, web),tier notin (y)"), None)?);
        assert!(!matches(Some("app notin (web)"), None)?);
        assert!(matches(Some(""), None)?);
        assert!(Filter::parse(None, Some("app>1"), None, false).is_err());
        assert!(Filter::parse(None, Some("app in web"), None, false).is_err());
        Ok(())
    }

    #[test]
    fn field_selectors() -> Result<(), ApiError> {
        assert!(matches(None, Some("metadata.name=a"))?);
        assert!(matches(
            None,
            Some("metadata.namespace==ns,metadata.name!=b")
        )?);
        assert!(matches(None, Some("type=kubernetes.io/tls"))?);
        assert!(!matches(None, Some("metadata.name=b"))?);
        let error = Filter::parse(None, None, Some("type=x"), false).err();
        assert_eq!(error.map(|e| e.code), Some(400));
        assert!(Filter::parse(None, None, Some("spec.x=1"), true).is_err());
        Ok(())
    }

    #[test]
    fn namespace_filter() -> Result<(), ApiError> {
        assert!(Filter::parse(Some("ns"), None, None, false)?.matches(&object()));
        assert!(!Filter::parse(Some("other"), None, None, false)?.matches(&object()));
        Ok(())
    }
}
