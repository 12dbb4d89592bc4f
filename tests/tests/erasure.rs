//! Erasure end to end (issue 13): a `person.erased` mentee receives nothing
//! more while their mentor and coordinator still do, a repeat of their
//! pair's start does not bring them back, a dump of the database finds
//! neither their address nor their name, and the dead letter mentioning them
//! is gone while another stays; `firstweek erase` does the same for a
//! coordinator's address; `FIRSTWEEK_RETENTION_DAYS` forgets the people of
//! a pair that ended longer ago. Erasing an address reaches the person's
//! id too, the reason their pair ended with, and a dead letter quoting
//! them inside a longer text (issue 26).

use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use chrono::Utc;
use firstweek_store as store;
use firstweek_tests::{Env, Mail, Options, Pair, bin_dir};
use serde_json::{Value, json};

async fn wait_until(
    what: &str,
    limit: Duration,
    mut check: impl AsyncFnMut() -> anyhow::Result<bool>,
) -> anyhow::Result<()> {
    let start = Instant::now();
    while !check().await? {
        ensure!(start.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}

/// The database's rows as `pg_dump --data-only` writes them, lowercased.
fn dump(env: &Env) -> anyhow::Result<String> {
    let out = std::process::Command::new("pg_dump")
        .args(["--data-only", "--no-owner", "-d", &env.database_url])
        .output()
        .context("running pg_dump")?;
    ensure!(
        out.status.success(),
        "pg_dump: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).to_lowercase())
}

/// Publishes a body on a contract routing key that the intake refuses (an
/// unknown field), so it lands in `firstweek.dead` as it was.
async fn dead_letter(env: &Env, body: Value) -> anyhow::Result<()> {
    env.publish_json("interaction.recorded", &body).await
}

fn to(mails: &[Mail], rcpt: &str) -> Vec<String> {
    let mut steps: Vec<String> = mails
        .iter()
        .filter(|m| m.rcpt == rcpt)
        .map(|m| m.step.clone())
        .collect();
    steps.sort();
    steps
}

#[tokio::test(flavor = "multi_thread")]
async fn an_erased_mentee_receives_nothing_more_and_is_found_nowhere() -> anyhow::Result<()> {
    // A program day lasts 6 s: the welcome at once, the check-in at 12 s,
    // the early escalation at 24 s, the wrap-up and day-7 escalation at 42 s.
    let env = Env::start(Options {
        scale: 14_400.0,
        ..Options::default()
    })
    .await?;
    let start = Utc::now();
    let gone = Pair::new(&format!("{}-gone", env.name), start);
    let kept = Pair::new(&format!("{}-kept", env.name), start);
    let name = "Zora Erasable";
    let mut started = gone.started(&format!("{}-start", gone.id));
    started["mentee"]["name"] = name.into();
    env.publish_json("mentorship.started", &started).await?;
    env.publish_json(
        "mentorship.started",
        &kept.started(&format!("{}-start", kept.id)),
    )
    .await?;
    env.wait_mail(&gone.mentee(), "welcome", Duration::from_secs(20))
        .await?;

    // Two refused messages: one naming the mentee's address, one not.
    dead_letter(
        &env,
        json!({"event_id": "dead-1", "mentorship_id": gone.id, "note": gone.mentee()}),
    )
    .await?;
    dead_letter(
        &env,
        json!({"event_id": "dead-2", "mentorship_id": kept.id, "note": "nobody"}),
    )
    .await?;
    wait_until("two dead letters", Duration::from_secs(20), async || {
        Ok(env.queue_depth("firstweek.dead").await? >= 2)
    })
    .await?;

    let mentee_id = format!("{}-mentee", gone.id);
    env.publish_json(
        "person.erased",
        &json!({"event_id": format!("{}-erase", gone.id), "person_id": mentee_id}),
    )
    .await?;
    wait_until("the erasure stored", Duration::from_secs(20), async || {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM erasures")
            .fetch_one(&env.pool)
            .await?;
        // Her id, and the address her pairs gave her.
        Ok(n >= 1)
    })
    .await?;
    let before = to(&env.mails(), &gone.mentee());
    // A repeat of the pair's start (a new event id: a correction) names
    // them again; it must not bring them back.
    let mut again = started.clone();
    again["event_id"] = format!("{}-start-again", gone.id).into();
    env.publish_json("mentorship.started", &again).await?;
    // So does a new pair of theirs: it is stored with the placeholder.
    let later = Pair::new(&format!("{}-later", env.name), start);
    let mut other = later.started(&format!("{}-start", later.id));
    other["mentee"] = started["mentee"].clone();
    env.publish_json("mentorship.started", &other).await?;

    env.wait_settled(&[&gone.id, &kept.id, &later.id], Duration::from_secs(120))
        .await?;
    let skipped: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM timeline WHERE mentorship_id = ANY($1) AND recipient = 'mentee'
           AND outcome = 'the recipient was erased'",
    )
    .bind([gone.id.clone(), later.id.clone()])
    .fetch_one(&env.pool)
    .await?;
    assert!(skipped >= 3, "their rows say why: {skipped}");
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT people -> 'mentee' ->> 'name' FROM mentorships WHERE id = ANY($1)",
    )
    .bind([gone.id.clone(), later.id.clone()])
    .fetch_all(&env.pool)
    .await?;
    assert_eq!(names, ["erased", "erased"]);
    let mails = env.mails();
    assert_eq!(
        to(&mails, &gone.mentee()),
        before,
        "nothing more to the erased mentee"
    );
    assert!(
        to(&mails, &gone.mentor()).contains(&"wrap_up".to_string()),
        "the mentor still hears: {:?}",
        to(&mails, &gone.mentor())
    );
    assert!(
        !to(&mails, &gone.coordinator()).is_empty(),
        "the coordinator still hears about the pair"
    );
    assert!(
        mails.iter().all(|m| !m.rcpt.ends_with("@invalid")),
        "nothing goes to a placeholder"
    );
    // Their pair's counts and rows stay.
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM timeline WHERE mentorship_id = $1")
        .bind(&gone.id)
        .fetch_one(&env.pool)
        .await?;
    assert!(rows > 0);

    let dumped = dump(&env)?;
    assert!(
        !dumped.contains(&gone.mentee().to_lowercase()),
        "the address is nowhere"
    );
    assert!(
        !dumped.contains(&name.to_lowercase()),
        "the name is nowhere"
    );
    assert!(
        dumped.contains(&kept.mentee().to_lowercase()),
        "another pair's people stay"
    );

    let letters = env.dead_letters().await?;
    let bodies: Vec<String> = letters
        .iter()
        .map(|(_, _, b)| String::from_utf8_lossy(b).to_string())
        .collect();
    assert_eq!(letters.len(), 1, "{bodies:?}");
    assert!(bodies[0].contains("dead-2"), "{bodies:?}");
    assert!(
        letters[0].1.contains("unknown field"),
        "the kept letter keeps its reason: {}",
        letters[0].1
    );
    env.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cli_erases_a_coordinator_and_retention_forgets_ended_pairs() -> anyhow::Result<()> {
    let mut options = Options {
        scale: 14_400.0,
        ..Options::default()
    };
    // One program day: 6 s.
    options
        .env
        .push(("FIRSTWEEK_RETENTION_DAYS".into(), "1".into()));
    let env = Env::start(options).await?;
    let start = Utc::now();
    let began = Instant::now();

    // Two pairs of one coordinator, erased by address with the CLI.
    let coordinator = format!("lin.{}@example.org", env.name).to_lowercase();
    let coordinator_name = "Lin Forgettable";
    let pairs = ["c1", "c2"].map(|n| Pair::new(&format!("{}-{n}", env.name), start));
    for p in &pairs {
        let mut started = p.started(&format!("{}-start", p.id));
        started["coordinator"] = json!({"name": coordinator_name, "email": coordinator});
        env.publish_json("mentorship.started", &started).await?;
    }
    dead_letter(
        &env,
        json!({"event_id": "dead-c", "mentorship_id": pairs[0].id, "to": coordinator.to_uppercase()}),
    )
    .await?;
    dead_letter(
        &env,
        json!({"event_id": "dead-other", "mentorship_id": "x", "to": "nobody"}),
    )
    .await?;

    // A pair that started two program days ago and ended the next day:
    // past a one-day retention.
    let old = Pair::new(&format!("{}-old", env.name), start - env.days(2.0));
    env.publish_json(
        "mentorship.started",
        &old.started(&format!("{}-start", old.id)),
    )
    .await?;
    // Its ending quotes its mentee: the program's free text is theirs too.
    let mut old_ended = old.ended(env.days(0.5));
    old_ended["reason"] = format!("moved on; write to {}", old.mentee()).into();
    env.publish_json("mentorship.ended", &old_ended).await?;

    wait_until(
        "both pairs and two dead letters",
        Duration::from_secs(20),
        async || {
            let n: i64 = sqlx::query_scalar("SELECT count(*) FROM mentorships WHERE id = ANY($1)")
                .bind([pairs[0].id.clone(), pairs[1].id.clone()])
                .fetch_one(&env.pool)
                .await?;
            Ok(n == 2 && env.queue_depth("firstweek.dead").await? >= 2)
        },
    )
    .await?;
    let cli = std::process::Command::new(bin_dir().join("firstweek"))
        .args(["erase", &coordinator.to_uppercase()])
        .env("DATABASE_URL", &env.database_url)
        .env("AMQP_URL", &env.amqp_url)
        .env("FIRSTWEEK_PSEUDONYM_KEY", firstweek_tests::PSEUDONYM_KEY)
        .output()?;
    let said = String::from_utf8_lossy(&cli.stdout).to_string();
    assert!(
        cli.status.success(),
        "{said} {}",
        String::from_utf8_lossy(&cli.stderr)
    );
    assert!(said.contains("from 2 pairs"), "{said}");
    assert!(said.contains("1 dead letter removed"), "{said}");

    // Retention: the ended pair's people are replaced by the next tick or two.
    wait_until(
        "the old pair forgotten",
        Duration::from_secs(40),
        async || {
            let done: Option<bool> = sqlx::query_scalar(
                "SELECT people_erased_at IS NOT NULL FROM mentorships WHERE id = $1",
            )
            .bind(&old.id)
            .fetch_optional(&env.pool)
            .await?;
            Ok(done == Some(true))
        },
    )
    .await?;

    // Past day 4 (the early escalation of a silent pair, 24 s) and before
    // the pairs' own retention (a week and a day, 48 s): nothing reached
    // the erased coordinator, or a placeholder.
    tokio::time::sleep_until((began + Duration::from_secs(30)).into()).await;
    let mails = env.mails();
    assert!(
        mails.iter().all(|m| m.rcpt.to_lowercase() != coordinator),
        "nothing to the erased coordinator"
    );
    assert!(mails.iter().all(|m| !m.rcpt.ends_with("@invalid")));
    assert!(
        to(&mails, &pairs[0].mentee()).contains(&"welcome".to_string()),
        "the pair is still watched"
    );

    let dumped = dump(&env)?;
    for gone in [
        coordinator.clone(),
        coordinator_name.to_lowercase(),
        old.mentor(),
        old.mentee(),
        old.coordinator(),
    ] {
        assert!(!dumped.contains(&gone), "{gone} is still in the database");
    }
    assert!(
        dumped.contains(&pairs[0].mentee()),
        "the pairs' other people stay"
    );

    let letters = env.dead_letters().await?;
    assert_eq!(letters.len(), 1);
    assert!(String::from_utf8_lossy(&letters[0].2).contains("dead-other"));
    env.stop().await;
    Ok(())
}

/// Runs `firstweek erase` on the env's database and vhost; what it said.
fn erase_with_cli(env: &Env, person: &str) -> anyhow::Result<String> {
    let cli = std::process::Command::new(bin_dir().join("firstweek"))
        .args(["erase", person])
        .env("DATABASE_URL", &env.database_url)
        .env("AMQP_URL", &env.amqp_url)
        .env("FIRSTWEEK_PSEUDONYM_KEY", firstweek_tests::PSEUDONYM_KEY)
        .output()?;
    let said = String::from_utf8_lossy(&cli.stdout).to_string();
    ensure!(
        cli.status.success(),
        "{said} {}",
        String::from_utf8_lossy(&cli.stderr)
    );
    Ok(said)
}

#[tokio::test(flavor = "multi_thread")]
async fn erasing_an_address_leaves_no_id_reason_or_quoting_dead_letter() -> anyhow::Result<()> {
    // Emails carry links (the test uses one as the web would; no web runs).
    let mut options = Options {
        scale: 14_400.0,
        ..Options::default()
    };
    options
        .env
        .push(("FIRSTWEEK_PUBLIC_URL".into(), "http://127.0.0.1:9".into()));
    let env = Env::start(options).await?;
    let start = Utc::now();
    let gone = Pair::new(&format!("{}-gone", env.name), start);
    let kept = Pair::new(&format!("{}-kept", env.name), start);
    let name = "Mira Forgettable";
    let mut started = gone.started(&format!("{}-start", gone.id));
    started["mentee"]["name"] = name.into();
    env.publish_json("mentorship.started", &started).await?;
    env.publish_json(
        "mentorship.started",
        &kept.started(&format!("{}-start", kept.id)),
    )
    .await?;
    env.wait_mail(&gone.mentee(), "welcome", Duration::from_secs(20))
        .await?;

    // She unsubscribes through her link (as the web does): a row keyed by
    // her id, and its announcement in the outbox.
    let mentee_id = format!("{}-mentee", gone.id);
    let unsubscribed = firstweek::participant::unsubscribed(&mentee_id, Utc::now());
    let welcome = env
        .wait_mail(&gone.mentee(), "welcome", Duration::from_secs(20))
        .await?;
    let url = firstweek_tests::header(&welcome.headers, "List-Unsubscribe")
        .context("the welcome carries List-Unsubscribe")?;
    let token = url
        .trim_matches(|c| c == '<' || c == '>')
        .rsplit('/')
        .next()
        .context("a link ends with its token")?;
    let token = firstweek::link::LinkToken::parse(token)?;
    ensure!(matches!(
        store::web_unsubscribe(&env.pool, &token, &unsubscribed).await?,
        store::Acted::Done
    ));
    // The program ends the pair with a reason quoting her address.
    let mut ended = gone.ended(env.days(0.2));
    ended["reason"] = format!("asked to stop; contact {}", gone.mentee()).into();
    env.publish_json("mentorship.ended", &ended).await?;
    // A start refused for a mentor address written with her name.
    let refused = Pair::new(&format!("{}-refused", env.name), start);
    let mut bad = refused.started(&format!("{}-start", refused.id));
    bad["mentor"]["email"] = format!("{name} <{}>", gone.mentee()).into();
    env.publish_json("mentorship.started", &bad).await?;
    dead_letter(
        &env,
        json!({"event_id": "dead-other", "mentorship_id": kept.id, "note": "nobody"}),
    )
    .await?;
    wait_until(
        "the ending stored and two dead letters",
        Duration::from_secs(20),
        async || {
            let ended: Option<String> =
                sqlx::query_scalar("SELECT ended_reason FROM mentorships WHERE id = $1")
                    .bind(&gone.id)
                    .fetch_one(&env.pool)
                    .await?;
            Ok(ended.is_some() && env.queue_depth("firstweek.dead").await? >= 2)
        },
    )
    .await?;
    ensure!(
        dump(&env)?.contains(&mentee_id.to_lowercase()),
        "her id is stored before"
    );

    let said = erase_with_cli(&env, &gone.mentee().to_uppercase())?;
    assert!(said.contains("from 1 pair"), "{said}");
    assert!(said.contains("1 dead letter removed"), "{said}");

    let dumped = dump(&env)?;
    for trace in [
        gone.mentee(),
        mentee_id.clone(),
        name.to_lowercase(),
        "forgettable".into(),
    ] {
        assert!(
            !dumped.contains(&trace.to_lowercase()),
            "{trace} is still in the database"
        );
    }
    assert!(dumped.contains(&gone.mentor()), "her mentor stays");
    assert!(
        dumped.contains(&kept.mentee()),
        "another pair's people stay"
    );
    // Her unsubscribe's announcement comes back through intake: published
    // before the erasure it is erased with her, after it it names her
    // placeholder (the erasure rewrote the outbox), never her.
    let unsubscribed: Vec<String> = sqlx::query_scalar("SELECT person_id FROM unsubscribed")
        .fetch_all(&env.pool)
        .await?;
    assert!(
        unsubscribed.iter().all(|p| p.starts_with("erased-")),
        "her unsubscribe is forgotten with her: {unsubscribed:?}"
    );

    let letters = env.dead_letters().await?;
    let bodies: Vec<String> = letters
        .iter()
        .map(|(_, _, b)| String::from_utf8_lossy(b).to_string())
        .collect();
    assert_eq!(letters.len(), 1, "{bodies:?}");
    assert!(bodies[0].contains("dead-other"), "{bodies:?}");
    env.stop().await;
    Ok(())
}

/// The `.eml` files in the outbox directory whose name starts with a pair's id.
fn files_of(dir: &std::path::Path, pair: &Pair) -> anyhow::Result<Vec<String>> {
    let prefix = format!("{}.", pair.id);
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if name.starts_with(&prefix) && name.ends_with(".eml") {
            names.push(name);
        }
    }
    Ok(names)
}

/// Whether any `.eml` file in the outbox directory names one of `traces`
/// (read through its encodings, without regard to case).
fn outbox_names(dir: &std::path::Path, traces: &[String]) -> anyhow::Result<bool> {
    for entry in std::fs::read_dir(dir)? {
        let bytes = std::fs::read(entry?.path())?;
        let text = firstweek_workers::mailer::outbox::eml_text(&bytes).to_lowercase();
        if traces.iter().any(|t| text.contains(&t.to_lowercase())) {
            return Ok(true);
        }
    }
    Ok(false)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_outbox_files_go_with_erasure_and_retention() -> anyhow::Result<()> {
    // A program day lasts 6 s; retention keeps the files three of them (18 s).
    let mut env = Env::start(Options {
        scale: 14_400.0,
        start_services: false,
        ..Options::default()
    })
    .await?;
    let outbox = std::env::temp_dir().join(&env.name).join("outbox");
    std::fs::create_dir_all(&outbox)?;
    let dir = outbox.display().to_string();
    env.spawn("firstweek-scheduler", &[]).await?;
    env.spawn_without(
        "firstweek-worker",
        &["SMTP_URL"],
        &[
            ("FIRSTWEEK_OUTBOX_DIR", &dir),
            ("FIRSTWEEK_RETENTION_DAYS", "3"),
        ],
    )
    .await?;
    let start = Utc::now();
    let pairs = ["cli", "event", "kept"].map(|n| Pair::new(&format!("{}-{n}", env.name), start));
    let names = ["Ona Clifile", "Eve Eventfile", "Kai Keptfile"];
    for (p, name) in pairs.iter().zip(names) {
        let mut started = p.started(&format!("{}-start", p.id));
        started["mentee"]["name"] = name.into();
        env.publish_json("mentorship.started", &started).await?;
    }
    wait_until(
        "the welcomes written",
        Duration::from_secs(20),
        async || {
            for p in &pairs {
                if files_of(&outbox, p)?.len() < 2 {
                    return Ok(false);
                }
            }
            Ok(true)
        },
    )
    .await?;
    let [by_cli, by_event, kept] = &pairs;
    let welcome = outbox.join(&files_of(&outbox, kept)?[0]);

    // `firstweek erase` with the outbox directory: the pair's files go.
    let cli = std::process::Command::new(bin_dir().join("firstweek"))
        .args(["erase", &by_cli.mentee()])
        .env("DATABASE_URL", &env.database_url)
        .env("AMQP_URL", &env.amqp_url)
        .env("FIRSTWEEK_PSEUDONYM_KEY", firstweek_tests::PSEUDONYM_KEY)
        .env("FIRSTWEEK_OUTBOX_DIR", &dir)
        .output()?;
    let said = String::from_utf8_lossy(&cli.stdout).to_string();
    assert!(cli.status.success(), "{said}");
    assert!(said.contains("removed from the outbox"), "{said}");
    assert_eq!(files_of(&outbox, by_cli)?, Vec::<String>::new());
    assert!(!outbox_names(&outbox, &[by_cli.mentee(), names[0].into()])?);

    // `person.erased`: the worker removes them.
    env.publish_json(
        "person.erased",
        &json!({"event_id": format!("{}-erase", by_event.id), "person_id": format!("{}-mentee", by_event.id)}),
    )
    .await?;
    wait_until(
        "the erased mentee's emails removed",
        Duration::from_secs(10),
        async || {
            Ok(!outbox_names(
                &outbox,
                &[by_event.mentee(), names[1].into()],
            )?)
        },
    )
    .await?;
    assert!(welcome.exists(), "another pair's emails stay");
    assert!(outbox_names(&outbox, &[kept.mentee(), names[2].into()])?);

    // Retention: three program days after it was written, a file goes.
    wait_until(
        "the kept pair's welcome past retention",
        Duration::from_secs(45),
        async || Ok(!welcome.exists()),
    )
    .await?;
    env.stop().await;
    Ok(())
}

/// A database from before pseudonyms were keyed: an erasure recorded as the
/// bare SHA-256 of the address, its placeholder in the pair it was erased
/// from, a pair without a coordinator key and an escalation with the old
/// unkeyed one. The first service with the key keys them all without
/// anyone's address, so the erased person still cannot come back; another
/// key is refused.
#[tokio::test(flavor = "multi_thread")]
async fn erasures_recorded_before_keying_still_stop_the_person_after_it() -> anyhow::Result<()> {
    use firstweek::erasure::Placeholder;
    use firstweek::pseudonym::{PseudonymKey, unkeyed_coordinator, unkeyed_subject};

    let mut env = Env::start(Options {
        start_services: false,
        ..Options::default()
    })
    .await?;
    let key = firstweek_tests::pseudonym_key();
    let erased = format!("Bo.Erased.{}@Example.org", env.name);
    let old_hash = unkeyed_subject(&erased);
    let old_placeholder = Placeholder::from_key(&old_hash);
    sqlx::query(
        "INSERT INTO erasures (subject_hash, placeholder_id, placeholder_email, via) VALUES ($1, $2, $3, 'cli')",
    )
    .bind(&old_hash)
    .bind(&old_placeholder.id)
    .bind(&old_placeholder.email)
    .execute(&env.pool)
    .await?;
    let before = Pair::new(&format!("{}-before", env.name), Utc::now());
    let mut people = before.started(&format!("{}-start", before.id));
    people["mentee"] = json!({"id": old_placeholder.id, "name": "erased",
        "email": old_placeholder.email, "timezone": "UTC"});
    sqlx::query(
        "INSERT INTO mentorships (id, program_id, started_at, people) VALUES ($1, 'test-program', now(), $2)",
    )
    .bind(&before.id)
    .bind(&people)
    .execute(&env.pool)
    .await?;
    sqlx::query(
        "INSERT INTO escalations (mentorship_id, coordinator_key, opened_by, rules, evidence)
         VALUES ($1, $2, 'early_escalation', ARRAY['silent'], '[]')",
    )
    .bind(&before.id)
    .bind(unkeyed_coordinator(&before.coordinator()))
    .execute(&env.pool)
    .await?;

    env.launch("firstweek-worker", &[]).await?;
    // A new pair naming the erased person (by address, in another case).
    let after = Pair::new(&format!("{}-after", env.name), Utc::now());
    let mut started = after.started(&format!("{}-start", after.id));
    started["mentee"]["email"] = json!(erased.to_lowercase());
    env.publish_json("mentorship.started", &started).await?;
    wait_until("the new pair stored", Duration::from_secs(20), async || {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM mentorships WHERE id = $1")
            .bind(&after.id)
            .fetch_one(&env.pool)
            .await?;
        Ok(n == 1)
    })
    .await?;

    let keyed = Placeholder::from_key(&key.subject(&erased));
    let mentee: Value =
        sqlx::query_scalar("SELECT people -> 'mentee' FROM mentorships WHERE id = $1")
            .bind(&after.id)
            .fetch_one(&env.pool)
            .await?;
    assert_eq!(
        mentee["email"],
        json!(keyed.email),
        "still erased: {mentee}"
    );
    assert_eq!(mentee["name"], json!("erased"));
    let ledger: Vec<(String, String)> =
        sqlx::query_as("SELECT subject_hash, placeholder_id FROM erasures")
            .fetch_all(&env.pool)
            .await?;
    assert_eq!(ledger, vec![(key.subject(&erased), keyed.id.clone())]);
    // Nothing unkeyed is left to confirm a guess against.
    let dumped = dump(&env)?;
    for unkeyed in [
        old_hash.clone(),
        old_placeholder.id.clone(),
        unkeyed_coordinator(&before.coordinator()),
    ] {
        assert!(!dumped.contains(&unkeyed), "{unkeyed} is still stored");
    }
    let (pair_key, escalation_key): (Option<String>, String) = sqlx::query_as(
        "SELECT m.coordinator_key, e.coordinator_key FROM mentorships m
         JOIN escalations e ON e.mentorship_id = m.id WHERE m.id = $1",
    )
    .bind(&before.id)
    .fetch_one(&env.pool)
    .await?;
    let coordinator = key.coordinator(&before.coordinator());
    assert_eq!(pair_key.as_deref(), Some(coordinator.as_str()));
    assert_eq!(escalation_key, coordinator);

    // Done once: the same key changes nothing more; another is refused.
    assert_eq!(
        firstweek_store::key_pseudonyms(&env.pool, &key).await?,
        None
    );
    let other = PseudonymKey::new("another operator's key, 32 characters or more")?;
    let refused = firstweek_store::key_pseudonyms(&env.pool, &other).await;
    let refused = refused.err().context("another key is refused")?.to_string();
    assert!(refused.starts_with("FIRSTWEEK_PSEUDONYM_KEY"), "{refused}");
    env.stop().await;
    Ok(())
}
