//! What the workers' handlers share on their way to the broker's consumer
//! loop ([`firstweek_broker::consume`]): a storage error said as an outage or
//! a failure where it arises ([`store_failure`]).

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_error_is_an_outage_only_when_the_store_says_so() {
        let outage = store_failure(StoreError::Database(sqlx::Error::PoolTimedOut));
        assert!(matches!(outage, HandlerError::Outage(_)), "{outage:?}");
        let failed = store_failure(StoreError::Database(sqlx::Error::RowNotFound));
        assert!(matches!(failed, HandlerError::Failed(_)), "{failed:?}");
    }
}
