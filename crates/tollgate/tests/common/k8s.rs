//! Kubernetes manifests for end-to-end tests: a GatewayClass of ours, Services whose
//! EndpointSlices point at real backends, and a gateway started on manifest files with
//! free ports found at run time (Gateway listener ports are fixed in the manifests, port
//! 0 is not a valid Gateway listener port).

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;

use super::{BIN, Gateway, Reply, client};

/// Free ports for one gateway process: found at run time, written into the manifests.
#[derive(Debug, Clone, Copy)]
pub struct Ports {
    /// For the first Gateway listener.
    pub http: u16,
    /// For a second listener (another Gateway, or an HTTPS one).
    pub other: u16,
    /// `--ingress-http-port`.
    pub ingress_http: u16,
    /// `--ingress-https-port`.
    pub ingress_https: u16,
}

impl Ports {
    /// Four distinct ports nothing listens on right now.
    pub fn free() -> Self {
        // Held together so the OS cannot hand out the same port twice.
        let held: Vec<std::net::TcpListener> = (0..4)
            .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
            .collect();
        let p: Vec<u16> = held
            .iter()
            .map(|l| l.local_addr().unwrap().port())
            .collect();
        Self {
            http: p[0],
            other: p[1],
            ingress_http: p[2],
            ingress_https: p[3],
        }
    }

    /// `127.0.0.1:port`.
    pub fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }
}

/// The flags that make Kubernetes listeners bind 127.0.0.1 and the Ingress ports free.
pub fn flags(p: &Ports) -> Vec<String> {
    vec![
        "--k8s-address".to_owned(),
        "127.0.0.1".to_owned(),
        "--ingress-http-port".to_owned(),
        p.ingress_http.to_string(),
        "--ingress-https-port".to_owned(),
        p.ingress_https.to_string(),
    ]
}

/// Starts the gateway on the files `make(ports)` returns. A free port can be taken by
/// someone else between finding it and binding it, so a start that fails is retried
/// with other ports.
pub fn start(make: impl Fn(&Ports) -> Vec<(String, String)>) -> (Gateway, Ports) {
    let mut last = String::new();
    for _ in 0..3 {
        let ports = Ports::free();
        let files = make(&ports);
        let files: Vec<(&str, &str)> = files
            .iter()
            .map(|(n, t)| (n.as_str(), t.as_str()))
            .collect();
        let flags = flags(&ports);
        let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
        match Gateway::start_with(BIN, &files, &flags) {
            Ok(gw) => return (gw, ports),
            Err(e) if format!("{e:#}").contains("in use") => last = format!("{e:#}"),
            Err(e) => panic!("gateway did not start: {e:#}"),
        }
    }
    panic!("gateway did not start: {last}");
}

/// The GatewayClass `tollgate` (ours) and a Gateway `gw` in `ns` whose `listeners:` list
/// is `listeners` (YAML list items, indented two spaces).
pub fn gateway_in(ns: &str, listeners: &str) -> String {
    format!(
        r"
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {{ name: tollgate }}
spec: {{ controllerName: tollgate.dev/gateway-controller }}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{ name: gw, namespace: {ns} }}
spec:
  gatewayClassName: tollgate
  listeners:
{listeners}"
    )
}

/// [`gateway_in`] the `default` namespace.
pub fn gateway_with(listeners: &str) -> String {
    gateway_in("default", listeners)
}

/// Our GatewayClass and a Gateway `gw` in `default` with one HTTP listener `http` on
/// `port` taking routes from every namespace.
pub fn gateway(port: u16) -> String {
    gateway_with(&format!(
        "  - name: http\n    port: {port}\n    protocol: HTTP\n    allowedRoutes: {{ namespaces: {{ from: All }} }}\n"
    ))
}

/// A Service `ns/name` with port 80 (named `http`), and one EndpointSlice per endpoint
/// (each backend has its own port, and a slice has one port for all its endpoints).
/// `endpoints`: `(ip:port, ready)`.
pub fn service(ns: &str, name: &str, endpoints: &[(&str, bool)]) -> String {
    let mut out = format!(
        r"
---
apiVersion: v1
kind: Service
metadata: {{ name: {name}, namespace: {ns} }}
spec:
  ports: [{{ name: http, port: 80 }}]
"
    );
    for (i, (ep, ready)) in endpoints.iter().enumerate() {
        let (ip, port) = ep.rsplit_once(':').unwrap();
        write!(
            out,
            r"
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {{ name: {name}-{i}, namespace: {ns}, labels: {{ kubernetes.io/service-name: {name} }} }}
addressType: IPv4
ports: [{{ name: http, port: {port} }}]
endpoints:
- addresses: [{ip}]
  conditions: {{ ready: {ready} }}
"
        )
        .unwrap();
    }
    out
}

/// A ready Service in `default` with one endpoint.
pub fn svc(name: &str, endpoint: &str) -> String {
    service("default", name, &[(endpoint, true)])
}

/// GET `target` on `127.0.0.1:port` with a Host header.
pub fn get_host(port: u16, host: &str, target: &str) -> Reply {
    client::request(Ports::addr(port), "GET", target, &[("host", host)], "").unwrap()
}

/// The name of the backend that answered (`""` when the gateway answered itself).
pub fn backend(r: &Reply) -> String {
    r.json()["backend"].as_str().unwrap_or("").to_owned()
}

/// `tollgate translate -c dir` parsed, with the Kubernetes flags.
pub fn translate(dir: &Path) -> serde_json::Value {
    let out = Command::new(BIN)
        .args(["translate", "-c"])
        .arg(dir)
        .args(["--k8s-address", "127.0.0.1"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "translate failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("translate output ({e}):\n{text}"))
}

/// The status entry of `kind` `name` in translate's output.
pub fn status<'a>(t: &'a serde_json::Value, kind: &str, name: &str) -> &'a serde_json::Value {
    t["statuses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["kind"] == kind && s["name"] == name)
        .unwrap_or_else(|| panic!("no status for {kind} {name} in {t:#}"))
}

/// The condition of `type_` in a list of conditions.
pub fn condition<'a>(conditions: &'a serde_json::Value, type_: &str) -> &'a serde_json::Value {
    conditions
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == type_)
        .unwrap_or_else(|| panic!("no {type_} condition in {conditions:#}"))
}

/// Starts the gateway on `gateway.yaml` (our class and Gateway `gw`, listener `http` on a
/// free port) plus `routes.yaml` = `routes`.
pub fn serve(routes: impl Fn(&Ports) -> String) -> (Gateway, Ports) {
    start(|p| {
        vec![
            ("gateway.yaml".to_owned(), gateway(p.http)),
            ("routes.yaml".to_owned(), routes(p)),
        ]
    })
}

/// Three ready Services `a`, `b`, `c` in `default`, one backend each.
pub fn abc(b: &super::Backends) -> String {
    format!(
        "{}{}{}",
        svc("a", &b.ep(0)),
        svc("b", &b.ep(1)),
        svc("c", &b.ep(2))
    )
}

/// An HTTPRoute `name` in `default`, parent Gateway `gw`, sending `path` (a prefix) to
/// the Service `to` port 80.
pub fn http_route(name: &str, path: &str, to: &str) -> String {
    format!(
        r"{ROUTE_HEAD}
metadata: {{ name: {name}, namespace: default }}
spec:
  parentRefs: [{{ name: gw }}]
  rules:
  - matches: [{{ path: {{ type: PathPrefix, value: {path} }} }}]
    backendRefs: [{{ name: {to}, port: 80 }}]
"
    )
}

/// The start of an HTTPRoute document (its metadata and spec follow).
pub const ROUTE_HEAD: &str = "
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute";
