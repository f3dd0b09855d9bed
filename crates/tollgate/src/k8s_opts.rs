//! Where listeners made from Kubernetes resources bind: the flags `run`, `validate` and
//! `translate` share, turned into the translator's [`Options`].

use std::net::IpAddr;

use clap::Args;
use tollgate_translate::{CertCheck, Options};

/// Flags for Gateway and Ingress listeners.
#[derive(Args, Debug, Clone)]
pub(crate) struct K8sArgs {
    /// Address Gateway and Ingress listeners bind (with each Gateway listener's port).
    #[arg(long, value_name = "IP", default_value = "0.0.0.0")]
    k8s_address: IpAddr,
    /// Port of the Ingress HTTP listener.
    #[arg(long, value_name = "PORT", default_value_t = 80)]
    ingress_http_port: u16,
    /// Port of the Ingress HTTPS listener (made when an Ingress has TLS).
    #[arg(long, value_name = "PORT", default_value_t = 443)]
    ingress_https_port: u16,
}

impl K8sArgs {
    /// The translation options these flags give (the rest are the defaults).
    pub(crate) fn options(&self) -> Options {
        Options {
            bind_address: self.k8s_address,
            ingress_http_port: self.ingress_http_port,
            ingress_https_port: self.ingress_https_port,
            // A Secret whose key pair would not load is dropped with a condition, so one
            // bad certificate does not refuse the whole configuration.
            cert_check: CertCheck::new(tollgate_proxy::check_certificate),
            ..Options::default()
        }
    }
}
