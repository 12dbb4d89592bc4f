//! What every firstweek service needs to be operated, apart from the domain:
//! admin endpoints (`/healthz`, `/readyz`, `/metrics`), logs, shutdown
//! signalling, backoff, and telling an outage from a bug.

pub mod admin;
pub mod backoff;
pub mod database;
pub mod outage;
pub mod shutdown;
pub mod telemetry;
