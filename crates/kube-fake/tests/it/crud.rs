//! GET, POST, PUT and DELETE through kube's `Api`.

use anyhow::{Context, Result};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::{Namespace, Service};
use kube::api::{
    ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ObjectMeta, PostParams,
};
use kube::{Api, ResourceExt};
use serde_json::json;
use tollgate_kube_fake::{ResourceType, Verb};

use crate::{api_code, api_reason, service, start};

#[tokio::test]
async fn create_fills_metadata_and_a_second_create_conflicts() -> Result<()> {
    let (api, client) = start().await?;
    let services: Api<Service> = Api::namespaced(client, "default");
    let manifest: Service = serde_json::from_value(service("default", "web", &[]))?;
    let created = services.create(&PostParams::default(), &manifest).await?;
    assert!(created.uid().is_some_and(|uid| !uid.is_empty()));
    assert!(created.creation_timestamp().is_some());
    assert_eq!(created.metadata.generation, Some(1));
    assert_eq!(
        created.resource_version(),
        Some(api.resource_version().to_string())
    );

    let again = services.create(&PostParams::default(), &manifest).await;
    let error = again.err().context("the second create must fail")?;
    assert_eq!(api_code(&error), Some(409));
    assert_eq!(api_reason(&error), Some("AlreadyExists"));
    let fetched = services.get("web").await?;
    assert_eq!(fetched.uid(), created.uid());
    Ok(())
}

#[tokio::test]
async fn lease_replace_with_a_stale_resource_version_conflicts() -> Result<()> {
    let (_api, client) = start().await?;
    let leases: Api<Lease> = Api::namespaced(client, "default");
    let lease = Lease {
        metadata: ObjectMeta {
            name: Some("tollgate-leader".into()),
            ..ObjectMeta::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some("pod-a".into()),
            lease_duration_seconds: Some(15),
            ..LeaseSpec::default()
        }),
    };
    let created = leases.create(&PostParams::default(), &lease).await?;

    // pod-b takes over with the current resourceVersion: accepted.
    let mut takeover = created.clone();
    if let Some(spec) = takeover.spec.as_mut() {
        spec.holder_identity = Some("pod-b".into());
    }
    let replaced = leases
        .replace("tollgate-leader", &PostParams::default(), &takeover)
        .await?;
    assert_ne!(replaced.resource_version(), created.resource_version());
    assert_eq!(replaced.metadata.generation, Some(2));

    // pod-a renews from its stale copy: 409 Conflict, and the lease stays pod-b's.
    let mut renew = created;
    if let Some(spec) = renew.spec.as_mut() {
        spec.lease_duration_seconds = Some(30);
    }
    let stale = leases
        .replace("tollgate-leader", &PostParams::default(), &renew)
        .await;
    let error = stale.err().context("a stale replace must fail")?;
    assert_eq!(api_code(&error), Some(409));
    assert_eq!(api_reason(&error), Some("Conflict"));
    let holder = leases
        .get("tollgate-leader")
        .await?
        .spec
        .and_then(|s| s.holder_identity);
    assert_eq!(holder.as_deref(), Some("pod-b"));
    Ok(())
}

#[tokio::test]
async fn delete_returns_the_object_then_404() -> Result<()> {
    let (api, client) = start().await?;
    api.apply(service("default", "web", &[]))?;
    let services: Api<Service> = Api::namespaced(client, "default");
    let deleted = services.delete("web", &DeleteParams::default()).await?;
    let name = deleted.map_left(|s| s.name_any()).left();
    assert_eq!(name.as_deref(), Some("web"));
    assert_eq!(api.get("v1", "Service", Some("default"), "web")?, None);
    let missing = services.delete("web", &DeleteParams::default()).await;
    assert_eq!(missing.as_ref().err().and_then(api_code), Some(404));
    let get = services.get("web").await;
    assert_eq!(get.as_ref().err().and_then(api_code), Some(404));
    // A stale precondition is a conflict.
    api.apply(service("default", "web", &[]))?;
    let stale = DeleteParams::default().preconditions(kube::api::Preconditions {
        resource_version: Some("1".into()),
        uid: None,
    });
    let refused = services.delete("web", &stale).await;
    assert_eq!(refused.as_ref().err().and_then(api_code), Some(409));
    Ok(())
}

#[tokio::test]
async fn cluster_scoped_kinds_and_generate_name() -> Result<()> {
    let (api, client) = start().await?;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let mut namespace = Namespace::default();
    namespace.metadata.generate_name = Some("test-".into());
    let created = namespaces
        .create(&PostParams::default(), &namespace)
        .await?;
    let name = created.name_any();
    assert!(
        name.starts_with("test-") && name.len() == "test-".len() + 5,
        "{name}"
    );
    assert_eq!(namespaces.get(&name).await?.uid(), created.uid());
    assert_eq!(api.list("v1", "Namespace")?.len(), 1);
    // Services in that namespace live under /api/v1/namespaces/{name}/services.
    let services: Api<Service> = Api::namespaced(client, &name);
    let manifest: Service = serde_json::from_value(service(&name, "web", &[]))?;
    services.create(&PostParams::default(), &manifest).await?;
    assert!(api.get("v1", "Service", Some(&name), "web")?.is_some());
    Ok(())
}

#[tokio::test]
async fn reference_grant_versions_share_one_collection() -> Result<()> {
    let (api, client) = start().await?;
    let gvk = |version: &str| {
        GroupVersionKind::gvk("gateway.networking.k8s.io", version, "ReferenceGrant")
    };
    let beta_resource = ApiResource::from_gvk_with_plural(&gvk("v1beta1"), "referencegrants");
    let beta: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &beta_resource);
    let grant = DynamicObject::new("grant", &beta_resource).data(json!({
        "spec": {"from": [{"group": "", "kind": "Service", "namespace": "x"}],
                 "to": [{"group": "", "kind": "Secret"}]},
    }));
    beta.create(&PostParams::default(), &grant).await?;

    let v1_resource = ApiResource::from_gvk_with_plural(&gvk("v1"), "referencegrants");
    let v1: Api<DynamicObject> = Api::namespaced_with(client, "default", &v1_resource);
    let through_v1 = v1.get("grant").await?;
    let api_version = through_v1.types.map(|t| t.api_version);
    assert_eq!(api_version.as_deref(), Some("gateway.networking.k8s.io/v1"));
    let stored = api.get(
        "gateway.networking.k8s.io/v1beta1",
        "ReferenceGrant",
        Some("default"),
        "grant",
    )?;
    let stored_version = stored.as_ref().and_then(|o| o["apiVersion"].as_str());
    assert_eq!(stored_version, Some("gateway.networking.k8s.io/v1beta1"));
    Ok(())
}

#[tokio::test]
async fn unknown_kinds_are_404_until_registered() -> Result<()> {
    let (api, client) = start().await?;
    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("tollgate.dev", "v1alpha1", "ApiKey"),
        "apikeys",
    );
    let keys: Api<DynamicObject> = Api::namespaced_with(client, "default", &resource);
    let before = keys.list(&Default::default()).await;
    assert_eq!(before.as_ref().err().and_then(api_code), Some(404));
    let manifest = json!({
        "apiVersion": "tollgate.dev/v1alpha1", "kind": "ApiKey",
        "metadata": {"name": "k", "namespace": "default"},
    });
    assert!(api.apply(manifest.clone()).is_err());

    api.register(ResourceType::new(
        "tollgate.dev",
        "v1alpha1",
        "ApiKey",
        "apikeys",
        true,
    ));
    api.apply(manifest)?;
    let after = keys.list(&Default::default()).await?;
    assert_eq!(after.items.len(), 1);
    let list_request = api.requests().into_iter().rfind(|r| r.verb == Verb::List);
    assert_eq!(
        list_request.map(|r| r.path),
        Some("/apis/tollgate.dev/v1alpha1/namespaces/default/apikeys".to_owned())
    );
    Ok(())
}
