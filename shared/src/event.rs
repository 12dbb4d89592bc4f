//! The public event contract: what other services publish to the `firstweek`
//! exchange, parsed and validated before anything is stored.
//!
//! Parsing is strict on purpose: an event that does not match the contract is
//! refused with a reason that names the field, so its publisher can fix it.

pub mod json;
pub mod tag;

use std::fmt;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// Largest accepted body, as the contract says.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Longest accepted id (`event_id`, `mentorship_id`, person ids).
pub const MAX_ID_CHARS: usize = 128;
/// Longest accepted free text (names, reasons).
pub const MAX_TEXT_CHARS: usize = 200;
/// Events further than this from now are refused as implausible (a clock bug upstream).
pub const MAX_SKEW_DAYS: i64 = 366;
/// An interaction or an ending reports what happened: one more than this many
/// hours ahead of now is refused (a typo in the year, a month or a day). Two
/// days absorb a publisher's clock running fast and a wrong UTC offset (at
/// most 26 hours apart) without letting a week's worth of future activity in.
pub const MAX_HAPPENED_AHEAD_HOURS: i64 = 48;
/// A start may be announced ahead of the day it happens, up to this many days;
/// further ahead is refused (a typo in the year or the month).
pub const MAX_START_AHEAD_DAYS: i64 = 31;

/// Routing key of [`Event::Started`].
pub const MENTORSHIP_STARTED: &str = "mentorship.started";
/// Routing key of [`Event::Interaction`].
pub const INTERACTION_RECORDED: &str = "interaction.recorded";
/// Routing key of [`Event::Ended`].
pub const MENTORSHIP_ENDED: &str = "mentorship.ended";
/// Routing key of [`ParticipantUnsubscribed`].
pub const PARTICIPANT_UNSUBSCRIBED: &str = "participant.unsubscribed";
/// Routing key of [`PersonErased`].
pub const PERSON_ERASED: &str = "person.erased";
/// Longest accepted `person_id` of [`PersonErased`]: it may be an address.
pub const MAX_ERASED_ID_CHARS: usize = 254;
/// Routing key of [`Event::Outcome`].
pub const MENTORSHIP_OUTCOME: &str = "mentorship.outcome";
/// Published by firstweek when a pair's escalation opens.
pub const ESCALATION_OPENED: &str = "escalation.opened";
/// Published by firstweek when a coordinator acknowledges an escalation.
pub const ESCALATION_ACKNOWLEDGED: &str = "escalation.acknowledged";
/// Published by firstweek when an escalation is resolved.
pub const ESCALATION_RESOLVED: &str = "escalation.resolved";

/// Published by firstweek when the SMTP server accepted one of its emails.
pub const EMAIL_SENT: &str = "email.sent";
/// Published by firstweek when one of its emails was given up on.
pub const EMAIL_FAILED: &str = "email.failed";
/// Published by firstweek when nobody can know whether an email arrived (the
/// worker stopped while handing it over).
pub const EMAIL_UNKNOWN: &str = "email.unknown";

/// Every routing key firstweek itself publishes (through the outbox): its
/// escalations, what mentors and mentees do through their links, and what
/// became of each email to a pair. The outbox refuses any other (its
/// `outbox_announced_keys` CHECK, last listed in migration `webhooks`) and
/// the relay skips one, so a row written there cannot make firstweek
/// announce a start.
pub const ANNOUNCED: [&str; 8] = [
    ESCALATION_OPENED,
    ESCALATION_ACKNOWLEDGED,
    ESCALATION_RESOLVED,
    INTERACTION_RECORDED,
    PARTICIPANT_UNSUBSCRIBED,
    EMAIL_SENT,
    EMAIL_FAILED,
    EMAIL_UNKNOWN,
];

/// The events a webhook endpoint may subscribe to (`firstweek webhook add
/// --events`): firstweek's announcements about a program's pairs, as the
/// exchange carries them.
pub const WEBHOOK_EVENTS: [&str; 7] = [
    ESCALATION_OPENED,
    ESCALATION_ACKNOWLEDGED,
    ESCALATION_RESOLVED,
    PARTICIPANT_UNSUBSCRIBED,
    EMAIL_SENT,
    EMAIL_FAILED,
    EMAIL_UNKNOWN,
];

/// Whether a routing key is one of firstweek's own announcements: they
/// travel on the same exchange as its inputs (and so reach its own events
/// queue, bound with `#`), and are not input to it.
pub fn is_announcement(routing_key: &str) -> bool {
    [
        ESCALATION_OPENED,
        ESCALATION_ACKNOWLEDGED,
        ESCALATION_RESOLVED,
        EMAIL_SENT,
        EMAIL_FAILED,
        EMAIL_UNKNOWN,
    ]
    .contains(&routing_key)
}

/// Why an event was refused. The text goes to the `x-firstweek-error` header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidEvent {
    /// The body is larger than [`MAX_BODY_BYTES`]; carries its size.
    #[error("body is {0} bytes, larger than the 65536 allowed")]
    TooLarge(usize),
    /// The body is not UTF-8 text.
    #[error("body is not UTF-8")]
    NotUtf8,
    /// The routing key is none of the contract's three (clipped).
    #[error("unknown routing key {0:?}")]
    UnknownRoutingKey(String),
    /// The message's content type is set and is not `application/json` (clipped).
    #[error("content type {0:?} is not application/json")]
    ContentType(String),
    /// The body is not JSON of the event's shape: syntax, a missing, unknown or mistyped field.
    #[error("invalid JSON: {0}")]
    Json(String),
    /// A field parsed but its value breaks the contract.
    #[error("field `{field}`: {problem}")]
    Field {
        /// The field's path, e.g. `mentor.email`.
        field: String,
        /// What is wrong with its value.
        problem: String,
    },
}

impl InvalidEvent {
    fn field(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Self::Field {
            field: field.into(),
            problem: problem.into(),
        }
    }

    /// A short, stable label for metrics (`reason` label).
    pub fn label(&self) -> &'static str {
        match self {
            Self::TooLarge(_) => "too_large",
            Self::NotUtf8 => "not_utf8",
            Self::UnknownRoutingKey(_) => "unknown_routing_key",
            Self::ContentType(_) => "content_type",
            Self::Json(_) => "invalid_json",
            Self::Field { .. } => "invalid_field",
        }
    }
}

/// Which side of the pair did something.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Actor {
    /// The mentor (`mentor`).
    Mentor,
    /// The mentee (`mentee`).
    Mentee,
}

impl Actor {
    /// The name used in events, storage and templates.
    pub fn as_str(self) -> &'static str {
        match self {
            Actor::Mentor => "mentor",
            Actor::Mentee => "mentee",
        }
    }

    /// Parses a stored actor.
    pub fn parse(s: &str) -> Option<Self> {
        [Actor::Mentor, Actor::Mentee]
            .into_iter()
            .find(|a| a.as_str() == s)
    }
}

/// What kind of interaction happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InteractionKind {
    /// A message sent (`message`).
    Message,
    /// A call (`call`).
    Call,
    /// A meeting (`meeting`).
    Meeting,
    /// A plan was shared (`plan_shared`); counts as a plan.
    PlanShared,
    /// Goals were set (`goal_set`); counts as a plan.
    GoalSet,
    /// A working session (`session`); 120+ minutes in week one is an intense start.
    Session,
    /// A deliverable was asked for (`deliverable_requested`); in week one, an intense start.
    DeliverableRequested,
}

impl InteractionKind {
    /// Every kind, in the contract's order.
    pub const ALL: [InteractionKind; 7] = [
        Self::Message,
        Self::Call,
        Self::Meeting,
        Self::PlanShared,
        Self::GoalSet,
        Self::Session,
        Self::DeliverableRequested,
    ];

    /// The name used in events and storage.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Message => "message",
            Self::Call => "call",
            Self::Meeting => "meeting",
            Self::PlanShared => "plan_shared",
            Self::GoalSet => "goal_set",
            Self::Session => "session",
            Self::DeliverableRequested => "deliverable_requested",
        }
    }

    /// Parses a stored kind.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The kind in words, as emails and pages write it.
    pub fn words(self) -> &'static str {
        match self {
            Self::Message => "message",
            Self::Call => "call",
            Self::Meeting => "meeting",
            Self::PlanShared => "plan shared",
            Self::GoalSet => "goals set",
            Self::Session => "session",
            Self::DeliverableRequested => "deliverable requested",
        }
    }

    /// A plan or goals were put in writing.
    pub fn is_plan(self) -> bool {
        matches!(self, Self::PlanShared | Self::GoalSet)
    }
}

/// How a pair is doing, as its program judges it some time after the first week.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Going well (`thriving`).
    Thriving,
    /// Still meeting, nothing remarkable (`continuing`).
    Continuing,
    /// Still on, with trouble (`struggling`).
    Struggling,
    /// Over (`ended`), whatever the reason.
    Ended,
}

impl Outcome {
    /// Every outcome, best first (the report's column order).
    pub const ALL: [Outcome; 4] = [
        Outcome::Thriving,
        Outcome::Continuing,
        Outcome::Struggling,
        Outcome::Ended,
    ];

    /// The name used in events, storage and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Thriving => "thriving",
            Outcome::Continuing => "continuing",
            Outcome::Struggling => "struggling",
            Outcome::Ended => "ended",
        }
    }

    /// Parses a stored outcome.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for InteractionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A mentor or mentee.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Person {
    /// The person's id (1 to 128 characters, no whitespace).
    pub id: String,
    /// Display name (1 to 200 characters, no control characters).
    pub name: String,
    /// Email address.
    pub email: String,
    /// IANA time zone name, e.g. `Europe/Berlin`.
    pub timezone: String,
    /// Optional BCP 47 language tag (`de-AT`, `es`, `en-GB`): the language
    /// of their emails and pages (see `docs/locales.md`); without one, English.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
}

/// The program's coordinator, who receives escalations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Coordinator {
    /// Display name (1 to 200 characters, no control characters).
    pub name: String,
    /// Email address escalations and digests go to.
    pub email: String,
    /// Optional IANA time zone: the daily digest goes out at the playbook's
    /// `digest_at` in it, and the coordinator's emails wait for their send
    /// window in it. Without one: digests at `digest_at` UTC, and no window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// Optional BCP 47 language tag: the language of their escalations,
    /// digests and pages; without one, English.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
}

/// `mentorship.started`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MentorshipStarted {
    /// Unique per event; an event seen twice counts once.
    pub event_id: String,
    /// The pair; another start for a known pair (a new `event_id`) corrects
    /// its people for the emails not sent yet, and nothing else.
    pub mentorship_id: String,
    /// The program the pair belongs to, if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub program_id: Option<String>,
    /// When the pair started; the playbook's offsets count from here.
    pub started_at: DateTime<Utc>,
    /// The mentor.
    pub mentor: Person,
    /// The mentee; their email must differ from the mentor's.
    pub mentee: Person,
    /// Who receives the pair's escalations.
    pub coordinator: Coordinator,
}

/// `interaction.recorded`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InteractionRecorded {
    /// Unique per event; an event seen twice counts once.
    pub event_id: String,
    /// The pair; an interaction that arrives before its start is kept.
    pub mentorship_id: String,
    /// What kind of interaction happened.
    pub kind: InteractionKind,
    /// Who did it; the event counts as one interaction of this side.
    pub actor: Actor,
    /// When it happened (not when it was published): conditions are judged on this.
    pub occurred_at: DateTime<Utc>,
    /// Length of a call, meeting or session, if given; at most a day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_minutes: Option<u32>,
}

/// `mentorship.ended`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MentorshipEnded {
    /// Unique per event; an event seen twice counts once.
    pub event_id: String,
    /// The pair; its pending steps are cancelled.
    pub mentorship_id: String,
    /// When it ended.
    pub ended_at: DateTime<Utc>,
    /// Why it ended, in free text, if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `participant.unsubscribed`: a mentor or mentee wants no more email from
/// firstweek (their program's preference center says so, or they used the
/// link in an email). Their pairs are still watched and escalated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParticipantUnsubscribed {
    /// Unique per event; an event seen twice counts once.
    pub event_id: String,
    /// The person: the `id` of a mentor or mentee in `mentorship.started`.
    pub person_id: String,
    /// When they unsubscribed.
    pub unsubscribed_at: DateTime<Utc>,
}

/// `person.erased`: forget a person. No more email to them; their name,
/// address and time zone are replaced in every pair they are part of (the
/// pairs' counts stay), and the dead letters mentioning them are removed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersonErased {
    /// Unique per event; an event seen twice counts once.
    pub event_id: String,
    /// The person: the `id` of a mentor or mentee in `mentorship.started`,
    /// or an address (a coordinator's, or a mentor's or mentee's).
    pub person_id: String,
}

/// Lowest and highest `rating` of a [`MentorshipOutcome`].
pub const RATING_RANGE: std::ops::RangeInclusive<u8> = 1..=5;

/// `mentorship.outcome`: how a pair is doing later. A program may record it
/// as often as it likes; the one with the latest `recorded_at` counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MentorshipOutcome {
    /// Unique per event; an event seen twice counts once.
    pub event_id: String,
    /// The pair; an outcome that arrives before its start is kept.
    pub mentorship_id: String,
    /// How the pair is doing.
    pub outcome: Outcome,
    /// A rating from 1 (poor) to 5 (excellent), if the program asks for one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rating: Option<u8>,
    /// When the program judged it; the latest one counts.
    pub recorded_at: DateTime<Utc>,
}

/// An event firstweek publishes on its exchange, as its outbox holds it
/// (`escalation.*`; an answer's `interaction.recorded`; a
/// `participant.unsubscribed` from its link).
#[derive(Debug, Clone, PartialEq)]
pub struct Announcement {
    /// Unique: a repeat is the same event.
    pub event_id: String,
    /// Where it goes on the exchange.
    pub routing_key: &'static str,
    /// The JSON body (ids, rules, counts and times; no name, no address).
    pub payload: serde_json::Value,
}

impl Event {
    /// This event as firstweek announces it on its own exchange.
    pub fn announcement(&self) -> Announcement {
        Announcement {
            event_id: self.event_id().to_string(),
            routing_key: self.routing_key(),
            payload: serde_json::from_slice(&self.to_json()).unwrap_or_default(),
        }
    }
}

/// A validated event of the public contract.
// `Started` is much larger than the others, but boxing it would change the
// public API at every call site that builds or matches an event.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// `mentorship.started`: a pair starts its first week.
    Started(MentorshipStarted),
    /// `interaction.recorded`: mentor or mentee interacted.
    Interaction(InteractionRecorded),
    /// `mentorship.ended`: the pair ended.
    Ended(MentorshipEnded),
    /// `participant.unsubscribed`: a person wants no more email.
    Unsubscribed(ParticipantUnsubscribed),
    /// `person.erased`: forget a person.
    Erased(PersonErased),
    /// `mentorship.outcome`: how the pair is doing later.
    Outcome(MentorshipOutcome),
}

impl Event {
    /// The event's own id (deduplication key).
    pub fn event_id(&self) -> &str {
        match self {
            Event::Started(e) => &e.event_id,
            Event::Interaction(e) => &e.event_id,
            Event::Ended(e) => &e.event_id,
            Event::Unsubscribed(e) => &e.event_id,
            Event::Erased(e) => &e.event_id,
            Event::Outcome(e) => &e.event_id,
        }
    }

    /// The pair the event is about; `None` for an event about a person.
    pub fn mentorship_id(&self) -> Option<&str> {
        match self {
            Event::Started(e) => Some(&e.mentorship_id),
            Event::Interaction(e) => Some(&e.mentorship_id),
            Event::Ended(e) => Some(&e.mentorship_id),
            Event::Outcome(e) => Some(&e.mentorship_id),
            Event::Unsubscribed(_) | Event::Erased(_) => None,
        }
    }

    /// What writers of this event serialise on: its pair, or its person.
    pub fn lock_key(&self) -> &str {
        match self {
            Event::Unsubscribed(e) => &e.person_id,
            Event::Erased(e) => &e.person_id,
            other => other.mentorship_id().unwrap_or_default(),
        }
    }

    /// The routing key this event is published under.
    pub fn routing_key(&self) -> &'static str {
        match self {
            Event::Started(_) => MENTORSHIP_STARTED,
            Event::Interaction(_) => INTERACTION_RECORDED,
            Event::Ended(_) => MENTORSHIP_ENDED,
            Event::Unsubscribed(_) => PARTICIPANT_UNSUBSCRIBED,
            Event::Erased(_) => PERSON_ERASED,
            Event::Outcome(_) => MENTORSHIP_OUTCOME,
        }
    }

    /// The JSON body of this event, as a publisher would send it.
    pub fn to_json(&self) -> Vec<u8> {
        let value = match self {
            Event::Started(e) => serde_json::to_vec(e),
            Event::Interaction(e) => serde_json::to_vec(e),
            Event::Ended(e) => serde_json::to_vec(e),
            Event::Unsubscribed(e) => serde_json::to_vec(e),
            Event::Erased(e) => serde_json::to_vec(e),
            Event::Outcome(e) => serde_json::to_vec(e),
        };
        // Serialising these plain structs cannot fail.
        value.unwrap_or_default()
    }

    /// Parses and validates one message of the contract, as of `now`.
    pub fn parse(
        routing_key: &str,
        content_type: Option<&str>,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Event, InvalidEvent> {
        if body.len() > MAX_BODY_BYTES {
            return Err(InvalidEvent::TooLarge(body.len()));
        }
        if let Some(ct) = content_type {
            let base = ct.split(';').next().unwrap_or("").trim();
            if !base.eq_ignore_ascii_case("application/json") {
                return Err(InvalidEvent::ContentType(clip(ct, 60)));
            }
        }
        let text = std::str::from_utf8(body).map_err(|_| InvalidEvent::NotUtf8)?;
        let event = match routing_key {
            MENTORSHIP_STARTED => Event::Started(from_json(text)?),
            INTERACTION_RECORDED => Event::Interaction(from_json(text)?),
            MENTORSHIP_ENDED => Event::Ended(from_json(text)?),
            PARTICIPANT_UNSUBSCRIBED => Event::Unsubscribed(from_json(text)?),
            PERSON_ERASED => Event::Erased(from_json(text)?),
            MENTORSHIP_OUTCOME => Event::Outcome(from_json(text)?),
            other => return Err(InvalidEvent::UnknownRoutingKey(clip(other, 60))),
        };
        event.validate(now)?;
        Ok(event)
    }

    fn validate(&self, now: DateTime<Utc>) -> Result<(), InvalidEvent> {
        check_id("event_id", self.event_id())?;
        if let Some(id) = self.mentorship_id() {
            check_id("mentorship_id", id)?;
        }
        match self {
            Event::Started(e) => {
                if let Some(p) = &e.program_id {
                    check_id("program_id", p)?;
                }
                check_time(
                    "started_at",
                    e.started_at,
                    now,
                    Duration::days(MAX_START_AHEAD_DAYS),
                )?;
                check_person("mentor", &e.mentor)?;
                check_person("mentee", &e.mentee)?;
                check_text("coordinator.name", &e.coordinator.name)?;
                check_email("coordinator.email", &e.coordinator.email)?;
                if let Some(tz) = &e.coordinator.timezone {
                    check_timezone("coordinator.timezone", tz)?;
                }
                if let Some(tag) = &e.coordinator.locale {
                    check_locale("coordinator.locale", tag)?;
                }
                if e.mentor.email.eq_ignore_ascii_case(&e.mentee.email) {
                    return Err(InvalidEvent::field(
                        "mentee.email",
                        "is the mentor's address too",
                    ));
                }
            }
            Event::Interaction(e) => {
                check_time("occurred_at", e.occurred_at, now, happened_ahead())?;
                if let Some(d) = e.duration_minutes
                    && d > 24 * 60
                {
                    return Err(InvalidEvent::field(
                        "duration_minutes",
                        format!("{d} is longer than a day"),
                    ));
                }
            }
            Event::Ended(e) => {
                check_time("ended_at", e.ended_at, now, happened_ahead())?;
                if let Some(r) = &e.reason {
                    check_text("reason", r)?;
                }
            }
            Event::Unsubscribed(e) => {
                check_id("person_id", &e.person_id)?;
                check_time("unsubscribed_at", e.unsubscribed_at, now, happened_ahead())?;
            }
            Event::Erased(e) => check_erased_id(&e.person_id)?,
            Event::Outcome(e) => {
                check_time("recorded_at", e.recorded_at, now, happened_ahead())?;
                if let Some(r) = e.rating
                    && !RATING_RANGE.contains(&r)
                {
                    return Err(InvalidEvent::field(
                        "rating",
                        format!("must be 1 to 5, got {r}"),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// The reason names the field and what it should be, never its value
/// (serde's own message quotes it: a name, an address).
fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, InvalidEvent> {
    serde_json::from_str(text)
        .map_err(|e| InvalidEvent::Json(clip(&json::problem_in(text, &e), 300)))
}

fn clip(s: &str, max: usize) -> String {
    let clean: String = s
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if clean.chars().count() <= max {
        clean
    } else {
        clean.chars().take(max).collect::<String>() + "…"
    }
}

fn check_id(field: &str, value: &str) -> Result<(), InvalidEvent> {
    let n = value.chars().count();
    if n == 0 || n > MAX_ID_CHARS {
        return Err(InvalidEvent::field(
            field,
            format!("must be 1 to {MAX_ID_CHARS} characters, got {n}"),
        ));
    }
    // Ids reach headers (X-Firstweek-Mentorship) and file names: printable, no spaces.
    if let Some(c) = value.chars().find(|c| c.is_control() || c.is_whitespace()) {
        return Err(InvalidEvent::field(
            field,
            format!("contains the character {:?}", c),
        ));
    }
    Ok(())
}

/// A person id, or an address: up to an address's 254 characters; one with
/// an `@` must be an address (a typo would erase nobody, silently).
fn check_erased_id(value: &str) -> Result<(), InvalidEvent> {
    let n = value.chars().count();
    if n == 0 || n > MAX_ERASED_ID_CHARS {
        return Err(InvalidEvent::field(
            "person_id",
            format!("must be 1 to {MAX_ERASED_ID_CHARS} characters, got {n}"),
        ));
    }
    if let Some(c) = value.chars().find(|c| c.is_control() || c.is_whitespace()) {
        return Err(InvalidEvent::field(
            "person_id",
            format!("contains the character {:?}", c),
        ));
    }
    if value.contains('@') {
        check_email("person_id", value)?;
    }
    Ok(())
}

fn check_text(field: &str, value: &str) -> Result<(), InvalidEvent> {
    let n = value.chars().count();
    if value.trim().is_empty() || n > MAX_TEXT_CHARS {
        return Err(InvalidEvent::field(
            field,
            format!("must be 1 to {MAX_TEXT_CHARS} characters, got {n}"),
        ));
    }
    if let Some(c) = value.chars().find(|c| c.is_control()) {
        return Err(InvalidEvent::field(
            field,
            format!("contains the control character {:?}", c),
        ));
    }
    Ok(())
}

fn check_email(field: &str, value: &str) -> Result<(), InvalidEvent> {
    if value.len() > 254 {
        return Err(InvalidEvent::field(field, "is longer than 254 characters"));
    }
    // The value is not echoed: the reason goes to a dead letter's header and
    // to logs, which hold no email address (a near-miss is one too).
    value
        .parse::<lettre::Address>()
        .map(|_| ())
        .map_err(|e| InvalidEvent::field(field, format!("is not an email address ({e})")))
}

/// The value is not echoed: a mistyped zone may be anything (a name, an address).
fn check_timezone(field: &str, value: &str) -> Result<(), InvalidEvent> {
    value
        .parse::<chrono_tz::Tz>()
        .map(|_| ())
        .map_err(|_| InvalidEvent::field(field, "is not an IANA time zone (e.g. Europe/Berlin)"))
}

fn check_person(role: &str, p: &Person) -> Result<(), InvalidEvent> {
    check_id(&format!("{role}.id"), &p.id)?;
    check_text(&format!("{role}.name"), &p.name)?;
    check_email(&format!("{role}.email"), &p.email)?;
    check_timezone(&format!("{role}.timezone"), &p.timezone)?;
    match &p.locale {
        Some(tag) => check_locale(&format!("{role}.locale"), tag),
        None => Ok(()),
    }
}

/// The value is not echoed: a mistyped tag may be anything (a name, an address).
fn check_locale(field: &str, value: &str) -> Result<(), InvalidEvent> {
    tag::Locale::parse(value)
        .map(|_| ())
        .map_err(|e| InvalidEvent::field(field, e.to_string()))
}

fn happened_ahead() -> Duration {
    Duration::hours(MAX_HAPPENED_AHEAD_HOURS)
}

/// `t` is at most [`MAX_SKEW_DAYS`] in the past and at most `ahead` in the future.
fn check_time(
    field: &str,
    t: DateTime<Utc>,
    now: DateTime<Utc>,
    ahead: Duration,
) -> Result<(), InvalidEvent> {
    if t > now + ahead {
        let bound = if ahead.num_hours() % 24 == 0 {
            format!("{} days", ahead.num_days())
        } else {
            format!("{} hours", ahead.num_hours())
        };
        return Err(InvalidEvent::field(
            field,
            format!(
                "{} is in the future: more than {bound} ahead of now ({})",
                t.to_rfc3339(),
                now.to_rfc3339()
            ),
        ));
    }
    let skew = Duration::days(MAX_SKEW_DAYS);
    if t < now - skew {
        return Err(InvalidEvent::field(
            field,
            format!(
                "{} is more than {MAX_SKEW_DAYS} days from now",
                t.to_rfc3339()
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-11-24T12:00:00Z".parse().unwrap()
    }

    fn started() -> serde_json::Value {
        serde_json::json!({
            "event_id": "e-1", "mentorship_id": "m-1", "started_at": "2026-11-23T09:00:00Z",
            "mentor": {"id": "p1", "name": "Ada", "email": "ada@example.org", "timezone": "Europe/Berlin"},
            "mentee": {"id": "p2", "name": "Bo", "email": "bo@example.org", "timezone": "Asia/Tokyo"},
            "coordinator": {"name": "Cy", "email": "cy@example.org"}
        })
    }

    fn parse(key: &str, v: &serde_json::Value) -> Result<Event, InvalidEvent> {
        Event::parse(
            key,
            Some("application/json"),
            v.to_string().as_bytes(),
            now(),
        )
    }

    #[test]
    fn a_valid_start_parses() {
        let e = parse(MENTORSHIP_STARTED, &started()).unwrap();
        assert_eq!(e.mentorship_id(), Some("m-1"));
        assert_eq!(e.routing_key(), MENTORSHIP_STARTED);
    }

    #[test]
    fn bad_fields_are_named() {
        let cases: Vec<(&str, serde_json::Value, &str)> = vec![
            ("/mentor/timezone", "Mars/Olympus".into(), "mentor.timezone"),
            ("/mentee/email", "not-an-address".into(), "mentee.email"),
            (
                "/mentor/name",
                "Ada\r\nBcc: x@evil.org".into(),
                "mentor.name",
            ),
            ("/event_id", "".into(), "event_id"),
            ("/mentorship_id", "a b".into(), "mentorship_id"),
            ("/started_at", "1999-01-01T00:00:00Z".into(), "started_at"),
            ("/mentor/name", "x".repeat(500).into(), "mentor.name"),
        ];
        for (pointer, value, field) in cases {
            let mut v = started();
            *v.pointer_mut(pointer).unwrap() = value;
            match parse(MENTORSHIP_STARTED, &v) {
                Err(InvalidEvent::Field { field: f, .. }) => assert_eq!(f, field, "{pointer}"),
                other => panic!("{pointer}: expected a field error, got {other:?}"),
            }
        }
    }

    #[test]
    fn the_coordinator_may_name_a_zone_and_it_must_be_iana() {
        let mut v = started();
        v["coordinator"]["timezone"] = "America/Los_Angeles".into();
        match parse(MENTORSHIP_STARTED, &v) {
            Ok(Event::Started(e)) => assert_eq!(
                e.coordinator.timezone.as_deref(),
                Some("America/Los_Angeles")
            ),
            other => panic!("expected a start, got {other:?}"),
        }
        for bad in ["Mars/Olympus", "PST8PDT-ish", ""] {
            v["coordinator"]["timezone"] = bad.into();
            match parse(MENTORSHIP_STARTED, &v) {
                Err(e @ InvalidEvent::Field { .. }) => {
                    assert!(
                        e.to_string().starts_with("field `coordinator.timezone`"),
                        "{e}"
                    );
                }
                other => panic!("{bad:?}: expected a field error, got {other:?}"),
            }
        }
        // Without one (older publishers) it is still a valid start.
        assert!(parse(MENTORSHIP_STARTED, &started()).is_ok());
    }

    #[test]
    fn a_locale_must_be_a_bcp_47_tag_and_a_refusal_names_the_field_not_the_value() {
        let mut v = started();
        v["mentee"]["locale"] = "es-MX".into();
        v["mentor"]["locale"] = "de-at".into();
        v["coordinator"]["locale"] = "en".into();
        match parse(MENTORSHIP_STARTED, &v) {
            Ok(Event::Started(e)) => assert_eq!(e.mentee.locale.as_deref(), Some("es-MX")),
            other => panic!("expected a start, got {other:?}"),
        }
        for (field, bad) in [
            ("mentee", "Bo Diddley bo@example.org"),
            ("mentor", "de_AT"),
            ("coordinator", "German"),
        ] {
            let mut v = started();
            v[field]["locale"] = bad.into();
            let reason = parse(MENTORSHIP_STARTED, &v).unwrap_err().to_string();
            assert!(
                reason.starts_with(&format!("field `{field}.locale`: is not a BCP 47")),
                "{reason}"
            );
            assert!(!reason.contains(bad), "{reason}");
        }
    }

    #[test]
    fn times_too_far_ahead_of_now_are_refused_with_the_reason() {
        // now() is 2026-11-24T12:00Z. A typo in the year: 2027 for 2026.
        let interaction = |at: &str| {
            serde_json::json!({"event_id": "e", "mentorship_id": "m", "kind": "call",
                "actor": "mentor", "occurred_at": at})
        };
        let ended =
            |at: &str| serde_json::json!({"event_id": "e", "mentorship_id": "m", "ended_at": at});
        let refused = |r: Result<Event, InvalidEvent>, field: &str| match r {
            Err(e @ InvalidEvent::Field { .. }) => {
                let text = e.to_string();
                assert!(
                    text.contains(field) && text.contains("in the future"),
                    "{text}"
                );
            }
            other => panic!("{field}: expected a refusal, got {other:?}"),
        };
        refused(
            parse(INTERACTION_RECORDED, &interaction("2027-11-24T10:00:00Z")),
            "occurred_at",
        );
        refused(
            parse(INTERACTION_RECORDED, &interaction("2026-11-27T12:00:00Z")),
            "occurred_at",
        );
        refused(
            parse(MENTORSHIP_ENDED, &ended("2027-11-26T12:00:00Z")),
            "ended_at",
        );
        let mut start = started();
        start["started_at"] = "2027-11-23T09:00:00Z".into();
        refused(parse(MENTORSHIP_STARTED, &start), "started_at");
        start["started_at"] = "2027-01-23T09:00:00Z".into();
        refused(parse(MENTORSHIP_STARTED, &start), "started_at");

        // A clock a day fast, a wrong UTC offset: still accepted.
        assert!(parse(INTERACTION_RECORDED, &interaction("2026-11-25T12:00:00Z")).is_ok());
        assert!(parse(MENTORSHIP_ENDED, &ended("2026-11-25T14:00:00+14:00")).is_ok());
        // A start announced a few weeks ahead is fine.
        start["started_at"] = "2026-12-21T09:00:00Z".into();
        assert!(parse(MENTORSHIP_STARTED, &start).is_ok());
        // The past bound is unchanged: a year back is accepted (late backfill).
        assert!(parse(INTERACTION_RECORDED, &interaction("2026-01-05T10:00:00Z")).is_ok());
    }

    #[test]
    fn a_refused_address_is_not_repeated_in_the_reason() {
        for bad in [
            "bo@@example.org",
            "bo example@example.org",
            "bo@example.org\u{7}",
        ] {
            let mut v = started();
            v["mentee"]["email"] = bad.into();
            let reason = parse(MENTORSHIP_STARTED, &v).unwrap_err().to_string();
            assert!(reason.starts_with("field `mentee.email`"), "{reason}");
            assert!(!reason.contains("example.org"), "{reason}");
        }
        // Invalid JSON names the field, not the value, as serde words it.
        let mut v = started();
        v["mentee"]["email"] = 7.into();
        let reason = parse(MENTORSHIP_STARTED, &v).unwrap_err().to_string();
        assert!(!reason.contains("bo@example.org"), "{reason}");
    }

    #[test]
    fn a_mistyped_field_or_zone_is_named_without_its_value() {
        let secret = "Bo Diddley <bo@example.org>";
        let refused = |key: &str, v: &serde_json::Value, field: &str| {
            let reason = parse(key, v).unwrap_err().to_string();
            assert!(reason.contains(&format!("field `{field}`")), "{reason}");
            assert!(
                !reason.contains("Diddley") && !reason.contains("example.org"),
                "{reason}"
            );
        };
        let mut v = started();
        v["mentee"]["timezone"] = secret.into();
        refused(MENTORSHIP_STARTED, &v, "mentee.timezone");
        let mut v = started();
        v["coordinator"]["timezone"] = secret.into();
        refused(MENTORSHIP_STARTED, &v, "coordinator.timezone");
        let mut v = started();
        v["mentee"]["id"] = serde_json::json!({"name": secret});
        refused(MENTORSHIP_STARTED, &v, "mentee.id");
        let interaction = serde_json::json!({"event_id": "e", "mentorship_id": "m",
            "kind": secret, "actor": "mentor", "occurred_at": "2026-11-24T10:00:00Z"});
        refused(INTERACTION_RECORDED, &interaction, "kind");
        let mut interaction = interaction;
        interaction["kind"] = "call".into();
        interaction["duration_minutes"] = secret.into();
        refused(INTERACTION_RECORDED, &interaction, "duration_minutes");
        let outcome = serde_json::json!({"event_id": "e", "mentorship_id": "m",
            "outcome": "thriving", "rating": secret, "recorded_at": "2026-11-24T10:00:00Z"});
        refused(MENTORSHIP_OUTCOME, &outcome, "rating");
    }

    #[test]
    fn shapes_that_are_not_the_contract_are_refused() {
        let too_big = vec![b' '; MAX_BODY_BYTES + 1];
        assert!(matches!(
            Event::parse(MENTORSHIP_STARTED, None, &too_big, now()),
            Err(InvalidEvent::TooLarge(_))
        ));
        assert_eq!(
            Event::parse(MENTORSHIP_STARTED, None, &[0xff, 0xfe], now()),
            Err(InvalidEvent::NotUtf8)
        );
        assert!(matches!(
            Event::parse("mentorship.paused", None, b"{}", now()),
            Err(InvalidEvent::UnknownRoutingKey(_))
        ));
        assert!(matches!(
            Event::parse(MENTORSHIP_STARTED, Some("text/plain"), b"{}", now()),
            Err(InvalidEvent::ContentType(_))
        ));
        let mut extra = started();
        extra["surprise"] = 1.into();
        assert!(matches!(
            parse(MENTORSHIP_STARTED, &extra),
            Err(InvalidEvent::Json(_))
        ));
        let bad_kind = serde_json::json!({"event_id": "e", "mentorship_id": "m", "kind": "dance",
            "actor": "mentor", "occurred_at": "2026-11-24T10:00:00Z"});
        assert!(matches!(
            parse(INTERACTION_RECORDED, &bad_kind),
            Err(InvalidEvent::Json(_))
        ));
    }

    #[test]
    fn an_erasure_names_an_id_or_an_address() {
        let erased = |id: &str| serde_json::json!({"event_id": "e-9", "person_id": id});
        match parse(PERSON_ERASED, &erased("p2")) {
            Ok(e @ Event::Erased(_)) => {
                assert_eq!(e.lock_key(), "p2");
                assert_eq!(e.mentorship_id(), None);
            }
            other => panic!("expected an erasure, got {other:?}"),
        }
        assert!(parse(PERSON_ERASED, &erased("cy@example.org")).is_ok());
        let long = format!(
            "{}@{}.{}.org",
            "c".repeat(60),
            "d".repeat(60),
            "e".repeat(60)
        );
        assert!(
            parse(PERSON_ERASED, &erased(&long)).is_ok(),
            "longer than an id"
        );
        for bad in ["", "a b", "cy@@example.org"] {
            match parse(PERSON_ERASED, &erased(bad)) {
                Err(e @ InvalidEvent::Field { .. }) => {
                    assert!(e.to_string().starts_with("field `person_id`"), "{e}");
                }
                other => panic!("{bad:?}: expected a field error, got {other:?}"),
            }
        }
        let mut extra = erased("p2");
        extra["name"] = "Bo".into();
        assert!(matches!(
            parse(PERSON_ERASED, &extra),
            Err(InvalidEvent::Json(_))
        ));
    }

    #[test]
    fn an_outcome_parses_and_a_rating_out_of_range_is_named() {
        let mut v = serde_json::json!({"event_id": "e", "mentorship_id": "m", "outcome": "thriving",
            "rating": 5, "recorded_at": "2026-11-24T10:00:00Z"});
        match parse(MENTORSHIP_OUTCOME, &v) {
            Ok(Event::Outcome(e)) => {
                assert_eq!((e.outcome, e.rating), (Outcome::Thriving, Some(5)));
            }
            other => panic!("expected an outcome, got {other:?}"),
        }
        v["rating"] = 0.into();
        let reason = parse(MENTORSHIP_OUTCOME, &v).unwrap_err().to_string();
        assert!(reason.starts_with("field `rating`"), "{reason}");
        v["rating"] = 6.into();
        assert!(parse(MENTORSHIP_OUTCOME, &v).is_err());
        v["rating"] = serde_json::Value::Null;
        v["outcome"] = "flourishing".into();
        assert!(matches!(
            parse(MENTORSHIP_OUTCOME, &v),
            Err(InvalidEvent::Json(_))
        ));
    }

    #[test]
    fn an_event_round_trips_through_its_json() {
        let e = parse(MENTORSHIP_STARTED, &started()).unwrap();
        let again = Event::parse(e.routing_key(), None, &e.to_json(), now()).unwrap();
        assert_eq!(e, again);
    }
}
