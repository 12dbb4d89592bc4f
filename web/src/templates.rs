//! The page templates: built in, each replaceable without a rebuild by a
//! file of the same name in `FIRSTWEEK_WEB_TEMPLATES_DIR` (as the emails'
//! `FIRSTWEEK_TEMPLATES_DIR`). Everything is read and parsed at start-up, so
//! a broken override stops the service there, not on a coordinator's phone.

use std::path::{Path, PathBuf};

use minijinja::Environment;

/// The built-in pages, by the name a handler renders (and an override file has).
pub const BUILT_IN: &[(&str, &str)] = &[
    ("base.html", include_str!("../templates/base.html")),
    (
        "coordinator.html",
        include_str!("../templates/coordinator.html"),
    ),
    ("pair.html", include_str!("../templates/pair.html")),
    ("resolve.html", include_str!("../templates/resolve.html")),
    ("refused.html", include_str!("../templates/refused.html")),
    (
        "acknowledge.html",
        include_str!("../templates/acknowledge.html"),
    ),
    ("answer.html", include_str!("../templates/answer.html")),
    (
        "unsubscribe.html",
        include_str!("../templates/unsubscribe.html"),
    ),
];

/// German pages, parallel to the English ones (same variables, same blocks).
pub const BUILT_IN_DE: &[(&str, &str)] = &[
    ("de/base.html", include_str!("../templates/de/base.html")),
    (
        "de/coordinator.html",
        include_str!("../templates/de/coordinator.html"),
    ),
    ("de/pair.html", include_str!("../templates/de/pair.html")),
    (
        "de/resolve.html",
        include_str!("../templates/de/resolve.html"),
    ),
    // The words the de pages share (advice, steps, outcomes): a part, not a page.
    ("de/words.html", include_str!("../templates/de/words.html")),
    (
        "de/refused.html",
        include_str!("../templates/de/refused.html"),
    ),
    (
        "de/acknowledge.html",
        include_str!("../templates/de/acknowledge.html"),
    ),
    (
        "de/answer.html",
        include_str!("../templates/de/answer.html"),
    ),
    (
        "de/unsubscribe.html",
        include_str!("../templates/de/unsubscribe.html"),
    ),
];

/// Spanish pages, parallel to the English ones.
pub const BUILT_IN_ES: &[(&str, &str)] = &[
    ("es/base.html", include_str!("../templates/es/base.html")),
    (
        "es/coordinator.html",
        include_str!("../templates/es/coordinator.html"),
    ),
    ("es/pair.html", include_str!("../templates/es/pair.html")),
    (
        "es/resolve.html",
        include_str!("../templates/es/resolve.html"),
    ),
    // The words the es pages share (advice, steps, outcomes): a part, not a page.
    ("es/words.html", include_str!("../templates/es/words.html")),
    (
        "es/refused.html",
        include_str!("../templates/es/refused.html"),
    ),
    (
        "es/acknowledge.html",
        include_str!("../templates/es/acknowledge.html"),
    ),
    (
        "es/answer.html",
        include_str!("../templates/es/answer.html"),
    ),
    (
        "es/unsubscribe.html",
        include_str!("../templates/es/unsubscribe.html"),
    ),
];

/// Why the page templates cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// The override directory cannot be listed.
    #[error("FIRSTWEEK_WEB_TEMPLATES_DIR {}: {error}", dir.display())]
    Directory {
        /// The directory.
        dir: PathBuf,
        /// What reading it said.
        error: std::io::Error,
    },
    /// An override file cannot be read (permissions, not UTF-8).
    #[error("page template {}: {error}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What reading it said.
        error: std::io::Error,
    },
    /// A template does not parse.
    #[error("page template {origin} does not parse: {error}")]
    Parse {
        /// The override file, or `built-in NAME`.
        origin: String,
        /// minijinja's account, with the line.
        error: minijinja::Error,
    },
}

/// The built-in pages, with every `.html` file in `dir` added over them: a
/// file named like a built-in page replaces it; any other is there for an
/// override to `{% include %}` or `{% extends %}`. A subdirectory named by
/// a locale (`de`, `es`, `de-AT`) holds that locale's pages the same way.
pub fn load(dir: Option<&Path>) -> Result<Environment<'static>, TemplateError> {
    let mut env = Environment::new();
    for (name, source) in BUILT_IN.iter().chain(BUILT_IN_DE).chain(BUILT_IN_ES) {
        env.add_template(name, source)
            .map_err(|error| TemplateError::Parse {
                origin: format!("built-in {name}"),
                error,
            })?;
    }
    let Some(dir) = dir else {
        return Ok(env);
    };
    // The reason is in the message, not chained: it would print twice.
    let listing = |error| TemplateError::Directory {
        dir: dir.to_path_buf(),
        error,
    };
    let mut overrides = Vec::new();
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(listing)? {
        let path = entry.map_err(listing)?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if path.is_dir() && firstweek::locale::Locale::parse(name).is_ok() {
            let prefix = name.to_string();
            for entry in std::fs::read_dir(&path).map_err(listing)? {
                let inner = entry.map_err(listing)?.path();
                if let Some(file) = inner.file_name().and_then(|n| n.to_str()) {
                    files.push((format!("{prefix}/{file}"), inner.clone()));
                }
            }
        } else {
            files.push((name.to_string(), path.clone()));
        }
    }
    for (name, path) in files {
        if !name.ends_with(".html") || !path.is_file() {
            continue;
        }
        let source = std::fs::read_to_string(&path).map_err(|error| TemplateError::Read {
            path: path.clone(),
            error,
        })?;
        env.add_template_owned(name.clone(), source)
            .map_err(|error| TemplateError::Parse {
                origin: path.display().to_string(),
                error,
            })?;
        overrides.push(name);
    }
    overrides.sort();
    tracing::info!(dir = %dir.display(), templates = ?overrides, "page templates from FIRSTWEEK_WEB_TEMPLATES_DIR");
    Ok(env)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> TempDir {
            let dir = std::env::temp_dir().join(format!("fw-web-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("a temporary directory");
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn render(env: &Environment<'_>, name: &str) -> String {
        env.get_template(name)
            .and_then(|t| t.render(minijinja::context! { text => "gone" }))
            .expect("renders")
    }

    #[test]
    fn without_a_directory_the_built_in_pages_are_served() {
        let env = load(None).expect("the built-in pages parse");
        for (name, _) in BUILT_IN {
            assert!(env.get_template(name).is_ok(), "{name}");
        }
        assert!(render(&env, "refused.html").contains("<p>gone</p>"));
    }

    #[test]
    fn every_page_is_shipped_in_german_and_spanish_and_says_its_language() {
        let env = load(None).expect("the built-in pages parse");
        for (name, _) in BUILT_IN {
            for tag in ["de", "es"] {
                let page = env
                    .get_template(&format!("{tag}/{name}"))
                    .and_then(|t| {
                        let none: Vec<String> = Vec::new();
                        t.render(minijinja::context! {
                            why => "expired", pairs => none, steps => none, charts => none,
                            escalation => minijinja::context! { reasons => none },
                            pair => minijinja::context! { risks => none, day => 3, total => 1 },
                        })
                    })
                    .unwrap_or_else(|e| panic!("{tag}/{name}: {e}"));
                assert!(
                    page.contains(&format!("<html lang=\"{tag}\">")),
                    "{tag}/{name}"
                );
            }
        }
        assert!(render(&env, "de/refused.html").contains("Dieser Link ist abgelaufen."));
        assert!(render(&env, "refused.html").contains(r#"<html lang="en">"#));
    }

    #[test]
    fn a_locale_subdirectory_overrides_that_locales_pages() {
        let dir = TempDir::new("locale");
        std::fs::create_dir_all(dir.0.join("de-AT")).expect("mkdir");
        std::fs::write(
            dir.0.join("de-AT/refused.html"),
            r#"{% extends "de/base.html" %}{% block body %}<p>Servus, {{ text }}</p>{% endblock %}"#,
        )
        .expect("write");
        let env = load(Some(&dir.0)).expect("loads");
        let page = render(&env, "de-AT/refused.html");
        assert!(
            page.contains("<p>Servus, gone</p>") && page.contains(r#"lang="de""#),
            "{page}"
        );
    }

    #[test]
    fn a_file_of_the_same_name_replaces_the_page_and_may_include_its_own_parts() {
        let dir = TempDir::new("override");
        std::fs::write(
            dir.0.join("refused.html"),
            r#"{% extends "base.html" %}{% block body %}<p>{{ text }} {% include "help.html" %}</p>{% endblock %}"#,
        )
        .expect("write");
        std::fs::write(dir.0.join("help.html"), "Ask the program team.").expect("write");
        std::fs::write(dir.0.join("notes.txt"), "{% if %}").expect("write");
        let env = load(Some(&dir.0)).expect("loads");
        let page = render(&env, "refused.html");
        assert!(page.contains("<p>gone Ask the program team.</p>"), "{page}");
        assert!(
            page.contains("<!doctype html>"),
            "the built-in base still wraps it"
        );
    }

    #[test]
    fn a_template_that_does_not_parse_is_refused_naming_its_file() {
        let dir = TempDir::new("broken");
        std::fs::write(dir.0.join("coordinator.html"), "{% if %}").expect("write");
        let e = load(Some(&dir.0)).expect_err("refused").to_string();
        assert!(
            e.contains(&dir.0.join("coordinator.html").display().to_string()),
            "{e}"
        );
        assert!(e.contains("does not parse"), "{e}");
    }

    #[test]
    fn a_directory_that_cannot_be_read_is_refused_naming_the_variable() {
        let missing = std::env::temp_dir().join("fw-web-no-such-dir");
        let e = load(Some(&missing)).expect_err("refused").to_string();
        assert!(e.starts_with("FIRSTWEEK_WEB_TEMPLATES_DIR"), "{e}");
        assert!(e.contains("fw-web-no-such-dir"), "{e}");
    }
}
