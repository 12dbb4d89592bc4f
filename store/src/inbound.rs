//! Events the events API accepted (`inbound_events`), relayed to the
//! exchange by the scheduler with confirms, like the outbox: an accepted
//! event is published at least once (the workers' intake dedupes on
//! `event_id`). A table of its own: the outbox holds only what firstweek
//! announces (its CHECK refuses a `mentorship.started`); this one only the
//! contract's six inputs.

use chrono::Duration;
use sqlx::PgPool;

use crate::{Pending, StoreError};

/// Claims up to `limit` unpublished accepted events, oldest first, for
/// `lease` (another relay skips them until then).
pub async fn claim_inbound(
    pool: &PgPool,
    limit: i64,
    lease: Duration,
) -> Result<Vec<Pending>, StoreError> {
    let rows: Vec<(i64, String, String, String)> = sqlx::query_as(
        "UPDATE inbound_events SET claimed_until = now() + $2
         WHERE id IN (SELECT id FROM inbound_events
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

/// Records accepted events as published (their confirms arrived) and
/// forgets their content: from here the broker and intake own it (an
/// erasure reaches it there), and a repeat is judged by the fingerprint.
/// The pair and program columns stay, for scoping later events.
pub async fn mark_inbound_published(pool: &PgPool, ids: &[i64]) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE inbound_events SET published_at = now(), claimed_until = NULL, payload = '{}'::jsonb
         WHERE id = ANY($1)",
    )
    .bind(ids)
    .execute(pool)
    .await?;
    Ok(())
}

/// Gives claimed events back at once (the broker refused them).
pub async fn release_inbound(pool: &PgPool, ids: &[i64]) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE inbound_events SET claimed_until = NULL WHERE id = ANY($1) AND published_at IS NULL",
    )
    .bind(ids)
    .execute(pool)
    .await?;
    Ok(())
}
