//! Whether a participant's step still makes sense, and how many of them a
//! person gets in a day.
//!
//! A step to the mentor or mentee is not stale because it is late but when
//! it no longer makes sense ([`expiry`]):
//!
//! - a person's **welcome** (their first timed step, `at = "0d"` in the
//!   built-in playbook) introduces them to their partner: it stays sendable
//!   through the whole first week (once per person: its once-key);
//! - the **wrap-up** (a step at or after the week's end) stays sendable
//!   until [`WRAP_UP_GRACE`] after the week (or after its own due time);
//! - every other step is a **nudge** (`check_in`, `plan_reminder`, the pacing
//!   tip, a program's own steps): stale once a later step to the same person
//!   is due (it would arrive next to, or after, what supersedes it), or, with
//!   no later step, once the wrap-up's grace is over.
//!
//! Coordinator steps (escalations, reminders, resolutions, digests) keep the
//! fixed `FIRSTWEEK_STALE_AFTER` rule ([`Expiry::Fixed`]). With
//! `FIRSTWEEK_STALE_AFTER=off` nothing is ever stale, by either rule (a
//! deployment that wants every step out however late; the tests on a clock
//! where a program day lasts seconds).
//!
//! **The daily budget**: a person gets at most the playbook's
//! `daily_nudge_budget` nudges (wrap-up included) per local day: their own
//! zone's calendar day, on the program clock ([`local_day`]). The welcome is
//! not counted: it is the one email each person must get, once, and it
//! spends nothing a nudge of the same day would need. Coordinators' emails
//! are not counted. A nudge over the budget waits for the next local day
//! ([`over_budget`]), or is dropped when by then it would be stale. The
//! count itself is kept in the delivery ledger, under the pair's lock, so
//! replicas share it.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

use crate::decision::Rules;
use crate::playbook::{Step, Trigger};
use crate::rule::Recipient;
use crate::timeline::{SendWindow, TimeScale};

/// How long after the first week (program time) the wrap-up, and a nudge
/// with no later step, may still go out: a wrap-up two days late still
/// closes the week; later it reads as an afterthought.
pub fn wrap_up_grace() -> Duration {
    Duration::days(2)
}

// What a step is to its recipient is the playbook's to say (a holdout is
// refused on anything but a nudge when the playbook is parsed).
pub use crate::playbook::{Role, role};

/// Why a step no longer makes sense.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stale {
    /// A later step to the same person is due.
    Superseded {
        /// That step.
        by: String,
    },
    /// The first week (with the wrap-up's grace, for a wrap-up or a last
    /// nudge) is over.
    WeekOver,
    /// A coordinator's email handled more than `FIRSTWEEK_STALE_AFTER` after
    /// it became sendable.
    Late {
        /// How long after it became sendable it is being handled.
        late_by: Duration,
    },
}

impl Stale {
    /// The reason in words, as recorded on the timeline row.
    pub fn reason(&self) -> String {
        match self {
            Stale::Superseded { by } => {
                format!("stale: a later step ({by}) is due for this person")
            }
            Stale::WeekOver => "stale: the pair's first week is over".into(),
            Stale::Late { late_by } => format!(
                "stale: handled {} s after it became sendable",
                late_by.num_seconds()
            ),
        }
    }
}

/// Until when a step may go out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expiry {
    /// A coordinator's email: this long (wall clock) after it became
    /// sendable; `None`: never stale.
    Fixed(Option<Duration>),
    /// A participant's step: before this instant; from then on stale, for this reason.
    Until(DateTime<Utc>, Stale),
}

impl Expiry {
    /// Why the step is stale if handled at `at` (sendable since `send_at`);
    /// `None`: it still makes sense.
    pub fn stale_at(&self, send_at: DateTime<Utc>, at: DateTime<Utc>) -> Option<Stale> {
        match self {
            Expiry::Fixed(limit) => {
                let late_by = at - send_at;
                limit
                    .is_some_and(|limit| late_by > limit)
                    .then_some(Stale::Late { late_by })
            }
            Expiry::Until(until, why) => (at >= *until).then(|| why.clone()),
        }
    }
}

/// Until when `step`, due at `due_at` for `recipient` of a pair started at
/// `started_at`, makes sense; a coordinator's is [`Expiry::Fixed`] with
/// `stale_after` (wall clock). `stale_after` `None` (`off`): nothing is stale.
pub fn expiry(
    rules: &Rules,
    step: &Step,
    recipient: Recipient,
    started_at: DateTime<Utc>,
    due_at: DateTime<Utc>,
    stale_after: Option<Duration>,
) -> Expiry {
    if stale_after.is_none() {
        return Expiry::Fixed(None);
    }
    let playbook = &rules.playbook;
    let at = |offset: Duration| started_at + rules.scale.wall(offset);
    let week_end = at(playbook.week());
    let grace_end = week_end.max(due_at) + rules.scale.wall(wrap_up_grace());
    match role(playbook, step, recipient) {
        Role::Coordinator => Expiry::Fixed(stale_after),
        Role::Welcome => Expiry::Until(week_end.max(due_at), Stale::WeekOver),
        Role::WrapUp => Expiry::Until(grace_end, Stale::WeekOver),
        Role::Nudge => playbook
            .steps
            .iter()
            .filter(|s| s.id != step.id && s.recipients.contains(&recipient))
            .filter_map(|s| match s.trigger {
                Trigger::At(o) if at(o) > due_at => Some((at(o), s.id.clone())),
                _ => None,
            })
            .min_by_key(|(when, _)| *when)
            .map(|(when, by)| Expiry::Until(when, Stale::Superseded { by }))
            .unwrap_or(Expiry::Until(grace_end, Stale::WeekOver)),
    }
}

/// The instant on the pair's program clock that wall-clock `at` is (the
/// pair's start is the same instant on both clocks).
fn program_instant(
    started_at: DateTime<Utc>,
    at: DateTime<Utc>,
    scale: TimeScale,
) -> DateTime<Utc> {
    let ms = (at - started_at).num_milliseconds() as f64 * scale.factor();
    started_at + Duration::milliseconds(ms.round() as i64)
}

/// The person's local day (in `tz`, UTC without one) that wall-clock `at`
/// falls on, on the pair's program clock (at real time: their calendar day).
pub fn local_day(
    started_at: DateTime<Utc>,
    at: DateTime<Utc>,
    scale: TimeScale,
    tz: Option<Tz>,
) -> NaiveDate {
    let program = program_instant(started_at, at, scale);
    program.with_timezone(&tz.unwrap_or(Tz::UTC)).date_naive()
}

/// When (wall clock) the local day after `day` begins for the person.
pub fn next_day_starts(
    started_at: DateTime<Utc>,
    day: NaiveDate,
    scale: TimeScale,
    tz: Option<Tz>,
) -> DateTime<Utc> {
    let tz = tz.unwrap_or(Tz::UTC);
    let next = day.succ_opt().unwrap_or(day);
    // A zone whose clock skips midnight starts the day at its first minute.
    let mut local = next.and_time(chrono::NaiveTime::MIN);
    let mut program = None;
    for _ in 0..180 {
        if let Some(t) = tz.from_local_datetime(&local).earliest() {
            program = Some(t.with_timezone(&Utc));
            break;
        }
        local += Duration::minutes(1);
    }
    let program = program.unwrap_or_else(|| Utc.from_utc_datetime(&local));
    started_at + scale.wall(program - started_at)
}

/// What becomes of a nudge over the person's daily budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OverBudget {
    /// Offered again at this instant: the next local day, in the window.
    Defer(DateTime<Utc>),
    /// Dropped: by the next local day it would be stale.
    Drop(Stale),
}

impl OverBudget {
    /// The reason recorded on the timeline row (`budget`: the playbook's).
    pub fn reason(&self, budget: u32) -> String {
        let spent = match budget {
            1 => "the daily budget of 1 nudge is spent".to_string(),
            n => format!("the daily budget of {n} nudges is spent"),
        };
        match self {
            OverBudget::Defer(at) => format!(
                "deferred: {spent}; offered again on the next local day ({})",
                at.format("%Y-%m-%d %H:%M UTC")
            ),
            OverBudget::Drop(stale) => {
                let why = stale.reason();
                let why = why.strip_prefix("stale: ").unwrap_or(&why);
                format!("dropped: {spent}, and by the next local day {why}")
            }
        }
    }
}

/// A nudge over the budget on local `day`: deferred to the next local day
/// (when the recipient's window opens), or dropped if it would be stale then.
pub fn over_budget(
    window: SendWindow,
    tz: Option<Tz>,
    expiry: &Expiry,
    send_at: DateTime<Utc>,
    next_day: DateTime<Utc>,
) -> OverBudget {
    let at = window.next_open(next_day, tz);
    match expiry.stale_at(send_at, at) {
        Some(stale) => OverBudget::Drop(stale),
        None => OverBudget::Defer(at),
    }
}

#[cfg(test)]
mod tests;
