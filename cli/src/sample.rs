//! A sample pair and ledger for previews and template checks.

use chrono::{DateTime, Duration, Utc};
use firstweek::digest::{DigestContext, PairLine};
use firstweek::email::{Context, reason_text};
use firstweek::event::{Actor, Coordinator, InteractionKind, MentorshipStarted, Person};
use firstweek::interaction::{Interaction, Summary};
use firstweek::playbook::{Playbook, Recipient, Step, Trigger};

/// A pair far enough apart in time zones to show every branch of the welcome.
pub fn pair(started_at: DateTime<Utc>) -> MentorshipStarted {
    MentorshipStarted {
        event_id: "sample-start".into(),
        mentorship_id: "m-sample".into(),
        program_id: Some("sample-program".into()),
        started_at,
        mentor: Person {
            id: "p-ada".into(),
            name: "Ada Lovelace".into(),
            email: "ada@example.org".into(),
            timezone: "Europe/London".into(),
        },
        mentee: Person {
            id: "p-grace".into(),
            name: "Grace Hopper".into(),
            email: "grace@example.org".into(),
            timezone: "Asia/Tokyo".into(),
        },
        coordinator: Coordinator {
            name: "Cy Coordinator".into(),
            email: "cy@example.org".into(),
            timezone: Some("Europe/Berlin".into()),
        },
    }
}

/// A quiet, one-sided first week: two messages from the mentor, nothing else.
pub fn ledger(started_at: DateTime<Utc>) -> Vec<Interaction> {
    [3, 30]
        .into_iter()
        .map(|h| Interaction {
            kind: InteractionKind::Message,
            actor: Actor::Mentor,
            occurred_at: started_at + Duration::hours(h),
            duration_minutes: None,
        })
        .collect()
}

/// The step that uses `template` (the one named like it first), if any.
pub fn step_for<'a>(playbook: &'a Playbook, template: &str) -> Option<&'a Step> {
    playbook
        .step(template)
        .filter(|s| s.template == template)
        .or_else(|| playbook.steps.iter().find(|s| s.template == template))
}

/// The template context of `step_id` for `recipient`, as if the step fell due
/// `offset` after a start that was exactly that long ago.
pub fn context(
    playbook: &Playbook,
    step: Option<&Step>,
    step_id: &str,
    recipient: Recipient,
    now: DateTime<Utc>,
) -> Context {
    let offset = match step.map(|s| &s.trigger) {
        Some(Trigger::At(d)) => *d,
        _ => Duration::days(1),
    };
    let started_at = now - offset;
    let started = pair(started_at);
    let ledger = ledger(started_at);
    let summary = Summary::as_of(&ledger, now);
    let min = playbook.thresholds.min_interactions;
    // Every reason the step can give, so a preview shows them all.
    let reasons = step
        .map(|s| {
            s.when
                .iter()
                .map(|c| reason_text(*c, &summary, min))
                .collect()
        })
        .unwrap_or_default();
    Context::new(
        &started,
        step_id,
        recipient,
        now,
        firstweek::timeline::TimeScale::REAL,
        summary,
        reasons,
        now,
    )
}

/// A coordinator's daily digest with two pairs, one of them at risk.
pub fn digest(now: DateTime<Utc>) -> DigestContext {
    let pair =
        |id: &str, mentor: &str, mentee: &str, day, (m, e): (u32, u32), plan, risks: &[&str]| {
            PairLine {
                mentorship_id: id.into(),
                mentor: mentor.into(),
                mentee: mentee.into(),
                day,
                total: m + e,
                by_mentor: m,
                by_mentee: e,
                has_plan: plan,
                risks: risks.iter().map(|r| r.to_string()).collect(),
            }
        };
    DigestContext {
        page_url: Some("https://firstweek.example.org/c/sample-token".into()),
        coordinator: "Cy Coordinator".into(),
        date: now.format("%Y-%m-%d").to_string(),
        pairs: vec![
            pair(
                "m-sample",
                "Ada Lovelace",
                "Grace Hopper",
                5,
                (2, 0),
                false,
                &[
                    "one-sided: only the mentor has interacted",
                    "no plan or goals shared yet",
                ],
            ),
            pair("m-sample-2", "Alan Turing", "Bo Chen", 3, (3, 4), true, &[]),
        ],
        at_risk: 1,
    }
}
