//! The API server going away and coming back on the same port.

use anyhow::{Result, ensure};
use k8s_openapi::api::core::v1::Service;
use kube::Api;
use kube::runtime::watcher;
use tokio::net::TcpStream;
use tollgate_kube_fake::Verb;

use crate::{Reflected, WAIT, eventually, service, start};

#[tokio::test]
async fn watcher_recovers_after_the_server_comes_back() -> Result<()> {
    let (api, client) = start().await?;
    api.apply(service("default", "a", &[]))?;
    let services: Api<Service> = Api::namespaced(client.clone(), "default");
    let reflected = Reflected::start(services.clone(), watcher::Config::default());
    reflected.ready().await?;
    api.wait_for_open_watches("v1", "Service", 1, WAIT).await?;
    let addr = api.addr();

    api.set_available(false).await?;
    ensure!(!api.is_available());
    ensure!(
        TcpStream::connect(addr).await.is_err(),
        "the port must refuse connections"
    );
    assert_eq!(api.open_watches("v1", "Service")?, 0);
    let get = services.get("a").await;
    ensure!(get.is_err(), "requests fail while the server is away");
    let noticed = || reflected.events().iter().any(|e| e.starts_with("error"));
    eventually("the watcher to notice the outage", noticed).await?;
    // Written while the server is away: the resumed watch replays them from history.
    api.apply(service("default", "b", &[]))?;
    api.delete("v1", "Service", Some("default"), "a")?;
    api.clear_requests();

    api.set_available(true).await?;
    assert_eq!(api.addr(), addr);
    reflected.wait_for_names(&["b"]).await?;
    assert_eq!(
        reflected.count("init"),
        1,
        "resumed without a relist: {:?}",
        reflected.events()
    );
    ensure!(api.requests().iter().all(|r| r.verb != Verb::List));
    // The same client (same Config) works again.
    assert_eq!(services.get("b").await?.metadata.name.as_deref(), Some("b"));
    Ok(())
}

#[tokio::test]
async fn set_available_reopens_the_port_and_shutdown_closes_it() -> Result<()> {
    let (api, _client) = start().await?;
    let addr = api.addr();
    api.set_available(false).await?;
    api.set_available(true).await?;
    ensure!(TcpStream::connect(addr).await.is_ok());
    api.shutdown().await;
    ensure!(TcpStream::connect(addr).await.is_err());
    Ok(())
}
