//! What the experiment report reads: for each pair of a program and each
//! step it has a holdout assignment for, whether the step went out to it
//! (`sent`) or was withheld (`skipped: holdout`). Rows closed for any other
//! reason (condition not met, unsubscribed, erased, over the budget) are
//! neither: the step's condition was not true, or nobody could be nudged.

use chrono::{DateTime, Utc};
use firstweek::decision::HOLDOUT_REASON;
use firstweek::experiment::{Exposure, reached};
use sqlx::PgPool;

use crate::StoreError;
use crate::read::OutcomeEntry;

/// A pair's rows of one step with a holdout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepReach {
    /// The pair.
    pub mentorship_id: String,
    /// The step.
    pub step_id: String,
    /// It went out to the mentor or the mentee.
    pub sent: bool,
    /// It was withheld: the pair is held out of it.
    pub held_out: bool,
    /// When it fell due (the earliest of its rows).
    pub due_at: DateTime<Utc>,
}

/// The held-out steps' rows of these pairs.
pub async fn step_reach(pool: &PgPool, ids: &[&str]) -> Result<Vec<StepReach>, StoreError> {
    let rows: Vec<(String, String, bool, bool, DateTime<Utc>)> = sqlx::query_as(
        "SELECT t.mentorship_id, t.step_id,
                bool_or(t.status = 'sent'),
                bool_or(t.status = 'skipped' AND t.outcome = $2),
                min(t.due_at)
         FROM timeline t
         JOIN holdouts h ON h.mentorship_id = t.mentorship_id AND h.step_id = t.step_id
         WHERE t.mentorship_id = ANY($1) AND t.recipient IN ('mentor', 'mentee')
         GROUP BY t.mentorship_id, t.step_id
         ORDER BY t.mentorship_id, t.step_id",
    )
    .bind(ids)
    .bind(HOLDOUT_REASON)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(mentorship_id, step_id, sent, held_out, due_at)| StepReach {
                mentorship_id,
                step_id,
                sent,
                held_out,
                due_at,
            },
        )
        .collect())
}

/// The exposures these rows record (`step`: only that step), judged on the
/// pairs' ledgers as of `now`, each with the pair's latest outcome; pairs
/// whose horizon is still ahead are left out.
pub fn exposures(
    rules: &firstweek::Rules,
    entries: &[OutcomeEntry],
    reach: &[StepReach],
    step: Option<&str>,
    now: DateTime<Utc>,
) -> Vec<Exposure> {
    let by_id: std::collections::HashMap<&str, &OutcomeEntry> =
        entries.iter().map(|e| (e.pair.id(), e)).collect();
    let mut out = Vec::new();
    for r in reach {
        if step.is_some_and(|s| s != r.step_id) || !(r.sent || r.held_out) {
            continue;
        }
        let Some(entry) = by_id.get(r.mentorship_id.as_str()) else {
            continue;
        };
        let pair = entry.pair.view();
        let pinned = rules.pinned(pair.playbook);
        let Some(aim) = pinned.playbook.step(&r.step_id).and_then(|s| s.aim) else {
            continue;
        };
        let Some(reached) = reached(rules, aim, pair, r.due_at, now) else {
            continue;
        };
        out.push(Exposure {
            step: r.step_id.clone(),
            aim,
            // A row sent to one side and withheld from the other cannot
            // happen (one draw per pair); sent wins if it ever did.
            held_out: r.held_out && !r.sent,
            reached,
            outcome: entry.latest.map(|l| l.outcome),
        });
    }
    out
}
