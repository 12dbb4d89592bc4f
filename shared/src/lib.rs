//! firstweek's domain: the public event contract, playbooks, the timeline,
//! interaction rules, the email contract, storage and broker topology.
//!
//! This crate knows nothing of the services: the scheduler and the workers
//! depend on it, never on each other.

pub mod broker;
pub mod config;
pub mod digest;
pub mod email;
pub mod event;
pub mod interaction;
pub mod playbook;
pub mod store;
pub mod telemetry;
pub mod timeline;
