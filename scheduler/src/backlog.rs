//! Backlog gauges for `/metrics`, sampled every 10 s by a job: messages
//! waiting in each queue, timeline rows due and not yet published (and how
//! long the oldest has waited), and deliveries of unknown outcome.
//! They describe the whole installation, so every scheduler replica reports
//! the same figures; a dashboard takes the max across replicas.

use std::sync::Arc;

use lapin::Channel;
use sqlx::PgPool;
use tokio::sync::Mutex;

use firstweek_broker::{self as broker, BrokerAddresses, Link, Unwatched};
use firstweek_store as store;

use crate::cron::{Jobs, Schedule};

/// Every 10 s, seconds first, UTC.
const EVERY: &str = "*/10 * * * * *";

/// The job's own broker link and channel, kept between samples and rebuilt
/// when lost (not reported in readiness: the publisher's link is).
struct Sampler {
    link: Link,
    channel: Option<Channel>,
}

/// Adds the sampling job to `jobs`.
pub async fn add_job(
    jobs: &mut Jobs,
    pool: PgPool,
    amqp_url: BrokerAddresses,
) -> anyhow::Result<()> {
    let link = Link::new(
        amqp_url,
        "firstweek-scheduler-backlog",
        "backlog",
        Arc::new(Unwatched),
    );
    let sampler = Arc::new(Mutex::new(Sampler {
        link,
        channel: None,
    }));
    let schedule = Schedule::parse(EVERY)?;
    jobs.add("backlog gauges", &schedule, move || {
        let (pool, sampler) = (pool.clone(), sampler.clone());
        async move {
            sample_database(&pool).await;
            sample_queues(&sampler).await;
        }
    })
    .await?;
    Ok(())
}

async fn sample_database(pool: &PgPool) {
    match store::backlog(pool).await {
        Ok(b) => {
            metrics::gauge!("firstweek_timeline_due_steps").set(b.due as f64);
            metrics::gauge!("firstweek_timeline_oldest_due_seconds").set(b.oldest_due_seconds);
            metrics::gauge!("firstweek_deliveries_unknown").set(b.unknown as f64);
            metrics::gauge!("firstweek_escalations_open", "state" => "open")
                .set(b.escalations_open as f64);
            metrics::gauge!("firstweek_escalations_open", "state" => "acknowledged")
                .set(b.escalations_acknowledged as f64);
            metrics::gauge!("firstweek_announcements_pending").set(b.announcements_pending as f64);
        }
        // Readiness already reports the database; a missed sample is not an error worth more.
        Err(e) => tracing::debug!(error = %e, "backlog: database not sampled"),
    }
}

async fn sample_queues(sampler: &Mutex<Sampler>) {
    let mut sampler = sampler.lock().await;
    let Sampler { link, channel } = &mut *sampler;
    let open = channel
        .as_ref()
        .filter(|ch| link.is_up() && ch.status().connected());
    let channel = match open {
        Some(ch) => ch.clone(),
        None => {
            let opened =
                async { Ok::<_, anyhow::Error>(link.connect().await?.create_channel().await?) };
            match opened.await {
                Ok(ch) => channel.insert(ch).clone(),
                Err(e) => {
                    tracing::debug!(error = %e, "backlog: broker not sampled");
                    return;
                }
            }
        }
    };
    match broker::queue_depths(&channel).await {
        Ok(depths) => {
            for (queue, ready) in depths {
                metrics::gauge!("firstweek_queue_messages", "queue" => queue).set(ready as f64);
            }
        }
        Err(e) => {
            // A closed channel or connection: start over next time.
            tracing::debug!(error = %e, "backlog: queues not sampled");
            sampler.channel = None;
        }
    }
}
