//! Outcomes end to end: a small cohort with known first weeks and known
//! outcomes; `firstweek report outcomes` gives the known counts per group
//! (the latest `recorded_at` of a pair counts, another program's pair and a
//! pair without an outcome stay out), `--svg` draws the groups, an invalid
//! outcome is dead-lettered with its reason, and the coordinator's page shows
//! the chart of their program.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use chrono::Utc;
use serde_json::{Value, json};

use firstweek_tests::cohort::talk_and_plan;
use firstweek_tests::{Env, Launch, Options, Pair, bin_dir, http_get, link_in, port};

fn outcome(pair: &Pair, n: u32, outcome: &str, rating: Option<u8>, hours_ago: i64) -> Value {
    let mut v = json!({
        "event_id": format!("{}-o{n}", pair.id),
        "mentorship_id": pair.id,
        "outcome": outcome,
        "recorded_at": (Utc::now() - chrono::Duration::hours(hours_ago)).to_rfc3339(),
    });
    if let Some(r) = rating {
        v["rating"] = r.into();
    }
    v
}

async fn report(env: &Env, args: &[&str]) -> anyhow::Result<Value> {
    let out = tokio::process::Command::new(bin_dir().join("firstweek"))
        .args(["report", "outcomes", "--format", "json"])
        .args(args)
        .env("DATABASE_URL", &env.database_url)
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

/// The counts of each outcome (thriving, continuing, struggling, ended) of
/// every group, `factor/group` -> counts.
fn counts(doc: &Value) -> Vec<(String, [u64; 4])> {
    let mut out = Vec::new();
    for f in doc["report"]["factors"].as_array().into_iter().flatten() {
        for g in f["groups"].as_array().into_iter().flatten() {
            let mut c = [0; 4];
            for (i, name) in ["thriving", "continuing", "struggling", "ended"]
                .iter()
                .enumerate()
            {
                c[i] = g["outcomes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|s| s["outcome"] == *name)
                    .and_then(|s| s["count"].as_u64())
                    .unwrap_or(u64::MAX);
            }
            out.push((
                format!(
                    "{}/{}",
                    f["factor"].as_str().unwrap_or("?"),
                    g["group"].as_str().unwrap_or("?")
                ),
                c,
            ));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cohort_with_known_outcomes_gives_the_known_counts() -> anyhow::Result<()> {
    let web = port();
    let mut options = Options {
        // A program day lasts 4 s.
        scale: 21_600.0,
        start_services: false,
        launch: Launch::InProcess,
        ..Options::default()
    };
    options.env.push((
        "FIRSTWEEK_PUBLIC_URL".into(),
        format!("http://127.0.0.1:{web}"),
    ));
    let mut env = Env::start(options).await?;
    let now = Utc::now();
    // Their first week is over: every step is due at once and judged as of
    // its own due time.
    let past = now - env.days(8.0);
    let pair = |n: &str, at| Pair::new(&format!("{}-{n}", env.name), at);
    let silent = pair("silent", past); // 0, one-sided, no plan, escalated
    let lopsided = pair("lopsided", past); // 2 by the mentor: escalated
    let engaged = pair("engaged", past); // 4, two-way, plan
    let busy = pair("busy", past); // 7, two-way, goals
    let quiet = pair("quiet", past); // engaged too, and no outcome recorded
    let elsewhere = pair("elsewhere", past); // another program
    // Silent until its early escalation (day 4), then talks and plans: recovers.
    let recovers = pair("recovers", now - env.days(3.8));

    for p in [&silent, &lopsided, &engaged, &busy, &quiet, &recovers] {
        env.publish_json("mentorship.started", &p.started(&format!("{}-s", p.id)))
            .await?;
    }
    let mut other = elsewhere.started(&format!("{}-s", elsewhere.id));
    other["program_id"] = "other-program".into();
    env.publish_json("mentorship.started", &other).await?;

    let day = |d: f64| env.days(d);
    let mut interactions = vec![
        (&lopsided, 1, "message", "mentor", day(1.0)),
        (&lopsided, 2, "message", "mentor", day(3.0)),
        (&engaged, 1, "message", "mentor", day(0.5)),
        (&engaged, 2, "message", "mentee", day(1.0)),
        (&engaged, 3, "plan_shared", "mentee", day(2.0)),
        (&engaged, 4, "call", "mentor", day(3.0)),
        (&quiet, 1, "message", "mentor", day(0.5)),
        (&quiet, 2, "message", "mentee", day(1.0)),
        (&quiet, 3, "goal_set", "mentee", day(2.0)),
        (&elsewhere, 1, "message", "mentor", day(0.5)),
        (&elsewhere, 2, "message", "mentee", day(1.0)),
        (&elsewhere, 3, "goal_set", "mentee", day(2.0)),
        // After the first week: stored, and not counted in it.
        (&engaged, 5, "message", "mentee", day(7.5)),
    ];
    for n in 1..=7 {
        let (kind, actor) = match n {
            4 => ("goal_set", "mentee"),
            n if n % 2 == 0 => ("message", "mentee"),
            _ => ("message", "mentor"),
        };
        interactions.push((&busy, n, kind, actor, day(0.5 * f64::from(n))));
    }
    for (p, n, kind, actor, at) in &interactions {
        env.publish_json(
            "interaction.recorded",
            &p.interaction(*n, kind, actor, *at, None),
        )
        .await?;
    }

    env.launch_with_web(web).await?;
    let limit = Duration::from_secs(45);

    // The recovering pair's early escalation, with the coordinator's page link.
    let escalation = env
        .wait_mail_where("early escalation", limit, |m| {
            m.mentorship == recovers.id && m.step == "escalation_early"
        })
        .await?;
    let since = Utc::now() - recovers.started_at;
    for body in talk_and_plan(&recovers, since) {
        env.publish_json("interaction.recorded", &body).await?;
    }

    // Outcomes: two for the engaged pair, published latest first: the later
    // `recorded_at` counts, not the later arrival.
    let outcomes = [
        outcome(&silent, 1, "ended", None, 1),
        outcome(&lopsided, 1, "struggling", Some(2), 1),
        outcome(&engaged, 1, "thriving", Some(4), 1),
        outcome(&engaged, 2, "struggling", Some(2), 5),
        outcome(&busy, 1, "thriving", Some(5), 1),
        outcome(&recovers, 1, "continuing", None, 0),
        outcome(&elsewhere, 1, "thriving", None, 1),
    ];
    for o in &outcomes {
        env.publish_json("mentorship.outcome", o).await?;
    }
    // Out of the contract: dead-lettered with the reason, nothing stored.
    env.publish_json(
        "mentorship.outcome",
        &outcome(&busy, 9, "thriving", Some(6), 0),
    )
    .await?;

    env.wait_count("SELECT count(*) FROM outcomes", 7, limit)
        .await?;
    env.wait_count(
        "SELECT count(*) FROM escalations WHERE resolved_how = 'recovered'",
        1,
        limit,
    )
    .await?;
    // The silent and lopsided pairs' escalations (their day-7 step), besides the recovered one.
    env.wait_count("SELECT count(*) FROM escalations", 3, limit)
        .await?;

    let start = Instant::now();
    let dead = loop {
        let letters = env.dead_letters().await?;
        if let Some(d) = letters.into_iter().find(|d| d.0 == "mentorship.outcome") {
            break d;
        }
        if start.elapsed() > limit {
            bail!("the invalid outcome was not dead-lettered");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        dead.1.contains("field `rating`: must be 1 to 5, got 6"),
        "{}",
        dead.1
    );
    let stored: i64 =
        sqlx::query_scalar("SELECT count(*) FROM outcomes WHERE event_id LIKE '%-o9'")
            .fetch_one(&env.pool)
            .await?;
    assert_eq!(stored, 0);

    let svg = std::env::temp_dir().join(firstweek_tests::unique("fw-outcomes"));
    let svg_arg = svg.display().to_string();
    let doc = report(&env, &["--program", "test-program", "--svg", &svg_arg]).await?;
    assert_eq!(doc["report"]["pairs"], 5, "{doc:#}");
    assert_eq!(doc["report"]["without_outcome"], 1, "{doc:#}");
    let want: Vec<(String, [u64; 4])> = [
        ("interactions/0", [0, 0, 0, 1]),
        ("interactions/1-2", [0, 0, 1, 0]),
        ("interactions/3-5", [1, 1, 0, 0]),
        ("interactions/6+", [1, 0, 0, 0]),
        ("two_way/yes", [2, 1, 0, 0]),
        ("two_way/no", [0, 0, 1, 1]),
        ("plan/yes", [2, 1, 0, 0]),
        ("plan/no", [0, 0, 1, 1]),
        ("escalation/no", [2, 0, 0, 0]),
        ("escalation/yes, recovered", [0, 1, 0, 0]),
        ("escalation/yes, not recovered", [0, 0, 1, 1]),
    ]
    .into_iter()
    .map(|(g, c)| (g.to_string(), c))
    .collect();
    assert_eq!(counts(&doc), want, "{doc:#}");
    // Shares and intervals come with the counts: 1 of 2 thriving with 3-5.
    let band = &doc["report"]["factors"][0]["groups"][2];
    assert_eq!(band["pairs"], 2);
    assert_eq!(band["outcomes"][0]["share"], 0.5);
    let ci = band["outcomes"][0]["ci95"]
        .as_array()
        .context("an interval")?;
    assert!(
        ci[0].as_f64() < Some(0.1) && ci[1].as_f64() > Some(0.9),
        "{ci:?}"
    );
    // The engaged pair's latest outcome has rating 4 and the busy pair's 5.
    assert_eq!(doc["report"]["factors"][3]["groups"][0]["mean_rating"], 4.5);

    let chart = std::fs::read_to_string(&svg).context("--svg wrote the chart")?;
    assert!(chart.starts_with("<svg"), "{chart}");
    for g in [
        "0",
        "1-2",
        "3-5",
        "6+",
        "yes, recovered",
        "yes, not recovered",
    ] {
        assert!(chart.contains(&format!(">{g}</text>")), "{g} in the chart");
    }
    assert!(chart.contains("Outcomes by first week: program test-program"));
    let _ = std::fs::remove_file(&svg);

    // Every program: the other program's pair counts too.
    let all = report(&env, &[]).await?;
    assert_eq!(all["report"]["pairs"], 6, "{all:#}");

    // The coordinator's page: the chart of their program.
    let token = link_in(&escalation.text, &format!("http://127.0.0.1:{web}/c/"))
        .context("the escalation carries a page link")?;
    let page = http_get(web, &format!("/c/{token}")).await;
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(
        page.contains("How pairs fared later: program test-program"),
        "{page}"
    );
    assert!(
        page.contains("<svg xmlns=\"http://www.w3.org/2000/svg\""),
        "{page}"
    );
    assert!(
        page.contains("thriving: 1 of 2 (50%"),
        "the 3-5 band's share is on the page: {page}"
    );
    assert!(!page.contains("<script"), "no JavaScript");

    env.stop().await;
    Ok(())
}
