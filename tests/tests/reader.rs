//! The reader's check (issue 27, item 7): every email and every page, in
//! headless Chromium at phone (390 px) and desktop (1280 px) width, gets a
//! full-page screenshot and axe-core's accessibility check; a serious or
//! critical violation fails. The screenshots land in
//! `target/debug/screenshots/reader/{phone,desktop}/`, the findings in
//! `target/debug/reader-report.md`.
//!
//! Re-run: `bash scripts/setup.sh && cargo test -p firstweek-tests --test reader`.

use std::time::Duration;

use anyhow::Context as _;
use firstweek::link::LinkToken;
use firstweek_tests::reader::{Kind, Reader, samples};
use firstweek_tests::web::CoordinatorPages;
use firstweek_tests::{Mail, link_in};

fn passes(failing: &[String]) {
    assert!(
        failing.is_empty(),
        "serious or critical accessibility violations (see target/debug/reader-report.md):\n{}",
        failing.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn every_email_passes_a_readers_check() -> anyhow::Result<()> {
    let mut reader = Reader::start().await?;
    for sample in samples::all()? {
        reader
            .check_email(&sample.name, &sample.rendered.html)
            .await?;
    }
    let failing = reader.report("emails")?;
    reader.close().await;
    passes(&failing);
    Ok(())
}

/// The same emails in German and in Spanish (everyone in the pair reading
/// that language): the translations pass the same check.
#[tokio::test(flavor = "multi_thread")]
async fn every_german_and_spanish_email_passes_a_readers_check() -> anyhow::Result<()> {
    let mut reader = Reader::start().await?;
    for locale in ["de", "es"] {
        for sample in samples::all_in(Some(locale))? {
            let name = format!("{locale}-{}", sample.name);
            reader.check_email(&name, &sample.rendered.html).await?;
        }
    }
    let failing = reader.report("translations")?;
    reader.close().await;
    passes(&failing);
    Ok(())
}

/// A reader whose mail app shows the plain-text part learns what the HTML
/// part says, and the other way round, in every email.
#[test]
fn every_emails_text_and_html_parts_say_the_same() -> anyhow::Result<()> {
    let mut differ = Vec::new();
    let samples = samples::all()?;
    for sample in &samples {
        for d in sample.rendered.differences() {
            differ.push(format!("{}: {d}", sample.name));
        }
    }
    assert!(
        differ.is_empty(),
        "parts that differ:\n{}",
        differ.join("\n")
    );
    let rendered: std::collections::BTreeSet<&str> =
        samples.iter().map(|s| s.template.as_str()).collect();
    for name in firstweek::email::Templates::built_in()?.names() {
        assert!(rendered.contains(name.as_str()), "{name} was not rendered");
    }
    Ok(())
}

/// Presses the page's first form button, whatever it is labelled, and waits for the page it leads to.
async fn press(reader: &Reader) -> anyhow::Result<()> {
    let label = reader
        .phone()
        .execute(
            "const b = document.querySelector('form button, form input[type=submit]');
             return b ? (b.innerText || b.value).trim() : null;",
            vec![],
        )
        .await?;
    let label = label.as_str().context("the page has no button")?;
    reader.phone().click_button(label).await
}

/// The silent pair's `step` email to `rcpt`.
async fn wait(pages: &CoordinatorPages, step: &str, rcpt: &str) -> anyhow::Result<Mail> {
    let id = &pages.silent.id;
    pages
        .env
        .wait_mail_where(step, Duration::from_secs(60), |m: &Mail| {
            &m.mentorship == id && m.step == step && m.rcpt == rcpt
        })
        .await
}

/// Moves the clock past one link's expiry (the link in `path`, `/r/TOKEN`).
async fn expire(pages: &CoordinatorPages, token: &str) -> anyhow::Result<()> {
    let token = LinkToken::parse(token).map_err(anyhow::Error::msg)?;
    sqlx::query("UPDATE links SET expires_at = now() - interval '1 second' WHERE token_hash = $1")
        .bind(&token.hash()[..])
        .execute(&pages.env.pool)
        .await?;
    Ok(())
}

/// Both pairs' outcomes, so the coordinator's page draws its outcome chart.
async fn record_outcomes(pages: &CoordinatorPages) -> anyhow::Result<()> {
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
        .wait_count("SELECT count(*) FROM outcomes", 2, Duration::from_secs(20))
        .await
}

/// Every page: the coordinator's (with its outcome chart), the pair's
/// (contacts, advice, interactions, its week in words; after acknowledging
/// and after resolving), the resolve confirmation, and each link from an
/// email before and after its button, used, expired and unknown.
#[tokio::test(flavor = "multi_thread")]
async fn every_page_passes_a_readers_check() -> anyhow::Result<()> {
    let pages = CoordinatorPages::start(&[]).await?;
    record_outcomes(&pages).await?;
    let mut reader = Reader::start().await?;
    let base = format!("http://127.0.0.1:{}", pages.web_port);
    let silent = &pages.silent;
    reader
        .check(Kind::Page, "coordinator", &pages.url(&pages.page()))
        .await?;

    // The escalation's acknowledge link: the page, before its button.
    let escalation = wait(&pages, "escalation_early", &pages.coordinator).await?;
    let token = link_in(&escalation.text, &format!("{base}/a/")).context("acknowledge link")?;
    let acknowledge = format!("{base}/a/{token}");
    reader
        .check(Kind::Page, "acknowledge", &acknowledge)
        .await?;

    // The pairs' pages: the one at risk with its open escalation, the one
    // that talks with its interactions.
    let pair = pages.url(&format!("{}/pairs/{}", pages.page(), silent.id));
    reader.check(Kind::Page, "pair", &pair).await?;
    let engaged = pages.url(&format!("{}/pairs/{}", pages.page(), pages.engaged.id));
    reader.check(Kind::Page, "pair-engaged", &engaged).await?;

    // Acknowledged from the email's link: it says what happened; so does
    // the pair's page, where acknowledging from the page lands (its button
    // redirects to `?done=acknowledged`, which tests/web.rs follows).
    reader.phone().open(&acknowledge).await?;
    press(&reader).await?;
    reader.check_shown("acknowledge-done").await?;
    reader
        .check(
            Kind::Page,
            "pair-acknowledged",
            &format!("{pair}?done=acknowledged"),
        )
        .await?;

    // Mark resolved asks first, then says what happened.
    reader.phone().open(&pair).await?;
    reader.phone().click_link("Mark resolved…").await?;
    let confirm = reader.phone().url().await?;
    reader
        .check(Kind::Page, "resolve-confirm", &confirm)
        .await?;
    reader.phone().open(&confirm).await?;
    reader.phone().click_button("Yes, mark resolved").await?;
    let done = reader.phone().url().await?;
    anyhow::ensure!(done.ends_with("?done=resolved"), "{done}");
    reader.check(Kind::Page, "pair-resolved", &done).await?;

    // The check-in's answer link: the question, the answer, the answer given.
    let check_in = wait(&pages, "check_in", &silent.mentor()).await?;
    let token = link_in(&check_in.text, &format!("{base}/r/")).context("answer link")?;
    let url = format!("{base}/r/{token}");
    reader.check(Kind::Page, "answer", &url).await?;
    reader.phone().open(&url).await?;
    press(&reader).await?;
    reader.check_shown("answer-done").await?;
    reader.check(Kind::Page, "answer-used", &url).await?;
    // The mentee's, never answered, past its expiry.
    let check_in = wait(&pages, "check_in", &silent.mentee()).await?;
    let token = link_in(&check_in.text, &format!("{base}/r/")).context("answer link")?;
    expire(&pages, &token).await?;
    reader
        .check(Kind::Page, "answer-expired", &format!("{base}/r/{token}"))
        .await?;

    // The welcome's unsubscribe link.
    let welcome = wait(&pages, "welcome", &silent.mentee()).await?;
    let token = link_in(&welcome.text, &format!("{base}/u/")).context("unsubscribe link")?;
    let url = format!("{base}/u/{token}");
    reader.check(Kind::Page, "unsubscribe", &url).await?;
    reader.phone().open(&url).await?;
    press(&reader).await?;
    reader.check_shown("unsubscribe-done").await?;
    // The mentor's, still subscribed, past its expiry.
    let welcome = wait(&pages, "welcome", &silent.mentor()).await?;
    let token = link_in(&welcome.text, &format!("{base}/u/")).context("unsubscribe link")?;
    expire(&pages, &token).await?;
    reader
        .check(
            Kind::Page,
            "unsubscribe-expired",
            &format!("{base}/u/{token}"),
        )
        .await?;

    // A link nobody issued.
    let unknown = format!("{base}/r/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    reader
        .check(Kind::Page, "refused-unknown", &unknown)
        .await?;

    let failing = reader.report("pages")?;
    reader.close().await;
    pages.env.stop().await;
    passes(&failing);
    Ok(())
}
