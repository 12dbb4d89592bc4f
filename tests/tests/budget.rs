//! Relevance and the daily nudge budget end to end (issue 27, item 8): real
//! binaries, RabbitMQ, PostgreSQL and an SMTP server.
//!
//! - A worker stalled past the old fixed limit (a day) still introduces both
//!   partners: the welcome makes sense through the whole first week.
//! - A program whose playbook has many steps on one day reaches each person
//!   at most its budget of nudges that day, with two worker replicas
//!   sharing the count; the rest wait for the next day or are dropped, the
//!   reason on the timeline row.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{Timelike, Utc};
use firstweek_tests::{Env, Options, Pair, unique};

async fn outcomes(env: &Env, id: &str) -> anyhow::Result<BTreeMap<String, (String, String)>> {
    let rows: Vec<(String, String, String, Option<String>)> = sqlx::query_as(
        "SELECT step_id, recipient, status, outcome FROM timeline WHERE mentorship_id = $1",
    )
    .bind(id)
    .fetch_all(&env.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(step, to, status, outcome)| {
            (
                format!("{step}->{to}"),
                (status, outcome.unwrap_or_default()),
            )
        })
        .collect())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_stalled_past_a_day_still_introduces_both_partners() -> anyhow::Result<()> {
    // The fixed limit as it was (a day); it now only applies to the coordinator's emails.
    let mut options = Options {
        start_services: false,
        ..Options::default()
    };
    options.env.retain(|(k, _)| k != "FIRSTWEEK_STALE_AFTER");
    options
        .env
        .push(("FIRSTWEEK_STALE_AFTER".into(), "1d".into()));
    let mut env = Env::start(options).await?;
    env.spawn("firstweek-scheduler", &[]).await?;
    // Intake runs; nobody handles due steps.
    env.spawn("firstweek-worker", &[("FIRSTWEEK_WORKER_ROLE", "intake")])
        .await?;
    let pair = Pair::new(&format!("{}-stalled", env.name), Utc::now());
    env.publish_json("mentorship.started", &pair.started("stalled-start"))
        .await?;
    env.wait_count(
        "SELECT count(*) FROM timeline WHERE step_id = 'welcome'",
        2,
        Duration::from_secs(20),
    )
    .await?;
    // Three program days with the steps role down: twice the old limit.
    tokio::time::sleep((env.days(3.0)).to_std()?).await;
    env.spawn("firstweek-worker", &[("FIRSTWEEK_WORKER_ROLE", "steps")])
        .await?;
    env.wait_count(
        "SELECT count(*) FROM timeline WHERE step_id = 'welcome' AND status <> 'published' AND status <> 'scheduled'",
        2,
        Duration::from_secs(30),
    )
    .await?;
    let rows = outcomes(&env, &pair.id).await?;
    for side in ["mentor", "mentee"] {
        let (status, outcome) = &rows[&format!("welcome->{side}")];
        assert_eq!(status, "sent", "the {side}'s welcome: {outcome}");
    }
    let welcomed: Vec<String> = env
        .mails()
        .into_iter()
        .filter(|m| m.mentorship == pair.id && m.step == "welcome")
        .map(|m| m.rcpt)
        .collect();
    assert!(welcomed.contains(&pair.mentor()), "{welcomed:?}");
    assert!(welcomed.contains(&pair.mentee()), "{welcomed:?}");
    env.stop().await;
    Ok(())
}

/// A program day lasts 12 s: steps 3 program hours apart are handled 1.5 s apart.
const SCALE: f64 = 7_200.0;

#[tokio::test(flavor = "multi_thread")]
async fn many_steps_on_one_day_reach_each_person_at_most_the_budget() -> anyhow::Result<()> {
    let started_at = Utc::now() + chrono::Duration::seconds(1);
    // Three tips at 12:00, 15:00 and 18:00 (program clock, UTC) of the first
    // day after the start: one local day for both partners (in UTC).
    let minutes_to_noon =
        (12 * 60 - i64::from(started_at.hour() * 60 + started_at.minute())).rem_euclid(24 * 60);
    let base = 24 * 60 + minutes_to_noon;
    let tip = |id: &str, minutes: i64| {
        format!(
            "[[step]]\nid = \"{id}\"\nat = \"{minutes}m\"\nto = [\"mentor\", \"mentee\"]\ntemplate = \"check_in\"\n"
        )
    };
    let text = format!(
        "name = \"busy-day\"\ndaily_nudge_budget = 1\n\
         [[step]]\nid = \"welcome\"\nat = \"0d\"\nto = [\"mentor\", \"mentee\"]\n{}{}{}",
        tip("tips_a", base),
        tip("tips_b", base + 180),
        tip("tips_c", base + 360),
    );
    let playbook = std::env::temp_dir().join(format!("{}.toml", unique("busy-day")));
    std::fs::write(&playbook, text)?;
    let mut options = Options {
        scale: SCALE,
        ..Options::default()
    };
    // Staleness on (the tests' default is off): what is dropped is what would be stale.
    options.env.retain(|(k, _)| k != "FIRSTWEEK_STALE_AFTER");
    for (k, v) in [
        ("FIRSTWEEK_PLAYBOOK", playbook.display().to_string()),
        ("FIRSTWEEK_STALE_AFTER", "1d".to_string()),
    ] {
        options.env.push((k.into(), v));
    }
    let mut env = Env::start(options).await?;
    // A second replica: the budget's count is the database's, not a worker's.
    env.spawn("firstweek-worker", &[]).await?;
    let mut pair = Pair::new(&format!("{}-busy", env.name), started_at);
    pair.tz_mentor = "UTC".into();
    pair.tz_mentee = "UTC".into();
    env.publish_json("mentorship.started", &pair.started("busy-start"))
        .await?;
    let last_due = env.days(f64::from(base as i32 + 360) / (24.0 * 60.0));
    env.wait_settled(
        &[&pair.id],
        Duration::from_secs(last_due.num_seconds() as u64 + 30),
    )
    .await?;

    let rows = outcomes(&env, &pair.id).await?;
    let mails = env.mails();
    for side in ["mentor", "mentee"] {
        let row = |step: &str| rows[&format!("{step}->{side}")].clone();
        // The first of the day's tips handled goes out; the other of the
        // first two is dropped (by the next day a later tip is due).
        let (a, b) = (row("tips_a"), row("tips_b"));
        let (sent, dropped) = if a.0 == "sent" { (a, b) } else { (b, a) };
        assert_eq!(sent.0, "sent", "{side}: {rows:?}");
        assert_eq!(dropped.0, "skipped", "{side}: {rows:?}");
        assert!(
            dropped.1.starts_with(
                "dropped: the daily budget of 1 nudge is spent, and by the next local day a later step"
            ),
            "{side}: {}",
            dropped.1
        );
        // The last one waits for the next local day, and goes out then.
        let (status, outcome) = row("tips_c");
        assert_eq!(status, "sent", "{side}: {outcome}");
        assert!(
            outcome.contains("deferred: the daily budget of 1 nudge is spent"),
            "{side}: {outcome}"
        );
        // The welcome is not counted: it went out too.
        assert_eq!(row("welcome").0, "sent", "{side}");
        let address = if side == "mentor" {
            pair.mentor()
        } else {
            pair.mentee()
        };
        let got = mails
            .iter()
            .filter(|m| m.mentorship == pair.id && m.rcpt == address)
            .count();
        assert_eq!(
            got, 3,
            "{side}: the welcome and one tip on each of two days"
        );
    }
    // Never more than the budget counted against one person's day.
    let per_day: Vec<(String, i64)> = sqlx::query_as(
        "SELECT recipient || ' ' || budget_day::text, count(*) FROM deliveries
         WHERE mentorship_id = $1 AND budget_day IS NOT NULL GROUP BY 1",
    )
    .bind(&pair.id)
    .fetch_all(&env.pool)
    .await?;
    assert_eq!(
        per_day.len(),
        4,
        "two days for each of two people: {per_day:?}"
    );
    assert!(per_day.iter().all(|(_, n)| *n == 1), "{per_day:?}");
    env.stop().await;
    std::fs::remove_file(&playbook).ok();
    Ok(())
}
