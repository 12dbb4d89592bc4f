//! `firstweek-worker` as a library: [`App::build`] from the settings, then
//! [`App::run_until_stopped`]. The binary is a thin `main` around it.
//!
//! - [`intake`]: contract events in, validated, stored once.
//! - [`steps`]: due steps judged ([`firstweek::decision`]), claimed in the
//!   delivery ledger, composed and sent.
//! - [`consumer`]: what the handlers share on their way to the broker's
//!   consumer loop ([`firstweek_broker::consume`]).
//! - [`batcher`]: the group commit both roles use.
//! - [`mailer`]: the SMTP adapter (or `.eml` files).
//! - [`webhooks`]: signed webhooks out, to the endpoints programs register.
//! - [`chat`]: the Slack and Teams webhook adapter.

pub mod batcher;
pub mod broker_limit;
pub mod chat;
pub mod consumer;
pub mod intake;
pub mod mailer;
pub mod steps;
pub mod webhooks;

mod app;

pub use app::App;
