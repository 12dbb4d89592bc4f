//! `firstweek-web` end to end: the link in a coordinator's daily digest
//! opens their page (their pairs, at risk first, with the rules and counts)
//! and each pair's timeline; nothing else: not another coordinator's pair,
//! not a forged or altered token.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use firstweek_tests::web::CoordinatorPages;
use firstweek_tests::{Env, Options, bin_dir, http_get, http_status, port};

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
    let admin = port();
    let admin_addr = format!("127.0.0.1:{admin}");
    let pages = CoordinatorPages::start(&[
        ("FIRSTWEEK_WEB_TEMPLATES_DIR", &dir),
        ("FIRSTWEEK_ADMIN_ADDR", &admin_addr),
    ])
    .await?;
    let (env, web, link) = (&pages.env, pages.web_port, &pages.token);
    let (silent, engaged, elsewhere) = (&pages.silent, &pages.engaged, &pages.elsewhere);
    assert_eq!(link.len(), 64, "a 256-bit token, not an id: {link}");
    assert!(!link.contains(&silent.id));

    let page = http_get(web, &format!("/c/{link}")).await;
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert_security_headers(&page);
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
    // An operator's template cannot drop the headers: they are set in code.
    assert_security_headers(&refused);
    assert!(
        refused.contains("This link does not open anything.")
            && refused.contains("Questions? Write to the mentoring team."),
        "the page from FIRSTWEEK_WEB_TEMPLATES_DIR is served: {refused}"
    );
    assert_eq!(http_status(web, &format!("/c/{}", silent.id)).await, 404);
    // The admin endpoints are on the admin address, not on the public one.
    for path in ["/healthz", "/readyz", "/metrics"] {
        let public = http_get(web, path).await;
        assert!(public.starts_with("HTTP/1.1 404"), "{path}: {public}");
        assert_security_headers(&public);
    }
    assert_eq!(http_status(admin, "/healthz").await, 200);
    let ready = http_get(admin, "/readyz").await;
    assert!(
        ready.starts_with("HTTP/1.1 200") && ready.contains("postgresql: up"),
        "{ready}"
    );
    assert!(
        !ready.contains("rabbitmq"),
        "the web uses no broker: {ready}"
    );
    assert!(
        http_get(admin, "/metrics")
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

/// The headers every answer of `firstweek-web` carries (the lower-cased
/// head of `response`).
fn assert_security_headers(response: &str) {
    let head = response
        .split("\r\n\r\n")
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    for header in [
        "cache-control: no-store",
        "referrer-policy: no-referrer",
        "x-content-type-options: nosniff",
    ] {
        assert!(head.contains(header), "no {header}:\n{head}");
    }
    let csp = head
        .lines()
        .find_map(|l| l.strip_prefix("content-security-policy: "))
        .unwrap_or_else(|| panic!("no content-security-policy:\n{head}"));
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(!csp.contains("script-src"), "no script may run: {csp}");
}

/// Clients that send half a request (headers that never end, a body that
/// never comes) are cut off within the read timeout, and while hundreds of
/// them hold connections a coordinator's request is answered at once.
#[tokio::test(flavor = "multi_thread")]
async fn half_sent_requests_are_cut_off_while_others_are_answered() -> anyhow::Result<()> {
    const SLOW: usize = 500;
    const TIMEOUT: Duration = Duration::from_secs(2);
    let mut env = Env::start(Options {
        start_services: false,
        ..Options::default()
    })
    .await?;
    let web = port();
    let addr = format!("127.0.0.1:{web}");
    env.spawn_without(
        "firstweek-web",
        &["AMQP_URL", "SMTP_URL"],
        &[
            ("FIRSTWEEK_WEB_ADDR", &addr),
            ("FIRSTWEEK_WEB_READ_TIMEOUT_SECS", "2"),
        ],
    )
    .await?;
    // A link that opens nothing: a 404 page, once the database is reached.
    let page = format!("/c/{}", "0".repeat(64));
    let started = Instant::now();
    while http_status(web, &page).await != 404 {
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(30),
            "firstweek-web does not answer; logs in {}",
            env.log_dir.display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let opened = Instant::now();
    let mut slow = Vec::with_capacity(SLOW);
    for i in 0..SLOW {
        let mut s = TcpStream::connect(("127.0.0.1", web)).await?;
        let half: &[u8] = if i % 2 == 0 {
            b"GET /c/0000 HTTP/1.1\r\nhost: x\r\nx-slow: "
        } else {
            b"POST /u/0000 HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: 100\r\n\r\nList-"
        };
        s.write_all(half).await?;
        slow.push(s);
    }
    let asked = Instant::now();
    let answer = http_get(web, &page).await;
    let took = asked.elapsed();
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    assert!(
        took < Duration::from_secs(1),
        "a request among {SLOW} slow clients took {took:?}"
    );

    // Every slow connection is closed by the server (EOF, perhaps after a 408).
    let cut_off = async {
        for mut s in slow {
            let mut rest = Vec::new();
            let _ = s.read_to_end(&mut rest).await;
        }
    };
    let limit = TIMEOUT + Duration::from_secs(3);
    let left = limit.saturating_sub(opened.elapsed());
    assert!(
        tokio::time::timeout(left, cut_off).await.is_ok(),
        "{SLOW} half-sent requests still open {limit:?} after they were opened (read timeout {TIMEOUT:?})"
    );
    env.stop().await;
    Ok(())
}
