//! Group commit for the steps' database work: reads, claims, hand-overs and
//! finishes of concurrent handlers run as one statement per batch
//! (`store::pick_steps`, `claim_deliveries`, `mark_handing_over_many`,
//! `finish_deliveries`). If a batch fails, its items are run one by one, so
//! each gets its own answer.

use sqlx::PgPool;
use tokio::task::JoinSet;

use firstweek_store::{
    self as store, Claim, DeliveryClaim, DeliveryEnd, Handover, HeldClaim, StepState, StoreError,
};

use super::{StepError, StepsConfig, limits};
use crate::batcher::{Batcher, on_own_connection};

/// The four batchers a steps handler calls.
pub(super) struct Groups {
    /// Reads a due row with its pair and ledger (and marks it picked up).
    pub(super) load: Batcher<i64, Option<StepState>, StepError>,
    /// Claims a delivery in the ledger.
    pub(super) claim: Batcher<DeliveryClaim, Claim, StepError>,
    /// Marks a claimed delivery as being handed to the SMTP server.
    pub(super) handover: Batcher<HeldClaim, Handover, StepError>,
    /// Records a delivery's end.
    pub(super) finish: Batcher<DeliveryEnd, bool, StepError>,
}

impl Groups {
    pub(super) fn spawn(pool: &PgPool, cfg: &StepsConfig, tasks: &mut JoinSet<()>) -> Groups {
        let (lease, unknown) = (cfg.claim_lease, cfg.unknown_delivery);
        let limits = limits(cfg.batch_linger);
        // Each writer runs its batches on a connection of its own; the
        // one-by-one answers (rare: a batch failed, a key already taken) go
        // through the pool.
        let own = |pool: &PgPool| {
            let pool = pool.clone();
            move || store::Dedicated::for_key_lookups(pool.clone())
        };
        let p = pool.clone();
        let load = Batcher::spawn(tasks, limits, own(pool), move |mut conn, ids: Vec<i64>| {
            let pool = p.clone();
            async move {
                let picked = on_own_connection!(conn, |c| store::pick_steps(c, &ids));
                let out = or_one_by_one(picked, ids, |id| {
                    let pool = pool.clone();
                    async move { pick_one(&pool, id).await }
                })
                .await;
                (conn, out)
            }
        });
        let p = pool.clone();
        let claim = Batcher::spawn(
            tasks,
            limits,
            own(pool),
            move |mut conn, claims: Vec<DeliveryClaim>| {
                let pool = p.clone();
                async move {
                    // Nudges are counted against their recipient's daily
                    // budget, each in its own transaction under the pair's
                    // lock; the rest are claimed in one statement.
                    let plain: Vec<DeliveryClaim> = claims
                        .iter()
                        .filter(|c| c.budget.is_none())
                        .cloned()
                        .collect();
                    let granted = if plain.is_empty() {
                        Vec::new()
                    } else {
                        on_own_connection!(conn, |c| store::claim_deliveries(c, &plain))
                            .unwrap_or_else(|_| vec![false; plain.len()])
                    };
                    let mut granted = granted.into_iter();
                    let mut out = Vec::with_capacity(claims.len());
                    for claim in &claims {
                        let answer = match claim.budget {
                            Some(budget) => {
                                store::claim_within_budget(&pool, claim, budget, lease, unknown)
                                    .await
                            }
                            None if granted.next().unwrap_or(false) => {
                                Ok(Claim::Granted { attempt: 1 })
                            }
                            // The key exists already, the pair ended, or the batch failed: the full answer.
                            None => store::claim_delivery(&pool, claim, lease, unknown).await,
                        };
                        out.push(answer.map_err(Into::into));
                    }
                    (conn, out)
                }
            },
        );
        let p = pool.clone();
        let handover = Batcher::spawn(
            tasks,
            limits,
            own(pool),
            move |mut conn, claims: Vec<HeldClaim>| {
                let pool = p.clone();
                async move {
                    let marked = on_own_connection!(conn, |c| store::mark_handing_over_many(
                        c, &claims, lease
                    ));
                    let out = or_one_by_one(marked, claims, |claim| {
                        let pool = pool.clone();
                        async move { Ok(store::mark_handing_over(&pool, &claim, lease).await?) }
                    })
                    .await;
                    (conn, out)
                }
            },
        );
        let p = pool.clone();
        let finish = Batcher::spawn(
            tasks,
            limits,
            own(pool),
            move |mut conn, ends: Vec<DeliveryEnd>| {
                let pool = p.clone();
                async move {
                    let finished = on_own_connection!(conn, |c| store::finish_deliveries(c, &ends));
                    let out = or_one_by_one(finished, ends, |end| {
                        let pool = pool.clone();
                        async move { Ok(store::finish_delivery(&pool, &end).await?) }
                    })
                    .await;
                    (conn, out)
                }
            },
        );
        Groups {
            load,
            claim,
            handover,
            finish,
        }
    }
}

/// One step's state through the pool (a batch that failed, retried item by item).
/// A batch's answers, one per item; when the batch failed, each item's own
/// answer from `one` (a lone item's answer is the batch's error), so an
/// item that cannot be written fails alone.
async fn or_one_by_one<I, O, F>(
    batch: Result<Vec<O>, store::StoreError>,
    items: Vec<I>,
    one: impl Fn(I) -> F,
) -> Vec<Result<O, StepError>>
where
    F: std::future::Future<Output = Result<O, StepError>>,
{
    match batch {
        Ok(answers) => answers.into_iter().map(Ok).collect(),
        Err(e) if items.len() == 1 => vec![Err(e.into())],
        Err(_) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                out.push(one(item).await);
            }
            out
        }
    }
}

async fn pick_one(pool: &PgPool, id: i64) -> Result<Option<StepState>, StepError> {
    let mut conn = pool.acquire().await.map_err(StoreError::from)?;
    let mut states = store::pick_steps(&mut conn, &[id]).await?;
    Ok(states.pop().flatten())
}
