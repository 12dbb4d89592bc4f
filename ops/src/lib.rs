//! What every firstweek service needs to be operated, apart from the domain:
//! admin endpoints (`/healthz`, `/readyz`, `/metrics`), logs, shutdown
//! signalling, and waiting for the database (with the broker's `Backoff`,
//! re-exported as [`backoff::Backoff`]). Whether an error is an outage is
//! said where it arises (`StoreError::is_outage`, the broker's `HandlerError`).

pub mod admin;
pub mod backoff;
pub mod database;
pub mod shutdown;
pub mod telemetry;
