use super::*;

fn parse(text: &str) -> Result<Document, Problem> {
    parse_document(Path::new("t.yaml"), text)
}

#[test]
fn parses_the_contract_example() {
    let doc = parse(
        r#"
listeners:
  - name: web
    address: 127.0.0.1:8080
    protocol: http
services:
  - name: orders
    endpoints: [127.0.0.1:9001, 127.0.0.1:9002]
    load_balancer: round_robin
    health_check: { path: /healthz, interval: 5s, timeout: 1s, healthy: 2, unhealthy: 3 }
    timeouts: { connect: 2s, request: 30s }
    retries: { attempts: 2, on: [connect-failure, reset, 502, 503, 504] }
routes:
  - name: orders
    listeners: [web]
    hosts: [api.example.com, "*.example.com"]
    match:
      path: { prefix: /orders }
      methods: [GET, POST]
      headers: [{ name: x-env, value: canary }]
      query:   [{ name: v, value: "2" }]
    filters:
      strip_prefix: true
    backends: [{ service: orders, weight: 90 }, { service: orders-v2, weight: 10 }]
"#,
    )
    .expect("parses");
    assert_eq!(doc.listeners[0].name.value, "web");
    assert_eq!(doc.routes[0].name.referenced.line(), 14);
    assert_eq!(doc.routes[0].backends[1].service.value, "orders-v2");
    let retries = doc.services[0].retries.as_ref().expect("retries");
    assert_eq!(retries.on.len(), 5);
    assert!(doc.routes[0].filters.strip_prefix);
}

#[test]
fn unknown_keys_are_errors_with_their_line() {
    let err = parse("listeners:\n  - name: web\n    adress: 127.0.0.1:80\n").expect_err("typo");
    assert_eq!(err.line, 3, "{err}");
    assert!(err.message.contains("adress"), "{err}");
    assert!(err.to_string().starts_with("t.yaml:3:"), "{err}");
}

#[test]
fn bad_values_are_errors_with_their_line() {
    let err = parse("listeners:\n  - name: web\n    address: nowhere\n").expect_err("bad addr");
    assert_eq!(err.line, 3, "{err}");
    let err = parse("services:\n  - name: s\n    endpoints: []\n    timeouts: { connect: 5 }\n")
        .expect_err("unitless duration");
    assert_eq!(err.line, 4, "{err}");
}

#[test]
fn empty_file_is_empty_config() {
    let doc = parse("  \n").expect("empty");
    assert!(doc.routes.is_empty());
}

#[test]
fn directory_reads_only_config_files_in_order() {
    let dir = std::env::temp_dir().join(format!("tollgate-model-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("b.yaml"), "routes: []\n").expect("write");
    std::fs::write(dir.join("a.json"), "{\"services\": []}\n").expect("write");
    std::fs::write(dir.join("notes.txt"), "not: [config").expect("write");
    let src = load_paths(std::slice::from_ref(&dir)).expect("loads");
    let names: Vec<_> = src
        .files
        .iter()
        .map(|f| f.file_name().and_then(|n| n.to_str()).unwrap_or(""))
        .collect();
    assert_eq!(names, ["a.json", "b.yaml"]);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn every_problem_is_reported() {
    let dir = std::env::temp_dir().join(format!("tollgate-model-multi-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("a.yaml"), "routs: []\n").expect("write");
    std::fs::write(dir.join("b.yaml"), "listeners: 3\n").expect("write");
    let err = load_paths(std::slice::from_ref(&dir)).expect_err("two problems");
    assert_eq!(err.problems.len(), 2, "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn messages_carry_no_duplicate_position() {
    let err = parse("listeners:\n  - name: web\n    adress: 127.0.0.1:80\n").expect_err("typo");
    assert_eq!(
        err.to_string(),
        "t.yaml:3:5: unknown field `adress`, expected one of name, address, protocol, tls, redirect_to_https, rate_limit"
    );
}

#[test]
fn ten_thousand_routes_in_one_file_load() {
    use std::fmt::Write as _;
    let mut text = String::from(
        "listeners: [{ name: web, address: 127.0.0.1:8080 }]\n\
         services: [{ name: s, endpoints: [127.0.0.1:9001] }]\nroutes:\n",
    );
    for i in 0..10_000 {
        writeln!(
            text,
            "  - name: r{i}\n    hosts: [h{}.example]\n    match:\n      path: {{ prefix: /p{i} }}\n      headers: [{{ name: x-t, value: t{i} }}]\n    filters: {{ request_headers: {{ set: {{ x-route: r{i} }} }} }}\n    backends: [{{ service: s }}]",
            i / 100
        )
        .expect("write to a String");
    }
    let doc = parse(&text).unwrap_or_else(|p| panic!("{p}"));
    assert_eq!(doc.routes.len(), 10_000);
    assert_eq!(doc.routes[9_999].name.value, "r9999");
}

#[test]
fn ten_thousand_kubernetes_documents_in_one_file_load() {
    use std::fmt::Write as _;
    let mut text = String::new();
    for i in 0..10_000 {
        write!(
            text,
            "---\napiVersion: v1\nkind: Service\nmetadata: {{ name: s{i}, namespace: default }}\nspec: {{ ports: [{{ port: 80 }}] }}\n"
        )
        .expect("write to a String");
    }
    let dir = std::env::temp_dir().join(format!("tollgate-model-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("services.yaml");
    std::fs::write(&file, text).expect("write");
    let loaded = load_paths(&[file]);
    let _ = std::fs::remove_dir_all(&dir);
    let source = loaded.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(source.resources.services.len(), 10_000);
}
