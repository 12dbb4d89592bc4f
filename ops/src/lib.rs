//! What every firstweek service needs to be operated, apart from the domain:
//! admin endpoints (`/healthz`, `/readyz`, `/metrics`), shutdown signalling,
//! reconnection backoff, and telling an outage from a bug.

pub mod admin;
pub mod backoff;
pub mod outage;
pub mod shutdown;
