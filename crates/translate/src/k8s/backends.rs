//! Backend references to Services, checked (kind, namespace grant, existence, port,
//! protocol) and turned into IR services whose endpoints are the ready addresses of the
//! Service's EndpointSlices: the gateway balances over pods itself, like kube-proxy would.
//!
//! One IR service per Service port, named `svc/<namespace>/<name>/<port>`.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use tollgate_ir as ir;
use tollgate_model::k8s::Service;
use tollgate_model::k8s::k8s_openapi::api::core::v1::ServicePort;

use super::gateway::Why;
use super::index::{CrossRef, Index};
use super::reasons::reason;
use crate::services::{
    CONNECT_TIMEOUT, IDLE_TIMEOUT, MAX_CONNECTIONS_PER_ENDPOINT, REQUEST_TIMEOUT,
};
use crate::syntax;

/// A backendRef, whichever route kind it comes from.
pub(crate) struct BackendRef<'r> {
    pub(crate) group: Option<&'r str>,
    pub(crate) kind: Option<&'r str>,
    pub(crate) name: &'r str,
    pub(crate) namespace: Option<&'r str>,
    pub(crate) port: Option<i32>,
}

/// Who makes the reference (for ReferenceGrant checks).
pub(crate) struct Referrer<'r> {
    pub(crate) group: &'r str,
    pub(crate) kind: &'r str,
    pub(crate) ns: &'r str,
}

/// How an Ingress names a Service port.
pub(crate) enum PortRef<'r> {
    Number(i32),
    Name(&'r str),
}

/// The IR services referenced so far.
#[derive(Default)]
pub(crate) struct Backends {
    services: BTreeMap<String, ir::Service>,
    /// Services referenced from a GRPCRoute without an appProtocol: spoken to in h2c.
    grpc: BTreeSet<String>,
}

impl Backends {
    /// Resolves a route's backendRef to an IR service name. `grpc`: the reference comes
    /// from a GRPCRoute, so the backend speaks HTTP/2 even without an appProtocol.
    pub(crate) fn resolve(
        &mut self,
        idx: &Index<'_>,
        from: &Referrer<'_>,
        r: &BackendRef<'_>,
        grpc: bool,
    ) -> Result<String, Why> {
        let group = r.group.unwrap_or("");
        let kind = r.kind.unwrap_or("Service");
        if (group, kind) != ("", "Service") {
            let shown = if group.is_empty() {
                kind.to_owned()
            } else {
                format!("{group}/{kind}")
            };
            return Err((
                reason::INVALID_KIND,
                format!(
                    "backendRef {shown} {:?}: only core Services are supported",
                    r.name
                ),
            ));
        }
        let ns = r.namespace.unwrap_or(from.ns);
        let permitted = idx.permits(&CrossRef {
            from_group: from.group,
            from_kind: from.kind,
            from_namespace: from.ns,
            to_group: "",
            to_kind: "Service",
            to_namespace: ns,
            to_name: r.name,
        });
        if !permitted {
            return Err((
                reason::REF_NOT_PERMITTED,
                format!(
                    "Service {ns}/{} is in another namespace and no ReferenceGrant there allows it",
                    r.name
                ),
            ));
        }
        let Some(port) = r.port else {
            return Err((
                reason::BACKEND_NOT_FOUND,
                format!("backendRef to Service {ns}/{} needs a port", r.name),
            ));
        };
        self.service(idx, ns, r.name, &PortRef::Number(port), grpc)
    }

    /// Resolves an Ingress backend (always in the Ingress's namespace).
    pub(crate) fn ingress(
        &mut self,
        idx: &Index<'_>,
        ns: &str,
        name: &str,
        port: &PortRef<'_>,
    ) -> Result<String, Why> {
        self.service(idx, ns, name, port, false)
    }

    fn service(
        &mut self,
        idx: &Index<'_>,
        ns: &str,
        name: &str,
        port: &PortRef<'_>,
        grpc: bool,
    ) -> Result<String, Why> {
        let Some(svc) = idx.service(ns, name) else {
            return Err((
                reason::BACKEND_NOT_FOUND,
                format!("Service {ns}/{name} does not exist"),
            ));
        };
        let ports = svc
            .spec
            .as_ref()
            .and_then(|s| s.ports.as_deref())
            .unwrap_or_default();
        let sp = ports.iter().find(|p| match port {
            PortRef::Number(n) => p.port == *n,
            PortRef::Name(n) => p.name.as_deref() == Some(*n),
        });
        let Some(sp) = sp else {
            let shown = match port {
                PortRef::Number(n) => n.to_string(),
                PortRef::Name(n) => format!("{n:?}"),
            };
            return Err((
                reason::BACKEND_NOT_FOUND,
                format!("Service {ns}/{name} has no port {shown}"),
            ));
        };
        let protocol = protocol(sp).map_err(|p| {
            (
                reason::UNSUPPORTED_PROTOCOL_BACKEND,
                format!("Service {ns}/{name} port {}: appProtocol {p:?} is not supported (use http, kubernetes.io/h2c or kubernetes.io/ws)", sp.port),
            )
        })?;
        let key = format!("svc/{ns}/{name}/{}", sp.port);
        if grpc && sp.app_protocol.is_none() {
            self.grpc.insert(key.clone());
        }
        if !self.services.contains_key(&key) {
            let service = ir::Service {
                name: key.clone(),
                endpoints: endpoints(idx, svc, sp),
                protocol,
                load_balancer: ir::LoadBalancer::RoundRobin,
                health_check: None,
                outlier_detection: ir::OutlierDetection::default(),
                connect_timeout: CONNECT_TIMEOUT,
                request_timeout: REQUEST_TIMEOUT,
                idle_timeout: IDLE_TIMEOUT,
                retries: ir::Retries::default(),
                max_connections_per_endpoint: MAX_CONNECTIONS_PER_ENDPOINT,
                tls: None,
            };
            self.services.insert(key.clone(), service);
        }
        Ok(key)
    }

    /// The IR services, by name.
    pub(crate) fn finish(mut self) -> BTreeMap<String, ir::Service> {
        for name in &self.grpc {
            if let Some(s) = self.services.get_mut(name) {
                s.protocol = ir::UpstreamProtocol::H2c;
            }
        }
        self.services
    }
}

/// The protocol of a Service port, from its appProtocol (KEP-3726 names and common
/// short forms). TLS to backends needs BackendTLSPolicy, which is not supported yet.
fn protocol(sp: &ServicePort) -> Result<ir::UpstreamProtocol, String> {
    match sp.app_protocol.as_deref() {
        None | Some("http" | "HTTP" | "kubernetes.io/ws") => Ok(ir::UpstreamProtocol::Http),
        Some("kubernetes.io/h2c" | "h2c" | "grpc") => Ok(ir::UpstreamProtocol::H2c),
        Some(other) => Err(other.to_owned()),
    }
}

/// `ip:port` of every ready endpoint of the Service port, from the EndpointSlices whose
/// port of the same name says the target port. An ExternalName Service is its DNS name.
fn endpoints(idx: &Index<'_>, svc: &Service, sp: &ServicePort) -> Vec<String> {
    let spec = svc.spec.as_ref();
    if spec.and_then(|s| s.type_.as_deref()) == Some("ExternalName") {
        let name = spec.and_then(|s| s.external_name.as_deref()).unwrap_or("");
        return syntax::endpoint(&format!("{name}:{}", sp.port))
            .map(|e| vec![e])
            .unwrap_or_default();
    }
    let ns = svc
        .metadata
        .namespace
        .as_deref()
        .unwrap_or(super::index::DEFAULT_NAMESPACE);
    let name = svc.metadata.name.as_deref().unwrap_or("");
    let port_name = sp.name.as_deref().unwrap_or("");
    let mut out = BTreeSet::new();
    for slice in idx.slices(ns, name) {
        if !matches!(slice.address_type.as_str(), "IPv4" | "IPv6") {
            continue;
        }
        let port = slice
            .ports
            .iter()
            .flatten()
            .find(|p| p.name.as_deref().unwrap_or("") == port_name)
            .and_then(|p| p.port)
            .and_then(|p| u16::try_from(p).ok())
            .filter(|p| *p > 0);
        let Some(port) = port else {
            continue;
        };
        for e in &slice.endpoints {
            // Kubernetes: an unknown readiness is to be read as ready.
            let ready = e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true);
            if !ready {
                continue;
            }
            for a in &e.addresses {
                match a.parse::<IpAddr>() {
                    Ok(IpAddr::V4(ip)) => out.insert(format!("{ip}:{port}")),
                    Ok(IpAddr::V6(ip)) => out.insert(format!("[{ip}]:{port}")),
                    Err(_) => false,
                };
            }
        }
    }
    out.into_iter().collect()
}
