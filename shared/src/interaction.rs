//! Interaction rules: what a pair's ledger says as of a moment, and whether a
//! step's condition holds. Pure logic; storage hands it the interactions.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::event::{Actor, InteractionKind};
use crate::playbook::Thresholds;

/// One stored interaction.
#[derive(Debug, Clone, PartialEq)]
pub struct Interaction {
    /// What kind of interaction it was.
    pub kind: InteractionKind,
    /// Which side did it.
    pub actor: Actor,
    /// When it happened, as the event says (not when it arrived).
    pub occurred_at: DateTime<Utc>,
    /// How long it lasted, if the event said.
    pub duration_minutes: Option<u32>,
}

impl Interaction {
    /// A session too long, or a deliverable asked for: diving in too hard.
    pub fn is_intense(&self, thresholds: &Thresholds) -> bool {
        match self.kind {
            InteractionKind::DeliverableRequested => true,
            InteractionKind::Session => self
                .duration_minutes
                .is_some_and(|d| d >= thresholds.long_session_minutes),
            _ => false,
        }
    }
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

/// What the ledger shows for one pair as of a moment: the evidence a step is
/// judged on and an escalation shows.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Summary {
    /// Interactions by either side.
    pub total: u32,
    /// Interactions by the mentor.
    pub mentor: u32,
    /// Interactions by the mentee.
    pub mentee: u32,
    /// Counts by kind, by side: `by_kind["message"] = (mentor, mentee)`.
    pub by_kind: BTreeMap<&'static str, (u32, u32)>,
    /// When the latest interaction occurred; `None`: none yet.
    pub last_activity: Option<DateTime<Utc>>,
    /// Who did the latest interaction.
    pub last_actor: Option<Actor>,
}

impl Summary {
    /// Summarises the interactions that occurred by `as_of`, whatever order they arrived in.
    pub fn as_of<'a>(
        interactions: impl IntoIterator<Item = &'a Interaction>,
        as_of: DateTime<Utc>,
    ) -> Summary {
        let mut s = Summary::default();
        for i in interactions.into_iter().filter(|i| i.occurred_at <= as_of) {
            s.total += 1;
            let entry = s.by_kind.entry(i.kind.as_str()).or_default();
            match i.actor {
                Actor::Mentor => {
                    s.mentor += 1;
                    entry.0 += 1;
                }
                Actor::Mentee => {
                    s.mentee += 1;
                    entry.1 += 1;
                }
            }
            if s.last_activity.is_none_or(|t| i.occurred_at >= t) {
                s.last_activity = Some(i.occurred_at);
                s.last_actor = Some(i.actor);
            }
        }
        s
    }

    /// Both sides have interacted.
    pub fn two_way(&self) -> bool {
        self.mentor > 0 && self.mentee > 0
    }

    /// A plan or goals were shared.
    pub fn has_plan(&self) -> bool {
        InteractionKind::ALL
            .iter()
            .filter(|k| k.is_plan())
            .any(|k| self.by_kind.get(k.as_str()).is_some_and(|(a, b)| a + b > 0))
    }

    /// Whether one condition holds.
    pub fn holds(&self, condition: Condition, thresholds: &Thresholds) -> bool {
        match condition {
            Condition::Always => true,
            Condition::NoTwoWay => !self.two_way(),
            Condition::NoPlan => !self.has_plan(),
            Condition::NoInteraction => self.total == 0,
            Condition::LowInteraction => self.total < thresholds.min_interactions,
            Condition::OneSided => self.total > 0 && !self.two_way(),
        }
    }

    /// Judges a step's `when` list: the conditions that hold (empty: do not send).
    pub fn judge(&self, when: &[Condition], thresholds: &Thresholds) -> Vec<Condition> {
        when.iter()
            .copied()
            .filter(|c| self.holds(*c, thresholds))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    const T: Thresholds = Thresholds {
        min_interactions: 3,
        long_session_minutes: 120,
    };

    fn at(h: i64) -> DateTime<Utc> {
        "2026-11-02T09:00:00Z".parse::<DateTime<Utc>>().unwrap() + Duration::hours(h)
    }

    fn i(kind: InteractionKind, actor: Actor, hour: i64) -> Interaction {
        Interaction {
            kind,
            actor,
            occurred_at: at(hour),
            duration_minutes: None,
        }
    }

    use Actor::*;
    use InteractionKind::*;

    #[test]
    fn an_engaged_pair_triggers_nothing() {
        let ledger = [
            i(Message, Mentor, 1),
            i(Message, Mentee, 2),
            i(GoalSet, Mentee, 30),
            i(Call, Mentor, 50),
        ];
        let s = Summary::as_of(&ledger, at(7 * 24));
        assert!(s.two_way() && s.has_plan());
        let escalate = [
            Condition::LowInteraction,
            Condition::OneSided,
            Condition::NoPlan,
        ];
        assert!(s.judge(&escalate, &T).is_empty());
        assert!(s.judge(&[Condition::NoTwoWay], &T).is_empty());
        assert_eq!(s.by_kind["message"], (1, 1));
        assert_eq!(s.last_activity, Some(at(50)));
    }

    #[test]
    fn judged_as_of_the_due_time_whatever_arrives_later() {
        // The mentee's reply came on day 3: the day-2 check-in still holds.
        let ledger = [i(Message, Mentor, 1), i(Message, Mentee, 3 * 24)];
        assert_eq!(
            Summary::as_of(&ledger, at(2 * 24)).judge(&[Condition::NoTwoWay], &T),
            vec![Condition::NoTwoWay]
        );
        assert!(
            Summary::as_of(&ledger, at(7 * 24))
                .judge(&[Condition::NoTwoWay], &T)
                .is_empty()
        );
    }

    #[test]
    fn one_sided_low_and_silent_are_told_apart() {
        let one_sided = [
            i(Message, Mentor, 1),
            i(Message, Mentor, 20),
            i(Message, Mentor, 40),
            i(PlanShared, Mentor, 41),
        ];
        let s = Summary::as_of(&one_sided, at(7 * 24));
        assert_eq!(
            s.judge(
                &[
                    Condition::LowInteraction,
                    Condition::OneSided,
                    Condition::NoPlan
                ],
                &T
            ),
            vec![Condition::OneSided]
        );

        let silent = Summary::as_of(&[], at(4 * 24));
        assert!(silent.holds(Condition::NoInteraction, &T));
        assert!(
            !silent.holds(Condition::OneSided, &T),
            "silence is not one-sided"
        );
        assert!(silent.holds(Condition::LowInteraction, &T));

        let low = [i(Message, Mentor, 1), i(GoalSet, Mentee, 2)];
        assert_eq!(
            Summary::as_of(&low, at(7 * 24)).judge(
                &[
                    Condition::LowInteraction,
                    Condition::OneSided,
                    Condition::NoPlan
                ],
                &T
            ),
            vec![Condition::LowInteraction]
        );
    }

    #[test]
    fn intense_means_a_long_session_or_a_deliverable() {
        let mut long = i(Session, Mentor, 1);
        long.duration_minutes = Some(120);
        assert!(long.is_intense(&T));
        long.duration_minutes = Some(119);
        assert!(!long.is_intense(&T));
        assert!(i(DeliverableRequested, Mentee, 1).is_intense(&T));
        assert!(!i(Call, Mentee, 1).is_intense(&T));
    }
}
