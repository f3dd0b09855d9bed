//! Properties of the Kubernetes translation that goldens cannot show: the result does
//! not depend on the order objects were read in, and odd input never panics.

use std::path::{Path, PathBuf};

use tollgate_model::Resources;
use tollgate_model::k8s::{Gateway, GrpcRoute, HttpRoute, Ingress, Service};
use tollgate_translate::{CertCheck, Options, translate_resources};

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata")
}

/// Every k8s golden input, each with the shared base, as one `Resources` per case.
fn cases() -> Vec<(String, Resources)> {
    let dir = testdata();
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("testdata exists")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("k8s-") && n.ends_with(".in.yaml"))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|n| {
            let source = tollgate_model::load_paths(&[dir.join("k8s-base.yaml"), dir.join(&n)])
                .expect("golden inputs load");
            (n, source.resources)
        })
        .collect()
}

fn reversed(mut r: Resources) -> Resources {
    r.gateway_classes.reverse();
    r.gateways.reverse();
    r.http_routes.reverse();
    r.grpc_routes.reverse();
    r.reference_grants.reverse();
    r.ingresses.reverse();
    r.ingress_classes.reverse();
    r.services.reverse();
    r.endpoint_slices.reverse();
    r.secrets.reverse();
    r.namespaces.reverse();
    r.policies.reverse();
    r.consumers.reverse();
    r
}

#[test]
fn input_order_does_not_matter() {
    let cases = cases();
    assert!(cases.len() >= 20, "found only {} k8s cases", cases.len());
    let opts = Options::default();
    for (name, resources) in cases {
        let forward = translate_resources(&resources, &opts);
        let backward = translate_resources(&reversed(resources), &opts);
        assert_eq!(forward, backward, "{name}: result depends on input order");
    }
}

#[test]
fn empty_and_default_objects_do_not_panic() {
    let opts = Options::default();
    let empty = translate_resources(&Resources::default(), &opts);
    assert!(empty.snapshot.listeners.is_empty() && empty.statuses.is_empty());

    // Objects with every optional field missing, and nonsense where a string is free.
    let mut gateway = Gateway::default();
    gateway.spec.gateway_class_name = "tollgate".to_owned();
    gateway.spec.listeners = vec![Default::default(), Default::default()];
    gateway.spec.listeners[1].port = 70000;
    gateway.spec.listeners[1].protocol = "HTTP".to_owned();
    gateway.spec.listeners[1].hostname = Some("*.*.bad".to_owned());
    let mut route = HttpRoute::default();
    route.spec.parent_refs = Some(vec![Default::default()]);
    route.spec.rules = Some(vec![Default::default()]);
    route.spec.hostnames = Some(vec![String::new(), "*".to_owned()]);
    let mut grpc = GrpcRoute::default();
    grpc.spec.rules = Some(vec![Default::default()]);
    let resources = Resources {
        gateway_classes: cases()
            .first()
            .map(|(_, r)| r.gateway_classes.clone())
            .unwrap_or_default(),
        gateways: vec![gateway],
        http_routes: vec![route],
        grpc_routes: vec![grpc],
        ingresses: vec![Ingress::default()],
        services: vec![Service::default()],
        ..Resources::default()
    };
    let t = translate_resources(&resources, &opts);
    assert!(!t.statuses.is_empty());
}

#[test]
fn a_pair_the_certificate_check_refuses_is_dropped_with_a_condition() {
    let dir = testdata();
    let source = tollgate_model::load_paths(&[
        dir.join("k8s-base.yaml"),
        dir.join("k8s-https-listener.in.yaml"),
    ])
    .expect("golden inputs load");
    let opts = Options {
        cert_check: CertCheck::new(|pair| {
            if pair.label == "secret/apps/apps-cert" {
                Err("the private key does not match the certificate".to_owned())
            } else {
                Ok(())
            }
        }),
        ..Options::default()
    };
    let t = translate_resources(&source.resources, &opts);
    let labels: Vec<&str> = t
        .snapshot
        .listeners
        .values()
        .filter_map(|l| l.tls.as_ref())
        .flat_map(|tls| tls.certificates.iter().map(|c| c.label.as_str()))
        .collect();
    assert_eq!(
        labels,
        ["secret/infra/web-cert"],
        "only the good pair is served"
    );
    let gateway = t
        .statuses
        .iter()
        .find(|s| s.kind == "Gateway" && s.name == "secure")
        .expect("the Gateway has a status");
    let text = serde_json::to_string(&gateway.status).expect("status serializes");
    assert!(
        text.contains("InvalidCertificateRef")
            && text.contains("Secret apps/apps-cert: the private key does not match"),
        "the apps listener says why: {text}"
    );
}
