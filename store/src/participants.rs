//! What mentors and mentees do through their links: an answer queued as an
//! `interaction.recorded` (relayed to the exchange and stored by intake like
//! any event), and an unsubscribe stored at once and announced.

use chrono::{DateTime, Utc};
use firstweek::event::{Event, InteractionRecorded, ParticipantUnsubscribed};
use sqlx::PgPool;

use crate::StoreError;
use crate::outbox::announce;

/// Queues the interaction an answer records; `false` when this link's answer
/// was queued before (the same event: it counts once).
pub async fn record_answer(
    pool: &PgPool,
    answer: &InteractionRecorded,
) -> Result<bool, StoreError> {
    let mut tx = pool.begin().await?;
    let before: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM outbox WHERE event_id = $1)")
            .bind(&answer.event_id)
            .fetch_one(&mut *tx)
            .await?;
    announce(&mut tx, &Event::Interaction(answer.clone()).announcement()).await?;
    tx.commit().await?;
    Ok(!before)
}

/// Unsubscribes a person through firstweek's link: no email to them from
/// this commit on, and `participant.unsubscribed` announced so the
/// program's own preference center can do the same. `false`: they had
/// unsubscribed before (nothing announced again).
pub async fn unsubscribe_by_link(
    pool: &PgPool,
    event: &ParticipantUnsubscribed,
) -> Result<bool, StoreError> {
    let mut tx = pool.begin().await?;
    let at: Option<DateTime<Utc>> = sqlx::query_scalar(
        "INSERT INTO unsubscribed (person_id, unsubscribed_at, via) VALUES ($1, $2, 'link')
         ON CONFLICT (person_id) DO NOTHING RETURNING unsubscribed_at",
    )
    .bind(&event.person_id)
    .bind(event.unsubscribed_at)
    .fetch_optional(&mut *tx)
    .await?;
    if at.is_some() {
        announce(&mut tx, &Event::Unsubscribed(event.clone()).announcement()).await?;
    }
    tx.commit().await?;
    Ok(at.is_some())
}

/// Whether a person unsubscribed.
pub async fn is_unsubscribed(pool: &PgPool, person_id: &str) -> Result<bool, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM unsubscribed WHERE person_id = $1)")
            .bind(person_id)
            .fetch_one(pool)
            .await?,
    )
}
