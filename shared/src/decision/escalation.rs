//! The escalation lifecycle's decisions: when the reminder falls due,
//! whether a notice still goes out, whether a pair has recovered, and what
//! firstweek tells other services about it (the `escalation.*` events).

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Pair, Rules};
use crate::day::Day;
use crate::escalation::{AckVia, Escalation, Notice, Resolution, Sighting, State};
use crate::event;
use crate::interaction::{KindCount, Summary};
use crate::rule::Condition;

/// When an escalation opened at `opened_at` is reminded, if nobody
/// acknowledges it first; `None`: the playbook never reminds.
pub fn remind_at(rules: &Rules, opened_at: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let after = rules.playbook.coordinators.remind_after?;
    Some(opened_at + rules.scale.wall(after))
}

/// Whether the pair has recovered by the playbook's `resolve_when`, on all
/// its interactions so far (a pair may recover after its first week).
pub fn recovered(rules: &Rules, pair: Pair<'_>, now: DateTime<Utc>) -> bool {
    let rules = &*rules.pinned(pair.playbook);
    let summary = Summary::as_of(pair.ledger, now);
    let thresholds = &rules.playbook.thresholds;
    rules
        .playbook
        .coordinators
        .resolve_when
        .iter()
        .all(|r| r.holds(&summary, thresholds))
}

/// Why a notice sends nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Withdrawn {
    /// The pair has no escalation (the row outlived it: a bug or a manual edit).
    NoEscalation,
    /// The coordinator acknowledged it: no reminder.
    Acknowledged,
    /// It is over: no reminder.
    Resolved,
    /// Not over: no resolution notice yet.
    NotResolved,
    /// The coordinator closed it themselves: they need no email about it.
    ClosedByCoordinator,
}

impl Withdrawn {
    /// The reason in words, as recorded on the timeline row.
    pub fn reason(self) -> &'static str {
        match self {
            Withdrawn::NoEscalation => "the pair has no escalation",
            Withdrawn::Acknowledged => "the escalation was acknowledged",
            Withdrawn::Resolved => "the escalation was resolved",
            Withdrawn::NotResolved => "the escalation is not resolved",
            Withdrawn::ClosedByCoordinator => "a coordinator closed the escalation",
        }
    }
}

/// Whether `notice` still goes out for this escalation: a reminder only
/// while nobody acknowledged it and it is not resolved; the resolution
/// notice once it is resolved, acknowledged or not, unless a coordinator
/// resolved it by hand.
pub fn notice(notice: Notice, escalation: Option<&Escalation>) -> Result<(), Withdrawn> {
    let Some(e) = escalation else {
        return Err(Withdrawn::NoEscalation);
    };
    match (notice, e.state) {
        (Notice::Reminder, State::Open) => Ok(()),
        (Notice::Reminder, State::Acknowledged) => Err(Withdrawn::Acknowledged),
        (Notice::Reminder, State::Resolved) => Err(Withdrawn::Resolved),
        (Notice::Resolved, State::Resolved) => match e.resolved {
            Some((_, Resolution::Coordinator)) => Err(Withdrawn::ClosedByCoordinator),
            _ => Ok(()),
        },
        (Notice::Resolved, _) => Err(Withdrawn::NotResolved),
    }
}

/// The reasons a notice's email gives: the rules that fired, for a reminder;
/// how it ended, for the resolution.
pub fn notice_reasons(notice: Notice, e: &Escalation) -> Vec<String> {
    match notice {
        Notice::Reminder => e
            .evidence
            .iter()
            .flat_map(|s| s.reasons.iter().cloned())
            .fold(Vec::new(), |mut all, r| {
                if !all.contains(&r) {
                    all.push(r);
                }
                all
            }),
        Notice::Resolved => {
            let how = e
                .resolved
                .map(|(_, how)| how)
                .unwrap_or(Resolution::Recovered);
            vec![how.words().to_string()]
        }
    }
}

pub use crate::event::Announcement;

#[derive(Serialize)]
struct Counts<'a> {
    total: u32,
    mentor: u32,
    mentee: u32,
    by_kind: &'a [KindCount],
    last_activity: Option<DateTime<Utc>>,
    day: Day,
}

fn counts(s: &Sighting) -> Counts<'_> {
    Counts {
        total: s.total,
        mentor: s.mentor,
        mentee: s.mentee,
        by_kind: &s.by_kind,
        last_activity: s.last_activity,
        day: s.day,
    }
}

fn announcement(kind: &'static str, e: &Escalation, body: serde_json::Value) -> Announcement {
    let mut payload = serde_json::json!({
        "event_id": format!("{}:{kind}", e.mentorship_id),
        "mentorship_id": e.mentorship_id,
        "program_id": e.program_id,
        "coordinator_key": e.coordinator_key,
        "opened_at": e.opened_at,
        "rules": e.rules.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
    });
    if let (Some(all), serde_json::Value::Object(more)) = (payload.as_object_mut(), body) {
        all.extend(more);
    }
    // An absent optional field is left out, as in the events firstweek takes in.
    drop_nulls(&mut payload);
    Announcement {
        event_id: format!("{}:{kind}", e.mentorship_id),
        routing_key: kind,
        payload,
    }
}

fn drop_nulls(v: &mut serde_json::Value) {
    if let Some(map) = v.as_object_mut() {
        map.retain(|_, value| !value.is_null());
        map.values_mut().for_each(drop_nulls);
    }
}

/// `escalation.opened`: the step that opened it and what it saw.
pub fn opened(e: &Escalation) -> Announcement {
    let evidence = e.evidence.first().map(counts);
    announcement(
        event::ESCALATION_OPENED,
        e,
        serde_json::json!({ "opened_by": e.opened_by, "evidence": evidence }),
    )
}

/// `escalation.acknowledged`: when, how, and how long after it opened.
pub fn acknowledged(e: &Escalation, at: DateTime<Utc>, via: AckVia) -> Announcement {
    let seconds = (at - e.opened_at).num_milliseconds().max(0) as f64 / 1000.0;
    announcement(
        event::ESCALATION_ACKNOWLEDGED,
        e,
        serde_json::json!({
            "acknowledged_at": at,
            "via": via,
            "seconds_to_acknowledge": seconds,
        }),
    )
}

/// `escalation.resolved`: when, how, whether anyone had acknowledged it,
/// and the pair's counts at that moment.
pub fn resolved(
    e: &Escalation,
    at: DateTime<Utc>,
    how: Resolution,
    summary: &Summary,
) -> Announcement {
    announcement(
        event::ESCALATION_RESOLVED,
        e,
        serde_json::json!({
            "resolved_at": at,
            "how": how,
            "acknowledged": e.acknowledged.is_some(),
            "counts": { "total": summary.total, "mentor": summary.mentor, "mentee": summary.mentee },
        }),
    )
}

/// The conditions of `fired` not in `known` yet, in order.
pub fn new_rules(known: &[Condition], fired: &[Condition]) -> Vec<Condition> {
    fired
        .iter()
        .copied()
        .filter(|c| !known.contains(c))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::escalation::Notice;
    use crate::playbook::Playbook;
    use crate::timeline::{SendWindow, TimeScale};
    use chrono::Duration;

    fn escalation(state: State) -> Escalation {
        let at = Utc::now();
        Escalation {
            mentorship_id: "m-1".into(),
            coordinator_key: "coordinator-1".into(),
            program_id: None,
            opened_at: at,
            opened_by: "escalation_early".into(),
            rules: vec![Condition::NoInteraction],
            evidence: Vec::new(),
            state,
            acknowledged: (state == State::Acknowledged).then_some((at, AckVia::Link)),
            reminded_at: None,
            resolved: (state == State::Resolved).then_some((at, Resolution::Recovered)),
        }
    }

    #[test]
    fn a_reminder_goes_only_to_an_escalation_nobody_acknowledged() {
        let open = escalation(State::Open);
        assert_eq!(notice(Notice::Reminder, Some(&open)), Ok(()));
        let acked = escalation(State::Acknowledged);
        assert_eq!(
            notice(Notice::Reminder, Some(&acked)),
            Err(Withdrawn::Acknowledged)
        );
        let over = escalation(State::Resolved);
        assert_eq!(
            notice(Notice::Reminder, Some(&over)),
            Err(Withdrawn::Resolved)
        );
        assert_eq!(notice(Notice::Reminder, None), Err(Withdrawn::NoEscalation));
    }

    #[test]
    fn the_resolution_notice_goes_once_resolved_acknowledged_or_not() {
        assert_eq!(
            notice(Notice::Resolved, Some(&escalation(State::Resolved))),
            Ok(())
        );
        assert_eq!(
            notice(Notice::Resolved, Some(&escalation(State::Open))),
            Err(Withdrawn::NotResolved)
        );
        let mut by_hand = escalation(State::Resolved);
        by_hand.resolved = Some((Utc::now(), Resolution::Coordinator));
        assert_eq!(
            notice(Notice::Resolved, Some(&by_hand)),
            Err(Withdrawn::ClosedByCoordinator)
        );
    }

    #[test]
    fn the_reminder_is_due_remind_after_in_program_time() {
        let rules = Rules {
            playbook: Playbook::built_in(),
            programs: Default::default(),
            scale: TimeScale::new(24.0).unwrap_or_else(|| unreachable!()),
            window: SendWindow::Off,
        };
        let at = Utc::now();
        // Two program days at 24x are two wall-clock hours.
        assert_eq!(remind_at(&rules, at), Some(at + Duration::hours(2)));
        let off = Rules {
            playbook: Playbook::parse(
                "t.toml",
                "name = \"t\"\nremind_after = \"off\"\n[[step]]\nid = \"a\"\nat = \"0d\"\nto = [\"mentor\"]\n",
            )
            .unwrap_or_else(|e| panic!("{e}")),
            ..rules
        };
        assert_eq!(remind_at(&off, at), None);
    }

    #[test]
    fn events_carry_ids_rules_and_times_only() {
        let e = escalation(State::Acknowledged);
        let a = acknowledged(&e, e.opened_at + Duration::seconds(90), AckVia::Page);
        assert_eq!(a.routing_key, "escalation.acknowledged");
        assert_eq!(a.payload["seconds_to_acknowledge"], 90.0);
        assert_eq!(a.payload["via"], "page");
        assert_eq!(a.payload["rules"][0], "no_interaction");
        assert_eq!(a.event_id, "m-1:escalation.acknowledged");
    }
}
