//! What a limit answers, and how that becomes response headers.

use std::time::Duration;

/// The answer of one limit (rate limit or quota) for one request.
///
/// `remaining` and `reset` describe the state *after* this request when it was admitted and
/// consumed budget, and the current state otherwise (a refused request consumes nothing).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Whether this limit admits the request.
    pub allowed: bool,
    /// The configured number of requests (burst size for a rate, total for a quota).
    pub limit: u64,
    /// How many more requests would be admitted right now.
    pub remaining: u64,
    /// Time until the limit is back to its full budget: for a GCRA rate, until the bucket is
    /// full again; for a quota, until the current window ends.
    pub reset: Duration,
    /// When refused: how long until a request would be admitted by this limit.
    pub retry_after: Option<Duration>,
}

impl Decision {
    /// Response headers for this decision, as in draft-ietf-httpapi-ratelimit-headers
    /// (the widely deployed `RateLimit-Limit`/`-Remaining`/`-Reset` form), plus
    /// `Retry-After` (RFC 9110 §10.2.3) when the request is refused.
    ///
    /// Times are delta seconds rounded *up*: rounding down would tell a client to come
    /// back before the limit has recovered, which just earns it another refusal.
    pub fn headers(&self) -> impl Iterator<Item = (&'static str, String)> + use<> {
        let retry_after = if self.allowed {
            None
        } else {
            // A refused request always has something to wait for; never say "0", which
            // clients read as "retry immediately".
            let wait = self.retry_after.unwrap_or(self.reset);
            Some(("Retry-After", ceil_secs(wait).max(1).to_string()))
        };
        [
            ("RateLimit-Limit", self.limit.to_string()),
            ("RateLimit-Remaining", self.remaining.to_string()),
            ("RateLimit-Reset", ceil_secs(self.reset).to_string()),
        ]
        .into_iter()
        .chain(retry_after)
    }
}

/// Whole seconds, rounded up.
pub(crate) fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// The answer for one request checked against several limits at once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// True when every limit admitted the request (and so each consumed one unit). False
    /// when at least one refused; then *no* limit consumed anything.
    pub allowed: bool,
    /// One decision per check, in the order the checks were given. When the request was
    /// refused, a check whose own `allowed` is true would have admitted it, and its
    /// `remaining` shows its unchanged budget.
    pub decisions: Vec<Decision>,
}

impl Outcome {
    /// The decision to show in response headers: when refused, the refusing limit that
    /// asks for the longest wait; when admitted, the limit with the least budget left
    /// (ties: the one that resets last). `None` only when there were no checks.
    pub fn limiting(&self) -> Option<&Decision> {
        most_restrictive(&self.decisions)
    }
}

/// See [`Outcome::limiting`]; usable for decisions gathered from local and shared limits.
pub fn most_restrictive(decisions: &[Decision]) -> Option<&Decision> {
    let refused = decisions
        .iter()
        .filter(|d| !d.allowed)
        .max_by_key(|d| d.retry_after.unwrap_or(d.reset));
    refused.or_else(|| {
        decisions
            .iter()
            .min_by_key(|d| (d.remaining, std::cmp::Reverse(d.reset)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(allowed: bool, remaining: u64, reset_ms: u64, retry_ms: Option<u64>) -> Decision {
        Decision {
            allowed,
            limit: 10,
            remaining,
            reset: Duration::from_millis(reset_ms),
            retry_after: retry_ms.map(Duration::from_millis),
        }
    }

    #[test]
    fn headers_round_up_and_add_retry_after_only_when_refused() {
        let ok: Vec<_> = d(true, 3, 1500, None).headers().collect();
        assert_eq!(
            ok,
            vec![
                ("RateLimit-Limit", "10".to_string()),
                ("RateLimit-Remaining", "3".to_string()),
                ("RateLimit-Reset", "2".to_string()),
            ]
        );
        let refused: Vec<_> = d(false, 0, 3000, Some(200)).headers().collect();
        assert_eq!(refused[2], ("RateLimit-Reset", "3".to_string()));
        assert_eq!(refused[3], ("Retry-After", "1".to_string()));
        let exact: Vec<_> = d(false, 0, 0, Some(0)).headers().collect();
        assert_eq!(exact[3], ("Retry-After", "1".to_string()));
    }

    #[test]
    fn most_restrictive_prefers_longest_refusal_then_least_remaining() {
        let ds = [
            d(true, 5, 100, None),
            d(false, 0, 900, Some(700)),
            d(false, 0, 500, Some(400)),
        ];
        assert_eq!(most_restrictive(&ds), Some(&ds[1]));
        let ds = [
            d(true, 5, 100, None),
            d(true, 2, 50, None),
            d(true, 2, 80, None),
        ];
        assert_eq!(most_restrictive(&ds), Some(&ds[2]));
        assert_eq!(most_restrictive(&[]), None);
    }
}
