//! `FIRSTWEEK_PUBLIC_URL`: where `firstweek-web` is reachable, the base of
//! the links the worker puts in emails and the web puts in its pages.

use crate::environment::invalid;
use crate::{Environment, SettingsError};

impl<G: Fn(&str) -> Option<String>> Environment<G> {
    /// `FIRSTWEEK_PUBLIC_URL`: an `http(s)://` base URL without query or
    /// fragment, trailing slash removed; `None` when unset (no links).
    pub fn public_url(&self) -> Result<Option<String>, SettingsError> {
        let Some(url) = self.var("FIRSTWEEK_PUBLIC_URL") else {
            return Ok(None);
        };
        let url = url.trim().trim_end_matches('/').to_string();
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
            .ok_or_else(|| {
                invalid(
                    "FIRSTWEEK_PUBLIC_URL",
                    format!("{url:?} is not an http(s):// URL"),
                )
            })?;
        if rest.is_empty() || rest.contains(['?', '#', ' ']) {
            return Err(invalid(
                "FIRSTWEEK_PUBLIC_URL",
                format!("{url:?} must be a base URL like https://firstweek.example.org"),
            ));
        }
        Ok(Some(url))
    }
}
