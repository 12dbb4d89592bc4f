//! `DATABASE_URL`: every service and most CLI commands need PostgreSQL.

use crate::{Environment, SettingsError};

impl<G: Fn(&str) -> Option<String>> Environment<G> {
    /// `DATABASE_URL` (required).
    pub fn database_url(&self) -> Result<String, SettingsError> {
        self.required(
            "DATABASE_URL",
            "e.g. postgres://firstweek@127.0.0.1/firstweek",
        )
    }
}
