//! Intake: contract events in, validated, stored once.

use lapin::message::Delivery;
use sqlx::PgPool;
use tracing::Instrument;

use firstweek::event::Event;
use firstweek::store::{self, Ingested, Rules};

use crate::consumer::{Handler, Outcome};

/// Stores contract events.
pub struct Intake {
    pub pool: PgPool,
    pub rules: Rules,
}

impl Handler for Intake {
    async fn handle(&self, delivery: &Delivery) -> anyhow::Result<Outcome> {
        let key = delivery.routing_key.as_str();
        let content_type = delivery
            .properties
            .content_type()
            .as_ref()
            .map(|c| c.as_str());
        let event = match Event::parse(key, content_type, &delivery.data, chrono::Utc::now()) {
            Ok(e) => e,
            Err(invalid) => {
                metrics::counter!("firstweek_events_rejected_total", "reason" => invalid.label())
                    .increment(1);
                return Ok(Outcome::Dead(invalid.to_string()));
            }
        };
        let span = tracing::info_span!("event", event_id = %event.event_id(), mentorship_id = %event.mentorship_id(), kind = key);
        async {
            let ingested = store::ingest(&self.pool, &event, &self.rules).await?;
            metrics::counter!("firstweek_events_ingested_total", "kind" => event.routing_key(), "result" => label(&ingested)).increment(1);
            match &ingested {
                Ingested::Duplicate => tracing::debug!("duplicate event ignored"),
                Ingested::Started { rows } => tracing::info!(rows, "mentorship started; timeline planned"),
                Ingested::AlreadyStarted => tracing::info!("mentorship already known; nothing planned again"),
                Ingested::Interaction { pacing: true, .. } => tracing::info!("intense first-week interaction; pacing tip planned"),
                Ingested::Interaction { known_pair, .. } => tracing::debug!(known_pair, "interaction stored"),
                Ingested::Ended { cancelled } => tracing::info!(cancelled, "mentorship ended; pending steps cancelled"),
            }
            Ok(Outcome::Ack)
        }
        .instrument(span)
        .await
    }
}

fn label(i: &Ingested) -> &'static str {
    match i {
        Ingested::Duplicate => "duplicate",
        Ingested::Started { .. } => "started",
        Ingested::AlreadyStarted => "already_started",
        Ingested::Interaction { .. } => "stored",
        Ingested::Ended { .. } => "ended",
    }
}
