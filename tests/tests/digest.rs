//! The coordinators' daily digest, end to end: the scheduler's cron job adds
//! one row per coordinator per day, the worker gathers that coordinator's pairs
//! and sends one email through the delivery ledger.

use std::time::Duration;

use chrono::Utc;
use firstweek_tests::{Env, Options, Pair};

#[tokio::test(flavor = "multi_thread")]
async fn each_coordinator_gets_one_digest_a_day_of_their_live_pairs() -> anyhow::Result<()> {
    // A program day lasts 10 s, so every pair stays in the digest's horizon (a week and a day) for the test.
    let mut options = Options {
        scale: 8_640.0,
        start_services: false,
        ..Options::default()
    };
    // Every 2 s: the job runs many times, and must still add one digest per coordinator per day.
    options
        .env
        .push(("FIRSTWEEK_DIGEST_CRON".into(), "*/2 * * * * *".into()));
    let mut env = Env::start(options).await?;
    let now = Utc::now();
    let coordinator = format!("coord.{}@example.org", env.name);
    let with_coordinator = |pair: &Pair, address: &str| {
        let mut v = pair.started(&format!("{}-start", pair.id));
        v["coordinator"] = serde_json::json!({"name": "Cy Coordinator", "email": address});
        v
    };
    let engaged = Pair::new(&format!("{}-engaged", env.name), now);
    let silent = Pair::new(&format!("{}-silent", env.name), now - env.days(3.0));
    let ended = Pair::new(&format!("{}-ended", env.name), now);
    let lonely_coordinator = format!("other.{}@example.org", env.name);

    // Everything is stored before the scheduler (and so the digest job) starts.
    env.spawn("firstweek-worker", &[]).await?;
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
    env.spawn("firstweek-scheduler", &[]).await?;

    env.wait_count(
        "SELECT count(*) FROM timeline WHERE step_id LIKE 'digest-%' AND status NOT IN ('scheduled', 'published')",
        1,
        Duration::from_secs(60),
    )
    .await?;
    // Several more runs of the job: none of them may add a second digest today.
    env.expect_no_more_mail_where(Duration::from_secs(7), |m| m.step.starts_with("digest-"))
        .await?;

    let digests: Vec<_> = env
        .mails()
        .into_iter()
        .filter(|m| m.step.starts_with("digest-"))
        .collect();
    assert_eq!(
        digests.len(),
        1,
        "one digest, to the coordinator with live pairs: {:#?}",
        digests.iter().map(|m| &m.rcpt).collect::<Vec<_>>()
    );
    let digest = &digests[0];
    assert_eq!(digest.rcpt, coordinator);
    assert_eq!(digest.step, format!("digest-{}", Utc::now().date_naive()));
    assert_eq!(digest.mentorship, format!("digest:{coordinator}"));
    assert_eq!(
        digest.subject,
        "Your mentorship pairs today: 1 of 2 need a look"
    );
    let line_of = |pair: &Pair| {
        let start = digest
            .text
            .find(&format!("({})", pair.id))
            .unwrap_or_else(|| panic!("{} not in the digest:\n{}", pair.id, digest.text));
        digest.text[start..]
            .lines()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ")
    };
    let engaged_line = line_of(&engaged);
    assert!(
        engaged_line.contains("4 interactions (2 mentor, 2 mentee), plan shared")
            && engaged_line.contains("on track"),
        "{engaged_line}"
    );
    let silent_line = line_of(&silent);
    assert!(
        silent_line.contains("0 interactions")
            && silent_line.contains("needs a look: no interaction"),
        "{silent_line}"
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
    Ok(())
}
