//! Leader election on a `coordination.k8s.io/v1` Lease, so that one replica writes
//! status while every replica serves traffic.
//!
//! kube-runtime has no leader election, so this is the client-go algorithm in small:
//! the holder renews `renewTime` every `retry_period`; another replica takes the lease
//! over once it has seen the same lease record (same resourceVersion) unchanged for
//! `lease_duration` by its own clock. Comparing against the time we *observed* a record,
//! never against the timestamps inside it, makes this immune to clock skew between
//! nodes. Every write is a replace guarded by the resourceVersion read just before, so
//! of two replicas racing for an expired lease exactly one wins (the other gets 409).
//!
//! A leader that cannot renew (API server unreachable) steps down `renew_deadline`
//! after its last successful renewal, before any other replica may take over, so two
//! replicas never both believe they lead.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, PostParams};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::AbortOnDrop;

use crate::metrics::KubeMetrics;

/// Leader-election settings.
#[derive(Debug, Clone)]
pub struct LeaseOptions {
    /// Namespace of the Lease (the pod's own, usually).
    pub namespace: String,
    /// Lease name (one per GatewayClass controller installation).
    pub name: String,
    /// This replica's identity: the pod name.
    pub identity: String,
    /// How long a lease not renewed stays held (client-go default: 15 s).
    pub lease_duration: Duration,
    /// The leader steps down if it could not renew for this long; shorter than
    /// `lease_duration` so it stops before anyone else may start.
    pub renew_deadline: Duration,
    /// How often the leader renews and the others check.
    pub retry_period: Duration,
}

impl LeaseOptions {
    /// Settings with client-go's proportions for a given lease duration: renew
    /// deadline 2/3 of it, retry period 2/15 of it but at most 2 s (so a released
    /// lease is picked up quickly even when the lease is long).
    pub fn with_duration(namespace: String, name: String, identity: String, d: Duration) -> Self {
        Self {
            namespace,
            name,
            identity,
            lease_duration: d,
            renew_deadline: d * 2 / 3,
            retry_period: (d * 2 / 15).min(Duration::from_secs(2)),
        }
    }
}

/// The last lease record seen, and when (by our clock) it was first seen.
struct Observed {
    resource_version: Option<String>,
    at: Instant,
}

/// Runs leader election until the returned handle is dropped.
pub struct Elector {
    rx: watch::Receiver<bool>,
    _task: AbortOnDrop,
    release: Arc<tokio::sync::Notify>,
    released: Arc<tokio::sync::Notify>,
}

impl Elector {
    /// Starts campaigning.
    pub fn start(client: &Client, opts: LeaseOptions, metrics: Arc<KubeMetrics>) -> Self {
        let (tx, rx) = watch::channel(false);
        let api: Api<Lease> = Api::namespaced(client.clone(), &opts.namespace);
        let release = Arc::new(tokio::sync::Notify::new());
        let released = Arc::new(tokio::sync::Notify::new());
        let (rel, reld) = (release.clone(), released.clone());
        let task = tokio::spawn(async move {
            let mut c = Campaign {
                api,
                opts,
                tx,
                metrics,
                observed: None,
                last_renewed: None,
            };
            loop {
                c.step().await;
                tokio::select! {
                    _ = tokio::time::sleep(c.opts.retry_period) => {}
                    _ = rel.notified() => {
                        c.release().await;
                        reld.notify_waiters();
                        return;
                    }
                }
            }
        });
        Self {
            rx,
            _task: AbortOnDrop(task),
            release,
            released,
        }
    }

    /// Is this replica the leader now?
    pub fn is_leader(&self) -> bool {
        *self.rx.borrow()
    }

    /// A receiver of leadership changes.
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.rx.clone()
    }

    /// Gives the lease up (at shutdown), so another replica takes over at once instead
    /// of after `lease_duration`. Waits at most `within`.
    pub async fn release(&self, within: Duration) {
        let done = self.released.notified();
        self.release.notify_one();
        let _ = tokio::time::timeout(within, done).await;
    }
}

struct Campaign {
    api: Api<Lease>,
    opts: LeaseOptions,
    tx: watch::Sender<bool>,
    metrics: Arc<KubeMetrics>,
    observed: Option<Observed>,
    last_renewed: Option<Instant>,
}

fn now() -> MicroTime {
    MicroTime(Timestamp::now())
}

fn secs(d: Duration) -> i32 {
    i32::try_from(d.as_secs().max(1)).unwrap_or(i32::MAX)
}

impl Campaign {
    fn set_leader(&mut self, leader: bool) {
        let was = *self.tx.borrow();
        if was != leader {
            if leader {
                self.metrics.lease_acquired.fetch_add(1, Ordering::Relaxed);
                tracing::info!(lease = %self.opts.name, identity = %self.opts.identity, "became the leader: writing status");
            } else {
                self.metrics.lease_lost.fetch_add(1, Ordering::Relaxed);
                tracing::info!(lease = %self.opts.name, "no longer the leader: status writes stop");
            }
            self.metrics
                .leader
                .store(i64::from(leader), Ordering::Relaxed);
            let _ = self.tx.send(leader);
        }
        if !leader {
            self.last_renewed = None;
        }
    }

    async fn step(&mut self) {
        match self.try_acquire_or_renew().await {
            Ok(leader) => {
                if leader {
                    self.last_renewed = Some(Instant::now());
                }
                self.set_leader(leader);
            }
            Err(e) => {
                tracing::warn!(lease = %self.opts.name, "lease update failed: {e}");
                let expired = self
                    .last_renewed
                    .is_none_or(|t| t.elapsed() >= self.opts.renew_deadline);
                if expired {
                    self.set_leader(false);
                }
            }
        }
    }

    /// One round: `Ok(true)` when we hold the lease after it.
    async fn try_acquire_or_renew(&mut self) -> Result<bool, kube::Error> {
        let me = self.opts.identity.clone();
        let Some(current) = self.api.get_opt(&self.opts.name).await? else {
            return self.create().await;
        };
        let rv = current.metadata.resource_version.clone();
        let seen_before = self
            .observed
            .as_ref()
            .is_some_and(|o| o.resource_version == rv);
        if !seen_before {
            self.observed = Some(Observed {
                resource_version: rv,
                at: Instant::now(),
            });
        }
        let spec = current.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
        let mine = holder.as_deref() == Some(me.as_str());
        if !mine && holder.is_some() {
            let duration = spec
                .lease_duration_seconds
                .map_or(self.opts.lease_duration, |s| {
                    Duration::from_secs(u64::try_from(s.max(1)).unwrap_or(1))
                });
            let unchanged_for = self
                .observed
                .as_ref()
                .map_or(Duration::ZERO, |o| o.at.elapsed());
            if unchanged_for < duration {
                return Ok(false);
            }
            tracing::info!(lease = %self.opts.name, previous = ?holder, "lease expired: taking over");
        }
        let mut next = current;
        let mut s = spec;
        if !mine {
            s.acquire_time = Some(now());
            s.lease_transitions = Some(s.lease_transitions.unwrap_or(0) + 1);
        }
        s.holder_identity = Some(me);
        s.renew_time = Some(now());
        s.lease_duration_seconds = Some(secs(self.opts.lease_duration));
        next.spec = Some(s);
        match self
            .api
            .replace(&self.opts.name, &PostParams::default(), &next)
            .await
        {
            Ok(written) => {
                // Our own write is a record we have seen, starting now.
                self.observed = Some(Observed {
                    resource_version: written.metadata.resource_version,
                    at: Instant::now(),
                });
                Ok(true)
            }
            // Someone else wrote first: they hold it (or renewed it).
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Creates the lease, held by us; `Ok(false)` when another replica created it first.
    async fn create(&self) -> Result<bool, kube::Error> {
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(self.opts.name.clone()),
                namespace: Some(self.opts.namespace.clone()),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(self.opts.identity.clone()),
                lease_duration_seconds: Some(secs(self.opts.lease_duration)),
                acquire_time: Some(now()),
                renew_time: Some(now()),
                lease_transitions: Some(0),
                ..LeaseSpec::default()
            }),
        };
        match self.api.create(&PostParams::default(), &lease).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Clears the holder if it is us, so others need not wait out the lease.
    async fn release(&mut self) {
        if !*self.tx.borrow() {
            return;
        }
        self.set_leader(false);
        let Ok(Some(mut l)) = self.api.get_opt(&self.opts.name).await else {
            return;
        };
        let Some(spec) = l.spec.as_mut() else { return };
        if spec.holder_identity.as_deref() != Some(self.opts.identity.as_str()) {
            return;
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.renew_time = Some(now());
        match self
            .api
            .replace(&self.opts.name, &PostParams::default(), &l)
            .await
        {
            Ok(_) => tracing::info!(lease = %self.opts.name, "lease released"),
            Err(e) => tracing::warn!(lease = %self.opts.name, "could not release the lease: {e}"),
        }
    }
}
