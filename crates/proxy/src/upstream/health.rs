//! Active health checks: every `interval`, a `GET path` on a fresh connection to each
//! endpoint. `unhealthy` consecutive failures take an endpoint out of rotation; `healthy`
//! consecutive successes bring it back. The task holds only a weak reference, so it ends
//! when a reload drops the service.

use std::sync::{Arc, Weak};

use http::{Request, header};
use http_body_util::Empty;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::TokioExecutor;

use super::{Endpoint, Upstream};

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
                let ep = ep.clone();
                let path = hc.path.clone();
                async move {
                    tokio::time::timeout(hc.timeout, probe(&ep, &path))
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

/// One probe on a fresh connection (TLS when the service uses TLS), so a probe never
/// takes a pooled connection or counts against the circuit breaker.
async fn probe(ep: &Endpoint, path: &str) -> bool {
    let Ok(io) = ep
        .pool
        .connect_unpooled(std::time::Duration::from_secs(5))
        .await
    else {
        return false;
    };
    let h2 = ep.pool.is_h2();
    let uri = if h2 {
        format!("http://{}{path}", ep.address)
    } else {
        path.to_owned()
    };
    let Ok(mut req) = Request::get(uri)
        .header(header::USER_AGENT, "tollgate-health-check")
        .body(Empty::<bytes::Bytes>::new())
    else {
        return false;
    };
    let res = if h2 {
        let Ok((mut sender, conn)) = http2::handshake(TokioExecutor::new(), io).await else {
            return false;
        };
        tokio::spawn(conn);
        sender.send_request(req).await
    } else {
        if let Ok(h) = http::HeaderValue::from_str(&ep.address) {
            req.headers_mut().insert(header::HOST, h);
        }
        let Ok((mut sender, conn)) = http1::handshake(io).await else {
            return false;
        };
        tokio::spawn(conn);
        sender.send_request(req).await
    };
    match res {
        Ok(res) => res.status().is_success() || res.status().is_redirection(),
        Err(_) => false,
    }
}
