//! Holdouts end to end (issue 30): real binaries, RabbitMQ, PostgreSQL and
//! an SMTP server. A playbook holds half the pairs out of the check-in.
//!
//! - The pairs held out are exactly those the keyed draw names (so a
//!   replica, a restart or a dry-run computing it again agrees), stored once
//!   in `holdouts`; a repeated start draws nothing new.
//! - A held-out pair's check-in closes `skipped: holdout` and no check-in
//!   reaches it; everything else goes on, its early escalation included.
//! - `firstweek playbook dry-run` names the same pairs as held out.
//! - `firstweek report experiments --format json` counts the nudged and the
//!   held-out pairs and who of them reached the check-in's aim, and each
//!   group's later outcomes (`mentorship.outcome`, the latest per pair).

use std::time::Duration;

use chrono::Utc;
use serde_json::Value;

use firstweek::experiment::Draw;
use firstweek_tests::{Env, Options, Pair, bin_dir, pseudonym_key, unique};

async fn report(env: &Env, playbook: &str) -> anyhow::Result<Value> {
    let out = tokio::process::Command::new(bin_dir().join("firstweek"))
        .args([
            "report",
            "experiments",
            "--format",
            "json",
            "--step",
            "check_in",
        ])
        .env("DATABASE_URL", &env.database_url)
        .env("FIRSTWEEK_PLAYBOOK", playbook)
        .env("FIRSTWEEK_TIME_SCALE", env.options.scale.to_string())
        .output()
        .await?;
    anyhow::ensure!(
        out.status.success(),
        "report failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(serde_json::from_slice(&out.stdout)?)
}

#[tokio::test(flavor = "multi_thread")]
async fn held_out_pairs_miss_the_check_in_and_the_report_counts_them() -> anyhow::Result<()> {
    let text = firstweek::playbook::BUILT_IN.replacen(
        "id = \"check_in\"\n",
        "id = \"check_in\"\nholdout = 0.5\n",
        1,
    );
    let playbook = std::env::temp_dir().join(format!("{}.toml", unique("holdout")));
    std::fs::write(&playbook, text)?;
    let mut options = Options::default();
    options
        .env
        .push(("FIRSTWEEK_PLAYBOOK".into(), playbook.display().to_string()));
    let env = Env::start(options).await?;

    // Four pairs of each kind, chosen by the draw the services make.
    let draw = Draw::new(&pseudonym_key(), Some("test-program"));
    let (mut held, mut nudged) = (Vec::new(), Vec::new());
    for i in 0.. {
        if held.len() == 4 && nudged.len() == 4 {
            break;
        }
        let id = format!("{}-p{i}", env.name);
        let list = if draw.at(&id, "check_in") < 0.5 {
            &mut held
        } else {
            &mut nudged
        };
        if list.len() < 4 {
            list.push(id);
        }
    }
    // Started three program days ago: the welcome and the check-in are due
    // at once; the week ends four program days from now.
    let started_at = Utc::now() - env.days(3.0);
    let pairs: Vec<Pair> = held
        .iter()
        .chain(&nudged)
        .map(|id| Pair::new(id, started_at))
        .collect();
    for p in &pairs {
        env.publish_json("mentorship.started", &p.started(&format!("{}-s", p.id)))
            .await?;
    }
    // Two-way after the check-in (day 2.5) for two nudged pairs and one held out.
    for p in [&pairs[0], &pairs[4], &pairs[5]] {
        for (n, actor) in [(1, "mentor"), (2, "mentee")] {
            let at = env.days(2.5);
            env.publish_json(
                "interaction.recorded",
                &p.interaction(n, "message", actor, at, None),
            )
            .await?;
        }
    }
    // A repeated start (a replica, a redelivery) draws nothing again.
    env.publish_json("mentorship.started", &pairs[0].started("again"))
        .await?;

    let ids: Vec<&str> = pairs.iter().map(|p| p.id.as_str()).collect();
    env.wait_settled(&ids, Duration::from_secs(60)).await?;

    let stored: Vec<(String, bool)> = sqlx::query_as(
        "SELECT mentorship_id, held_out FROM holdouts WHERE step_id = 'check_in' ORDER BY mentorship_id",
    )
    .fetch_all(&env.pool)
    .await?;
    assert_eq!(stored.len(), 8, "one draw per pair: {stored:?}");
    for (id, out) in &stored {
        assert_eq!(*out, held.contains(id), "{id}");
    }
    let rows: Vec<(String, String, String, Option<String>)> = sqlx::query_as(
        "SELECT mentorship_id, recipient, status, outcome FROM timeline WHERE step_id = 'check_in'",
    )
    .fetch_all(&env.pool)
    .await?;
    assert_eq!(rows.len(), 16);
    for (id, to, status, outcome) in &rows {
        let want = if held.contains(id) { "skipped" } else { "sent" };
        assert_eq!(status, want, "{id} {to}: {outcome:?}");
        if held.contains(id) {
            assert_eq!(outcome.as_deref(), Some("holdout"), "{id} {to}");
        }
    }
    let mails = env.mails();
    for id in &held {
        assert!(
            !mails
                .iter()
                .any(|m| &m.mentorship == id && m.step == "check_in"),
            "{id} is held out and got a check-in"
        );
        assert!(
            mails
                .iter()
                .any(|m| &m.mentorship == id && m.step == "wrap_up"),
            "{id} still gets the wrap-up"
        );
    }
    // Silent held-out pairs are still escalated early: the holdout does not
    // touch what protects them.
    let escalated: Vec<String> = sqlx::query_scalar(
        "SELECT mentorship_id FROM timeline WHERE step_id = 'escalation_early' AND status = 'sent'",
    )
    .fetch_all(&env.pool)
    .await?;
    for id in &held[1..] {
        assert!(
            escalated.contains(id),
            "{id} was not escalated: {escalated:?}"
        );
    }

    // Later, the program judges some pairs: a first and a corrected outcome
    // for one held-out pair (the latest counts), none for most.
    let judged = [
        (&pairs[0], "struggling", 1),
        (&pairs[0], "ended", 2),
        (&pairs[4], "thriving", 1),
        (&pairs[5], "thriving", 1),
        (&pairs[6], "struggling", 1),
    ];
    for (p, outcome, n) in judged {
        let event = serde_json::json!({
            "event_id": format!("{}-outcome-{n}", p.id),
            "mentorship_id": p.id,
            "outcome": outcome,
            "recorded_at": (Utc::now() + chrono::Duration::seconds(n)).to_rfc3339(),
        });
        env.publish_json("mentorship.outcome", &event).await?;
    }
    env.wait_count(
        "SELECT count(*) FROM outcomes",
        judged.len() as i64,
        Duration::from_secs(20),
    )
    .await?;

    let doc = report(&env, &playbook.display().to_string()).await?;
    let step = &doc[0];
    assert_eq!(step["step"], "check_in", "{doc}");
    assert_eq!(step["nudged"]["pairs"], 4, "{doc}");
    assert_eq!(step["nudged"]["reached"], 2, "{doc}");
    assert_eq!(step["held_out"]["pairs"], 4, "{doc}");
    assert_eq!(step["held_out"]["reached"], 1, "{doc}");
    assert!(
        (step["difference"].as_f64().unwrap_or(9.0) - 0.25).abs() < 1e-9,
        "{doc}"
    );
    assert!(
        step["verdict"]
            .as_str()
            .unwrap_or("")
            .starts_with("Not enough pairs yet: about "),
        "{doc}"
    );
    assert_eq!(
        step["nudged"]["outcomes"],
        serde_json::json!({"thriving": 2, "continuing": 0, "struggling": 1, "ended": 0}),
        "{doc}"
    );
    assert_eq!(
        step["held_out"]["outcomes"],
        serde_json::json!({"thriving": 0, "continuing": 0, "struggling": 0, "ended": 1}),
        "{doc}"
    );

    // The dry run of the same playbook names the same pairs as held out.
    let out = tokio::process::Command::new(bin_dir().join("firstweek"))
        .args(["playbook", "dry-run"])
        .arg(&playbook)
        .env("DATABASE_URL", &env.database_url)
        .env("FIRSTWEEK_PSEUDONYM_KEY", firstweek_tests::PSEUDONYM_KEY)
        .env("FIRSTWEEK_TIME_SCALE", env.options.scale.to_string())
        .output()
        .await?;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = text
        .lines()
        .find(|l| l.starts_with("held out of check_in: 4 pairs"))
        .unwrap_or_else(|| panic!("no held-out line: {text}"));
    for id in &held {
        assert!(line.contains(id.as_str()), "{id}: {line}");
    }
    for id in &nudged {
        assert!(!line.contains(id.as_str()), "{id}: {line}");
    }
    env.stop().await;
    Ok(())
}
