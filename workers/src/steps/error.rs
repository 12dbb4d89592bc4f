//! What can stop a due step, each kind said where it arises, so the consumer
//! loop knows whether to hold the message (an outage) or count a failure.

use firstweek::email::EmailError;
use firstweek_broker::HandlerError;
use firstweek_store::StoreError;

use crate::batcher::Stopped;

/// Why a due step was not done.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// The database failed or cannot answer now (the store says which).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A batch writer is gone (the worker is stopping).
    #[error(transparent)]
    Stopped(#[from] Stopped),
    /// The email could not be composed (a template or an address).
    #[error("composing the email: {0}")]
    Email(#[from] EmailError),
}

impl StepError {
    /// Whether the step waits for a dependency to come back rather than
    /// failing on its own account.
    pub fn is_outage(&self) -> bool {
        match self {
            StepError::Store(e) => e.is_outage(),
            StepError::Stopped(_) | StepError::Email(_) => false,
        }
    }
}

impl From<StepError> for HandlerError {
    fn from(e: StepError) -> HandlerError {
        let outage = e.is_outage();
        HandlerError::classified(e, outage)
    }
}
