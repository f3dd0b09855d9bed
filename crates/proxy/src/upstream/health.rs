//! Active health checks: every `interval`, a `GET path` on a fresh connection to each
//! endpoint. `unhealthy` consecutive failures take an endpoint out of rotation; `healthy`
//! consecutive successes bring it back. The task holds only a weak reference, so it ends
//! when a reload drops the service.

use std::sync::{Arc, Weak};

use http::{Request, header};
use http_body_util::Empty;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::Upstream;

/// Starts checking `up` if it has a health check.
pub(crate) fn spawn(up: &Arc<Upstream>) {
    let Some(hc) = up.config.health_check.clone() else {
        return;
    };
    let weak: Weak<Upstream> = Arc::downgrade(up);
    tokio::spawn(async move {
        let n = weak.upgrade().map_or(0, |u| u.endpoints.len());
        let mut ok_streak = vec![0u32; n];
        let mut fail_streak = vec![0u32; n];
        let mut ticker = tokio::time::interval(hc.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let Some(up) = weak.upgrade() else { return };
            let probes = up.endpoints.iter().map(|ep| {
                let address = ep.address.clone();
                let path = hc.path.clone();
                async move {
                    tokio::time::timeout(hc.timeout, probe(&address, &path))
                        .await
                        .unwrap_or(false)
                }
            });
            let results = futures::future::join_all(probes).await;
            for (i, ok) in results.into_iter().enumerate() {
                let ep = &up.endpoints[i];
                if ok {
                    fail_streak[i] = 0;
                    ok_streak[i] += 1;
                    if !ep.is_healthy() && ok_streak[i] >= hc.healthy_threshold {
                        tracing::info!(service = %up.name, endpoint = %ep.address, "endpoint healthy");
                        ep.set_healthy(true);
                    }
                } else {
                    ok_streak[i] = 0;
                    fail_streak[i] += 1;
                    if ep.is_healthy() && fail_streak[i] >= hc.unhealthy_threshold {
                        tracing::warn!(service = %up.name, endpoint = %ep.address, "endpoint unhealthy");
                        ep.set_healthy(false);
                    }
                }
            }
        }
    });
}

async fn probe(address: &str, path: &str) -> bool {
    let Ok(stream) = TcpStream::connect(address).await else {
        return false;
    };
    let Ok((mut sender, conn)) = http1::handshake(TokioIo::new(stream)).await else {
        return false;
    };
    tokio::spawn(conn);
    let Ok(req) = Request::get(path)
        .header(header::HOST, address)
        .header(header::USER_AGENT, "tollgate-health-check")
        .body(Empty::<bytes::Bytes>::new())
    else {
        return false;
    };
    match sender.send_request(req).await {
        Ok(res) => res.status().is_success() || res.status().is_redirection(),
        Err(_) => false,
    }
}
