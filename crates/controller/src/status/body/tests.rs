use serde_json::json;
use tollgate_translate::k8s::status::{
    ListenerStatus, ParentRef, RouteGroupKind, RouteParentStatus,
};
use tollgate_translate::k8s::{Condition, ObjectStatus, StatusUpdate};

use super::*;

const ME: &str = "tollgate.dev/gateway-controller";

fn route(parents: Vec<RouteParentStatus>) -> StatusUpdate {
    StatusUpdate {
        kind: "HTTPRoute".into(),
        namespace: Some("default".into()),
        name: "r".into(),
        generation: Some(2),
        status: ObjectStatus::Route { parents },
    }
}

fn parent(name: &str, ok: bool) -> RouteParentStatus {
    RouteParentStatus {
        parent_ref: ParentRef {
            group: None,
            kind: None,
            namespace: None,
            name: name.into(),
            section_name: None,
            port: None,
        },
        controller_name: ME.into(),
        conditions: vec![Condition::new("Accepted", ok, "Accepted", "ok", Some(2))],
    }
}

#[test]
fn a_new_condition_is_stamped_now_and_an_unchanged_one_keeps_its_time() {
    let u = route(vec![parent("gw", true)]);
    let first = desired(&u, &Value::Null, ME, None, "T1").expect("route status");
    assert_eq!(
        first["parents"][0]["conditions"][0]["lastTransitionTime"],
        "T1"
    );
    assert_eq!(
        first["parents"][0]["conditions"][0]["observedGeneration"],
        2
    );
    // Same status later: the time stays, and nothing needs writing.
    let again = desired(&u, &first, ME, None, "T2").expect("route status");
    assert_eq!(
        again["parents"][0]["conditions"][0]["lastTransitionTime"],
        "T1"
    );
    assert!(up_to_date(&again, &first));
    // The condition flips: a new time, and a write.
    let flipped =
        desired(&route(vec![parent("gw", false)]), &first, ME, None, "T3").expect("route status");
    assert_eq!(
        flipped["parents"][0]["conditions"][0]["lastTransitionTime"],
        "T3"
    );
    assert!(!up_to_date(&flipped, &first));
}

#[test]
fn other_controllers_parent_entries_are_kept_and_ours_replaced() {
    let current = json!({"parents": [
        {"parentRef": {"name": "other-gw"}, "controllerName": "example.com/other",
         "conditions": [{"type": "Accepted", "status": "True", "reason": "Accepted",
                         "message": "", "lastTransitionTime": "T0"}]},
        {"parentRef": {"name": "gone"}, "controllerName": ME, "conditions": []},
    ]});
    let d = desired(&route(vec![parent("gw", true)]), &current, ME, None, "T1").expect("status");
    let parents = d["parents"].as_array().expect("parents");
    assert_eq!(parents.len(), 2, "{d}");
    assert_eq!(parents[0]["controllerName"], "example.com/other");
    assert_eq!(parents[0]["conditions"][0]["lastTransitionTime"], "T0");
    assert_eq!(parents[1]["parentRef"]["name"], "gw");
}

#[test]
fn gateway_listeners_and_published_address() {
    let u = StatusUpdate {
        kind: "Gateway".into(),
        namespace: Some("default".into()),
        name: "gw".into(),
        generation: Some(1),
        status: ObjectStatus::Gateway {
            conditions: vec![Condition::new(
                "Programmed",
                true,
                "Programmed",
                "",
                Some(1),
            )],
            listeners: vec![ListenerStatus {
                name: "http".into(),
                supported_kinds: vec![RouteGroupKind {
                    group: "gateway.networking.k8s.io".into(),
                    kind: "HTTPRoute".into(),
                }],
                attached_routes: 2,
                conditions: vec![Condition::new("Accepted", true, "Accepted", "", Some(1))],
            }],
        },
    };
    let addr = PublishAddress::parse("10.0.0.7");
    let d = desired(&u, &Value::Null, ME, Some(&addr), "T").expect("status");
    assert_eq!(d["listeners"][0]["attachedRoutes"], 2);
    assert_eq!(d["listeners"][0]["supportedKinds"][0]["kind"], "HTTPRoute");
    assert_eq!(
        d["addresses"],
        json!([{"type": "IPAddress", "value": "10.0.0.7"}])
    );
}

#[test]
fn ingress_status_is_only_the_published_address() {
    let ing = StatusUpdate {
        kind: "Ingress".into(),
        namespace: Some("default".into()),
        name: "i".into(),
        generation: Some(1),
        status: ObjectStatus::Ingress { conditions: vec![] },
    };
    assert!(desired(&ing, &Value::Null, ME, None, "T").is_none());
    let host = PublishAddress::parse("gw.example");
    let lb = desired(&ing, &Value::Null, ME, Some(&host), "T").expect("ingress status");
    assert_eq!(
        lb,
        json!({"loadBalancer": {"ingress": [{"hostname": "gw.example"}]}})
    );
}

#[test]
fn a_policy_status_has_its_summary_and_one_ancestor_per_target_each_keeping_its_time() {
    let target = |name: &str, ok: bool| tollgate_translate::k8s::PolicyAncestorStatus {
        ancestor_ref: ParentRef {
            group: Some("gateway.networking.k8s.io".into()),
            kind: Some("HTTPRoute".into()),
            namespace: Some("default".into()),
            name: name.into(),
            section_name: None,
            port: None,
        },
        controller_name: ME.into(),
        conditions: vec![Condition::new("Accepted", ok, "Accepted", "m", Some(1))],
    };
    let policy = |b_ok: bool| StatusUpdate {
        kind: "Policy".into(),
        namespace: Some("default".into()),
        name: "p".into(),
        generation: Some(1),
        status: ObjectStatus::Policy {
            conditions: vec![Condition::new("Accepted", true, "Accepted", "ok", Some(1))],
            ancestors: vec![target("a", true), target("b", b_ok)],
        },
    };
    let first = desired(&policy(true), &Value::Null, ME, None, "T1").expect("policy status");
    assert_eq!(first["conditions"][0]["lastTransitionTime"], "T1");
    assert_eq!(first["ancestors"][1]["ancestorRef"]["name"], "b");
    assert_eq!(first["ancestors"][1]["controllerName"], ME);
    let again = desired(&policy(true), &first, ME, None, "T2").expect("policy status");
    assert!(up_to_date(&again, &first));
    // Only the ancestor whose condition flipped gets a new time.
    let flipped = desired(&policy(false), &first, ME, None, "T3").expect("policy status");
    assert!(!up_to_date(&flipped, &first));
    assert_eq!(
        flipped["ancestors"][0]["conditions"][0]["lastTransitionTime"],
        "T1"
    );
    assert_eq!(
        flipped["ancestors"][1]["conditions"][0]["lastTransitionTime"],
        "T3"
    );
}

#[test]
fn a_consumer_status_is_its_conditions() {
    let u = StatusUpdate {
        kind: "Consumer".into(),
        namespace: Some("default".into()),
        name: "alice".into(),
        generation: Some(3),
        status: ObjectStatus::Consumer {
            conditions: vec![Condition::new(
                "Accepted",
                false,
                "Invalid",
                "no Secret",
                Some(3),
            )],
        },
    };
    let s = desired(&u, &Value::Null, ME, None, "T1").expect("consumer status");
    assert_eq!(s["conditions"][0]["reason"], "Invalid");
    assert_eq!(s["conditions"][0]["observedGeneration"], 3);
}
