//! Webhooks out: how the worker's dispatcher posts (`FIRSTWEEK_WEBHOOK_*`),
//! and whether `firstweek webhook add` takes a plain `http://` URL.

use crate::environment::invalid;
use crate::{Environment, SettingsError};

/// The webhook dispatcher's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookSettings {
    /// `FIRSTWEEK_WEBHOOK_TIMEOUT_SECS` (default 10): how long one request
    /// may take, connecting to the end of the answer.
    pub timeout: std::time::Duration,
    /// `FIRSTWEEK_WEBHOOK_CONCURRENCY` (default 64): requests in flight at once.
    pub concurrency: usize,
    /// `FIRSTWEEK_WEBHOOK_PER_ENDPOINT` (default 4): requests in flight to
    /// one endpoint at once, so a slow one holds at most this many.
    pub per_endpoint: usize,
    /// `FIRSTWEEK_WEBHOOK_ALLOW_HTTP` (default `false`): endpoints may be
    /// plain `http://` to any host, not only to localhost and 127.0.0.1.
    pub allow_http: bool,
}

impl<G: Fn(&str) -> Option<String>> Environment<G> {
    /// The webhook section.
    pub fn webhooks(&self) -> Result<WebhookSettings, SettingsError> {
        let timeout = self.seconds("FIRSTWEEK_WEBHOOK_TIMEOUT_SECS", 10)?;
        Ok(WebhookSettings {
            timeout: std::time::Duration::from_secs(timeout.unsigned_abs()),
            concurrency: self.count("FIRSTWEEK_WEBHOOK_CONCURRENCY", 64)?,
            per_endpoint: self.count("FIRSTWEEK_WEBHOOK_PER_ENDPOINT", 4)?,
            allow_http: self.webhook_allow_http()?,
        })
    }

    /// `FIRSTWEEK_WEBHOOK_ALLOW_HTTP`: `true` or `false` (default).
    pub fn webhook_allow_http(&self) -> Result<bool, SettingsError> {
        match self.var("FIRSTWEEK_WEBHOOK_ALLOW_HTTP").as_deref() {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(other) => Err(invalid(
                "FIRSTWEEK_WEBHOOK_ALLOW_HTTP",
                format!("{other:?} is not true or false"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::test_support::env_of;

    #[test]
    fn defaults_and_refusals() {
        let s = env_of(&[]).webhooks().unwrap();
        assert_eq!(s.timeout, std::time::Duration::from_secs(10));
        assert_eq!(
            (s.concurrency, s.per_endpoint, s.allow_http),
            (64, 4, false)
        );
        for (k, v) in [
            ("FIRSTWEEK_WEBHOOK_TIMEOUT_SECS", "0"),
            ("FIRSTWEEK_WEBHOOK_CONCURRENCY", "many"),
            ("FIRSTWEEK_WEBHOOK_PER_ENDPOINT", "0"),
            ("FIRSTWEEK_WEBHOOK_ALLOW_HTTP", "yes"),
        ] {
            let e = env_of(&[(k, v)]).webhooks().unwrap_err();
            assert!(e.to_string().contains(k), "{e}");
        }
    }
}
