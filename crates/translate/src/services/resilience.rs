//! Health checks, outlier detection and retries of a service.

use std::time::Duration;

use tollgate_ir as ir;
use tollgate_model::native::{self, RetryOn};

use crate::problems::{Pos, Scope};
use crate::syntax;

/// Attempts after the first when a `retries:` block leaves them unset. Without a block
/// there are none ([`ir::Retries::default`]).
const RETRY_ATTEMPTS: u32 = 2;

pub(super) fn health_check(h: &native::HealthCheck, cx: &mut Scope<'_, '_>) -> ir::HealthCheck {
    if let Err(e) = syntax::path(&h.path) {
        cx.here(format_args!("health_check: {e}"));
    }
    ir::HealthCheck {
        path: h.path.clone(),
        interval: cx.positive("health_check.interval", h.interval, Duration::from_secs(5)),
        timeout: cx.positive("health_check.timeout", h.timeout, Duration::from_secs(1)),
        healthy_threshold: cx.at_least_one("health_check.healthy", h.healthy, 2),
        unhealthy_threshold: cx.at_least_one("health_check.unhealthy", h.unhealthy, 3),
    }
}

pub(super) fn outlier_detection(
    o: Option<&native::OutlierDetection>,
    cx: &mut Scope<'_, '_>,
) -> ir::OutlierDetection {
    let d = ir::OutlierDetection::default();
    let Some(o) = o else {
        return d;
    };
    ir::OutlierDetection {
        consecutive_failures: cx.at_least_one(
            "outlier_detection.consecutive_failures",
            o.consecutive_failures,
            d.consecutive_failures,
        ),
        ejection_time: cx.positive(
            "outlier_detection.ejection_time",
            o.ejection_time,
            d.ejection_time,
        ),
        max_ejection_percent: cx.percent(
            cx.pos,
            "outlier_detection.max_ejection_percent",
            o.max_ejection_percent,
            d.max_ejection_percent,
        ),
    }
}

/// Retries. With a block but no `on:` list, the conditions stay at their defaults
/// (connect failures only: the request never reached the upstream, so it is always safe
/// to try again).
pub(super) fn retries(r: Option<&native::Retries>, cx: &mut Scope<'_, '_>) -> ir::Retries {
    let d = ir::Retries::default();
    let Some(r) = r else {
        return d;
    };
    let mut out = ir::Retries {
        attempts: r.attempts.unwrap_or(RETRY_ATTEMPTS),
        budget_percent: cx.percent(
            cx.pos,
            "retries.budget_percent",
            r.budget_percent,
            d.budget_percent,
        ),
        ..d
    };
    if r.on.is_empty() {
        return out;
    }
    out.on_connect_failure = false;
    for on in &r.on {
        let pos = cx.pos_of(on);
        match &on.value {
            RetryOn::Keyword(k) if k == "connect-failure" => out.on_connect_failure = true,
            RetryOn::Keyword(k) if k == "reset" => out.on_reset = true,
            // A quoted `"503"` arrives as a keyword; it still means the status.
            RetryOn::Keyword(k) => match k.parse::<u16>() {
                Ok(s) => retry_status(s, pos, &mut out, cx),
                Err(_) => cx.push(
                    pos,
                    format_args!(
                        "retries.on: unknown condition {k:?}; use connect-failure, reset, or a status from 500 to 599"
                    ),
                ),
            },
            RetryOn::Status(s) => retry_status(*s, pos, &mut out, cx),
        }
    }
    // Canonical order so that `[503, 502]` and `[502, 503]` are the same snapshot.
    out.on_status.sort_unstable();
    out.on_status.dedup();
    out
}

fn retry_status(s: u16, pos: Pos, out: &mut ir::Retries, cx: &mut Scope<'_, '_>) {
    if (500..=599).contains(&s) {
        out.on_status.push(s);
    } else {
        cx.push(
            pos,
            format_args!(
                "retries.on: status {s} cannot be retried; only 500 to 599 can (anything else would fail the same way again)"
            ),
        );
    }
}
