//! Link tokens against a real database: one purpose each, expiring,
//! single-use where asked, revocable, and stored only as a hash.

use chrono::{Duration, Utc};
use firstweek::link::{LinkToken, Purpose};
use firstweek_store::{self as store, Refused};
use firstweek_tests::TestDb;

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
