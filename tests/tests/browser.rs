//! People on their phones, in a real browser (headless Chromium,
//! phone-sized): a coordinator follows the digest's link (the pair that
//! needs a look comes first, a tap shows its first week), acknowledges an
//! escalation from its email's link, and a mentor answers a check-in with
//! "We've been in touch". Screenshots land in `target/debug/screenshots/`.

use anyhow::Context as _;
use firstweek::experiment::Draw;
use firstweek_tests::browser::Browser;
use firstweek_tests::web::{CoordinatorPages, ENGAGED_MENTOR, SILENT_MENTOR};
use firstweek_tests::{http_get, pseudonym_key};

#[tokio::test(flavor = "multi_thread")]
async fn a_coordinator_follows_the_digest_link_and_taps_through_to_the_pair_at_risk()
-> anyhow::Result<()> {
    let pages = CoordinatorPages::start(&[]).await?;
    let browser = Browser::start().await?;

    browser.open(&pages.url(&pages.page())).await?;
    let text = browser.text().await?;
    assert!(text.contains("Your pairs, Cy Coordinator"), "{text}");
    assert!(text.contains("1 of 2 need a look."), "{text}");
    let (silent_at, engaged_at) = (
        text.find(SILENT_MENTOR)
            .context("the at-risk pair is shown")?,
        text.find(ENGAGED_MENTOR)
            .context("the on-track pair is shown")?,
    );
    assert!(
        silent_at < engaged_at,
        "the pair at risk comes first: {text}"
    );
    let silent_card = &text[silent_at..engaged_at];
    assert!(silent_card.contains("Needs a look:"), "{silent_card}");
    assert!(
        text[engaged_at..].contains("On track."),
        "{}",
        &text[engaged_at..]
    );
    assert!(!text.contains("@example.org"), "no address on the page");
    assert_eq!(browser.overflow_x().await?, 0, "no sideways scrolling");
    browser.screenshot("coordinator-page").await?;

    // Its welcome has gone out by now: the timeline shows something sent.
    pages.wait_sent(&pages.silent, "welcome").await?;
    let label = format!("{SILENT_MENTOR} & Bo Mentee");
    browser.click_link(&label).await?;
    let url = browser.url().await?;
    assert!(
        url.ends_with(&format!("{}/pairs/{}", pages.page(), pages.silent.id)),
        "{url}"
    );
    let text = browser.text().await?;
    assert!(text.contains(&label), "{text}");
    assert!(text.contains("Their first week, step by step"), "{text}");
    assert!(text.contains("Needs a look:"), "{text}");
    for step in ["Welcome", "Check-in", "Wrap-up"] {
        assert!(text.contains(step), "the timeline lists {step}: {text}");
    }
    assert!(
        !text.contains("check_in") && !text.contains("condition not met"),
        "plain words, no codes: {text}"
    );
    assert!(
        text.contains(&pages.silent.mentor()),
        "the pair's own page shows how to reach them: {text}"
    );
    assert!(text.contains("sent"), "{text}");
    assert_eq!(
        browser.overflow_x().await?,
        0,
        "the timeline fits the phone's width"
    );
    browser.screenshot("pair-timeline").await?;

    browser.click_link("← your pairs").await?;
    assert!(browser.text().await?.contains("1 of 2 need a look."));

    browser.close().await;
    pages.env.stop().await;
    Ok(())
}

/// The links people follow from their emails, in a real browser: the
/// coordinator acknowledges an escalation (the page shows the pair and a
/// button; only the tap acknowledges), and the mentor answers a check-in
/// with "We've been in touch".
#[tokio::test(flavor = "multi_thread")]
async fn a_coordinator_acknowledges_and_a_mentor_answers_from_their_emails() -> anyhow::Result<()> {
    use firstweek_tests::{Env, Options, Pair, link_in, port};
    let web = port();
    let options = Options::with_links(14_400.0, web);
    let mut env = Env::start(options).await?;
    // Silent for 4.3 program days: the check-in and the early escalation are due.
    let pair = Pair::new(
        &format!("{}-quiet", env.name),
        chrono::Utc::now() - env.days(4.3),
    );
    env.publish_json("mentorship.started", &pair.started("quiet-start"))
        .await?;
    env.spawn("firstweek-worker", &[]).await?;
    env.spawn("firstweek-scheduler", &[]).await?;
    env.spawn_without(
        "firstweek-web",
        &["AMQP_URL", "SMTP_URL"],
        &[("FIRSTWEEK_WEB_ADDR", &format!("127.0.0.1:{web}"))],
    )
    .await?;
    let browser = Browser::start().await?;

    let escalation = env
        .wait_mail(
            &pair.coordinator(),
            "escalation_early",
            std::time::Duration::from_secs(40),
        )
        .await?;
    let prefix = format!("http://127.0.0.1:{web}/a/");
    let token = link_in(&escalation.text, &prefix).context("the escalation's acknowledge link")?;
    browser.open(&format!("{prefix}{token}")).await?;
    let text = browser.text().await?;
    assert!(text.contains("Ada Mentor & Bo Mentee"), "{text}");
    assert!(
        text.contains("no interaction at all"),
        "the evidence: {text}"
    );
    let state: String =
        sqlx::query_scalar("SELECT state FROM escalations WHERE mentorship_id = $1")
            .bind(&pair.id)
            .fetch_one(&env.pool)
            .await?;
    assert_eq!(state, "open", "opening the link changed nothing");
    browser.screenshot("acknowledge-before").await?;
    browser.click_button("I'm on it: acknowledge").await?;
    let text = browser.text().await?;
    assert!(
        text.contains("Acknowledged"),
        "the page shows the new state: {text}"
    );
    assert!(!text.contains("I'm on it"), "no button any more: {text}");
    assert_eq!(browser.overflow_x().await?, 0);
    browser.screenshot("acknowledge-after").await?;
    let state: String =
        sqlx::query_scalar("SELECT state FROM escalations WHERE mentorship_id = $1")
            .bind(&pair.id)
            .fetch_one(&env.pool)
            .await?;
    assert_eq!(state, "acknowledged");

    // The escalation's link to the pair's page: contacts, the pair id, and
    // "Mark resolved" asks first, then says what happened.
    let pair_prefix = format!("http://127.0.0.1:{web}/c/");
    let pair_url = escalation
        .text
        .split_whitespace()
        .find(|w| w.starts_with(&pair_prefix) && w.ends_with(&format!("/pairs/{}", pair.id)))
        .context("the escalation links the pair's page")?
        .to_string();
    browser.open(&pair_url).await?;
    let text = browser.text().await?;
    assert!(
        text.contains(&pair.mentor()) && text.contains(&pair.mentee()),
        "{text}"
    );
    assert!(
        text.contains(&format!("Pair id in your program: {}", pair.id)),
        "{text}"
    );
    assert!(text.contains("Help them set up a first call"), "{text}");
    assert_eq!(browser.overflow_x().await?, 0);
    browser.screenshot("pair-page-contacts").await?;
    browser.click_link("Mark resolved…").await?;
    let text = browser.text().await?;
    assert!(
        text.contains("Mark the escalation about Ada Mentor & Bo Mentee resolved?")
            && text.contains("mentor and mentee are not told"),
        "{text}"
    );
    let state: String =
        sqlx::query_scalar("SELECT state FROM escalations WHERE mentorship_id = $1")
            .bind(&pair.id)
            .fetch_one(&env.pool)
            .await?;
    assert_eq!(state, "acknowledged", "asking changed nothing");
    browser.screenshot("resolve-confirm").await?;
    browser.click_button("Yes, mark resolved").await?;
    let text = browser.text().await?;
    assert!(
        text.contains("Resolved") && text.contains("Mentor and mentee are not told"),
        "{text}"
    );
    assert!(!text.contains("Mark resolved"), "{text}");
    browser.screenshot("resolved").await?;
    let state: String =
        sqlx::query_scalar("SELECT state FROM escalations WHERE mentorship_id = $1")
            .bind(&pair.id)
            .fetch_one(&env.pool)
            .await?;
    assert_eq!(state, "resolved");

    let check_in = env
        .wait_mail(
            &pair.mentor(),
            "check_in",
            std::time::Duration::from_secs(40),
        )
        .await?;
    let prefix = format!("http://127.0.0.1:{web}/r/");
    let token = link_in(&check_in.text, &prefix).context("the check-in's answer link")?;
    browser.open(&format!("{prefix}{token}")).await?;
    let text = browser.text().await?;
    assert!(
        text.contains("Hi Ada") && !text.contains("Ada Mentor"),
        "first names only: {text}"
    );
    browser.click_button("We've been in touch").await?;
    let text = browser.text().await?;
    assert!(text.contains("Thanks, Ada!"), "{text}");
    browser.screenshot("answer-in-touch").await?;
    // The answer travels like any event: relayed to the exchange, stored by intake.
    let start = std::time::Instant::now();
    loop {
        let kinds: Vec<String> = sqlx::query_scalar(
            "SELECT kind FROM interactions WHERE mentorship_id = $1 AND actor = 'mentor'",
        )
        .bind(&pair.id)
        .fetch_all(&env.pool)
        .await?;
        if !kinds.is_empty() {
            assert_eq!(kinds, ["message"]);
            break;
        }
        anyhow::ensure!(
            start.elapsed() < std::time::Duration::from_secs(20),
            "the answer was not stored"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }

    browser.close().await;
    env.stop().await;
    Ok(())
}

/// The outcome chart on a phone: it fits the screen (no sideways
/// scrolling), says its title once, writes its counts and intervals out,
/// and marks a group of one pair as few pairs. The program holds half its
/// pairs out of the check-in: beside the chart, the experiment's groups,
/// difference and verdict, written out, fitting the phone too.
#[tokio::test(flavor = "multi_thread")]
async fn a_coordinator_reads_the_outcome_chart_on_a_phone() -> anyhow::Result<()> {
    let pages = CoordinatorPages::start_with(&[], &[("check_in", 0.5)]).await?;
    for (pair, outcome) in [(&pages.silent, "struggling"), (&pages.engaged, "thriving")] {
        let event = serde_json::json!({
            "event_id": format!("{}-outcome", pair.id),
            "mentorship_id": pair.id,
            "outcome": outcome,
            "recorded_at": chrono::Utc::now().to_rfc3339(),
        });
        pages.env.publish_json("mentorship.outcome", &event).await?;
    }
    pages
        .env
        .wait_count(
            "SELECT count(*) FROM outcomes",
            2,
            std::time::Duration::from_secs(20),
        )
        .await?;
    let browser = Browser::start().await?;

    // Straight to the chart (a phone's screen shows it, for the screenshot).
    browser
        .open(&pages.url(&format!("{}#outcomes-1", pages.page())))
        .await?;
    let text = browser.text().await?;
    assert!(
        text.contains("How pairs fared later: program test-program"),
        "{text}"
    );
    let html = browser.html().await?;
    let chart = &html[html.find("<svg").context("the chart is on the page")?..];
    let open = &chart[..chart.find('>').context("its opening tag")?];
    assert!(
        open.contains("viewBox=") && open.contains("width=\"100%\""),
        "{open}"
    );
    assert!(
        !html.contains(">Outcomes by first week"),
        "the title once, as the page's heading"
    );
    // Written out, not only on hover: the engaged pair's group of one.
    assert!(
        chart.contains("thriving 1 · 100% (21–100%)"),
        "counts and intervals in words: {chart}"
    );
    assert!(chart.contains("1 pair, few pairs"), "{chart}");
    assert_eq!(
        browser.overflow_x().await?,
        0,
        "the chart fits the phone's width"
    );
    browser.screenshot("coordinator-chart").await?;

    // The silent pair reached its check-in quiet; once the check-in's
    // horizon (2 program days) has passed, its experiment is on the page.
    let start = std::time::Instant::now();
    while !http_get(pages.web_port, &pages.page())
        .await
        .contains("What the nudges cause")
    {
        anyhow::ensure!(
            start.elapsed() < std::time::Duration::from_secs(60),
            "no experiment on the page"
        );
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    let held_out =
        Draw::new(&pseudonym_key(), Some("test-program")).at(&pages.silent.id, "check_in") < 0.5;
    let group = if held_out { "Held out" } else { "Nudged" };
    // Away first: a new fragment alone would only scroll the page shown.
    browser.open("about:blank").await?;
    browser
        .open(&pages.url(&format!("{}#experiments-1", pages.page())))
        .await?;
    let text = browser.text().await?;
    assert!(
        text.contains("Its aim: both sides in touch within 2 days of it."),
        "{text}"
    );
    // Its group counts it, not reaching the aim (another coordinator's
    // quiet pair of the program may have joined, in its own group).
    assert!(text.contains(&format!("{group}: 0 of ")), "{group}: {text}");
    assert!(!text.contains(&format!("{group}: 0 of 0 pairs")), "{text}");
    assert!(
        text.contains("Not enough pairs yet: about ")
            && text.contains("more per group would show a difference of 10 points."),
        "the verdict: {text}"
    );
    let html = browser.html().await?;
    let section = &html[html
        .find("id=\"experiments-1\"")
        .context("the experiments are on the page")?..];
    let scale = &section[section.find("<svg").context("a scale")?..];
    assert!(
        scale[..scale.find('>').unwrap_or(0)].contains("width=\"100%\""),
        "{scale}"
    );
    assert_eq!(
        browser.overflow_x().await?,
        0,
        "the experiment fits the phone's width"
    );
    browser.screenshot("coordinator-experiments").await?;

    browser.close().await;
    pages.env.stop().await;
    Ok(())
}
