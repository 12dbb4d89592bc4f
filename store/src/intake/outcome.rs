//! A pair's outcome, as a program reports it.

use firstweek::event::MentorshipOutcome;
use sqlx::{Postgres, Transaction};

use crate::StoreError;

use super::Ingested;

/// A program's judgement of how a pair is doing: kept with the others (the
/// report takes the latest), and changing nothing the engine decides.
pub(super) async fn record_outcome(
    tx: &mut Transaction<'_, Postgres>,
    e: &MentorshipOutcome,
) -> Result<Ingested, StoreError> {
    sqlx::query(
        "INSERT INTO outcomes (event_id, mentorship_id, outcome, rating, recorded_at)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (event_id) DO NOTHING",
    )
    .bind(&e.event_id)
    .bind(&e.mentorship_id)
    .bind(e.outcome.as_str())
    .bind(e.rating.map(i16::from))
    .bind(e.recorded_at)
    .execute(&mut **tx)
    .await?;
    let known_pair: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM mentorships WHERE id = $1)")
            .bind(&e.mentorship_id)
            .fetch_one(&mut **tx)
            .await?;
    Ok(Ingested::Outcome { known_pair })
}
