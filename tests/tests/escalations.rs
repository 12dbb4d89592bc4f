//! The coordinator's loop end to end: an escalation acknowledged through the
//! link in its email (a GET alone changes nothing), one reminded once when
//! nobody acknowledges it, one resolved when the pair recovers, one when the
//! mentorship ends; later coordinator steps add evidence and send nothing;
//! the `escalation.*` events another service sees, with no name or address.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::Utc;
use firstweek_tests::cohort::talk_and_plan;
use firstweek_tests::{
    Env, Launch, Mail, Options, Pair, bin_dir, http_get, http_post, link_in, port,
};

/// The coordinator emails of one pair, by step.
fn to_coordinator<'a>(mails: &'a [Mail], pair: &Pair, step: &str) -> Vec<&'a Mail> {
    mails
        .iter()
        .filter(|m| m.rcpt == pair.coordinator() && m.step == step)
        .collect()
}

async fn state(env: &Env, pair: &Pair) -> anyhow::Result<(String, Option<String>, Option<String>)> {
    Ok(sqlx::query_as(
        "SELECT state, acknowledged_via, resolved_how FROM escalations WHERE mentorship_id = $1",
    )
    .bind(&pair.id)
    .fetch_one(&env.pool)
    .await?)
}

#[tokio::test(flavor = "multi_thread")]
async fn escalations_are_acknowledged_reminded_and_resolved_once_each() -> anyhow::Result<()> {
    let (web, admin) = (port(), port());
    // A program day lasts 6 s: the reminder (2 days) comes 12 s after the
    // escalation, the day-7 escalation 17 s into the test.
    let options = Options {
        launch: Launch::InProcess,
        ..Options::with_links(14_400.0, web)
    };
    let mut env = Env::start(options).await?;
    let events = env.listen("escalation.#").await?;
    // Silent since their start 4.3 program days ago: the early escalation is due.
    let started = Utc::now() - env.days(4.3);
    let [acked, reminded, recovers, ends] = ["acked", "reminded", "recovers", "ends"]
        .map(|n| Pair::new(&format!("{}-{n}", env.name), started));
    for p in [&acked, &reminded, &recovers, &ends] {
        env.publish_json("mentorship.started", &p.started(&format!("{}-start", p.id)))
            .await?;
    }
    env.launch("firstweek-worker", &[]).await?;
    env.launch(
        "firstweek-scheduler",
        &[("FIRSTWEEK_ADMIN_ADDR", &format!("127.0.0.1:{admin}"))],
    )
    .await?;
    env.launch(
        "firstweek-web",
        &[("FIRSTWEEK_WEB_ADDR", &format!("127.0.0.1:{web}"))],
    )
    .await?;

    let limit = Duration::from_secs(30);
    let prefix = format!("http://127.0.0.1:{web}/a/");

    // Acknowledged through the link: a GET shows the pair and a button, and
    // changes nothing; the POST acknowledges.
    let escalation = env
        .wait_mail(&acked.coordinator(), "escalation_early", limit)
        .await?;
    let token =
        link_in(&escalation.text, &prefix).context("the escalation carries an acknowledge link")?;
    assert!(
        token.len() >= 32 && !token.contains(&acked.id),
        "a random token, not an id"
    );
    // The email: the day as every view counts it, how to reach the pair,
    // and advice that follows the reason (a silent pair: a first call).
    assert!(
        escalation
            .text
            .contains("looks at risk on day 4 of its first week"),
        "{}",
        escalation.text
    );
    assert!(
        escalation.text.contains(&acked.mentor()) && escalation.text.contains(&acked.mentee()),
        "{}",
        escalation.text
    );
    assert!(
        escalation.text.contains("Help them set up a first call"),
        "{}",
        escalation.text
    );
    let page = http_get(web, &format!("/a/{token}")).await;
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(
        page.contains("on day 4 of their first week"),
        "the day it was escalated, as the email says: {page}"
    );
    assert!(
        page.contains("Ada Mentor") && page.contains("no interaction at all"),
        "{page}"
    );
    assert!(
        page.contains("<form method=\"post\""),
        "a button, not an action: {page}"
    );
    assert!(!page.contains("@example.org"), "no address on the page");
    assert_eq!(
        state(&env, &acked).await?.0,
        "open",
        "a GET changes nothing"
    );
    let posted = http_post(web, &format!("/a/{token}"), "").await;
    assert!(posted.starts_with("HTTP/1.1 303"), "{posted}");
    assert_eq!(
        state(&env, &acked).await?,
        ("acknowledged".into(), Some("link".into()), None)
    );
    let after = http_get(web, &format!("/a/{token}")).await;
    assert!(
        after.contains("Acknowledged") && !after.contains("<form"),
        "{after}"
    );
    let told = http_get(web, &format!("/a/{token}?done=acknowledged")).await;
    assert!(
        told.contains("Mentor and mentee are not told"),
        "the action says what happened: {told}"
    );
    // Submitted twice: still one acknowledgement.
    http_post(web, &format!("/a/{token}"), "").await;

    // Recovers: two-way interaction and a plan shared resolve it.
    env.wait_mail(&recovers.coordinator(), "escalation_early", limit)
        .await?;
    let now_in_week = Utc::now() - recovers.started_at;
    for body in talk_and_plan(&recovers, now_in_week) {
        env.publish_json("interaction.recorded", &body).await?;
    }
    let resolved = env
        .wait_mail(&recovers.coordinator(), "escalation_resolved", limit)
        .await?;
    assert!(
        resolved.text.contains("the pair has recovered"),
        "{}",
        resolved.text
    );

    // Ends: the mentorship ends, the coordinator is told once.
    env.wait_mail(&ends.coordinator(), "escalation_early", limit)
        .await?;
    env.publish_json(
        "mentorship.ended",
        &ends.ended(Utc::now() - ends.started_at),
    )
    .await?;
    let ended = env
        .wait_mail(&ends.coordinator(), "escalation_resolved", limit)
        .await?;
    assert!(
        ended.text.contains("the mentorship has ended"),
        "{}",
        ended.text
    );

    // Nobody acknowledges this one: one reminder, with its own link.
    let reminder = env
        .wait_mail(
            &reminded.coordinator(),
            "escalation_reminder",
            Duration::from_secs(40),
        )
        .await?;
    assert!(
        link_in(&reminder.text, &prefix).is_some(),
        "the reminder carries an acknowledge link"
    );

    // Past the day-7 escalation and every reminder's due time.
    env.wait_count(
        "SELECT count(*) FROM timeline WHERE step_id = 'escalation' AND status NOT IN ('scheduled', 'published')",
        4,
        Duration::from_secs(40),
    )
    .await?;
    env.wait_count(
        "SELECT count(*) FROM timeline WHERE step_id LIKE 'escalation_%' AND status NOT IN ('scheduled', 'published')",
        4 + 3,
        Duration::from_secs(40),
    )
    .await?;
    let mails = env.mails();
    for p in [&acked, &reminded, &recovers, &ends] {
        assert_eq!(
            to_coordinator(&mails, p, "escalation_early").len(),
            1,
            "{}",
            p.id
        );
        assert_eq!(
            to_coordinator(&mails, p, "escalation").len(),
            0,
            "later steps send nothing new: {}",
            p.id
        );
        let reminders = to_coordinator(&mails, p, "escalation_reminder").len();
        assert_eq!(
            reminders,
            usize::from(p.id == reminded.id),
            "reminders of {}",
            p.id
        );
        let resolutions = to_coordinator(&mails, p, "escalation_resolved").len();
        assert_eq!(
            resolutions,
            usize::from(p.id == recovers.id || p.id == ends.id),
            "resolutions of {}",
            p.id
        );
    }
    let why: Vec<(String, String)> = sqlx::query_as(
        "SELECT mentorship_id || '/' || step_id, coalesce(outcome, '') FROM timeline
         WHERE step_id IN ('escalation', 'escalation_reminder') AND status = 'skipped' ORDER BY 1",
    )
    .fetch_all(&env.pool)
    .await?;
    let skipped = |id: &str, step: &str| {
        why.iter()
            .find(|(k, _)| *k == format!("{id}/{step}"))
            .map(|(_, w)| w.clone())
            .unwrap_or_default()
    };
    assert!(
        skipped(&reminded.id, "escalation")
            .contains("added to the escalation opened by step escalation_early"),
        "{why:?}"
    );
    assert!(
        skipped(&acked.id, "escalation_reminder").contains("acknowledged"),
        "{why:?}"
    );
    assert!(
        skipped(&recovers.id, "escalation_reminder").contains("resolved"),
        "{why:?}"
    );
    assert_eq!(
        state(&env, &recovers).await?.2.as_deref(),
        Some("recovered")
    );
    assert_eq!(state(&env, &ends).await?.2.as_deref(), Some("ended"));
    let evidence: i64 = sqlx::query_scalar(
        "SELECT jsonb_array_length(evidence)::int8 FROM escalations WHERE mentorship_id = $1",
    )
    .bind(&reminded.id)
    .fetch_one(&env.pool)
    .await?;
    assert_eq!(evidence, 2, "the day-7 step added its evidence");

    // What other services see: ids, rules, counts and times, no one's name or address.
    let start = Instant::now();
    let mut seen = Vec::new();
    while seen.len() < 4 + 1 + 2 && start.elapsed() < Duration::from_secs(20) {
        seen.extend(env.take(&events).await?);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let count = |key: &str| seen.iter().filter(|(k, _)| k == key).count();
    assert_eq!(count("escalation.opened"), 4, "{seen:?}");
    assert_eq!(count("escalation.acknowledged"), 1, "{seen:?}");
    assert_eq!(count("escalation.resolved"), 2, "{seen:?}");
    for (_, body) in &seen {
        let text = body.to_string();
        assert!(
            !text.contains('@') && !text.contains("Ada") && !text.contains("Cy Coordinator"),
            "{text}"
        );
        assert!(
            body["event_id"].is_string() && body["mentorship_id"].is_string(),
            "{text}"
        );
    }
    let ack = seen
        .iter()
        .find(|(k, _)| k == "escalation.acknowledged")
        .map(|(_, b)| b.clone())
        .unwrap_or_default();
    assert!(
        ack["seconds_to_acknowledge"]
            .as_f64()
            .is_some_and(|s| s > 0.0),
        "{ack}"
    );
    let metrics = http_get(admin, "/metrics").await;
    assert!(
        metrics.contains("firstweek_escalations_resolved_total{how=\"recovered\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("firstweek_escalation_time_to_acknowledge_seconds"),
        "{metrics}"
    );

    // The operator's view agrees.
    let cli = std::process::Command::new(bin_dir().join("firstweek"))
        .args(["escalation", "list", "--open"])
        .env("DATABASE_URL", &env.database_url)
        .output()?;
    let listed = String::from_utf8_lossy(&cli.stdout);
    assert!(
        cli.status.success(),
        "{listed} {}",
        String::from_utf8_lossy(&cli.stderr)
    );
    assert!(
        listed.contains(&reminded.id) && listed.contains(&acked.id),
        "{listed}"
    );
    assert!(
        !listed.contains(&recovers.id),
        "resolved ones are not open: {listed}"
    );
    // Item 9: the list says what became of each reminder.
    let line_of = |id: &str| {
        listed
            .lines()
            .find(|l| l.starts_with(id))
            .unwrap_or_default()
            .to_string()
    };
    assert!(line_of(&reminded.id).contains("sent "), "{listed}");
    assert!(
        line_of(&acked.id).contains("none: the escalation was acknowledged"),
        "{listed}"
    );

    // The page link in the reminder opens that coordinator's page: the open
    // escalation with its buttons; another coordinator's pair is not theirs.
    let page_prefix = format!("http://127.0.0.1:{web}/c/");
    let page_token =
        link_in(&reminder.text, &page_prefix).context("the reminder carries a page link")?;
    let page = http_get(web, &format!("/c/{page_token}")).await;
    assert!(page.contains("Escalation <strong>open</strong>"), "{page}");
    assert!(
        page.contains(&format!("/pairs/{}/acknowledge", reminded.id)),
        "{page}"
    );
    let theirs = http_post(
        web,
        &format!("/c/{page_token}/pairs/{}/resolve", acked.id),
        "",
    )
    .await;
    assert!(theirs.starts_with("HTTP/1.1 404"), "{theirs}");
    assert_eq!(
        state(&env, &acked).await?.0,
        "acknowledged",
        "another coordinator's pair is untouched"
    );
    // Mark resolved asks first: the GET shows what will happen, changes nothing.
    let confirm = http_get(
        web,
        &format!("/c/{page_token}/pairs/{}/resolve", reminded.id),
    )
    .await;
    assert!(
        confirm.starts_with("HTTP/1.1 200") && confirm.contains("Yes, mark resolved"),
        "{confirm}"
    );
    assert_eq!(
        state(&env, &reminded).await?.0,
        "open",
        "asking changed nothing"
    );
    let closed = http_post(
        web,
        &format!("/c/{page_token}/pairs/{}/resolve", reminded.id),
        "",
    )
    .await;
    assert!(closed.starts_with("HTTP/1.1 303"), "{closed}");
    assert_eq!(
        state(&env, &reminded).await?.2.as_deref(),
        Some("coordinator")
    );
    env.expect_no_more_mail(Duration::from_secs(3)).await?;
    assert!(
        to_coordinator(&env.mails(), &reminded, "escalation_resolved").is_empty(),
        "closed by hand: no resolution email"
    );
    env.stop().await;
    Ok(())
}
