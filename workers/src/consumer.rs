//! What the workers' handlers share on their way to the broker's consumer
//! loop ([`firstweek_broker::consume`]): a storage error said as an outage or
//! a failure where it arises ([`store_failure`]), and, for the steps handler
//! only, the bridge from its `anyhow` answers.

use lapin::message::Delivery;

use firstweek_broker::HandlerError;
use firstweek_store::StoreError;

/// A storage error as the consumer loop needs it: an outage when PostgreSQL
/// cannot answer now (the store says which), else a failure.
pub fn store_failure(e: StoreError) -> HandlerError {
    let outage = e.is_outage();
    HandlerError::classified(e, outage)
}

/// A batch writer gone is a failure like any other (it happens at shutdown).
impl From<crate::batcher::Stopped> for HandlerError {
    fn from(e: crate::batcher::Stopped) -> HandlerError {
        HandlerError::Failed(Box::new(e))
    }
}

// Bridge: the steps handler still answers `anyhow::Result<Outcome>`. Once it
// returns `Result<(), HandlerError>` (BadInput for a dead letter, errors
// classified where they arise, e.g. with `store_failure`) and implements
// `firstweek_broker::Handler` itself, remove `Outcome`, `Handler`,
// `Classified` and `classify`, and `firstweek_ops::outage` with them.

/// What to do with a delivery once handled (bridge: see above).
#[derive(Debug)]
pub enum Outcome {
    /// Done (stored, sent, skipped, or a duplicate): acknowledge.
    Ack,
    /// Not valid, ever: dead-letter with this reason, then acknowledge.
    Dead(String),
}

/// A handler answering with `anyhow` (bridge: see above).
pub trait Handler: Send + Sync + 'static {
    /// Handles one delivery.
    fn handle(
        &self,
        delivery: &Delivery,
    ) -> impl std::future::Future<Output = anyhow::Result<Outcome>> + Send;
}

/// An `anyhow` handler run by the broker's consumer loop (bridge: see above).
pub struct Classified<H>(pub H);

impl<H: Handler> firstweek_broker::Handler for Classified<H> {
    async fn handle(&self, delivery: &Delivery) -> Result<(), HandlerError> {
        match self.0.handle(delivery).await {
            Ok(Outcome::Ack) => Ok(()),
            Ok(Outcome::Dead(reason)) => Err(HandlerError::BadInput(reason)),
            Err(e) => Err(classify(e)),
        }
    }
}

/// An `anyhow::Error` classified after the fact, by looking through its
/// causes (bridge: see above).
pub fn classify(e: anyhow::Error) -> HandlerError {
    let outage = firstweek_ops::outage::is_outage(&e);
    HandlerError::classified(e, outage)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bridged_error_keeps_its_causes_and_its_kind() {
        let e = anyhow::Error::new(StoreError::Database(sqlx::Error::PoolTimedOut))
            .context("loading the step");
        let classified = classify(e);
        assert!(matches!(classified, HandlerError::Outage(_)));
        assert!(
            classified
                .to_string()
                .starts_with("loading the step: database: "),
            "{classified}"
        );
        let bad = classify(anyhow::anyhow!("template broken"));
        assert!(matches!(bad, HandlerError::Failed(_)));
        assert_eq!(bad.to_string(), "template broken");
    }
}
