//! What an operator needs to read a kept installation (the demo's `--keep`):
//! the settings `firstweek at-risk`, `firstweek playbook dry-run` and
//! `firstweek-web` must share with the services that wrote the data (the
//! database, the pseudonym key the coordinators' keys were made with, the
//! program clock, the playbook, the public URL of the links).

use std::path::{Path, PathBuf};

use crate::Env;

/// The variables the services ran with that a reader of the kept data needs
/// too, in the order they are printed. Logging, SMTP and job settings are
/// the services' own and are left out.
pub const READ_SETTINGS: [&str; 7] = [
    "DATABASE_URL",
    "AMQP_URL",
    "FIRSTWEEK_PSEUDONYM_KEY",
    "FIRSTWEEK_TIME_SCALE",
    "FIRSTWEEK_PLAYBOOK",
    "FIRSTWEEK_SEND_WINDOW",
    "FIRSTWEEK_PUBLIC_URL",
];

/// The settings to read `env`'s data with, `firstweek-web` listening on
/// `web_addr`: (name, value) pairs, those the services did not have left out.
pub fn read_settings(env: &Env, web_addr: &str) -> Vec<(String, String)> {
    let service = env.service_env();
    let mut out: Vec<(String, String)> = READ_SETTINGS
        .iter()
        .filter_map(|name| {
            // The last value wins, as for the services' own environment.
            service
                .iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(k, v)| (k.clone(), v.clone()))
        })
        .collect();
    out.push(("FIRSTWEEK_WEB_ADDR".into(), web_addr.into()));
    out
}

/// Writes `settings` as a shell file in `dir` (`firstweek.env`, readable by
/// its owner only: it holds the pseudonym key) and returns its path.
pub fn write_settings(dir: &Path, settings: &[(String, String)]) -> std::io::Result<PathBuf> {
    let path = dir.join("firstweek.env");
    let text: String = settings
        .iter()
        .map(|(k, v)| format!("export {k}={}\n", shell_quote(v)))
        .collect();
    std::fs::write(&path, text)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(path)
}

/// The settings as printed: every value but the pseudonym key's, which stays in the file.
pub fn printable(settings: &[(String, String)]) -> Vec<String> {
    settings
        .iter()
        .map(|(k, v)| {
            if k == "FIRSTWEEK_PSEUDONYM_KEY" {
                format!("{k}=(in the file)")
            } else {
                format!("{k}={}", shell_quote(v))
            }
        })
        .collect()
}

/// `'value'`, with single quotes inside escaped for a POSIX shell.
fn shell_quote(v: &str) -> String {
    format!("'{}'", v.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_settings_file_is_shell_and_the_key_is_not_printed() {
        let settings = vec![
            ("DATABASE_URL".to_string(), "postgres://h/db".to_string()),
            (
                "FIRSTWEEK_PSEUDONYM_KEY".to_string(),
                "it's a key".to_string(),
            ),
        ];
        let dir = std::env::temp_dir().join(format!("kept-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = write_settings(&dir, &settings).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "export DATABASE_URL='postgres://h/db'\nexport FIRSTWEEK_PSEUDONYM_KEY='it'\\''s a key'\n"
        );
        let shown = printable(&settings).join("\n");
        assert!(!shown.contains("it's a key"), "{shown}");
        assert!(shown.contains("FIRSTWEEK_PSEUDONYM_KEY=(in the file)"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
