//! The `firstweek` binary against a private PostgreSQL database and RabbitMQ
//! vhost per test (created here, dropped at the end).

use std::path::PathBuf;
use std::process::Output;

use chrono::{DateTime, Duration, Utc};
use firstweek::event::Event;
use firstweek_broker as broker;
use firstweek_store as store;
use firstweek_tests::{TestDb, TestVhost, unique};
use lapin::BasicProperties;
use serde_json::{Value, json};
use sqlx::PgPool;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default()
}

/// Runs the CLI with only the given settings (none inherited).
async fn cli(env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_firstweek"));
    for var in [
        "DATABASE_URL",
        "AMQP_URL",
        "FIRSTWEEK_PLAYBOOK",
        "FIRSTWEEK_TEMPLATES_DIR",
        "FIRSTWEEK_TIME_SCALE",
        "FIRSTWEEK_SEND_WINDOW",
    ] {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied()).args(args);
    cmd.output().await.expect("running firstweek")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[track_caller]
fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        stdout(o),
        stderr(o)
    );
    stdout(o)
}

#[track_caller]
fn fails(o: &Output) -> String {
    assert_eq!(
        o.status.code(),
        Some(1),
        "stdout:\n{}\nstderr:\n{}",
        stdout(o),
        stderr(o)
    );
    stderr(o)
}

/// A private database (the shared harness's, dropped when the test ends).
struct Db {
    db: TestDb,
    pool: PgPool,
}

impl Db {
    async fn new() -> Db {
        let db = TestDb::create("fwcli").await.expect("a test database");
        let pool = db.pool.clone();
        Db { db, pool }
    }

    fn env(&self) -> Vec<(&str, &str)> {
        vec![("DATABASE_URL", self.db.url.as_str())]
    }

    async fn ingest(&self, routing_key: &str, body: Value) {
        self.db.ingest(routing_key, &body).await.expect("ingest");
    }

    async fn count(&self, table: &str) -> i64 {
        self.db.count(table).await.expect("count")
    }
}

/// A private vhost (the shared harness's, deleted when the test ends).
struct Vhost(TestVhost);

impl Vhost {
    async fn new() -> Vhost {
        Vhost(TestVhost::create("fwcli").await.expect("a test vhost"))
    }

    fn env(&self) -> Vec<(&str, &str)> {
        vec![("AMQP_URL", self.0.url.as_str())]
    }

    async fn dead_letter(&self, routing_key: &str, body: &[u8], reason: &str) {
        self.0
            .dead_letter(routing_key, body, reason)
            .await
            .expect("dead letter");
    }

    /// Drains a queue: (routing key, properties, body) of each message.
    async fn drain(&self, queue: &str) -> Vec<(String, BasicProperties, Vec<u8>)> {
        self.0
            .drain(queue)
            .await
            .expect("drain")
            .into_iter()
            .map(|d| (d.routing_key, d.properties, d.body))
            .collect()
    }
}

fn started(id: &str, at: DateTime<Utc>) -> Value {
    json!({
        "event_id": format!("{id}-start"), "mentorship_id": id, "program_id": "spring",
        "started_at": at.to_rfc3339(),
        "mentor": {"id": "a", "name": "Ada Lovelace", "email": "ada@example.org", "timezone": "Europe/Berlin"},
        "mentee": {"id": "b", "name": "Bo Chen", "email": "bo@example.org", "timezone": "Asia/Tokyo"},
        "coordinator": {"name": "Cy", "email": "cy@example.org"}
    })
}

fn interaction(id: &str, n: u32, kind: &str, actor: &str, at: DateTime<Utc>) -> Value {
    json!({
        "event_id": format!("{id}-i{n}"), "mentorship_id": id, "kind": kind, "actor": actor,
        "occurred_at": at.to_rfc3339()
    })
}

#[tokio::test]
async fn playbook_validate_shows_the_steps_or_the_line_that_is_wrong() {
    let built_in = repo_root().join("shared/playbooks/first-week.toml");
    let out = ok(&cli(&[], &["playbook", "validate", built_in.to_str().unwrap()]).await);
    assert!(out.contains("playbook \"first-week\""), "{out}");
    for line in [
        "escalation_early  at 4d",
        "coordinator     no_interaction",
        "low_interaction or one_sided or no_plan",
        "pacing_tip        on intense_interaction",
    ] {
        assert!(out.contains(line), "{line:?} in\n{out}");
    }
    assert!(out.trim_end().ends_with("ok"), "{out}");

    let dir = std::env::temp_dir().join(unique("fwcli_playbook"));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        "name = \"x\"\n[[step]]\nid = \"hello\"\nat = \"1d\"\nto = [\"mentor\"]\nwhen = \"sunny\"\n",
    )
    .unwrap();
    let err = fails(&cli(&[], &["playbook", "validate", bad.to_str().unwrap()]).await);
    assert!(
        err.contains(&format!(
            "{}:6: step \"hello\": unknown condition \"sunny\"",
            bad.display()
        )),
        "{err}"
    );

    // A step whose template does not exist, and a template that does not render.
    let missing = dir.join("missing.toml");
    std::fs::write(
        &missing,
        "name = \"x\"\n[[step]]\nid = \"hello\"\nat = \"1d\"\nto = [\"mentor\"]\n",
    )
    .unwrap();
    let err = fails(&cli(&[], &["playbook", "validate", missing.to_str().unwrap()]).await);
    assert!(
        err.contains("step \"hello\" uses template \"hello\""),
        "{err}"
    );

    let templates = dir.join("templates");
    std::fs::create_dir_all(&templates).unwrap();
    std::fs::write(templates.join("welcome.txt"), "Hi {{ recipient.nickname }}").unwrap();
    let env = [("FIRSTWEEK_TEMPLATES_DIR", templates.to_str().unwrap())];
    let err = fails(&cli(&env, &["playbook", "validate", built_in.to_str().unwrap()]).await);
    assert!(
        err.contains("step \"welcome\" (template \"welcome\") does not render for the mentor"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn template_render_previews_a_locale_and_refuses_a_tag_that_is_not_one() {
    let out = ok(&cli(
        &[],
        &[
            "template",
            "render",
            "welcome",
            "--recipient",
            "mentor",
            "--locale",
            "de-AT",
            "--part",
            "subject",
        ],
    )
    .await);
    assert_eq!(
        out,
        "Lerne Grace Hopper kennen: eure erste Woche beginnt jetzt\n"
    );
    let out = ok(&cli(
        &[],
        &[
            "template", "render", "digest", "--locale", "es", "--part", "subject",
        ],
    )
    .await);
    assert!(out.starts_with("Tus parejas hoy: "), "{out}");
    let o = cli(
        &[],
        &["template", "render", "welcome", "--locale", "German"],
    )
    .await;
    // A usage error, as clap reports one (exit 2), naming what a tag is.
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("is not a BCP 47 language tag"),
        "{}",
        stderr(&o)
    );
}

#[tokio::test]
async fn template_render_previews_built_in_and_overridden_templates() {
    let out = ok(&cli(
        &[],
        &["template", "render", "welcome", "--recipient", "mentor"],
    )
    .await);
    assert!(
        out.contains("template welcome (built-in), step welcome, to the mentor"),
        "{out}"
    );
    assert!(out.contains("\nSubject: "), "{out}");
    assert!(
        out.contains("--- text/plain ---") && out.contains("--- text/html ---"),
        "{out}"
    );
    assert!(
        out.contains("Grace Hopper"),
        "the mentor reads about the mentee: {out}"
    );
    assert!(
        out.contains("write to grace@example.org") && out.contains("times suit you both"),
        "the preview shows how to reach the mentee and the call times: {out}"
    );

    let out = ok(&cli(
        &[],
        &[
            "template",
            "render",
            "escalation",
            "--recipient",
            "coordinator",
        ],
    )
    .await);
    assert!(out.contains("Hi Cy,"), "{out}");
    assert!(
        out.contains("one-sided: only the mentor has interacted"),
        "{out}"
    );

    // The coordinators' daily digest has its own sample context.
    let out = ok(&cli(&[], &["template", "render", "digest"]).await);
    assert!(
        out.contains("template digest (built-in), the daily digest"),
        "{out}"
    );
    assert!(
        out.contains("Hi Cy,") && out.contains("m-sample-2"),
        "{out}"
    );

    let dir = std::env::temp_dir().join(unique("fwcli_templates"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("welcome.subject"),
        "Welcome, {{ recipient.name }}!",
    )
    .unwrap();
    let env = [("FIRSTWEEK_TEMPLATES_DIR", dir.to_str().unwrap())];
    let out = ok(&cli(
        &env,
        &["template", "render", "welcome", "--part", "subject"],
    )
    .await);
    assert_eq!(out, "Welcome, Grace Hopper!\n");
    let out = ok(&cli(&env, &["template", "list"]).await);
    assert!(
        out.contains("overridden from") && out.contains("  wrap_up\n"),
        "{out}"
    );

    let err = fails(&cli(&[], &["template", "render", "farewell"]).await);
    assert!(
        err.contains("no template \"farewell\"") && err.contains("welcome"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeline_at_risk_and_dry_run_read_an_ingested_pair() {
    let db = Db::new().await;
    let now = Utc::now();
    // Started three days ago: the mentor wrote twice, the mentee never.
    let quiet = "m-quiet";
    db.ingest(
        "mentorship.started",
        started(quiet, now - Duration::days(3)),
    )
    .await;
    db.ingest(
        "interaction.recorded",
        interaction(quiet, 1, "message", "mentor", now - Duration::hours(60)),
    )
    .await;
    db.ingest(
        "interaction.recorded",
        interaction(quiet, 2, "message", "mentor", now - Duration::hours(20)),
    )
    .await;
    // Started five days ago and engaged from the first day.
    let engaged = "m-engaged";
    db.ingest(
        "mentorship.started",
        started(engaged, now - Duration::days(5)),
    )
    .await;
    for (n, kind, actor, h) in [
        (1, "message", "mentor", 110),
        (2, "message", "mentee", 100),
        (3, "goal_set", "mentee", 90),
        (4, "call", "mentor", 80),
    ] {
        db.ingest(
            "interaction.recorded",
            interaction(engaged, n, kind, actor, now - Duration::hours(h)),
        )
        .await;
    }
    // Silent for five days.
    let silent = "m-silent";
    db.ingest(
        "mentorship.started",
        started(silent, now - Duration::days(5)),
    )
    .await;

    // The welcome to the mentor went out; the check-in was skipped.
    let (welcome_id,): (i64,) = sqlx::query_as(
        "SELECT id FROM timeline WHERE mentorship_id = $1 AND step_id = 'welcome' AND recipient = 'mentor'",
    )
    .bind(quiet)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let row = store::timeline_row(&db.pool, welcome_id)
        .await
        .unwrap()
        .unwrap();
    let claim = store::DeliveryClaim {
        row: row.clone(),
        once_key: "welcome".into(),
        message_id: "<abc.welcome@example.org>".into(),
        budget: None,
    };
    let store::Claim::Granted { attempt } = store::claim_delivery(
        &db.pool,
        &claim,
        Duration::seconds(60),
        store::UnknownDelivery::Record,
    )
    .await
    .unwrap() else {
        panic!("a fresh delivery is granted");
    };
    let end = store::DeliveryEnd {
        claim: store::HeldClaim {
            key: store::DeliveryKey::of(&row, "welcome"),
            attempt,
        },
        row,
        status: store::DeliveryStatus::Sent,
        detail: "accepted".into(),
    };
    store::finish_delivery(&db.pool, &end).await.unwrap();
    sqlx::query("UPDATE timeline SET status = 'skipped', outcome = 'condition not met: no_two_way', next_at = NULL WHERE mentorship_id = $1 AND step_id = 'check_in'")
        .bind(quiet)
        .execute(&db.pool)
        .await
        .unwrap();

    let env = db.env();
    let out = ok(&cli(&env, &["timeline", quiet]).await);
    eprintln!("{out}");
    for text in [
        "mentorship m-quiet (program spring)",
        "mentor       Ada Lovelace <ada@example.org>, Europe/Berlin",
        "mentee       Bo Chen <bo@example.org>, Asia/Tokyo",
        "ended        no",
        "timeline (10 rows, times in UTC)",
        "condition not met: no_two_way",
        "<abc.welcome@example.org>",
        "interactions: 2 (mentor 2, mentee 0); two-way: no; plan or goals: no",
        "message  2       0",
    ] {
        assert!(out.contains(text), "{text:?} in\n{out}");
    }
    let welcome = out
        .lines()
        .find(|l| l.trim_start().starts_with("welcome           mentor"))
        .unwrap();
    assert!(
        welcome.contains("sent") && welcome.contains("accepted"),
        "{welcome}"
    );
    let escalation = out
        .lines()
        .find(|l| l.trim_start().starts_with("escalation "))
        .unwrap();
    assert!(
        escalation.contains("coordinator") && escalation.contains("scheduled"),
        "{escalation}"
    );

    let err = fails(&cli(&env, &["timeline", "m-nobody"]).await);
    assert!(err.contains("no mentorship \"m-nobody\""), "{err}");

    // At risk: the silent pair (no interaction by day 4) and the one-sided quiet one; not the engaged one.
    let out = ok(&cli(&env, &["at-risk"]).await);
    eprintln!("{out}");
    assert!(out.contains("2 of 3 open pairs"), "{out}");
    let block = |id: &str| {
        out.split("\n\n")
            .find(|b| b.starts_with(id))
            .unwrap_or_else(|| panic!("{id} in\n{out}"))
            .to_string()
    };
    let s = block(silent);
    // Started five days and a few seconds ago: day 6 (day 5 ended at the five days).
    assert!(s.contains("day 6 of 7") && s.contains("[AT RISK]"), "{s}");
    assert!(
        s.contains("escalation_early (due 1d ago; scheduled)"),
        "{s}"
    );
    assert!(s.contains("no_interaction: no interaction at all"), "{s}");
    let q = block(quiet);
    assert!(
        q.contains("one_sided: one-sided: only the mentor has interacted"),
        "{q}"
    );
    assert!(q.contains("evidence  first week so far: 2 interactions (mentor 2, mentee 0); by kind mentor/mentee: message 2/0"), "{q}");
    assert!(!out.contains(engaged), "{out}");
    let out = ok(&cli(&env, &["at-risk", "--all"]).await);
    assert!(
        out.contains(&format!("{engaged}  Ada Lovelace & Bo Chen")) && out.contains("[ok]"),
        "{out}"
    );

    // Dry run of a stricter playbook: judged, nothing written.
    let before = (db.count("timeline").await, db.count("deliveries").await);
    let dir = std::env::temp_dir().join(unique("fwcli_dry"));
    std::fs::create_dir_all(&dir).unwrap();
    let strict = dir.join("strict.toml");
    std::fs::write(
        &strict,
        "name = \"strict\"\n[thresholds]\nmin_interactions = 5\n\
         [[step]]\nid = \"check_in\"\nat = \"1d\"\nto = [\"mentor\", \"mentee\"]\nwhen = \"no_two_way\"\n\
         [[step]]\nid = \"escalation\"\nat = \"4d\"\nto = [\"coordinator\"]\nwhen = [\"low_interaction\", \"one_sided\"]\n",
    )
    .unwrap();
    let out = ok(&cli(&env, &["playbook", "dry-run", strict.to_str().unwrap()]).await);
    eprintln!("{out}");
    assert!(out.contains("on 3 stored pairs"), "{out}");
    // Item 8: the playbook's daily budget (the default, 1) is stated.
    assert!(
        out.contains("daily nudge budget: 1 nudge per person per local day"),
        "{out}"
    );
    assert!(
        out.contains("escalated: m-engaged (escalation), m-silent (escalation)"),
        "{out}"
    );
    assert!(out.contains("low interaction: 4 (fewer than 5)"), "{out}");
    assert!(
        out.contains("pending")
            && out.contains("as of now: would send (low_interaction, one_sided)"),
        "{out}"
    );
    assert!(
        out.contains("stored steps this playbook does not have: escalation_early, pacing_tip")
            || out.contains(
                "stored steps this playbook does not have: escalation_early, plan_reminder"
            ),
        "{out}"
    );
    let out = ok(&cli(
        &env,
        &[
            "playbook",
            "dry-run",
            strict.to_str().unwrap(),
            "--mentorship",
            quiet,
        ],
    )
    .await);
    assert!(
        out.contains("on 1 stored pair,") && !out.contains(silent),
        "{out}"
    );
    assert_eq!(
        (db.count("timeline").await, db.count("deliveries").await),
        before
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_are_listed_shown_and_replayed() {
    let vhost = Vhost::new().await;
    let env = vhost.env();
    let out = ok(&cli(&env, &["dead", "list"]).await);
    assert_eq!(out, "firstweek.dead: 0 dead letters\n");

    let letters = [
        (
            "mentorship.started",
            r#"{"event_id":"e-1","mentorship_id":"m-1"}"#,
            "invalid JSON: missing field `started_at`",
        ),
        (
            "interaction.recorded",
            r#"{"event_id":"e-2","mentorship_id":"m-1","kind":"dance"}"#,
            "invalid JSON: unknown variant `dance`",
        ),
        (
            "mentorship.paused",
            r#"{"event_id":"e-3"}"#,
            "unknown routing key \"mentorship.paused\"",
        ),
    ];
    for (key, body, reason) in letters {
        vhost.dead_letter(key, body.as_bytes(), reason).await;
    }

    let first = ok(&cli(&env, &["dead", "list"]).await);
    eprintln!("{first}");
    assert!(
        first.starts_with("firstweek.dead: 3 dead letters\n"),
        "{first}"
    );
    let lines: Vec<&str> = first.lines().collect();
    assert!(lines[1].starts_with("#  ID        ROUTING KEY"), "{first}");
    let mut ids = Vec::new();
    for (i, (key, body, reason)) in letters.iter().enumerate() {
        let line = lines[i + 2];
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(words[0], (i + 1).to_string(), "{line}");
        ids.push(words[1].to_string());
        assert_eq!(words[2], *key, "{line}");
        assert!(line.contains(reason), "{line}");
        assert!(line.contains(&body.len().to_string()), "{line}");
        assert!(line.contains(&body[..body.len().min(20)]), "{line}");
    }
    // Listing leaves them in place, in the same order.
    let again = ok(&cli(&env, &["dead", "list"]).await);
    let strip_returns = |s: &str| {
        s.lines()
            .map(|l| {
                l.split_whitespace()
                    .filter(|w| w.len() > 1 || !w.chars().all(|c| c.is_ascii_digit()))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(strip_returns(&again)[2..], strip_returns(&first)[2..]);

    let out = ok(&cli(&env, &["dead", "show", "2"]).await);
    eprintln!("{out}");
    assert!(
        out.contains(&format!("dead letter #2 of 3, ID {}", ids[1])),
        "{out}"
    );
    assert!(
        out.contains("first published to  interaction.recorded"),
        "{out}"
    );
    assert!(out.contains("x-firstweek-error"), "{out}");
    assert!(out.contains(letters[1].1), "the body as it is: {out}");
    assert!(
        out.contains("still invalid: invalid JSON: field `kind`: unknown variant, expected one of"),
        "{out}"
    );
    let err = fails(&cli(&env, &["dead", "show", "4"]).await);
    assert!(err.contains("there is no dead letter \"4\""), "{err}");
    // Showing returns every letter in order: the numbers still hold.
    let out = ok(&cli(&env, &["dead", "show", &ids[2]]).await);
    assert!(
        out.contains(&format!("dead letter #3 of 3, ID {}", ids[2])),
        "{out}"
    );

    // Replay #2 only: it goes back to the exchange with its routing key, the others stay.
    let out = ok(&cli(&env, &["dead", "replay", "2"]).await);
    assert!(
        out.contains("#2: replayed to interaction.recorded (confirmed)"),
        "{out}"
    );
    assert!(out.contains("replayed 1, kept 2"), "{out}");
    let events = vhost.drain(broker::EVENTS_QUEUE).await;
    assert_eq!(events.len(), 1);
    let (key, props, body) = &events[0];
    assert_eq!(key, "interaction.recorded");
    assert_eq!(body.as_slice(), letters[1].1.as_bytes());
    assert_eq!(props.delivery_mode(), &Some(2));
    assert_eq!(
        props.content_type().as_ref().map(|c| c.as_str()),
        Some("application/json")
    );
    assert!(broker::header_text(props, broker::ERROR_HEADER).is_none());
    assert!(broker::header_text(props, broker::ROUTING_KEY_HEADER).is_none());

    let out = ok(&cli(&env, &["dead", "list"]).await);
    assert!(out.starts_with("firstweek.dead: 2 dead letters\n"), "{out}");
    assert!(
        out.contains(&format!("1  {}  mentorship.started", ids[0])),
        "{out}"
    );
    assert!(
        out.contains(&format!("2  {}  mentorship.paused", ids[2])),
        "{out}"
    );

    // By ID: #3 is now #2.
    let out = ok(&cli(&env, &["dead", "replay", &ids[2]]).await);
    assert!(
        out.contains("#2: replayed to mentorship.paused (confirmed)"),
        "{out}"
    );
    assert_eq!(
        vhost.drain(broker::EVENTS_QUEUE).await[0].0,
        "mentorship.paused"
    );

    vhost
        .dead_letter("mentorship.ended", b"{}", "field `event_id`: missing")
        .await;
    let out = ok(&cli(&env, &["dead", "replay", "--all"]).await);
    assert!(out.contains("replayed 2, kept 0"), "{out}");
    let events = vhost.drain(broker::EVENTS_QUEUE).await;
    let keys: Vec<&str> = events.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(keys, ["mentorship.started", "mentorship.ended"]);
    assert_eq!(
        ok(&cli(&env, &["dead", "list"]).await),
        "firstweek.dead: 0 dead letters\n"
    );

    // Either a number or --all.
    let usage = cli(&env, &["dead", "replay"]).await;
    assert_eq!(usage.status.code(), Some(2), "{}", stderr(&usage));
}

/// A worker that dies between dead-lettering a message and acking it
/// leaves two copies of its dead letter: they are one letter to list, show
/// and replay, and a replay publishes it once and removes both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_stored_twice_is_listed_and_replayed_once() {
    let vhost = Vhost::new().await;
    let env = vhost.env();
    let twice = r#"{"event_id":"e-twice","mentorship_id":"m-1"}"#;
    let once = r#"{"event_id":"e-once"}"#;
    for (key, body) in [
        ("mentorship.started", twice),
        ("mentorship.started", twice),
        ("mentorship.ended", once),
    ] {
        vhost
            .dead_letter(key, body.as_bytes(), "field `started_at`: missing")
            .await;
    }
    let out = ok(&cli(&env, &["dead", "list"]).await);
    assert!(out.starts_with("firstweek.dead: 2 dead letters\n"), "{out}");
    assert_eq!(out.matches("e-twice").count(), 1, "{out}");
    let out = ok(&cli(&env, &["dead", "show", "2"]).await);
    assert!(out.contains("dead letter #2 of 2"), "{out}");
    assert!(out.contains("e-once"), "{out}");

    let out = ok(&cli(&env, &["dead", "replay", "1"]).await);
    assert!(out.contains("replayed 1, kept 1"), "{out}");
    let events = vhost.drain(broker::EVENTS_QUEUE).await;
    assert_eq!(events.len(), 1, "published once");
    assert_eq!(events[0].2, twice.as_bytes());
    let out = ok(&cli(&env, &["dead", "list"]).await);
    assert!(out.starts_with("firstweek.dead: 1 dead letter\n"), "{out}");
    assert!(!out.contains("e-twice"), "both copies removed: {out}");

    // The same through `replay --all`.
    for _ in 0..2 {
        vhost
            .dead_letter("mentorship.started", twice.as_bytes(), "again")
            .await;
    }
    let out = ok(&cli(&env, &["dead", "replay", "--all"]).await);
    assert!(out.contains("replayed 2, kept 0"), "{out}");
    let events = vhost.drain(broker::EVENTS_QUEUE).await;
    let bodies: Vec<&[u8]> = events.iter().map(|e| e.2.as_slice()).collect();
    assert_eq!(bodies, [once.as_bytes(), twice.as_bytes()]);
    assert_eq!(
        ok(&cli(&env, &["dead", "list"]).await),
        "firstweek.dead: 0 dead letters\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_sends_valid_events_with_confirms() {
    let vhost = Vhost::new().await;
    let env = vhost.env();

    let out = ok(&cli(
        &env,
        &[
            "publish",
            "started",
            "--mentorship",
            "m-cli",
            "--mentee-tz",
            "Asia/Tokyo",
            "--at",
            "-1d",
        ],
    )
    .await);
    let sent: Value = serde_json::from_str(out.trim()).expect("the JSON it sent");
    assert_eq!(sent["mentorship_id"], "m-cli");
    assert_eq!(sent["mentee"]["timezone"], "Asia/Tokyo");
    let started_at: DateTime<Utc> = sent["started_at"].as_str().unwrap().parse().unwrap();
    assert!(
        (Utc::now() - Duration::days(1) - started_at)
            .num_seconds()
            .abs()
            < 60
    );

    let out2 = ok(&cli(
        &env,
        &[
            "publish",
            "interaction",
            "--mentorship",
            "m-cli",
            "--kind",
            "session",
            "--actor",
            "mentee",
            "--duration",
            "150",
        ],
    )
    .await);
    let out3 = ok(&cli(
        &env,
        &[
            "publish",
            "ended",
            "--mentorship",
            "m-cli",
            "--reason",
            "moved on",
        ],
    )
    .await);

    let events = vhost.drain(broker::EVENTS_QUEUE).await;
    let keys: Vec<&str> = events.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(
        keys,
        [
            "mentorship.started",
            "interaction.recorded",
            "mentorship.ended"
        ]
    );
    for ((key, props, body), printed) in events.iter().zip([&out, &out2, &out3]) {
        assert_eq!(
            String::from_utf8_lossy(body),
            printed.trim_end(),
            "printed what it sent"
        );
        assert_eq!(props.delivery_mode(), &Some(2));
        assert_eq!(
            props.content_type().as_ref().map(|c| c.as_str()),
            Some("application/json")
        );
        let event = Event::parse(key, Some("application/json"), body, Utc::now()).expect("valid");
        assert_eq!(event.mentorship_id(), Some("m-cli"));
    }
    let ids: Vec<String> = events
        .iter()
        .map(|e| {
            serde_json::from_slice::<Value>(&e.2).unwrap()["event_id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert!(ids[0] != ids[1] && ids[1] != ids[2], "{ids:?}");

    // An event the contract refuses is not sent.
    let err = fails(&cli(&env, &["publish", "started", "--mentor-tz", "Mars/Olympus"]).await);
    assert!(
        err.contains("would be refused") && err.contains("mentor.timezone"),
        "{err}"
    );
    let usage = cli(&env, &["publish", "interaction", "--kind", "dance"]).await;
    assert_eq!(usage.status.code(), Some(2));
    assert!(
        stderr(&usage).contains("is not one of message, call"),
        "{}",
        stderr(&usage)
    );
    assert!(vhost.drain(broker::EVENTS_QUEUE).await.is_empty());

    // --print-only needs no broker.
    let out = ok(&cli(
        &[],
        &["publish", "ended", "--print-only", "--mentorship", "m-x"],
    )
    .await);
    assert!(out.contains("\"mentorship_id\":\"m-x\""), "{out}");
    let err = fails(&cli(&[], &["publish", "ended"]).await);
    assert!(err.contains("AMQP_URL is not set"), "{err}");
}

#[tokio::test]
async fn a_dead_due_step_is_replayed_to_the_steps_queue_not_to_intake() {
    let vhost = Vhost::new().await;
    let env = vhost.env();
    // As a worker dead-letters a due step it cannot handle (its row was
    // broken, since fixed by hand): the step came from `firstweek.steps`.
    let step = r#"{"timeline_id":7,"mentorship_id":"m-1","step_id":"welcome","recipient":"mentor","due_at":"2026-11-23T09:00:00Z","send_at":"2026-11-23T09:00:00Z"}"#;
    vhost
        .dead_letter(
            broker::STEPS_QUEUE,
            step.as_bytes(),
            "failed 5 times: row 7 is corrupt",
        )
        .await;
    let out = ok(&cli(&env, &["dead", "replay", "--all"]).await);
    assert!(
        out.contains("#1: replayed to queue firstweek.steps (confirmed)"),
        "{out}"
    );
    assert!(
        vhost.drain(broker::EVENTS_QUEUE).await.is_empty(),
        "not to intake"
    );
    let steps = vhost.drain(broker::STEPS_QUEUE).await;
    assert_eq!(steps.len(), 1);
    assert_eq!(steps[0].2.as_slice(), step.as_bytes());
}

#[tokio::test]
async fn an_oversized_dead_letter_keeps_its_start_and_is_not_replayed() {
    let vhost = Vhost::new().await;
    let env = vhost.env();
    let huge = format!(r#"{{"event_id":"e-1","pad":"{}"}}"#, "x".repeat(200 * 1024));
    vhost
        .dead_letter(
            "mentorship.started",
            huge.as_bytes(),
            &format!(
                "body is {} bytes, larger than the 65536 allowed",
                huge.len()
            ),
        )
        .await;
    let out = ok(&cli(&env, &["dead", "show", "1"]).await);
    assert!(
        out.contains(&format!("keeps the first 4096 of its {} bytes", huge.len())),
        "{out}"
    );
    let out = ok(&cli(&env, &["dead", "replay", "--all"]).await);
    assert!(out.contains("replayed 0, kept 1"), "{out}");
    assert!(out.contains("#1: kept: only the first 4096"), "{out}");
    assert!(vhost.drain(broker::EVENTS_QUEUE).await.is_empty());
    let dead = vhost.drain(broker::DEAD_QUEUE).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].2.as_slice(), &huge.as_bytes()[..4096]);
}

#[tokio::test]
async fn secrets_in_urls_are_never_printed() {
    let env = [("AMQP_URL", "amqp://guest:hunter2@127.0.0.1:1/nowhere")];
    let err = fails(&cli(&env, &["dead", "list"]).await);
    // The broker is named by its node alone (AMQP_URL may list several).
    assert!(err.contains("RabbitMQ at 127.0.0.1:1"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
    let env = [("DATABASE_URL", "postgres://fw:hunter2@127.0.0.1:1/fw")];
    let err = fails(&cli(&env, &["timeline", "m-1"]).await);
    assert!(
        err.contains("postgres://fw:***@127.0.0.1:1/fw") && !err.contains("hunter2"),
        "{err}"
    );
    // libpq-style: the password as a URL parameter.
    let env = [(
        "DATABASE_URL",
        "postgres://fw@127.0.0.1:1/fw?password=hunter2",
    )];
    let err = fails(&cli(&env, &["timeline", "m-1"]).await);
    assert!(
        err.contains("postgres://fw@127.0.0.1:1/fw?password=***") && !err.contains("hunter2"),
        "{err}"
    );
    let env = [(
        "AMQP_URL",
        "amqp://guest@127.0.0.1:1/nowhere?password=hunter2",
    )];
    let err = fails(&cli(&env, &["dead", "list"]).await);
    assert!(!err.contains("hunter2"), "{err}");
}
