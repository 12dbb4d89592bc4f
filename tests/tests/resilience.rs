//! Failures that stay inside one test's own installation: SMTP refusing,
//! failing and hanging, a poison step, and a graceful shutdown.
//! (Restarts of the shared RabbitMQ and PostgreSQL are in `faults.rs`.)

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::Utc;
use firstweek_tests::{Env, Options, Pair, bin_dir, received};

/// Short SMTP timeout and claim lease so the policies show within seconds.
fn fast_options(extra: &[(&str, &str)]) -> Options {
    let mut o = Options::default();
    for (k, v) in [
        ("FIRSTWEEK_SMTP_TIMEOUT_SECS", "2"),
        ("FIRSTWEEK_CLAIM_LEASE_SECS", "6"),
        ("FIRSTWEEK_REDELIVER_AFTER_SECS", "10"),
    ]
    .iter()
    .chain(extra)
    {
        o.env.push((k.to_string(), v.to_string()));
    }
    o
}

/// A playbook with only the welcome step: each phase is one email per person.
fn welcome_only() -> anyhow::Result<String> {
    let path = std::env::temp_dir().join(format!("fw-welcome-only-{}.toml", std::process::id()));
    std::fs::write(
        &path,
        "name = \"welcome-only\"\n[[step]]\nid = \"welcome\"\nat = \"0d\"\nto = [\"mentor\", \"mentee\"]\n",
    )?;
    Ok(path.display().to_string())
}

async fn delivery_status(
    env: &Env,
    pair: &Pair,
    recipient: &str,
) -> anyhow::Result<(String, String)> {
    Ok(sqlx::query_as("SELECT status, coalesce(detail, '') FROM deliveries WHERE mentorship_id = $1 AND recipient = $2")
        .bind(&pair.id)
        .bind(recipient)
        .fetch_one(&env.pool)
        .await?)
}

#[tokio::test(flavor = "multi_thread")]
async fn smtp_refusals_outages_and_lost_replies_follow_their_policies() -> anyhow::Result<()> {
    let playbook = welcome_only()?;
    let mut env = Env::start(fast_options(&[("FIRSTWEEK_PLAYBOOK", &playbook)])).await?;
    let pair = |n: &str| Pair::new(&format!("{}-{n}", env.name), Utc::now());
    let (bounce, busy, down, hung) = (pair("bounce"), pair("busy"), pair("down"), pair("hung"));
    let all = [&bounce, &busy, &down, &hung];
    let roles: BTreeMap<String, String> = all.iter().flat_map(|p| p.roles()).collect();
    let start = |p: &Pair| p.started(&format!("{}-start", p.id));

    // 5xx for one address: that delivery fails for good, the other goes out.
    env.smtp_mode(&format!("5xx:{}", bounce.mentee()))?;
    env.publish_json("mentorship.started", &start(&bounce))
        .await?;
    env.wait_settled(&[&bounce.id], Duration::from_secs(30))
        .await?;
    let (status, detail) = delivery_status(&env, &bounce, "mentee").await?;
    assert_eq!(status, "failed");
    assert!(detail.contains("550"), "{detail}");
    let (status, _) = delivery_status(&env, &bounce, "mentor").await?;
    assert_eq!(status, "sent");

    // 4xx: retried with backoff until the server takes it.
    env.smtp_mode("4xx")?;
    env.publish_json("mentorship.started", &start(&busy))
        .await?;
    env.wait_count(
        "SELECT count(*) FROM timeline WHERE attempts > 0 AND status = 'scheduled'",
        2,
        Duration::from_secs(30),
    )
    .await?;
    env.smtp_mode("ok")?;
    env.wait_settled(&[&busy.id], Duration::from_secs(60))
        .await?;

    // The server is away: connection refused is transient too.
    env.stop_smtp().await;
    env.publish_json("mentorship.started", &start(&down))
        .await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(received(&env.mails(), &roles).get(&down.id), None);
    env.start_smtp().await?;
    env.wait_settled(&[&down.id], Duration::from_secs(60))
        .await?;

    // No final reply in time (the server is slow, 5 s > the 2 s timeout): "unknown", never resent.
    env.smtp_mode("slow:5")?;
    env.publish_json("mentorship.started", &start(&hung))
        .await?;
    env.wait_settled(&[&hung.id], Duration::from_secs(30))
        .await?;
    assert_eq!(delivery_status(&env, &hung, "mentor").await?.0, "unknown");
    env.smtp_mode("ok")?;
    tokio::time::sleep(Duration::from_secs(8)).await; // the slow server finishes; the lease passes

    let got = received(&env.mails(), &roles);
    let both = vec!["welcome->mentee".to_string(), "welcome->mentor".to_string()];
    assert_eq!(got[&bounce.id], vec!["welcome->mentor".to_string()]);
    assert_eq!(got[&busy.id], both);
    assert_eq!(got[&down.id], both);
    assert_eq!(
        got[&hung.id], both,
        "the server had them; resending would have duplicated them"
    );

    // The operator fixed the refused mailbox and sends that one email again; a sent one is refused.
    let resend = |pair: &Pair, recipient: &str| {
        std::process::Command::new(bin_dir().join("firstweek"))
            .args(["resend", &pair.id, "welcome", recipient])
            .env("DATABASE_URL", &env.database_url)
            .output()
    };
    let refused = resend(&busy, "mentor")?;
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("its delivery is sent"),
        "{refused:?}"
    );
    let done = resend(&bounce, "mentee")?;
    assert!(done.status.success(), "{done:?}");
    assert!(
        String::from_utf8_lossy(&done.stdout).contains("was failed"),
        "{done:?}"
    );
    env.wait_settled(&[&bounce.id], Duration::from_secs(30))
        .await?;
    assert_eq!(delivery_status(&env, &bounce, "mentee").await?.0, "sent");
    assert_eq!(
        received(&env.mails(), &roles)[&bounce.id],
        both,
        "the mentee got it once, the mentor not again"
    );
    env.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_poison_step_is_dead_lettered_after_bounded_attempts() -> anyhow::Result<()> {
    let env = Env::start(fast_options(&[])).await?;
    // A pair whose stored data cannot be read: every attempt at its step fails.
    sqlx::query("INSERT INTO mentorships (id, started_at, people) VALUES ('broken', now(), '{\"not\": \"a pair\"}')")
        .execute(&env.pool)
        .await?;
    sqlx::query(
        "INSERT INTO timeline (mentorship_id, step_id, recipient, due_at, send_at, next_at) VALUES ('broken', 'welcome', 'mentor', now(), now(), now())",
    )
    .execute(&env.pool)
    .await?;
    env.wait_count(
        "SELECT count(*) FROM timeline WHERE mentorship_id = 'broken' AND status = 'failed'",
        1,
        Duration::from_secs(30),
    )
    .await?;
    let dead = env.dead_letters().await?;
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert!(
        dead[0].1.contains("failed 5 times") && dead[0].1.contains("cannot be read"),
        "{}",
        dead[0].1
    );
    // It is not offered again.
    tokio::time::sleep(Duration::from_secs(12)).await;
    assert!(env.dead_letters().await?.is_empty());
    env.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_stops_the_services_quickly_and_loses_nothing() -> anyhow::Result<()> {
    let mut env = Env::start(fast_options(&[])).await?;
    let pairs: Vec<Pair> = (0..6)
        .map(|i| Pair::new(&format!("{}-p{i}", env.name), Utc::now()))
        .collect();
    for p in &pairs {
        env.publish_json("mentorship.started", &p.started(&format!("{}-start", p.id)))
            .await?;
    }
    // Mid-week (day 2 of 7), ask both services to stop.
    tokio::time::sleep(env.days(2.0).to_std()?).await;
    assert_eq!(env.signal("firstweek-", "TERM").await, 2);
    let took = env.wait_exit("firstweek-", Duration::from_secs(25)).await?;
    assert!(took < Duration::from_secs(25), "took {took:?}");

    // Whatever was in flight was finished or returned: new replicas finish the week exactly once.
    env.spawn("firstweek-scheduler", &[]).await?;
    env.spawn("firstweek-worker", &[]).await?;
    let ids: Vec<&str> = pairs.iter().map(|p| p.id.as_str()).collect();
    env.wait_settled(&ids, Duration::from_secs(60)).await?;
    let roles: BTreeMap<String, String> = pairs.iter().flat_map(|p| p.roles()).collect();
    let got = received(&env.mails(), &roles);
    for p in &pairs {
        assert_eq!(
            got[&p.id],
            vec![
                "check_in->mentee",
                "check_in->mentor",
                "escalation_early->coordinator",
                "escalation_reminder->coordinator",
                "plan_reminder->mentee",
                "plan_reminder->mentor",
                "welcome->mentee",
                "welcome->mentor",
                "wrap_up->mentee",
                "wrap_up->mentor"
            ],
            "{}",
            p.id
        );
    }
    let logs = std::fs::read_to_string(env.log_dir.join("firstweek-worker-1.log"))?;
    assert!(
        logs.contains("shutdown requested") && logs.contains("firstweek-worker stopped"),
        "{logs}"
    );
    env.stop().await;
    Ok(())
}
