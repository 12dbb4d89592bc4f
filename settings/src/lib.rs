//! firstweek's settings: the environment read once at start-up into one typed
//! struct per service, so a service parses and validates only the variables
//! it uses (the scheduler never looks at `SMTP_URL`, the web never at
//! `AMQP_URL`). A missing or wrong setting names its variable.
//!
//! Each module is a section the services share (`database`, `broker`,
//! `rules`, `mail`, `links`, `admin`, `logging`) or a service's own
//! (`scheduler`, `worker`, `web`); every parser is a method of
//! [`Environment`], which the CLI calls for the settings a command needs.
//!
//! This crate is where firstweek reads the environment and the files its
//! settings name (playbooks, templates): the domain (`firstweek`) is handed
//! their text.

pub mod admin;
pub mod api;
pub mod broker;
pub mod database;
mod environment;
pub mod links;
pub mod logging;
pub mod mail;
pub mod pseudonym;
pub mod rules;
pub mod scheduler;
pub mod web;
pub mod webhooks;
pub mod worker;

pub use admin::AdminAddr;
pub use api::ApiSettings;
pub use environment::{Environment, SettingsError, parse_span};
pub use logging::LogFormat;
pub use mail::MailSettings;
pub use scheduler::SchedulerSettings;
pub use web::WebSettings;
pub use webhooks::WebhookSettings;
pub use worker::{WorkerRole, WorkerSettings};

#[cfg(test)]
mod test_support {
    use std::collections::HashMap;

    use crate::{Environment, SettingsError};

    /// The variables the scheduler and the worker require.
    const BASE: [(&str, &str); 3] = [
        ("DATABASE_URL", "postgres://x"),
        ("AMQP_URL", "amqp://y"),
        (
            "FIRSTWEEK_PSEUDONYM_KEY",
            "a test key of at least thirty-two characters",
        ),
    ];

    /// An environment of exactly these variables.
    pub fn env_of(pairs: &[(&str, &str)]) -> Environment<impl Fn(&str) -> Option<String> + use<>> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Environment::new(move |k: &str| map.get(k).cloned())
    }

    /// `DATABASE_URL` and `AMQP_URL`, with `extra` set over them.
    pub fn with_base<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
        BASE.iter()
            .filter(|(k, _)| extra.iter().all(|(e, _)| e != k))
            .chain(extra)
            .copied()
            .collect()
    }

    /// Each `(variable, value)`, set alone over the base, is refused with an
    /// error that starts with the variable's name; each base variable left
    /// out is refused as not set.
    pub fn assert_refused_naming<T>(
        read: impl Fn(&[(&str, &str)]) -> Result<T, SettingsError>,
        cases: &[(&str, &str)],
    ) {
        for (k, v) in cases {
            let Err(e) = read(&with_base(&[(k, v)])) else {
                panic!("{k}={v} is accepted");
            };
            assert!(e.to_string().starts_with(k), "{k}={v}: {e}");
        }
        for (variable, _) in BASE {
            let pairs: Vec<_> = BASE.into_iter().filter(|(k, _)| *k != variable).collect();
            let Err(e) = read(&pairs) else {
                panic!("accepted without {variable}");
            };
            let e = e.to_string();
            assert!(e.starts_with(&format!("{variable} is not set")), "{e}");
        }
    }
}
