//! The coordinator's loop: an escalation is opened by the first coordinator
//! step that fires for a pair, gathers the evidence of later ones, is
//! acknowledged by the coordinator, reminded once when nobody did, and
//! resolved once, when the pair recovers or the mentorship ends.
//!
//! The states and words live here; what to do at each moment is decided in
//! [`crate::decision::escalation`].

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::day::Day;
use crate::interaction::{Evidence, KindCount, Summary};
use crate::rule::{Condition, Thresholds};

/// Where an escalation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Opened; nobody has acknowledged it yet.
    Open,
    /// The coordinator said they are on it.
    Acknowledged,
    /// Over: the pair recovered, the mentorship ended, or the coordinator closed it.
    Resolved,
}

impl State {
    /// Every state, in declaration order.
    pub const ALL: [State; 3] = [State::Open, State::Acknowledged, State::Resolved];

    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Open => "open",
            State::Acknowledged => "acknowledged",
            State::Resolved => "resolved",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<State> {
        State::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// How an escalation was acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AckVia {
    /// The acknowledge link in the escalation or reminder email.
    Link,
    /// A button on the coordinator's page.
    Page,
    /// `firstweek escalation ack`.
    Cli,
}

impl AckVia {
    /// Every way, in declaration order.
    pub const ALL: [AckVia; 3] = [AckVia::Link, AckVia::Page, AckVia::Cli];

    /// The name stored and published.
    pub fn as_str(self) -> &'static str {
        match self {
            AckVia::Link => "link",
            AckVia::Page => "page",
            AckVia::Cli => "cli",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<AckVia> {
        AckVia::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// How an escalation was resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    /// The pair met the playbook's `resolve_when`.
    Recovered,
    /// The mentorship ended.
    Ended,
    /// The coordinator (page or CLI) closed it.
    Coordinator,
}

impl Resolution {
    /// Every way, in declaration order (metrics label them all).
    pub const ALL: [Resolution; 3] = [
        Resolution::Recovered,
        Resolution::Ended,
        Resolution::Coordinator,
    ];

    /// The name stored and published.
    pub fn as_str(self) -> &'static str {
        match self {
            Resolution::Recovered => "recovered",
            Resolution::Ended => "ended",
            Resolution::Coordinator => "coordinator",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Resolution> {
        Resolution::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// What the coordinator is told.
    pub fn words(self) -> &'static str {
        match self {
            Resolution::Recovered => "the pair has recovered",
            Resolution::Ended => "the mentorship has ended",
            Resolution::Coordinator => "it was closed by a coordinator",
        }
    }
}

/// The escalation's own emails to the coordinator, besides the escalation itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Notice {
    /// Nobody acknowledged it in time (`X-Firstweek-Step: escalation_reminder`).
    Reminder,
    /// It is over (`X-Firstweek-Step: escalation_resolved`).
    Resolved,
}

impl Notice {
    /// Both notices.
    pub const ALL: [Notice; 2] = [Notice::Reminder, Notice::Resolved];

    /// The step id on the timeline, in the ledger (its once-key) and in the
    /// `X-Firstweek-Step` header; also the template's name.
    pub fn step_id(self) -> &'static str {
        match self {
            Notice::Reminder => "escalation_reminder",
            Notice::Resolved => "escalation_resolved",
        }
    }
}

/// What one coordinator step saw when it fired: counts and times, never content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sighting {
    /// The coordinator step.
    pub step_id: String,
    /// The instant it was judged as of (its due time).
    pub as_of: DateTime<Utc>,
    /// The day of the pair's week it was judged on ([`Day`]).
    pub day: Day,
    /// The conditions that held.
    pub fired: Vec<Condition>,
    /// Why, in words, one per fired condition.
    pub reasons: Vec<String>,
    /// Interactions by either side.
    pub total: u32,
    /// Interactions by the mentor.
    pub mentor: u32,
    /// Interactions by the mentee.
    pub mentee: u32,
    /// Counts by kind: `[kind, mentor, mentee]`, in kind order.
    pub by_kind: Vec<KindCount>,
    /// When the latest interaction occurred, if any.
    pub last_activity: Option<DateTime<Utc>>,
}

impl Sighting {
    /// The sighting of a step that fired on a pair with no interaction at
    /// all as of `as_of` (`Condition::NoInteraction` alone): what an early
    /// escalation records of a silent pair.
    pub fn of_silence(step_id: &str, as_of: DateTime<Utc>, day: Day) -> Sighting {
        let summary = Summary::default();
        let fired = Condition::NoInteraction;
        // Its words do not depend on the thresholds.
        let any = Thresholds {
            min_interactions: 0,
            long_session_minutes: 0,
        };
        let evidence = Evidence {
            fired: vec![fired],
            reasons: vec![fired.wording(&summary, &any)],
            summary,
            as_of,
        };
        Sighting::new(step_id, day, &evidence)
    }

    /// The sighting of a step that fired with this evidence.
    pub fn new(step_id: &str, day: Day, evidence: &Evidence) -> Sighting {
        let s = &evidence.summary;
        Sighting {
            step_id: step_id.to_string(),
            as_of: evidence.as_of,
            day,
            fired: evidence.fired.clone(),
            reasons: evidence.reasons.clone(),
            total: s.total,
            mentor: s.mentor,
            mentee: s.mentee,
            by_kind: KindCount::of(s),
            last_activity: s.last_activity,
        }
    }
}

/// An escalation as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Escalation {
    /// The pair (one escalation per pair, ever).
    pub mentorship_id: String,
    /// The coordinator's opaque key.
    pub coordinator_key: String,
    /// The pair's program, if its start named one.
    pub program_id: Option<String>,
    /// When the first coordinator step fired.
    pub opened_at: DateTime<Utc>,
    /// Which step that was.
    pub opened_by: String,
    /// Every condition that fired, in the order they first fired.
    pub rules: Vec<Condition>,
    /// What each coordinator step saw, in the order they fired.
    pub evidence: Vec<Sighting>,
    /// Where it is.
    pub state: State,
    /// When and how it was acknowledged, if it was.
    pub acknowledged: Option<(DateTime<Utc>, AckVia)>,
    /// When the reminder went out, if it did.
    pub reminded_at: Option<DateTime<Utc>>,
    /// When and how it was resolved, if it was.
    pub resolved: Option<(DateTime<Utc>, Resolution)>,
}

impl Escalation {
    /// The latest sighting (the one opening it, if no other fired since).
    pub fn latest(&self) -> Option<&Sighting> {
        self.evidence.last()
    }

    /// The day of the pair's week it was opened on (its first sighting's).
    pub fn opened_day(&self) -> Option<Day> {
        self.evidence.first().map(|s| s.day)
    }
}
