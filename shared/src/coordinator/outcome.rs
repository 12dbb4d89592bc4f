//! What became of a step, as a stable key a page's translation words
//! ([`Outcome`]) and in English words ([`Outcome::words`]): one reading of
//! the stored status and reason, so every locale says the same thing.

use serde::Serialize;

use super::plain::step_template;
use crate::playbook::Playbook;
use crate::rule::Condition;

/// What became of a step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outcome {
    /// A stable name: `sent`, `planned`, `being_sent`, `failed`, `unknown`,
    /// `cancelled_erased`, `cancelled_ended`, `not_sent`, `not_needed`,
    /// `added_to_escalation`, `already_reached`, `stale`, `unsubscribed`,
    /// `erased`, `dropped`, `pair_unknown`, `ended`, `acknowledged`,
    /// `resolved`, `acknowledged_or_resolved`, `you_closed`, `still_open`,
    /// `no_escalation`, `other` (a reason worded elsewhere: see `other`).
    pub key: &'static str,
    /// For `not_needed`: the conditions that did not hold (`no_two_way`, ...).
    pub conditions: Vec<&'static str>,
    /// For `added_to_escalation` and `already_reached`: the template of the
    /// step that did it (`escalation`, ...).
    pub by: Option<String>,
    /// For `other`: the reason as recorded (words, never a code).
    pub other: Option<String>,
}

impl Outcome {
    fn key(key: &'static str) -> Outcome {
        Outcome {
            key,
            conditions: Vec::new(),
            by: None,
            other: None,
        }
    }

    /// What became of a step, from its stored status and recorded reason.
    pub fn of(status: &str, reason: Option<&str>, playbook: &Playbook) -> Outcome {
        let key = match status {
            "sent" => "sent",
            "scheduled" => "planned",
            "published" => "being_sent",
            "failed" => "failed",
            "unknown" => "unknown",
            "cancelled" => match reason {
                Some("person erased" | "people erased (retention)") => "cancelled_erased",
                _ => "cancelled_ended",
            },
            "skipped" => return reason.map_or(Outcome::key("not_sent"), |r| skipped(r, playbook)),
            _ => "not_sent",
        };
        Outcome::key(key)
    }

    /// In English words, e.g. `not needed: they had already both been in touch`.
    pub fn words(&self, playbook: &Playbook) -> String {
        let by = || {
            let template = self.by.as_deref().unwrap_or_default();
            super::plain::step_name(template, playbook).to_lowercase()
        };
        let fixed = match self.key {
            "sent" => "sent",
            "planned" => "planned",
            "being_sent" => "being sent now",
            "failed" => "could not be delivered",
            "unknown" => "may not have arrived: the mail server did not confirm it",
            "cancelled_erased" => "cancelled: their data was erased",
            "cancelled_ended" => "cancelled: the mentorship ended",
            "not_needed" => {
                let met: Vec<&str> = self
                    .conditions
                    .iter()
                    .filter_map(|c| Condition::parse(c))
                    .filter_map(not_needed_because)
                    .collect();
                return match met.as_slice() {
                    [] => "not needed".into(),
                    [one] => format!("not needed: {one}"),
                    [init @ .., last] => {
                        format!("not needed: {} and {last}", init.join(", "))
                    }
                };
            }
            "added_to_escalation" => {
                return format!("added to the escalation already open (from the {})", by());
            }
            "already_reached" => {
                return format!("not sent again: the {} already reached them", by());
            }
            "stale" => "not sent: it could only have gone out too late",
            "unsubscribed" => "not sent: they unsubscribed from these emails",
            "erased" => "not sent: their data was erased",
            "dropped" => "not sent: the program dropped this step",
            "pair_unknown" => "not sent: the pair is not known",
            "held_out" => "not sent: held out of this step, to measure what it does",
            "ended" => "not sent: the mentorship ended",
            "acknowledged" => "not needed: the escalation was acknowledged",
            "resolved" => "not needed: the escalation was resolved",
            "acknowledged_or_resolved" => "not needed: the escalation was acknowledged or resolved",
            "you_closed" => "not needed: you closed the escalation",
            "still_open" => "not needed: the escalation is still open",
            "no_escalation" => "not needed: there is no escalation",
            "other" => {
                return format!("not sent: {}", self.other.as_deref().unwrap_or_default());
            }
            _ => "not sent",
        };
        fixed.into()
    }
}

fn skipped(reason: &str, playbook: &Playbook) -> Outcome {
    if let Some(names) = reason.strip_prefix("condition not met: ") {
        return Outcome {
            conditions: names
                .split(", ")
                .filter_map(Condition::parse)
                .filter(|c| not_needed_because(*c).is_some())
                .map(Condition::as_str)
                .collect(),
            ..Outcome::key("not_needed")
        };
    }
    if let Some(by) = reason.strip_prefix("added to the escalation opened by step ") {
        return Outcome {
            by: Some(step_template(by, playbook).to_string()),
            ..Outcome::key("added_to_escalation")
        };
    }
    if let Some((_, by)) = reason.split_once(" by step ") {
        return Outcome {
            by: Some(step_template(by, playbook).to_string()),
            ..Outcome::key("already_reached")
        };
    }
    if reason.starts_with("stale") {
        return Outcome::key("stale");
    }
    let key = match reason {
        "the recipient unsubscribed" => "unsubscribed",
        "the recipient was erased" | "person erased" => "erased",
        "the step is no longer in the playbook" => "dropped",
        "mentorship not found" => "pair_unknown",
        // crate::decision::HOLDOUT_REASON
        "holdout" => "held_out",
        "mentorship ended" => "ended",
        "the escalation was acknowledged" => "acknowledged",
        "the escalation was resolved" => "resolved",
        "the escalation was acknowledged or resolved" => "acknowledged_or_resolved",
        "a coordinator closed the escalation" => "you_closed",
        "the escalation is not resolved" => "still_open",
        "the pair has no escalation" => "no_escalation",
        // A reason worded elsewhere: shown when it is words, not codes.
        other if !other.contains('_') => {
            return Outcome {
                other: Some(other.to_string()),
                ..Outcome::key("other")
            };
        }
        _ => "not_sent",
    };
    Outcome::key(key)
}

/// Why a step on `condition` was not needed: the condition did not hold.
fn not_needed_because(condition: Condition) -> Option<&'static str> {
    Some(match condition {
        Condition::Always => return None,
        Condition::NoTwoWay => "they had already both been in touch",
        Condition::NoPlan => "they had already shared a plan or goals",
        Condition::NoInteraction => "they had already been in touch",
        Condition::LowInteraction => "they had been in touch often enough",
        Condition::OneSided => "it was not one-sided",
    })
}
