//! `FIRSTWEEK_PSEUDONYM_KEY`: the secret firstweek keys its pseudonyms with
//! (the erasure ledger's keys, erased people's placeholders, coordinators'
//! opaque keys; see [`firstweek::pseudonym`]). Required by every service and
//! command that computes one (the scheduler and the workers, which key a
//! database's existing pseudonyms at start-up, and `firstweek erase`).
//! Never printed.

use firstweek::pseudonym::PseudonymKey;

use crate::environment::invalid;
use crate::{Environment, SettingsError};

impl<G: Fn(&str) -> Option<String>> Environment<G> {
    /// `FIRSTWEEK_PSEUDONYM_KEY` (required, at least 32 characters).
    pub fn pseudonym_key(&self) -> Result<PseudonymKey, SettingsError> {
        let secret = self.required(
            "FIRSTWEEK_PSEUDONYM_KEY",
            "a secret of at least 32 characters, e.g. `openssl rand -hex 32`; keep it: pseudonyms made with another cannot be matched",
        )?;
        // The error says how long it was, never what it was.
        PseudonymKey::new(&secret).map_err(|e| invalid("FIRSTWEEK_PSEUDONYM_KEY", e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use crate::test_support::env_of;

    #[test]
    fn a_missing_or_short_key_is_refused_naming_the_variable_but_not_the_key() {
        let e = env_of(&[]).pseudonym_key().unwrap_err().to_string();
        assert!(e.starts_with("FIRSTWEEK_PSEUDONYM_KEY is not set"), "{e}");
        let e = env_of(&[("FIRSTWEEK_PSEUDONYM_KEY", "hunter2-hunter2")])
            .pseudonym_key()
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("FIRSTWEEK_PSEUDONYM_KEY: "), "{e}");
        assert!(!e.contains("hunter2"), "{e}");
        let key = "k".repeat(32);
        let good = env_of(&[("FIRSTWEEK_PSEUDONYM_KEY", &key)])
            .pseudonym_key()
            .unwrap();
        assert!(!format!("{good:?}").contains(&key));
    }
}
