//! The words a playbook's rules are written in: to whom a step goes, on
//! which condition, with which thresholds, and what counts as a pair having
//! recovered. Every other module of the domain speaks them, so this one
//! imports none of theirs.
//!
//! What a condition or a recovery means for a pair's ledger (whether it
//! holds, and how it is worded) is said where the ledger is summarised, in
//! [`crate::interaction`].

use std::fmt;

use serde::{Deserialize, Serialize};

/// Who receives a step's email.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Recipient {
    /// The pair's mentor.
    Mentor,
    /// The pair's mentee.
    Mentee,
    /// The program's coordinator (escalations and digests).
    Coordinator,
}

impl Recipient {
    /// The name used in playbooks, storage and templates.
    pub fn as_str(self) -> &'static str {
        match self {
            Recipient::Mentor => "mentor",
            Recipient::Mentee => "mentee",
            Recipient::Coordinator => "coordinator",
        }
    }

    /// Parses a recipient name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "mentor" => Some(Recipient::Mentor),
            "mentee" => Some(Recipient::Mentee),
            "coordinator" => Some(Recipient::Coordinator),
            _ => None,
        }
    }
}

impl fmt::Display for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Thresholds the conditions use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thresholds {
    /// Fewer interactions than this in the first week is low interaction.
    pub min_interactions: u32,
    /// A session at least this long in week one is an intense start.
    pub long_session_minutes: u32,
}

/// A condition a step is judged on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    /// Always true.
    Always,
    /// Not both mentor and mentee have interacted yet.
    NoTwoWay,
    /// No `plan_shared` or `goal_set` yet.
    NoPlan,
    /// No interaction at all.
    NoInteraction,
    /// Fewer interactions than `min_interactions`.
    LowInteraction,
    /// Someone interacted, but only one side.
    OneSided,
}

impl Condition {
    /// Names accepted in playbooks.
    pub const NAMES: [&'static str; 6] = [
        "always",
        "no_two_way",
        "no_plan",
        "no_interaction",
        "low_interaction",
        "one_sided",
    ];

    /// Parses a playbook condition name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "always" => Self::Always,
            "no_two_way" => Self::NoTwoWay,
            "no_plan" => Self::NoPlan,
            "no_interaction" => Self::NoInteraction,
            "low_interaction" => Self::LowInteraction,
            "one_sided" => Self::OneSided,
            _ => return None,
        })
    }

    /// The condition's name, as in playbooks.
    pub fn as_str(self) -> &'static str {
        Self::NAMES[self as usize]
    }
}

/// What counts as a pair having recovered (`resolve_when` in a playbook):
/// every listed one must hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Recovery {
    /// Both mentor and mentee have interacted.
    TwoWay,
    /// A plan or goals were shared.
    PlanShared,
    /// At least `min_interactions` interactions.
    EnoughInteractions,
}

impl Recovery {
    /// Names accepted in playbooks.
    pub const NAMES: [&'static str; 3] = ["two_way", "plan_shared", "enough_interactions"];

    /// The built-in rule: two-way interaction and a plan shared.
    pub const DEFAULT: [Recovery; 2] = [Recovery::TwoWay, Recovery::PlanShared];

    /// Parses a playbook name.
    pub fn parse(s: &str) -> Option<Recovery> {
        Some(match s {
            "two_way" => Recovery::TwoWay,
            "plan_shared" => Recovery::PlanShared,
            "enough_interactions" => Recovery::EnoughInteractions,
            _ => return None,
        })
    }

    /// The name, as in playbooks.
    pub fn as_str(self) -> &'static str {
        Recovery::NAMES[self as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for r in [
            Recovery::TwoWay,
            Recovery::PlanShared,
            Recovery::EnoughInteractions,
        ] {
            assert_eq!(Recovery::parse(r.as_str()), Some(r));
        }
    }
}
