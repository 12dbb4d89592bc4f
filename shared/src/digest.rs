//! The coordinators' daily digest: one email a day to each coordinator with
//! pairs in (or just past) their first week, listing each pair's progress and
//! the escalation rules that currently fire ([`crate::decision::risks`]).
//!
//! A digest rides the same rails as any step: the scheduler's daily job adds
//! a timeline row per coordinator (a digest subject, step `digest-<date>`),
//! unique per day, so replicas and restarts add it once; the worker gathers
//! the coordinator's pairs and sends it through the delivery ledger like any
//! email. This module is the pure part: what a digest says.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Serialize;

use crate::decision::{self, Pair, Rules};
use crate::timeline;

/// Step ids of digests start with this, followed by the date.
pub const STEP_PREFIX: &str = "digest-";
/// The template digests use.
pub const TEMPLATE: &str = "digest";

/// The step id of the digest of `day`.
pub fn step_id(day: NaiveDate) -> String {
    format!("{STEP_PREFIX}{day}")
}

/// The date part of a digest's step id.
pub fn date_of(step_id: &str) -> Option<&str> {
    step_id.strip_prefix(STEP_PREFIX)
}

/// What a digest email carries in `X-Firstweek-Mentorship` and derives its
/// Message-ID from: it is about no one pair, so it names its coordinator
/// (the email's own recipient).
pub fn header_id(coordinator_email: &str) -> String {
    format!("digest:{coordinator_email}")
}

/// How far back a pair still belongs in the digest: its first week and one day.
pub fn horizon(rules: &Rules) -> Duration {
    decision::horizon(rules, Duration::days(1))
}

/// One pair's line in a digest.
#[derive(Debug, Clone, Serialize)]
pub struct PairLine {
    /// The pair's id.
    pub mentorship_id: String,
    /// The mentor's name.
    pub mentor: String,
    /// The mentee's name.
    pub mentee: String,
    /// Program day of the first week (0-based).
    pub day: i64,
    /// Interactions so far.
    pub total: u32,
    /// Of which by the mentor.
    pub by_mentor: u32,
    /// Of which by the mentee.
    pub by_mentee: u32,
    /// A plan or goals were shared.
    pub has_plan: bool,
    /// The escalation rules that fire as of now, in words (empty: on track).
    pub risks: Vec<String>,
}

/// Everything the digest template may use.
#[derive(Debug, Clone, Serialize)]
pub struct DigestContext {
    /// The coordinator's name.
    pub coordinator: String,
    /// The digest's date (`YYYY-MM-DD`).
    pub date: String,
    /// One line per pair.
    pub pairs: Vec<PairLine>,
    /// How many of them need a look.
    pub at_risk: usize,
    /// The coordinator's own page (`FIRSTWEEK_PUBLIC_URL` set), if any.
    pub page_url: Option<String>,
}

impl DigestContext {
    /// The digest of these pairs; `None` when there is no pair to report.
    pub fn new(coordinator: String, date: &str, pairs: Vec<PairLine>) -> Option<DigestContext> {
        if pairs.is_empty() {
            return None;
        }
        let at_risk = pairs.iter().filter(|p| !p.risks.is_empty()).count();
        Some(DigestContext {
            coordinator,
            date: date.to_string(),
            pairs,
            at_risk,
            page_url: None,
        })
    }

    /// The same digest, linking to the coordinator's page.
    pub fn with_page(mut self, url: String) -> DigestContext {
        self.page_url = Some(url);
        self
    }
}

/// One pair's line as of `now`.
pub fn line(rules: &Rules, pair: Pair<'_>, now: DateTime<Utc>) -> PairLine {
    let started = pair.started;
    let summary = decision::week_summary(rules, pair, now);
    PairLine {
        mentorship_id: started.mentorship_id.clone(),
        mentor: started.mentor.name.clone(),
        mentee: started.mentee.name.clone(),
        day: timeline::program_day(started.started_at, now, rules.scale),
        total: summary.total,
        by_mentor: summary.mentor,
        by_mentee: summary.mentee,
        has_plan: summary.has_plan(),
        risks: decision::risks(rules, pair, now)
            .into_iter()
            .map(|r| r.reason)
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Actor, Coordinator, InteractionKind, MentorshipStarted, Person};
    use crate::interaction::Interaction;
    use crate::playbook::Playbook;
    use crate::timeline::{SendWindow, TimeScale};

    fn rules() -> Rules {
        Rules {
            playbook: Playbook::built_in(),
            scale: TimeScale::REAL,
            window: SendWindow::Off,
        }
    }

    fn pair(started_at: DateTime<Utc>) -> MentorshipStarted {
        let p = |n: &str| Person {
            id: n.into(),
            name: n.into(),
            email: format!("{n}@example.org"),
            timezone: "UTC".into(),
        };
        MentorshipStarted {
            event_id: "e".into(),
            mentorship_id: "m".into(),
            program_id: None,
            started_at,
            mentor: p("ada"),
            mentee: p("bo"),
            coordinator: Coordinator {
                name: "Cy".into(),
                email: "cy@example.org".into(),
                timezone: None,
            },
        }
    }

    #[test]
    fn digest_step_ids_carry_their_date() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
        assert_eq!(step_id(day), "digest-2026-11-24");
        assert_eq!(date_of(&step_id(day)), Some("2026-11-24"));
        assert_eq!(date_of("welcome"), None);
    }

    fn at(started: &MentorshipStarted, ledger: &[Interaction], now: DateTime<Utc>) -> PairLine {
        line(
            &rules(),
            Pair {
                started,
                ended_at: None,
                ledger,
                unsubscribed: &[],
            },
            now,
        )
    }

    #[test]
    fn a_line_shows_progress_and_only_the_risks_the_week_has_had_time_for() {
        let now: DateTime<Utc> = "2026-11-24T12:00:00Z".parse().unwrap();
        let silent_since_day_0 = at(&pair(now - Duration::hours(12)), &[], now);
        assert_eq!(
            (silent_since_day_0.day, silent_since_day_0.risks.len()),
            (0, 0),
            "day 0: too early to worry"
        );

        let msg = |actor, h| Interaction {
            kind: InteractionKind::Message,
            actor,
            occurred_at: now - Duration::hours(h),
            duration_minutes: None,
        };
        let ledger = [msg(Actor::Mentor, 70), msg(Actor::Mentor, 50)];
        let one_sided = at(&pair(now - Duration::hours(80)), &ledger, now);
        assert_eq!(one_sided.day, 3);
        assert_eq!(
            (one_sided.total, one_sided.by_mentor, one_sided.by_mentee),
            (2, 2, 0)
        );
        // Day 3: one-sided already; two interactions are enough for three days; a plan is not asked for before day 4.
        assert_eq!(
            one_sided.risks,
            vec!["one-sided: only the mentor has interacted".to_string()]
        );

        let silent_day_5 = at(&pair(now - Duration::hours(125)), &[], now);
        assert_eq!(silent_day_5.day, 5);
        let firsts: Vec<&str> = silent_day_5
            .risks
            .iter()
            .map(|r| r.split(':').next().unwrap_or(""))
            .collect();
        assert_eq!(
            firsts,
            vec![
                "no interaction at all",
                "low interaction",
                "no plan or goals shared yet"
            ],
            "{:?}",
            silent_day_5.risks
        );
    }

    #[test]
    fn the_digest_renders_with_the_pairs_that_need_a_look() {
        let now: DateTime<Utc> = "2026-11-24T12:00:00Z".parse().unwrap();
        let ctx = DigestContext {
            coordinator: "Cy".into(),
            date: "2026-11-24".into(),
            pairs: vec![at(&pair(now - Duration::hours(80)), &[], now)],
            at_risk: 1,
            page_url: Some("https://fw.example.org/c/abc".into()),
        };
        let t = crate::email::Templates::load(None).unwrap();
        let from: lettre::message::Mailbox = "fw <fw@example.org>".parse().unwrap();
        let c = crate::email::compose_any(
            &t,
            TEMPLATE,
            &ctx,
            ("digest-2026-11-24", "digest:cy@example.org"),
            &from,
            "Cy",
            "cy@example.org",
            "<x@example.org>".into(),
        )
        .unwrap();
        let raw = String::from_utf8(c.message.formatted()).unwrap();
        assert!(
            raw.contains("https://fw.example.org/c/abc"),
            "the page link is in the digest"
        );
        assert!(
            raw.contains("Subject: Your mentorship pairs today: 1 of 1 need a look"),
            "{raw}"
        );
        assert!(raw.contains("needs a look: no interaction at all"), "{raw}");
        assert!(raw.contains("X-Firstweek-Step: digest-2026-11-24"));
    }
}
