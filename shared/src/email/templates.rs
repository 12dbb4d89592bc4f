//! The template set: the built-in templates, compiled in, each replaceable
//! by an override handed over as text, and the rendering of a template's
//! three parts in the reader's locale.
//!
//! English templates are named as they are (`welcome.txt`); a locale's are
//! under its tag (`de/welcome.txt`, `de-AT/welcome.txt`). A part is looked
//! up along the locale's fallback chain: `de-AT/`, `de/`, then English.

use minijinja::Environment;
use serde::Serialize;

use super::EmailError;
use super::localized::{BUILT_IN_DE, BUILT_IN_ES};
use crate::escalation::Notice;
use crate::locale::{self, Locale};
use crate::playbook::Playbook;

const BUILT_IN: &[(&str, &str)] = &[
    ("base.html", include_str!("../../templates/base.html")),
    ("footer.txt", include_str!("../../templates/footer.txt")),
    (
        "welcome.subject",
        include_str!("../../templates/welcome.subject"),
    ),
    ("welcome.txt", include_str!("../../templates/welcome.txt")),
    ("welcome.html", include_str!("../../templates/welcome.html")),
    (
        "check_in.subject",
        include_str!("../../templates/check_in.subject"),
    ),
    ("check_in.txt", include_str!("../../templates/check_in.txt")),
    (
        "check_in.html",
        include_str!("../../templates/check_in.html"),
    ),
    (
        "plan_reminder.subject",
        include_str!("../../templates/plan_reminder.subject"),
    ),
    (
        "plan_reminder.txt",
        include_str!("../../templates/plan_reminder.txt"),
    ),
    (
        "plan_reminder.html",
        include_str!("../../templates/plan_reminder.html"),
    ),
    (
        "wrap_up.subject",
        include_str!("../../templates/wrap_up.subject"),
    ),
    ("wrap_up.txt", include_str!("../../templates/wrap_up.txt")),
    ("wrap_up.html", include_str!("../../templates/wrap_up.html")),
    (
        "pacing_tip.subject",
        include_str!("../../templates/pacing_tip.subject"),
    ),
    (
        "pacing_tip.txt",
        include_str!("../../templates/pacing_tip.txt"),
    ),
    (
        "pacing_tip.html",
        include_str!("../../templates/pacing_tip.html"),
    ),
    (
        "escalation.subject",
        include_str!("../../templates/escalation.subject"),
    ),
    (
        "escalation.txt",
        include_str!("../../templates/escalation.txt"),
    ),
    (
        "escalation.html",
        include_str!("../../templates/escalation.html"),
    ),
    (
        "digest.subject",
        include_str!("../../templates/digest.subject"),
    ),
    ("digest.txt", include_str!("../../templates/digest.txt")),
    (
        "escalation_reminder.subject",
        include_str!("../../templates/escalation_reminder.subject"),
    ),
    (
        "escalation_reminder.txt",
        include_str!("../../templates/escalation_reminder.txt"),
    ),
    (
        "escalation_reminder.html",
        include_str!("../../templates/escalation_reminder.html"),
    ),
    (
        "escalation_resolved.subject",
        include_str!("../../templates/escalation_resolved.subject"),
    ),
    (
        "escalation_resolved.txt",
        include_str!("../../templates/escalation_resolved.txt"),
    ),
    (
        "escalation_resolved.html",
        include_str!("../../templates/escalation_resolved.html"),
    ),
    ("digest.html", include_str!("../../templates/digest.html")),
];

/// The three parts every template has.
const PARTS: [&str; 3] = ["subject", "txt", "html"];

/// The loaded templates.
#[derive(Debug)]
pub struct Templates {
    env: Environment<'static>,
}

impl Templates {
    /// The built-in templates.
    pub fn built_in() -> Result<Templates, EmailError> {
        Templates::from_sources(std::iter::empty())
    }

    /// The built-in templates, each replaced by the override of the same
    /// name (`welcome.subject`, ...); an override of another name is a
    /// template of its own. Overrides are `(file name, text)`: whoever reads
    /// the directory (`firstweek-settings`) hands them over.
    pub fn from_sources(
        overrides: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Templates, EmailError> {
        let mut env = Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        // Greetings use first names; a template that holds only a full name
        // (the digest's coordinator) gets the one rule emails and pages share.
        env.add_filter("first_name", |name: String| {
            super::first_name(&name).to_string()
        });
        let built_in = BUILT_IN.iter().chain(BUILT_IN_DE).chain(BUILT_IN_ES);
        for (name, source) in built_in {
            env.add_template(name, source)
                .map_err(|source| EmailError::Template {
                    name: name.to_string(),
                    source,
                })?;
        }
        for (name, source) in overrides {
            env.add_template_owned(name.clone(), source)
                .map_err(|source| EmailError::Template { name, source })?;
        }
        Ok(Templates { env })
    }

    /// Whether a file of this name is a template part (`.subject`, `.txt`
    /// or `.html`): the others in an override directory are left alone.
    pub fn is_part(file_name: &str) -> bool {
        PARTS
            .iter()
            .any(|part| file_name.ends_with(&format!(".{part}")))
    }

    /// The locales that have templates of their own, beside the default:
    /// the shipped ones and any an override directory adds (`de-AT/...`).
    pub fn locales(&self) -> Vec<Locale> {
        let mut out: Vec<Locale> = self
            .env
            .templates()
            .filter_map(|(name, _)| name.split_once('/'))
            .filter_map(|(dir, _)| Locale::parse(dir).ok())
            .filter(|l| l.as_str() != locale::DEFAULT)
            .collect();
        out.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        out.dedup();
        out
    }

    /// The name `part` (e.g. `welcome.txt`) is found under for `locale`:
    /// the first along its chain that exists, `None` when even the default
    /// has none. `with_default`: whether the default counts.
    fn find(&self, locale: &Locale, part: &str, with_default: bool) -> Option<String> {
        locale
            .chain()
            .into_iter()
            .filter(|tag| with_default || tag != locale::DEFAULT)
            .map(|tag| match tag.as_str() {
                locale::DEFAULT => part.to_string(),
                _ => format!("{tag}/{part}"),
            })
            .find(|name| self.env.get_template(name).is_ok())
    }

    /// Checks that every step of the playbook, and each of the escalation's
    /// notices, has all its template parts, in the default and in every
    /// locale that has templates (a locale's own, or a parent's: `de-AT`
    /// may take `de`'s, never English ones).
    pub fn check(&self, playbook: &Playbook) -> Result<(), EmailError> {
        self.check_default(playbook)?;
        let notices = Notice::ALL.map(|n| (n.step_id(), n.step_id()));
        let steps = playbook
            .steps
            .iter()
            .map(|s| (s.id.as_str(), s.template.as_str()));
        let all: Vec<(&str, &str)> = steps.chain(notices).collect();
        for locale in self.locales() {
            for (step, template) in &all {
                for part in PARTS {
                    if self
                        .find(&locale, &format!("{template}.{part}"), false)
                        .is_none()
                    {
                        return Err(EmailError::Untranslated {
                            locale: locale.to_string(),
                            step: step.to_string(),
                            template: template.to_string(),
                            part: part.into(),
                        });
                    }
                }
            }
        }
        Ok(())
    }

    fn check_default(&self, playbook: &Playbook) -> Result<(), EmailError> {
        let notices = Notice::ALL.map(|n| (n.step_id(), n.step_id()));
        let steps = playbook
            .steps
            .iter()
            .map(|s| (s.id.as_str(), s.template.as_str()));
        for (step, template) in steps.chain(notices) {
            for part in PARTS {
                let name = format!("{template}.{part}");
                if self.env.get_template(&name).is_err() {
                    return Err(EmailError::Missing {
                        step: step.to_string(),
                        template: template.to_string(),
                        part: part.into(),
                    });
                }
            }
        }
        Ok(())
    }

    /// Names of the templates that have all three parts (`subject`, `txt`, `html`), sorted.
    pub fn names(&self) -> Vec<String> {
        // A locale's templates (`de/welcome`) are translations, not templates of their own.
        let all: std::collections::BTreeSet<&str> = self
            .env
            .templates()
            .map(|(name, _)| name)
            .filter(|name| !name.contains('/'))
            .collect();
        all.iter()
            .filter_map(|name| name.strip_suffix(".subject"))
            .filter(|stem| {
                PARTS
                    .iter()
                    .all(|part| all.contains(format!("{stem}.{part}").as_str()))
            })
            .map(str::to_string)
            .collect()
    }

    /// Renders the three parts of `template` for `ctx`; the subject is
    /// folded to one line. A context with a `locale` field (a BCP 47 tag, as
    /// [`super::Context`] and the digest's have) is rendered from that
    /// locale's templates along its fallback chain; one without, in English.
    pub fn render_parts<C: Serialize>(
        &self,
        template: &str,
        ctx: &C,
    ) -> Result<Rendered, EmailError> {
        let locale = minijinja::Value::from_serialize(ctx)
            .get_attr("locale")
            .ok()
            .and_then(|v| v.as_str().and_then(|t| Locale::parse(t).ok()))
            .unwrap_or_default();
        let name = |part: &str| {
            let part = format!("{template}.{part}");
            self.find(&locale, &part, true).unwrap_or(part)
        };
        let subject = self.render(&name("subject"), ctx)?;
        // A subject is one line, whatever a template or a name put in it.
        let subject = subject.split_whitespace().collect::<Vec<_>>().join(" ");
        let text = self.render(&name("txt"), ctx)?;
        // The HTML's <title> is the subject, and its hidden preview text
        // the text part's opening: one source for each, so a template cannot
        // put markup in a title or say one thing in the preview and another below.
        let page = minijinja::context! {
            subject => subject,
            preheader => preheader(&text),
            ..minijinja::Value::from_serialize(ctx)
        };
        let html = self.render(&name("html"), &page)?;
        Ok(Rendered {
            subject,
            text,
            html,
        })
    }

    pub(super) fn render<C: Serialize>(&self, name: &str, ctx: &C) -> Result<String, EmailError> {
        let template = self
            .env
            .get_template(name)
            .map_err(|source| EmailError::Template {
                name: name.to_string(),
                source,
            })?;
        template.render(ctx).map_err(|source| EmailError::Template {
            name: name.to_string(),
            source,
        })
    }
}

/// The longest preview text: mail apps show about this much beside the subject.
const PREHEADER_CHARS: usize = 110;

/// The preview text of an email: the text part's first paragraph after the
/// greeting, cut at a word to [`PREHEADER_CHARS`].
pub(super) fn preheader(text: &str) -> String {
    let paragraph = text
        .split("\n\n")
        .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|p| !p.is_empty())
        // A greeting ("Hi Ada,") says nothing a preview needs.
        .find(|p| !(p.ends_with(',') && p.split(' ').count() <= 4))
        .unwrap_or_default();
    if paragraph.chars().count() <= PREHEADER_CHARS {
        return paragraph;
    }
    let mut out = String::new();
    for word in paragraph.split(' ') {
        if out.chars().count() + word.chars().count() + 1 > PREHEADER_CHARS - 1 {
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out.push('…');
    out
}

/// The rendered parts of one email, before it is built into a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// One line.
    pub subject: String,
    /// The plain-text part.
    pub text: String,
    /// The HTML part.
    pub html: String,
}
