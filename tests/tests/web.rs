//! `firstweek-web` end to end: the link in a coordinator's daily digest
//! opens their page (their pairs, at risk first, with the rules and counts)
//! and each pair's timeline; nothing else: not another coordinator's pair,
//! not a forged or altered token.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::Utc;
use firstweek_tests::{Env, Options, Pair, http_get, http_status, port};

#[tokio::test(flavor = "multi_thread")]
async fn the_digest_link_opens_the_coordinators_own_page_and_nothing_else() -> anyhow::Result<()> {
    let web = port();
    let mut options = Options {
        // A program day lasts 10 s: every pair stays in its first week for the test.
        scale: 8_640.0,
        start_services: false,
        ..Options::default()
    };
    for (k, v) in [
        ("FIRSTWEEK_DIGEST_CRON", "*/2 * * * * *".to_string()),
        ("FIRSTWEEK_PUBLIC_URL", format!("http://127.0.0.1:{web}/")),
    ] {
        options.env.push((k.into(), v));
    }
    let mut env = Env::start(options).await?;
    let coordinator = format!("coord.{}@example.org", env.name);
    let started = |pair: &Pair, address: &str| {
        let mut v = pair.started(&format!("{}-start", pair.id));
        v["coordinator"] = serde_json::json!({"name": "Cy Coordinator", "email": address});
        v
    };
    let now = Utc::now();
    let engaged = Pair::new(&format!("{}-engaged", env.name), now);
    let silent = Pair::new(&format!("{}-silent", env.name), now - env.days(3.0));
    let elsewhere = Pair::new(&format!("{}-elsewhere", env.name), now);
    env.spawn("firstweek-worker", &[]).await?;
    env.publish_json("mentorship.started", &started(&engaged, &coordinator))
        .await?;
    env.publish_json("mentorship.started", &started(&silent, &coordinator))
        .await?;
    env.publish_json("mentorship.started", &elsewhere.started("elsewhere-start"))
        .await?;
    for (n, kind, actor) in [
        (1, "message", "mentor"),
        (2, "message", "mentee"),
        (3, "plan_shared", "mentee"),
    ] {
        env.publish_json(
            "interaction.recorded",
            &engaged.interaction(n, kind, actor, env.days(0.01), None),
        )
        .await?;
    }
    env.wait_count(
        "SELECT count(*) FROM interactions",
        3,
        Duration::from_secs(20),
    )
    .await?;
    env.spawn("firstweek-scheduler", &[]).await?;
    env.spawn(
        "firstweek-web",
        &[("FIRSTWEEK_WEB_ADDR", &format!("127.0.0.1:{web}"))],
    )
    .await?;

    // The digest arrives with the page link.
    let start = Instant::now();
    let digest = loop {
        if let Some(m) = env
            .mails()
            .into_iter()
            .find(|m| m.step.starts_with("digest-") && m.rcpt == coordinator)
        {
            break m;
        }
        anyhow::ensure!(start.elapsed() < Duration::from_secs(40), "no digest");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let prefix = format!("http://127.0.0.1:{web}/c/");
    let link = digest
        .text
        .split_whitespace()
        .find_map(|w| w.strip_prefix(&prefix))
        .map(|t| {
            t.trim_end_matches(|c: char| !c.is_ascii_hexdigit())
                .to_string()
        })
        .context("the digest carries no page link")?;
    assert_eq!(link.len(), 64, "a 256-bit token, not an id: {link}");
    assert!(!link.contains(&silent.id));

    let page = http_get(web, &format!("/c/{link}")).await;
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    let (silent_at, engaged_at) = (
        page.find(&format!("/pairs/{}", silent.id))
            .context("the silent pair is listed")?,
        page.find(&format!("/pairs/{}", engaged.id))
            .context("the engaged pair is listed")?,
    );
    assert!(silent_at < engaged_at, "at risk first");
    assert!(page.contains("1 of 2 need a look"), "{page}");
    assert!(
        page.contains("Needs a look"),
        "the rule that fires is named"
    );
    assert!(
        !page.contains(&elsewhere.id),
        "another coordinator's pair is not shown"
    );
    assert!(!page.contains("@example.org"), "no address on the page");

    // One pair's timeline: what was sent and what was skipped, and why
    // (the engaged pair's check-in is skipped on day 2).
    env.wait_count(
        "SELECT count(*) FROM timeline WHERE status = 'skipped'",
        1,
        Duration::from_secs(60),
    )
    .await?;
    let timeline = http_get(web, &format!("/c/{link}/pairs/{}", engaged.id)).await;
    assert!(timeline.starts_with("HTTP/1.1 200"), "{timeline}");
    assert!(
        timeline.contains("welcome") && timeline.contains("sent"),
        "{timeline}"
    );
    assert!(
        timeline.contains("condition not met"),
        "skips say why: {timeline}"
    );

    // Nothing else opens: another coordinator's pair, an altered token, an id alone.
    assert_eq!(
        http_status(web, &format!("/c/{link}/pairs/{}", elsewhere.id)).await,
        404
    );
    let mut altered = link.clone().into_bytes();
    altered[0] = if altered[0] == b'0' { b'1' } else { b'0' };
    let altered = String::from_utf8(altered)?;
    assert_eq!(http_status(web, &format!("/c/{altered}")).await, 404);
    assert_eq!(http_status(web, &format!("/c/{}", silent.id)).await, 404);
    assert_eq!(http_status(web, "/healthz").await, 200);
    assert_eq!(http_status(web, "/readyz").await, 200);
    assert!(
        http_get(web, "/metrics")
            .await
            .contains("firstweek_web_pages_total")
    );
    env.stop().await;
    Ok(())
}
