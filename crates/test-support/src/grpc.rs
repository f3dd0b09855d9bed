//! A gRPC peer for tests, without protoc: messages are raw bytes.
//!
//! - [`RawCodec`]: a tonic codec whose messages are [`Bytes`] as they are on the wire.
//! - [`GrpcEcho`]: an h2c backend built by hand on tonic's server machinery
//!   ([`tonic::server::Grpc`] with [`UnaryService`] / [`ServerStreamingService`]) served by
//!   hyper's HTTP/2 server. Its methods:
//!   - `/test.Echo/Unary`: answers the request message. Response metadata `x-header: yes`,
//!     and `x-in-echo` repeating the request's `x-in` metadata. Request metadata
//!     `x-delay-ms: N` makes it wait N ms first.
//!   - `/test.Echo/Stream`: the request message is a count N (decimal); answers N messages
//!     `msg-0` … `msg-{N-1}`, `x-gap-ms` apart (default 5).
//!   - `/test.Echo/Fail`: answers the status NOT_FOUND with the request message as its
//!     message and metadata `x-detail: missing`.
//!   - anything else: UNIMPLEMENTED with the message [`BACKEND_UNIMPLEMENTED`].
//!
//!   Every response that ends with a trailers frame gets `x-trailer: yes` added to it, so
//!   tests can check that trailing metadata travels end to end.
//! - Client helpers: [`channel`], [`unary`], [`server_streaming`] (tonic over a
//!   [`Channel`]), and [`raw_call`], one call over a bare hyper HTTP/2 connection for
//!   wire-level checks (the head, the body frames, the trailers exactly as they arrive).

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use futures_core::Stream;
use http::{HeaderMap, HeaderValue};
use http_body_util::{BodyExt, Full, combinators::UnsyncBoxBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::server::{ServerStreamingService, UnaryService};
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status, Streaming};

pub use tonic;

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// The message of the UNIMPLEMENTED status the backend itself answers for unknown methods.
pub const BACKEND_UNIMPLEMENTED: &str = "unknown method (backend)";

/// A codec whose messages are the raw bytes of the gRPC message.
#[derive(Debug, Clone, Copy, Default)]
pub struct RawCodec;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

/// One call as the backend received it.
#[derive(Debug, Clone)]
pub struct SeenCall {
    /// The request path (`/test.Echo/Unary`).
    pub path: String,
    /// The request headers.
    pub headers: HeaderMap,
}

#[derive(Debug, Default)]
struct State {
    calls: Mutex<Vec<SeenCall>>,
    count: AtomicU64,
}

/// A running h2c gRPC echo backend. Dropping it stops the server and its connections.
#[derive(Debug)]
pub struct GrpcEcho {
    /// Where it listens.
    pub addr: SocketAddr,
    state: Arc<State>,
    stop: watch::Sender<bool>,
}

impl GrpcEcho {
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

    /// Calls received so far.
    pub fn count(&self) -> u64 {
        self.state.count.load(Ordering::Relaxed)
    }

    /// Every call received so far.
    pub fn calls(&self) -> Vec<SeenCall> {
        self.state
            .calls
            .lock()
            .map(|c| c.clone())
            .unwrap_or_default()
    }
}

impl Drop for GrpcEcho {
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
            let svc = hyper::service::service_fn(move |req| handle(state.clone(), req));
            let conn = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), svc);
            tokio::select! {
                _ = conn => {}
                _ = stopped.changed() => {}
            }
        });
    }
}

type ResBody = UnsyncBoxBody<Bytes, Status>;

async fn handle(
    state: Arc<State>,
    req: http::Request<Incoming>,
) -> Result<http::Response<ResBody>, Infallible> {
    state.count.fetch_add(1, Ordering::Relaxed);
    if let Ok(mut calls) = state.calls.lock() {
        calls.push(SeenCall {
            path: req.uri().path().to_owned(),
            headers: req.headers().clone(),
        });
    }
    let mut grpc = tonic::server::Grpc::new(RawCodec);
    let res = match req.uri().path() {
        "/test.Echo/Unary" => grpc.unary(EchoUnary, req).await,
        "/test.Echo/Fail" => grpc.unary(Fail, req).await,
        "/test.Echo/Stream" => grpc.server_streaming(Counter, req).await,
        _ => Status::unimplemented(BACKEND_UNIMPLEMENTED).into_http(),
    };
    Ok(res.map(|body| {
        body.map_frame(|frame| match frame.into_trailers() {
            Ok(mut trailers) => {
                trailers.insert("x-trailer", HeaderValue::from_static("yes"));
                Frame::trailers(trailers)
            }
            Err(frame) => frame,
        })
        .boxed_unsync()
    }))
}

fn metadata_ms(md: &MetadataMap, key: &str) -> Option<Duration> {
    md.get(key)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .map(Duration::from_millis)
}

struct EchoUnary;

impl UnaryService<Bytes> for EchoUnary {
    type Response = Bytes;
    type Future = BoxFuture<Result<tonic::Response<Bytes>, Status>>;

    fn call(&mut self, req: tonic::Request<Bytes>) -> Self::Future {
        Box::pin(async move {
            if let Some(delay) = metadata_ms(req.metadata(), "x-delay-ms") {
                tokio::time::sleep(delay).await;
            }
            let echoed = req.metadata().get("x-in").cloned();
            let mut res = tonic::Response::new(req.into_inner());
            res.metadata_mut()
                .insert("x-header", MetadataValue::from_static("yes"));
            if let Some(v) = echoed {
                res.metadata_mut().insert("x-in-echo", v);
            }
            Ok(res)
        })
    }
}

struct Fail;

impl UnaryService<Bytes> for Fail {
    type Response = Bytes;
    type Future = BoxFuture<Result<tonic::Response<Bytes>, Status>>;

    fn call(&mut self, req: tonic::Request<Bytes>) -> Self::Future {
        let message = String::from_utf8_lossy(req.get_ref()).into_owned();
        let mut md = MetadataMap::new();
        md.insert("x-detail", MetadataValue::from_static("missing"));
        Box::pin(std::future::ready(Err(Status::with_metadata(
            Code::NotFound,
            message,
            md,
        ))))
    }
}

/// A boxed stream of messages, as the server-streaming method answers.
pub type MessageStream = Pin<Box<dyn Stream<Item = Result<Bytes, Status>> + Send + 'static>>;

struct Counter;

impl ServerStreamingService<Bytes> for Counter {
    type Response = Bytes;
    type ResponseStream = MessageStream;
    type Future = BoxFuture<Result<tonic::Response<MessageStream>, Status>>;

    fn call(&mut self, req: tonic::Request<Bytes>) -> Self::Future {
        let gap = metadata_ms(req.metadata(), "x-gap-ms").unwrap_or(Duration::from_millis(5));
        let n = std::str::from_utf8(req.get_ref())
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok());
        let Some(n) = n else {
            return Box::pin(std::future::ready(Err(Status::invalid_argument(
                "count expected",
            ))));
        };
        let (tx, mut rx) = tokio::sync::mpsc::channel(1);
        tokio::spawn(async move {
            for i in 0..n {
                if tx.send(Ok(Bytes::from(format!("msg-{i}")))).await.is_err() {
                    return;
                }
                tokio::time::sleep(gap).await;
            }
        });
        let stream: MessageStream =
            Box::pin(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)));
        Box::pin(std::future::ready(Ok(tonic::Response::new(stream))))
    }
}

/// A tonic channel to `addr` over h2c (prior knowledge), connected eagerly.
pub async fn channel(addr: SocketAddr) -> Result<Channel, tonic::transport::Error> {
    Endpoint::from_shared(format!("http://{addr}"))?
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
}

async fn client(ch: &Channel) -> Result<tonic::client::Grpc<Channel>, Status> {
    let mut grpc = tonic::client::Grpc::new(ch.clone());
    grpc.ready()
        .await
        .map_err(|e| Status::unavailable(format!("channel not ready: {e}")))?;
    Ok(grpc)
}

fn method(path: &str) -> Result<http::uri::PathAndQuery, Status> {
    path.parse()
        .map_err(|e| Status::invalid_argument(format!("bad method path {path:?}: {e}")))
}

/// A unary call with raw-bytes messages.
pub async fn unary(
    ch: &Channel,
    path: &str,
    req: tonic::Request<Bytes>,
) -> Result<tonic::Response<Bytes>, Status> {
    client(ch).await?.unary(req, method(path)?, RawCodec).await
}

/// A server-streaming call with raw-bytes messages.
pub async fn server_streaming(
    ch: &Channel,
    path: &str,
    req: tonic::Request<Bytes>,
) -> Result<tonic::Response<Streaming<Bytes>>, Status> {
    client(ch)
        .await?
        .server_streaming(req, method(path)?, RawCodec)
        .await
}

/// What [`raw_call`] received, exactly as it arrived.
#[derive(Debug)]
pub struct RawReply {
    /// The HTTP status.
    pub status: http::StatusCode,
    /// The response head.
    pub headers: HeaderMap,
    /// The data frames, concatenated (length-prefixed gRPC messages).
    pub body: Bytes,
    /// The trailers frame, when there was one.
    pub trailers: Option<HeaderMap>,
}

impl RawReply {
    /// The gRPC messages of the body (compression flag ignored).
    pub fn messages(&self) -> Vec<Bytes> {
        let mut out = Vec::new();
        let mut b = self.body.clone();
        while b.remaining() >= 5 {
            b.advance(1);
            let len = b.get_u32() as usize;
            if b.remaining() < len {
                break;
            }
            out.push(b.split_to(len));
        }
        out
    }
}

/// One length-prefixed, uncompressed gRPC message.
pub fn frame(message: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(message.len() + 5);
    b.put_u8(0);
    b.put_u32(u32::try_from(message.len()).unwrap_or(u32::MAX));
    b.put_slice(message);
    b.freeze()
}

/// One gRPC call over a fresh HTTP/2 prior-knowledge connection with plain hyper, so the
/// head, data and trailers can be checked as they are on the wire. `message` is sent as
/// one framed message with `content-type: application/grpc` and `te: trailers`.
pub async fn raw_call(
    addr: SocketAddr,
    path: &str,
    message: &[u8],
    extra: &[(&str, &str)],
) -> anyhow::Result<RawReply> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let mut req = http::Request::builder()
        .method("POST")
        .uri(format!("http://{addr}{path}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers");
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    let req = req.body(Full::new(frame(message)))?;
    let res = sender.send_request(req).await?;
    let (parts, mut body) = res.into_parts();
    let mut data = BytesMut::new();
    let mut trailers = None;
    while let Some(frame) = body.frame().await {
        let frame = frame?;
        match frame.into_data() {
            Ok(d) => data.extend_from_slice(&d),
            Err(frame) => {
                if let Ok(t) = frame.into_trailers() {
                    trailers = Some(t);
                }
            }
        }
    }
    Ok(RawReply {
        status: parts.status,
        headers: parts.headers,
        body: data.freeze(),
        trailers,
    })
}
