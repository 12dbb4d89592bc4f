//! What intake makes of events that repeat an `event_id` or a pair: the
//! same `event_id` with other content is refused (dead-lettered as a
//! conflicting duplicate), and a new `mentorship.started` for a known pair
//! corrects its people for the emails not yet sent.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::{SubsecRound as _, Utc};
use firstweek::event::{Event, MENTORSHIP_STARTED, MentorshipStarted};
use firstweek::rule::Recipient;
use firstweek_tests::{Env, Launch, Options, Pair};
use serde_json::json;

/// Dead letters, collected until `want` arrived or `limit` passed.
async fn dead_letters(
    env: &Env,
    want: usize,
    limit: Duration,
) -> anyhow::Result<Vec<(String, String, Vec<u8>)>> {
    let start = Instant::now();
    let mut got = Vec::new();
    while got.len() < want && start.elapsed() < limit {
        got.extend(env.dead_letters().await?);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(got)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_event_id_with_another_body_is_dead_lettered_as_a_conflicting_duplicate()
-> anyhow::Result<()> {
    let env = Env::start(Options {
        launch: Launch::InProcess,
        ..Options::default()
    })
    .await?;
    let pair = Pair::new(&format!("{}-conflict", env.name), Utc::now());
    let start_id = format!("{}-start", pair.id);
    env.publish_json("mentorship.started", &pair.started(&start_id))
        .await?;
    let message = pair.interaction(1, "message", "mentor", chrono::Duration::zero(), None);
    env.publish_json("interaction.recorded", &message).await?;
    // Events handled at once have no order; the repeats come once these are in.
    env.wait_count(
        "SELECT count(*) FROM processed_events",
        2,
        Duration::from_secs(20),
    )
    .await?;
    // The very same event again (a publisher's retry): counted once, not refused,
    // even with its fields in another order and its time in another offset.
    let mut same = json!({});
    for key in ["occurred_at", "actor", "kind", "mentorship_id", "event_id"] {
        same[key] = message[key].clone();
    }
    let plus_two = chrono::FixedOffset::east_opt(2 * 3600).context("UTC+2")?;
    same["occurred_at"] = json!(
        chrono::DateTime::parse_from_rfc3339(message["occurred_at"].as_str().unwrap_or_default())?
            .with_timezone(&plus_two)
            .to_rfc3339()
    );
    env.publish_json("interaction.recorded", &same).await?;
    // The same event_id with other content: a publisher bug, not a retry.
    let mut other = message.clone();
    other["kind"] = json!("plan_shared");
    env.publish_json("interaction.recorded", &other).await?;
    // The start's event_id reused for an ending, of another kind altogether.
    let mut ending = pair.ended(chrono::Duration::hours(1));
    ending["event_id"] = json!(start_id);
    env.publish_json("mentorship.ended", &ending).await?;

    let dead = dead_letters(&env, 2, Duration::from_secs(30)).await?;
    let reasons: Vec<&str> = dead.iter().map(|(_, reason, _)| reason.as_str()).collect();
    assert_eq!(dead.len(), 2, "two conflicting duplicates: {reasons:?}");
    for (key, reason, body) in &dead {
        assert!(
            reason.starts_with("conflicting duplicate"),
            "{key}: {reason}"
        );
        let body: serde_json::Value = serde_json::from_slice(body)?;
        assert!(body == other || body == ending, "{body}");
    }
    // The first version stands: one message, and the pair is not ended.
    let kinds: Vec<String> =
        sqlx::query_scalar("SELECT kind FROM interactions WHERE mentorship_id = $1")
            .bind(&pair.id)
            .fetch_all(&env.pool)
            .await?;
    assert_eq!(kinds, vec!["message".to_string()]);
    let ended: Option<chrono::DateTime<Utc>> =
        sqlx::query_scalar("SELECT ended_at FROM mentorships WHERE id = $1")
            .bind(&pair.id)
            .fetch_one(&env.pool)
            .await?;
    assert_eq!(ended, None);
    // The identical retry was not refused, even later.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(env.dead_letters().await?.is_empty());
    env.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_corrected_mentee_address_gets_the_later_emails_and_the_old_one_none()
-> anyhow::Result<()> {
    // A program day lasts 4 s: time to correct the address between the
    // welcome (day 0) and the check-in (day 2).
    let env = Env::start(Options {
        scale: 21_600.0,
        launch: Launch::InProcess,
        ..Options::default()
    })
    .await?;
    let pair = Pair::new(
        &format!("{}-fix", env.name),
        Utc::now() + chrono::Duration::milliseconds(300),
    );
    let typo = format!("mentee.{}@exmaple.org", pair.id);
    let mut first = pair.started(&format!("{}-start", pair.id));
    first["mentee"]["email"] = json!(typo);
    env.publish_json("mentorship.started", &first).await?;
    env.wait_count(
        "SELECT count(*) FROM timeline WHERE step_id = 'welcome' AND status = 'sent'",
        2,
        Duration::from_secs(20),
    )
    .await?;
    // The program fixes the address: a new event for the same pair.
    let mut corrected = pair.started(&format!("{}-start-corrected", pair.id));
    corrected["mentee"]["name"] = json!("Bea Corrected");
    env.publish_json("mentorship.started", &corrected).await?;
    env.wait_settled(&[&pair.id], Duration::from_secs(60))
        .await?;

    let mails = env.mails();
    let to = |addr: &str| {
        let mut steps: Vec<String> = mails
            .iter()
            .filter(|m| m.rcpt == addr)
            .map(|m| m.step.clone())
            .collect();
        steps.sort();
        steps
    };
    assert_eq!(
        to(&typo),
        vec!["welcome"],
        "the old address: the welcome only"
    );
    assert_eq!(
        to(&pair.mentee()),
        vec!["check_in", "plan_reminder", "wrap_up"],
        "the corrected address: every later email, and no second welcome"
    );
    assert_eq!(
        to(&pair.mentor()),
        vec!["check_in", "plan_reminder", "welcome", "wrap_up"]
    );
    // The later emails call the mentee by the corrected (first) name.
    let to_mentor = mails
        .iter()
        .find(|m| m.rcpt == pair.mentor() && m.step == "check_in");
    assert!(
        to_mentor.is_some_and(|m| m.text.contains("you and Bea have not")),
        "{to_mentor:?}"
    );
    env.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_corrected_time_zone_moves_the_unsent_steps_into_the_new_local_window()
-> anyhow::Result<()> {
    let env = Env::start(Options {
        start_services: false,
        ..Options::default()
    })
    .await?;
    // Real time and the default 08:00-20:00 window: the week is still ahead.
    let rules = firstweek_tests::in_process::rules(&[
        ("DATABASE_URL".into(), env.database_url.clone()),
        ("AMQP_URL".into(), env.amqp_url.clone()),
    ])?;
    // Whole seconds: PostgreSQL keeps microseconds, the plan nanoseconds.
    let mut pair = Pair::new(&format!("{}-tz", env.name), Utc::now().trunc_subsecs(0));
    pair.tz_mentee = "Asia/Tokyo".into();
    let first = pair.started(&format!("{}-start", pair.id));
    pair.tz_mentee = "America/Sao_Paulo".into();
    let corrected = pair.started(&format!("{}-start-corrected", pair.id));
    let event = |v: &serde_json::Value| {
        Event::parse(
            MENTORSHIP_STARTED,
            Some("application/json"),
            v.to_string().as_bytes(),
            Utc::now(),
        )
    };
    let first = event(&first)?;
    let corrected = event(&corrected)?;
    firstweek_store::ingest(&env.pool, &first, &rules, &firstweek_tests::pseudonym_key()).await?;
    firstweek_store::ingest(
        &env.pool,
        &corrected,
        &rules,
        &firstweek_tests::pseudonym_key(),
    )
    .await?;

    let Event::Started(started) = &corrected else {
        anyhow::bail!("not a start");
    };
    let planned = |s: &MentorshipStarted| {
        let mut rows: Vec<(String, chrono::DateTime<Utc>)> =
            firstweek::decision::plan(&rules, s, &[])
                .into_iter()
                .filter(|r| r.recipient == Recipient::Mentee)
                .map(|r| (r.step_id, r.send_at))
                .collect();
        rows.sort();
        rows
    };
    let Event::Started(before) = &first else {
        anyhow::bail!("not a start");
    };
    assert_ne!(
        planned(before),
        planned(started),
        "the zones' windows differ"
    );
    let stored: Vec<(String, chrono::DateTime<Utc>)> = sqlx::query_as(
        "SELECT step_id, send_at FROM timeline WHERE mentorship_id = $1 AND recipient = 'mentee' ORDER BY step_id",
    )
    .bind(&pair.id)
    .fetch_all(&env.pool)
    .await?;
    let next: Vec<(String, chrono::DateTime<Utc>)> = sqlx::query_as(
        "SELECT step_id, next_at FROM timeline WHERE mentorship_id = $1 AND recipient = 'mentee' ORDER BY step_id",
    )
    .bind(&pair.id)
    .fetch_all(&env.pool)
    .await?;
    assert_eq!(stored, planned(started), "send_at in São Paulo's window");
    assert_eq!(
        next,
        planned(started),
        "and the scheduler wakes for it then"
    );
    env.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_event_is_dead_lettered_naming_the_field_never_the_value() -> anyhow::Result<()> {
    let mut env = Env::start(Options {
        start_services: false,
        ..Options::default()
    })
    .await?;
    env.launch("firstweek-worker", &[]).await?;
    // A publisher that put a person where a zone, an id or a kind belongs.
    let secret = "Bo Diddley <bo.diddley@example.org>";
    let pair = Pair::new(&format!("{}-mistyped", env.name), Utc::now());
    let mut zone = pair.started(&format!("{}-zone", pair.id));
    zone["mentee"]["timezone"] = json!(secret);
    env.publish_json("mentorship.started", &zone).await?;
    let mut id = pair.started(&format!("{}-id", pair.id));
    id["mentee"]["id"] = json!({ "name": secret });
    env.publish_json("mentorship.started", &id).await?;
    let mut kind = pair.interaction(1, "message", "mentor", chrono::Duration::zero(), None);
    kind["kind"] = json!(secret);
    env.publish_json("interaction.recorded", &kind).await?;

    let dead = dead_letters(&env, 3, Duration::from_secs(30)).await?;
    let reasons: Vec<&str> = dead.iter().map(|(_, reason, _)| reason.as_str()).collect();
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    for field in [
        "field `kind`",
        "field `mentee.id`",
        "field `mentee.timezone`",
    ] {
        assert!(
            reasons.iter().any(|r| r.contains(field)),
            "no reason names {field}: {reasons:?}"
        );
    }
    let logs = env.logs("firstweek-worker").join("\n");
    for text in reasons.iter().copied().chain([logs.as_str()]) {
        assert!(
            !text.contains("Diddley") && !text.contains("diddley@"),
            "the value is quoted: {text}"
        );
    }
    env.stop().await;
    Ok(())
}
