//! Signed webhooks out, end to end: a program's endpoints registered with
//! `firstweek webhook add`, a receiver that verifies every signature with
//! the Standard Webhooks reference library, the events exactly as the
//! exchange carries them, retries through the receiver's outage with the
//! same `webhook-id`, an endpoint that never answers holding up no other,
//! one that is never up listed as failing, `deliveries` and `replay`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use chrono::Utc;
use firstweek_tests::webhooks::{Answers, Receiver};
use firstweek_tests::{Env, Launch, Options, Pair, port};

const PROGRAM: &str = "test-program";

/// A count of one endpoint's deliveries (`$1`: the endpoint).
async fn count(env: &Env, sql: &'static str, endpoint: i64) -> i64 {
    sqlx::query_scalar(sql)
        .bind(endpoint)
        .fetch_one(&env.pool)
        .await
        .unwrap_or(-1)
}

/// Waits until `sql` counts at least `want` for `endpoint`.
async fn wait_for(
    env: &Env,
    sql: &'static str,
    endpoint: i64,
    want: i64,
    limit: Duration,
) -> anyhow::Result<()> {
    let start = Instant::now();
    loop {
        let n = count(env, sql, endpoint).await;
        if n >= want {
            return Ok(());
        }
        if start.elapsed() > limit {
            bail!(
                "{sql} ({endpoint}): {n} < {want} after {limit:?}; logs in {}",
                env.log_dir.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Pairs silent since 4.3 program days ago: their early escalation is due at once.
async fn silent_pairs(env: &Env, names: &[&str]) -> anyhow::Result<Vec<Pair>> {
    let started = Utc::now() - env.days(4.3);
    let pairs: Vec<Pair> = names
        .iter()
        .map(|n| Pair::new(&format!("{}-{n}", env.name), started))
        .collect();
    for p in &pairs {
        env.publish_json("mentorship.started", &p.started(&format!("{}-start", p.id)))
            .await?;
    }
    Ok(pairs)
}

const DELIVERED: &str =
    "SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = $1 AND status = 'delivered'";
const ALL: &str = "SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = $1";

#[tokio::test(flavor = "multi_thread")]
async fn a_verifying_receiver_gets_every_escalation_event_as_the_exchange_carries_it_through_its_outage()
-> anyhow::Result<()> {
    // A program day lasts 6 s: the whole retry schedule (about 27 program
    // hours) about 7 s.
    let options = Options {
        scale: 14_400.0,
        start_services: false,
        launch: Launch::InProcess,
        ..Options::default()
    };
    let mut env = Env::start(options).await?;
    let exchange = env.listen("escalation.#").await?;
    let mut receiver = Receiver::new(&env, "verifying", Answers::Promptly);
    let (endpoint, secret) = env
        .add_webhook(
            PROGRAM,
            &receiver.url(),
            "escalation.opened,escalation.acknowledged,escalation.resolved",
        )
        .await?;
    receiver.secret = secret;
    // Never up: its deliveries use up their retries and it is listed failing.
    let nowhere = format!("http://127.0.0.1:{}/", port());
    let (dead, _) = env
        .add_webhook(PROGRAM, &nowhere, "escalation.opened")
        .await?;
    // Another program's endpoint hears nothing of this one's pairs.
    let (other, _) = env
        .add_webhook("other-program", &nowhere, "escalation.opened")
        .await?;
    let refused = env
        .cli(&[
            "webhook",
            "add",
            "--program",
            PROGRAM,
            "--url",
            "http://hooks.example.org/",
            "--events",
            "escalation.opened",
        ])
        .await;
    assert!(
        refused.is_err(),
        "plain http:// to another host is refused: {refused:?}"
    );

    let pairs = silent_pairs(&env, &["acked", "ends", "open"]).await?;
    env.launch("firstweek-worker", &[]).await?;
    env.launch("firstweek-scheduler", &[]).await?;

    // The receiver is down: deliveries are tried and tried again.
    let limit = Duration::from_secs(40);
    wait_for(&env, "SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = $1 AND attempts >= 3 AND status = 'pending'", endpoint, 1, limit).await?;
    let retried: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM webhook_deliveries WHERE endpoint_id = $1 AND attempts >= 2",
    )
    .bind(endpoint)
    .fetch_all(&env.pool)
    .await?;
    assert!(receiver.received()?.is_empty());
    receiver.start().await?;

    // Acknowledged by an operator; ended (resolved).
    env.cli(&["escalation", "ack", &pairs[0].id]).await?;
    env.publish_json(
        "mentorship.ended",
        &pairs[1].ended(Utc::now() - pairs[1].started_at),
    )
    .await?;
    wait_for(&env, DELIVERED, endpoint, 5, limit).await?;

    // Every event the exchange carried, byte for byte, signed and verified.
    let start = Instant::now();
    let mut carried = BTreeMap::new();
    while carried.len() < 5 && start.elapsed() < limit {
        for (key, body) in env.take_raw(&exchange).await? {
            carried.insert(String::from_utf8(body)?, key);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let received = receiver.received()?;
    assert!(
        received.iter().all(|r| r.verified),
        "every signature verifies: {received:?}"
    );
    assert!(
        received
            .iter()
            .all(|r| r.content_type.as_deref() == Some("application/json"))
    );
    assert!(received.iter().all(|r| r.timestamp.parse::<i64>().is_ok()));
    let bodies: BTreeSet<&String> = received.iter().map(|r| &r.body).collect();
    assert_eq!(
        bodies,
        carried.keys().collect(),
        "the receiver got exactly what the exchange carried"
    );
    let mut kinds: Vec<&str> = carried.values().map(String::as_str).collect();
    kinds.sort_unstable();
    assert_eq!(
        kinds,
        [
            "escalation.acknowledged",
            "escalation.opened",
            "escalation.opened",
            "escalation.opened",
            "escalation.resolved"
        ]
    );

    // Each delivery once, under its own webhook-id; the retries that began
    // in the outage arrived with the id they were first tried with.
    let ids: BTreeMap<String, String> = sqlx::query_as::<_, (i64, String)>(
        "SELECT id, body FROM webhook_deliveries WHERE endpoint_id = $1",
    )
    .bind(endpoint)
    .fetch_all(&env.pool)
    .await?
    .into_iter()
    .map(|(id, body)| (format!("msg_{id}"), body))
    .collect();
    for r in &received {
        assert_eq!(
            ids.get(&r.webhook_id),
            Some(&r.body),
            "{} carries its own event",
            r.webhook_id
        );
    }
    let seen: BTreeSet<&str> = received.iter().map(|r| r.webhook_id.as_str()).collect();
    assert_eq!(seen.len(), received.len(), "no delivery twice");
    assert!(!retried.is_empty());
    for id in &retried {
        assert!(
            seen.contains(format!("msg_{id}").as_str()),
            "retried delivery {id} arrived after the outage"
        );
    }

    // The operator's view: the deliveries, a replay with the same webhook-id.
    let listed = env
        .cli(&[
            "webhook",
            "deliveries",
            "--endpoint",
            &endpoint.to_string(),
            "--status",
            "delivered",
        ])
        .await?;
    assert_eq!(
        listed.lines().filter(|l| l.contains(" delivered ")).count(),
        5,
        "{listed}"
    );
    let again = retried[0];
    let replayed = env.cli(&["webhook", "replay", &again.to_string()]).await?;
    assert!(replayed.contains(&format!("msg_{again}")), "{replayed}");
    let start = Instant::now();
    loop {
        let copies: Vec<_> = receiver
            .received()?
            .into_iter()
            .filter(|r| r.webhook_id == format!("msg_{again}"))
            .collect();
        if copies.len() == 2 {
            assert_eq!(copies[0].body, copies[1].body);
            assert!(copies[1].verified, "a replay is signed anew");
            break;
        }
        anyhow::ensure!(start.elapsed() < limit, "the replay did not arrive");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The endpoint that is never up: failed after its last try, failing.
    wait_for(&env, "SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = $1 AND status = 'failed' AND attempts = 8", dead, 3, limit).await?;
    let list = env.cli(&["webhook", "list"]).await?;
    let row = |id: i64| {
        list.lines()
            .find(|l| l.starts_with(&format!("{id} ")))
            .map(str::to_string)
    };
    let dead_row = row(dead).context("the failing endpoint is listed")?;
    assert!(dead_row.contains("failing since"), "{list}");
    assert!(
        row(endpoint).is_some_and(|r| r.contains(" active ")),
        "{list}"
    );
    assert_eq!(
        count(&env, ALL, other).await,
        0,
        "another program's endpoint got nothing"
    );
    env.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn an_endpoint_that_never_answers_holds_up_no_other() -> anyhow::Result<()> {
    let mut options = Options {
        start_services: false,
        launch: Launch::InProcess,
        ..Options::default()
    };
    // Longer than the test: the stuck requests stay stuck throughout.
    options
        .env
        .push(("FIRSTWEEK_WEBHOOK_TIMEOUT_SECS".into(), "60".into()));
    let mut env = Env::start(options).await?;
    let events = "escalation.opened,email.sent";
    let mut stuck = Receiver::new(&env, "stuck", Answers::Never);
    let (stuck_id, secret) = env.add_webhook(PROGRAM, &stuck.url(), events).await?;
    stuck.secret = secret;
    stuck.start().await?;
    let mut prompt = Receiver::new(&env, "prompt", Answers::Promptly);
    let (prompt_id, secret) = env.add_webhook(PROGRAM, &prompt.url(), events).await?;
    prompt.secret = secret;
    prompt.start().await?;

    let pairs = silent_pairs(&env, &["a", "b", "c", "d", "e", "f"]).await?;
    env.launch("firstweek-worker", &[]).await?;
    env.launch("firstweek-scheduler", &[]).await?;
    let ids: Vec<&str> = pairs.iter().map(|p| p.id.as_str()).collect();
    env.wait_settled(&ids, Duration::from_secs(60)).await?;
    let emails: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM deliveries WHERE status = 'sent' AND mentorship_id = ANY($1)",
    )
    .bind(&ids)
    .fetch_one(&env.pool)
    .await?;
    // Every email sent and every escalation opened, announced to both.
    let want = emails + pairs.len() as i64;
    assert!(emails >= 12, "{emails} emails");
    wait_for(&env, DELIVERED, prompt_id, want, Duration::from_secs(30)).await?;
    assert_eq!(count(&env, ALL, stuck_id).await, want);

    // The prompt endpoint's deliveries were not held up behind the stuck ones.
    let slowest: f64 = sqlx::query_scalar(
        "SELECT extract(epoch FROM max(finished_at - created_at))::float8 FROM webhook_deliveries WHERE endpoint_id = $1",
    )
    .bind(prompt_id)
    .fetch_one(&env.pool)
    .await?;
    assert!(
        slowest < 3.0,
        "the prompt endpoint's slowest delivery took {slowest} s"
    );
    assert!(prompt.received()?.iter().all(|r| r.verified));
    // The stuck endpoint holds its share of the dispatcher and no more.
    let held = stuck.received()?.len();
    assert!(
        (1..=4).contains(&held),
        "{held} requests in flight to the stuck endpoint"
    );
    assert_eq!(count(&env, DELIVERED, stuck_id).await, 0);
    let events_sent: Vec<String> = prompt.received()?.into_iter().map(|r| r.body).collect();
    assert!(
        events_sent.iter().all(|b| !b.contains('@')),
        "no address in any event"
    );
    // An email.sent carries what its schema says, and nothing more.
    let documented = [
        "event_id",
        "mentorship_id",
        "occurred_at",
        "program_id",
        "recipient",
        "step_id",
    ];
    for body in events_sent
        .iter()
        .filter(|b| b.contains("firstweek-email-"))
    {
        let v: serde_json::Value = serde_json::from_str(body)?;
        let keys: Vec<&str> = v
            .as_object()
            .context("an object")?
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, documented, "{body}");
        assert_eq!(v["program_id"], PROGRAM);
    }
    assert!(
        events_sent
            .iter()
            .any(|b| b.contains("\"recipient\": \"mentee\"")
                && b.contains("\"step_id\": \"welcome\"")),
        "{events_sent:?}"
    );
    env.stop().await;
    Ok(())
}
