//! How a program names itself to its people: the program's name (email
//! footers) and the sender's name (the From display name, the footer's
//! "sent by"). Both optional: without them the emails speak of "your
//! mentorship program" and the From stays as `FIRSTWEEK_FROM` writes it.

use std::ops::Range;

use serde::Serialize;
use toml::Spanned;

use super::PlaybookError;

/// The longest name accepted: a footer line and a From header stay readable.
pub const MAX_NAME_CHARS: usize = 80;

/// The program's own names, as its emails show them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Program {
    /// `program_name`, e.g. "Spring Mentoring 2027".
    pub name: Option<String>,
    /// `sender_name`, e.g. "Ada's Mentoring Circle".
    pub sender_name: Option<String>,
}

impl Program {
    pub(super) fn parse(
        name: Option<Spanned<String>>,
        sender_name: Option<Spanned<String>>,
        err: &dyn Fn(Range<usize>, String) -> PlaybookError,
    ) -> Result<Program, PlaybookError> {
        let check =
            |key: &str, v: Option<Spanned<String>>| -> Result<Option<String>, PlaybookError> {
                let Some(v) = v else { return Ok(None) };
                let span = v.span();
                let text = v.into_inner().trim().to_string();
                if text.is_empty() {
                    return Err(err(
                        span,
                        format!("`{key}` is empty (leave it out for the default)"),
                    ));
                }
                if text.chars().any(char::is_control) {
                    return Err(err(span, format!("`{key}` holds a control character")));
                }
                if text.chars().count() > MAX_NAME_CHARS {
                    return Err(err(
                        span,
                        format!("`{key}` is longer than {MAX_NAME_CHARS} characters"),
                    ));
                }
                Ok(Some(text))
            };
        Ok(Program {
            name: check("program_name", name)?,
            sender_name: check("sender_name", sender_name)?,
        })
    }
}
