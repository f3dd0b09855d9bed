//! LIST: pagination and selectors.

use std::collections::BTreeSet;

use anyhow::Result;
use k8s_openapi::api::core::v1::{Secret, Service};
use kube::api::ListParams;
use kube::{Api, ResourceExt};
use serde_json::json;
use tollgate_kube_fake::Verb;

use crate::{api_code, service, start};

#[tokio::test]
async fn list_pages_with_limit_and_continue() -> Result<()> {
    let (api, client) = start().await?;
    for i in 0..5 {
        api.apply(service("a", &format!("s{i}"), &[]))?;
    }
    for i in 0..2 {
        api.apply(service("b", &format!("t{i}"), &[]))?;
    }
    let services: Api<Service> = Api::all(client.clone());
    let (mut names, mut versions, mut pages) = (Vec::new(), BTreeSet::new(), 0);
    let mut token: Option<String> = None;
    loop {
        let mut params = ListParams::default().limit(2);
        if let Some(token) = &token {
            params = params.continue_token(token);
        }
        let page = services.list(&params).await?;
        pages += 1;
        versions.insert(page.metadata.resource_version.clone());
        names.extend(
            page.items
                .iter()
                .map(|s| format!("{}/{}", s.namespace().unwrap_or_default(), s.name_any())),
        );
        token = page.metadata.continue_.filter(|t| !t.is_empty());
        if token.is_none() {
            break;
        }
        if pages == 1 {
            // Written between pages, after the cursor: later pages show it.
            api.apply(service("z", "late", &[]))?;
        }
    }
    assert_eq!(pages, 4);
    let expected = [
        "a/s0", "a/s1", "a/s2", "a/s3", "a/s4", "b/t0", "b/t1", "z/late",
    ];
    assert_eq!(names, expected);
    assert_eq!(
        versions.len(),
        1,
        "every page reports the first page's resourceVersion"
    );
    let in_b: Api<Service> = Api::namespaced(client, "b");
    let all_of_b = in_b.list(&ListParams::default()).await?;
    assert_eq!(all_of_b.items.len(), 2);
    assert_eq!(all_of_b.metadata.continue_.filter(|t| !t.is_empty()), None);
    let lists = api
        .requests()
        .iter()
        .filter(|r| r.verb == Verb::List)
        .count();
    assert_eq!(lists, 5);
    Ok(())
}

#[tokio::test]
async fn list_with_label_and_field_selectors() -> Result<()> {
    let (api, client) = start().await?;
    api.apply(service("a", "web", &[("app", "web"), ("tier", "front")]))?;
    api.apply(service("a", "api", &[("app", "api"), ("tier", "back")]))?;
    api.apply(service("a", "bare", &[]))?;
    let services: Api<Service> = Api::namespaced(client.clone(), "a");
    let names = |selector: ListParams| {
        let services = services.clone();
        async move {
            let list = services.list(&selector).await?;
            let mut names: Vec<String> = list.items.iter().map(ResourceExt::name_any).collect();
            names.sort();
            anyhow::Ok(names)
        }
    };
    assert_eq!(
        names(ListParams::default().labels("app=web")).await?,
        ["web"]
    );
    assert_eq!(
        names(ListParams::default().labels("app!=web")).await?,
        ["api", "bare"]
    );
    assert_eq!(
        names(ListParams::default().labels("tier")).await?,
        ["api", "web"]
    );
    assert_eq!(
        names(ListParams::default().labels("!tier")).await?,
        ["bare"]
    );
    assert_eq!(
        names(ListParams::default().labels("app in (api,web),tier=back")).await?,
        ["api"]
    );
    assert_eq!(
        names(ListParams::default().fields("metadata.name=bare")).await?,
        ["bare"]
    );
    assert_eq!(
        names(ListParams::default().fields("metadata.name!=bare")).await?,
        ["api", "web"]
    );

    let unsupported_label = services.list(&ListParams::default().labels("app>1")).await;
    assert_eq!(
        unsupported_label.as_ref().err().and_then(api_code),
        Some(400)
    );
    let unsupported_field = services
        .list(&ListParams::default().fields("spec.type=x"))
        .await;
    assert_eq!(
        unsupported_field.as_ref().err().and_then(api_code),
        Some(400)
    );

    for (name, kind) in [("tls", "kubernetes.io/tls"), ("opaque", "Opaque")] {
        api.apply(json!({
            "apiVersion": "v1", "kind": "Secret", "type": kind,
            "metadata": {"name": name, "namespace": "a"},
        }))?;
    }
    let secrets: Api<Secret> = Api::all(client);
    let tls = secrets
        .list(&ListParams::default().fields("type=kubernetes.io/tls"))
        .await?;
    let tls: Vec<String> = tls.items.iter().map(ResourceExt::name_any).collect();
    assert_eq!(tls, ["tls"]);
    Ok(())
}

#[tokio::test]
async fn continue_token_expires_with_compaction() -> Result<()> {
    let (api, client) = start().await?;
    for name in ["a", "b", "c"] {
        api.apply(service("ns", name, &[]))?;
    }
    let services: Api<Service> = Api::namespaced(client, "ns");
    let first = services.list(&ListParams::default().limit(1)).await?;
    let token = first.metadata.continue_.unwrap_or_default();
    assert!(!token.is_empty());
    api.apply(service("ns", "d", &[]))?;
    api.compact();
    let next = services
        .list(&ListParams::default().limit(1).continue_token(&token))
        .await;
    assert_eq!(next.as_ref().err().and_then(api_code), Some(410));
    Ok(())
}
