//! A person's unsubscribe.

use firstweek::event::ParticipantUnsubscribed;
use sqlx::{Postgres, Transaction};

use crate::StoreError;

use super::Ingested;

/// A person asked for no more email (their program's preference center, or
/// firstweek's own link announcing it back): later emails to them are skipped.
pub(super) async fn unsubscribe(
    tx: &mut Transaction<'_, Postgres>,
    e: &ParticipantUnsubscribed,
) -> Result<Ingested, StoreError> {
    let new = sqlx::query(
        "INSERT INTO unsubscribed (person_id, unsubscribed_at, via) VALUES ($1, $2, 'event')
         ON CONFLICT (person_id) DO NOTHING",
    )
    .bind(&e.person_id)
    .bind(e.unsubscribed_at)
    .execute(&mut **tx)
    .await?
    .rows_affected()
        == 1;
    Ok(Ingested::Unsubscribed { new })
}
