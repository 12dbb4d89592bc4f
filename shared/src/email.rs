//! The email contract: what a step says to whom, rendered from templates into
//! a multipart message with the `X-Firstweek-*` headers and a stable Message-ID.
//!
//! Templates are minijinja files (`<name>.subject`, `<name>.txt`, `<name>.html`);
//! the built-in ones are compiled in and a directory can override any of them.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::{Address, Message};
use minijinja::Environment;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::escalation::Notice;
use crate::event::{MentorshipStarted, Person};
use crate::interaction::{Condition, Summary};
use crate::playbook::{Playbook, Recipient};

const BUILT_IN: &[(&str, &str)] = &[
    ("base.html", include_str!("../templates/base.html")),
    (
        "welcome.subject",
        include_str!("../templates/welcome.subject"),
    ),
    ("welcome.txt", include_str!("../templates/welcome.txt")),
    ("welcome.html", include_str!("../templates/welcome.html")),
    (
        "check_in.subject",
        include_str!("../templates/check_in.subject"),
    ),
    ("check_in.txt", include_str!("../templates/check_in.txt")),
    ("check_in.html", include_str!("../templates/check_in.html")),
    (
        "plan_reminder.subject",
        include_str!("../templates/plan_reminder.subject"),
    ),
    (
        "plan_reminder.txt",
        include_str!("../templates/plan_reminder.txt"),
    ),
    (
        "plan_reminder.html",
        include_str!("../templates/plan_reminder.html"),
    ),
    (
        "wrap_up.subject",
        include_str!("../templates/wrap_up.subject"),
    ),
    ("wrap_up.txt", include_str!("../templates/wrap_up.txt")),
    ("wrap_up.html", include_str!("../templates/wrap_up.html")),
    (
        "pacing_tip.subject",
        include_str!("../templates/pacing_tip.subject"),
    ),
    (
        "pacing_tip.txt",
        include_str!("../templates/pacing_tip.txt"),
    ),
    (
        "pacing_tip.html",
        include_str!("../templates/pacing_tip.html"),
    ),
    (
        "escalation.subject",
        include_str!("../templates/escalation.subject"),
    ),
    (
        "escalation.txt",
        include_str!("../templates/escalation.txt"),
    ),
    (
        "escalation.html",
        include_str!("../templates/escalation.html"),
    ),
    (
        "digest.subject",
        include_str!("../templates/digest.subject"),
    ),
    ("digest.txt", include_str!("../templates/digest.txt")),
    (
        "escalation_reminder.subject",
        include_str!("../templates/escalation_reminder.subject"),
    ),
    (
        "escalation_reminder.txt",
        include_str!("../templates/escalation_reminder.txt"),
    ),
    (
        "escalation_reminder.html",
        include_str!("../templates/escalation_reminder.html"),
    ),
    (
        "escalation_resolved.subject",
        include_str!("../templates/escalation_resolved.subject"),
    ),
    (
        "escalation_resolved.txt",
        include_str!("../templates/escalation_resolved.txt"),
    ),
    (
        "escalation_resolved.html",
        include_str!("../templates/escalation_resolved.html"),
    ),
    ("digest.html", include_str!("../templates/digest.html")),
];

/// The three parts every template has.
const PARTS: [&str; 3] = ["subject", "txt", "html"];

/// Template and composition failures.
#[derive(Debug, thiserror::Error)]
pub enum EmailError {
    /// A template does not parse or does not render.
    #[error("template {name}: {source}")]
    Template {
        /// The template file's name, e.g. `welcome.txt`.
        name: String,
        /// What minijinja reported.
        source: minijinja::Error,
    },
    /// The override directory cannot be read.
    #[error("template directory {dir}: {message}")]
    Directory {
        /// The directory.
        dir: String,
        /// What went wrong reading it.
        message: String,
    },
    /// A playbook step names a template that lacks one of its parts.
    #[error("step {step:?} uses template {template:?}, which has no {part} part")]
    Missing {
        /// The step's id.
        step: String,
        /// The template it uses.
        template: String,
        /// The missing part: `subject`, `txt` or `html`.
        part: String,
    },
    /// The recipient's address is not an email address.
    #[error("address: {0}")]
    Address(String),
    /// lettre could not build the message.
    #[error("building the message: {0}")]
    Build(String),
}

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
        for (name, source) in BUILT_IN {
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

    /// Checks that every step of the playbook, and each of the escalation's
    /// notices, has all its template parts.
    pub fn check(&self, playbook: &Playbook) -> Result<(), EmailError> {
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
        let all: std::collections::BTreeSet<&str> =
            self.env.templates().map(|(name, _)| name).collect();
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

    /// Renders the three parts of `template` for `ctx`; the subject is folded to one line.
    pub fn render_parts<C: Serialize>(
        &self,
        template: &str,
        ctx: &C,
    ) -> Result<Rendered, EmailError> {
        let subject = self.render(&format!("{template}.subject"), ctx)?;
        // A subject is one line, whatever a template or a name put in it.
        let subject = subject.split_whitespace().collect::<Vec<_>>().join(" ");
        let text = self.render(&format!("{template}.txt"), ctx)?;
        let html = self.render(&format!("{template}.html"), ctx)?;
        Ok(Rendered {
            subject,
            text,
            html,
        })
    }

    fn render<C: Serialize>(&self, name: &str, ctx: &C) -> Result<String, EmailError> {
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

/// A person as templates see them.
#[derive(Debug, Clone, Serialize)]
pub struct PersonView {
    /// `mentor`, `mentee` or `coordinator`.
    pub role: &'static str,
    /// Display name.
    pub name: String,
    /// Email address.
    pub email: String,
    /// IANA time zone name (`UTC` for a coordinator without one).
    pub timezone: String,
    /// e.g. `Tuesday 09:15 (UTC+09:00)` at the moment of sending.
    pub local_time: String,
}

/// Counts of one interaction kind, by side.
#[derive(Debug, Clone, Serialize)]
pub struct KindView {
    /// The interaction kind, as named in events (`message`, `call`, ...).
    pub kind: &'static str,
    /// How many the mentor recorded.
    pub mentor: u32,
    /// How many the mentee recorded.
    pub mentee: u32,
}

/// Everything a template may use.
#[derive(Debug, Clone, Serialize)]
pub struct Context {
    /// The step's id.
    pub step: String,
    /// The pair's id.
    pub mentorship_id: String,
    /// The program, if the start event named one.
    pub program_id: Option<String>,
    /// Whom this email goes to.
    pub recipient: PersonView,
    /// The other side of the pair (the mentee, for the coordinator).
    pub other: PersonView,
    /// The mentor.
    pub mentor: PersonView,
    /// The mentee.
    pub mentee: PersonView,
    /// Mentor and mentee are six hours or more apart, so async may suit them better.
    pub far_apart: bool,
    /// Hours between the mentor's and the mentee's clocks at the moment of sending.
    pub hours_apart: HoursApart,
    /// Program day the step is judged on (0-based from the start).
    pub day: i64,
    /// The pair's interactions as of the due time.
    pub summary: Summary,
    /// A plan or goals were shared by the due time.
    pub has_plan: bool,
    /// Both sides interacted by the due time.
    pub two_way: bool,
    /// Interaction counts by side for each kind that occurred, in name order.
    pub kinds: Vec<KindView>,
    /// When the latest interaction occurred (`YYYY-MM-DD HH:MM UTC`), if any.
    pub last_activity: Option<String>,
    /// Why the step fired, in words (escalations show these).
    pub reasons: Vec<String>,
    /// Links into `firstweek-web` (none without `FIRSTWEEK_PUBLIC_URL`).
    pub links: Links,
    /// The recipient's next two local mornings beside the other person's
    /// clock at the same instant (for mentor and mentee; empty for the coordinator).
    pub mornings: Vec<crate::timeline::Morning>,
}

/// Links an email may carry; each is a random, expiring token of one purpose.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Links {
    /// Opens a page that acknowledges the escalation (with a button: a GET changes nothing).
    pub acknowledge: Option<String>,
    /// The coordinator's page of their pairs.
    pub page: Option<String>,
    /// "We've been in touch": records a message of the recipient's side.
    pub in_touch: Option<String>,
    /// "We have a plan": records a plan of the recipient's side.
    pub have_plan: Option<String>,
    /// Stops firstweek's emails to the recipient (`List-Unsubscribe`, RFC 8058).
    pub unsubscribe: Option<String>,
}

fn local_time(tz_name: &str, at: DateTime<Utc>) -> String {
    match tz_name.parse::<Tz>() {
        Ok(tz) => at
            .with_timezone(&tz)
            .format("%A %H:%M (UTC%:z)")
            .to_string(),
        Err(_) => at.format("%A %H:%M UTC").to_string(),
    }
}

fn offset_minutes(tz_name: &str, at: DateTime<Utc>) -> i64 {
    use chrono::Offset;
    tz_name
        .parse::<Tz>()
        .map(|tz| i64::from(at.with_timezone(&tz).offset().fix().local_minus_utc()) / 60)
        .unwrap_or(0)
}

/// How far apart two clocks are, in minutes: the circular difference of their
/// UTC offsets, so UTC+14 and UTC-10 (the same time of day, a date apart) are
/// 0 apart and +5:30 and UTC are 330. Shown in templates in hours: a whole
/// number (`8`) when whole, else a decimal (`5.5`, `6.75`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HoursApart {
    /// The difference in minutes, 0 to 720.
    pub minutes: i64,
}

impl HoursApart {
    /// The circular difference between two UTC offsets given in minutes.
    pub fn between(a_minutes: i64, b_minutes: i64) -> HoursApart {
        let d = (a_minutes - b_minutes).rem_euclid(24 * 60);
        HoursApart {
            minutes: d.min(24 * 60 - d),
        }
    }
}

impl Serialize for HoursApart {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.minutes % 60 == 0 {
            s.serialize_i64(self.minutes / 60)
        } else {
            s.serialize_f64(self.minutes as f64 / 60.0)
        }
    }
}

fn person_view(role: &'static str, p: &Person, now: DateTime<Utc>) -> PersonView {
    PersonView {
        role,
        name: p.name.clone(),
        email: p.email.clone(),
        timezone: p.timezone.clone(),
        local_time: local_time(&p.timezone, now),
    }
}

/// Words for a condition that fired.
pub fn reason_text(c: Condition, s: &Summary, min_interactions: u32) -> String {
    match c {
        Condition::Always => "scheduled for every pair".into(),
        Condition::NoTwoWay => "mentor and mentee have not both interacted yet".into(),
        Condition::NoPlan => "no plan or goals shared yet".into(),
        Condition::NoInteraction => "no interaction at all".into(),
        Condition::LowInteraction => format!(
            "low interaction: {} (fewer than {min_interactions})",
            s.total
        ),
        Condition::OneSided => {
            let side = if s.mentee == 0 { "mentor" } else { "mentee" };
            format!("one-sided: only the {side} has interacted")
        }
    }
}

impl Context {
    /// The context of one step for one recipient.
    // Every argument is a distinct input of the template context; a builder would add nothing.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        started: &MentorshipStarted,
        step: &str,
        recipient: Recipient,
        due_at: DateTime<Utc>,
        scale: crate::timeline::TimeScale,
        summary: Summary,
        reasons: Vec<String>,
        now: DateTime<Utc>,
    ) -> Context {
        let mentor = person_view("mentor", &started.mentor, now);
        let mentee = person_view("mentee", &started.mentee, now);
        let coordinator = PersonView {
            role: "coordinator",
            name: started.coordinator.name.clone(),
            email: started.coordinator.email.clone(),
            timezone: started
                .coordinator
                .timezone
                .clone()
                .unwrap_or_else(|| "UTC".into()),
            local_time: local_time(
                started.coordinator.timezone.as_deref().unwrap_or("UTC"),
                now,
            ),
        };
        let (me, other) = match recipient {
            Recipient::Mentor => (mentor.clone(), mentee.clone()),
            Recipient::Mentee => (mentee.clone(), mentor.clone()),
            Recipient::Coordinator => (coordinator, mentee.clone()),
        };
        let hours_apart = HoursApart::between(
            offset_minutes(&started.mentor.timezone, now),
            offset_minutes(&started.mentee.timezone, now),
        );
        let day = crate::timeline::program_day(started.started_at, due_at, scale);
        let zone = |name: &str| name.parse::<Tz>().ok();
        let mornings = match (zone(&me.timezone), zone(&other.timezone), recipient) {
            (Some(mine), Some(theirs), Recipient::Mentor | Recipient::Mentee) => {
                crate::timeline::next_mornings(mine, theirs, now, 2)
            }
            _ => Vec::new(),
        };
        let kinds = summary
            .by_kind
            .iter()
            .map(|(kind, (m, e))| KindView {
                kind,
                mentor: *m,
                mentee: *e,
            })
            .collect();
        let last_activity = summary
            .last_activity
            .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string());
        Context {
            step: step.to_string(),
            mentorship_id: started.mentorship_id.clone(),
            program_id: started.program_id.clone(),
            recipient: me,
            other,
            mentor,
            mentee,
            far_apart: hours_apart.minutes >= 6 * 60,
            hours_apart,
            day,
            has_plan: summary.has_plan(),
            two_way: summary.two_way(),
            summary,
            kinds,
            last_activity,
            reasons,
            links: Links::default(),
            mornings,
        }
    }

    /// The same context with these links.
    pub fn with_links(mut self, links: Links) -> Context {
        self.links = links;
        self
    }
}

/// The stable Message-ID of (pair, once-key, recipient): a repeat is recognisable downstream.
pub fn message_id(
    mentorship_id: &str,
    once_key: &str,
    recipient: Recipient,
    domain: &str,
) -> String {
    let mut h = Sha256::new();
    for part in [mentorship_id, once_key, recipient.as_str()] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    let digest = h.finalize();
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("<{hex}.{once_key}@{domain}>")
}

/// A composed email and its identity.
#[derive(Debug, Clone)]
pub struct Composed {
    /// The built multipart message, ready to send.
    pub message: Message,
    /// Its Message-ID, angle brackets included.
    pub message_id: String,
    /// The recipient's address.
    pub to: Address,
}

/// The Subject header. lettre writes a word of printable ASCII as it is, so
/// a name that is itself an RFC 2047 encoded word (`=?utf-8?q?...?=`) would
/// be decoded by the reader's mail client into whatever it hides (CR/LF, a
/// `Bcc:`, another address). A subject holding `=?` is therefore encoded
/// whole, so a client decodes it back to the literal text. (Display names
/// need nothing: lettre encodes any name holding `=` or `?` whole.)
fn subject_header(subject: String) -> HeaderValue {
    let name = HeaderName::new_from_ascii_str("Subject");
    if !subject.contains("=?") {
        return HeaderValue::new(name, subject);
    }
    let encoded = encoded_words(&subject);
    HeaderValue::dangerous_new_pre_encoded(name, subject, encoded)
}

/// `text` as RFC 2047 Q-encoded words (`=?utf-8?q?...?=`), folded onto
/// continuation lines. Only ASCII letters and digits stay as they are, so no
/// `?=`, CR, LF or `:` of the text survives unencoded; a word never splits a
/// character and stays under 75 characters.
fn encoded_words(text: &str) -> String {
    const PAYLOAD: usize = 45;
    let mut words = Vec::new();
    let mut word = String::new();
    for c in text.chars() {
        let mut piece = String::new();
        if c.is_ascii_alphanumeric() {
            piece.push(c);
        } else if c == ' ' {
            piece.push('_');
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                piece.push_str(&format!("={b:02X}"));
            }
        }
        if word.len() + piece.len() > PAYLOAD {
            words.push(std::mem::take(&mut word));
        }
        word.push_str(&piece);
    }
    words.push(word);
    words
        .iter()
        .map(|w| format!("=?utf-8?q?{w}?="))
        .collect::<Vec<_>>()
        .join("\r\n ")
}

/// `text` with every email address in it replaced by `<address>`, for log
/// lines and dead-letter reasons (an SMTP reply often quotes the recipient:
/// `550 5.1.1 <bo@example.org>: no such user`). An address here is a run of
/// local-part characters, `@`, and a domain with a dot.
pub fn without_addresses(text: &str) -> String {
    // Not `=`: in a `key=value` log field it separates, it does not belong.
    let local = |c: char| c.is_alphanumeric() || "._%+-!#$&'*/?^`{|}~".contains(c);
    let domain = |c: char| c.is_alphanumeric() || c == '.' || c == '-';
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '@' {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let mut start = out.len();
        for (at, c) in out.char_indices().rev() {
            if !local(c) {
                break;
            }
            start = at;
        }
        let mut end = i + 1;
        while end < chars.len() && domain(chars[end]) {
            end += 1;
        }
        let host: String = chars[i + 1..end].iter().collect();
        let host = host.trim_end_matches(['.', '-']);
        if start < out.len() && host.contains('.') && !host.starts_with('.') {
            out.truncate(start);
            out.push_str("<address>");
            i += 1 + host.chars().count();
        } else {
            out.push('@');
            i += 1;
        }
    }
    out
}

/// Header names of the email contract.
pub const STEP_HEADER: &str = "X-Firstweek-Step";
/// Header naming the pair.
pub const MENTORSHIP_HEADER: &str = "X-Firstweek-Mentorship";

/// Renders and builds one email.
pub fn compose(
    templates: &Templates,
    template: &str,
    ctx: &Context,
    from: &Mailbox,
    to_name: &str,
    to_email: &str,
    message_id: String,
) -> Result<Composed, EmailError> {
    let headers = (ctx.step.as_str(), ctx.mentorship_id.as_str());
    let mut composed = compose_any(
        templates, template, ctx, headers, from, to_name, to_email, message_id,
    )?;
    // Only mentors and mentees may unsubscribe: a coordinator's emails never
    // carry the headers (and are never suppressed).
    if let (Some(url), "mentor" | "mentee") = (&ctx.links.unsubscribe, ctx.recipient.role) {
        let headers = composed.message.headers_mut();
        headers.insert_raw(HeaderValue::new(
            HeaderName::new_from_ascii_str("List-Unsubscribe"),
            format!("<{url}>"),
        ));
        headers.insert_raw(HeaderValue::new(
            HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
            "List-Unsubscribe=One-Click".to_string(),
        ));
    }
    Ok(composed)
}

/// Renders and builds one email from any template context; `headers` are the
/// values of `X-Firstweek-Step` and `X-Firstweek-Mentorship`.
#[allow(clippy::too_many_arguments)]
pub fn compose_any<C: Serialize>(
    templates: &Templates,
    template: &str,
    ctx: &C,
    headers: (&str, &str),
    from: &Mailbox,
    to_name: &str,
    to_email: &str,
    message_id: String,
) -> Result<Composed, EmailError> {
    let Rendered {
        subject,
        text,
        html,
    } = templates.render_parts(template, ctx)?;
    let to: Address = to_email
        .parse()
        .map_err(|e| EmailError::Address(format!("{e}")))?;
    // Intake refuses control characters in names; this keeps a header safe even so.
    let to_name: String = to_name
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let mailbox = Mailbox::new(Some(to_name), to.clone());
    let mut builder = Message::builder()
        .from(from.clone())
        .to(mailbox)
        .raw_header(subject_header(subject))
        .message_id(Some(message_id.clone()));
    // Step ids and mentorship ids are validated as printable without spaces;
    // lettre still encodes the values, so nothing can break out of the header.
    builder = builder
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str(STEP_HEADER),
            headers.0.to_string(),
        ))
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str(MENTORSHIP_HEADER),
            headers.1.to_string(),
        ));
    let message = builder
        .multipart(MultiPart::alternative_plain_html(text, html))
        .map_err(|e| EmailError::Build(e.to_string()))?;
    Ok(Composed {
        message,
        message_id,
        to,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Coordinator;

    fn pair(mentor_name: &str) -> MentorshipStarted {
        MentorshipStarted {
            event_id: "e".into(),
            mentorship_id: "m-42".into(),
            program_id: Some("spring".into()),
            started_at: "2026-11-23T09:00:00Z".parse().unwrap(),
            mentor: Person {
                id: "a".into(),
                name: mentor_name.into(),
                email: "ada@example.org".into(),
                timezone: "Europe/Berlin".into(),
            },
            mentee: Person {
                id: "b".into(),
                name: "Bo <b>".into(),
                email: "bo@example.org".into(),
                timezone: "Asia/Tokyo".into(),
            },
            coordinator: Coordinator {
                name: "Cy".into(),
                email: "cy@example.org".into(),
                timezone: None,
            },
        }
    }

    fn render(step: &str, template: &str, r: Recipient, mentor_name: &str) -> String {
        let t = Templates::built_in().unwrap();
        let now: DateTime<Utc> = "2026-11-24T10:00:00Z".parse().unwrap();
        let p = pair(mentor_name);
        let ctx = Context::new(
            &p,
            step,
            r,
            now,
            crate::timeline::TimeScale::REAL,
            Summary::default(),
            vec!["no interaction at all".into()],
            now,
        );
        let from: Mailbox = "firstweek <fw@example.org>".parse().unwrap();
        let (name, email) = match r {
            Recipient::Mentor => (p.mentor.name.clone(), p.mentor.email.clone()),
            Recipient::Mentee => (p.mentee.name.clone(), p.mentee.email.clone()),
            Recipient::Coordinator => (p.coordinator.name.clone(), p.coordinator.email.clone()),
        };
        let id = message_id(&p.mentorship_id, step, r, "example.org");
        let c = compose(&t, template, &ctx, &from, &name, &email, id).unwrap();
        String::from_utf8(c.message.formatted()).unwrap()
    }

    #[test]
    fn every_built_in_template_renders_for_every_recipient() {
        let p = Playbook::built_in();
        for step in &p.steps {
            for r in [Recipient::Mentor, Recipient::Mentee, Recipient::Coordinator] {
                let raw = render(&step.id, &step.template, r, "Ada");
                assert!(raw.contains(&format!("X-Firstweek-Step: {}", step.id)));
            }
        }
    }

    #[test]
    fn template_names_are_those_with_all_three_parts() {
        let names = Templates::built_in().unwrap().names();
        for step in &Playbook::built_in().steps {
            assert!(
                names.contains(&step.template),
                "{} in {names:?}",
                step.template
            );
        }
        assert!(
            !names.iter().any(|n| n == "base"),
            "base.html alone is not one"
        );
        assert!(names.windows(2).all(|w| w[0] < w[1]), "sorted: {names:?}");
    }

    #[test]
    fn every_built_in_step_has_its_templates() {
        Templates::built_in()
            .unwrap()
            .check(&Playbook::built_in())
            .unwrap();
    }

    #[test]
    fn the_welcome_tells_the_other_persons_local_time_and_the_contract_headers() {
        let raw = render("welcome", "welcome", Recipient::Mentee, "Ada");
        assert!(raw.contains("X-Firstweek-Step: welcome"), "{raw}");
        assert!(raw.contains("X-Firstweek-Mentorship: m-42"));
        assert!(raw.contains("Message-ID: <"));
        assert!(raw.contains("multipart/alternative"));
        assert!(
            raw.contains("Tuesday 11:00 (UTC+01:00)"),
            "Berlin local time for the mentee: {raw}"
        );
        assert!(
            raw.contains("8 hours apart"),
            "Tokyo and Berlin are far apart: {raw}"
        );
    }

    fn apart(mentor_tz: &str, mentee_tz: &str) -> (String, bool) {
        let mut p = pair("Ada");
        p.mentor.timezone = mentor_tz.into();
        p.mentee.timezone = mentee_tz.into();
        let now: DateTime<Utc> = "2026-11-24T10:00:00Z".parse().unwrap();
        let ctx = Context::new(
            &p,
            "welcome",
            Recipient::Mentor,
            now,
            crate::timeline::TimeScale::REAL,
            Summary::default(),
            vec![],
            now,
        );
        let text = Templates::built_in()
            .unwrap()
            .render("welcome.txt", &ctx)
            .unwrap();
        (text, ctx.far_apart)
    }

    #[test]
    fn hours_apart_is_the_circular_difference_in_minutes() {
        // UTC+14 and UTC-10 show the same clock time (a day apart): 0 hours, not 24.
        let (text, far) = apart("Pacific/Kiritimati", "Pacific/Honolulu");
        assert!(!far, "{text}");
        assert!(!text.contains("hours apart"), "{text}");
        // UTC+13 and UTC-10: 23 hours one way, 1 hour the other.
        let (text, far) = apart("Pacific/Tongatapu", "Pacific/Honolulu");
        assert!(!far, "{text}");
        // India (+5:30) and UTC: 5.5 hours, not 5; Nepal (+5:45) and UTC-1 (Azores in winter): 6.75.
        let (text, far) = apart("Asia/Kolkata", "UTC");
        assert!(!far, "{text}");
        let (text, far) = apart("Asia/Kathmandu", "Atlantic/Azores");
        assert!(far && text.contains("6.75 hours apart"), "{text}");
        let (text, far) = apart("Asia/Kolkata", "Europe/London");
        assert!(!far, "{text}");
        let (text, far) = apart("Asia/Kolkata", "America/Sao_Paulo");
        assert!(far && text.contains("8.5 hours apart"), "{text}");
        // Whole hours stay whole: "8 hours", not "8.0 hours".
        let (text, _) = apart("Europe/Berlin", "Asia/Tokyo");
        assert!(text.contains("You are 8 hours apart"), "{text}");
    }

    #[test]
    fn names_never_break_headers_or_html() {
        let raw = render(
            "welcome",
            "welcome",
            Recipient::Mentor,
            "Ada\r\nBcc: evil@example.org",
        );
        let headers = raw.split("\r\n\r\n").next().unwrap();
        assert!(!headers.contains("\r\nBcc:"), "{headers}");
        assert!(
            raw.contains("Bo &lt;b&gt; is in"),
            "HTML escapes names: {raw}"
        );
        assert!(!raw.contains("<strong>Bo <b>"));
    }

    /// The header block of a formatted message, unfolded: (name, value) per header.
    fn headers_of(raw: &str) -> Vec<(String, String)> {
        let block = raw.split("\r\n\r\n").next().unwrap();
        let mut out: Vec<(String, String)> = Vec::new();
        for line in block.split("\r\n") {
            if line.starts_with([' ', '\t']) {
                out.last_mut().unwrap().1.push_str(line);
            } else {
                let (name, value) = line.split_once(':').expect("a header line has a colon");
                out.push((name.to_string(), value.trim_start().to_string()));
            }
        }
        out
    }

    fn base64_decode(s: &str) -> Vec<u8> {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let (mut bits, mut n, mut out) = (0u32, 0, Vec::new());
        for c in s.bytes().filter(|c| *c != b'=') {
            bits = (bits << 6) | A.iter().position(|a| *a == c).unwrap() as u32;
            n += 6;
            if n >= 8 {
                n -= 8;
                out.push((bits >> n) as u8);
            }
        }
        out
    }

    /// What a lax mail client shows for a header value: quotes dropped, then
    /// every RFC 2047 encoded word decoded wherever it stands (many clients
    /// decode them even inside quoted strings), adjacent words joined.
    fn as_shown(value: &str) -> String {
        let unquoted = value.replace('"', "");
        let mut shown = String::new();
        let mut rest = unquoted.as_str();
        let mut last_was_word = false;
        while let Some(start) = rest.find("=?") {
            let (before, word) = rest.split_at(start);
            let parts: Vec<&str> = word[2..].splitn(3, '?').collect();
            let Some(end) = parts.get(2).and_then(|t| t.find("?=")) else {
                break;
            };
            if !(last_was_word && before.trim().is_empty()) {
                shown.push_str(before);
            }
            let text = &parts[2][..end];
            let bytes = match parts[1] {
                "b" | "B" => base64_decode(text),
                _ => {
                    let mut out = Vec::new();
                    let b = text.as_bytes();
                    let mut i = 0;
                    while i < b.len() {
                        match b[i] {
                            b'_' => out.push(b' '),
                            b'=' => {
                                out.push(u8::from_str_radix(&text[i + 1..i + 3], 16).unwrap());
                                i += 2;
                            }
                            c => out.push(c),
                        }
                        i += 1;
                    }
                    out
                }
            };
            shown.push_str(&String::from_utf8_lossy(&bytes));
            rest = &parts[2][end + 2..];
            last_was_word = true;
        }
        shown.push_str(rest);
        shown
    }

    #[test]
    fn a_name_that_is_an_encoded_word_is_shown_as_the_text_it_is() {
        let spoofs = [
            "=?utf-8?q?Ada=0D=0ABcc:_evil@example.org?=",
            "=?UTF-8?B?QWRhDQpCY2M6IGV2aWxAZXhhbXBsZS5vcmc=?=",
            "Ada =?utf-8?q?=0D=0ATo:_boss@example.org?= Lovelace",
            "=?utf-8?q?ceo@example.org_<ceo@example.org>?=",
        ];
        for name in spoofs {
            // The mentor's own email: the name is the To display name.
            let raw = render("welcome", "welcome", Recipient::Mentor, name);
            let headers = headers_of(&raw);
            let names: Vec<&str> = headers.iter().map(|(n, _)| n.as_str()).collect();
            for one in ["To", "Subject", "From"] {
                assert_eq!(
                    names.iter().filter(|n| **n == one).count(),
                    1,
                    "{one} in {names:?}"
                );
            }
            assert!(
                !names.iter().any(|n| n.eq_ignore_ascii_case("bcc")),
                "{names:?}"
            );
            let to = &headers.iter().find(|(n, _)| n == "To").unwrap().1;
            let shown = as_shown(to);
            assert_eq!(shown, format!("{name} <ada@example.org>"), "To: {to}");
            assert!(!shown.contains(['\r', '\n']));

            // The mentee's email names the mentor in its subject.
            let raw = render("welcome", "welcome", Recipient::Mentee, name);
            let headers = headers_of(&raw);
            let subject = &headers.iter().find(|(n, _)| n == "Subject").unwrap().1;
            assert_eq!(
                as_shown(subject),
                format!("Meet {name}: your first week starts now"),
                "Subject: {subject}"
            );
            let to = &headers.iter().find(|(n, _)| n == "To").unwrap().1;
            assert_eq!(as_shown(to), "\"Bo <b>\" <bo@example.org>".replace('"', ""));
        }
    }

    #[test]
    fn addresses_are_taken_out_of_log_and_reason_text() {
        assert_eq!(
            without_addresses("550 5.1.1 <bo.mentee+x@mail.example.org>: no such user"),
            "550 5.1.1 <<address>>: no such user"
        );
        assert_eq!(
            without_addresses("to ada@example.org, cy@example.co.uk."),
            "to <address>, <address>."
        );
        assert_eq!(
            without_addresses("Grüße an zoë@bücher.de"),
            "Grüße an <address>"
        );
        // Not addresses: left alone.
        for text in ["no @ here", "user@localhost", "@example.org", "a@.b", "x@"] {
            assert_eq!(without_addresses(text), text);
        }
    }

    #[test]
    fn message_ids_are_stable_per_pair_step_and_recipient() {
        let a = message_id("m", "welcome", Recipient::Mentor, "x.org");
        assert_eq!(a, message_id("m", "welcome", Recipient::Mentor, "x.org"));
        assert_ne!(a, message_id("m", "welcome", Recipient::Mentee, "x.org"));
        assert_ne!(a, message_id("n", "welcome", Recipient::Mentor, "x.org"));
    }

    #[test]
    fn an_override_replaces_a_template_and_a_broken_one_is_refused() {
        let subject = (
            "welcome.subject".to_string(),
            "Hello from {{ program_id }}".to_string(),
        );
        let t = Templates::from_sources([subject.clone()]).unwrap();
        let now = Utc::now();
        let ctx = Context::new(
            &pair("Ada"),
            "welcome",
            Recipient::Mentor,
            now,
            crate::timeline::TimeScale::REAL,
            Summary::default(),
            vec![],
            now,
        );
        assert_eq!(
            t.render("welcome.subject", &ctx).unwrap(),
            "Hello from spring"
        );
        let broken = ("welcome.txt".to_string(), "{% if %}".to_string());
        assert!(matches!(
            Templates::from_sources([subject, broken]),
            Err(EmailError::Template { name, .. }) if name == "welcome.txt"
        ));
        assert!(Templates::is_part("welcome.html") && !Templates::is_part("notes.md"));
    }
}
