//! The events API's section (`firstweek-web`'s `/api/v1/events`): how many
//! events a key may publish a minute, and how many a batch may carry. Its
//! requests are bounded by the web's read timeout
//! (`FIRSTWEEK_WEB_READ_TIMEOUT_SECS`) and the contract's 64 KiB body.

use crate::environment::invalid;
use crate::{Environment, SettingsError};

/// Events a key may publish a minute unless told otherwise.
pub const DEFAULT_RATE_PER_MINUTE: u32 = 600;
/// Events a batch may carry unless told otherwise.
pub const DEFAULT_MAX_BATCH: usize = 100;

/// The events API's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiSettings {
    /// `FIRSTWEEK_API_RATE_PER_MINUTE`: events one key may publish per
    /// minute (each event of a batch counts), counted in PostgreSQL so the
    /// limit holds across web replicas; beyond it, `429` with `Retry-After`.
    pub rate_per_minute: u32,
    /// `FIRSTWEEK_API_MAX_BATCH`: events in one batch at most (1 to 1024).
    pub max_batch: usize,
}

impl<G: Fn(&str) -> Option<String>> Environment<G> {
    /// The events API's section.
    pub fn api_settings(&self) -> Result<ApiSettings, SettingsError> {
        const RATE: &str = "FIRSTWEEK_API_RATE_PER_MINUTE";
        let rate_per_minute = match self.var(RATE) {
            None => DEFAULT_RATE_PER_MINUTE,
            Some(s) => s
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=1_000_000).contains(n))
                .ok_or_else(|| invalid(RATE, format!("{s:?} is not a number from 1 to 1000000")))?,
        };
        Ok(ApiSettings {
            rate_per_minute,
            max_batch: self.count("FIRSTWEEK_API_MAX_BATCH", DEFAULT_MAX_BATCH)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::test_support::env_of;

    use super::*;

    #[test]
    fn the_api_limits_have_defaults_and_refuse_nonsense_naming_the_variable() {
        let s = env_of(&[]).api_settings().unwrap();
        assert_eq!(s.rate_per_minute, DEFAULT_RATE_PER_MINUTE);
        assert_eq!(s.max_batch, DEFAULT_MAX_BATCH);
        let s = env_of(&[
            ("FIRSTWEEK_API_RATE_PER_MINUTE", "5"),
            ("FIRSTWEEK_API_MAX_BATCH", "10"),
        ])
        .api_settings()
        .unwrap();
        assert_eq!((s.rate_per_minute, s.max_batch), (5, 10));
        for (k, v) in [
            ("FIRSTWEEK_API_RATE_PER_MINUTE", "0"),
            ("FIRSTWEEK_API_RATE_PER_MINUTE", "lots"),
            ("FIRSTWEEK_API_MAX_BATCH", "5000"),
        ] {
            let e = env_of(&[(k, v)]).api_settings().unwrap_err();
            assert!(e.to_string().starts_with(k), "{e}");
        }
    }
}
