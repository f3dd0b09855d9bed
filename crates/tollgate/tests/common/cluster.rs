//! A fake Kubernetes API server (`tollgate-kube-fake`) with a kubeconfig pointing at it,
//! and gateways started with `--kubernetes` against it.

use std::time::Duration;

use serde_json::Value;
use tollgate_kube_fake::{FakeApiServer, ResourceType};
use tollgate_test_support::process::TempDir;

use super::k8s::Ports;
use super::{BIN, Gateway, Reply, client};

/// The fake API server, on a runtime of its own (tests are blocking code).
pub struct FakeCluster {
    pub api: FakeApiServer,
    kubeconfig: TempDir,
    // Declared last: dropped after the server, whose drop needs the runtime.
    pub rt: tokio::runtime::Runtime,
}

impl FakeCluster {
    pub fn start() -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let api = rt.block_on(FakeApiServer::start()).unwrap();
        // A cluster with deploy/crds.yaml installed: the API server serves our kinds.
        api.register(ResourceType::new(
            "tollgate.dev",
            "v1alpha1",
            "Policy",
            "policies",
            true,
        ));
        api.register(ResourceType::new(
            "tollgate.dev",
            "v1alpha1",
            "Consumer",
            "consumers",
            true,
        ));
        let kubeconfig = TempDir::new("kubeconfig").unwrap();
        std::fs::write(
            kubeconfig.path().join("config"),
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster: {{ server: '{}' }}\nusers:\n- name: test\n  user: {{}}\ncontexts:\n- name: fake\n  context: {{ cluster: fake, user: test, namespace: default }}\ncurrent-context: fake\n",
                api.url()
            ),
        )
        .unwrap();
        Self {
            api,
            kubeconfig,
            rt,
        }
    }

    /// Creates or replaces every object of a multi-document YAML text.
    pub fn apply_yaml(&self, text: &str) {
        for doc in text.split("\n---") {
            if doc.trim().is_empty() {
                continue;
            }
            let v: Value = serde_saphyr::from_str(doc)
                .unwrap_or_else(|e| panic!("bad test manifest ({e}):\n{doc}"));
            self.api
                .apply(v)
                .unwrap_or_else(|e| panic!("apply failed ({e}):\n{doc}"));
        }
    }

    /// Deletes one object.
    pub fn delete(&self, api_version: &str, kind: &str, ns: Option<&str>, name: &str) {
        self.api.delete(api_version, kind, ns, name).unwrap();
    }

    /// An object's status as the API server has it.
    pub fn status(&self, api_version: &str, kind: &str, ns: Option<&str>, name: &str) -> Value {
        self.api
            .get(api_version, kind, ns, name)
            .unwrap()
            .map(|o| o["status"].clone())
            .unwrap_or(Value::Null)
    }

    /// Starts `tollgate run --kubernetes` against this cluster (listeners on 127.0.0.1,
    /// Ingress ports from `ports`), as pod `pod`, with `extra` flags. Returns once the
    /// admin listener is up: serving waits for the first sync.
    pub fn gateway(&self, pod: &str, ports: &Ports, extra: &[&str]) -> Gateway {
        let mut args: Vec<String> = vec!["--kubernetes".into(), "--pod-name".into(), pod.into()];
        if !extra.contains(&"--lease-namespace") {
            args.extend(["--lease-namespace".into(), "default".into()]);
        }
        args.extend(super::k8s::flags(ports));
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let config = self.kubeconfig.path().join("config");
        let config = config.to_str().unwrap();
        Gateway::start_args(BIN, &args, &[("KUBECONFIG", config)])
            .unwrap_or_else(|e| panic!("gateway did not start: {e:#}"))
    }
}

/// `/readyz` of a gateway: its status code.
pub fn ready(gw: &Gateway) -> u16 {
    client::request(gw.admin, "GET", "/readyz", &[], "").map_or(0, |r| r.status)
}

/// The value of an unlabelled or labelled sample in a gateway's `/metrics`.
pub fn metric(gw: &Gateway, sample: &str) -> Option<f64> {
    let r: Reply = client::request(gw.admin, "GET", "/metrics", &[], "").ok()?;
    r.body.lines().find_map(|l| {
        l.strip_prefix(sample)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

/// Waits up to `secs` for `f`.
pub fn within(secs: u64, f: impl FnMut() -> bool) -> bool {
    super::eventually(Duration::from_secs(secs), f)
}
