//! The events API end to end: `firstweek-web` takes events over HTTP with
//! API keys made by the CLI, and the scheduler relays them to the exchange
//! for the workers' intake. A cohort published only over HTTP gets the same
//! emails as over AMQP; every refusal has its status and problem details.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::Utc;
use firstweek_tests::api::{
    self, ApiSite, api_key_cli, create_key, post_batch, post_event, problem, wait_for_api,
};
use firstweek_tests::cohort::{archetypes, interactions};
use firstweek_tests::expect::Expected;
use firstweek_tests::{Env, Options, Pair, port, received};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread")]
async fn a_cohort_published_only_over_http_gets_the_emails_it_would_over_amqp() -> anyhow::Result<()>
{
    let mut env = Env::start(Options {
        start_services: false,
        ..Options::default()
    })
    .await?;
    let web_port = port();
    let addr = format!("127.0.0.1:{web_port}");
    env.spawn("firstweek-worker", &[]).await?;
    env.spawn("firstweek-scheduler", &[]).await?;
    env.spawn_without(
        "firstweek-web",
        &["AMQP_URL", "SMTP_URL"],
        &[("FIRSTWEEK_WEB_ADDR", &addr)],
    )
    .await?;
    // Pair::started names the program `test-program`.
    let (_, key) = create_key(&env.database_url, "test-program").await?;
    wait_for_api(web_port, &key).await?;

    let start = Utc::now() + chrono::Duration::milliseconds(500);
    let d = |days: f64| env.days(days);
    let kinds = archetypes();
    let cohort: Vec<Expected> = kinds
        .iter()
        .map(|k| {
            Expected::new(
                Pair::new(&format!("{}-{}", env.name, k.name), start),
                &k.expected,
            )
        })
        .collect();
    // One start per request; each pair's interactions in one batch.
    for e in &cohort {
        let started = e.pair.started(&format!("{}-start", e.pair.id));
        let answer = post_event(web_port, &key, "mentorship.started", &started).await;
        assert_eq!(answer.status, 202, "{answer:?}");
    }
    for (kind, e) in kinds.iter().zip(&cohort) {
        let events: Vec<(&str, Value)> = interactions(&e.pair, &kind.beats, d)
            .into_iter()
            .map(|body| ("interaction.recorded", body))
            .collect();
        if events.is_empty() {
            continue;
        }
        let answer = post_batch(web_port, &key, &events).await;
        assert_eq!(answer.status, 202, "{answer:?}");
        assert_eq!(
            answer.json()["events"].as_array().map(Vec::len),
            Some(events.len())
        );
    }

    let ids: Vec<&str> = cohort.iter().map(|e| e.pair.id.as_str()).collect();
    env.wait_settled(&ids, Duration::from_secs(60)).await?;
    let roles: BTreeMap<String, String> = cohort.iter().flat_map(|e| e.pair.roles()).collect();
    let got = received(&env.mails(), &roles);
    let want: BTreeMap<String, Vec<String>> = cohort
        .iter()
        .map(|e| {
            let mut emails = e.emails.clone();
            emails.sort();
            (e.pair.id.clone(), emails)
        })
        .collect();
    assert_eq!(got, want, "logs in {}", env.log_dir.display());
    // Every accepted event went out on the exchange, and intake stored it.
    let unrelayed: i64 =
        sqlx::query_scalar("SELECT count(*) FROM inbound_events WHERE published_at IS NULL")
            .fetch_one(&env.pool)
            .await?;
    assert_eq!(unrelayed, 0);
    // Once relayed, the API keeps no content (the broker and intake own it,
    // and an erasure reaches it there): no address is left behind in its table.
    let kept: i64 =
        sqlx::query_scalar("SELECT count(*) FROM inbound_events WHERE payload::text ILIKE '%@%'")
            .fetch_one(&env.pool)
            .await?;
    assert_eq!(kept, 0, "relayed events still hold addresses");
    // The key and the people's addresses never reach the web's logs.
    for log in env.logs("firstweek-web") {
        assert!(!log.contains(&key), "the key is logged");
        assert!(!log.contains("@example.org"), "an address is logged");
    }
    env.stop().await;
    Ok(())
}

/// Events a key may publish a minute in these tests.
const RATE: u32 = 30;

#[tokio::test(flavor = "multi_thread")]
async fn keys_are_checked_scoped_to_their_program_and_revocable() -> anyhow::Result<()> {
    let site = ApiSite::start(RATE).await?;
    let pair = Pair::new(&format!("{}-a", site.db.name), Utc::now());
    let started = pair.started(&format!("{}-start", pair.id));
    let (revoked_id, revoked) = create_key(&site.db.url, "test-program").await?;
    let key = site.key("test-program").await?;
    let other = site.key("other-program").await?;

    // No key, not a key, a key nobody was given: 401.
    let body = api::envelope("mentorship.started", &started).to_string();
    let none = api::post(site.web.port, "/api/v1/events", None, body.as_bytes()).await;
    problem(&none, 401);
    assert_eq!(none.header("www-authenticate").as_deref(), Some("Bearer"));
    problem(
        &site.post("not-a-key", "mentorship.started", &started).await,
        401,
    );
    let stranger = format!("fwk_{}", "0".repeat(64));
    problem(
        &site.post(&stranger, "mentorship.started", &started).await,
        401,
    );

    // A revoked key is refused from its next request.
    assert_eq!(
        site.post(
            &revoked,
            "person.erased",
            &json!({"event_id": "x1", "person_id": "nobody"})
        )
        .await
        .status,
        404
    );
    api_key_cli(&site.db.url, &["revoke", &revoked_id.to_string()]).await?;
    problem(
        &site.post(&revoked, "mentorship.started", &started).await,
        401,
    );
    let listed = api_key_cli(&site.db.url, &["list"]).await?;
    assert!(
        listed.contains("other-program") && !listed.contains("fwk_"),
        "{listed}"
    );

    // Another program's key cannot start the pair (403), nor touch it once started (404).
    let p = problem(
        &site.post(&other, "mentorship.started", &started).await,
        403,
    );
    assert_eq!(p["field"], "event.program_id");
    assert_eq!(
        site.post(&key, "mentorship.started", &started).await.status,
        202
    );
    let talk = pair.interaction(1, "message", "mentor", chrono::Duration::minutes(1), None);
    let p = problem(&site.post(&other, "interaction.recorded", &talk).await, 404);
    assert_eq!(p["field"], "event.mentorship_id");
    let unsubscribe = json!({"event_id": "u1", "person_id": format!("{}-mentor", pair.id), "unsubscribed_at": Utc::now().to_rfc3339()});
    let by_other = site
        .post(&other, "participant.unsubscribed", &unsubscribe)
        .await;
    problem(&by_other, 404);
    // A pair stored by intake (published over AMQP) belongs to its program too.
    let stored = Pair::new(&format!("{}-stored", site.db.name), Utc::now());
    site.db
        .ingest(
            "mentorship.started",
            &stored.started(&format!("{}-start", stored.id)),
        )
        .await?;
    let stored_talk =
        stored.interaction(1, "message", "mentee", chrono::Duration::minutes(1), None);
    problem(
        &site
            .post(&other, "interaction.recorded", &stored_talk)
            .await,
        404,
    );
    assert_eq!(
        site.post(&key, "interaction.recorded", &stored_talk)
            .await
            .status,
        202
    );
    assert_eq!(
        site.post(&key, "interaction.recorded", &talk).await.status,
        202
    );

    // What was accepted waits for the relay, with the key's program.
    let waiting: Vec<(String, String)> = sqlx::query_as(
        "SELECT routing_key, program_id FROM inbound_events WHERE published_at IS NULL ORDER BY id",
    )
    .fetch_all(&site.db.pool)
    .await?;
    assert_eq!(waiting.len(), 3, "{waiting:?}");
    assert!(waiting.iter().all(|(_, p)| p == "test-program"));

    // The web's role reaches keys and accepted events only through its function.
    let as_web = site.role.pool().await?;
    for sql in [
        "SELECT key_hash FROM api_keys",
        "SELECT payload FROM inbound_events",
        "INSERT INTO inbound_events (event_id, routing_key, payload, program_id, key_id) VALUES ('x', 'person.erased', '{}', 'p', 1)",
        "UPDATE api_keys SET revoked_at = NULL",
    ] {
        assert!(
            sqlx::query(sql).execute(&as_web).await.is_err(),
            "the web role may: {sql}"
        );
    }
    as_web.close().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn refusals_have_their_status_and_name_the_field() -> anyhow::Result<()> {
    let site = ApiSite::start(RATE).await?;
    let key = site.key("test-program").await?;
    let pair = Pair::new(&format!("{}-b", site.db.name), Utc::now());
    let started = pair.started(&format!("{}-start", pair.id));

    // Accepted, accepted again (a repeat), conflicting with other content.
    let first = site.post(&key, "mentorship.started", &started).await;
    assert_eq!(
        (first.status, first.json()["status"].clone()),
        (202, json!("accepted")),
        "{first:?}"
    );
    let again = site.post(&key, "mentorship.started", &started).await;
    assert_eq!(
        (again.status, again.json()["status"].clone()),
        (202, json!("repeat")),
        "{again:?}"
    );
    // The same instant written with another offset, keys in another order: the same event.
    let at: chrono::DateTime<chrono::FixedOffset> =
        started["started_at"].as_str().unwrap_or("").parse()?;
    let mut rewritten = serde_json::Map::new();
    for (k, v) in started.as_object().into_iter().flatten().rev() {
        rewritten.insert(k.clone(), v.clone());
    }
    rewritten.insert(
        "started_at".into(),
        json!(
            at.with_timezone(&chrono::FixedOffset::east_opt(3600).unwrap_or(at.timezone()))
                .to_rfc3339()
        ),
    );
    let again = site
        .post(&key, "mentorship.started", &Value::Object(rewritten))
        .await;
    assert_eq!(
        (again.status, again.json()["status"].clone()),
        (202, json!("repeat")),
        "{again:?}"
    );
    let mut changed = started.clone();
    changed["mentor"]["name"] = json!("Someone Else");
    let p = problem(&site.post(&key, "mentorship.started", &changed).await, 409);
    assert_eq!(p["field"], "event.event_id");

    // An event intake stored from AMQP: the same again is a repeat, other content a conflict.
    let amqp = Pair::new(&format!("{}-amqp", site.db.name), Utc::now());
    let amqp_start = amqp.started(&format!("{}-start", amqp.id));
    site.db.ingest("mentorship.started", &amqp_start).await?;
    let again = site.post(&key, "mentorship.started", &amqp_start).await;
    assert_eq!(
        (again.status, again.json()["status"].clone()),
        (202, json!("repeat")),
        "{again:?}"
    );
    let mut other = amqp_start.clone();
    other["coordinator"]["name"] = json!("Someone Else");
    problem(&site.post(&key, "mentorship.started", &other).await, 409);

    // Invalid: the reason the dead-letter queue would give, naming the field, not the value.
    let mut same_address = started.clone();
    same_address["event_id"] = json!("b-2");
    same_address["mentee"]["email"] = same_address["mentor"]["email"].clone();
    let answer = site.post(&key, "mentorship.started", &same_address).await;
    let p = problem(&answer, 422);
    assert_eq!(p["field"], "event.mentee.email");
    assert!(!answer.body.contains(&pair.mentor()), "{answer:?}");
    let p = problem(&site.post(&key, "mentorship.begun", &started).await, 422);
    assert_eq!(p["field"], "type");
    // A batch names the event at fault by its index and keeps none of it.
    let fresh = Pair::new(&format!("{}-c", site.db.name), Utc::now());
    let mut late = fresh.interaction(2, "message", "mentor", chrono::Duration::minutes(1), None);
    late["duration_minutes"] = json!(5000);
    let batch = [
        (
            "mentorship.started",
            fresh.started(&format!("{}-start", fresh.id)),
        ),
        ("interaction.recorded", late),
    ];
    let p = problem(&post_batch(site.web.port, &key, &batch).await, 422);
    assert_eq!(p["field"], "events[1].event.duration_minutes");
    let kept: i64 =
        sqlx::query_scalar("SELECT count(*) FROM inbound_events WHERE mentorship_id = $1")
            .bind(&fresh.id)
            .fetch_one(&site.db.pool)
            .await?;
    assert_eq!(kept, 0);

    // Not JSON: 400. Too large: 413.
    problem(
        &api::post(site.web.port, "/api/v1/events", Some(&key), b"{\"type\": ").await,
        400,
    );
    let mut huge = started.clone();
    huge["mentor"]["name"] = json!("x".repeat(70 * 1024));
    let body = api::envelope("mentorship.started", &huge).to_string();
    problem(
        &api::post(site.web.port, "/api/v1/events", Some(&key), body.as_bytes()).await,
        413,
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_over_its_rate_is_told_when_to_come_back() -> anyhow::Result<()> {
    let site = ApiSite::start(RATE).await?;
    let key = site.key("test-program").await?;
    let quiet = site.key("test-program").await?;
    let pair = Pair::new(&format!("{}-r", site.db.name), Utc::now());
    let started = pair.started(&format!("{}-start", pair.id));
    // The same event over and over: each request counts, repeats too.
    let mut statuses = Vec::new();
    let mut limited = None;
    for _ in 0..2 * RATE + 2 {
        let answer = site.post(&key, "mentorship.started", &started).await;
        statuses.push(answer.status);
        if answer.status == 429 {
            limited = Some(answer);
            break;
        }
    }
    let limited = limited.expect("no 429 within twice the rate");
    problem(&limited, 429);
    let wait: u32 = limited
        .header("retry-after")
        .and_then(|s| s.parse().ok())
        .expect("Retry-After");
    assert!((1..=60).contains(&wait), "{wait}");
    // The limit is counted per minute window; one that straddles a minute's
    // turn may take up to twice the rate before it says 429.
    assert!(statuses.len() > RATE as usize / 2, "{statuses:?}");
    assert!(
        statuses[..statuses.len() - 1].iter().all(|s| *s == 202),
        "{statuses:?}"
    );
    // Another key of the same program is not held up.
    assert_eq!(
        site.post(&quiet, "mentorship.started", &started)
            .await
            .status,
        202
    );
    Ok(())
}

/// `scripts/schemathesis.sh`: schemathesis generates requests from
/// `docs/openapi.yaml` (valid events and invalid ones) and checks every
/// answer against it: no server error, only documented statuses, content
/// types, headers and bodies, and every request the document says is
/// invalid refused.
#[tokio::test(flavor = "multi_thread")]
async fn schemathesis_finds_nothing_wrong_with_the_live_api() -> anyhow::Result<()> {
    let site = ApiSite::start(100_000).await?;
    let key = site.key("test-program").await?;
    let script = firstweek_tests::repo_root().join("scripts/schemathesis.sh");
    let out = tokio::process::Command::new("bash")
        .arg(script)
        .arg(format!("http://127.0.0.1:{}", site.web.port))
        .arg(&key)
        .output()
        .await?;
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "schemathesis failed:\n{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Both operations were exercised (a document that did not load tests none).
    assert!(report.contains("Tested: 2"), "{report}");
    assert!(!report.contains(&key), "the key is printed");
    Ok(())
}
