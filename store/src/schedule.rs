//! The scheduler's side of the timeline: claiming rows that fall due,
//! recording what the broker confirmed, and when to look next.

use chrono::{DateTime, Duration, Utc};
use sqlx::{PgConnection, PgExecutor, PgPool};

use crate::StoreError;
use crate::status::RowStatus;

/// A timeline row claimed for publishing.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ClaimedStep {
    /// The row's id.
    pub timeline_id: i64,
    /// Its subject's id: the pair's, or a coordinator's opaque key for a digest.
    pub subject_id: String,
    /// The step.
    pub step_id: String,
    /// `mentor`, `mentee` or `coordinator`.
    pub recipient: String,
    /// When it fell due.
    pub due_at: DateTime<Utc>,
    /// When it may be sent.
    pub send_at: DateTime<Utc>,
}

/// Whether the steps queue may still hold a row's last copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepsQueue {
    /// Messages wait in it: a published row whose last copy no worker has
    /// picked up yet still has that copy there, and is not published again.
    Waiting,
    /// Nothing waits in it: a published row no worker finished is published
    /// again, picked up or not (its copy is gone).
    Idle,
}

/// Claims up to `limit` rows that need publishing. A claimed row is not
/// offered again for `lease`, so a scheduler that dies mid-publish only delays it.
///
/// A row published before is published again only when no copy of it is
/// outstanding: a worker picked its last copy up and did not finish it in
/// time, or `queue` is [`StepsQueue::Idle`]. The others (a worker outage:
/// their copy still waits in the queue) are looked at again after
/// `redeliver_after`, so an outage leaves one message per row, not one per
/// interval.
pub async fn claim_due(
    conn: &mut PgConnection,
    limit: i64,
    lease: Duration,
    queue: StepsQueue,
    redeliver_after: Duration,
) -> Result<Vec<ClaimedStep>, StoreError> {
    let idle = queue == StepsQueue::Idle;
    // The claimed ids as an array, not a join: joined, PostgreSQL hashes the
    // whole timeline whenever it is small enough (a seq scan per claim of
    // a thousand rows, seen in the scheduler phase's plans); an array of ids
    // is always found through the primary key.
    let rows = sqlx::query_as::<_, ClaimedStep>(concat!(
        "WITH due AS (
             SELECT id FROM timeline WHERE next_at <= now() AND ",
        republishable!(),
        " ORDER BY next_at LIMIT $4 FOR UPDATE SKIP LOCKED
         )
         UPDATE timeline t SET next_at = now() + $5, last_published_at = now()
         WHERE t.id = ANY(ARRAY(SELECT id FROM due))
         RETURNING t.id AS timeline_id, t.mentorship_id AS subject_id, t.step_id, t.recipient, t.due_at, t.send_at",
    ))
    .bind(RowStatus::Published)
    .bind(idle)
    .bind(redeliver_after)
    .bind(limit)
    .bind(lease)
    .fetch_all(&mut *conn)
    .await?;
    if (rows.len() as i64) < limit {
        // The rest of what is overdue still has a copy out: look again later.
        sqlx::query(concat!(
            "UPDATE timeline SET next_at = now() + $3 WHERE next_at <= now() AND NOT ",
            republishable!()
        ))
        .bind(RowStatus::Published)
        .bind(idle)
        .bind(redeliver_after)
        .execute(&mut *conn)
        .await?;
    }
    Ok(rows)
}

/// Whether an overdue row may be published (again): `$1` is the published
/// status, `$2` whether the steps queue is idle, `$3` the redelivery interval.
/// Never published, or published and no copy of it is outstanding: no worker
/// touched it for the interval, and its last copy was picked up (so it is
/// not waiting in the queue) or the queue holds nothing at all.
macro_rules! republishable {
    () => {
        "(status <> $1 OR last_published_at IS NULL
          OR (($2 OR picked_at >= last_published_at)
              AND coalesce(picked_at, '-infinity') <= now() - $3))"
    };
}
use republishable;

/// Records that the broker confirmed these rows. If a worker has not finished a
/// row by `redeliver_after`, the scheduler publishes it again (the delivery
/// ledger keeps that from sending twice).
pub async fn mark_published(
    db: impl PgExecutor<'_>,
    ids: &[i64],
    redeliver_after: Duration,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE timeline SET status = $3, published_at = coalesce(published_at, now()), next_at = now() + $2
         WHERE id = ANY($1) AND status = ANY($4)",
    )
    .bind(ids)
    .bind(redeliver_after)
    .bind(RowStatus::Published)
    .bind(RowStatus::OPEN)
    .execute(db)
    .await?;
    Ok(())
}

/// Releases claimed rows whose publish was not confirmed, so the next tick
/// retries them (no copy of theirs is known to be in the queue).
pub async fn release(pool: &PgPool, ids: &[i64]) -> Result<(), StoreError> {
    sqlx::query("UPDATE timeline SET next_at = now(), last_published_at = NULL WHERE id = ANY($1) AND status = ANY($2)")
        .bind(ids)
        .bind(RowStatus::OPEN)
        .execute(pool)
        .await?;
    Ok(())
}

/// What waits for the scheduler, as one cheap look before a tick does any
/// work: most heartbeats find nothing to do, and then cost this one query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Waiting {
    /// The earliest `next_at` of any row, if a row needs the scheduler.
    pub next_at: Option<DateTime<Utc>>,
    /// Whether that row is due now (by the database's clock).
    pub due: bool,
    /// Whether announcements wait in the outbox, unclaimed.
    pub announcements: bool,
    /// Whether events accepted by the events API wait to be relayed, unclaimed.
    pub inbound: bool,
}

/// Both lookups are index probes (the partial indexes `timeline_next` and
/// `outbox_unpublished`, `inbound_events_unpublished`), so the cost does not grow with the rows stored.
pub async fn waiting(conn: &mut PgConnection) -> Result<Waiting, StoreError> {
    let (next_at, due, announcements, inbound): (Option<DateTime<Utc>>, bool, bool, bool) = sqlx::query_as(
        "SELECT n.next_at, coalesce(n.next_at <= now(), false),
                EXISTS (SELECT 1 FROM outbox WHERE published_at IS NULL
                        AND (claimed_until IS NULL OR claimed_until < now())),
                EXISTS (SELECT 1 FROM inbound_events WHERE published_at IS NULL
                        AND (claimed_until IS NULL OR claimed_until < now()))
         FROM (SELECT (SELECT next_at FROM timeline WHERE next_at IS NOT NULL ORDER BY next_at LIMIT 1) AS next_at) AS n",
    )
    .fetch_one(conn)
    .await?;
    Ok(Waiting {
        next_at,
        due,
        announcements,
        inbound,
    })
}

/// The earliest time a row needs the scheduler (`next_at`), if any: one
/// lookup at the start of the partial index `timeline_next`, so its cost does
/// not grow with the rows stored.
pub async fn next_due(pool: &PgPool) -> Result<Option<DateTime<Utc>>, StoreError> {
    let next: Option<DateTime<Utc>> = sqlx::query_scalar(
        "SELECT next_at FROM timeline WHERE next_at IS NOT NULL ORDER BY next_at LIMIT 1",
    )
    .fetch_optional(pool)
    .await?;
    Ok(next)
}
