//! Kubernetes manifests in configuration files: multi-document YAML (`---`), JSON, and
//! `kind: List` with `items` (what `kubectl get -o yaml` prints).
//!
//! A document is a Kubernetes object when it has a top-level `apiVersion` or `kind`; a
//! native `tollgate.yaml` document never has either (its keys are checked strictly). Kinds
//! Tollgate does not read (Deployments, ConfigMaps, ...) are skipped with a note, so a
//! whole application's manifests can be pointed at; a kind it reads but cannot parse is a
//! problem at its line.

use std::path::Path;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::{Problem, first_line};
use crate::k8s::Resources;
use crate::native::Document;

/// What one file held.
#[derive(Default)]
pub(super) struct Parsed {
    /// The native document, when the file is one.
    pub(super) native: Option<Document>,
    /// The Kubernetes objects it held.
    pub(super) resources: Resources,
    /// Skipped documents, for a debug log line.
    pub(super) notes: Vec<Problem>,
    /// What could not be read.
    pub(super) problems: Vec<Problem>,
}

/// One YAML document of a file, and the 0-based line where it starts.
struct Chunk {
    first_line: u64,
    text: String,
    /// Anything but blank lines and comments.
    has_content: bool,
    /// 1-based line (in the document) of its first content, where messages about the
    /// document as a whole point.
    content_line: u64,
}

/// The top of a document: enough to tell what it is and to name it in messages.
#[derive(Deserialize)]
struct Head {
    #[serde(rename = "apiVersion")]
    api_version: Option<String>,
    kind: Option<String>,
    metadata: Option<HeadMeta>,
}

#[derive(Deserialize)]
struct HeadMeta {
    name: Option<String>,
    namespace: Option<String>,
}

impl Head {
    fn is_kubernetes(&self) -> bool {
        self.api_version.is_some() || self.kind.is_some()
    }

    /// `Kind "ns/name"` for messages.
    fn describe(&self) -> String {
        let kind = self.kind.as_deref().unwrap_or("object");
        let meta = self.metadata.as_ref();
        match (
            meta.and_then(|m| m.namespace.as_deref()),
            meta.and_then(|m| m.name.as_deref()),
        ) {
            (Some(ns), Some(name)) => format!("{kind} \"{ns}/{name}\""),
            (None, Some(name)) => format!("{kind} \"{name}\""),
            _ => kind.to_owned(),
        }
    }
}

/// `kind: List`; items keep their positions for messages.
#[derive(Deserialize)]
struct List {
    #[serde(default)]
    items: Vec<serde_saphyr::Spanned<serde_json::Value>>,
}

/// The kinds Tollgate reads.
#[derive(Clone, Copy)]
enum Known {
    GatewayClass,
    Gateway,
    HttpRoute,
    GrpcRoute,
    ReferenceGrant,
    Ingress,
    IngressClass,
    Service,
    EndpointSlice,
    Secret,
    Namespace,
    Policy,
    Consumer,
    List,
}

/// The kind, if Tollgate reads it in this API version. Gateway API objects are read in
/// `v1` and `v1beta1` (whose schemas agree on every field the translator uses;
/// ReferenceGrant is still commonly written as `v1beta1`).
fn known(api_version: &str, kind: &str) -> Option<Known> {
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let known = match (group, kind) {
        ("gateway.networking.k8s.io", _) if !matches!(version, "v1" | "v1beta1") => return None,
        ("gateway.networking.k8s.io", "GatewayClass") => Known::GatewayClass,
        ("gateway.networking.k8s.io", "Gateway") => Known::Gateway,
        ("gateway.networking.k8s.io", "HTTPRoute") => Known::HttpRoute,
        ("gateway.networking.k8s.io", "GRPCRoute") => Known::GrpcRoute,
        ("gateway.networking.k8s.io", "ReferenceGrant") => Known::ReferenceGrant,
        ("tollgate.dev", _) if version != "v1alpha1" => return None,
        ("tollgate.dev", "Policy") => Known::Policy,
        ("tollgate.dev", "Consumer") => Known::Consumer,
        (_, _) if version != "v1" => return None,
        ("networking.k8s.io", "Ingress") => Known::Ingress,
        ("networking.k8s.io", "IngressClass") => Known::IngressClass,
        ("discovery.k8s.io", "EndpointSlice") => Known::EndpointSlice,
        ("", "Service") => Known::Service,
        ("", "Secret") => Known::Secret,
        ("", "Namespace") => Known::Namespace,
        ("", "List") => Known::List,
        _ => return None,
    };
    Some(known)
}

/// Reads one file: a native document, or Kubernetes manifests.
pub(super) fn parse_file(file: &Path, text: &str) -> Parsed {
    let chunks: Vec<Chunk> = split(text).into_iter().filter(|c| c.has_content).collect();
    let mut out = Parsed::default();
    // A single document without apiVersion/kind is native, parsed from the whole text so
    // that its positions (kept for later messages) are the file's. An empty file is an
    // empty native document, as it always was.
    let single_native = match chunks.as_slice() {
        [] => true,
        [only] => !head(&only.text).is_some_and(|h| h.is_kubernetes()),
        _ => false,
    };
    if single_native {
        match super::parse_document(file, text) {
            Ok(doc) => out.native = Some(doc),
            Err(p) => out.problems.push(p),
        }
        return out;
    }
    for chunk in &chunks {
        let at = |line: u64, column: u64, msg: String| {
            Problem::at(file, chunk.first_line + line.max(1), column, msg)
        };
        let top = chunk.content_line;
        let h = match super::from_yaml::<Head>(&chunk.text) {
            Ok(h) => h,
            Err(e) => {
                let (line, column) = e.location().map_or((1, 0), |l| (l.line(), l.column()));
                out.problems
                    .push(at(line, column, first_line(&e.to_string())));
                continue;
            }
        };
        if !h.is_kubernetes() {
            out.problems.push(at(
                top,
                1,
                "this document has no apiVersion or kind, so it is native configuration; put native configuration in a file of its own".to_owned(),
            ));
            continue;
        }
        let (Some(api_version), Some(kind)) = (&h.api_version, &h.kind) else {
            let missing = if h.api_version.is_none() {
                "apiVersion"
            } else {
                "kind"
            };
            out.problems.push(at(
                top,
                1,
                format!("{}: {missing} is missing", h.describe()),
            ));
            continue;
        };
        match known(api_version, kind) {
            None => out.notes.push(at(
                top,
                1,
                format!(
                    "skipped {} ({api_version}): not a kind Tollgate reads",
                    h.describe()
                ),
            )),
            Some(Known::List) => list(file, chunk, &mut out),
            Some(k) => {
                if let Err(e) = add(k, Source::Text(&chunk.text), &mut out.resources) {
                    let (line, column) = e.location;
                    out.problems
                        .push(at(line, column, format!("{}: {}", h.describe(), e.message)));
                }
            }
        }
    }
    out
}

/// The items of a `kind: List`; problems point at the item.
fn list(file: &Path, chunk: &Chunk, out: &mut Parsed) {
    let list = match super::from_yaml::<List>(&chunk.text) {
        Ok(l) => l,
        Err(e) => {
            let (line, column) = e.location().map_or((1, 0), |l| (l.line(), l.column()));
            out.problems.push(Problem::at(
                file,
                chunk.first_line + line,
                column,
                first_line(&e.to_string()),
            ));
            return;
        }
    };
    for item in list.items {
        let line = chunk.first_line + item.referenced.line();
        let column = item.referenced.column();
        let value = item.value;
        let text = |key: &str| value.get(key).and_then(|v| v.as_str()).map(str::to_owned);
        let meta = value.get("metadata");
        let h = Head {
            api_version: text("apiVersion"),
            kind: text("kind"),
            metadata: Some(HeadMeta {
                name: meta
                    .and_then(|m| m.get("name"))
                    .and_then(|v| v.as_str())
                    .map(str::to_owned),
                namespace: meta
                    .and_then(|m| m.get("namespace"))
                    .and_then(|v| v.as_str())
                    .map(str::to_owned),
            }),
        };
        let kind = h
            .api_version
            .as_deref()
            .zip(h.kind.as_deref())
            .and_then(|(a, k)| known(a, k));
        match kind {
            None | Some(Known::List) => out.notes.push(Problem::at(
                file,
                line,
                column,
                format!(
                    "skipped list item {} ({}): not a kind Tollgate reads",
                    h.describe(),
                    h.api_version.as_deref().unwrap_or("no apiVersion")
                ),
            )),
            Some(k) => {
                if let Err(e) = add(k, Source::Value(value), &mut out.resources) {
                    out.problems.push(Problem::at(
                        file,
                        line,
                        column,
                        format!("{}: {}", h.describe(), e.message),
                    ));
                }
            }
        }
    }
}

/// Where an object is parsed from.
enum Source<'a> {
    /// A document's YAML text: errors have positions.
    Text(&'a str),
    /// A list item already read: errors have none of their own.
    Value(serde_json::Value),
}

struct ParseError {
    /// 1-based line and column in the document, (1, 0) when unknown.
    location: (u64, u64),
    message: String,
}

fn parse<T: DeserializeOwned>(src: Source<'_>) -> Result<T, ParseError> {
    match src {
        Source::Text(text) => super::from_yaml::<T>(text).map_err(|e| ParseError {
            location: e.location().map_or((1, 0), |l| (l.line(), l.column())),
            message: first_line(&e.to_string()),
        }),
        Source::Value(v) => serde_json::from_value::<T>(v).map_err(|e| ParseError {
            location: (1, 0),
            message: e.to_string(),
        }),
    }
}

/// Parses an object of a known kind into its list.
fn add(kind: Known, src: Source<'_>, r: &mut Resources) -> Result<(), ParseError> {
    match kind {
        Known::GatewayClass => r.gateway_classes.push(parse(src)?),
        Known::Gateway => r.gateways.push(parse(src)?),
        Known::HttpRoute => r.http_routes.push(parse(src)?),
        Known::GrpcRoute => r.grpc_routes.push(parse(src)?),
        Known::ReferenceGrant => r.reference_grants.push(parse(src)?),
        Known::Ingress => r.ingresses.push(parse(src)?),
        Known::IngressClass => r.ingress_classes.push(parse(src)?),
        Known::Service => r.services.push(parse(src)?),
        Known::EndpointSlice => r.endpoint_slices.push(parse(src)?),
        Known::Secret => r.secrets.push(parse(src)?),
        Known::Namespace => r.namespaces.push(parse(src)?),
        Known::Policy => r.policies.push(parse(src)?),
        Known::Consumer => r.consumers.push(parse(src)?),
        // Lists are expanded by the caller; a list inside a list is skipped there.
        Known::List => {}
    }
    Ok(())
}

fn head(text: &str) -> Option<Head> {
    super::from_yaml::<Head>(text).ok()
}

/// `---` or `...` at the start of a line, alone or followed by a space: a document
/// boundary. YAML forbids such a line inside a document's content (even inside a block
/// scalar), so splitting on it by lines is exact.
fn marker<'l>(line: &'l str, m: &str) -> Option<&'l str> {
    let rest = line.strip_prefix(m)?;
    (rest.is_empty() || rest.starts_with([' ', '\t'])).then_some(rest)
}

fn is_content(line: &str) -> bool {
    let t = line.trim();
    !t.is_empty() && !t.starts_with('#')
}

/// The documents of a file, each with its first line. The text after a `---` on the same
/// line (`--- {a: 1}`) belongs to the document it starts; the marker itself is blanked so
/// columns stay right.
fn split(text: &str) -> Vec<Chunk> {
    let mut chunks = Vec::new();
    let empty = |first_line: u64| Chunk {
        first_line,
        text: String::new(),
        has_content: false,
        content_line: 1,
    };
    let mut cur = empty(0);
    for (i, raw) in text.split_inclusive('\n').enumerate() {
        let line = raw.trim_end_matches(['\n', '\r']);
        let i = i as u64;
        if let Some(rest) = marker(line, "---") {
            let mut next = empty(i);
            next.text = format!("   {rest}\n");
            next.has_content = is_content(rest);
            chunks.push(std::mem::replace(&mut cur, next));
            continue;
        }
        if marker(line, "...").is_some() {
            chunks.push(std::mem::replace(&mut cur, empty(i + 1)));
            continue;
        }
        if !cur.has_content && is_content(line) {
            cur.has_content = true;
            cur.content_line = i + 1 - cur.first_line;
        }
        cur.text.push_str(raw);
    }
    chunks.push(cur);
    chunks
}

#[cfg(test)]
mod tests;
