//! The coordinators' daily digest, end to end: the scheduler's digest job
//! adds one row per coordinator per local day once their morning has come,
//! the worker gathers that coordinator's pairs and escalations and sends one
//! email (an action queue) through the delivery ledger, or none on a day with
//! nothing to act on.
//!
//! Digests follow the wall clock, so each test picks its playbook's
//! `digest_at` (and the coordinators' zones) relative to the time it runs.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::{DateTime, NaiveTime, Timelike, Utc};
use chrono_tz::Tz;
use firstweek::Rules;
use firstweek::digest;
use firstweek::escalation::Sighting;
use firstweek::timeline::{SendWindow, TimeScale};
use firstweek_settings::rules::load_playbook;
use firstweek_tests::{Env, Launch, Mail, Options, Pair, digest_playbook};
use serde_json::Value;

/// `pair`'s start, with its coordinator (`zone`: their `timezone`, if any).
fn started_with(pair: &Pair, name: &str, address: &str, zone: Option<&str>) -> Value {
    let mut v = pair.started(&format!("{}-start", pair.id));
    v["coordinator"] = serde_json::json!({"name": name, "email": address});
    if let Some(z) = zone {
        v["coordinator"]["timezone"] = z.into();
    }
    v
}

fn digests(env: &Env) -> Vec<Mail> {
    env.mails()
        .into_iter()
        .filter(|m| m.step.starts_with(digest::STEP_PREFIX))
        .collect()
}

/// Options with the digest job ticking every 2 s (it runs many times and
/// must still add one digest per coordinator per local day) and `playbook`.
fn digest_options(scale: f64, playbook: &std::path::Path) -> Options {
    let mut options = Options {
        scale,
        start_services: false,
        launch: Launch::InProcess,
        ..Options::default()
    };
    options.env.extend([
        ("FIRSTWEEK_DIGEST_CRON".into(), "*/2 * * * * *".into()),
        ("FIRSTWEEK_PLAYBOOK".into(), playbook.display().to_string()),
    ]);
    options
}

#[tokio::test(flavor = "multi_thread")]
async fn each_coordinator_gets_one_digest_a_day_of_their_live_pairs() -> anyhow::Result<()> {
    // Coordinators without a zone: 00:00 UTC has passed today, whenever this runs.
    let playbook = digest_playbook("fw-digest-midnight", "00:00", false)?;
    // A program day lasts 10 s, so every pair stays in the digest's horizon (a week and a day) for the test.
    let mut env = Env::start(digest_options(8_640.0, &playbook)).await?;
    let now = Utc::now();
    let coordinator = format!("coord.{}@example.org", env.name);
    let with_coordinator =
        |pair: &Pair, address: &str| started_with(pair, "Cy Coordinator", address, None);
    let engaged = Pair::new(&format!("{}-engaged", env.name), now);
    // Day 1 and silent: trending low, and 25 s before its early escalation (day 4) would open.
    let silent = Pair::new(&format!("{}-silent", env.name), now - env.days(1.5));
    let ended = Pair::new(&format!("{}-ended", env.name), now);
    let lonely_coordinator = format!("other.{}@example.org", env.name);

    // Everything is stored before the scheduler (and so the digest job) starts.
    env.launch("firstweek-worker", &[]).await?;
    env.publish_json(
        "mentorship.started",
        &with_coordinator(&engaged, &coordinator),
    )
    .await?;
    env.publish_json(
        "mentorship.started",
        &with_coordinator(&silent, &coordinator),
    )
    .await?;
    env.publish_json(
        "mentorship.started",
        &with_coordinator(&ended, &lonely_coordinator),
    )
    .await?;
    for (n, kind, actor) in [
        (1, "message", "mentor"),
        (2, "message", "mentee"),
        (3, "plan_shared", "mentee"),
        (4, "call", "mentor"),
    ] {
        env.publish_json(
            "interaction.recorded",
            &engaged.interaction(n, kind, actor, env.days(0.01), Some(20)),
        )
        .await?;
    }
    env.publish_json("mentorship.ended", &ended.ended(env.days(0.01)))
        .await?;
    env.wait_count(
        "SELECT count(*) FROM mentorships WHERE ended_at IS NOT NULL",
        1,
        Duration::from_secs(30),
    )
    .await?;
    env.wait_count(
        "SELECT count(*) FROM interactions",
        4,
        Duration::from_secs(30),
    )
    .await?;
    env.launch("firstweek-scheduler", &[]).await?;

    env.wait_count(
        "SELECT count(*) FROM timeline WHERE step_id LIKE 'digest-%' AND status NOT IN ('scheduled', 'published')",
        1,
        Duration::from_secs(60),
    )
    .await?;
    // Several more runs of the job: none of them may add a second digest today.
    env.expect_no_more_mail_where(Duration::from_secs(7), |m| m.step.starts_with("digest-"))
        .await?;

    let digests = digests(&env);
    assert_eq!(
        digests.len(),
        1,
        "one digest, to the coordinator with live pairs: {:#?}",
        digests.iter().map(|m| &m.rcpt).collect::<Vec<_>>()
    );
    let digest = &digests[0];
    assert_eq!(digest.rcpt, coordinator);
    assert_eq!(digest.step, format!("digest-{}", Utc::now().date_naive()));
    // The digest names its coordinator by the opaque key of its timeline row
    // (the one their escalations carry): no header but the recipient's
    // quotes their address, since a downstream system keeps these as keys.
    let key: String =
        sqlx::query_scalar("SELECT mentorship_id FROM timeline WHERE subject = 'digest'")
            .fetch_one(&env.pool)
            .await?;
    assert!(key.starts_with("coordinator-"), "{key}");
    assert_eq!(digest.mentorship, format!("digest:{key}"));
    let quoting: Vec<&str> = digest
        .headers
        .lines()
        .filter(|l| !l.starts_with("To:") && !l.starts_with("X-Rcpt-To:"))
        .filter(|l| l.to_lowercase().contains(&coordinator.to_lowercase()))
        .collect();
    assert!(
        quoting.is_empty(),
        "headers quoting the address: {quoting:?}"
    );
    assert_eq!(digest.subject, "Your pairs today: 1 pair trending low");
    let start = digest
        .text
        .find(&format!("(pair id {})", silent.id))
        .with_context(|| format!("{} not in the digest:\n{}", silent.id, digest.text))?;
    let silent_line = digest.text[start..]
        .lines()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        // A day and a half in (day 2: day 1 ends a day after the start).
        silent_line.contains("day 2: 0 interactions") && silent_line.contains("no interaction"),
        "{silent_line}"
    );
    assert!(
        !digest.text.contains(&engaged.id) && digest.text.contains("1 other pair on track"),
        "a pair on track is only counted:\n{}",
        digest.text
    );
    assert!(
        !digest.text.contains(&ended.id),
        "an ended pair is not reported:\n{}",
        digest.text
    );

    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT coordinator_email, mentorship_id, status FROM timeline WHERE subject = 'digest'",
    )
    .fetch_all(&env.pool)
    .await?;
    assert_eq!(
        rows.iter()
            .map(|(c, _, s)| (c.clone(), s.clone()))
            .collect::<Vec<_>>(),
        vec![(coordinator.clone(), "sent".to_string())],
        "the coordinator whose only pair ended gets no digest row"
    );
    assert!(
        rows[0].1.starts_with("coordinator-") && !rows[0].1.contains('@'),
        "a digest is keyed by the coordinator's opaque key, not the address: {:?}",
        rows[0].1
    );
    env.stop().await;
    let _ = std::fs::remove_file(&playbook);
    Ok(())
}

/// A fixed-offset IANA zone whose local hour is `local_hour` at `now`.
fn zone_at(now: DateTime<Utc>, local_hour: i64) -> String {
    let mut offset = (local_hour - i64::from(now.hour())).rem_euclid(24);
    if offset > 14 {
        offset -= 24;
    }
    // POSIX-style names: Etc/GMT-3 is three hours ahead of UTC.
    match offset {
        0 => "Etc/GMT".into(),
        o if o > 0 => format!("Etc/GMT-{o}"),
        o => format!("Etc/GMT+{}", -o),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_digest_comes_in_each_coordinators_own_morning_as_an_action_queue() -> anyhow::Result<()>
{
    // The digest at 12:00 local. Coordinator A's zone is at 15:xx now (their
    // noon has passed today), B's at 09:xx (not yet), C's like A's.
    let playbook = digest_playbook("fw-digest-noon", "12:00", false)?;
    // A program day lasts 30 s: pairs two and a half days in are at risk,
    // 45 s before their early escalation (day 4) would open.
    let scale = 2_880.0;
    let mut env = Env::start(digest_options(scale, &playbook)).await?;
    let now = Utc::now();
    let (zone_a, zone_b) = (zone_at(now, 15), zone_at(now, 9));
    let a = format!("a.{}@example.org", env.name);
    let b = format!("b.{}@example.org", env.name);
    let c = format!("c.{}@example.org", env.name);
    let pair = |label: &str, days_in: f64| {
        Pair::new(&format!("{}-{label}", env.name), now - env.days(days_in))
    };
    let (escalated, low, fine) = (pair("esc", 2.5), pair("low", 2.5), pair("fine", 0.0));
    let later = pair("later", 2.5);
    let calm = pair("calm", 0.0);

    env.launch("firstweek-worker", &[]).await?;
    for (p, address, zone) in [
        (&escalated, &a, &zone_a),
        (&low, &a, &zone_a),
        (&fine, &a, &zone_a),
        (&later, &b, &zone_b),
        (&calm, &c, &zone_a),
    ] {
        env.publish_json(
            "mentorship.started",
            &started_with(p, "Cy Coordinator", address, Some(zone)),
        )
        .await?;
    }
    env.wait_count(
        "SELECT count(*) FROM mentorships",
        5,
        Duration::from_secs(30),
    )
    .await?;
    // An escalation nobody has acknowledged, opened yesterday.
    let rules = Rules {
        playbook: load_playbook(&playbook)?,
        programs: Default::default(),
        scale: TimeScale::new(scale).context("scale")?,
        window: SendWindow::Off,
    };
    let record = firstweek_store::mentorship(&env.pool, &escalated.id)
        .await?
        .context("the escalated pair is stored")?;
    let seen = Sighting::of_silence("escalation_early", now, firstweek::day::Day::nth(2));
    let coordinator =
        firstweek_tests::pseudonym_key().coordinator(&record.started.coordinator.email);
    let opening = firstweek_store::open_escalation(
        &env.pool,
        &rules,
        &record.started,
        &coordinator,
        "escalation_early",
        &seen,
    )
    .await?;
    assert!(opening.opens);

    // Two scheduler replicas.
    env.launch("firstweek-scheduler", &[]).await?;
    env.launch("firstweek-scheduler", &[]).await?;

    let start = Instant::now();
    while digests(&env).iter().all(|m| m.rcpt != a) {
        anyhow::ensure!(start.elapsed() < Duration::from_secs(40), "no digest to A");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    env.wait_count(
        "SELECT count(*) FROM timeline WHERE subject = 'digest' AND status = 'skipped'",
        1,
        Duration::from_secs(30),
    )
    .await?;
    // Many more ticks of both replicas: nothing more.
    env.expect_no_more_mail_where(Duration::from_secs(7), |m| m.step.starts_with("digest-"))
        .await?;

    let sent = digests(&env);
    assert_eq!(
        sent.iter().map(|m| m.rcpt.as_str()).collect::<Vec<_>>(),
        vec![a.as_str()],
        "one digest, to A only: B's noon has not come, C has nothing to act on"
    );
    let mail = &sent[0];
    let tz_a: Tz = zone_a.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
    let noon = NaiveTime::from_hms_opt(12, 0, 0).context("noon")?;
    let day_a = digest::due_today(noon, Some(tz_a), Utc::now()).context("A's noon is past")?;
    assert_eq!(mail.step, digest::step_id(day_a), "A's own local date");
    assert_eq!(
        mail.subject,
        "Your pairs today: 1 escalation waiting, 1 pair trending low"
    );
    let at = |what: &str| {
        mail.text
            .find(what)
            .with_context(|| format!("{what:?} not in the digest:\n{}", mail.text))
    };
    let (esc_at, low_at, rest_at) = (
        at(&format!("(pair id {})", escalated.id))?,
        at(&format!("(pair id {})", low.id))?,
        at("1 other pair on track")?,
    );
    assert!(
        esc_at < low_at && low_at < rest_at,
        "escalations first, then pairs trending low, then the rest:\n{}",
        mail.text
    );
    assert!(mail.text.contains("open since"), "{}", mail.text);
    assert!(!mail.text.contains(&fine.id), "{}", mail.text);
    // Each entry says what to do about its pair (both silent: a first call)
    // and leads to the pair's page in one step (no FIRSTWEEK_PUBLIC_URL
    // here: no links at all).
    let entry = |id: &str| -> String {
        let from = mail.text.find(&format!("(pair id {id})")).unwrap_or(0);
        mail.text[from..]
            .lines()
            .take(5)
            .collect::<Vec<_>>()
            .join("\n")
    };
    for id in [&escalated.id, &low.id] {
        assert!(
            entry(id).contains("what to do: Help them set up a first call"),
            "{}",
            entry(id)
        );
    }
    assert!(!mail.text.contains("/pairs/"), "{}", mail.text);
    // Times are in A's zone, e.g. "open since Mon 07 Dec 14:02 +03".
    let offset = zone_a.trim_start_matches("Etc/GMT");
    let shown = match offset.chars().next() {
        Some('-') => format!("+{:02}", &offset[1..].parse::<u32>().unwrap_or(0)),
        Some('+') => format!("-{:02}", &offset[1..].parse::<u32>().unwrap_or(0)),
        _ => "GMT".to_string(),
    };
    let since = mail
        .text
        .lines()
        .find(|l| l.contains("open since"))
        .unwrap_or_default();
    assert!(since.ends_with(&shown), "in {zone_a}: {since}");

    let rows: Vec<(String, String, Option<String>)> = sqlx::query_as(
        "SELECT coordinator_email, status, outcome FROM timeline WHERE subject = 'digest' ORDER BY coordinator_email",
    )
    .fetch_all(&env.pool)
    .await?;
    let states: Vec<(&str, &str)> = rows
        .iter()
        .map(|(r, status, _)| (r.as_str(), status.as_str()))
        .collect();
    assert_eq!(
        states,
        vec![(a.as_str(), "sent"), (c.as_str(), "skipped")],
        "B has no digest row yet; C's is closed without an email"
    );
    assert_eq!(rows[1].2.as_deref(), Some("nothing to act on"));
    assert!(!rows.iter().any(|(r, ..)| r == &b));
    env.stop().await;
    let _ = std::fs::remove_file(&playbook);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn with_digest_all_quiet_a_quiet_coordinator_hears_all_is_quiet() -> anyhow::Result<()> {
    let playbook = digest_playbook("fw-digest-quiet", "00:00", true)?;
    let mut env = Env::start(digest_options(8_640.0, &playbook)).await?;
    let coordinator = format!("quiet.{}@example.org", env.name);
    let calm = Pair::new(&format!("{}-calm", env.name), Utc::now());
    env.launch("firstweek-worker", &[]).await?;
    env.publish_json(
        "mentorship.started",
        &started_with(&calm, "Cy Coordinator", &coordinator, None),
    )
    .await?;
    env.wait_count(
        "SELECT count(*) FROM mentorships",
        1,
        Duration::from_secs(30),
    )
    .await?;
    env.launch("firstweek-scheduler", &[]).await?;
    env.wait_count(
        "SELECT count(*) FROM timeline WHERE subject = 'digest' AND status = 'sent'",
        1,
        Duration::from_secs(40),
    )
    .await?;
    env.expect_no_more_mail_where(Duration::from_secs(5), |m| m.step.starts_with("digest-"))
        .await?;
    let sent = digests(&env);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].rcpt, coordinator);
    assert_eq!(sent[0].subject, "Your pairs today: all quiet");
    assert!(
        sent[0].text.contains("1 pair, all on track"),
        "{}",
        sent[0].text
    );
    env.stop().await;
    let _ = std::fs::remove_file(&playbook);
    Ok(())
}
