//! The install manifests in `deploy/`: every core object validates strictly against the
//! Kubernetes OpenAPI schemas (kubernetes-validate, offline, no cluster), the GatewayClass
//! is one this binary serves, and the RBAC is least privilege: read access to every kind
//! the translator reads, writes only to status subresources and our own Lease.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// Files holding core Kubernetes objects (the GatewayClass is a CRD kind, checked apart).
const CORE: &[&str] = &[
    // CustomResourceDefinitions validate as apiextensions.k8s.io/v1 objects.
    "crds.yaml",
    "namespace.yaml",
    "rbac.yaml",
    "deployment.yaml",
    "pdb.yaml",
    "service.yaml",
    "service-nodeport.yaml",
];

/// `(apiGroup, resource)` the controller lists and watches.
const READ: &[(&str, &str)] = &[
    ("gateway.networking.k8s.io", "gatewayclasses"),
    ("gateway.networking.k8s.io", "gateways"),
    ("gateway.networking.k8s.io", "httproutes"),
    ("gateway.networking.k8s.io", "grpcroutes"),
    ("gateway.networking.k8s.io", "referencegrants"),
    ("networking.k8s.io", "ingresses"),
    ("networking.k8s.io", "ingressclasses"),
    ("", "services"),
    ("", "secrets"),
    ("", "namespaces"),
    ("discovery.k8s.io", "endpointslices"),
    ("tollgate.dev", "policies"),
    ("tollgate.dev", "consumers"),
];

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

#[test]
fn core_manifests_validate_strictly_against_the_kubernetes_schemas() {
    let found = Command::new("sh")
        .args(["-c", "command -v kubernetes-validate"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "kubernetes-validate is not installed: pip install kubernetes-validate==1.37.0 \
         (.ci/run installs it); it validates offline against bundled OpenAPI schemas"
    );
    let out = Command::new("kubernetes-validate")
        .arg("--strict")
        .args(CORE.iter().map(|f| deploy().join(f)))
        // The walkthrough's echo backends (README, "In a Kubernetes cluster").
        .arg(deploy().join("../examples/kubernetes/echo.yaml"))
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    // One "passed" line per object: nothing was skipped as unknown.
    assert_eq!(text.matches(" passed for resource ").count(), 16, "{text}");
}

#[test]
fn the_gateway_class_is_one_this_binary_serves() {
    let out = Command::new(BIN)
        .args(["translate", "-c"])
        .arg(deploy().join("gatewayclass.yaml"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let t: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
    let class = common::k8s::status(&t, "GatewayClass", "tollgate");
    let accepted = common::k8s::condition(&class["status"]["conditions"], "Accepted");
    assert_eq!(accepted["status"], "True", "{class:#}");
}

#[test]
fn rbac_reads_every_watched_kind_and_writes_only_status_and_its_lease() {
    let text = std::fs::read_to_string(deploy().join("rbac.yaml")).unwrap();
    let docs: Vec<serde_json::Value> = text
        .split("\n---\n")
        .map(|d| serde_saphyr::from_str(d).unwrap())
        .collect();
    let rules = |kind: &str| -> Vec<serde_json::Value> {
        docs.iter()
            .filter(|d| d["kind"] == kind)
            .flat_map(|d| d["rules"].as_array().cloned().unwrap_or_default())
            .collect()
    };
    let strs = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_owned())
            .collect()
    };
    let cluster = rules("ClusterRole");
    for (group, resource) in READ {
        let granted = cluster.iter().any(|r| {
            strs(&r["apiGroups"]).contains(&(*group).to_owned())
                && strs(&r["resources"]).contains(&(*resource).to_owned())
                && ["get", "list", "watch"]
                    .iter()
                    .all(|v| strs(&r["verbs"]).contains(&(*v).to_owned()))
        });
        assert!(granted, "no get/list/watch on {group}/{resource}");
    }
    for r in &cluster {
        let verbs = strs(&r["verbs"]);
        let writes = verbs
            .iter()
            .any(|v| !["get", "list", "watch"].contains(&v.as_str()));
        let resources = strs(&r["resources"]);
        assert!(
            !resources.iter().any(|x| x == "*") && !verbs.iter().any(|v| v == "*"),
            "no wildcards: {r}"
        );
        if writes {
            assert!(
                resources
                    .iter()
                    .all(|x| x.ends_with("/status") || x == "events"),
                "cluster-wide writes only to status (and events): {r}"
            );
        }
    }
    let lease = rules("Role");
    assert!(
        lease.iter().all(|r| strs(&r["resources"]) == ["leases"]),
        "the namespaced Role is for the Lease only: {lease:?}"
    );
}
