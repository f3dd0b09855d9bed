//! A WebSocket echo backend for tests, built on tokio-tungstenite.
//!
//! [`WsEcho`] accepts WebSocket handshakes on a real socket and echoes every text and
//! binary message back. It records the path, query and headers of every handshake request
//! it receives. A request whose path starts with `/refuse` is not upgraded: it is answered
//! `404 Not Found` with the body [`REFUSED_BODY`], as a server that does not speak
//! WebSocket on that path would.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::{SinkExt, StreamExt};
use http::{HeaderMap, HeaderValue, StatusCode};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};

pub use tokio_tungstenite;

/// The body of the answer to a handshake on a `/refuse…` path.
pub const REFUSED_BODY: &str = "no websocket here";

/// One handshake request as the backend received it.
#[derive(Debug, Clone)]
pub struct Handshake {
    /// Path and query (`/ws/chat?room=1`).
    pub target: String,
    /// The request headers.
    pub headers: HeaderMap,
}

#[derive(Debug, Default)]
struct State {
    handshakes: Mutex<Vec<Handshake>>,
    upgraded: AtomicU64,
    closed: AtomicU64,
    messages: AtomicU64,
}

/// A running WebSocket echo backend. Dropping it stops the server and its connections.
#[derive(Debug)]
pub struct WsEcho {
    /// Where it listens.
    pub addr: SocketAddr,
    state: Arc<State>,
    stop: watch::Sender<bool>,
}

impl WsEcho {
    /// Starts on 127.0.0.1 with an OS-chosen port. Must be called inside a tokio runtime.
    pub async fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State::default());
        let (stop, stopped) = watch::channel(false);
        tokio::spawn(serve(listener, state.clone(), stopped));
        Ok(Self { addr, state, stop })
    }

    /// `ip:port` as a string, for configs.
    pub fn endpoint(&self) -> String {
        self.addr.to_string()
    }

    /// Every handshake request received so far (refused ones included).
    pub fn handshakes(&self) -> Vec<Handshake> {
        self.state
            .handshakes
            .lock()
            .map(|h| h.clone())
            .unwrap_or_default()
    }

    /// Connections upgraded to WebSocket so far.
    pub fn upgraded(&self) -> u64 {
        self.state.upgraded.load(Ordering::Relaxed)
    }

    /// Upgraded connections that have ended (by a close frame, EOF or an error).
    pub fn closed(&self) -> u64 {
        self.state.closed.load(Ordering::Relaxed)
    }

    /// Text and binary messages echoed so far.
    pub fn messages(&self) -> u64 {
        self.state.messages.load(Ordering::Relaxed)
    }
}

impl Drop for WsEcho {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

async fn serve(listener: TcpListener, state: Arc<State>, mut stopped: watch::Receiver<bool>) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stopped.changed() => return,
        };
        let Ok((stream, _)) = accepted else { continue };
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        let mut stopped = stopped.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = connection(stream, &state) => {}
                _ = stopped.changed() => {}
            }
        });
    }
}

async fn connection(stream: TcpStream, state: &State) {
    // The signature is tungstenite's `Callback`.
    #[allow(clippy::result_large_err)]
    let callback = |req: &Request, res: Response| -> Result<Response, ErrorResponse> {
        let target = req
            .uri()
            .path_and_query()
            .map_or_else(|| req.uri().path().to_owned(), |p| p.as_str().to_owned());
        let refuse = req.uri().path().starts_with("/refuse");
        if let Ok(mut h) = state.handshakes.lock() {
            h.push(Handshake {
                target,
                headers: req.headers().clone(),
            });
        }
        if refuse {
            let mut err = ErrorResponse::new(Some(REFUSED_BODY.to_owned()));
            *err.status_mut() = StatusCode::NOT_FOUND;
            err.headers_mut().insert(
                http::header::CONTENT_LENGTH,
                HeaderValue::from(REFUSED_BODY.len()),
            );
            err.headers_mut().insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain"),
            );
            return Err(err);
        }
        Ok(res)
    };
    let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(stream, callback).await else {
        return;
    };
    state.upgraded.fetch_add(1, Ordering::Relaxed);
    while let Some(msg) = ws.next().await {
        let Ok(msg) = msg else { break };
        match msg {
            Message::Text(_) | Message::Binary(_) => {
                state.messages.fetch_add(1, Ordering::Relaxed);
                if ws.send(msg).await.is_err() {
                    break;
                }
            }
            // tungstenite answers pings and close frames itself (on the next read).
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) | Message::Close(_) => {}
        }
    }
    state.closed.fetch_add(1, Ordering::Relaxed);
}
