//! What a step is to its recipient (the welcome, a nudge, the wrap-up, or
//! a coordinator's email): what staleness, the daily budget and holdouts
//! go by (see [`crate::decision::relevance`]).

use crate::playbook::{Playbook, Step, Trigger};
use crate::rule::Recipient;

/// What a step is to its recipient, as far as staleness and the budget go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The person's introduction: sendable through the week, not counted.
    Welcome,
    /// A nudge: stale once a later step to the same person is due; counted.
    Nudge,
    /// The week's wrap-up: sendable until the week's grace is over; counted.
    WrapUp,
    /// An email to the coordinator: the fixed rule; not counted.
    Coordinator,
}

impl Role {
    /// Whether it counts against the person's daily budget.
    pub fn counted(self) -> bool {
        matches!(self, Role::Nudge | Role::WrapUp)
    }
}

/// The role of `step` for `recipient` in `playbook`.
pub fn role(playbook: &Playbook, step: &Step, recipient: Recipient) -> Role {
    if recipient == Recipient::Coordinator {
        return Role::Coordinator;
    }
    let Trigger::At(offset) = step.trigger else {
        return Role::Nudge;
    };
    if offset >= playbook.week() {
        return Role::WrapUp;
    }
    // The person's first timed step (the first in file order among the
    // earliest): their introduction.
    let first = playbook
        .steps
        .iter()
        .filter(|s| s.recipients.contains(&recipient))
        .filter_map(|s| match s.trigger {
            Trigger::At(o) => Some((o, s.id.as_str())),
            Trigger::IntenseInteraction => None,
        })
        .min_by_key(|(o, _)| *o);
    match first {
        Some((_, id)) if id == step.id => Role::Welcome,
        _ => Role::Nudge,
    }
}
