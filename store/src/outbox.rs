//! The outbox: events firstweek publishes (`escalation.*`, `email.*`, ...), written in the
//! transaction of the change they announce, relayed to the exchange by the
//! scheduler with confirms. A change is announced if and only if it is
//! committed; at least once (a relay that dies after publishing and before
//! recording it publishes it again: consumers dedupe on `event_id`).

use chrono::Duration;
use firstweek::event::Announcement;
use sqlx::{PgPool, Postgres, Transaction};

use crate::StoreError;

/// Queues an announcement; a repeat of its `event_id` is ignored.
pub(crate) async fn announce(
    tx: &mut Transaction<'_, Postgres>,
    a: &Announcement,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO outbox (event_id, routing_key, payload) VALUES ($1, $2, $3::jsonb)
         ON CONFLICT (event_id) DO NOTHING",
    )
    .bind(&a.event_id)
    .bind(a.routing_key)
    .bind(a.payload.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// An announcement a relay has claimed.
#[derive(Debug, Clone)]
pub struct Pending {
    /// The outbox row.
    pub id: i64,
    /// The event's id.
    pub event_id: String,
    /// Where it goes on the exchange.
    pub routing_key: String,
    /// The JSON body.
    pub body: Vec<u8>,
}

/// Claims up to `limit` unpublished announcements, oldest first, for
/// `lease`: another relay skips them until then (if this one dies, they
/// are taken up again after it).
pub async fn claim_announcements(
    pool: &PgPool,
    limit: i64,
    lease: Duration,
) -> Result<Vec<Pending>, StoreError> {
    let rows: Vec<(i64, String, String, String)> = sqlx::query_as(
        "UPDATE outbox SET claimed_until = now() + $2
         WHERE id IN (SELECT id FROM outbox
                      WHERE published_at IS NULL AND (claimed_until IS NULL OR claimed_until < now())
                      ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)
         RETURNING id, event_id, routing_key, payload::text",
    )
    .bind(limit)
    .bind(lease)
    .fetch_all(pool)
    .await?;
    let mut pending: Vec<Pending> = rows
        .into_iter()
        .map(|(id, event_id, routing_key, body)| Pending {
            id,
            event_id,
            routing_key,
            body: body.into_bytes(),
        })
        .collect();
    pending.sort_by_key(|p| p.id);
    Ok(pending)
}

/// Records announcements as published (their confirms arrived).
pub async fn mark_announced(pool: &PgPool, ids: &[i64]) -> Result<(), StoreError> {
    sqlx::query("UPDATE outbox SET published_at = now(), claimed_until = NULL WHERE id = ANY($1)")
        .bind(ids)
        .execute(pool)
        .await?;
    Ok(())
}

/// Gives claimed announcements back at once (the broker refused them).
pub async fn release_announcements(pool: &PgPool, ids: &[i64]) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE outbox SET claimed_until = NULL WHERE id = ANY($1) AND published_at IS NULL",
    )
    .bind(ids)
    .execute(pool)
    .await?;
    Ok(())
}

/// Holds announcements back for good (a routing key firstweek does not
/// announce): never published, never claimed again, left for an operator.
pub async fn hold_announcements(pool: &PgPool, ids: &[i64]) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE outbox SET claimed_until = 'infinity' WHERE id = ANY($1) AND published_at IS NULL",
    )
    .bind(ids)
    .execute(pool)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    /// The outbox's CHECK and the relay's list are the same keys: one more
    /// announcement in the code without the migration would be refused at
    /// its first write, one more in the migration only would never be relayed.
    #[test]
    fn the_outbox_check_lists_exactly_what_firstweek_announces() {
        // The migration that last lists them.
        let sql = include_str!("../../migrations/20261209200000_webhooks.sql");
        let check = sql
            .split_once("CHECK (routing_key IN (")
            .and_then(|(_, rest)| rest.split_once("))"))
            .map(|(list, _)| list)
            .unwrap_or_default();
        let mut listed: Vec<&str> = check
            .split(',')
            .map(|k| k.trim().trim_matches('\''))
            .filter(|k| !k.is_empty())
            .collect();
        listed.sort_unstable();
        let mut announced = firstweek::event::ANNOUNCED.to_vec();
        announced.sort_unstable();
        assert_eq!(listed, announced);
    }
}
