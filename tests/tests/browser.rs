//! A coordinator on their phone: the link in the daily digest opens their
//! page in a real browser (headless Chromium, phone-sized), the pair that
//! needs a look comes first, and a tap on it shows that pair's first week.
//! Screenshots land in `target/debug/screenshots/`.

use anyhow::Context as _;
use firstweek_tests::browser::Browser;
use firstweek_tests::web::{CoordinatorPages, ENGAGED_MENTOR, SILENT_MENTOR};

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
    for step in ["welcome", "check_in", "wrap_up"] {
        assert!(text.contains(step), "the timeline lists {step}: {text}");
    }
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
