//! Gateway and listener statuses, computed once routes are attached (listeners report
//! how many routes they took).

use super::gateway::{Gw, Why};
use super::index::{GATEWAY_GROUP, Meta};
use super::reasons::{self, reason};
use super::status::{Condition, ListenerStatus, ObjectStatus, RouteGroupKind, StatusUpdate};

/// Gateway statuses, once routes are attached.
pub(crate) fn statuses(gws: &[Gw<'_>]) -> Vec<StatusUpdate> {
    gws.iter().map(status).collect()
}

fn status(g: &Gw<'_>) -> StatusUpdate {
    let generation = g.obj.generation();
    let cond = |t: &str, r: &Result<(), Why>, ok_reason: &str, ok_msg: &str| match r {
        Ok(()) => Condition::new(t, true, ok_reason, ok_msg, generation),
        Err((why, msg)) => Condition::new(t, false, why, msg.clone(), generation),
    };
    let listeners: Vec<ListenerStatus> = g
        .listeners
        .iter()
        .map(|l| {
            let accepted = match (&l.accepted, &l.conflicted) {
                (Err(e), _) | (Ok(()), Some(e)) => Err(e.clone()),
                (Ok(()), None) => Ok(()),
            };
            let programmed = if l.programmed() {
                Ok(())
            } else {
                Err((
                    reason::INVALID,
                    "the listener is not served; see the other conditions".to_owned(),
                ))
            };
            let conflicted = match &l.conflicted {
                Some((why, msg)) => {
                    Condition::new(reasons::CONFLICTED, true, why, msg.clone(), generation)
                }
                None => Condition::new(
                    reasons::CONFLICTED,
                    false,
                    reason::NO_CONFLICTS,
                    "",
                    generation,
                ),
            };
            ListenerStatus {
                name: l.name.to_owned(),
                supported_kinds: l
                    .kinds
                    .iter()
                    .map(|k| RouteGroupKind {
                        group: GATEWAY_GROUP.to_owned(),
                        kind: k.kind().to_owned(),
                    })
                    .collect(),
                attached_routes: l.attached,
                conditions: vec![
                    cond(
                        reasons::ACCEPTED,
                        &accepted,
                        reason::ACCEPTED,
                        "listener accepted",
                    ),
                    cond(
                        reasons::PROGRAMMED,
                        &programmed,
                        reason::PROGRAMMED,
                        "listener programmed",
                    ),
                    cond(
                        reasons::RESOLVED_REFS,
                        &l.resolved_refs,
                        reason::RESOLVED_REFS,
                        "all references resolved",
                    ),
                    conflicted,
                ],
            }
        })
        .collect();
    let served = g.listeners.iter().filter(|l| l.programmed()).count();
    let all_valid = served == g.listeners.len();
    // Some valid listeners: Accepted, saying that others are not; none: not Accepted.
    let accepted = Condition::new(
        reasons::ACCEPTED,
        served > 0 || all_valid,
        if all_valid {
            reason::ACCEPTED
        } else {
            reason::LISTENERS_NOT_VALID
        },
        if all_valid {
            "gateway accepted".to_owned()
        } else {
            format!(
                "{} of {} listeners are not valid",
                g.listeners.len() - served,
                g.listeners.len()
            )
        },
        generation,
    );
    let programmed = if served > 0 {
        Condition::new(
            reasons::PROGRAMMED,
            true,
            reason::PROGRAMMED,
            "gateway programmed",
            generation,
        )
    } else {
        Condition::new(
            reasons::PROGRAMMED,
            false,
            reason::INVALID,
            "no listener can be served",
            generation,
        )
    };
    StatusUpdate {
        kind: "Gateway".to_owned(),
        namespace: Some(g.obj.ns().to_owned()),
        name: g.obj.name().to_owned(),
        generation,
        status: ObjectStatus::Gateway {
            conditions: vec![accepted, programmed],
            listeners,
        },
    }
}
