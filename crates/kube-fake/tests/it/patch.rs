//! PATCH: server-side apply on `/status` (the controller's status writes), merge patches,
//! JSON patches, and the status subresource rules.

use anyhow::{Context, Result};
use gateway_api::httproutes::HttpRoute;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Patch, PatchParams};
use kube::{Api, ResourceExt};
use serde_json::{Value, json};
use tollgate_kube_fake::Verb;

use crate::{WAIT, api_code, route, service, start};

fn accepted_status(generation: i64) -> Value {
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "status": {"parents": [{
            "parentRef": {"name": "gw"},
            "controllerName": "tollgate.dev/gateway-controller",
            "conditions": [{
                "type": "Accepted", "status": "True", "reason": "Accepted", "message": "",
                "observedGeneration": generation,
                "lastTransitionTime": "2026-01-01T00:00:00Z",
            }],
        }]},
    })
}

#[tokio::test]
async fn apply_on_status_sets_status_without_bumping_generation() -> Result<()> {
    let (api, client) = start().await?;
    let stored = api.apply(route("apps", "r", "a.example"))?;
    let routes: Api<HttpRoute> = Api::namespaced(client, "apps");
    let params = PatchParams::apply("tollgate").force();
    let patched = routes
        .patch_status("r", &params, &Patch::Apply(accepted_status(1)))
        .await?;

    let condition = patched
        .status
        .as_ref()
        .and_then(|s| s.parents.first())
        .and_then(|p| p.conditions.first())
        .context("the status condition")?;
    assert_eq!(
        (condition.type_.as_str(), condition.status.as_str()),
        ("Accepted", "True")
    );
    assert_eq!(
        patched.metadata.generation,
        Some(1),
        "status writes never bump generation"
    );
    let old_rv = stored["metadata"]["resourceVersion"]
        .as_str()
        .map(str::to_owned);
    assert_ne!(patched.resource_version(), old_rv);

    let request = api
        .wait_for_request(|r| r.verb == Verb::Patch && r.is_status(), WAIT)
        .await?;
    assert_eq!(
        request.path,
        "/apis/gateway.networking.k8s.io/v1/namespaces/apps/httproutes/r/status"
    );
    assert_eq!(
        request.content_type.as_deref(),
        Some("application/apply-patch+yaml")
    );
    assert_eq!(request.param("fieldManager"), Some("tollgate"));
    assert_eq!(request.param("force"), Some("true"));
    assert_eq!(request.status, 200);
    let body = request.body.context("the patch body")?;
    assert_eq!(
        body["status"]["parents"][0]["conditions"][0]["type"],
        "Accepted"
    );
    assert_eq!(
        body["status"]["parents"][0]["conditions"][0]["observedGeneration"],
        1
    );

    // The same status again is a no-op: no new resourceVersion.
    let rv = api.resource_version();
    let again = routes
        .patch_status("r", &params, &Patch::Apply(accepted_status(1)))
        .await?;
    assert_eq!(again.resource_version(), patched.resource_version());
    assert_eq!(api.resource_version(), rv);
    Ok(())
}

#[tokio::test]
async fn generation_counts_spec_changes_only() -> Result<()> {
    let (api, client) = start().await?;
    api.apply(route("apps", "r", "a.example"))?;
    let routes: Api<HttpRoute> = Api::namespaced(client, "apps");
    let merge = |patch: Value| Patch::Merge(patch);
    let params = PatchParams::default();
    let relabelled = routes
        .patch(
            "r",
            &params,
            &merge(json!({"metadata": {"labels": {"a": "b"}}})),
        )
        .await?;
    assert_eq!(relabelled.metadata.generation, Some(1));
    let respecced = routes
        .patch(
            "r",
            &params,
            &merge(json!({"spec": {"hostnames": ["b.example"]}})),
        )
        .await?;
    assert_eq!(respecced.metadata.generation, Some(2));
    assert_eq!(respecced.labels().get("a").map(String::as_str), Some("b"));

    // A status in a write to the main resource is ignored (HTTPRoute has /status).
    let ignored = routes
        .patch("r", &params, &merge(accepted_status(2)))
        .await?;
    assert!(ignored.status.is_none());
    assert_eq!(ignored.resource_version(), respecced.resource_version());

    // Server-side apply on the main resource merges, and creates a missing object.
    let apply = PatchParams::apply("tollgate");
    let mut manifest = route("apps", "new", "c.example");
    manifest["metadata"] = json!({"name": "new"});
    let created = routes.patch("new", &apply, &Patch::Apply(manifest)).await?;
    assert_eq!(created.spec.hostnames, Some(vec!["c.example".to_owned()]));
    let create = api
        .wait_for_request(|r| r.path.ends_with("/httproutes/new"), WAIT)
        .await?;
    assert_eq!(create.status, 201);
    Ok(())
}

#[tokio::test]
async fn patch_content_types() -> Result<()> {
    let (api, client) = start().await?;
    api.apply(service("default", "web", &[("app", "web")]))?;
    let path = "/api/v1/namespaces/default/services/web";
    let send = |content_type: &str, body: Value| {
        let client = client.clone();
        let request = http::Request::patch(path)
            .header(http::header::CONTENT_TYPE, content_type)
            .body(serde_json::to_vec(&body).unwrap_or_default());
        async move { anyhow::Ok(client.request::<Service>(request?).await) }
    };

    let json_patch = json!([
        {"op": "test", "path": "/metadata/labels/app", "value": "web"},
        {"op": "add", "path": "/metadata/labels/tier", "value": "front"},
    ]);
    let patched = send("application/json-patch+json", json_patch).await??;
    assert_eq!(
        patched.labels().get("tier").map(String::as_str),
        Some("front")
    );

    let failing = json!([{"op": "test", "path": "/metadata/labels/app", "value": "db"}]);
    let failed = send("application/json-patch+json", failing).await?;
    assert_eq!(failed.as_ref().err().and_then(api_code), Some(422));

    let strategic = json!({"metadata": {"labels": {"tier": null}}});
    let patched = send("application/strategic-merge-patch+json", strategic).await??;
    assert_eq!(patched.labels().get("tier"), None);

    let unknown = send("text/plain", json!({})).await?;
    assert_eq!(unknown.as_ref().err().and_then(api_code), Some(415));

    let services: Api<Service> = Api::namespaced(client.clone(), "default");
    let no_manager = PatchParams::default();
    let manifest = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}});
    let refused = services
        .patch("web", &no_manager, &Patch::Apply(manifest))
        .await;
    assert_eq!(refused.as_ref().err().and_then(api_code), Some(422));

    let missing = services
        .patch_status("nope", &PatchParams::default(), &Patch::Merge(json!({})))
        .await;
    assert_eq!(missing.as_ref().err().and_then(api_code), Some(404));

    // Secrets have no status subresource.
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(client, "default");
    let no_status = secrets.get_status("web").await;
    assert_eq!(no_status.as_ref().err().and_then(api_code), Some(404));
    Ok(())
}
