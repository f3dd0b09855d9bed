//! `deploy/crds.yaml` is exactly what the Rust types generate, so a change to the types
//! that is not regenerated fails here (and in CI). `UPDATE_CRDS=1` rewrites the file.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

#[test]
fn deploy_crds_yaml_is_what_the_types_generate() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/crds.yaml");
    let generated = tollgate_model::crds::crds_yaml().unwrap();
    if std::env::var_os("UPDATE_CRDS").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == generated,
        "deploy/crds.yaml is stale: run `UPDATE_CRDS=1 cargo test -p tollgate-model --test crds`"
    );
}

#[test]
fn the_crds_are_namespaced_with_a_status_subresource_and_a_structural_schema() {
    let text = tollgate_model::crds::crds_yaml().unwrap();
    let docs: Vec<serde_json::Value> = text
        .split("\n---\n")
        .map(|d| serde_saphyr::from_str(d).unwrap())
        .collect();
    let names: Vec<&str> = docs
        .iter()
        .map(|d| d["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["policies.tollgate.dev", "consumers.tollgate.dev"]);
    for d in &docs {
        assert_eq!(d["apiVersion"], "apiextensions.k8s.io/v1");
        assert_eq!(d["spec"]["scope"], "Namespaced");
        let v = &d["spec"]["versions"][0];
        assert_eq!(v["name"], "v1alpha1");
        assert!(v["subresources"]["status"].is_object(), "{v}");
        let schema = &v["schema"]["openAPIV3Schema"];
        assert!(
            schema["properties"]["spec"]["properties"].is_object(),
            "{schema}"
        );
    }
}
