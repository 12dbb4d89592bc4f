//! The coordinators' daily digest: one email a day to each coordinator with
//! pairs in (or just past) their first week, listing each pair's progress and
//! the escalation rules that currently fire.
//!
//! A digest rides the same rails as any step: the scheduler's daily job adds
//! a timeline row per coordinator (`mentorship_id` = `digest:<email>`, step
//! `digest-<date>`), unique per day, so replicas and restarts add it once; the
//! worker judges and sends it through the delivery ledger like any email.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Serialize;
use sqlx::PgPool;

use crate::event::MentorshipStarted;
use crate::interaction::{Condition, Summary};
use crate::playbook::Recipient;
use crate::store::{self, Rules, StoreError};

/// Step ids of digests start with this, followed by the date.
pub const STEP_PREFIX: &str = "digest-";
/// Timeline `mentorship_id` of a coordinator's digests: this, then the address.
pub const KEY_PREFIX: &str = "digest:";
/// The template digests use.
pub const TEMPLATE: &str = "digest";

/// The coordinator's address and the date of a digest row, or `None` when the
/// row is not a digest.
pub fn of_row<'a>(mentorship_id: &'a str, step_id: &'a str) -> Option<(&'a str, &'a str)> {
    let email = mentorship_id.strip_prefix(KEY_PREFIX)?;
    let date = step_id.strip_prefix(STEP_PREFIX)?;
    Some((email, date))
}

/// How far back a pair still belongs in the digest: its first week and one day.
fn horizon(rules: &Rules) -> Duration {
    rules.scale.wall(rules.playbook.week() + Duration::days(1))
}

/// Adds today's digest row for every coordinator with pairs to report; returns how many were new.
pub async fn schedule(pool: &PgPool, rules: &Rules, day: NaiveDate) -> Result<u64, StoreError> {
    let added = sqlx::query(
        "INSERT INTO timeline (mentorship_id, step_id, recipient, due_at, send_at, next_at)
         SELECT $1 || email, $2, 'coordinator', now(), now(), now()
         FROM (SELECT DISTINCT people -> 'coordinator' ->> 'email' AS email FROM mentorships
               WHERE ended_at IS NULL AND started_at > now() - $3) AS c
         ON CONFLICT (mentorship_id, step_id, recipient) DO NOTHING",
    )
    .bind(KEY_PREFIX)
    .bind(format!("{STEP_PREFIX}{day}"))
    .bind(horizon(rules))
    .execute(pool)
    .await?
    .rows_affected();
    Ok(added)
}

/// One pair's line in a digest.
#[derive(Debug, Clone, Serialize)]
pub struct PairLine {
    pub mentorship_id: String,
    pub mentor: String,
    pub mentee: String,
    /// Program day of the first week (0-based).
    pub day: i64,
    pub total: u32,
    pub by_mentor: u32,
    pub by_mentee: u32,
    pub has_plan: bool,
    /// The escalation rules that fire as of now (empty: on track).
    pub risks: Vec<String>,
}

/// Everything the digest template may use.
#[derive(Debug, Clone, Serialize)]
pub struct DigestContext {
    pub coordinator: String,
    pub date: String,
    pub pairs: Vec<PairLine>,
    pub at_risk: usize,
}

/// The digest of one coordinator as of `now`, or `None` when no pair is left to report.
pub async fn gather(
    pool: &PgPool,
    rules: &Rules,
    coordinator_email: &str,
    date: &str,
    now: DateTime<Utc>,
) -> Result<Option<DigestContext>, StoreError> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT id FROM mentorships
         WHERE people -> 'coordinator' ->> 'email' = $1 AND ended_at IS NULL AND started_at > now() - $2
         ORDER BY started_at, id",
    )
    .bind(coordinator_email)
    .bind(horizon(rules))
    .fetch_all(pool)
    .await?;
    let mut pairs = Vec::with_capacity(rows.len());
    let mut coordinator = coordinator_email.to_string();
    for (id,) in rows {
        let Some((started, _)) = store::mentorship(pool, &id).await? else {
            continue;
        };
        let ledger = store::interactions(pool, &id).await?;
        coordinator = started.coordinator.name.clone();
        pairs.push(line(&started, &Summary::as_of(&ledger, now), rules, now));
    }
    if pairs.is_empty() {
        return Ok(None);
    }
    let at_risk = pairs.iter().filter(|p| !p.risks.is_empty()).count();
    Ok(Some(DigestContext {
        coordinator,
        date: date.to_string(),
        pairs,
        at_risk,
    }))
}

/// The conditions of the playbook's coordinator steps: what "at risk" means.
pub fn risk_conditions(rules: &Rules) -> Vec<Condition> {
    let mut conditions = Vec::new();
    for step in rules
        .playbook
        .steps
        .iter()
        .filter(|s| s.recipients.contains(&Recipient::Coordinator))
    {
        for c in &step.when {
            if *c != Condition::Always && !conditions.contains(c) {
                conditions.push(*c);
            }
        }
    }
    conditions
}

/// Early in the week "no plan yet" is normal: a rule is only applied once the
/// week has had time for it. Silence counts from day 1 and one-sidedness from
/// day 2; "no plan" from the day the playbook first acts on it (the plan
/// reminder: day 4 in the built-in one); "low interaction" against the share
/// of the week gone by (3 interactions a week: at least 1 by day 3).
fn due_for_a_look(condition: Condition, day: i64, summary: &Summary, rules: &Rules) -> bool {
    let playbook = &rules.playbook;
    match condition {
        Condition::NoInteraction => day >= 1,
        Condition::OneSided => day >= 2,
        Condition::NoPlan => {
            let first = playbook
                .steps
                .iter()
                .filter(|s| s.when.contains(&Condition::NoPlan))
                .filter_map(|s| match s.trigger {
                    crate::playbook::Trigger::At(offset) => Some(offset.num_days()),
                    crate::playbook::Trigger::IntenseInteraction => None,
                })
                .min()
                .unwrap_or(2);
            day >= first
        }
        Condition::LowInteraction => {
            let week = playbook.week().num_days().max(1);
            let expected = i64::from(playbook.thresholds.min_interactions) * day.min(week) / week;
            i64::from(summary.total) < expected
        }
        _ => day >= 2,
    }
}

fn line(
    started: &MentorshipStarted,
    summary: &Summary,
    rules: &Rules,
    now: DateTime<Utc>,
) -> PairLine {
    let day_ms = rules
        .scale
        .wall(Duration::days(1))
        .num_milliseconds()
        .max(1);
    let day = ((now - started.started_at).num_milliseconds() / day_ms).max(0);
    let thresholds = &rules.playbook.thresholds;
    let risks = summary
        .judge(&risk_conditions(rules), thresholds)
        .into_iter()
        .filter(|c| due_for_a_look(*c, day, summary, rules))
        .map(|c| crate::email::reason_text(c, summary, thresholds.min_interactions))
        .collect();
    PairLine {
        mentorship_id: started.mentorship_id.clone(),
        mentor: started.mentor.name.clone(),
        mentee: started.mentee.name.clone(),
        day,
        total: summary.total,
        by_mentor: summary.mentor,
        by_mentee: summary.mentee,
        has_plan: summary.has_plan(),
        risks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Actor, Coordinator, InteractionKind, Person};
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
    fn digest_rows_are_told_apart_from_pair_steps() {
        assert_eq!(
            of_row("digest:cy@example.org", "digest-2026-11-24"),
            Some(("cy@example.org", "2026-11-24"))
        );
        assert_eq!(of_row("pair-1", "welcome"), None);
        assert_eq!(
            of_row("pair-1", "digest-2026-11-24"),
            None,
            "a playbook step may be named digest-*"
        );
    }

    #[test]
    fn risk_means_the_playbooks_escalation_conditions() {
        let c = risk_conditions(&rules());
        assert_eq!(
            c,
            vec![
                Condition::NoInteraction,
                Condition::LowInteraction,
                Condition::OneSided,
                Condition::NoPlan
            ]
        );
    }

    #[test]
    fn a_line_shows_progress_and_only_the_risks_the_week_has_had_time_for() {
        let now: DateTime<Utc> = "2026-11-24T12:00:00Z".parse().unwrap();
        let silent_since_day_0 = line(
            &pair(now - Duration::hours(12)),
            &Summary::default(),
            &rules(),
            now,
        );
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
        let one_sided = line(
            &pair(now - Duration::hours(80)),
            &Summary::as_of(&ledger, now),
            &rules(),
            now,
        );
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

        let silent_day_5 = line(
            &pair(now - Duration::hours(125)),
            &Summary::default(),
            &rules(),
            now,
        );
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
            pairs: vec![line(
                &pair(now - Duration::hours(80)),
                &Summary::default(),
                &rules(),
                now,
            )],
            at_risk: 1,
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
            raw.contains("Subject: Your mentorship pairs today: 1 of 1 need a look"),
            "{raw}"
        );
        assert!(raw.contains("needs a look: no interaction at all"), "{raw}");
        assert!(raw.contains("X-Firstweek-Step: digest-2026-11-24"));
    }
}
