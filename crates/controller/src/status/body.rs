//! The status JSON the writer sends: the translator's conclusions, stamped with
//! `lastTransitionTime` (kept from the object's current condition when it did not
//! change), merged with what other controllers own (their route parent entries).

use serde_json::{Map, Value, json};
use tollgate_translate::k8s::{Condition, ObjectStatus, StatusUpdate};

/// Where clients reach the gateway, written to Gateway `status.addresses` and Ingress
/// `status.loadBalancer.ingress`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublishAddress {
    /// An IP address.
    Ip(String),
    /// A DNS name.
    Hostname(String),
}

impl PublishAddress {
    /// An IP address when `s` parses as one, else a hostname.
    pub fn parse(s: &str) -> Self {
        if s.parse::<std::net::IpAddr>().is_ok() {
            Self::Ip(s.to_owned())
        } else {
            Self::Hostname(s.to_owned())
        }
    }
}

/// Conditions with times: each keeps the current `lastTransitionTime` of the condition
/// of its type when the status (True/False) is the same, otherwise `now`.
fn conditions(desired: &[Condition], current: Option<&Value>, now: &str) -> Value {
    let current = current.and_then(Value::as_array);
    let out: Vec<Value> = desired
        .iter()
        .map(|c| {
            let kept = current
                .and_then(|cs| {
                    cs.iter().find(|x| {
                        x.get("type").and_then(Value::as_str) == Some(c.type_.as_str())
                            && x.get("status").and_then(Value::as_str) == Some(c.status.as_str())
                    })
                })
                .and_then(|x| x.get("lastTransitionTime").cloned());
            let mut v = json!({
                "type": c.type_,
                "status": c.status,
                "reason": c.reason,
                "message": c.message,
                "lastTransitionTime": kept.unwrap_or_else(|| Value::String(now.to_owned())),
            });
            if let Some(g) = c.observed_generation {
                v["observedGeneration"] = json!(g);
            }
            v
        })
        .collect();
    Value::Array(out)
}

/// The status to apply for `update`, given the object's current `status` (or
/// `Value::Null`). `None` when there is nothing for this kind to write.
pub(crate) fn desired(
    update: &StatusUpdate,
    current: &Value,
    controller: &str,
    publish: Option<&PublishAddress>,
    now: &str,
) -> Option<Value> {
    let mut status = Map::new();
    match &update.status {
        ObjectStatus::GatewayClass { conditions: cs }
        | ObjectStatus::Consumer { conditions: cs } => {
            status.insert(
                "conditions".into(),
                conditions(cs, current.get("conditions"), now),
            );
        }
        ObjectStatus::Gateway {
            conditions: cs,
            listeners,
        } => {
            status.insert(
                "conditions".into(),
                conditions(cs, current.get("conditions"), now),
            );
            let cur_listeners = current.get("listeners").and_then(Value::as_array);
            let ls: Vec<Value> = listeners
                .iter()
                .map(|l| {
                    let cur = cur_listeners
                        .and_then(|c| {
                            c.iter()
                                .find(|x| x.get("name").and_then(Value::as_str) == Some(&l.name))
                        })
                        .and_then(|x| x.get("conditions"));
                    json!({
                        "name": l.name,
                        "supportedKinds": l.supported_kinds.iter().map(|k| json!({"group": k.group, "kind": k.kind})).collect::<Vec<_>>(),
                        "attachedRoutes": l.attached_routes,
                        "conditions": conditions(&l.conditions, cur, now),
                    })
                })
                .collect();
            status.insert("listeners".into(), Value::Array(ls));
            if let Some(a) = publish {
                let (t, v) = match a {
                    PublishAddress::Ip(ip) => ("IPAddress", ip),
                    PublishAddress::Hostname(h) => ("Hostname", h),
                };
                status.insert("addresses".into(), json!([{"type": t, "value": v}]));
            }
        }
        ObjectStatus::Route { parents } => {
            // Parent entries of other controllers stay as they are: the list is shared.
            let mut all: Vec<Value> = current
                .get("parents")
                .and_then(Value::as_array)
                .map(|ps| {
                    ps.iter()
                        .filter(|p| {
                            p.get("controllerName").and_then(Value::as_str) != Some(controller)
                        })
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            let cur_ours = current.get("parents").and_then(Value::as_array);
            for p in parents {
                let parent_ref = serde_json::to_value(&p.parent_ref).unwrap_or(Value::Null);
                let cur = cur_ours
                    .and_then(|c| {
                        c.iter().find(|x| {
                            x.get("controllerName").and_then(Value::as_str) == Some(controller)
                                && same_ref(x.get("parentRef"), &parent_ref)
                        })
                    })
                    .and_then(|x| x.get("conditions"));
                all.push(json!({
                    "parentRef": parent_ref,
                    "controllerName": p.controller_name,
                    "conditions": conditions(&p.conditions, cur, now),
                }));
            }
            status.insert("parents".into(), Value::Array(all));
        }
        ObjectStatus::Policy {
            conditions: cs,
            ancestors,
        } => {
            status.insert(
                "conditions".into(),
                conditions(cs, current.get("conditions"), now),
            );
            // The whole list is ours: a Policy of this kind has no other controller.
            let cur = current.get("ancestors").and_then(Value::as_array);
            let list: Vec<Value> = ancestors
                .iter()
                .map(|a| {
                    let aref = serde_json::to_value(&a.ancestor_ref).unwrap_or(Value::Null);
                    let cur = cur
                        .and_then(|c| c.iter().find(|x| same_ref(x.get("ancestorRef"), &aref)))
                        .and_then(|x| x.get("conditions"));
                    json!({
                        "ancestorRef": aref,
                        "controllerName": a.controller_name,
                        "conditions": conditions(&a.conditions, cur, now),
                    })
                })
                .collect();
            status.insert("ancestors".into(), Value::Array(list));
        }
        ObjectStatus::Ingress { .. } => {
            // An Ingress status has no conditions, only where it is reachable.
            let a = publish?;
            let entry = match a {
                PublishAddress::Ip(ip) => json!({"ip": ip}),
                PublishAddress::Hostname(h) => json!({"hostname": h}),
            };
            status.insert("loadBalancer".into(), json!({"ingress": [entry]}));
        }
    }
    Some(Value::Object(status))
}

/// Parent references compare equal when every field either side sets matches (the API
/// server may have filled defaults the translator leaves out).
fn same_ref(a: Option<&Value>, b: &Value) -> bool {
    let (Some(Value::Object(a)), Value::Object(b)) = (a, b) else {
        return false;
    };
    ["name", "namespace", "sectionName", "port"]
        .iter()
        .all(|k| a.get(*k) == b.get(*k))
}

/// `v` without any `lastTransitionTime`, for comparing what changed.
fn without_times(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| k.as_str() != "lastTransitionTime")
                .map(|(k, v)| (k.clone(), without_times(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(without_times).collect()),
        other => other.clone(),
    }
}

/// Does `current` already say what `desired` says (every key `desired` sets, times
/// aside)?
pub(crate) fn up_to_date(desired: &Value, current: &Value) -> bool {
    let Value::Object(d) = desired else {
        return false;
    };
    d.iter().all(|(k, v)| {
        current
            .get(k)
            .is_some_and(|c| without_times(c) == without_times(v))
    })
}

/// The comparable form of a desired status (times removed), for the written cache.
pub(crate) fn fingerprint(desired: &Value) -> Value {
    without_times(desired)
}

#[cfg(test)]
mod tests;
