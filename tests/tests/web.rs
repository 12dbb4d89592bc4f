//! `firstweek-web` end to end: the link in a coordinator's daily digest
//! opens their page (their pairs, at risk first, with the rules and counts)
//! and each pair's timeline; nothing else: not another coordinator's pair,
//! not a forged or altered token.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use firstweek_tests::web::CoordinatorPages;
use firstweek_tests::{
    Env, Options, Pair, bin_dir, http_get, http_post, http_status, link_in, port,
};

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
    assert!(
        !page.contains("@example.org"),
        "no address on the list of pairs (each pair's own page has them)"
    );

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
        timeline.contains("Welcome") && timeline.contains("sent"),
        "{timeline}"
    );
    assert!(
        timeline.contains("Check-in")
            && timeline.contains("not needed: they had already both been in touch"),
        "skips say why, in plain words: {timeline}"
    );
    for code in ["condition not met", "no_two_way", "check_in", "plan_shared"] {
        assert!(
            !timeline.contains(code),
            "no code ({code}) on the page: {timeline}"
        );
    }

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

/// The `Location` of a redirect answer.
fn location(response: &str) -> Option<String> {
    response.split("\r\n\r\n").next()?.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.eq_ignore_ascii_case("location")
            .then(|| value.trim().to_string())
    })
}

/// The text of `html` with tags left out and whitespace folded, as a reader sees it.
fn words(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                out.push(' ');
            }
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&amp;", "&")
        .replace("&hellip;", "…")
        .replace("&#x27;", "'")
        .replace("&#x2f;", "/")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// A coordinator with a zone gets an escalation and a digest about their
/// pairs in real time (a day lasts a day): the escalation email, the
/// digest, the pair's page and the CLI say the same day; the email and the
/// digest entry each lead to the pair's page, which shows how to reach the
/// pair, the program's pair id, advice that follows the reason, times in
/// the coordinator's zone, the pair's interactions and its week in plain
/// words; acknowledging and resolving there say what happened, and
/// resolving asks first.
#[tokio::test(flavor = "multi_thread")]
async fn a_coordinator_acts_in_one_step_and_every_view_tells_the_same_day() -> anyhow::Result<()> {
    let web = port();
    let playbook = firstweek_tests::digest_playbook("fw-web-day", "00:00", false)?;
    let mut options = Options::with_links(1.0, web);
    options
        .env
        .push(("FIRSTWEEK_PLAYBOOK".into(), playbook.display().to_string()));
    let mut env = Env::start(options).await?;
    let coordinator = format!("coord.{}@example.org", env.name);
    let now = chrono::Utc::now();
    let hours = chrono::Duration::hours;
    // Four days and seven hours in, silent: the early escalation (at 4d,
    // day 4) is due; today is day 5.
    let silent = Pair::new(&format!("{}-silent", env.name), now - hours(4 * 24 + 7));
    // Three days and five hours in (day 4): only the mentor wrote.
    let one_sided = Pair::new(&format!("{}-onesided", env.name), now - hours(3 * 24 + 5));
    // Same age, talking from the start: its check-in was not needed.
    let engaged = Pair::new(&format!("{}-engaged", env.name), now - hours(3 * 24 + 5));
    for p in [&silent, &one_sided, &engaged] {
        let mut started = p.started(&format!("{}-start", p.id));
        started["coordinator"] = serde_json::json!({
            "name": "Cy Coordinator", "email": coordinator, "timezone": "Asia/Tokyo"
        });
        env.publish_json("mentorship.started", &started).await?;
    }
    env.publish_json(
        "interaction.recorded",
        &one_sided.interaction(1, "message", "mentor", hours(3), None),
    )
    .await?;
    for body in firstweek_tests::cohort::talk_and_plan(&engaged, hours(2)) {
        env.publish_json("interaction.recorded", &body).await?;
    }
    env.spawn("firstweek-worker", &[]).await?;
    env.wait_count(
        "SELECT count(*) FROM interactions",
        4,
        Duration::from_secs(30),
    )
    .await?;
    // The steps first (no digest yet: its job fires on 1 January only), so
    // the digest comes after the escalation opened.
    env.spawn(
        "firstweek-scheduler",
        &[("FIRSTWEEK_DIGEST_CRON", "0 0 0 1 1 *")],
    )
    .await?;
    env.spawn_without(
        "firstweek-web",
        &["AMQP_URL", "SMTP_URL"],
        &[("FIRSTWEEK_WEB_ADDR", &format!("127.0.0.1:{web}"))],
    )
    .await?;

    // The escalation: the day, the pair id, how to reach them, what to do,
    // and a link to the pair's page.
    let escalation = env
        .wait_mail(&coordinator, "escalation_early", Duration::from_secs(40))
        .await?;
    let text = &escalation.text;
    assert!(
        text.contains("looks at risk on day 4 of its first week"),
        "{text}"
    );
    assert!(
        text.contains(&format!("Pair id in your program: {}", silent.id)),
        "{text}"
    );
    assert!(
        text.contains(&format!("Mentor: Ada Mentor <{}>", silent.mentor()))
            && text.contains(&format!("Mentee: Bo Mentee <{}>", silent.mentee())),
        "{text}"
    );
    assert!(
        text.contains("Help them set up a first call"),
        "a silent pair: {text}"
    );
    let pair_link = format!("http://127.0.0.1:{web}/c/");
    let pair_url = text
        .split_whitespace()
        .find(|w| w.starts_with(&pair_link) && w.ends_with(&format!("/pairs/{}", silent.id)))
        .with_context(|| format!("no link to the pair's page: {text}"))?
        .to_string();

    // The digest, once the escalation is open: the same days, and each
    // entry one step from its pair's page.
    env.spawn(
        "firstweek-scheduler",
        &[("FIRSTWEEK_DIGEST_CRON", "*/2 * * * * *")],
    )
    .await?;
    let digest = env
        .wait_mail_where("the digest", Duration::from_secs(40), |m| {
            m.step.starts_with("digest-") && m.rcpt == coordinator
        })
        .await?;
    let d = &digest.text;
    assert!(
        d.contains(&format!(
            "(pair id {}), day 5, escalated on day 4, open since",
            silent.id
        )),
        "{d}"
    );
    assert!(
        d.contains(&format!("(pair id {}), day 4: 1 interaction", one_sided.id)),
        "{d}"
    );
    let one_sided_entry: String = d[d.find(&format!("(pair id {})", one_sided.id)).unwrap_or(0)..]
        .lines()
        .take(5)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        one_sided_entry
            .contains("what to do: Nudge the quiet side: only the mentor has been in touch so far")
            && !one_sided_entry.contains("first call"),
        "a pair that talks is never told to set up a first call: {one_sided_entry}"
    );
    for p in [&silent, &one_sided] {
        let entry_link = format!("/pairs/{}", p.id);
        assert!(
            d.split_whitespace()
                .any(|w| w.starts_with(&pair_link) && w.ends_with(&entry_link)),
            "the digest links {} to its page: {d}",
            p.id
        );
    }
    assert!(
        d.contains("Ada Mentor &amp; Bo Mentee</a></strong> (pair id"),
        "the HTML entry links the pair: {d}"
    );

    // The pair's page, from the escalation's link: the same days, contacts,
    // the pair id, the advice, times in Tokyo, its week in plain words.
    let path = pair_url.trim_start_matches(&format!("http://127.0.0.1:{web}"));
    let page = http_get(web, path).await;
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    let p = words(&page);
    assert!(p.contains("Day 5 of 7."), "{p}");
    assert!(p.contains("on day 4 of their week"), "{p}");
    assert!(
        p.contains(&format!(
            "Pair id in your program: {} (test-program)",
            silent.id
        )),
        "{p}"
    );
    assert!(
        p.contains(&format!("Mentor: Ada Mentor, {}", silent.mentor()))
            && p.contains(&format!("Mentee: Bo Mentee, {}", silent.mentee())),
        "{p}"
    );
    assert!(p.contains("Help them set up a first call"), "{p}");
    assert!(
        p.contains("JST") && p.contains("Times are in Asia/Tokyo") && !p.contains(" UTC"),
        "times in the coordinator's zone: {p}"
    );
    assert!(
        p.contains("Escalation to you day 4,") && p.contains("Check-in to the mentor day 2,"),
        "{p}"
    );
    assert!(p.contains("None recorded yet."), "{p}");

    // Another pair's page: its interactions (kinds and times), its
    // skipped check-in in words, and advice for a pair that talks.
    let token = link_in(&pair_url, &pair_link).context("the page token")?;
    let engaged_page = words(&http_get(web, &format!("/c/{token}/pairs/{}", engaged.id)).await);
    assert!(
        engaged_page.contains("Message by the mentor, day 1")
            && engaged_page.contains("Plan shared by the mentee, day 1"),
        "{engaged_page}"
    );
    assert!(
        engaged_page.contains("Check-in to the mentor day 2,")
            && engaged_page.contains("not needed: they had already both been in touch"),
        "{engaged_page}"
    );
    let one_sided_page = words(&http_get(web, &format!("/c/{token}/pairs/{}", one_sided.id)).await);
    assert!(
        one_sided_page.contains("Day 4 of 7.") && one_sided_page.contains("Nudge the quiet side"),
        "{one_sided_page}"
    );
    assert!(!one_sided_page.contains("first call"), "{one_sided_page}");

    // Acknowledge on the page: it says what happened.
    let acked = http_post(web, &format!("{path}/acknowledge"), "").await;
    assert!(acked.starts_with("HTTP/1.1 303"), "{acked}");
    let back = location(&acked).context("a redirect")?;
    assert!(back.ends_with("?done=acknowledged"), "{back}");
    let p = words(&http_get(web, &back).await);
    assert!(
        p.contains("Acknowledged") && p.contains("Mentor and mentee are not told"),
        "{p}"
    );

    // Mark resolved asks first: the GET shows what will happen and changes nothing.
    let confirm = http_get(web, &format!("{path}/resolve")).await;
    assert!(confirm.starts_with("HTTP/1.1 200"), "{confirm}");
    let c = words(&confirm);
    assert!(
        c.contains("Mark the escalation about Ada Mentor & Bo Mentee resolved?")
            && c.contains("mentor and mentee are not told")
            && c.contains("Yes, mark resolved"),
        "{c}"
    );
    let state: String =
        sqlx::query_scalar("SELECT state FROM escalations WHERE mentorship_id = $1")
            .bind(&silent.id)
            .fetch_one(&env.pool)
            .await?;
    assert_eq!(state, "acknowledged", "asking changed nothing");
    let resolved = http_post(web, &format!("{path}/resolve"), "").await;
    assert!(resolved.starts_with("HTTP/1.1 303"), "{resolved}");
    let back = location(&resolved).context("a redirect")?;
    let p = words(&http_get(web, &back).await);
    assert!(
        p.contains("Resolved") && p.contains("JST: it was closed by a coordinator"),
        "resolved, when, in the coordinator's zone: {p}"
    );
    assert!(!p.contains("Mark resolved"), "nothing left to resolve: {p}");

    // The operator's CLI counts the same day.
    let cli = std::process::Command::new(bin_dir().join("firstweek"))
        .args(["at-risk", "--all"])
        .env("DATABASE_URL", &env.database_url)
        .env("FIRSTWEEK_PLAYBOOK", &playbook)
        .output()?;
    let out = String::from_utf8_lossy(&cli.stdout);
    let block = out
        .split("\n\n")
        .find(|b| b.starts_with(&silent.id))
        .with_context(|| format!("{} in {out}", silent.id))?;
    assert!(block.contains("day 5 of 7"), "{block}");
    let cli = std::process::Command::new(bin_dir().join("firstweek"))
        .args(["escalation", "show", &silent.id])
        .env("DATABASE_URL", &env.database_url)
        .output()?;
    let shown = String::from_utf8_lossy(&cli.stdout);
    let evidence = shown
        .lines()
        .find(|l| l.trim_start().starts_with("escalation_early"))
        .with_context(|| format!("the evidence row: {shown}"))?;
    assert_eq!(
        evidence.split_whitespace().nth(3),
        Some("4"),
        "evidence of day 4: {evidence}"
    );
    env.stop().await;
    let _ = std::fs::remove_file(&playbook);
    Ok(())
}
