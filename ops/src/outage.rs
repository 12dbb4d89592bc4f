//! Telling "a dependency is down, wait and retry" from "this message is bad"
//! for an `anyhow::Error` whose origin is no longer known.
//!
//! Bridge only: errors now say what they are where they arise
//! (`firstweek_store::StoreError::is_outage`, `firstweek_broker::HandlerError`).
//! What still returns `anyhow::Error` to the consumer loop (the steps
//! handler) is classified here, by looking through the error's causes; remove
//! this module once nothing does.

/// Whether an error means PostgreSQL or RabbitMQ is unreachable (or restarting),
/// rather than a problem with the work itself.
pub fn is_outage(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        if let Some(e) = cause.downcast_ref::<sqlx::Error>() {
            return firstweek_store::outage::is_outage(e);
        }
        if let Some(e) = cause.downcast_ref::<firstweek_store::StoreError>() {
            return e.is_outage();
        }
        cause.downcast_ref::<lapin::Error>().is_some()
            || cause
                .downcast_ref::<firstweek_broker::BrokerError>()
                .is_some()
            || cause.downcast_ref::<std::io::Error>().is_some()
    })
}
