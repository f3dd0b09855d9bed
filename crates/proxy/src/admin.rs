//! The admin listener: `/healthz`, `/readyz`, `/metrics`, `/config`.
//!
//! It runs on its own single-threaded runtime in its own thread, so a slow scrape or a
//! busy data plane cannot starve the other (a liveness probe must answer even when every
//! data-plane worker is busy).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};

use crate::shared::Shared;

/// Binds the admin address and serves it from a dedicated thread.
pub(crate) fn start(shared: Arc<Shared>, addr: SocketAddr) -> std::io::Result<SocketAddr> {
    let std_listener = crate::server::bind(addr)?;
    let bound = std_listener.local_addr()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("tollgate-admin".into())
        .spawn(move || {
            rt.block_on(async move {
                let listener = match tokio::net::TcpListener::from_std(std_listener) {
                    Ok(l) => l,
                    Err(e) => {
                        tracing::error!("admin listener: {e}");
                        return;
                    }
                };
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let shared = shared.clone();
                    tokio::spawn(async move {
                        let svc = hyper::service::service_fn(move |req| {
                            let shared = shared.clone();
                            async move { Ok::<_, Infallible>(route(&shared, &req)) }
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .timer(TokioTimer::new())
                            .serve_connection(TokioIo::new(stream), svc)
                            .await;
                    });
                }
            });
        })?;
    Ok(bound)
}

fn route(shared: &Shared, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    match req.uri().path() {
        "/healthz" => text(StatusCode::OK, "ok\n"),
        "/readyz" => {
            let rt = shared.store.load();
            if !shared.ready.load(Ordering::Acquire) {
                text(StatusCode::SERVICE_UNAVAILABLE, "shutting down\n")
            } else if rt.version == 0 {
                text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "no configuration loaded yet\n",
                )
            } else {
                text(StatusCode::OK, "ready\n")
            }
        }
        "/metrics" => {
            let mut res = text(StatusCode::OK, &shared.metrics.render());
            res.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            res
        }
        "/config" => {
            let rt = shared.store.load();
            let body = serde_json::json!({
                "version": rt.version,
                "snapshot": rt.snapshot.redacted(),
            });
            let mut res = text(StatusCode::OK, &body.to_string());
            res.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            res
        }
        _ => text(
            StatusCode::NOT_FOUND,
            "not found: try /healthz /readyz /metrics /config\n",
        ),
    }
}

fn text(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(Bytes::copy_from_slice(body.as_bytes())));
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    res
}
