//! What a matched route does besides matching: its filters (header changes, URL rewrite,
//! mirrors) and its weighted backend entries, validated and resolved at compile time.

use std::sync::Arc;

use http::{HeaderName, HeaderValue};
use tollgate_ir as ir;

use super::Upstreams;
use crate::upstream::Upstream;

/// Filters with header names and values validated and mirror services resolved.
#[derive(Default)]
pub(crate) struct CompiledFilters {
    pub(crate) request_headers: Option<HeaderOps>,
    pub(crate) response_headers: Option<HeaderOps>,
    pub(crate) url_rewrite: Option<ir::UrlRewrite>,
    /// Mirror targets and the percentage of requests each gets.
    pub(crate) mirrors: Vec<(Arc<Upstream>, u8)>,
}

impl CompiledFilters {
    pub(super) fn compile(f: &ir::Filters, ups: &Upstreams) -> Result<Self, String> {
        Ok(Self {
            request_headers: f
                .request_headers
                .as_ref()
                .map(HeaderOps::compile)
                .transpose()?,
            response_headers: f
                .response_headers
                .as_ref()
                .map(HeaderOps::compile)
                .transpose()?,
            url_rewrite: f.url_rewrite.clone(),
            mirrors: f
                .mirrors
                .iter()
                .map(|m| Ok((resolve(ups, &m.service)?, m.percent)))
                .collect::<Result<Vec<_>, String>>()?,
        })
    }
}

/// One weighted entry of a forwarding route.
pub(crate) struct Backend {
    /// Where requests that pick this entry go; `None` when they are answered with
    /// `respond` instead (an invalid Kubernetes backendRef keeps its share as 500s).
    pub(crate) upstream: Option<Arc<Upstream>>,
    pub(crate) respond: Option<ir::DirectResponse>,
    pub(crate) weight: u32,
    /// Applied after the route's own when this entry is picked (backendRef filters).
    pub(crate) filters: CompiledFilters,
}

pub(super) fn resolve(ups: &Upstreams, name: &str) -> Result<Arc<Upstream>, String> {
    ups.get(name)
        .cloned()
        .ok_or_else(|| format!("unknown service {name:?}"))
}

/// Header changes with names and values validated at compile time.
pub(crate) struct HeaderOps {
    pub(crate) set: Vec<(HeaderName, HeaderValue)>,
    pub(crate) add: Vec<(HeaderName, HeaderValue)>,
    pub(crate) remove: Vec<HeaderName>,
}

impl HeaderOps {
    pub(super) fn compile(h: &ir::HeaderChanges) -> Result<Self, String> {
        let pair = |(k, v): &(String, String)| -> Result<(HeaderName, HeaderValue), String> {
            Ok((
                HeaderName::from_bytes(k.as_bytes())
                    .map_err(|_| format!("invalid header name {k:?}"))?,
                HeaderValue::from_str(v).map_err(|_| format!("invalid header value {v:?}"))?,
            ))
        };
        Ok(Self {
            set: h.set.iter().map(pair).collect::<Result<_, _>>()?,
            add: h.add.iter().map(pair).collect::<Result<_, _>>()?,
            remove: h
                .remove
                .iter()
                .map(|k| {
                    HeaderName::from_bytes(k.as_bytes())
                        .map_err(|_| format!("invalid header name {k:?}"))
                })
                .collect::<Result<_, _>>()?,
        })
    }

    /// Applies remove, set, add.
    pub(crate) fn apply(&self, headers: &mut http::HeaderMap) {
        for k in &self.remove {
            headers.remove(k);
        }
        for (k, v) in &self.set {
            headers.insert(k.clone(), v.clone());
        }
        for (k, v) in &self.add {
            headers.append(k.clone(), v.clone());
        }
    }
}
