//! firstweek's domain, and nothing else: the public event contract, playbooks,
//! the timeline and its clock, interaction rules, the engine's decisions and
//! the email contract.
//!
//! Pure code: nothing here talks to PostgreSQL (`firstweek-store`), RabbitMQ
//! (`firstweek-broker`) or an SMTP server (the worker's mailer). The services
//! and the CLI depend on this crate and on those adapters, never on each other.
//! Nor does it read the environment or files: `firstweek-settings` does, and
//! hands it text (a playbook's, a template's) to parse.

pub mod api_key;
pub mod chat;
pub mod contact;
pub mod coordinator;
pub mod day;
pub mod decision;
pub mod delivery;
pub mod digest;
pub mod email;
pub mod erasure;
pub mod escalation;
pub mod event;
pub mod experiment;
pub mod interaction;
pub mod intro_call;
pub mod link;
pub mod locale;
pub mod outcome;
pub mod participant;
pub mod playbook;
pub mod pseudonym;
pub mod row;
pub mod rule;
pub mod timeline;
pub mod webhook;

pub use decision::Rules;
