//! What every firstweek service needs to be operated, apart from the domain:
//! admin endpoints (`/healthz`, `/readyz`, `/metrics`), logs, shutdown
//! signalling, waiting for the database (with the broker's `Backoff`,
//! re-exported as [`backoff::Backoff`]), and the bridge that classifies an
//! `anyhow` error as an outage after the fact ([`outage`]).

pub mod admin;
pub mod backoff;
pub mod database;
pub mod outage;
pub mod shutdown;
pub mod telemetry;
