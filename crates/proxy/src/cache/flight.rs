//! Single flight: concurrent misses for one key send one request upstream; the others
//! wait for its entry (bounded by the route's timeout) instead of stampeding the backend.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

use super::key::Key;

/// The keys being fetched now, each with a channel closed when its fetch ends.
#[derive(Default)]
pub(crate) struct Flights {
    map: Mutex<HashMap<Key, watch::Receiver<()>>>,
}

/// What a miss does about a key.
pub(crate) enum Join {
    /// Fetch it; waiters are released when the guard drops (stored or not).
    Lead(FlightGuard),
    /// Someone else is fetching it.
    Wait(watch::Receiver<()>),
}

/// Held by the one request fetching a key.
pub(crate) struct FlightGuard {
    flights: Arc<Flights>,
    key: Key,
    // Dropped after `drop` has removed the key: waiters wake to a settled map.
    _done: watch::Sender<()>,
}

impl Flights {
    /// Leads the fetch of `key`, or joins the one in progress.
    pub(crate) fn join(self: &Arc<Self>, key: Key) -> Join {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(rx) = map.get(&key) {
            return Join::Wait(rx.clone());
        }
        let (tx, rx) = watch::channel(());
        map.insert(key, rx);
        Join::Lead(FlightGuard {
            flights: self.clone(),
            key,
            _done: tx,
        })
    }
}

impl Drop for FlightGuard {
    fn drop(&mut self) {
        let mut map = self.flights.map.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(&self.key);
    }
}

/// Waits until the leader's fetch ends, at most `limit`; false when it did not.
pub(crate) async fn wait(mut rx: watch::Receiver<()>, limit: Duration) -> bool {
    // `changed` fails once the sender is gone, which is the leader finishing.
    tokio::time::timeout(limit, async { while rx.changed().await.is_ok() {} })
        .await
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_leads_the_others_wait_for_it() {
        let f = Arc::new(Flights::default());
        let Join::Lead(guard) = f.join([1; 32]) else {
            panic!("first must lead")
        };
        let Join::Wait(rx) = f.join([1; 32]) else {
            panic!("second must wait")
        };
        assert!(matches!(f.join([2; 32]), Join::Lead(_)));
        assert!(!wait(rx.clone(), Duration::from_millis(10)).await);
        drop(guard);
        assert!(wait(rx, Duration::from_secs(5)).await);
        assert!(matches!(f.join([1; 32]), Join::Lead(_)));
    }
}
