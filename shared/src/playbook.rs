//! The playbook: which steps a pair's first week has, when, for whom, and on
//! what condition. A playbook is data (TOML); the built-in one is the brief's
//! first week. A bad playbook is refused with the line that is wrong.

use std::collections::HashSet;
use std::ops::Range;

use chrono::{Duration, NaiveTime};
use serde::Deserialize;
use toml::Spanned;

use crate::contact::Contact;
use crate::rule::{Condition, Recipient, Recovery, Thresholds};

mod holdout;
mod program;
mod role;
pub use holdout::Aim;
pub use program::Program;
pub use role::{Role, role};

/// The built-in first-week playbook, used when `FIRSTWEEK_PLAYBOOK` is unset.
pub const BUILT_IN: &str = include_str!("../playbooks/first-week.toml");

/// The largest `min_interactions` a playbook may set. The store keeps at most
/// this many interactions of each kind and side of a pair, which is all a
/// condition can count to.
pub const MAX_MIN_INTERACTIONS: u32 = 1000;

/// Nudges a person gets per local day when the playbook does not say.
pub const DEFAULT_DAILY_NUDGE_BUDGET: u32 = 1;
/// The most `daily_nudge_budget` may be.
pub const MAX_DAILY_NUDGE_BUDGET: u32 = 10;

/// What makes a step fall due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// At a fixed offset (in program time) from `started_at`.
    At(Duration),
    /// On an interaction in the first week that starts too intensely: a session
    /// of `long_session_minutes` or more, or a deliverable requested.
    IntenseInteraction,
}

/// One step of the playbook.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// Unique within the playbook; shown in `X-Firstweek-Step`.
    pub id: String,
    /// What makes the step fall due.
    pub trigger: Trigger,
    /// Who receives it, each once, in the playbook's order.
    pub recipients: Vec<Recipient>,
    /// The step is sent when any of these holds (as of its due time).
    pub when: Vec<Condition>,
    /// Template name (defaults to the step id).
    pub template: String,
    /// Steps sharing a once-key reach a recipient at most once between them
    /// (the early and the day-7 escalation share `escalation`).
    pub once_key: String,
    /// The share of the pairs it would reach that are held out of it
    /// (`holdout`, 0 < h < 1; nudges only), to measure what it causes.
    pub holdout: Option<f64>,
    /// What the step is for (`aim`, or implied by its condition): set on
    /// every step with a holdout.
    pub aim: Option<Aim>,
}

/// A validated playbook.
#[derive(Debug, Clone, PartialEq)]
pub struct Playbook {
    /// The playbook's name (the built-in one is `first-week`).
    pub name: String,
    /// Length of the watched period, in program days.
    pub week_days: u32,
    /// Thresholds the conditions use.
    pub thresholds: Thresholds,
    /// The steps, in file order; ids are unique.
    pub steps: Vec<Step>,
    /// The coordinator's side: reminders, recovery, the digest.
    pub coordinators: CoordinatorRules,
    /// At most this many nudges reach a person in one of their local days
    /// (`daily_nudge_budget`, default 1); the welcome and the coordinators'
    /// emails are not counted (see [`crate::decision::relevance`]).
    pub daily_nudge_budget: u32,
    /// How mentor and mentee reach each other (`contact`).
    pub contact: Contact,
    /// What a pair is pinned to: the first 16 hex digits of the SHA-256 of
    /// its text. Editing the file makes a new version; pairs already started
    /// keep theirs.
    pub version: String,
    /// The text it was parsed from (stored with the pairs pinned to it).
    pub source: String,
    /// The program's and the sender's names (`program_name`, `sender_name`).
    pub program: Program,
}

/// How a playbook closes the coordinator's loop.
#[derive(Debug, Clone, PartialEq)]
pub struct CoordinatorRules {
    /// An open escalation nobody acknowledged is reminded this long (program
    /// time) after it opened; `None` (`remind_after = "off"`): never.
    pub remind_after: Option<Duration>,
    /// An escalation resolves itself when all of these hold for the pair.
    pub resolve_when: Vec<Recovery>,
    /// The coordinator's local time of day the daily digest goes out at.
    pub digest_at: NaiveTime,
    /// Send the digest on a day with nothing to act on ("all quiet").
    pub digest_all_quiet: bool,
}

impl Default for CoordinatorRules {
    fn default() -> Self {
        CoordinatorRules {
            remind_after: Some(Duration::days(2)),
            resolve_when: Recovery::DEFAULT.to_vec(),
            digest_at: NaiveTime::from_hms_opt(8, 0, 0).unwrap_or_default(),
            digest_all_quiet: false,
        }
    }
}

/// A playbook that cannot be used, with where it is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{source_name}:{line}: {message}")]
pub struct PlaybookError {
    /// File name (or `built-in`).
    pub source_name: String,
    /// 1-based line of the problem.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlaybook {
    name: Spanned<String>,
    #[serde(default = "default_week_days")]
    week_days: Spanned<u32>,
    remind_after: Option<Spanned<String>>,
    resolve_when: Option<Spanned<OneOrMany>>,
    digest_at: Option<Spanned<String>>,
    digest_all_quiet: Option<bool>,
    daily_nudge_budget: Option<Spanned<i64>>,
    contact: Option<Spanned<String>>,
    program_name: Option<Spanned<String>>,
    sender_name: Option<Spanned<String>>,
    #[serde(default)]
    thresholds: RawThresholds,
    #[serde(default)]
    step: Vec<Spanned<RawStep>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawThresholds {
    #[serde(default = "default_min_interactions")]
    min_interactions: Spanned<u32>,
    #[serde(default = "default_long_session")]
    long_session_minutes: Spanned<u32>,
}

impl Default for RawThresholds {
    fn default() -> Self {
        Self {
            min_interactions: default_min_interactions(),
            long_session_minutes: default_long_session(),
        }
    }
}

fn default_week_days() -> Spanned<u32> {
    Spanned::new(0..0, 7)
}
fn default_min_interactions() -> Spanned<u32> {
    Spanned::new(0..0, 3)
}
fn default_long_session() -> Spanned<u32> {
    Spanned::new(0..0, 120)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    id: Spanned<String>,
    at: Option<Spanned<String>>,
    on: Option<Spanned<String>>,
    to: Spanned<Vec<String>>,
    #[serde(default)]
    when: Option<Spanned<OneOrMany>>,
    template: Option<Spanned<String>>,
    once: Option<Spanned<String>>,
    holdout: Option<Spanned<f64>>,
    aim: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl Playbook {
    /// The built-in first-week playbook.
    pub fn built_in() -> Playbook {
        // The built-in file is tested below; failing here is a build defect.
        Playbook::parse("built-in", BUILT_IN).expect("the built-in playbook is valid")
    }

    /// Parses and validates playbook text; `source_name` names it in errors.
    pub fn parse(source_name: &str, text: &str) -> Result<Playbook, PlaybookError> {
        let err = |span: Range<usize>, message: String| PlaybookError {
            source_name: source_name.to_string(),
            line: line_of(text, span.start),
            message,
        };
        let raw: RawPlaybook = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| line_of(text, s.start)).unwrap_or(0);
            PlaybookError {
                source_name: source_name.to_string(),
                line,
                message: e.message().to_string(),
            }
        })?;

        if raw.name.get_ref().trim().is_empty() {
            return Err(err(raw.name.span(), "`name` is empty".into()));
        }
        let week_days = *raw.week_days.get_ref();
        if !(1..=60).contains(&week_days) {
            return Err(err(
                raw.week_days.span(),
                format!("`week_days` must be 1 to 60, got {week_days}"),
            ));
        }
        let min = *raw.thresholds.min_interactions.get_ref();
        if !(1..=MAX_MIN_INTERACTIONS).contains(&min) {
            return Err(err(
                raw.thresholds.min_interactions.span(),
                format!("`min_interactions` must be 1 to {MAX_MIN_INTERACTIONS}, got {min}"),
            ));
        }
        let long = *raw.thresholds.long_session_minutes.get_ref();
        if !(1..=1440).contains(&long) {
            return Err(err(
                raw.thresholds.long_session_minutes.span(),
                format!("`long_session_minutes` must be 1 to 1440, got {long}"),
            ));
        }
        if raw.step.is_empty() {
            return Err(err(0..0, "the playbook has no [[step]]".into()));
        }
        let daily_nudge_budget = match &raw.daily_nudge_budget {
            None => DEFAULT_DAILY_NUDGE_BUDGET,
            Some(b) => match u32::try_from(*b.get_ref()) {
                Ok(n) if (1..=MAX_DAILY_NUDGE_BUDGET).contains(&n) => n,
                _ => {
                    return Err(err(
                        b.span(),
                        format!(
                            "`daily_nudge_budget` must be 1 to {MAX_DAILY_NUDGE_BUDGET}, got {}",
                            b.get_ref()
                        ),
                    ));
                }
            },
        };

        let mut seen = HashSet::new();
        let mut steps = Vec::with_capacity(raw.step.len());
        let mut holdout_spans = Vec::with_capacity(raw.step.len());
        for spanned in raw.step {
            let step_span = spanned.span();
            let raw_step = spanned.into_inner();
            let id = raw_step.id.get_ref().clone();
            let id_ok = !id.is_empty()
                && id.len() <= 64
                && id
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !id_ok {
                return Err(err(
                    raw_step.id.span(),
                    format!("step id {id:?} must be 1 to 64 of a-z, 0-9 and _"),
                ));
            }
            if !seen.insert(id.clone()) {
                return Err(err(
                    raw_step.id.span(),
                    format!("step id {id:?} is used twice"),
                ));
            }
            let trigger = match (&raw_step.at, &raw_step.on) {
                (Some(at), None) => {
                    let offset = parse_offset(at.get_ref())
                        .map_err(|m| err(at.span(), format!("step {id:?}: `at` {m}")))?;
                    if offset > Duration::days(i64::from(week_days) * 4) {
                        return Err(err(
                            at.span(),
                            format!(
                                "step {id:?}: `at` is more than four weeks of `week_days` after the start"
                            ),
                        ));
                    }
                    Trigger::At(offset)
                }
                (None, Some(on)) if on.get_ref() == "intense_interaction" => {
                    Trigger::IntenseInteraction
                }
                (None, Some(on)) => {
                    return Err(err(
                        on.span(),
                        format!(
                            "step {id:?}: unknown `on` {:?} (known: intense_interaction)",
                            on.get_ref()
                        ),
                    ));
                }
                _ => {
                    return Err(err(
                        step_span,
                        format!("step {id:?} needs exactly one of `at` or `on`"),
                    ));
                }
            };
            let mut recipients = Vec::new();
            for r in raw_step.to.get_ref() {
                let Some(rec) = Recipient::parse(r) else {
                    return Err(err(
                        raw_step.to.span(),
                        format!(
                            "step {id:?}: unknown recipient {r:?} (known: mentor, mentee, coordinator)"
                        ),
                    ));
                };
                if !recipients.contains(&rec) {
                    recipients.push(rec);
                }
            }
            if recipients.is_empty() {
                return Err(err(
                    raw_step.to.span(),
                    format!("step {id:?}: `to` is empty"),
                ));
            }
            let when = match &raw_step.when {
                None => vec![Condition::Always],
                Some(w) => {
                    let names = w.get_ref().names();
                    if names.is_empty() {
                        return Err(err(w.span(), format!("step {id:?}: `when` is empty")));
                    }
                    let mut conds = Vec::new();
                    for n in names {
                        let c = Condition::parse(&n).ok_or_else(|| {
                            err(
                                w.span(),
                                format!(
                                    "step {id:?}: unknown condition {n:?} (known: {})",
                                    Condition::NAMES.join(", ")
                                ),
                            )
                        })?;
                        conds.push(c);
                    }
                    conds
                }
            };
            let template = raw_step
                .template
                .map(|t| t.into_inner())
                .unwrap_or_else(|| id.clone());
            let once_key = raw_step
                .once
                .map(|o| o.into_inner())
                .unwrap_or_else(|| id.clone());
            let experiment = holdout::RawExperiment {
                holdout: raw_step.holdout,
                aim: raw_step.aim,
            };
            let (holdout, aim) = holdout::parse_step(&id, &experiment, &err)?;
            holdout_spans.push(experiment.holdout.map(|h| h.span()));
            steps.push(Step {
                id,
                trigger,
                recipients,
                when,
                template,
                once_key,
                holdout,
                aim,
            });
        }

        let coordinators = CoordinatorRules::parse(
            &raw.remind_after,
            &raw.resolve_when,
            &raw.digest_at,
            raw.digest_all_quiet,
            &err,
        )?;
        let contact = match &raw.contact {
            None => Contact::default(),
            Some(c) => {
                Contact::parse(c.get_ref()).map_err(|m| err(c.span(), format!("`contact` {m}")))?
            }
        };
        let program = Program::parse(raw.program_name, raw.sender_name, &err)?;
        let mut playbook = Playbook {
            program,
            version: version_of(text),
            source: text.to_string(),
            coordinators,
            daily_nudge_budget,
            contact,
            name: raw.name.into_inner(),
            week_days,
            thresholds: Thresholds {
                min_interactions: min,
                long_session_minutes: long,
            },
            steps,
        };
        holdout::check(&mut playbook, &holdout_spans, &err)?;
        Ok(playbook)
    }

    /// The steps with a holdout.
    pub fn held_out_steps(&self) -> impl Iterator<Item = &Step> {
        self.steps.iter().filter(|s| s.holdout.is_some())
    }

    /// A step by id.
    pub fn step(&self, id: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.id == id)
    }

    /// The step fired by an intense first-week interaction, if the playbook has one.
    pub fn intense_steps(&self) -> impl Iterator<Item = &Step> {
        self.steps
            .iter()
            .filter(|s| s.trigger == Trigger::IntenseInteraction)
    }

    /// Length of the watched period, in program time.
    pub fn week(&self) -> Duration {
        Duration::days(i64::from(self.week_days))
    }
}

impl CoordinatorRules {
    fn parse(
        remind_after: &Option<Spanned<String>>,
        resolve_when: &Option<Spanned<OneOrMany>>,
        digest_at: &Option<Spanned<String>>,
        digest_all_quiet: Option<bool>,
        err: &dyn Fn(Range<usize>, String) -> PlaybookError,
    ) -> Result<CoordinatorRules, PlaybookError> {
        let mut rules = CoordinatorRules::default();
        if let Some(r) = remind_after {
            rules.remind_after = match r.get_ref().as_str() {
                "off" => None,
                text => {
                    let after = parse_offset(text)
                        .map_err(|m| err(r.span(), format!("`remind_after` {m} (or \"off\")")))?;
                    if after <= Duration::zero() || after > Duration::days(60) {
                        return Err(err(
                            r.span(),
                            "`remind_after` must be more than 0 and at most 60d".into(),
                        ));
                    }
                    Some(after)
                }
            };
        }
        if let Some(w) = resolve_when {
            let names = w.get_ref().names();
            if names.is_empty() {
                return Err(err(w.span(), "`resolve_when` is empty".into()));
            }
            rules.resolve_when = Vec::with_capacity(names.len());
            for n in names {
                let r = Recovery::parse(&n).ok_or_else(|| {
                    err(
                        w.span(),
                        format!(
                            "`resolve_when`: unknown {n:?} (known: {})",
                            Recovery::NAMES.join(", ")
                        ),
                    )
                })?;
                if !rules.resolve_when.contains(&r) {
                    rules.resolve_when.push(r);
                }
            }
        }
        if let Some(at) = digest_at {
            rules.digest_at = NaiveTime::parse_from_str(at.get_ref(), "%H:%M").map_err(|_| {
                err(
                    at.span(),
                    format!(
                        "`digest_at` {:?} is not a time of day like \"08:00\"",
                        at.get_ref()
                    ),
                )
            })?;
        }
        if let Some(quiet) = digest_all_quiet {
            rules.digest_all_quiet = quiet;
        }
        Ok(rules)
    }
}

impl OneOrMany {
    fn names(&self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

/// A playbook text's version.
pub fn version_of(text: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(text.as_bytes())
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The playbooks of a deployment: one per program that has its own
/// (`FIRSTWEEK_PLAYBOOKS_DIR/<program_id>.toml`), keyed by program id.
pub type Programs = std::sync::Arc<std::collections::BTreeMap<String, Playbook>>;

fn line_of(text: &str, byte: usize) -> usize {
    text.as_bytes()[..byte.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// Parses offsets such as `0d`, `2d`, `36h`, `1d12h`, `90m`, `30s`.
pub fn parse_offset(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("is empty".into());
    }
    let mut total = Duration::zero();
    let mut number = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let n: i64 = number
            .parse()
            .map_err(|_| format!("{s:?} is not an offset like 2d, 36h, 1d12h, 90m"))?;
        number.clear();
        // Checked: chrono panics on a duration beyond its range, and a typo
        // such as `99999999999999d` must be a line-numbered error instead.
        let part = match c {
            'd' => Duration::try_days(n),
            'h' => Duration::try_hours(n),
            'm' => Duration::try_minutes(n),
            's' => Duration::try_seconds(n),
            _ => return Err(format!("{s:?} has unknown unit {c:?} (use d, h, m or s)")),
        };
        total = part
            .and_then(|p| total.checked_add(&p))
            .ok_or_else(|| format!("{s:?} is too large"))?;
    }
    if !number.is_empty() {
        return Err(format!("{s:?} needs a unit after {number} (d, h, m or s)"));
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_playbook_is_the_briefs_first_week() {
        let p = Playbook::built_in();
        let at = |id: &str| match &p.step(id).unwrap().trigger {
            Trigger::At(d) => d.num_hours() / 24,
            Trigger::IntenseInteraction => -1,
        };
        assert_eq!(
            (
                at("welcome"),
                at("check_in"),
                at("plan_reminder"),
                at("wrap_up")
            ),
            (0, 2, 4, 7)
        );
        assert_eq!((at("escalation_early"), at("escalation")), (4, 7));
        assert_eq!(
            p.step("escalation").unwrap().recipients,
            vec![Recipient::Coordinator]
        );
        assert_eq!(p.step("escalation_early").unwrap().once_key, "escalation");
        assert_eq!(p.step("check_in").unwrap().when, vec![Condition::NoTwoWay]);
        assert_eq!(
            p.step("plan_reminder").unwrap().when,
            vec![Condition::NoPlan]
        );
        assert_eq!(
            p.step("pacing_tip").unwrap().trigger,
            Trigger::IntenseInteraction
        );
        assert_eq!(
            p.thresholds,
            Thresholds {
                min_interactions: 3,
                long_session_minutes: 120
            }
        );
    }

    #[test]
    fn the_daily_nudge_budget_defaults_to_one_and_is_checked_with_its_line() {
        const STEP: &str = "[[step]]\nid = \"a\"\nat = \"1d\"\nto = [\"mentor\"]\n";
        assert_eq!(Playbook::built_in().daily_nudge_budget, 1);
        let p = Playbook::parse(
            "p.toml",
            &format!("name = \"x\"\ndaily_nudge_budget = 3\n{STEP}"),
        )
        .unwrap();
        assert_eq!(p.daily_nudge_budget, 3);
        for bad in ["0", "-1", "11", "\"two\""] {
            let e = error_of(&format!(
                "name = \"x\"\n\ndaily_nudge_budget = {bad}\n{STEP}"
            ));
            assert_eq!(e.line, 3, "{bad}: {e}");
            assert!(e.to_string().starts_with("p.toml:3: "), "{e}");
            assert!(
                e.message.contains("daily_nudge_budget") || bad.contains('"'),
                "{e}"
            );
        }
    }

    #[test]
    fn offsets_parse() {
        assert_eq!(parse_offset("0d"), Ok(Duration::zero()));
        assert_eq!(parse_offset("1d12h"), Ok(Duration::hours(36)));
        assert_eq!(parse_offset("90m"), Ok(Duration::minutes(90)));
        assert!(parse_offset("2").is_err());
        assert!(parse_offset("2w").is_err());
        assert!(parse_offset("").is_err());
    }

    fn error_of(text: &str) -> PlaybookError {
        Playbook::parse("p.toml", text).unwrap_err()
    }

    #[test]
    fn the_coordinators_loop_is_configurable_and_checked_with_its_line() {
        const STEP: &str = "[[step]]\nid = \"a\"\nat = \"1d\"\nto = [\"mentor\"]\n";
        let built_in = Playbook::built_in().coordinators;
        assert_eq!(built_in, CoordinatorRules::default());
        assert_eq!(built_in.remind_after, Some(Duration::days(2)));
        assert_eq!(built_in.resolve_when, Recovery::DEFAULT.to_vec());

        let p = Playbook::parse(
            "p.toml",
            &format!("name = \"x\"\nremind_after = \"off\"\nresolve_when = \"enough_interactions\"\ndigest_at = \"06:30\"\ndigest_all_quiet = true\n{STEP}"),
        )
        .unwrap();
        assert_eq!(p.coordinators.remind_after, None);
        assert_eq!(
            p.coordinators.resolve_when,
            vec![Recovery::EnoughInteractions]
        );
        assert_eq!(
            p.coordinators.digest_at,
            NaiveTime::from_hms_opt(6, 30, 0).unwrap()
        );
        assert!(p.coordinators.digest_all_quiet);

        let e = error_of(&format!("name = \"x\"\n\nremind_after = \"soon\"\n{STEP}"));
        assert_eq!(e.line, 3, "{e}");
        assert!(e.message.contains("`remind_after`"), "{e}");
        let e = error_of(&format!(
            "name = \"x\"\nresolve_when = [\"two_way\", \"happy\"]\n{STEP}"
        ));
        assert_eq!(e.line, 2, "{e}");
        assert!(e.message.contains("unknown \"happy\""), "{e}");
        let e = error_of(&format!("name = \"x\"\ndigest_at = \"8am\"\n{STEP}"));
        assert_eq!(e.line, 2, "{e}");
        assert!(e.message.contains("`digest_at`"), "{e}");
    }

    #[test]
    fn the_contact_is_the_partners_address_or_a_checked_program_link() {
        const STEP: &str = "[[step]]\nid = \"a\"\nat = \"1d\"\nto = [\"mentor\"]\n";
        assert_eq!(Playbook::built_in().contact, Contact::PartnerEmail);
        let p = Playbook::parse(
            "p.toml",
            &format!("name = \"x\"\ncontact = \"https://program.example/pairs/{{pair_id}}/messages\"\n{STEP}"),
        )
        .unwrap();
        let Contact::ProgramLink(link) = &p.contact else {
            panic!("a program link: {:?}", p.contact);
        };
        assert_eq!(
            link.url_for("m-1"),
            "https://program.example/pairs/m-1/messages"
        );
        let e = error_of(&format!(
            "name = \"x\"\n\ncontact = \"https://program.example/pairs/messages\"\n{STEP}"
        ));
        assert_eq!(e.line, 3, "{e}");
        assert!(
            e.to_string().starts_with("p.toml:3: `contact`") && e.message.contains("{pair_id}"),
            "{e}"
        );
        let e = error_of(&format!("name = \"x\"\ncontact = \"phone\"\n{STEP}"));
        assert_eq!(e.line, 2, "{e}");
        assert!(e.message.contains("\"email\" or a link"), "{e}");
    }

    #[test]
    fn each_program_has_its_own_playbook() {
        let good = "name = \"alpha\"\n[[step]]\nid = \"a\"\nat = \"1d\"\nto = [\"mentor\"]\n";
        let alpha = Playbook::parse("alpha.toml", good).unwrap();
        assert_eq!(alpha.version, version_of(good));
        let programs: Programs =
            std::sync::Arc::new([("alpha".to_string(), alpha)].into_iter().collect());
        let rules = crate::Rules {
            playbook: Playbook::built_in(),
            programs: programs.clone(),
            scale: crate::timeline::TimeScale::REAL,
            window: crate::timeline::SendWindow::Off,
        };
        assert_eq!(rules.for_program(Some("alpha")).playbook.name, "alpha");
        assert_eq!(rules.for_program(Some("beta")).playbook.name, "first-week");
        assert_eq!(rules.for_program(None).playbook.name, "first-week");
        // A pair pinned to alpha is judged by alpha, whatever the default is now.
        assert_eq!(
            rules.pinned(Some(&programs["alpha"])).playbook.name,
            "alpha"
        );
    }

    #[test]
    fn a_bad_playbook_names_the_line() {
        let e = error_of("name = \"x\"\n[[step]]\nid = \"a\"\nat = \"2w\"\nto = [\"mentor\"]\n");
        assert_eq!(e.line, 4);
        assert!(
            e.to_string().starts_with("p.toml:4: step \"a\": `at`"),
            "{e}"
        );

        let e = error_of(
            "name = \"x\"\n[[step]]\nid = \"a\"\nat = \"1d\"\nto = [\"mentor\"]\nwhen = \"sunny\"\n",
        );
        assert_eq!(e.line, 6);
        assert!(e.message.contains("unknown condition \"sunny\""), "{e}");

        let e = error_of("name = \"x\"\n[[step]]\nid = \"a\"\nat = \"1d\"\nto = [\"boss\"]\n");
        assert_eq!(e.line, 5);

        let e = error_of(
            "name = \"x\"\n[[step]]\nid = \"a\"\nat = \"1d\"\nto = [\"mentor\"]\n[[step]]\nid = \"a\"\nat = \"2d\"\nto = [\"mentor\"]\n",
        );
        assert_eq!(e.line, 7);
        assert!(e.message.contains("used twice"));

        let e = error_of("name = \"x\"\n[[step]]\nid = \"a\"\nto = [\"mentor\"]\n");
        assert!(e.message.contains("exactly one of `at` or `on`"), "{e}");

        let e = error_of(
            "name = \"x\"\n[thresholds]\nmin_interactions = 0\n[[step]]\nid = \"a\"\nat = \"1d\"\nto = [\"mentor\"]\n",
        );
        assert_eq!(e.line, 3);

        // Syntax and unknown keys come from the TOML parser, also with their line.
        let e = error_of(
            "name = \"x\"\n\n[[step]]\nid = \"a\"\nat = \"1d\"\nto = [\"mentor\"]\ncolour = 1\n",
        );
        assert_eq!(e.line, 7, "{e}");
        let e = error_of("name = \"x\"\n[[step]\n");
        assert_eq!(e.line, 2, "{e}");
    }

    #[test]
    fn a_huge_offset_is_an_error_with_its_line_not_a_panic() {
        for at in [
            "99999999999999d",
            "9223372036854775807s",
            "106751991167300d1d",
            "1000000000000000000000d",
        ] {
            let e = error_of(&format!(
                "name = \"x\"\n[[step]]\nid = \"a\"\nat = \"{at}\"\nto = [\"mentor\"]\n"
            ));
            assert_eq!(e.line, 4, "{at}: {e}");
            assert!(
                e.to_string().starts_with("p.toml:4: step \"a\": `at`"),
                "{e}"
            );
        }
    }

    #[test]
    fn a_custom_playbook_keeps_its_own_steps_and_thresholds() {
        let p = Playbook::parse(
            "p.toml",
            "name = \"sprint\"\nweek_days = 3\n[thresholds]\nmin_interactions = 5\n\
             [[step]]\nid = \"hello\"\nat = \"12h\"\nto = [\"mentee\"]\nwhen = [\"no_two_way\", \"no_plan\"]\ntemplate = \"check_in\"\n",
        )
        .unwrap();
        assert_eq!(p.week_days, 3);
        assert_eq!(p.thresholds.min_interactions, 5);
        assert_eq!(p.thresholds.long_session_minutes, 120);
        let s = &p.steps[0];
        assert_eq!(s.trigger, Trigger::At(Duration::hours(12)));
        assert_eq!(s.when, vec![Condition::NoTwoWay, Condition::NoPlan]);
        assert_eq!(s.template, "check_in");
        assert_eq!(s.once_key, "hello");
    }
}
