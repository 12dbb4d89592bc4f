//! The rules every service judges pairs by: the playbook (`FIRSTWEEK_PLAYBOOK`)
//! and the programs' own (`FIRSTWEEK_PLAYBOOKS_DIR`), read from their files
//! here and parsed by the domain, the clock (`FIRSTWEEK_TIME_SCALE`) and the
//! send window (`FIRSTWEEK_SEND_WINDOW`).

use std::path::Path;

use firstweek::Rules;
use firstweek::playbook::{Playbook, PlaybookError, Programs};
use firstweek::timeline::{SendWindow, TimeScale};

use crate::environment::invalid;
use crate::{Environment, SettingsError};

impl<G: Fn(&str) -> Option<String>> Environment<G> {
    /// `FIRSTWEEK_PLAYBOOK`, or the built-in playbook.
    pub fn playbook(&self) -> Result<Playbook, SettingsError> {
        Ok(match self.var("FIRSTWEEK_PLAYBOOK") {
            Some(path) => load_playbook(Path::new(&path))?,
            None => Playbook::built_in(),
        })
    }

    /// `FIRSTWEEK_PLAYBOOKS_DIR`: the programs' own playbooks
    /// (`<program_id>.toml`), each validated; none when unset.
    pub fn programs(&self) -> Result<Programs, SettingsError> {
        Ok(match self.var("FIRSTWEEK_PLAYBOOKS_DIR") {
            Some(dir) => load_programs(Path::new(&dir))?,
            None => Programs::default(),
        })
    }

    /// `FIRSTWEEK_TIME_SCALE` (default 1).
    pub fn scale(&self) -> Result<TimeScale, SettingsError> {
        match self.var("FIRSTWEEK_TIME_SCALE") {
            None => Ok(TimeScale::REAL),
            Some(s) => s
                .parse::<f64>()
                .ok()
                .and_then(TimeScale::new)
                .ok_or_else(|| {
                    invalid(
                        "FIRSTWEEK_TIME_SCALE",
                        format!("{s:?} is not a number of at least 1"),
                    )
                }),
        }
    }

    /// `FIRSTWEEK_SEND_WINDOW` (default 08:00-20:00).
    pub fn window(&self) -> Result<SendWindow, SettingsError> {
        match self.var("FIRSTWEEK_SEND_WINDOW") {
            None => Ok(SendWindow::default()),
            Some(s) => SendWindow::parse(&s).map_err(|p| invalid("FIRSTWEEK_SEND_WINDOW", p)),
        }
    }

    /// The playbook, clock and send window together.
    pub fn rules(&self) -> Result<Rules, SettingsError> {
        Ok(Rules {
            playbook: self.playbook()?,
            programs: self.programs()?,
            scale: self.scale()?,
            window: self.window()?,
        })
    }
}

/// Reads and validates a playbook file; a bad one is refused with
/// `file:line: problem`, an unreadable one with the file's name.
pub fn load_playbook(path: &Path) -> Result<Playbook, PlaybookError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| PlaybookError {
        source_name: name.clone(),
        line: 0,
        message: format!("cannot read the file: {e}"),
    })?;
    Playbook::parse(&name, &text)
}

/// Loads every `<program_id>.toml` in `dir`, each validated (`file:line`);
/// other files are left alone.
pub fn load_programs(dir: &Path) -> Result<Programs, PlaybookError> {
    let unreadable = |message: String| PlaybookError {
        source_name: dir.display().to_string(),
        line: 0,
        message,
    };
    let entries = std::fs::read_dir(dir)
        .map_err(|e| unreadable(format!("cannot read the directory: {e}")))?;
    let mut programs = std::collections::BTreeMap::new();
    for entry in entries {
        let path = entry.map_err(|e| unreadable(e.to_string()))?.path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let Some(program) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        programs.insert(program.to_string(), load_playbook(&path)?);
    }
    Ok(std::sync::Arc::new(programs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::env_of;
    use firstweek::playbook::version_of;

    #[test]
    fn each_program_has_its_own_playbook_and_a_bad_one_is_refused_with_its_line() {
        let dir = std::env::temp_dir().join(format!("fw-programs-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = "name = \"alpha\"\n[[step]]\nid = \"a\"\nat = \"1d\"\nto = [\"mentor\"]\n";
        std::fs::write(dir.join("alpha.toml"), good).unwrap();
        std::fs::write(dir.join("notes.txt"), "not a playbook").unwrap();
        let dir_text = dir.display().to_string();
        let env = env_of(&[("FIRSTWEEK_PLAYBOOKS_DIR", &dir_text)]);
        let rules = env.rules().unwrap();
        assert_eq!(rules.programs.keys().collect::<Vec<_>>(), ["alpha"]);
        assert_eq!(rules.programs["alpha"].version, version_of(good));
        assert_eq!(rules.for_program(Some("alpha")).playbook.name, "alpha");
        assert_eq!(rules.for_program(Some("beta")).playbook.name, "first-week");

        std::fs::write(
            dir.join("beta.toml"),
            "name = \"beta\"\n\n[[step]]\nid = \"b\"\nat = \"soon\"\nto = [\"mentor\"]\n",
        )
        .unwrap();
        let e = load_programs(&dir).unwrap_err();
        assert!(e.source_name.ends_with("beta.toml") && e.line == 5, "{e}");
        let e = env.programs().unwrap_err().to_string();
        assert!(
            e.starts_with("FIRSTWEEK_PLAYBOOK: ") && e.contains("beta.toml:5: "),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_playbook_file_is_read_and_a_missing_one_is_named() {
        let file =
            std::env::temp_dir().join(format!("fw-playbook-unit-{}.toml", std::process::id()));
        std::fs::write(
            &file,
            "name = \"mine\"\n[[step]]\nid = \"a\"\nat = \"1d\"\nto = [\"mentor\"]\n",
        )
        .unwrap();
        let path = file.display().to_string();
        let playbook = env_of(&[("FIRSTWEEK_PLAYBOOK", &path)]).playbook().unwrap();
        assert_eq!(playbook.name, "mine");
        let _ = std::fs::remove_file(&file);

        let e = env_of(&[("FIRSTWEEK_PLAYBOOK", "/nonexistent/playbook.toml")])
            .playbook()
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("FIRSTWEEK_PLAYBOOK: ") && e.contains("/nonexistent/playbook.toml"),
            "{e}"
        );
        assert_eq!(env_of(&[]).playbook().unwrap().name, "first-week");
    }
}
