//! Link tokens against a real database: one purpose each, expiring,
//! single-use where asked, revocable, and stored only as a hash. And links
//! keep their promise, through `firstweek-web` as its own role: an
//! unsubscribe link still works by one-click POST weeks after its email; an
//! answered link shows the answer given; and each expired or used link says
//! the right thing for its reader.

use chrono::{DateTime, Duration, Utc};
use firstweek::Rules;
use firstweek::decision::delivery::link_expiry;
use firstweek::link::{LinkToken, Purpose};
use firstweek::playbook::Playbook;
use firstweek::rule::Recipient;
use firstweek::timeline::{SendWindow, TimeScale};
use firstweek_store::{self as store, Refused};
use firstweek_tests::restricted::{RestrictedWeb, WebRole};
use firstweek_tests::{Pair, TestDb, http_get, http_post};

#[tokio::test]
async fn a_link_opens_only_its_purpose_until_it_expires_is_used_or_revoked() -> anyhow::Result<()> {
    let db = TestDb::create("links").await?;
    let pool = &db.pool;
    let week = Utc::now() + Duration::days(9);
    let ack = store::issue_link(pool, Purpose::Acknowledge, "pair-1", week).await?;

    let opened = store::open_link(pool, &ack, Purpose::Acknowledge).await?;
    assert_eq!(opened.map(|l| l.subject_id), Ok("pair-1".to_string()));
    // Opening is not acting: it can be opened again (mail scanners do).
    assert!(
        store::open_link(pool, &ack, Purpose::Acknowledge)
            .await?
            .is_ok()
    );
    // Another purpose, or a token never issued: nothing, and the same answer.
    assert_eq!(
        store::open_link(pool, &ack, Purpose::CoordinatorPage).await?,
        Err(Refused::Unknown)
    );
    let stranger = LinkToken::from_random([1; 32]);
    assert_eq!(
        store::open_link(pool, &stranger, Purpose::Acknowledge).await?,
        Err(Refused::Unknown)
    );

    // Single use: the first submission wins, the second is told.
    assert!(
        store::use_link(pool, &ack, Purpose::Acknowledge)
            .await?
            .is_ok()
    );
    assert_eq!(
        store::use_link(pool, &ack, Purpose::Acknowledge).await?,
        Err(Refused::Used)
    );

    let old = store::issue_link(
        pool,
        Purpose::CoordinatorPage,
        "c-1",
        Utc::now() - Duration::seconds(1),
    )
    .await?;
    assert_eq!(
        store::open_link(pool, &old, Purpose::CoordinatorPage).await?,
        Err(Refused::Expired)
    );
    let page = store::issue_link(pool, Purpose::CoordinatorPage, "c-1", week).await?;
    // Every link about the coordinator, the expired one too.
    assert_eq!(
        store::revoke_links(pool, "c-1", Purpose::CoordinatorPage).await?,
        2
    );
    assert_eq!(
        store::open_link(pool, &page, Purpose::CoordinatorPage).await?,
        Err(Refused::Revoked)
    );

    // At rest: hashes only; no column holds a token.
    let dump: Vec<String> = sqlx::query_scalar("SELECT row_to_json(l)::text FROM links l")
        .fetch_all(pool)
        .await?;
    for token in [&ack, &old, &page] {
        assert!(
            dump.iter().all(|row| !row.contains(token.as_str())),
            "{dump:?}"
        );
    }
    Ok(())
}

/// A database with `firstweek-web` running as its own role.
struct Site {
    // Dropped in this order: the web first, then the role, then the database.
    web: RestrictedWeb,
    _role: WebRole,
    db: TestDb,
}

impl Site {
    async fn start(prefix: &str) -> anyhow::Result<Site> {
        let db = TestDb::create(prefix).await?;
        let role = WebRole::create(&db).await?;
        let web = RestrictedWeb::start(&role).await?;
        Ok(Site {
            web,
            _role: role,
            db,
        })
    }

    /// A pair that started `days` ago, stored as a worker would.
    async fn pair(&self, name: &str, days: i64) -> anyhow::Result<Pair> {
        let pair = Pair::new(
            &format!("{}-{name}", self.db.name),
            Utc::now() - Duration::days(days),
        );
        let start = pair.started(&format!("{}-start", pair.id));
        self.db.ingest("mentorship.started", &start).await?;
        Ok(pair)
    }

    /// A link to `who` of `pair` for `purpose`, as a worker issued it
    /// `days_ago` days ago (by the product's one expiry rule), and its path.
    async fn issued(
        &self,
        pair: &Pair,
        purpose: Purpose,
        who: Recipient,
        days_ago: i64,
    ) -> anyhow::Result<String> {
        let issued_at = Utc::now() - Duration::days(days_ago);
        let expires = link_expiry(&rules(), purpose, Some(pair.started_at), issued_at);
        let t = store::issue_personal_link(&self.db.pool, purpose, &pair.id, who, expires).await?;
        let path = if purpose == Purpose::Unsubscribe {
            "u"
        } else {
            "r"
        };
        Ok(format!("/{path}/{}", t.as_str()))
    }

    /// Moves the clock past a link's expiry, for that link only.
    async fn expire(&self, path: &str) -> anyhow::Result<()> {
        let token = LinkToken::parse(&path[3..]).map_err(anyhow::Error::msg)?;
        sqlx::query(
            "UPDATE links SET expires_at = now() - interval '1 second' WHERE token_hash = $1",
        )
        .bind(&token.hash()[..])
        .execute(&self.db.pool)
        .await?;
        Ok(())
    }
}

/// The real rules: real time, the built-in playbook.
fn rules() -> Rules {
    Rules {
        playbook: Playbook::built_in(),
        programs: Default::default(),
        scale: TimeScale::REAL,
        window: SendWindow::Off,
    }
}

fn status(response: &str) -> u16 {
    response
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unsubscribe_link_works_by_one_click_59_days_after_its_email() -> anyhow::Result<()> {
    let site = Site::start("links_unsub").await?;
    let web = site.web.port;
    // The welcome went out 59 days ago; the week is long over.
    let pair = site.pair("late", 59).await?;
    let unsub = site
        .issued(&pair, Purpose::Unsubscribe, Recipient::Mentee, 59)
        .await?;
    let mentor_unsub = site
        .issued(&pair, Purpose::Unsubscribe, Recipient::Mentor, 59)
        .await?;
    let check_in = site
        .issued(&pair, Purpose::AnswerInTouch, Recipient::Mentee, 57)
        .await?;

    // The mail provider's one-click POST (RFC 8058): 200, done.
    let one_click = http_post(web, &unsub, "List-Unsubscribe=One-Click").await;
    assert_eq!(status(&one_click), 200, "{one_click}");
    assert!(
        one_click.contains("You are unsubscribed, Bo"),
        "{one_click}"
    );
    assert!(store::is_unsubscribed(&site.db.pool, &format!("{}-mentee", pair.id)).await?);
    // Used: the link says they are unsubscribed already, and a second POST is fine.
    let again = http_get(web, &unsub).await;
    assert_eq!(status(&again), 200, "{again}");
    assert!(
        again.contains("You are unsubscribed, Bo") && !again.contains("<form"),
        "{again}"
    );
    assert_eq!(
        status(&http_post(web, &unsub, "List-Unsubscribe=One-Click").await),
        200
    );
    // Long after, past even its expiry, it still tells her the truth.
    site.expire(&unsub).await?;
    let later = http_post(web, &unsub, "List-Unsubscribe=One-Click").await;
    assert_eq!(status(&later), 200, "{later}");
    assert!(later.contains("You are unsubscribed, Bo"), "{later}");

    // The check-in's answer link of the same week has expired: it says so,
    // for a participant (no digest: participants get none).
    let expired = http_get(web, &check_in).await;
    assert_eq!(status(&expired), 410, "{expired}");
    assert!(expired.contains("nothing you need to do"), "{expired}");
    assert!(!expired.contains("digest"), "{expired}");
    // An expired unsubscribe link of someone still subscribed points to a fresh one.
    site.expire(&mentor_unsub).await?;
    for page in [
        http_get(web, &mentor_unsub).await,
        http_post(web, &mentor_unsub, "List-Unsubscribe=One-Click").await,
    ] {
        assert_eq!(status(&page), 410, "{page}");
        assert!(page.contains("unsubscribe link"), "{page}");
        assert!(!page.contains("digest"), "{page}");
    }
    assert!(!store::is_unsubscribed(&site.db.pool, &format!("{}-mentor", pair.id)).await?);
    Ok(())
}

/// Whether a page says the answer "We've been in touch" was given (HTML
/// escapes the apostrophe).
fn says_answered(page: &str) -> bool {
    page.contains("You answered: <strong>We&#x27;ve been in touch</strong>, on ")
        || page.contains("You answered: <strong>We've been in touch</strong>, on ")
}

#[tokio::test(flavor = "multi_thread")]
async fn an_answered_link_shows_the_answer_given_and_when() -> anyhow::Result<()> {
    let site = Site::start("links_answer").await?;
    let web = site.web.port;
    let pair = site.pair("answers", 2).await?;
    let link = site
        .issued(&pair, Purpose::AnswerInTouch, Recipient::Mentor, 0)
        .await?;

    let question = http_get(web, &link).await;
    assert!(question.contains("<form method=\"post\""), "{question}");
    assert!(!says_answered(&question), "{question}");

    let before = Utc::now();
    let done = http_post(web, &link, "").await;
    assert_eq!(status(&done), 200, "{done}");
    assert!(
        done.contains("Thanks, Ada!") && says_answered(&done),
        "{done}"
    );
    // Dated on the mentor's own clock (Europe/Berlin).
    let berlin: chrono_tz::Tz = "Europe/Berlin".parse().map_err(anyhow::Error::msg)?;
    let day = before
        .with_timezone(&berlin)
        .format("%A %-d %B")
        .to_string();
    assert!(done.contains(&format!(", on {day} at ")), "{day}: {done}");

    // Opened again, days later: the answer given and when, not the question.
    let shown = http_get(web, &link).await;
    assert_eq!(status(&shown), 200, "{shown}");
    assert!(says_answered(&shown) && !shown.contains("<form"), "{shown}");
    let used_at: Option<DateTime<Utc>> =
        sqlx::query_scalar("SELECT used_at FROM links WHERE purpose = 'answer_in_touch'")
            .fetch_one(&site.db.pool)
            .await?;
    let used_at = used_at.ok_or_else(|| anyhow::anyhow!("the link is marked used"))?;
    assert!(used_at >= before - Duration::seconds(1), "{used_at}");
    // Pressed again: still one answer.
    assert!(says_answered(&http_post(web, &link, "").await));
    assert_eq!(
        site.db
            .count("outbox WHERE routing_key = 'interaction.recorded'")
            .await?,
        1
    );
    // Past its expiry, the answer still shows (it is the mentor's own).
    site.expire(&link).await?;
    assert!(says_answered(&http_get(web, &link).await));

    // Revoked (an erasure, a pair's end): nothing about the answer any more.
    store::revoke_links_of_pair(&site.db.pool, &pair.id).await?;
    let revoked = http_get(web, &link).await;
    assert_eq!(status(&revoked), 410, "{revoked}");
    assert!(
        !revoked.contains("You answered") && !revoked.contains("digest"),
        "{revoked}"
    );

    // A coordinator's expired page link may point to their digest: they get one.
    let key = firstweek_tests::pseudonym_key().coordinator(&pair.coordinator());
    let page = store::issue_link(
        &site.db.pool,
        Purpose::CoordinatorPage,
        &key,
        Utc::now() - Duration::seconds(1),
    )
    .await?;
    let expired = http_get(web, &format!("/c/{}", page.as_str())).await;
    assert_eq!(status(&expired), 410, "{expired}");
    assert!(expired.contains("daily digest"), "{expired}");
    Ok(())
}
