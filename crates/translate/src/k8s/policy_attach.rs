//! Where `Policy` objects attach, what each route ends up with, and the Policies'
//! statuses.
//!
//! A Policy attaches by `targetRefs` (a Gateway, an HTTPRoute, or one named rule of an
//! HTTPRoute with `sectionName`), always in its own namespace, or is named by an
//! HTTPRoute rule's `ExtensionRef` filter. A route gets, per access block, the block of
//! the most specific attachment: ExtensionRef, then sectionName, then HTTPRoute, then
//! Gateway. Two Policies setting the same block on the same target conflict: the older
//! one (Gateway API's tie-break) attaches, the newer one is `Conflicted` there.
//!
//! An invalid Policy attaches nowhere, but the routes it targets answer 500 instead of
//! going unprotected: access control that silently falls away on a typo (or a Secret not
//! yet created) would open exactly the routes someone meant to close.

use std::collections::BTreeMap;

use tollgate_ir as ir;
use tollgate_model::crds::Policy;

use super::consumers::Known;
use super::gateway::Why;
use super::index::{GATEWAY_GROUP, Index, Meta, by_age};
use super::policy::{self, blocks, fill_missing};
use super::reasons::{self, reason};
use super::status::{Condition, ObjectStatus, ParentRef, PolicyAncestorStatus, StatusUpdate};

/// Gateway API allows at most this many ancestor entries in a policy status.
const MAX_ANCESTORS: usize = 16;

/// What the Policies attached to one target give the routes under it.
#[derive(Default)]
pub(crate) struct Access {
    /// The merged blocks.
    pub(crate) policies: ir::RoutePolicies,
    /// Which Policy set each block (for conflict messages).
    owners: BTreeMap<&'static str, String>,
    /// Set when an invalid Policy targets here: its routes answer 500.
    pub(crate) invalid: Option<String>,
}

/// An ExtensionRef to a Policy, seen while translating a route rule.
struct Use {
    policy: (String, String),
    ancestor: ParentRef,
    accepted: bool,
}

/// A Policy and its compiled blocks (or every problem found).
type Compiled<'a> = (&'a Policy, Result<ir::RoutePolicies, String>);
/// A target of a Policy and the outcome of attaching there.
type Outcome = (ParentRef, Result<String, Why>);

/// Every Policy, compiled and attached.
pub(crate) struct Policies<'a> {
    compiled: BTreeMap<(&'a str, &'a str), Compiled<'a>>,
    gateways: BTreeMap<(String, String), Access>,
    routes: BTreeMap<(String, String), Access>,
    rules: BTreeMap<(String, String, String), Access>,
    /// Per Policy, its targetRefs' outcomes.
    ancestors: BTreeMap<(&'a str, &'a str), Vec<Outcome>>,
    uses: Vec<Use>,
}

fn target_exists(idx: &Index<'_>, ns: &str, kind: &str, name: &str, section: Option<&str>) -> bool {
    match kind {
        "Gateway" => idx
            .res
            .gateways
            .iter()
            .any(|g| g.ns() == ns && g.name() == name),
        _ => idx
            .res
            .http_routes
            .iter()
            .filter(|r| r.ns() == ns && r.name() == name)
            .any(|r| {
                section.is_none_or(|s| {
                    r.spec
                        .rules
                        .iter()
                        .flatten()
                        .any(|rule| rule.name.as_deref() == Some(s))
                })
            }),
    }
}

impl<'a> Policies<'a> {
    /// Compiles every Policy (oldest first) and attaches it to its targets.
    pub(crate) fn build(idx: &Index<'a>, known: &Known<'_>) -> Self {
        let mut out = Self {
            compiled: BTreeMap::new(),
            gateways: BTreeMap::new(),
            routes: BTreeMap::new(),
            rules: BTreeMap::new(),
            ancestors: BTreeMap::new(),
            uses: Vec::new(),
        };
        for p in by_age(&idx.res.policies) {
            let ns = p.ns();
            let result = policy::compile(p, idx, known);
            let mut ancestors = Vec::new();
            for t in &p.spec.target_refs {
                let aref = ParentRef {
                    group: Some(t.group.clone()),
                    kind: Some(t.kind.clone()),
                    namespace: Some(ns.to_owned()),
                    name: t.name.clone(),
                    section_name: t.section_name.clone(),
                    port: None,
                };
                let outcome = out.attach(idx, p, &result, t);
                ancestors.push((aref, outcome));
            }
            out.ancestors.insert((ns, p.name()), ancestors);
            out.compiled.insert((ns, p.name()), (p, result));
        }
        out
    }

    fn attach(
        &mut self,
        idx: &Index<'_>,
        p: &Policy,
        result: &Result<ir::RoutePolicies, String>,
        t: &tollgate_model::crds::PolicyTargetRef,
    ) -> Result<String, Why> {
        let ns = p.ns();
        if let Some(other) = t.namespace.as_deref().filter(|n| *n != ns) {
            return Err((
                reason::INVALID,
                format!(
                    "targetRef namespace {other:?}: a Policy attaches only to objects in its own namespace ({ns})"
                ),
            ));
        }
        let kind = t.kind.as_str();
        if t.group != GATEWAY_GROUP || !matches!(kind, "Gateway" | "HTTPRoute") {
            return Err((
                reason::INVALID,
                format!(
                    "targetRef {}/{kind}: only Gateway and HTTPRoute ({GATEWAY_GROUP}) can be targets",
                    t.group
                ),
            ));
        }
        if kind == "Gateway" && t.section_name.is_some() {
            return Err((
                reason::INVALID,
                "targetRef sectionName on a Gateway (a listener) is not supported; target the Gateway or its routes".to_owned(),
            ));
        }
        let section = t.section_name.as_deref();
        if !target_exists(idx, ns, kind, &t.name, section) {
            let what = match section {
                Some(s) => format!("{kind} {ns}/{} has no rule named {s:?}", t.name),
                None => format!("{kind} {ns}/{} does not exist", t.name),
            };
            return Err((reason::TARGET_NOT_FOUND, what));
        }
        let (n, name) = (ns.to_owned(), t.name.clone());
        let slot = match (kind, section) {
            ("Gateway", _) => self.gateways.entry((n, name)).or_default(),
            (_, None) => self.routes.entry((n, name)).or_default(),
            (_, Some(s)) => self.rules.entry((n, name, s.to_owned())).or_default(),
        };
        let me = format!("Policy {ns}/{}", p.name());
        match result {
            Err(msg) => {
                slot.invalid
                    .get_or_insert_with(|| format!("{me} is invalid: {msg}"));
                Err((reason::INVALID, msg.clone()))
            }
            Ok(pol) => {
                let taken: Vec<String> = blocks(pol)
                    .into_iter()
                    .filter_map(|b| slot.owners.get(b).map(|o| format!("{b} (set by {o})")))
                    .collect();
                if !taken.is_empty() {
                    return Err((
                        reason::CONFLICTED,
                        format!(
                            "an older policy on the same target sets the same blocks: {}",
                            taken.join(", ")
                        ),
                    ));
                }
                fill_missing(&mut slot.policies, pol);
                for b in blocks(pol) {
                    slot.owners.insert(b, me.clone());
                }
                Ok("the policy is attached".to_owned())
            }
        }
    }

    /// The Policy an HTTPRoute rule's ExtensionRef names (in the route's namespace), and
    /// records the reference for the Policy's status.
    pub(crate) fn extension(
        &mut self,
        ns: &str,
        name: &str,
        ancestor: ParentRef,
    ) -> Result<ir::RoutePolicies, String> {
        let found = self.compiled.get(&(ns, name));
        let result = match found {
            None => Err(format!("ExtensionRef: Policy {ns}/{name} does not exist")),
            Some((_, Err(msg))) => Err(format!(
                "ExtensionRef: Policy {ns}/{name} is invalid: {msg}"
            )),
            Some((_, Ok(p))) => Ok(p.clone()),
        };
        if found.is_some() {
            self.uses.push(Use {
                policy: (ns.to_owned(), name.to_owned()),
                ancestor,
                accepted: result.is_ok(),
            });
        }
        result
    }

    /// What a rule of HTTPRoute `ns/name` gets: `own` (its ExtensionRef's Policy) first,
    /// then the rule's sectionName Policies, then the route's. `Err`: an invalid Policy
    /// targets it.
    pub(crate) fn for_rule(
        &self,
        ns: &str,
        name: &str,
        rule: Option<&str>,
        own: Option<ir::RoutePolicies>,
    ) -> Result<Option<ir::RoutePolicies>, String> {
        let key = (ns.to_owned(), name.to_owned());
        let rule_slot = rule.and_then(|r| {
            self.rules
                .get(&(key.0.clone(), key.1.clone(), r.to_owned()))
        });
        let route_slot = self.routes.get(&key);
        let mut merged = own.unwrap_or_default();
        for slot in [rule_slot, route_slot].into_iter().flatten() {
            if let Some(msg) = &slot.invalid {
                return Err(msg.clone());
            }
            fill_missing(&mut merged, &slot.policies);
        }
        Ok((!blocks(&merged).is_empty()).then_some(merged))
    }

    /// What Gateway `ns/name` gives every route it serves.
    pub(crate) fn for_gateway(&self, ns: &str, name: &str) -> Option<&Access> {
        self.gateways.get(&(ns.to_owned(), name.to_owned()))
    }

    /// Every Policy's status.
    pub(crate) fn statuses(&self, controller: &str) -> Vec<StatusUpdate> {
        let mut out = Vec::with_capacity(self.compiled.len());
        for (key, (p, result)) in &self.compiled {
            let generation = p.generation();
            let accepted = |r: &Result<String, Why>| match r {
                Ok(msg) => Condition::new(
                    reasons::ACCEPTED,
                    true,
                    reason::ACCEPTED,
                    msg.clone(),
                    generation,
                ),
                Err((why, msg)) => {
                    Condition::new(reasons::ACCEPTED, false, why, msg.clone(), generation)
                }
            };
            let mut ancestors: Vec<PolicyAncestorStatus> = Vec::new();
            let targets = self.ancestors.get(key).into_iter().flatten();
            let uses = self
                .uses
                .iter()
                .filter(|u| (u.policy.0.as_str(), u.policy.1.as_str()) == *key)
                .map(|u| {
                    let r = match (&result, u.accepted) {
                        (Ok(_), true) => Ok("referenced by an ExtensionRef filter".to_owned()),
                        (Err(msg), _) => Err((reason::INVALID, msg.clone())),
                        (Ok(_), false) => Err((reason::INVALID, "not usable".to_owned())),
                    };
                    (u.ancestor.clone(), r)
                });
            let all: Vec<Outcome> = targets.cloned().chain(uses).collect();
            for (aref, r) in all {
                // One entry per ancestor: a rule named twice (two targetRefs, or a
                // targetRef and an ExtensionRef) keeps its first outcome.
                if ancestors.iter().any(|a| a.ancestor_ref == aref) {
                    continue;
                }
                ancestors.push(PolicyAncestorStatus {
                    ancestor_ref: aref,
                    controller_name: controller.to_owned(),
                    conditions: vec![accepted(&r)],
                });
            }
            ancestors.truncate(MAX_ANCESTORS);
            let summary = match result {
                Ok(_) => Ok("the policy is valid".to_owned()),
                Err(msg) => Err((reason::INVALID, msg.clone())),
            };
            out.push(StatusUpdate {
                kind: "Policy".to_owned(),
                namespace: Some(key.0.to_owned()),
                name: key.1.to_owned(),
                generation,
                status: ObjectStatus::Policy {
                    conditions: vec![accepted(&summary)],
                    ancestors,
                },
            });
        }
        out
    }
}
