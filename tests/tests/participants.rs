//! Mentors and mentees answering from their emails, end to end: a check-in
//! answered by both sides ("we've been in touch"), a plan reminder answered
//! ("we have a plan"), a GET that changes nothing, and a one-click
//! unsubscribe (RFC 8058) that stops a mentee's emails while the mentor and
//! the coordinator still get theirs.

use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use firstweek_tests::{
    Env, Launch, Mail, Options, Pair, header, http_get, http_post, link_in, port,
};

fn steps_to(mails: &[Mail], rcpt: &str) -> Vec<String> {
    let mut v: Vec<String> = mails
        .iter()
        .filter(|m| m.rcpt == rcpt)
        .map(|m| m.step.clone())
        .collect();
    v.sort();
    v
}

async fn interactions(env: &Env, pair: &Pair) -> anyhow::Result<Vec<(String, String)>> {
    Ok(sqlx::query_as(
        "SELECT kind, actor FROM interactions WHERE mentorship_id = $1 ORDER BY actor, kind",
    )
    .bind(&pair.id)
    .fetch_all(&env.pool)
    .await?)
}

#[tokio::test(flavor = "multi_thread")]
async fn participants_answer_and_unsubscribe_by_link() -> anyhow::Result<()> {
    let web = port();
    // A program day lasts 6 s: check-in at 12 s, plan reminder at 24 s, day 7 at 42 s.
    let options = Options {
        launch: Launch::InProcess,
        ..Options::with_links(14_400.0, web)
    };
    let mut env = Env::start(options).await?;
    let events = env.listen("participant.#").await?;
    let start = Utc::now();
    let [in_touch, planned, looked, unsub] = ["in-touch", "planned", "looked", "unsub"]
        .map(|n| Pair::new(&format!("{}-{n}", env.name), start));
    for p in [&in_touch, &planned, &looked, &unsub] {
        env.publish_json("mentorship.started", &p.started(&format!("{}-start", p.id)))
            .await?;
    }
    // `planned` talks a lot, both ways, but never shares a plan.
    for (n, actor) in [(1, "mentor"), (2, "mentee"), (3, "mentor"), (4, "mentee")] {
        env.publish_json(
            "interaction.recorded",
            &planned.interaction(n, "message", actor, env.days(0.05 * f64::from(n)), None),
        )
        .await?;
    }
    env.launch_with_web(web).await?;
    let limit = Duration::from_secs(40);
    let answer_prefix = format!("http://127.0.0.1:{web}/r/");

    // The mentee of `unsub` unsubscribes with one click from the welcome's header.
    let welcome = env.wait_mail(&unsub.mentee(), "welcome", limit).await?;
    let url = header(&welcome.headers, "List-Unsubscribe")
        .context("the welcome carries List-Unsubscribe")?
        .trim_matches(|c| c == '<' || c == '>')
        .to_string();
    let path = url
        .strip_prefix(&format!("http://127.0.0.1:{web}"))
        .context("an URL of firstweek-web")?
        .to_string();
    assert!(!path.contains(&unsub.id), "the link names no pair: {path}");
    let page = http_get(web, &path).await;
    assert!(
        page.contains("Unsubscribe, Bo?"),
        "first name only, a button: {page}"
    );
    assert!(
        !page.contains("Mentee") && !page.contains("@example.org"),
        "{page}"
    );
    let one_click = http_post(web, &path, "List-Unsubscribe=One-Click").await;
    assert!(
        one_click.starts_with("HTTP/1.1 200"),
        "RFC 8058: 200, no redirect: {one_click}"
    );

    // Both sides of `in_touch` answer the check-in; `looked` only opens the link.
    for rcpt in [in_touch.mentor(), in_touch.mentee()] {
        let check_in = env.wait_mail(&rcpt, "check_in", limit).await?;
        let token = link_in(&check_in.text, &answer_prefix)
            .context("the check-in carries an answer link")?;
        let page = http_get(web, &format!("/r/{token}")).await;
        assert!(
            page.contains("We&#x27;ve been in touch") || page.contains("We've been in touch"),
            "{page}"
        );
        let done = http_post(web, &format!("/r/{token}"), "").await;
        assert!(
            done.contains("No more nudges"),
            "says what happens next: {done}"
        );
        // Submitted twice: one interaction.
        http_post(web, &format!("/r/{token}"), "").await;
        // Opened again: the answer given, not the question.
        let again = http_get(web, &format!("/r/{token}")).await;
        assert!(
            again.contains("You answered: <strong>We&#x27;ve been in touch</strong>")
                && !again.contains("<form"),
            "{again}"
        );
    }
    let check_in = env.wait_mail(&looked.mentor(), "check_in", limit).await?;
    let token = link_in(&check_in.text, &answer_prefix).context("answer link")?;
    let page = http_get(web, &format!("/r/{token}")).await;
    assert!(
        page.starts_with("HTTP/1.1 200") && page.contains("<form method=\"post\""),
        "{page}"
    );

    // `planned` answers its plan reminder.
    let reminder = env
        .wait_mail(&planned.mentee(), "plan_reminder", limit)
        .await?;
    let token = link_in(&reminder.text, &answer_prefix)
        .context("the plan reminder carries an answer link")?;
    let done = http_post(web, &format!("/r/{token}"), "").await;
    assert!(done.contains("No more reminders"), "{done}");

    let ids: Vec<&str> = [&in_touch, &planned, &looked, &unsub]
        .iter()
        .map(|p| p.id.as_str())
        .collect();
    env.wait_settled(&ids, Duration::from_secs(90)).await?;
    assert_eq!(
        interactions(&env, &in_touch).await?,
        vec![
            ("message".into(), "mentee".into()),
            ("message".into(), "mentor".into())
        ],
        "one message per side, however often the link was submitted"
    );
    assert!(
        interactions(&env, &looked).await?.is_empty(),
        "a GET changes nothing"
    );
    assert!(
        interactions(&env, &planned)
            .await?
            .contains(&("plan_shared".into(), "mentee".into())),
        "the plan answer is an interaction of the mentee's side"
    );

    // Unsubscribe links keep working for at least 60 calendar days after
    // their email (the time scale compresses program days, not this
    // promise); answer links end with the week.
    let (unsubscribe, answers): (Option<DateTime<Utc>>, Option<DateTime<Utc>>) = sqlx::query_as(
        "SELECT min(expires_at) FILTER (WHERE purpose = 'unsubscribe'),
                max(expires_at) FILTER (WHERE purpose IN ('answer_in_touch', 'answer_plan'))
           FROM links",
    )
    .fetch_one(&env.pool)
    .await?;
    let unsubscribe = unsubscribe.context("unsubscribe links were issued")?;
    assert!(
        unsubscribe >= start + chrono::Duration::days(60),
        "{unsubscribe}"
    );
    assert!(answers.context("answer links were issued")? < start + chrono::Duration::days(1));

    let mails = env.mails();
    // Answered the check-in: no early escalation; the plan reminder still comes.
    assert_eq!(
        steps_to(&mails, &in_touch.mentor()),
        ["check_in", "plan_reminder", "welcome", "wrap_up"]
    );
    assert!(
        !steps_to(&mails, &in_touch.coordinator()).contains(&"escalation_early".to_string()),
        "{:?}",
        steps_to(&mails, &in_touch.coordinator())
    );
    // Answered the plan reminder: no day-7 escalation for "no plan".
    assert!(
        steps_to(&mails, &planned.coordinator()).is_empty(),
        "{:?}",
        steps_to(&mails, &planned.coordinator())
    );
    // The unsubscribed mentee gets nothing after the welcome; the mentor and
    // the coordinator still get theirs (the silent pair is escalated).
    assert_eq!(steps_to(&mails, &unsub.mentee()), ["welcome"]);
    assert_eq!(
        steps_to(&mails, &unsub.mentor()),
        ["check_in", "plan_reminder", "welcome", "wrap_up"]
    );
    assert!(steps_to(&mails, &unsub.coordinator()).contains(&"escalation_early".to_string()));
    let skipped: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM timeline WHERE mentorship_id = $1 AND recipient = 'mentee' AND outcome = 'the recipient unsubscribed'",
    )
    .bind(&unsub.id)
    .fetch_one(&env.pool)
    .await?;
    assert!(skipped >= 2, "the mentee's steps say why: {skipped}");

    // Every participant email carries both headers; no coordinator email does.
    for m in &mails {
        let to_coordinator = m.rcpt.starts_with("coordinator.");
        let list = header(&m.headers, "List-Unsubscribe");
        let post = header(&m.headers, "List-Unsubscribe-Post");
        if to_coordinator {
            assert!(
                list.is_none() && post.is_none(),
                "{} to the coordinator: {}",
                m.step,
                m.headers
            );
        } else {
            assert!(
                list.is_some_and(|l| l.contains("/u/")),
                "{} to {}: {}",
                m.step,
                m.rcpt,
                m.headers
            );
            assert_eq!(post, Some("List-Unsubscribe=One-Click"), "{}", m.step);
        }
    }

    // The program's own preference center learns of it.
    let published = env.take(&events).await?;
    let unsubscribed: Vec<_> = published
        .iter()
        .filter(|(k, _)| k == "participant.unsubscribed")
        .collect();
    assert_eq!(unsubscribed.len(), 1, "{published:?}");
    assert_eq!(
        unsubscribed[0].1["person_id"],
        format!("{}-mentee", unsub.id)
    );
    assert!(!unsubscribed[0].1.to_string().contains('@'));
    env.stop().await;
    Ok(())
}
