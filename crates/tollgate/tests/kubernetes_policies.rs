//! Access control from Kubernetes resources, end to end: a `Consumer` whose API key is in
//! a Secret labelled `tollgate.dev/credentials`, and a `Policy` with `keyAuth` targeting an
//! HTTPRoute. Served from a fake API server (`--kubernetes`: statuses written, the key
//! rotated live by changing the Secret) and from the same manifests in files.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::cluster::{FakeCluster, within};
use common::k8s::{self, Ports, backend, gateway, svc};
use common::*;
use serde_json::Value;

const TOLLGATE_API: &str = "tollgate.dev/v1alpha1";
const FIRST_KEY: &str = "k-first-key-0001";
const SECOND_KEY: &str = "k-second-key-0002";

/// The Secret holding alice's API key, as the API server stores it (base64 `data`).
fn key_secret(key: &str) -> String {
    format!(
        "
---
apiVersion: v1
kind: Secret
metadata:
  name: alice-keys
  namespace: default
  labels: {{ tollgate.dev/credentials: \"\" }}
data: {{ key: {} }}
",
        STANDARD.encode(key)
    )
}

/// Service `app`, the HTTPRoute `app` (`/app` → `app`), the Consumer `alice` with the key
/// in `alice-keys`, and the Policy `app-keys` (keyAuth + an ACL naming alice) on the route.
fn protected(b: &Backends) -> String {
    format!(
        "{}{}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{ name: app, namespace: default }}
spec:
  parentRefs: [{{ name: gw }}]
  rules:
  - name: main
    matches: [{{ path: {{ type: PathPrefix, value: /app }} }}]
    backendRefs: [{{ name: app, port: 80 }}]
---
apiVersion: {TOLLGATE_API}
kind: Consumer
metadata: {{ name: alice, namespace: default }}
spec:
  groups: [gold]
  keys: [{{ secretRef: {{ name: alice-keys }} }}]
---
apiVersion: {TOLLGATE_API}
kind: Policy
metadata: {{ name: app-keys, namespace: default }}
spec:
  targetRefs: [{{ group: gateway.networking.k8s.io, kind: HTTPRoute, name: app }}]
  keyAuth: {{}}
  acl: {{ allowConsumers: [alice] }}
",
        svc("app", &b.ep(0)),
        key_secret(FIRST_KEY),
    )
}

/// GET `/app/x` with an optional `apikey` header: (status, reply).
fn call(port: u16, key: Option<&str>) -> (u16, Reply) {
    let headers: Vec<(&str, &str)> = key.map(|k| ("apikey", k)).into_iter().collect();
    let r = client::request(Ports::addr(port), "GET", "/app/x", &headers, "").unwrap();
    (r.status, r)
}

fn seen(r: &Reply, name: &str) -> Option<String> {
    r.json()["headers"][name][0].as_str().map(str::to_owned)
}

/// The route answers 401 without a key, 200 with alice's (the upstream learns who), and
/// 401 with another key.
fn assert_guarded(port: u16, key: &str, log: &dyn Fn() -> String) {
    assert!(
        within(15, || call(port, None).0 == 401),
        "never 401 without a key: {:?}\n{}",
        call(port, None).1,
        log()
    );
    let (status, r) = call(port, Some(key));
    assert_eq!(status, 200, "{r:?}");
    assert_eq!(backend(&r), "app");
    assert_eq!(
        seen(&r, "x-consumer").as_deref(),
        Some("consumer/default/alice")
    );
    assert_eq!(seen(&r, "x-consumer-groups").as_deref(), Some("gold"));
    assert_eq!(
        seen(&r, "apikey"),
        None,
        "the key never reaches the upstream"
    );
    let (status, r) = call(port, Some("k-somebody-else-1"));
    assert_eq!(status, 401, "{r:?}");
    assert!(r.header("www-authenticate").is_some(), "{r:?}");
}

fn accepted(conditions: &Value) -> bool {
    conditions.as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == "Accepted" && c["status"] == "True")
    })
}

#[test]
fn a_policy_with_key_auth_guards_a_route_and_a_changed_secret_rotates_the_key_live() {
    let b = Backends::start(&["app"]);
    let c = FakeCluster::start();
    let p = Ports::free();
    c.apply_yaml(&format!("{}{}", gateway(p.http), protected(&b)));
    let gw = c.gateway("pod-a", &p, &[]);
    gw.wait_for_log("serving", Duration::from_secs(30)).unwrap();
    assert_guarded(p.http, FIRST_KEY, &|| gw.log());

    // The statuses of both kinds are written (the leader writes within seconds).
    assert!(
        within(20, || {
            let st = c.status(TOLLGATE_API, "Policy", Some("default"), "app-keys");
            accepted(&st["conditions"]) && accepted(&st["ancestors"][0]["conditions"])
        }),
        "Policy status: {:#}\n{}",
        c.status(TOLLGATE_API, "Policy", Some("default"), "app-keys"),
        gw.log()
    );
    let policy = c.status(TOLLGATE_API, "Policy", Some("default"), "app-keys");
    let ancestor = &policy["ancestors"][0];
    assert_eq!(ancestor["ancestorRef"]["kind"], "HTTPRoute", "{policy:#}");
    assert_eq!(ancestor["ancestorRef"]["name"], "app");
    assert_eq!(
        ancestor["controllerName"],
        "tollgate.dev/gateway-controller"
    );
    assert!(
        within(20, || accepted(
            &c.status(TOLLGATE_API, "Consumer", Some("default"), "alice")["conditions"]
        )),
        "Consumer status: {:#}",
        c.status(TOLLGATE_API, "Consumer", Some("default"), "alice")
    );

    // Rotation: the Secret now holds another key. The old one stops working, the new one
    // works, without a restart.
    c.apply_yaml(&key_secret(SECOND_KEY));
    assert!(
        within(15, || call(p.http, Some(SECOND_KEY)).0 == 200),
        "the new key is not accepted: {:?}\n{}",
        call(p.http, Some(SECOND_KEY)).1,
        gw.log()
    );
    assert_eq!(call(p.http, Some(FIRST_KEY)).0, 401);

    // A Secret that loses its label is no longer read: alice has no valid key left, so
    // her Consumer is refused, and the ACL naming her keeps the route closed.
    c.apply_yaml(
        &key_secret(SECOND_KEY).replace("labels: { tollgate.dev/credentials: \"\" }", "labels: {}"),
    );
    assert!(
        within(15, || call(p.http, Some(SECOND_KEY)).0 == 401),
        "an unlabelled Secret is still read: {}",
        gw.log()
    );
    assert!(
        within(20, || !accepted(
            &c.status(TOLLGATE_API, "Consumer", Some("default"), "alice")["conditions"]
        )),
        "Consumer status: {:#}",
        c.status(TOLLGATE_API, "Consumer", Some("default"), "alice")
    );
}

#[test]
fn the_same_manifests_in_files_guard_the_route() {
    let b = Backends::start(&["app"]);
    let (gw, p) = k8s::start(|p| {
        vec![
            ("gateway.yaml".to_owned(), gateway(p.http)),
            ("app.yaml".to_owned(), protected(&b)),
        ]
    });
    assert_guarded(p.http, FIRST_KEY, &|| gw.log());
}

/// The content blocks of a Policy (`cors`, `requestSize`, `compression`), from files: a
/// Gateway-wide Policy compresses and limits bodies, the route's own sets CORS.
#[test]
fn content_blocks_of_a_policy_apply_to_the_route() {
    let b = Backends::start(&["app"]);
    let routes = format!(
        "{}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{ name: app, namespace: default }}
spec:
  parentRefs: [{{ name: gw }}]
  rules:
  - matches: [{{ path: {{ type: PathPrefix, value: /app }} }}]
    filters:
    - type: URLRewrite
      urlRewrite: {{ path: {{ type: ReplacePrefixMatch, replacePrefixMatch: / }} }}
    backendRefs: [{{ name: app, port: 80 }}]
---
apiVersion: {TOLLGATE_API}
kind: Policy
metadata: {{ name: site, namespace: default }}
spec:
  targetRefs: [{{ group: gateway.networking.k8s.io, kind: Gateway, name: gw }}]
  requestSize: {{ maxBody: 1KiB }}
  compression: {{ algorithms: [gzip] }}
---
apiVersion: {TOLLGATE_API}
kind: Policy
metadata: {{ name: app-cors, namespace: default }}
spec:
  targetRefs: [{{ group: gateway.networking.k8s.io, kind: HTTPRoute, name: app }}]
  cors: {{ allowOrigins: [\"https://app.example.com\"], allowMethods: [GET, POST] }}
",
        svc("app", &b.ep(0)),
    );
    let (gw, p) = k8s::start(|p| {
        vec![
            ("gateway.yaml".to_owned(), gateway(p.http)),
            ("app.yaml".to_owned(), routes.clone()),
        ]
    });
    let web = Ports::addr(p.http);
    // curl: the compressed body is not text for the test client.
    let out = std::process::Command::new("curl")
        .args(["-s", "--max-time", "20", "-D", "-", "-o", "/dev/null"])
        .args(["-H", "Accept-Encoding: gzip"])
        .arg(format!("http://{web}/app/text/4096"))
        .output()
        .expect("run curl");
    let head = String::from_utf8_lossy(&out.stdout).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}\n{}", gw.log());
    assert!(head.contains("content-encoding: gzip\r\n"), "{head}");
    assert!(head.contains("vary: accept-encoding\r\n"), "{head}");
    let pre = client::request(
        web,
        "OPTIONS",
        "/app/x",
        &[
            ("origin", "https://app.example.com"),
            ("access-control-request-method", "POST"),
        ],
        "",
    )
    .unwrap();
    assert_eq!(pre.status, 204);
    assert_eq!(
        pre.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );
    let big = "x".repeat(2000);
    let r = client::request(web, "POST", "/app/x", &[], &big).unwrap();
    assert_eq!(r.status, 413, "{}", r.body);
}
