//! Where each escalation's reminder stands, read from its timeline row, so
//! an operator sees when it went out or will go out (`firstweek escalation list`).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use firstweek::escalation::Notice;
use sqlx::PgPool;

use crate::StoreError;
use crate::status::RowStatus;

/// An escalation's reminder row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reminder {
    /// Still to go out, at or after this instant (its recipient's window).
    Pending {
        /// When it is offered to a worker next.
        at: DateTime<Utc>,
    },
    /// Closed: sent, or closed without an email, and why.
    Closed {
        /// How it closed.
        status: RowStatus,
        /// The reason recorded on the row.
        outcome: String,
        /// When it closed.
        at: Option<DateTime<Utc>>,
    },
}

/// A reminder row as read: pair, status, when it is offered next, outcome, when it closed.
type ReminderRow = (
    String,
    RowStatus,
    DateTime<Utc>,
    Option<String>,
    Option<DateTime<Utc>>,
);

/// The reminder rows of these pairs, by mentorship id (a pair without one:
/// `remind_after = "off"`, or no escalation).
pub async fn reminders(
    pool: &PgPool,
    mentorship_ids: &[String],
) -> Result<HashMap<String, Reminder>, StoreError> {
    let rows: Vec<ReminderRow> = sqlx::query_as(
        "SELECT mentorship_id, status, coalesce(next_at, send_at), outcome, finished_at
             FROM timeline WHERE step_id = $1 AND mentorship_id = ANY($2)",
    )
    .bind(Notice::Reminder.step_id())
    .bind(mentorship_ids)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, status, at, outcome, finished_at)| {
            let reminder = if RowStatus::OPEN.contains(&status) {
                Reminder::Pending { at }
            } else {
                Reminder::Closed {
                    status,
                    outcome: outcome.unwrap_or_default(),
                    at: finished_at,
                }
            };
            (id, reminder)
        })
        .collect())
}
