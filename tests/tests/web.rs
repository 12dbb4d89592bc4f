//! `firstweek-web` end to end: the link in a coordinator's daily digest
//! opens their page (their pairs, at risk first, with the rules and counts)
//! and each pair's timeline; nothing else: not another coordinator's pair,
//! not a forged or altered token.

use std::time::Duration;

use anyhow::Context as _;

use firstweek_tests::web::CoordinatorPages;
use firstweek_tests::{bin_dir, http_get, http_status};

#[tokio::test(flavor = "multi_thread")]
async fn the_digest_link_opens_the_coordinators_own_page_and_nothing_else() -> anyhow::Result<()> {
    // An operator's own wording for a link that opens nothing.
    let overrides = std::env::temp_dir().join(firstweek_tests::unique("fw-pages"));
    std::fs::create_dir_all(&overrides)?;
    std::fs::write(
        overrides.join("refused.html"),
        r#"{% extends "base.html" %}{% block body %}<p>{{ text }}</p><p>Questions? Write to the mentoring team.</p>{% endblock %}"#,
    )?;
    let dir = overrides.display().to_string();
    let pages = CoordinatorPages::start(&[("FIRSTWEEK_WEB_TEMPLATES_DIR", &dir)]).await?;
    let (env, web, link) = (&pages.env, pages.web_port, &pages.token);
    let (silent, engaged, elsewhere) = (&pages.silent, &pages.engaged, &pages.elsewhere);
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
    // (the engaged pair's check-in is skipped on day 2; the other
    // coordinator's digest, with nothing to act on, is skipped too and is
    // not what this waits for).
    env.wait_count(
        "SELECT count(*) FROM timeline WHERE status = 'skipped' AND subject = 'pair'",
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
    let refused = http_get(web, &format!("/c/{altered}")).await;
    assert!(refused.starts_with("HTTP/1.1 404"), "{refused}");
    assert!(
        refused.contains("This link does not open anything.")
            && refused.contains("Questions? Write to the mentoring team."),
        "the page from FIRSTWEEK_WEB_TEMPLATES_DIR is served: {refused}"
    );
    assert_eq!(http_status(web, &format!("/c/{}", silent.id)).await, 404);
    assert_eq!(http_status(web, "/healthz").await, 200);
    assert_eq!(http_status(web, "/readyz").await, 200);
    assert!(
        http_get(web, "/metrics")
            .await
            .contains("firstweek_web_pages_total")
    );
    pages.env.stop().await;
    let _ = std::fs::remove_dir_all(&overrides);
    Ok(())
}

/// A page template that does not parse stops `firstweek-web` at start-up,
/// before it serves anything, with an error naming the file; it needs no
/// `AMQP_URL` to get that far.
#[tokio::test]
async fn a_broken_page_template_refuses_start_up_naming_the_file() -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(firstweek_tests::unique("fw-pages-broken"));
    std::fs::create_dir_all(&dir)?;
    let broken = dir.join("coordinator.html");
    std::fs::write(&broken, "{% for p in pairs %}never closed")?;
    let run = tokio::process::Command::new(bin_dir().join("firstweek-web"))
        .env_clear()
        .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
        .env("FIRSTWEEK_WEB_TEMPLATES_DIR", &dir)
        .env("FIRSTWEEK_WEB_ADDR", "127.0.0.1:0")
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(20), run).await??;
    let _ = std::fs::remove_dir_all(&dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "it must not start: {stderr}");
    assert!(
        stderr.contains(&broken.display().to_string()) && stderr.contains("does not parse"),
        "{stderr}"
    );
    assert!(!stderr.contains("AMQP_URL"), "{stderr}");
    Ok(())
}
