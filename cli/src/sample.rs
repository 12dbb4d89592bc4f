//! A sample pair and ledger for previews and template checks.

use chrono::{DateTime, Duration, Utc};
use firstweek::coordinator::advice;
use firstweek::day::Day;
use firstweek::digest::{DigestContext, EscalationLine, Others, PairLine};
use firstweek::email::Context;
use firstweek::event::{Actor, Coordinator, InteractionKind, MentorshipStarted, Person};
use firstweek::interaction::{Interaction, KindCount, Summary};
use firstweek::playbook::{Playbook, Step, Trigger};
use firstweek::rule::{Condition, Recipient};

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
            locale: None,
        },
        mentee: Person {
            id: "p-grace".into(),
            name: "Grace Hopper".into(),
            email: "grace@example.org".into(),
            timezone: "Asia/Tokyo".into(),
            locale: None,
        },
        coordinator: Coordinator {
            name: "Cy Coordinator".into(),
            email: "cy@example.org".into(),
            timezone: Some("Europe/Berlin".into()),
            locale: None,
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
    context_in(None, playbook, step, step_id, recipient, now)
}

/// [`context`], with every person of the sample pair reading `locale`.
pub fn context_in(
    locale: Option<&str>,
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
    let mut started = pair(started_at);
    started.mentor.locale = locale.map(Into::into);
    started.mentee.locale = locale.map(Into::into);
    started.coordinator.locale = locale.map(Into::into);
    let ledger = ledger(started_at);
    let summary = Summary::as_of(&ledger, now);
    // Every reason the step can give, so a preview shows them all.
    let reasons = step
        .map(|s| {
            s.when
                .iter()
                .map(|c| c.wording(&summary, &playbook.thresholds))
                .collect()
        })
        .unwrap_or_default();
    // How the pair reaches each other, and the welcome's call times, as the
    // services would send them with the default send window.
    let template = step.map_or(step_id, |s| s.template.as_str());
    // The coordinator's advice follows the step's conditions, as an escalation's does.
    let advice = match (recipient, step) {
        (Recipient::Coordinator, Some(s)) => advice::lines(&s.when, &summary),
        (Recipient::Coordinator, None) => advice::lines(&[Condition::OneSided], &summary),
        _ => Vec::new(),
    };
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
    .with_reach(
        &started,
        playbook,
        firstweek::timeline::SendWindow::default(),
        template,
        now,
    )
    .with_advice(advice)
}

/// A coordinator's daily digest: an escalation waiting, a pair trending
/// low, and the rest counted.
pub fn digest(now: DateTime<Utc>) -> DigestContext {
    DigestContext {
        locale: firstweek::locale::DEFAULT.into(),
        page_url: Some("https://firstweek.example.org/c/sample-token".into()),
        coordinator: "Cy Coordinator".into(),
        date: now.format("%Y-%m-%d").to_string(),
        escalations: vec![EscalationLine {
            mentorship_id: "m-sample".into(),
            mentor: Some("Ada Lovelace".into()),
            mentee: Some("Grace Hopper".into()),
            rules: vec![
                "one-sided: only the mentor has interacted".into(),
                "no plan or goals shared yet".into(),
            ],
            day: Day::nth(5),
            opened_day: Some(Day::nth(4)),
            total: 2,
            by_mentor: 2,
            by_mentee: 0,
            kinds: vec![KindCount {
                kind: "message".into(),
                mentor: 2,
                mentee: 0,
            }],
            last_activity: Some("Sat 21 Nov 18:10 CET".into()),
            open_since: "Sun 22 Nov 09:00 CET".into(),
            advice: advice::lines(
                &[Condition::OneSided, Condition::NoPlan],
                &Summary::as_of(&ledger(now - Duration::days(5)), now),
            ),
            url: Some("https://firstweek.example.org/c/sample-token/pairs/m-sample".into()),
        }],
        trending_low: vec![PairLine {
            mentorship_id: "m-sample-2".into(),
            mentor: "Alan Turing".into(),
            mentee: "Bo Chen".into(),
            day: Day::nth(3),
            week_days: 7,
            total: 1,
            by_mentor: 1,
            by_mentee: 0,
            has_plan: false,
            risks: vec!["one-sided: only the mentor has interacted".into()],
            advice: advice::lines(
                &[Condition::OneSided],
                &Summary::as_of(&ledger(now - Duration::days(3)), now),
            ),
            url: Some("https://firstweek.example.org/c/sample-token/pairs/m-sample-2".into()),
        }],
        others: Others {
            total: 12,
            on_track: 11,
            acknowledged: 1,
        },
        all_quiet: false,
    }
}

/// The same coordinator's digest on a day with nothing to act on, as sent
/// when the playbook sets `digest_all_quiet`.
pub fn digest_all_quiet(now: DateTime<Utc>) -> DigestContext {
    DigestContext {
        locale: firstweek::locale::DEFAULT.into(),
        escalations: vec![],
        trending_low: vec![],
        all_quiet: true,
        ..digest(now)
    }
}
