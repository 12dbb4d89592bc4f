//! What a template sees: the pair's people with their local times, the
//! evidence as of the due time, the reasons, the links.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use super::reach::{Extras, Reach};
use crate::coordinator::{self, advice::AdviceLine};
use crate::day::Day;
use crate::event::{MentorshipStarted, Person};
use crate::interaction::{KindCount, Summary};
use crate::locale::{self, Locale};
use crate::playbook::{Playbook, Program};
use crate::rule::Recipient;
use crate::timeline::{TimeScale, timezone_of};

/// A person as templates see them.
#[derive(Debug, Clone, Serialize)]
pub struct PersonView {
    /// `mentor`, `mentee` or `coordinator`.
    pub role: &'static str,
    /// Display name.
    pub name: String,
    /// What greetings and prose call them: [`first_name`] of the name.
    pub first_name: String,
    /// Email address.
    pub email: String,
    /// IANA time zone name (`UTC` for a coordinator without one).
    pub timezone: String,
    /// Their zone as the reader's locale names it, at the moment of
    /// sending: `Los Angeles time (UTC−8)`, `Ortszeit Los Angeles (UTC−8)`.
    pub zone: String,
    /// Their weekday and time at the moment of sending, in the reader's
    /// locale: `Tuesday 09:15`, `Dienstag 09:15`, `martes 09:15`.
    pub local_time: String,
    /// Their own locale (a BCP 47 tag; `en` when they named none).
    pub locale: String,
}

/// Everything a template may use.
#[derive(Debug, Clone, Serialize)]
pub struct Context {
    /// The reader's locale (a BCP 47 tag): the templates are chosen along
    /// its fallback chain (`de-AT` → `de` → `en`), and every date, time and
    /// zone here is written for it.
    pub locale: String,
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
    /// The day of the pair's week the step is judged on ([`Day`]).
    pub day: Day,
    /// The pair's interactions as of the due time.
    pub summary: Summary,
    /// A plan or goals were shared by the due time.
    pub has_plan: bool,
    /// Both sides interacted by the due time.
    pub two_way: bool,
    /// Interaction counts by side for each kind that occurred, in name order.
    pub kinds: Vec<KindCount>,
    /// When the latest interaction occurred, if any: `YYYY-MM-DD HH:MM UTC`,
    /// or for the coordinator in their own zone ([`coordinator::when`]).
    pub last_activity: Option<String>,
    /// Why the step fired, in words (escalations show these).
    pub reasons: Vec<String>,
    /// What the coordinator is advised to do (escalations and reminders;
    /// empty otherwise), from [`crate::coordinator::advice`].
    pub advice: Vec<AdviceLine>,
    /// Links into `firstweek-web` (none without `FIRSTWEEK_PUBLIC_URL`).
    pub links: Links,
    /// How the recipient reaches the other person, and the intro call's
    /// times (mentor and mentee; see [`Context::with_reach`]).
    pub reach: Option<Reach>,
    /// What the message carries besides its text (Reply-To, `.ics` files).
    #[serde(skip)]
    pub(crate) extras: Extras,
    /// The program's and the sender's names, from the pair's playbook.
    pub program: Program,
}

/// Links an email may carry; each is a random, expiring token of one purpose.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Links {
    /// Opens a page that acknowledges the escalation (with a button: a GET changes nothing).
    pub acknowledge: Option<String>,
    /// The coordinator's page of their pairs.
    pub page: Option<String>,
    /// The pair's own page (below the coordinator's page).
    pub pair: Option<String>,
    /// "We've been in touch": records a message of the recipient's side.
    pub in_touch: Option<String>,
    /// "We have a plan": records a plan of the recipient's side.
    pub have_plan: Option<String>,
    /// Stops firstweek's emails to the recipient (`List-Unsubscribe`, RFC 8058).
    pub unsubscribe: Option<String>,
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

/// The name people are greeted by: the first word of their display name
/// (the whole name when it has no space). Emails and pages use this one rule.
pub fn first_name(name: &str) -> &str {
    name.split_whitespace().next().unwrap_or(name)
}

/// A person's locale; English for none (or one intake would have refused).
fn locale_of(tag: Option<&str>) -> Locale {
    tag.and_then(|t| Locale::parse(t).ok()).unwrap_or_default()
}

/// Someone as `reader` reads about them.
fn view(
    reader: &Locale,
    role: &'static str,
    (name, email): (&str, &str),
    timezone: &str,
    own: Option<&str>,
    now: DateTime<Utc>,
) -> PersonView {
    PersonView {
        role,
        name: name.to_string(),
        first_name: first_name(name).to_string(),
        email: email.to_string(),
        timezone: timezone.to_string(),
        zone: locale::zone_name(reader, timezone, now),
        local_time: locale::local_time(reader, timezone, now),
        locale: locale_of(own).to_string(),
    }
}

fn person_view(reader: &Locale, role: &'static str, p: &Person, now: DateTime<Utc>) -> PersonView {
    view(
        reader,
        role,
        (&p.name, &p.email),
        &p.timezone,
        p.locale.as_deref(),
        now,
    )
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
        scale: TimeScale,
        summary: Summary,
        reasons: Vec<String>,
        now: DateTime<Utc>,
    ) -> Context {
        let c = &started.coordinator;
        let reader = locale_of(match recipient {
            Recipient::Mentor => started.mentor.locale.as_deref(),
            Recipient::Mentee => started.mentee.locale.as_deref(),
            Recipient::Coordinator => c.locale.as_deref(),
        });
        let mentor = person_view(&reader, "mentor", &started.mentor, now);
        let mentee = person_view(&reader, "mentee", &started.mentee, now);
        let coordinator = view(
            &reader,
            "coordinator",
            (&c.name, &c.email),
            c.timezone.as_deref().unwrap_or("UTC"),
            c.locale.as_deref(),
            now,
        );
        let (me, other) = match recipient {
            Recipient::Mentor => (mentor.clone(), mentee.clone()),
            Recipient::Mentee => (mentee.clone(), mentor.clone()),
            Recipient::Coordinator => (coordinator, mentee.clone()),
        };
        let hours_apart = HoursApart::between(
            offset_minutes(&started.mentor.timezone, now),
            offset_minutes(&started.mentee.timezone, now),
        );
        let day = Day::of(started.started_at, due_at, scale);
        let kinds = KindCount::of(&summary)
            .into_iter()
            .map(KindCount::in_words)
            .collect();
        let last_activity = summary.last_activity.map(|t| match recipient {
            Recipient::Coordinator => {
                coordinator::when_in(&reader, t, timezone_of(started, Recipient::Coordinator))
            }
            _ => t.format("%Y-%m-%d %H:%M UTC").to_string(),
        });
        Context {
            locale: reader.to_string(),
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
            advice: Vec::new(),
            links: Links::default(),
            reach: None,
            extras: Extras::default(),
            program: Program::default(),
        }
    }

    /// The same context naming the program and sender of `playbook`.
    pub fn with_program(mut self, playbook: &Playbook) -> Context {
        self.program = playbook.program.clone();
        self
    }

    /// The same context with this advice for the coordinator.
    pub fn with_advice(mut self, advice: Vec<AdviceLine>) -> Context {
        self.advice = advice;
        self
    }

    /// The same context with these links.
    pub fn with_links(mut self, links: Links) -> Context {
        self.links = links;
        self
    }
}
