//! A pair's week in plain words for its coordinator: each step of its
//! timeline named as people know it ("Check-in to the mentor") with what
//! became of it ("not needed: they had already both been in touch"), and
//! its interactions (kinds and times, never content). No step ids or
//! condition codes reach the coordinator.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use super::outcome::Outcome;
use crate::day::Day;
use crate::escalation::Notice;
use crate::event::InteractionKind;
use crate::interaction::Interaction;
use crate::locale::Locale;
use crate::playbook::Playbook;
use crate::rule::Recipient;
use crate::timeline::TimeScale;

/// One timeline row as the stored timeline has it.
#[derive(Debug, Clone, Copy)]
pub struct StoredStep<'a> {
    /// The step id.
    pub step_id: &'a str,
    /// `mentor`, `mentee` or `coordinator`.
    pub recipient: &'a str,
    /// When it fell (or falls) due.
    pub due_at: DateTime<Utc>,
    /// Its stored status (`scheduled`, `sent`, `skipped`, ...).
    pub status: &'a str,
    /// The reason recorded with it, if any.
    pub outcome: Option<&'a str>,
}

/// One step of the pair's week, in words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlainStep {
    /// e.g. `Check-in`.
    pub what: String,
    /// The template it sends (`check_in`, ...), for pages that name it in
    /// their own language.
    pub template: String,
    /// e.g. `to the mentor`, `to you`.
    pub to: String,
    /// `mentor`, `mentee`, `coordinator` (empty when unknown).
    pub recipient: String,
    /// The day of the pair's week it fell due on.
    pub day: Day,
    /// When it fell due, in the coordinator's zone.
    pub when: String,
    /// What became of it, e.g. `sent`, `not needed: ...`.
    pub outcome: String,
    /// The same as a key, for pages that word it in their own language.
    pub became: Outcome,
    /// It went out.
    pub sent: bool,
}

/// One interaction as the coordinator sees it: kind, side and time only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlainInteraction {
    /// e.g. `message`, `plan shared`, `working session (90 min)`.
    pub kind: String,
    /// The kind's name (`message`, `plan_shared`, ...).
    pub kind_key: &'static str,
    /// How long it took, when told (a call, a session).
    pub minutes: Option<u32>,
    /// `mentor` or `mentee`.
    pub by: &'static str,
    /// The day of the pair's week it occurred on.
    pub day: Day,
    /// When it occurred, in the coordinator's zone.
    pub when: String,
}

/// The steps of a pair's timeline in words. `started_at` and `scale` date
/// each on the pair's week; `tz` is the coordinator's zone, `locale`
/// theirs (the dates).
pub fn steps(
    rows: &[StoredStep<'_>],
    playbook: &Playbook,
    started_at: DateTime<Utc>,
    scale: TimeScale,
    tz: Option<Tz>,
    locale: &Locale,
) -> Vec<PlainStep> {
    rows.iter()
        .map(|r| PlainStep {
            what: step_name(r.step_id, playbook),
            template: step_template(r.step_id, playbook).to_string(),
            recipient: Recipient::parse(r.recipient)
                .map(|x| x.as_str().to_string())
                .unwrap_or_default(),
            to: match Recipient::parse(r.recipient) {
                Some(Recipient::Coordinator) => "to you".into(),
                Some(side) => format!("to the {side}"),
                None => String::new(),
            },
            day: Day::of(started_at, r.due_at, scale),
            when: super::when_in(locale, r.due_at, tz),
            outcome: outcome(r.status, r.outcome, playbook),
            became: Outcome::of(r.status, r.outcome, playbook),
            sent: r.status == "sent",
        })
        .collect()
}

/// The template a step sends (a notice's own; a step id the playbook
/// does not know stands for itself).
pub fn step_template<'a>(step_id: &'a str, playbook: &'a Playbook) -> &'a str {
    match Notice::ALL.into_iter().find(|n| n.step_id() == step_id) {
        Some(n) => n.step_id(),
        None => playbook
            .step(step_id)
            .map_or(step_id, |s| s.template.as_str()),
    }
}

/// A step as people know it: by its template (so a program's own step ids
/// read as the email it sends), else its id in words.
pub fn step_name(step_id: &str, playbook: &Playbook) -> String {
    match step_template(step_id, playbook) {
        "welcome" => "Welcome".into(),
        "check_in" => "Check-in".into(),
        "plan_reminder" => "Plan reminder".into(),
        "wrap_up" => "Wrap-up".into(),
        "pacing_tip" => "Pacing tip".into(),
        "escalation" => "Escalation".into(),
        "escalation_reminder" => "Escalation reminder".into(),
        "escalation_resolved" => "Escalation resolved".into(),
        other => humanize(other),
    }
}

/// `intro_call` reads "Intro call".
fn humanize(id: &str) -> String {
    let words = id.replace(['_', '-'], " ");
    let mut chars = words.trim().chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// What became of a step, from its status and recorded reason, in English
/// words ([`Outcome`] has it as a key for other locales).
pub fn outcome(status: &str, reason: Option<&str>, playbook: &Playbook) -> String {
    Outcome::of(status, reason, playbook).words(playbook)
}

/// The pair's interactions, oldest first: kind, side and time, never content.
pub fn interactions(
    ledger: &[Interaction],
    started_at: DateTime<Utc>,
    scale: TimeScale,
    tz: Option<Tz>,
    locale: &Locale,
) -> Vec<PlainInteraction> {
    let mut all: Vec<&Interaction> = ledger.iter().collect();
    all.sort_by_key(|i| i.occurred_at);
    all.into_iter()
        .map(|i| PlainInteraction {
            kind: kind_words(i.kind, i.duration_minutes),
            kind_key: i.kind.as_str(),
            minutes: i.duration_minutes,
            by: i.actor.as_str(),
            day: Day::of(started_at, i.occurred_at, scale),
            when: super::when_in(locale, i.occurred_at, tz),
        })
        .collect()
}

/// An interaction's kind in words.
pub fn kind_words(kind: InteractionKind, minutes: Option<u32>) -> String {
    let words = match kind {
        InteractionKind::Message => "message",
        InteractionKind::Call => "call",
        InteractionKind::Meeting => "meeting",
        InteractionKind::PlanShared => "plan shared",
        InteractionKind::GoalSet => "goals set",
        InteractionKind::Session => "working session",
        InteractionKind::DeliverableRequested => "deliverable requested",
    };
    match minutes {
        Some(m) => format!("{words} ({m} min)"),
        None => words.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::Skip;
    use crate::decision::escalation::Withdrawn;
    use crate::event::Actor;
    use crate::rule::Condition;

    fn built_in() -> Playbook {
        Playbook::built_in()
    }

    #[test]
    fn skipped_steps_say_why_in_plain_words() {
        let p = built_in();
        let check_in = Skip::ConditionNotMet(vec![Condition::NoTwoWay]).reason();
        assert_eq!(
            outcome("skipped", Some(&check_in), &p),
            "not needed: they had already both been in touch"
        );
        let escalation = Skip::ConditionNotMet(vec![
            Condition::LowInteraction,
            Condition::OneSided,
            Condition::NoPlan,
        ])
        .reason();
        assert_eq!(
            outcome("skipped", Some(&escalation), &p),
            "not needed: they had been in touch often enough, it was not one-sided and they had already shared a plan or goals"
        );
        let added = Skip::AddedToEscalation {
            opened_by: "escalation_early".into(),
        }
        .reason();
        assert_eq!(
            outcome("skipped", Some(&added), &p),
            "added to the escalation already open (from the escalation)"
        );
        assert_eq!(
            outcome("skipped", Some(&Skip::Holdout.reason()), &p),
            "not sent: held out of this step, to measure what it does"
        );
        let once = Skip::OnceKeyTaken {
            once_key: "escalation".into(),
            by_step: "escalation_early".into(),
            status: "sent".into(),
        }
        .reason();
        assert_eq!(
            outcome("skipped", Some(&once), &p),
            "not sent again: the escalation already reached them"
        );
        assert_eq!(
            outcome("skipped", Some(Withdrawn::Acknowledged.reason()), &p),
            "not needed: the escalation was acknowledged"
        );
        assert_eq!(
            outcome("cancelled", Some("mentorship ended"), &p),
            "cancelled: the mentorship ended"
        );
        // Whatever a reason says, no code reaches the page.
        for reason in [
            Skip::NotInPlaybook.reason(),
            Skip::UnknownPair.reason(),
            Skip::Unsubscribed.reason(),
            Skip::Erased.reason(),
            "some_new_code: x".into(),
            "stale: handled 90000 s after it became sendable".into(),
        ] {
            let words = outcome("skipped", Some(&reason), &p);
            assert!(!words.contains('_'), "{reason}: {words}");
        }
    }

    #[test]
    fn steps_are_named_as_people_know_them() {
        let p = built_in();
        assert_eq!(step_name("check_in", &p), "Check-in");
        assert_eq!(step_name("escalation_early", &p), "Escalation");
        assert_eq!(step_name("escalation_reminder", &p), "Escalation reminder");
        assert_eq!(step_name("intro_call", &p), "Intro call");
        let start: DateTime<Utc> = "2026-11-02T09:00:00Z".parse().unwrap_or_default();
        let rows = [StoredStep {
            step_id: "check_in",
            recipient: "mentee",
            due_at: start + chrono::Duration::days(2),
            status: "skipped",
            outcome: Some("condition not met: no_two_way"),
        }];
        let plain = steps(
            &rows,
            &p,
            start,
            TimeScale::REAL,
            Some(chrono_tz::Europe::Berlin),
            &Locale::default(),
        );
        assert_eq!(plain[0].what, "Check-in");
        assert_eq!(plain[0].to, "to the mentee");
        assert_eq!(
            plain[0].day,
            Day::of(start, start + chrono::Duration::days(2), TimeScale::REAL)
        );
        assert_eq!(plain[0].day.number(), 2);
        assert_eq!(plain[0].when, "Wed 04 Nov 10:00 CET");
    }

    #[test]
    fn interactions_show_kind_side_and_time_only() {
        let start: DateTime<Utc> = "2026-11-02T09:00:00Z".parse().unwrap_or_default();
        let ledger = [
            Interaction {
                kind: InteractionKind::Session,
                actor: Actor::Mentee,
                occurred_at: start + chrono::Duration::hours(30),
                duration_minutes: Some(90),
            },
            Interaction {
                kind: InteractionKind::PlanShared,
                actor: Actor::Mentor,
                occurred_at: start + chrono::Duration::hours(2),
                duration_minutes: None,
            },
        ];
        let plain = interactions(&ledger, start, TimeScale::REAL, None, &Locale::default());
        assert_eq!(plain[0].kind, "plan shared");
        assert_eq!((plain[0].by, plain[0].day.number()), ("mentor", 1));
        assert_eq!(plain[1].kind, "working session (90 min)");
        assert_eq!(plain[1].day.number(), 2);
        assert_eq!(plain[1].when, "Tue 03 Nov 15:00 UTC");
    }
}
