//! Retention (`FIRSTWEEK_RETENTION_DAYS`): a job forgets the people of
//! pairs that ended, or finished their first week, longer ago than that
//! many program days ([`firstweek::erasure::retention`]). Their name,
//! address and time zone are replaced in the pair (each side with a
//! placeholder of its own); the pair, its interactions and its timeline
//! stay for the program's statistics. It forgets people in those pairs
//! only: a person with a newer pair is still known there (a request to
//! forget someone everywhere is `person.erased`).
//!
//! Each tick takes the pairs in batches with `FOR UPDATE SKIP LOCKED`, so
//! every scheduler replica may run it at once.

use sqlx::PgPool;

use firstweek::Rules;
use firstweek::erasure;
use firstweek::pseudonym::PseudonymKey;
use firstweek_store as store;

use crate::cron::{Jobs, Schedule};

/// How often the job looks: every ten seconds (a compressed clock, as in the
/// demo and the tests, makes days seconds; an idle look is one indexed query).
const TICK: &str = "*/10 * * * * *";

/// Pairs per transaction.
const BATCH: i64 = 200;

/// Adds the retention job to `jobs`, keeping people `days` program days.
/// `key` makes the coordinator key of the placeholders it stores.
pub async fn add_job(
    jobs: &mut Jobs,
    days: u32,
    pool: PgPool,
    rules: Rules,
    key: PseudonymKey,
) -> anyhow::Result<()> {
    let schedule = Schedule::parse(TICK)?;
    jobs.add("retention", &schedule, move || {
        let (pool, rules, key) = (pool.clone(), rules.clone(), key.clone());
        async move {
            let bounds = erasure::retention(&rules, chrono::Utc::now(), days);
            loop {
                match store::erase_retained(&pool, bounds, BATCH, &key).await {
                    Ok(0) => break,
                    Ok(pairs) => {
                        tracing::info!(pairs, "people of pairs past retention erased");
                        if pairs < BATCH as u64 {
                            break;
                        }
                    }
                    // The next tick (or another replica) takes them.
                    Err(e) => {
                        tracing::warn!(error = %e, "could not erase the people of pairs past retention");
                        break;
                    }
                }
            }
        }
    })
    .await?;
    Ok(())
}
