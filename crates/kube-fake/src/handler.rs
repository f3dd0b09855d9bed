//! The HTTP entry point: reads a request, routes it to a verb, records it, answers.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use http::{Method, Request, Response, StatusCode, header};
use http_body::Frame;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use serde_json::{Value, json};

use crate::registry::ResourceType;
use crate::routes::{Target, parse_path, parse_query};
use crate::shared::{RecordedRequest, Shared, Verb};
use crate::status::ApiError;
use crate::store::{ObjectKey, WriteMode, present};
use crate::verbs;
use crate::watch::{self, WatchSpec};

/// Response bodies: a JSON document, or a watch stream.
pub(crate) type Body = UnsyncBoxBody<Bytes, Infallible>;

/// What a verb answers.
pub(crate) enum Reply {
    Json(u16, Value),
    Watch(Box<WatchSpec>),
}

/// One routed API call, as the verbs see it.
pub(crate) struct Call<'a> {
    pub(crate) resource: ResourceType,
    pub(crate) target: Target,
    pub(crate) query: &'a BTreeMap<String, String>,
    /// The media type of the body, without parameters (`; charset=utf-8`).
    pub(crate) content_type: Option<&'a str>,
    pub(crate) body: &'a [u8],
}

impl Call<'_> {
    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.query
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// `/status` writes only touch status; other writes keep it (see [`WriteMode`]).
    pub(crate) fn mode(&self) -> WriteMode {
        if self.target.subresource.is_some() {
            WriteMode::Status
        } else {
            WriteMode::Main
        }
    }

    /// The object the path names (only called for paths with a name).
    pub(crate) fn key(&self) -> ObjectKey {
        let namespace = if self.resource.namespaced {
            self.target.namespace.clone().unwrap_or_default()
        } else {
            String::new()
        };
        (namespace, self.target.name.clone().unwrap_or_default())
    }

    /// An object as this call's version shows it.
    pub(crate) fn present(&self, object: &Value) -> Value {
        present(&self.resource, object, &self.target.version)
    }
}

/// Serves one request.
pub(crate) async fn handle(
    shared: Arc<Shared>,
    request: Request<hyper::body::Incoming>,
) -> Response<Body> {
    let (parts, body) = request.into_parts();
    // A body that fails mid-way is treated as empty: the verb then answers 400.
    let bytes = body
        .collect()
        .await
        .map(|collected| collected.to_bytes())
        .unwrap_or_default();
    let path = parts.uri.path().to_owned();
    let query = parse_query(parts.uri.query().unwrap_or(""));
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let media_type = content_type
        .as_deref()
        .map(|ct| ct.split(';').next().unwrap_or(ct).trim());

    let (verb, reply) = dispatch(&shared, &parts.method, &path, &query, media_type, &bytes);
    if let Ok(Reply::Watch(_)) = reply {
        // `hold_watches`: the client waits for its response headers, like a slow server.
        let mut held = shared.watches_held.subscribe();
        // The sender lives in `shared`, which this task holds: the wait cannot fail.
        let _ = held.wait_for(|held| !*held).await;
    }
    let (status, response) = match reply {
        Ok(Reply::Json(code, value)) => (code, json_response(code, &value)),
        Ok(Reply::Watch(spec)) => (
            200,
            stream_response(watch::open(Arc::clone(&shared), *spec)),
        ),
        Err(error) => (error.code, json_response(error.code, &error.to_status())),
    };
    let body = if bytes.is_empty() {
        None
    } else {
        Some(
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned())),
        )
    };
    shared.record(RecordedRequest {
        method: parts.method.to_string(),
        verb,
        path,
        query,
        content_type,
        body,
        status,
    });
    response
}

fn dispatch(
    shared: &Shared,
    method: &Method,
    path: &str,
    query: &BTreeMap<String, String>,
    content_type: Option<&str>,
    body: &[u8],
) -> (Verb, Result<Reply, ApiError>) {
    if path == "/version" && method == Method::GET {
        return (Verb::Other, Ok(Reply::Json(200, version_info())));
    }
    let Some(target) = parse_path(path) else {
        return (Verb::Other, Err(ApiError::no_route()));
    };
    let watching = matches!(query.get("watch").map(String::as_str), Some("true" | "1"));
    let named = target.name.is_some();
    let verb = match *method {
        Method::GET if watching => Verb::Watch,
        Method::GET if named => Verb::Get,
        Method::GET => Verb::List,
        Method::POST if !named => Verb::Create,
        Method::PUT if named => Verb::Update,
        Method::PATCH if named => Verb::Patch,
        Method::DELETE if named => Verb::Delete,
        _ => Verb::Other,
    };
    let resource = shared
        .store()
        .registry()
        .by_path(&target.group, &target.version, &target.plural)
        .cloned();
    let Some(resource) = resource else {
        return (verb, Err(ApiError::no_route()));
    };
    // A namespaced kind has no cluster-wide object paths (its cluster-wide collection
    // lists all namespaces); a cluster-scoped kind has no namespaced paths.
    let scope_ok = match (resource.namespaced, &target.namespace) {
        (true, None) => !named,
        (false, Some(_)) => false,
        _ => true,
    };
    let subresource_ok = match target.subresource.as_deref() {
        None => true,
        Some("status") => resource.status_subresource && !watching,
        Some(_) => false,
    };
    if !scope_ok || !subresource_ok {
        return (verb, Err(ApiError::no_route()));
    }
    let call = Call {
        resource,
        target,
        query,
        content_type,
        body,
    };
    let reply = match verb {
        Verb::Get => verbs::get(shared, &call),
        Verb::List => verbs::list(shared, &call),
        Verb::Watch => verbs::watch(&call),
        Verb::Create => verbs::create(shared, &call),
        Verb::Update => verbs::replace(shared, &call),
        Verb::Patch => verbs::patch(shared, &call),
        Verb::Delete => verbs::delete(shared, &call),
        Verb::Other => Err(ApiError::method_not_allowed(format!(
            "the fake does not serve {method} on {path}"
        ))),
    };
    (verb, reply)
}

/// `GET /version`, for `Client::apiserver_version`.
fn version_info() -> Value {
    json!({
        "major": "1",
        "minor": "33",
        "gitVersion": "v1.33.0-tollgate-kube-fake",
        "gitCommit": "",
        "gitTreeState": "clean",
        "buildDate": "1970-01-01T00:00:00Z",
        "goVersion": "",
        "compiler": "",
        "platform": "linux/amd64",
    })
}

fn json_response(code: u16, value: &Value) -> Response<Body> {
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    let mut response = Response::new(Full::new(Bytes::from(bytes)).boxed_unsync());
    *response.status_mut() =
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}

/// A chunked response: hyper writes (and flushes) each line as it comes.
fn stream_response(lines: impl futures::Stream<Item = Bytes> + Send + 'static) -> Response<Body> {
    let frames = lines.map(|line| Ok::<_, Infallible>(Frame::data(line)));
    let mut response = Response::new(StreamBody::new(frames).boxed_unsync());
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}
