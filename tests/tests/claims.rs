//! The scheduler's claim reads the rows it claims, not the whole timeline.

use chrono::Duration;
use firstweek_store::{self as store, StepsQueue};
use firstweek_tests::TestDb;

/// A claim of due rows must find them through the timeline's indexes. Joined
/// to the claimed ids, PostgreSQL hashes the whole timeline whenever the
/// table is small enough, once per claim: a scan of every row for every
/// thousand published, which cost the scheduler a third of its rate.
#[tokio::test(flavor = "multi_thread")]
async fn a_claim_of_due_rows_reads_no_more_of_the_timeline_than_it_claims() -> anyhow::Result<()> {
    let db = TestDb::create("fw_claimplan").await?;
    // 25,000 pairs, 50,000 rows: the first 1,000 due, the rest tomorrow.
    sqlx::query(
        "INSERT INTO mentorships (id, program_id, started_at, people)
         SELECT 'p' || i, 'plan', now(), '{}'::jsonb FROM generate_series(0, 24999) AS i",
    )
    .execute(&db.pool)
    .await?;
    sqlx::query(
        "INSERT INTO timeline (mentorship_id, step_id, recipient, due_at, send_at, next_at)
         SELECT 'p' || (i / 2), 'welcome', CASE WHEN i % 2 = 0 THEN 'mentor' ELSE 'mentee' END, d, d, d
         FROM generate_series(0, 49999) AS i,
              LATERAL (SELECT now() + CASE WHEN i < 1000 THEN interval '-1 second' ELSE interval '1 day' END AS d) AS t",
    )
    .execute(&db.pool)
    .await?;
    sqlx::query("ANALYZE timeline").execute(&db.pool).await?;

    let mut tx = db.pool.begin().await?;
    let claimed = store::claim_due(
        &mut tx,
        1000,
        Duration::seconds(30),
        StepsQueue::Waiting,
        Duration::seconds(300),
    )
    .await?;
    assert_eq!(claimed.len(), 1000, "every due row is claimed");
    // What this transaction's statements read of the timeline by sequential scans.
    let scanned: i64 =
        sqlx::query_scalar("SELECT pg_stat_get_xact_tuples_returned('timeline'::regclass)")
            .fetch_one(&mut *tx)
            .await?;
    assert_eq!(
        scanned, 0,
        "the claim read {scanned} timeline rows by scanning the table"
    );
    tx.rollback().await?;
    db.pool.close().await;
    Ok(())
}
