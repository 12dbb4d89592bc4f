//! Escalations in Slack and Teams: a program routes its coordinators'
//! escalations to chat with `firstweek chat add`; a local receiver stands
//! in for Slack and Teams, checks every payload against the platform's
//! documented shape (refusing, as the platform would, one that breaks it)
//! and records it. A silent pair's escalation arrives in both with the
//! pair's first names, the rule that fired and a working acknowledge link;
//! the email still goes beside the posts, and not at all for a program
//! that chose chat instead; a step delivered again posts nothing twice; a
//! program's daily digest reaches only the route added with `--digest`;
//! a webhook that refuses the post leaves the email to tell the
//! coordinator, even instead of email; and a busy one has the step retried
//! with the row's backoff until it takes the post, once.

use std::time::Duration;

use anyhow::Context as _;
use chrono::Utc;

use firstweek_tests::chat::{ChatReceiver, cli, firstweek, silent, wait_sent};
use firstweek_tests::{Env, Launch, Options, Pair, digest_playbook, http_get, http_post, port};

/// The acknowledge link's path (`/a/<token>`) in a URL of `firstweek-web`.
fn ack_path(url: &str, web: u16) -> anyhow::Result<String> {
    let prefix = format!("http://127.0.0.1:{web}");
    let path = url.strip_prefix(&prefix).context("not a link to the web")?;
    anyhow::ensure!(path.starts_with("/a/") && path.len() > 40, "{url}");
    Ok(path.to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_silent_pairs_escalation_reaches_slack_and_teams_with_a_working_acknowledge_link()
-> anyhow::Result<()> {
    let web = port();
    let mut options = Options {
        launch: Launch::InProcess,
        ..Options::with_links(14_400.0, web)
    };
    // The step is delivered again well after it was due: not stale.
    options
        .env
        .push(("FIRSTWEEK_STALE_AFTER".into(), "off".into()));
    let mut env = Env::start(options).await?;
    let chat = ChatReceiver::start().await?;
    let hook = |route: &str| chat.hook(route);

    let added = cli(
        &env,
        &[
            "add",
            "--program",
            "beside",
            "--slack",
            &hook("slack/beside"),
        ],
    )?;
    assert!(added.contains("beside email"), "{added}");
    assert!(
        !added.contains("/slack/beside"),
        "no URL path printed: {added}"
    );
    cli(
        &env,
        &[
            "add",
            "--program",
            "beside",
            "--teams",
            &hook("teams/beside"),
        ],
    )?;
    cli(
        &env,
        &[
            "add",
            "--program",
            "instead",
            "--slack",
            &hook("slack/instead"),
            "--instead-of-email",
        ],
    )?;
    let listed = cli(&env, &["list"])?;
    assert_eq!(listed.matches("127.0.0.1").count(), 3, "{listed}");
    assert!(
        listed.contains("instead of email") && !listed.contains("/slack/"),
        "{listed}"
    );

    let (beside, start_beside) = silent(&env, "beside", "beside");
    let (instead, start_instead) = silent(&env, "instead", "instead");
    env.publish_json("mentorship.started", &start_beside)
        .await?;
    env.publish_json("mentorship.started", &start_instead)
        .await?;
    env.launch("firstweek-worker", &[]).await?;
    env.launch("firstweek-scheduler", &[]).await?;
    env.launch(
        "firstweek-web",
        &[("FIRSTWEEK_WEB_ADDR", &format!("127.0.0.1:{web}"))],
    )
    .await?;

    let limit = Duration::from_secs(30);
    let slack = chat.wait_post("slack/beside", limit).await?;
    let teams = chat.wait_post("teams/beside", limit).await?;

    // Slack: the pair's first names, the rule, the day, the advice and the
    // acknowledge link as the button; no address, no last name.
    let text = slack.to_string();
    assert_eq!(
        slack["blocks"][0]["text"]["text"], "Pair at risk: Ada and Bo",
        "{slack:#}"
    );
    for words in [
        "no interaction at all",
        "on day 4 of their first week",
        "first call",
    ] {
        assert!(text.contains(words), "{words}: {slack:#}");
    }
    assert!(
        !text.contains("@example.org") && !text.contains("Ada Mentor"),
        "{text}"
    );
    let blocks = slack["blocks"].as_array().context("blocks")?;
    let button = blocks
        .iter()
        .find(|b| b["type"] == "actions")
        .map(|b| &b["elements"][0])
        .context("a button")?;
    let slack_ack = ack_path(button["url"].as_str().unwrap_or_default(), web)?;

    // Teams: the same in an Adaptive Card, the link as Action.OpenUrl.
    let card = &teams["attachments"][0]["content"];
    assert_eq!(
        card["body"][0]["text"], "Pair at risk: Ada and Bo",
        "{teams:#}"
    );
    let card_text = card.to_string();
    assert!(card_text.contains("no interaction at all"), "{card_text}");
    assert!(!card_text.contains("@example.org"), "{card_text}");
    assert_eq!(card["actions"][0]["type"], "Action.OpenUrl");
    let teams_ack = ack_path(card["actions"][0]["url"].as_str().unwrap_or_default(), web)?;
    assert_eq!(slack_ack, teams_ack, "one escalation, one acknowledge link");

    // Beside: the email goes too, with the same link.
    let email = env
        .wait_mail(&beside.coordinator(), "escalation_early", limit)
        .await?;
    assert!(email.text.contains(&slack_ack), "{}", email.text);

    // The button opens the acknowledge page (a GET changes nothing); its
    // form acknowledges.
    let page = http_get(web, &slack_ack).await;
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(page.contains("<form method=\"post\""), "{page}");
    let state = || async {
        sqlx::query_scalar::<_, String>("SELECT state FROM escalations WHERE mentorship_id = $1")
            .bind(&beside.id)
            .fetch_one(&env.pool)
            .await
    };
    assert_eq!(state().await?, "open", "a GET changes nothing");
    let acted = http_post(web, &slack_ack, "").await;
    assert!(acted.starts_with("HTTP/1.1 303"), "{acted}");
    assert_eq!(state().await?, "acknowledged");

    // Instead of email: posted, the row closed as sent, no email.
    let posted = chat.wait_post("slack/instead", limit).await?;
    assert!(posted.to_string().contains("Ada and Bo"), "{posted:#}");
    wait_sent(&env, &[&instead], 1, limit).await?;

    // The ledger has each post as a delivery of its own.
    let ledger: Vec<(String, String)> = sqlx::query_as(
        "SELECT once_key, status FROM deliveries WHERE mentorship_id = ANY($1) AND recipient = 'coordinator' ORDER BY once_key",
    )
    .bind(vec![beside.id.clone(), instead.id.clone()])
    .fetch_all(&env.pool)
    .await?;
    let keys: Vec<String> = ledger.iter().map(|(k, s)| format!("{k} {s}")).collect();
    // The email's (beside only), and one per route.
    assert_eq!(
        keys,
        [
            "escalation sent",
            "escalation@slack:1 sent",
            "escalation@slack:3 sent",
            "escalation@teams:2 sent"
        ]
    );

    // The operator sees the post in the pair's ledger.
    let timeline = firstweek(&env, &["timeline", &instead.id])?;
    assert!(
        timeline.contains("escalation@slack:3")
            && timeline.contains("posted to the program's chat"),
        "{timeline}"
    );

    // The step delivered again (its row reopened): nothing posted twice,
    // no second email.
    sqlx::query(
        "UPDATE timeline SET status = 'scheduled', next_at = now(), finished_at = NULL
         WHERE mentorship_id = ANY($1) AND step_id = 'escalation_early'",
    )
    .bind(vec![beside.id.clone(), instead.id.clone()])
    .execute(&env.pool)
    .await?;
    wait_sent(&env, &[&beside, &instead], 2, limit).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    for route in ["slack/beside", "teams/beside", "slack/instead"] {
        assert_eq!(chat.posted_to(route).len(), 1, "{route} posted once");
    }
    let mails = env.mails();
    let escalation_mails = |p: &Pair| {
        mails
            .iter()
            .filter(|m| m.rcpt == p.coordinator() && m.step == "escalation_early")
            .count()
    };
    assert_eq!(escalation_mails(&beside), 1);
    assert_eq!(escalation_mails(&instead), 0, "chat instead of email");

    let removed = cli(&env, &["remove", "3"])?;
    assert!(removed.contains("removed"), "{removed}");
    env.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_programs_digest_reaches_the_route_that_asked_for_it_beside_the_email()
-> anyhow::Result<()> {
    // Coordinators without a zone: 00:00 UTC has passed today, whenever this runs.
    let playbook = digest_playbook("fw-chat-digest", "00:00", false)?;
    // A program day lasts 10 s.
    let mut options = Options {
        scale: 8_640.0,
        start_services: false,
        launch: Launch::InProcess,
        ..Options::default()
    };
    options.env.extend([
        ("FIRSTWEEK_DIGEST_CRON".into(), "*/2 * * * * *".into()),
        ("FIRSTWEEK_PLAYBOOK".into(), playbook.display().to_string()),
    ]);
    let mut env = Env::start(options).await?;
    let chat = ChatReceiver::start().await?;
    let hook = |route: &str| chat.hook(route);
    cli(
        &env,
        &[
            "add",
            "--program",
            "digested",
            "--slack",
            &hook("slack/digest"),
            "--digest",
        ],
    )?;
    // Escalations only: no digest here.
    cli(
        &env,
        &[
            "add",
            "--program",
            "digested",
            "--teams",
            &hook("teams/escalations"),
        ],
    )?;

    // Day 1.5 and silent: trending low.
    let pair = Pair::new(&format!("{}-low", env.name), Utc::now() - env.days(1.5));
    let mut start = pair.started(&format!("{}-start", pair.id));
    start["program_id"] = "digested".into();
    env.launch("firstweek-worker", &[]).await?;
    env.publish_json("mentorship.started", &start).await?;
    env.wait_count(
        "SELECT count(*) FROM mentorships",
        1,
        Duration::from_secs(20),
    )
    .await?;
    env.launch("firstweek-scheduler", &[]).await?;

    let limit = Duration::from_secs(40);
    let digest = chat.wait_post("slack/digest", limit).await?;
    let header = digest["blocks"][0]["text"]["text"]
        .as_str()
        .unwrap_or_default();
    assert!(header.starts_with("Daily digest, "), "{digest:#}");
    let text = digest.to_string();
    assert!(
        text.contains("Trending low") && text.contains("Ada &amp; Bo, day "),
        "the pair by first names, escaped for mrkdwn: {digest:#}"
    );
    assert!(
        !text.contains("@example.org") && !text.contains("/c/"),
        "{text}"
    );
    // Beside: the email digest too, with the coordinator's page link.
    let mail = env
        .wait_mail_where("the digest email", limit, |m| {
            m.step.starts_with(firstweek::digest::STEP_PREFIX) && m.rcpt == pair.coordinator()
        })
        .await?;
    assert!(mail.text.contains("Ada Mentor"), "{}", mail.text);
    let teams = chat.posted_to("teams/escalations");
    assert!(
        teams
            .iter()
            .all(|p| !p.to_string().contains("Daily digest")),
        "a route without --digest gets no digest: {teams:?}"
    );
    env.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revoked_webhook_instead_of_email_leaves_the_email_to_tell_the_coordinator()
-> anyhow::Result<()> {
    let web = port();
    let mut env = Env::start(Options {
        launch: Launch::InProcess,
        ..Options::with_links(14_400.0, web)
    })
    .await?;
    let chat = ChatReceiver::start().await?;
    // A webhook that no longer exists: Slack answers `404 no_service`.
    let gone = chat.hook("revoked/x");
    cli(
        &env,
        &[
            "add",
            "--program",
            "gone",
            "--slack",
            &gone,
            "--instead-of-email",
        ],
    )?;
    let (pair, start) = silent(&env, "gone", "gone");
    env.publish_json("mentorship.started", &start).await?;
    env.launch("firstweek-worker", &[]).await?;
    env.launch("firstweek-scheduler", &[]).await?;

    let email = env
        .wait_mail(
            &pair.coordinator(),
            "escalation_early",
            Duration::from_secs(30),
        )
        .await?;
    assert!(email.text.contains("Ada Mentor"), "{}", email.text);
    let (status, detail): (String, String) = sqlx::query_as(
        "SELECT status, detail FROM deliveries WHERE mentorship_id = $1 AND once_key = 'escalation@slack:1'",
    )
    .bind(&pair.id)
    .fetch_one(&env.pool)
    .await?;
    assert_eq!(status, "failed", "refused for good: {detail}");
    assert!(
        detail.contains("HTTP 404") && !detail.contains("revoked/x"),
        "{detail}"
    );
    env.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_busy_webhook_instead_of_email_is_retried_with_the_rows_backoff_and_posts_once()
-> anyhow::Result<()> {
    let mut env = Env::start(Options {
        launch: Launch::InProcess,
        ..Options::with_links(14_400.0, port())
    })
    .await?;
    let chat = ChatReceiver::start().await?;
    // More 503s than one handling's tries (3): the row itself is retried.
    chat.busy_for("slack/busy", 4);
    let hook = chat.hook("slack/busy");
    cli(
        &env,
        &[
            "add",
            "--program",
            "busy",
            "--slack",
            &hook,
            "--instead-of-email",
        ],
    )?;
    let (pair, start) = silent(&env, "busy", "busy");
    env.publish_json("mentorship.started", &start).await?;
    env.launch("firstweek-worker", &[]).await?;
    env.launch("firstweek-scheduler", &[]).await?;

    let posted = chat
        .wait_post("slack/busy", Duration::from_secs(40))
        .await?;
    assert!(posted.to_string().contains("Ada and Bo"), "{posted:#}");
    wait_sent(&env, &[&pair], 1, Duration::from_secs(20)).await?;
    let attempts: i32 = sqlx::query_scalar(
        "SELECT attempts FROM timeline WHERE mentorship_id = $1 AND step_id = 'escalation_early'",
    )
    .bind(&pair.id)
    .fetch_one(&env.pool)
    .await?;
    assert!(attempts >= 1, "the row was retried: {attempts}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(chat.posted_to("slack/busy").len(), 1);
    let emailed = env
        .mails()
        .iter()
        .any(|m| m.rcpt == pair.coordinator() && m.step == "escalation_early");
    assert!(!emailed, "posted in the end: no email");
    env.stop().await;
    Ok(())
}
