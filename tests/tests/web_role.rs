//! `firstweek-web` as the least-privileged role it runs as in production,
//! end to end over HTTP: every one-click action works through the database
//! functions keyed by the link, while the role itself can write no table and
//! the outbox takes no event firstweek does not announce; a correction hands
//! a pair, and the power over it, to its new coordinator; and links are
//! revoked by hand (`firstweek link revoke`), on a pair's end and on erasure.

use anyhow::Context as _;
use chrono::{Duration, Utc};
use firstweek::erasure::Target;
use firstweek::link::{LinkToken, Purpose};
use firstweek::rule::Recipient;
use firstweek_store::{self as store, ErasedVia};
use firstweek_tests::restricted::{RestrictedWeb, WebRole};
use firstweek_tests::{Pair, TestDb, bin_dir, http_get, http_post, http_status};
use sqlx::PgPool;

/// A database with the web's role and `firstweek-web` running as it.
struct Site {
    // Dropped in this order: the web first, then the role, then the database.
    web: RestrictedWeb,
    role: WebRole,
    db: TestDb,
}

impl Site {
    async fn start(prefix: &str) -> anyhow::Result<Site> {
        let db = TestDb::create(prefix).await?;
        let role = WebRole::create(&db).await?;
        let web = RestrictedWeb::start(&role).await?;
        Ok(Site { web, role, db })
    }

    fn pool(&self) -> &PgPool {
        &self.db.pool
    }

    /// A pair started a day ago, stored as a worker would.
    async fn pair(&self, name: &str) -> anyhow::Result<Pair> {
        let pair = Pair::new(
            &format!("{}-{name}", self.db.name),
            Utc::now() - Duration::days(1),
        );
        self.db
            .ingest(
                "mentorship.started",
                &pair.started(&format!("{}-start", pair.id)),
            )
            .await?;
        Ok(pair)
    }

    /// Opens an escalation for `pair`, filed under its coordinator.
    async fn escalate(&self, pair: &Pair) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO escalations (mentorship_id, coordinator_key, opened_by, rules, evidence)
             VALUES ($1, $2, 'escalation_early', ARRAY['no_interaction'], '[]')",
        )
        .bind(&pair.id)
        .bind(firstweek_tests::pseudonym_key().coordinator(&pair.coordinator()))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn key(&self, address: &str) -> anyhow::Result<String> {
        Ok(firstweek_tests::pseudonym_key().coordinator(address))
    }

    async fn page_link(&self, address: &str) -> anyhow::Result<String> {
        let key = self.key(address).await?;
        let t = store::issue_link(self.pool(), Purpose::CoordinatorPage, &key, week()).await?;
        Ok(format!("/c/{}", t.as_str()))
    }

    async fn ack_link(&self, pair: &Pair) -> anyhow::Result<String> {
        let t = store::issue_link(self.pool(), Purpose::Acknowledge, &pair.id, week()).await?;
        Ok(format!("/a/{}", t.as_str()))
    }

    async fn personal(
        &self,
        pair: &Pair,
        purpose: Purpose,
        who: Recipient,
    ) -> anyhow::Result<String> {
        let t = store::issue_personal_link(self.pool(), purpose, &pair.id, who, week()).await?;
        let path = if purpose == Purpose::Unsubscribe {
            "u"
        } else {
            "r"
        };
        Ok(format!("/{path}/{}", t.as_str()))
    }

    async fn state(&self, pair: &Pair) -> anyhow::Result<(String, String)> {
        Ok(sqlx::query_as(
            "SELECT state, coordinator_key FROM escalations WHERE mentorship_id = $1",
        )
        .bind(&pair.id)
        .fetch_one(self.pool())
        .await?)
    }

    async fn announced(&self, routing_key: &str) -> anyhow::Result<Vec<serde_json::Value>> {
        Ok(
            sqlx::query_scalar("SELECT payload FROM outbox WHERE routing_key = $1 ORDER BY id")
                .bind(routing_key)
                .fetch_all(self.pool())
                .await?,
        )
    }
}

fn week() -> chrono::DateTime<Utc> {
    Utc::now() + Duration::days(8)
}

fn status(response: &str) -> u16 {
    response
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// The SQLSTATE a statement run as `pool`'s role fails with ("" if it ran).
async fn refusal(pool: &PgPool, sql: &str) -> String {
    match sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
        .execute(pool)
        .await
    {
        Ok(_) => String::new(),
        Err(e) => e
            .as_database_error()
            .and_then(|d| d.code().map(|c| c.into_owned()))
            .unwrap_or_else(|| e.to_string()),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_web_role_writes_nothing_itself_and_every_one_click_action_still_works()
-> anyhow::Result<()> {
    let site = Site::start("webrole").await?;
    let web = site.web.port;
    let pair = site.pair("acts").await?;
    site.escalate(&pair).await?;
    let (page, ack) = (
        site.page_link(&pair.coordinator()).await?,
        site.ack_link(&pair).await?,
    );
    let answer = site
        .personal(&pair, Purpose::AnswerInTouch, Recipient::Mentor)
        .await?;
    let unsubscribe = site
        .personal(&pair, Purpose::Unsubscribe, Recipient::Mentee)
        .await?;

    // The pages, as the web role.
    let shown = http_get(web, &page).await;
    assert!(
        shown.starts_with("HTTP/1.1 200") && shown.contains(&pair.id),
        "{shown}"
    );
    let shown = http_get(web, &ack).await;
    assert!(
        shown.starts_with("HTTP/1.1 200") && shown.contains("Ada Mentor"),
        "{shown}"
    );

    // Acknowledge by link, resolve from the page: done and announced.
    assert_eq!(status(&http_post(web, &ack, "").await), 303);
    assert_eq!(site.state(&pair).await?.0, "acknowledged");
    let acked = site.announced("escalation.acknowledged").await?;
    assert_eq!(acked.len(), 1, "{acked:?}");
    assert_eq!(acked[0]["mentorship_id"], pair.id.as_str());
    assert_eq!(acked[0]["via"], "link");
    let resolve = format!("{page}/pairs/{}/resolve", pair.id);
    assert_eq!(status(&http_post(web, &resolve, "").await), 303);
    assert_eq!(site.state(&pair).await?.0, "resolved");
    let resolved = site.announced("escalation.resolved").await?;
    assert_eq!(resolved.len(), 1, "{resolved:?}");
    assert_eq!(resolved[0]["how"], "coordinator");
    assert_eq!(resolved[0]["acknowledged"], true);
    assert_eq!(resolved[0]["rules"], serde_json::json!(["no_interaction"]));
    assert_eq!(resolved[0]["counts"]["total"], 0);

    // The mentor answers; the mentee unsubscribes (RFC 8058 one-click).
    let done = http_post(web, &answer, "").await;
    assert!(
        done.starts_with("HTTP/1.1 200") && done.contains("No more nudges"),
        "{done}"
    );
    http_post(web, &answer, "").await;
    let answers = site.announced("interaction.recorded").await?;
    assert_eq!(
        answers.len(),
        1,
        "the same link twice is one answer: {answers:?}"
    );
    assert_eq!(answers[0]["mentorship_id"], pair.id.as_str());
    assert_eq!(answers[0]["actor"], "mentor");
    assert_eq!(answers[0]["kind"], "message");
    let one_click = http_post(web, &unsubscribe, "List-Unsubscribe=One-Click").await;
    assert!(one_click.starts_with("HTTP/1.1 200"), "{one_click}");
    let gone = site.announced("participant.unsubscribed").await?;
    assert_eq!(gone.len(), 1, "{gone:?}");
    assert_eq!(gone[0]["person_id"], format!("{}-mentee", pair.id));
    assert!(store::is_unsubscribed(site.pool(), &format!("{}-mentee", pair.id)).await?);

    // The role itself: no write on any table, no read of the links or the outbox.
    let as_web = site.role.pool().await?;
    const DENIED: &str = "42501";
    for sql in [
        "INSERT INTO outbox (event_id, routing_key, payload) VALUES ('forged', 'escalation.opened', '{}')",
        "UPDATE escalations SET state = 'open', resolved_at = NULL, resolved_how = NULL",
        "UPDATE timeline SET status = 'cancelled', next_at = NULL",
        "INSERT INTO unsubscribed (person_id, via) VALUES ('someone', 'link')",
        "UPDATE links SET used_at = now()",
        "SELECT token_hash FROM links",
        "SELECT payload FROM outbox",
        // The functions the database functions use inside are not the web's either.
        "SELECT firstweek_withdraw_reminder('x', 'y')",
    ] {
        assert_eq!(refusal(&as_web, sql).await, DENIED, "{sql}");
    }
    // Its functions do nothing for a token that was never issued.
    let stranger = LinkToken::from_random([7; 32]);
    let word: String = sqlx::query_scalar("SELECT firstweek_web_answer($1, '{}'::jsonb)")
        .bind(&stranger.hash()[..])
        .fetch_one(&as_web)
        .await?;
    assert_eq!(word, "refused");
    // Nor does a live link let the role announce what the link does not say:
    // the pair, side and kind are the link's, whatever the payload claims.
    let other = site.pair("other").await?;
    let token = store::issue_personal_link(
        site.pool(),
        Purpose::AnswerPlan,
        &pair.id,
        Recipient::Mentee,
        week(),
    )
    .await?;
    let forged = serde_json::json!({
        "mentorship_id": other.id, "actor": "mentor", "kind": "meeting",
        "occurred_at": Utc::now(), "duration_minutes": 600,
    });
    let word: String = sqlx::query_scalar("SELECT firstweek_web_answer($1, $2::jsonb)")
        .bind(&token.hash()[..])
        .bind(forged.to_string())
        .fetch_one(&as_web)
        .await?;
    assert_eq!(word, "done");
    let queued = site.announced("interaction.recorded").await?;
    let last = queued.last().context("the answer is queued")?;
    assert_eq!(
        (&last["mentorship_id"], &last["actor"], &last["kind"]),
        (
            &serde_json::json!(pair.id),
            &serde_json::json!("mentee"),
            &serde_json::json!("plan_shared")
        )
    );
    assert!(last.get("duration_minutes").is_none(), "{last}");
    as_web.close().await;

    // Not even the owner can queue an event firstweek does not announce.
    let forged = "INSERT INTO outbox (event_id, routing_key, payload)
                  VALUES ('forged-start', 'mentorship.started', '{}')";
    assert_eq!(
        refusal(site.pool(), forged).await,
        "23514",
        "a CHECK violation"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_correction_hands_the_pair_and_its_links_to_the_new_coordinator() -> anyhow::Result<()> {
    let site = Site::start("webowner").await?;
    let web = site.web.port;
    let pair = site.pair("moved").await?;
    site.escalate(&pair).await?;
    let new_coordinator = format!("other.{}@example.org", pair.id);
    let (old_page, ack) = (
        site.page_link(&pair.coordinator()).await?,
        site.ack_link(&pair).await?,
    );
    let new_page = site.page_link(&new_coordinator).await?;
    assert!(http_get(web, &ack).await.contains("Bo Mentee"));

    // The documented correction: the same pair, another coordinator.
    let mut corrected = pair.started(&format!("{}-correction", pair.id));
    corrected["coordinator"] = serde_json::json!({"name": "Di Other", "email": new_coordinator});
    site.db.ingest("mentorship.started", &corrected).await?;
    assert_eq!(
        site.state(&pair).await?.1,
        site.key(&new_coordinator).await?
    );

    // The first coordinator: her acknowledge link shows nothing of the pair,
    // her page's buttons do nothing to it, her page no longer lists it.
    let shown = http_get(web, &ack).await;
    assert_eq!(status(&shown), 410, "{shown}");
    assert!(
        !shown.contains("Ada") && !shown.contains("Bo Mentee"),
        "{shown}"
    );
    assert_eq!(status(&http_post(web, &ack, "").await), 410);
    for act in ["resolve", "acknowledge"] {
        let path = format!("{old_page}/pairs/{}/{act}", pair.id);
        assert_eq!(status(&http_post(web, &path, "").await), 404, "{act}");
    }
    assert_eq!(site.state(&pair).await?.0, "open");
    assert!(!http_get(web, &old_page).await.contains(&pair.id));

    // The new one's page lists it and resolves it.
    assert!(http_get(web, &new_page).await.contains(&pair.id));
    let resolve = format!("{new_page}/pairs/{}/resolve", pair.id);
    assert_eq!(status(&http_post(web, &resolve, "").await), 303);
    assert_eq!(site.state(&pair).await?.0, "resolved");
    Ok(())
}

/// `firstweek link revoke ARGS` against the site's database; its output.
async fn revoke(site: &Site, args: &[&str]) -> anyhow::Result<String> {
    let out = tokio::process::Command::new(bin_dir().join("firstweek"))
        .env_clear()
        .env("DATABASE_URL", &site.db.url)
        .env("FIRSTWEEK_PSEUDONYM_KEY", firstweek_tests::PSEUDONYM_KEY)
        .args(["link", "revoke"])
        .args(args)
        .output()
        .await
        .context("running firstweek link revoke")?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    anyhow::ensure!(
        out.status.success(),
        "firstweek link revoke {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(text)
}

#[tokio::test(flavor = "multi_thread")]
async fn links_are_revoked_by_pair_person_coordinator_on_end_and_on_erasure() -> anyhow::Result<()>
{
    let site = Site::start("revoke").await?;
    let web = site.web.port;
    let [by_pair, by_person, by_coordinator, ended, erased] =
        ["pair", "person", "coord", "ended", "erased"];
    let by_pair = site.pair(by_pair).await?;
    let by_person = site.pair(by_person).await?;
    let by_coordinator = site.pair(by_coordinator).await?;
    let ended = site.pair(ended).await?;
    let erased = site.pair(erased).await?;
    site.escalate(&by_pair).await?;
    site.escalate(&by_coordinator).await?;
    let pair_ack = site.ack_link(&by_pair).await?;
    let pair_answer = site
        .personal(&by_pair, Purpose::AnswerPlan, Recipient::Mentor)
        .await?;
    let mentee_answer = site
        .personal(&by_person, Purpose::AnswerInTouch, Recipient::Mentee)
        .await?;
    let mentee_unsub = site
        .personal(&by_person, Purpose::Unsubscribe, Recipient::Mentee)
        .await?;
    let mentor_answer = site
        .personal(&by_person, Purpose::AnswerInTouch, Recipient::Mentor)
        .await?;
    // A digest's page link, forwarded; and an escalation's acknowledge link.
    let digest = site.page_link(&by_coordinator.coordinator()).await?;
    let coordinator_ack = site.ack_link(&by_coordinator).await?;
    let ended_answer = site
        .personal(&ended, Purpose::AnswerInTouch, Recipient::Mentor)
        .await?;
    let ended_unsub = site
        .personal(&ended, Purpose::Unsubscribe, Recipient::Mentor)
        .await?;
    let erased_answer = site
        .personal(&erased, Purpose::AnswerInTouch, Recipient::Mentee)
        .await?;
    let erased_digest = site.page_link(&erased.coordinator()).await?;
    let all = [
        &pair_ack,
        &pair_answer,
        &mentee_answer,
        &mentee_unsub,
        &mentor_answer,
        &digest,
        &coordinator_ack,
        &ended_answer,
        &ended_unsub,
        &erased_answer,
        &erased_digest,
    ];
    for link in all {
        assert_eq!(http_status(web, link).await, 200, "{link} opens before");
    }

    let said = revoke(&site, &["--pair", &by_pair.id]).await?;
    assert!(said.contains("2 link(s)"), "{said}");
    revoke(&site, &["--person", &format!("{}-mentee", by_person.id)]).await?;
    revoke(&site, &["--coordinator", &by_coordinator.coordinator()]).await?;
    site.db
        .ingest("mentorship.ended", &ended.ended(Duration::hours(25)))
        .await?;
    let key = firstweek_tests::pseudonym_key();
    store::erase(
        site.pool(),
        &Target::new(&erased.coordinator(), &key),
        ErasedVia::Cli,
        &key,
    )
    .await?;

    for link in [
        &pair_ack,
        &pair_answer,
        &mentee_answer,
        &mentee_unsub,
        &digest,
        &coordinator_ack,
        &ended_answer,
        &erased_answer,
        &erased_digest,
    ] {
        let page = http_get(web, link).await;
        assert_eq!(status(&page), 410, "{link} opens nothing after: {page}");
        assert!(page.contains("This link has expired"), "{page}");
        if !link.starts_with("/c/") {
            let acted = http_post(web, link, "").await;
            assert_eq!(status(&acted), 410, "{link} acts on nothing after: {acted}");
        }
    }
    // What still serves keeps working: the other side's link, the unsubscribe of an ended pair.
    assert_eq!(http_status(web, &mentor_answer).await, 200);
    assert_eq!(http_status(web, &ended_unsub).await, 200);
    // Nothing was done through the revoked ones.
    assert!(site.announced("interaction.recorded").await?.is_empty());
    assert!(!store::is_unsubscribed(site.pool(), &format!("{}-mentee", by_person.id)).await?);
    Ok(())
}
