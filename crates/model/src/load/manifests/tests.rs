use super::*;

fn parse(text: &str) -> Parsed {
    parse_file(Path::new("m.yaml"), text)
}

const GATEWAY: &str = "\
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: web
  namespace: infra
spec:
  gatewayClassName: tollgate
  listeners:
  - name: http
    port: 80
    protocol: HTTP
";

#[test]
fn multi_document_manifests_fill_resources() {
    let text = format!(
        "# leading comment\n---\n{GATEWAY}---\napiVersion: v1\nkind: Service\nmetadata: {{ name: s, namespace: infra }}\nspec:\n  ports: [{{ port: 8080, targetPort: 9000 }}]\n---\n# only a comment\n"
    );
    let p = parse(&text);
    assert!(p.problems.is_empty(), "{:?}", p.problems);
    assert!(p.native.is_none());
    assert_eq!(p.resources.gateways.len(), 1);
    assert_eq!(p.resources.gateways[0].spec.listeners[0].port, 80);
    assert_eq!(p.resources.services.len(), 1);
}

#[test]
fn kubectl_list_items_are_read() {
    let text = "\
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Namespace
  metadata: { name: a, labels: { team: x } }
- apiVersion: apps/v1
  kind: Deployment
  metadata: { name: d }
- apiVersion: discovery.k8s.io/v1
  kind: EndpointSlice
  metadata: { name: s-1, labels: { kubernetes.io/service-name: s } }
  addressType: IPv4
  endpoints: [{ addresses: [10.0.0.1] }]
";
    let p = parse(text);
    assert!(p.problems.is_empty(), "{:?}", p.problems);
    assert_eq!(p.resources.namespaces.len(), 1);
    assert_eq!(p.resources.endpoint_slices.len(), 1);
    assert_eq!(p.notes.len(), 1);
    assert_eq!(p.notes[0].line, 7, "{}", p.notes[0]);
}

#[test]
fn unknown_kinds_are_skipped_with_a_note() {
    let p = parse("apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: d }\n");
    assert!(p.problems.is_empty());
    assert!(p.native.is_none());
    assert!(p.resources.is_empty());
    assert!(
        p.notes[0].message.contains("Deployment \"d\""),
        "{}",
        p.notes[0]
    );
}

#[test]
fn malformed_known_kinds_are_problems_at_their_line() {
    let text = format!(
        "{GATEWAY}---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {{ name: r, namespace: infra }}\nspec:\n  rules:\n  - matches:\n    - path: {{ type: Nope, value: / }}\n"
    );
    let p = parse(&text);
    assert_eq!(p.resources.gateways.len(), 1, "the good document is kept");
    assert_eq!(p.problems.len(), 1, "{:?}", p.problems);
    let problem = &p.problems[0];
    assert_eq!(problem.line, 19, "{problem}");
    assert!(
        problem.message.starts_with("HTTPRoute \"infra/r\": "),
        "{problem}"
    );
}

#[test]
fn native_single_document_is_native() {
    let p = parse("---\nlisteners:\n  - name: web\n    address: 127.0.0.1:80\n");
    assert!(p.problems.is_empty(), "{:?}", p.problems);
    let doc = p.native.expect("native");
    assert_eq!(doc.listeners[0].name.referenced.line(), 3);
}

#[test]
fn native_document_among_manifests_is_a_problem() {
    let text = format!("{GATEWAY}---\nlisteners: []\n");
    let p = parse(&text);
    assert_eq!(p.problems.len(), 1);
    assert_eq!(p.problems[0].line, 13, "{}", p.problems[0]);
}

#[test]
fn missing_kind_is_a_problem() {
    let p = parse("apiVersion: v1\nmetadata: { name: x }\n---\nkind: Service\n");
    assert_eq!(p.problems.len(), 2, "{:?}", p.problems);
    assert!(p.problems[0].message.contains("kind is missing"));
    assert_eq!(p.problems[1].line, 4);
}

#[test]
fn document_markers_split_exactly() {
    let chunks = split("a: 1\n--- {b: 2}\n...\n---\nc: |\n  x\n");
    let texts: Vec<(u64, &str)> = chunks
        .iter()
        .map(|c| (c.first_line, c.text.as_str()))
        .collect();
    assert_eq!(
        texts,
        vec![
            (0, "a: 1\n"),
            (1, "    {b: 2}\n"),
            (3, ""),
            (3, "   \nc: |\n  x\n")
        ]
    );
}

#[test]
fn secrets_decode_base64_data() {
    let p = parse(
        "apiVersion: v1\nkind: Secret\nmetadata: { name: t }\ntype: kubernetes.io/tls\ndata:\n  tls.crt: aGVsbG8=\n",
    );
    assert!(p.problems.is_empty(), "{:?}", p.problems);
    let data = p.resources.secrets[0].data.as_ref().expect("data");
    assert_eq!(data["tls.crt"].0, b"hello");
}

#[test]
fn a_directory_mixes_native_files_and_manifests() {
    let dir = std::env::temp_dir().join(format!("tollgate-manifests-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(
        dir.join("a-native.yaml"),
        "listeners:\n  - name: web\n    address: 127.0.0.1:80\n",
    )
    .expect("write");
    std::fs::write(dir.join("b-gateway.yaml"), GATEWAY).expect("write");
    std::fs::write(
        dir.join("c-deploy.json"),
        r#"{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}}"#,
    )
    .expect("write");
    let src = super::super::load_paths(std::slice::from_ref(&dir)).expect("loads");
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(src.documents.len(), 1);
    assert_eq!(src.resources.gateways.len(), 1);
    assert_eq!(src.notes.len(), 1, "{:?}", src.notes);
    assert_eq!(src.files.len(), 3);
}

#[test]
fn tollgate_policies_and_consumers_are_read_in_v1alpha1_only() {
    let text = "\
apiVersion: tollgate.dev/v1alpha1
kind: Policy
metadata: { name: p, namespace: shop }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, name: r, sectionName: admin }]
  keyAuth: { header: apikey }
  jwt: { jwksUri: https://idp.example/jwks, claimsToHeaders: { sub: x-user }, leeway: 10s }
  mtlsAuth: {}
---
apiVersion: tollgate.dev/v1alpha1
kind: Consumer
metadata: { name: alice, namespace: shop }
spec:
  groups: [gold]
  keys: [{ secretRef: { name: alice-keys } }]
  basic: { username: alice, passwordHashSecretRef: { name: alice-keys, key: hash } }
---
apiVersion: tollgate.dev/v1beta9
kind: Policy
metadata: { name: future }
---
apiVersion: tollgate.dev/v1alpha1
kind: Consumer
metadata: { name: bad }
spec: { keys: oops }
";
    let p = parse(text);
    assert_eq!(p.resources.policies.len(), 1);
    let spec = &p.resources.policies[0].spec;
    assert_eq!(spec.target_refs[0].section_name.as_deref(), Some("admin"));
    assert_eq!(
        spec.key_auth.as_ref().and_then(|k| k.header.as_deref()),
        Some("apikey")
    );
    assert_eq!(
        spec.jwt.as_ref().and_then(|j| j.leeway.as_deref()),
        Some("10s")
    );
    assert!(spec.mtls_auth.is_some());
    assert_eq!(p.resources.consumers.len(), 1);
    let c = &p.resources.consumers[0].spec;
    assert_eq!(c.keys[0].secret_ref.key, None);
    assert_eq!(
        c.basic
            .as_ref()
            .map(|b| b.password_hash_secret_ref.key.as_str()),
        Some("hash")
    );
    assert_eq!(
        p.notes.len(),
        1,
        "another version is skipped: {:?}",
        p.notes
    );
    assert_eq!(p.problems.len(), 1, "{:?}", p.problems);
    assert!(
        p.problems[0].to_string().contains("Consumer \"bad\""),
        "{}",
        p.problems[0]
    );
}

#[test]
fn a_misspelt_field_in_our_resources_is_a_problem_at_its_line() {
    // The API server prunes unknown fields in a cluster; from a file, a typo must not
    // silently leave a route unprotected.
    let text = "\
apiVersion: tollgate.dev/v1alpha1
kind: Policy
metadata: { name: p, namespace: default }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, name: r }]
  keyAuht: {}
---
apiVersion: tollgate.dev/v1alpha1
kind: Consumer
metadata: { name: c, namespace: default }
spec:
  basic: { username: c, passwordHashSecret: { name: s } }
";
    let p = parse(text);
    assert_eq!(p.problems.len(), 2, "{:?}", p.problems);
    let all = format!("{:?}", p.problems);
    assert!(
        all.contains("keyAuht") && all.contains("passwordHashSecret"),
        "{all}"
    );
    assert!(p.resources.policies.is_empty() && p.resources.consumers.is_empty());
}

#[test]
fn an_oidc_policy_takes_its_secrets_only_from_secret_refs() {
    let text = "\
apiVersion: tollgate.dev/v1alpha1
kind: Policy
metadata: { name: login, namespace: shop }
spec:
  oidc:
    discovery: https://idp.example
    clientId: portal
    clientSecretRef: { name: portal-oidc }
    sessionSecretRef: { name: portal-oidc }
    sessionLifetime: 8h
---
apiVersion: tollgate.dev/v1alpha1
kind: Policy
metadata: { name: inline, namespace: shop }
spec:
  oidc:
    discovery: https://idp.example
    clientId: portal
    clientSecretRef: { name: portal-oidc, key: secret }
    clientSecret: written-in-the-policy
";
    let p = parse(text);
    assert_eq!(p.resources.policies.len(), 1, "{:?}", p.problems);
    let o = p.resources.policies[0]
        .spec
        .oidc
        .as_ref()
        .expect("the oidc block");
    // A key left out is the conventional one for each secret.
    assert_eq!(o.client_secret_ref.key, "client-secret");
    assert_eq!(
        o.session_secret_ref.as_ref().map(|r| r.key.as_str()),
        Some("session-secret")
    );
    assert_eq!(o.session_lifetime.as_deref(), Some("8h"));
    // No inline secrets: the field does not exist, so the Policy is a problem at its line.
    assert_eq!(p.problems.len(), 1, "{:?}", p.problems);
    let problem = p.problems[0].to_string();
    assert!(
        problem.contains("m.yaml:20:") && problem.contains("unknown field `clientSecret`"),
        "{problem}"
    );
}
