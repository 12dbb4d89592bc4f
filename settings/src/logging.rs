//! `FIRSTWEEK_LOG_FORMAT`: how every service writes its logs.

use crate::environment::invalid;
use crate::{Environment, SettingsError};

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// JSON lines (production).
    Json,
    /// Human-readable (a terminal).
    Pretty,
}

impl<G: Fn(&str) -> Option<String>> Environment<G> {
    /// `FIRSTWEEK_LOG_FORMAT`: `json` or `pretty`; unset: JSON unless stdout
    /// is a terminal.
    pub fn log_format(&self) -> Result<LogFormat, SettingsError> {
        match self.var("FIRSTWEEK_LOG_FORMAT").as_deref() {
            Some("json") => Ok(LogFormat::Json),
            Some("pretty") => Ok(LogFormat::Pretty),
            Some(other) => Err(invalid(
                "FIRSTWEEK_LOG_FORMAT",
                format!("{other:?} is not json or pretty"),
            )),
            None => {
                use std::io::IsTerminal;
                Ok(if std::io::stdout().is_terminal() {
                    LogFormat::Pretty
                } else {
                    LogFormat::Json
                })
            }
        }
    }
}
