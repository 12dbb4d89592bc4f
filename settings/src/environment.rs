//! The lookup every parser reads through, the error that names a variable,
//! and the value shapes several sections share (seconds, counts, spans).

use firstweek::playbook::PlaybookError;

/// A setting that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// A required variable is unset.
    #[error("{variable} is not set ({hint})")]
    Missing {
        /// The variable's name.
        variable: &'static str,
        /// An example of a good value.
        hint: &'static str,
    },
    /// A variable is set to something that cannot be used.
    #[error("{variable}: {problem}")]
    Invalid {
        /// The variable's name.
        variable: &'static str,
        /// What is wrong with its value.
        problem: String,
    },
    /// The playbook named by `FIRSTWEEK_PLAYBOOK` (or one in
    /// `FIRSTWEEK_PLAYBOOKS_DIR`) cannot be loaded.
    #[error("FIRSTWEEK_PLAYBOOK: {0}")]
    Playbook(#[from] PlaybookError),
}

/// `variable` is set to something that cannot be used.
pub(crate) fn invalid(variable: &'static str, problem: String) -> SettingsError {
    SettingsError::Invalid { variable, problem }
}

/// The one set of parsers for firstweek's variables, over any lookup (the
/// process environment, or a map in tests). Each section's module adds its
/// parsers; a service's settings call those it uses, the CLI those a
/// command needs.
pub struct Environment<G> {
    get: G,
}

impl Environment<fn(&str) -> Option<String>> {
    /// The process environment (an empty variable counts as unset).
    pub fn process() -> Self {
        fn get(k: &str) -> Option<String> {
            std::env::var(k).ok().filter(|v| !v.is_empty())
        }
        Environment { get }
    }
}

impl<G: Fn(&str) -> Option<String>> Environment<G> {
    /// Reads variables through `get`.
    pub fn new(get: G) -> Self {
        Environment { get }
    }

    /// A variable's value, if set.
    pub fn var(&self, variable: &str) -> Option<String> {
        (self.get)(variable)
    }

    pub(crate) fn required(
        &self,
        variable: &'static str,
        hint: &'static str,
    ) -> Result<String, SettingsError> {
        self.var(variable)
            .ok_or(SettingsError::Missing { variable, hint })
    }

    /// A positive number of seconds, `default` when unset.
    pub(crate) fn seconds(
        &self,
        variable: &'static str,
        default: i64,
    ) -> Result<i64, SettingsError> {
        match self.var(variable) {
            None => Ok(default),
            Some(s) => s.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
                invalid(
                    variable,
                    format!("{s:?} is not a positive number of seconds"),
                )
            }),
        }
    }

    /// A number from 1 to 1024, `default` when unset.
    pub(crate) fn count(
        &self,
        variable: &'static str,
        default: usize,
    ) -> Result<usize, SettingsError> {
        match self.var(variable) {
            None => Ok(default),
            Some(s) => s
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=1024).contains(n))
                .ok_or_else(|| invalid(variable, format!("{s:?} is not a number from 1 to 1024"))),
        }
    }

    /// Milliseconds from 0 to 1000, `default` when unset.
    pub(crate) fn millis(
        &self,
        variable: &'static str,
        default: u64,
    ) -> Result<std::time::Duration, SettingsError> {
        let ms = match self.var(variable) {
            None => default,
            Some(s) => s
                .parse::<u64>()
                .ok()
                .filter(|n| *n <= 1000)
                .ok_or_else(|| {
                    invalid(
                        variable,
                        format!("{s:?} is not a number of milliseconds from 0 to 1000"),
                    )
                })?,
        };
        Ok(std::time::Duration::from_millis(ms))
    }
}

/// Parses a program-time span: `off`, or a number with a unit `d`, `h`, `m`
/// or `s` (`1d`, `12h`, `90m`).
pub fn parse_span(value: &str) -> Result<Option<chrono::Duration>, String> {
    let v = value.trim();
    if v.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    let split = v
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(v.len());
    let (number, unit) = v.split_at(split);
    let n: f64 = number
        .parse()
        .map_err(|_| format!("{v:?} is not off or a span like 1d, 12h, 90m"))?;
    let seconds = match unit {
        "d" => 86_400.0,
        "h" => 3_600.0,
        "m" => 60.0,
        "s" => 1.0,
        _ => return Err(format!("{v:?}: the unit must be d, h, m or s")),
    } * n;
    if !seconds.is_finite() || seconds <= 0.0 || seconds > 366.0 * 86_400.0 {
        return Err(format!("{v:?} must be more than 0 and at most a year"));
    }
    Ok(Some(chrono::Duration::milliseconds(
        (seconds * 1000.0) as i64,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_read_as_program_time() {
        assert_eq!(parse_span("off"), Ok(None));
        assert_eq!(parse_span("12h"), Ok(Some(chrono::Duration::hours(12))));
        assert_eq!(parse_span("1.5d"), Ok(Some(chrono::Duration::hours(36))));
        assert_eq!(parse_span("90m"), Ok(Some(chrono::Duration::minutes(90))));
        assert!(parse_span("3").is_err());
        assert!(parse_span("2y").is_err());
    }
}
