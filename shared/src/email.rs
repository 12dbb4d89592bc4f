//! The email contract: what a step says to whom, rendered from templates into
//! a multipart message with the `X-Firstweek-*` headers and a stable Message-ID.
//!
//! Templates are minijinja files (`<name>.subject`, `<name>.txt`, `<name>.html`);
//! the built-in ones are compiled in and a directory can override any of them.
//! [`Templates`] is the set, [`Context`] what a template sees, [`compose()`]
//! builds the message, and [`without_addresses`] keeps addresses out of logs.

mod compose;
mod context;
pub mod ics;
mod localized;
mod parity;
mod reach;
mod redact;
mod templates;

pub use compose::{
    Composed, MENTORSHIP_HEADER, STEP_HEADER, compose, compose_any, message_id, sender,
};
pub use context::{Context, HoursApart, Links, PersonView, first_name};
pub use parity::PREHEADER_ID;
pub use reach::{INTRO_TEMPLATE, Reach, SlotView};
pub use redact::without_addresses;
pub use templates::{Rendered, Templates};

/// Template and composition failures.
#[derive(Debug, thiserror::Error)]
pub enum EmailError {
    /// A template does not parse or does not render.
    #[error("template {name}: {source}")]
    Template {
        /// The template file's name, e.g. `welcome.txt`.
        name: String,
        /// What minijinja reported.
        source: minijinja::Error,
    },
    /// The override directory cannot be read.
    #[error("template directory {dir}: {message}")]
    Directory {
        /// The directory.
        dir: String,
        /// What went wrong reading it.
        message: String,
    },
    /// A playbook step names a template that lacks one of its parts.
    #[error("step {step:?} uses template {template:?}, which has no {part} part")]
    Missing {
        /// The step's id.
        step: String,
        /// The template it uses.
        template: String,
        /// The missing part: `subject`, `txt` or `html`.
        part: String,
    },
    /// A locale that has templates lacks a step's template part (nor has
    /// its parent locale one): its readers would get English.
    #[error(
        "step {step:?} uses template {template:?}, which has no {part} part in locale {locale} ({locale}/{template}.{part})"
    )]
    Untranslated {
        /// The locale's tag, e.g. `de`.
        locale: String,
        /// The step's id.
        step: String,
        /// The template it uses.
        template: String,
        /// The missing part: `subject`, `txt` or `html`.
        part: String,
    },
    /// The recipient's address is not an email address.
    #[error("address: {0}")]
    Address(String),
    /// lettre could not build the message.
    #[error("building the message: {0}")]
    Build(String),
}

#[cfg(test)]
mod locale_tests;
#[cfg(test)]
mod tests;
