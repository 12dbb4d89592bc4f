//! What a timeline row is: a pair's step, one of its escalation's notices,
//! or a coordinator's digest. Decided once, where a stored row is read
//! ([`RowKind::of_pair_row`], [`RowKind::of_digest_row`]); everything after
//! matches on the kind, never on a step id's text.

use chrono::NaiveDate;

use crate::digest;
use crate::escalation::Notice;

/// What a timeline row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RowKind {
    /// A step of the pair's playbook.
    PairStep,
    /// An escalation's reminder or resolution notice to the coordinator.
    Notice(Notice),
    /// A coordinator's daily digest of this local date.
    Digest {
        /// The coordinator's local date the digest is for.
        date: NaiveDate,
    },
}

impl RowKind {
    /// The parser of a stored pair row's kind: its step id names a notice
    /// (`escalation_reminder`, `escalation_resolved`) or a playbook step.
    pub fn of_pair_row(step_id: &str) -> RowKind {
        Notice::ALL
            .into_iter()
            .find(|n| n.step_id() == step_id)
            .map_or(RowKind::PairStep, RowKind::Notice)
    }

    /// The parser of a stored digest row's kind: its step id is
    /// [`digest::step_id`] of a date; `None` for anything else.
    pub fn of_digest_row(step_id: &str) -> Option<RowKind> {
        let date = step_id.strip_prefix(digest::STEP_PREFIX)?;
        let date = date.parse().ok()?;
        Some(RowKind::Digest { date })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_rows_kind_is_read_from_its_step_id_once() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
        let pair_rows = [
            ("welcome", RowKind::PairStep),
            ("escalation", RowKind::PairStep),
            ("escalation_reminder", RowKind::Notice(Notice::Reminder)),
            ("escalation_resolved", RowKind::Notice(Notice::Resolved)),
            // A pair's step is never a digest, whatever its name.
            ("digest-2026-11-24", RowKind::PairStep),
        ];
        for (step_id, kind) in pair_rows {
            assert_eq!(RowKind::of_pair_row(step_id), kind, "{step_id}");
        }
        let digest_rows = [
            (digest::step_id(day), Some(RowKind::Digest { date: day })),
            ("digest-2026-13-01".to_string(), None),
            ("welcome".to_string(), None),
        ];
        for (step_id, kind) in digest_rows {
            assert_eq!(RowKind::of_digest_row(&step_id), kind, "{step_id}");
        }
        for notice in Notice::ALL {
            assert_eq!(
                RowKind::of_pair_row(notice.step_id()),
                RowKind::Notice(notice)
            );
        }
    }
}
