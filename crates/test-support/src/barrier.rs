//! `/barrier/<key>/<n>`: the answer waits until `n` requests with the same key are
//! waiting (then all are answered with the echo), or 5 seconds pass (then 504). Proves
//! that a gateway sends calls at the same time without asserting on timings: calls made
//! one after another never meet.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use tokio::sync::Barrier;

/// How long a request waits for the others.
const WAIT: Duration = Duration::from_secs(5);

static BARRIERS: OnceLock<Mutex<HashMap<String, Arc<Barrier>>>> = OnceLock::new();

/// For a `/barrier/…` path: waits, then says whether the others came (`None` for any
/// other path).
pub(crate) async fn wait(path: &str) -> Option<bool> {
    let rest = path.strip_prefix("/barrier/")?;
    let (key, n) = rest.rsplit_once('/')?;
    let n: usize = n.parse().ok().filter(|n| *n > 0)?;
    let barrier = {
        let mut map = BARRIERS
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        map.entry(format!("{key}/{n}"))
            .or_insert_with(|| Arc::new(Barrier::new(n)))
            .clone()
    };
    Some(tokio::time::timeout(WAIT, barrier.wait()).await.is_ok())
}
