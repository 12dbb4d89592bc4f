//! The timeline: a started pair's playbook turned into dated rows, one per
//! (step, recipient), each held until the recipient's local send window opens.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::event::MentorshipStarted;
use crate::playbook::{Playbook, Step, Trigger};
use crate::rule::Recipient;

/// Program time runs this many times faster than the wall clock.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimeScale(f64);

impl TimeScale {
    /// Real time.
    pub const REAL: TimeScale = TimeScale(1.0);

    /// A scale; must be finite and at least 1.
    pub fn new(factor: f64) -> Option<TimeScale> {
        (factor.is_finite() && factor >= 1.0).then_some(TimeScale(factor))
    }

    /// The wall-clock length of a program-time span.
    pub fn wall(self, program: Duration) -> Duration {
        let ms = program.num_milliseconds() as f64 / self.0;
        Duration::milliseconds(ms.round() as i64)
    }

    /// The factor.
    pub fn factor(self) -> f64 {
        self.0
    }
}

/// The local hours in which a person may be emailed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendWindow {
    /// Send as soon as due.
    Off,
    /// From `start` to `end` local time; `end < start` wraps past midnight.
    Local {
        /// Local time the window opens.
        start: NaiveTime,
        /// Local time the window closes (not included).
        end: NaiveTime,
    },
}

impl Default for SendWindow {
    fn default() -> Self {
        SendWindow::Local {
            start: NaiveTime::from_hms_opt(8, 0, 0).unwrap_or_default(),
            end: NaiveTime::from_hms_opt(20, 0, 0).unwrap_or_default(),
        }
    }
}

impl SendWindow {
    /// Parses `off` or `HH:MM-HH:MM`.
    pub fn parse(s: &str) -> Result<SendWindow, String> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("off") {
            return Ok(SendWindow::Off);
        }
        let (a, b) = s
            .split_once('-')
            .ok_or_else(|| format!("{s:?} is not `off` or HH:MM-HH:MM"))?;
        let t = |x: &str| {
            NaiveTime::parse_from_str(x.trim(), "%H:%M")
                .map_err(|_| format!("{x:?} is not a time HH:MM"))
        };
        let (start, end) = (t(a)?, t(b)?);
        if start == end {
            return Err(format!("{s:?} is an empty window"));
        }
        Ok(SendWindow::Local { start, end })
    }

    /// The first instant at or after `due` that lies inside the window in `tz`.
    pub fn next_open(self, due: DateTime<Utc>, tz: Option<Tz>) -> DateTime<Utc> {
        let (SendWindow::Local { start, end }, Some(tz)) = (self, tz) else {
            return due;
        };
        let local = due.with_timezone(&tz);
        let time = local.time();
        let inside = if start < end {
            time >= start && time < end
        } else {
            time >= start || time < end
        };
        if inside {
            return due;
        }
        // Outside: the window opens at `start`, today if still ahead, else tomorrow.
        let today = local.date_naive();
        let day = if time < start {
            today
        } else {
            today.succ_opt().unwrap_or(today)
        };
        opening(tz, day, start)
    }
}

/// `start` on local `day` in `tz` as an instant. When a daylight-saving jump
/// skips that time, the window opens at the first local minute that exists.
fn opening(tz: Tz, day: NaiveDate, start: NaiveTime) -> DateTime<Utc> {
    let mut t = day.and_time(start);
    for _ in 0..180 {
        if let Some(dt) = tz.from_local_datetime(&t).earliest() {
            return dt.with_timezone(&Utc);
        }
        t += Duration::minutes(1);
    }
    Utc.from_utc_datetime(&day.and_time(start))
}

/// A person's local morning and the same instant on the other person's clock.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Morning {
    /// On the recipient's clock, e.g. `Tuesday 09:00`.
    pub mine: String,
    /// The same instant on the other person's clock, e.g. `Tuesday 15:00`.
    pub theirs: String,
}

/// The local time a "morning" suggestion starts at.
pub const MORNING: NaiveTime = match NaiveTime::from_hms_opt(9, 0, 0) {
    Some(t) => t,
    None => NaiveTime::MIN,
};

/// The next `n` mornings (09:00 on `mine`'s clock) after `after`, each with
/// the same instant on `theirs`'s clock; DST-correct on both sides (each is
/// converted through its own zone's rules on that very date).
pub fn next_mornings(mine: Tz, theirs: Tz, after: DateTime<Utc>, n: usize) -> Vec<Morning> {
    next_mornings_in(&crate::locale::Locale::default(), mine, theirs, after, n)
}

/// [`next_mornings`], with weekdays and times written for `locale`.
pub fn next_mornings_in(
    locale: &crate::locale::Locale,
    mine: Tz,
    theirs: Tz,
    after: DateTime<Utc>,
    n: usize,
) -> Vec<Morning> {
    let mut day = after.with_timezone(&mine).date_naive();
    let mut out = Vec::with_capacity(n);
    // A few days more than asked, in case a zone skips a whole morning.
    for _ in 0..n + 3 {
        let at = opening(mine, day, MORNING);
        if at > after {
            out.push(Morning {
                mine: crate::locale::weekday_time(locale, mine.name(), at),
                theirs: crate::locale::weekday_time(locale, theirs.name(), at),
            });
            if out.len() == n {
                break;
            }
        }
        day = day.succ_opt().unwrap_or(day);
    }
    out
}

/// One planned row: a step for one recipient.
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    /// The playbook step's id.
    pub step_id: String,
    /// Who receives it.
    pub recipient: Recipient,
    /// When the step falls due; its condition is judged as of this instant.
    pub due_at: DateTime<Utc>,
    /// When it may be sent: `due_at`, or the opening of the recipient's window.
    pub send_at: DateTime<Utc>,
}

/// The recipient's time zone, if the pair's event gave one.
pub fn timezone_of(started: &MentorshipStarted, r: Recipient) -> Option<Tz> {
    let name = match r {
        Recipient::Mentor => Some(&started.mentor.timezone),
        Recipient::Mentee => Some(&started.mentee.timezone),
        Recipient::Coordinator => started.coordinator.timezone.as_ref(),
    };
    name.and_then(|n| n.parse().ok())
}

/// Rows of one step due at `due_at`, one per recipient.
pub fn plan_step(
    started: &MentorshipStarted,
    step: &Step,
    due_at: DateTime<Utc>,
    window: SendWindow,
) -> Vec<Planned> {
    step.recipients
        .iter()
        .map(|&r| Planned {
            step_id: step.id.clone(),
            recipient: r,
            due_at,
            send_at: window.next_open(due_at, timezone_of(started, r)),
        })
        .collect()
}

/// The timed rows of a newly started pair (event-triggered steps come later).
pub fn plan(
    started: &MentorshipStarted,
    playbook: &Playbook,
    scale: TimeScale,
    window: SendWindow,
) -> Vec<Planned> {
    playbook
        .steps
        .iter()
        .filter_map(|step| match step.trigger {
            Trigger::At(offset) => Some(plan_step(
                started,
                step,
                started.started_at + scale.wall(offset),
                window,
            )),
            Trigger::IntenseInteraction => None,
        })
        .flatten()
        .collect()
}

/// Whole program days elapsed from the pair's start to `at` (never negative):
/// an offset for the decisions' arithmetic. The day people read is
/// [`crate::day::Day`], never this.
pub fn program_day(started_at: DateTime<Utc>, at: DateTime<Utc>, scale: TimeScale) -> i64 {
    let day_ms = scale.wall(Duration::days(1)).num_milliseconds().max(1);
    ((at - started_at).num_milliseconds() / day_ms).max(0)
}

/// Whether an interaction at `at` falls within the pair's first week.
pub fn in_first_week(
    started_at: DateTime<Utc>,
    at: DateTime<Utc>,
    playbook: &Playbook,
    scale: TimeScale,
) -> bool {
    at >= started_at && at < started_at + scale.wall(playbook.week())
}

#[cfg(test)]
mod morning_tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn mornings_side_by_side_follow_each_zones_own_clock() {
        let tokyo: Tz = "Asia/Tokyo".parse().unwrap_or(Tz::UTC);
        let new_york: Tz = "America/New_York".parse().unwrap_or(Tz::UTC);
        // Monday 2026-11-30 12:00 UTC is 21:00 in Tokyo: the next mornings are Tuesday's and Wednesday's.
        let m = next_mornings(tokyo, new_york, at("2026-11-30T12:00:00Z"), 2);
        assert_eq!(
            m,
            vec![
                Morning {
                    mine: "Tuesday 09:00".into(),
                    theirs: "Monday 19:00".into()
                },
                Morning {
                    mine: "Wednesday 09:00".into(),
                    theirs: "Tuesday 19:00".into()
                },
            ]
        );
    }

    #[test]
    fn mornings_across_a_daylight_saving_change() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap_or(Tz::UTC);
        let sao_paulo: Tz = "America/Sao_Paulo".parse().unwrap_or(Tz::UTC);
        // Berlin leaves summer time in the night to Sunday 2026-10-25 (São Paulo has none):
        // 5 hours apart on Saturday, 4 on Sunday.
        let m = next_mornings(berlin, sao_paulo, at("2026-10-24T06:00:00Z"), 2);
        assert_eq!(
            m,
            vec![
                Morning {
                    mine: "Saturday 09:00".into(),
                    theirs: "Saturday 04:00".into()
                },
                Morning {
                    mine: "Sunday 09:00".into(),
                    theirs: "Sunday 05:00".into()
                },
            ]
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Coordinator, Person};

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn pair(started_at: &str, mentor_tz: &str, mentee_tz: &str) -> MentorshipStarted {
        let person = |id: &str, tz: &str| Person {
            id: id.into(),
            name: id.into(),
            email: format!("{id}@example.org"),
            timezone: tz.into(),
            locale: None,
        };
        MentorshipStarted {
            event_id: "e".into(),
            mentorship_id: "m".into(),
            program_id: None,
            started_at: utc(started_at),
            mentor: person("mentor", mentor_tz),
            mentee: person("mentee", mentee_tz),
            coordinator: Coordinator {
                name: "c".into(),
                email: "c@example.org".into(),
                timezone: None,
                locale: None,
            },
        }
    }

    fn row<'a>(rows: &'a [Planned], step: &str, r: Recipient) -> &'a Planned {
        rows.iter()
            .find(|p| p.step_id == step && p.recipient == r)
            .unwrap()
    }

    #[test]
    fn inside_the_window_is_sent_when_due() {
        let w = SendWindow::default();
        let tz: Tz = "Europe/Berlin".parse().unwrap();
        assert_eq!(
            w.next_open(utc("2026-11-24T10:00:00Z"), Some(tz)),
            utc("2026-11-24T10:00:00Z")
        );
    }

    #[test]
    fn at_night_waits_for_the_local_morning() {
        let w = SendWindow::default();
        let tokyo: Tz = "Asia/Tokyo".parse().unwrap();
        // 15:00 UTC is 00:00 in Tokyo: wait for 08:00 Tokyo = 23:00 UTC.
        assert_eq!(
            w.next_open(utc("2026-11-24T15:00:00Z"), Some(tokyo)),
            utc("2026-11-24T23:00:00Z")
        );
        // 12:00 UTC is 21:00 in Tokyo, after the window: next morning.
        assert_eq!(
            w.next_open(utc("2026-11-24T12:00:00Z"), Some(tokyo)),
            utc("2026-11-24T23:00:00Z")
        );
        assert_eq!(
            SendWindow::Off.next_open(utc("2026-11-24T15:00:00Z"), Some(tokyo)),
            utc("2026-11-24T15:00:00Z")
        );
        assert_eq!(
            w.next_open(utc("2026-11-24T03:00:00Z"), None),
            utc("2026-11-24T03:00:00Z")
        );
    }

    #[test]
    fn a_window_that_wraps_midnight() {
        let w = SendWindow::parse("22:00-06:00").unwrap();
        let utc_tz: Tz = "UTC".parse().unwrap();
        assert_eq!(
            w.next_open(utc("2026-11-24T23:30:00Z"), Some(utc_tz)),
            utc("2026-11-24T23:30:00Z")
        );
        assert_eq!(
            w.next_open(utc("2026-11-24T12:00:00Z"), Some(utc_tz)),
            utc("2026-11-24T22:00:00Z")
        );
    }

    #[test]
    fn windows_parse_and_refuse_nonsense() {
        assert_eq!(SendWindow::parse("off"), Ok(SendWindow::Off));
        assert_eq!(SendWindow::parse("08:00-20:00"), Ok(SendWindow::default()));
        assert!(SendWindow::parse("8-20").is_err());
        assert!(SendWindow::parse("09:00-09:00").is_err());
    }

    #[test]
    fn a_pair_that_straddles_daylight_saving_changes() {
        // Berlin leaves summer time on Sunday 2026-10-25 (UTC+2 -> UTC+1);
        // New York follows a week later, on 2026-11-01 (UTC-4 -> UTC-5).
        // Started Friday 2026-10-23 at 22:00 UTC (midnight in Berlin, 18:00 in New York).
        let p = pair("2026-10-23T22:00:00Z", "Europe/Berlin", "America/New_York");
        let rows = plan(
            &p,
            &Playbook::built_in(),
            TimeScale::REAL,
            SendWindow::default(),
        );

        // Welcome: Berlin mentor waits for 08:00 summer time (06:00 UTC); New York is inside.
        assert_eq!(
            row(&rows, "welcome", Recipient::Mentor).send_at,
            utc("2026-10-24T06:00:00Z")
        );
        assert_eq!(
            row(&rows, "welcome", Recipient::Mentee).send_at,
            utc("2026-10-23T22:00:00Z")
        );

        // Check-in due Sunday 22:00 UTC = 23:00 Berlin, now winter time: 08:00 CET is 07:00 UTC.
        let c = row(&rows, "check_in", Recipient::Mentor);
        assert_eq!(c.due_at, utc("2026-10-25T22:00:00Z"));
        assert_eq!(c.send_at, utc("2026-10-26T07:00:00Z"));

        // Wrap-up due Friday 2026-10-30 22:00 UTC = 18:00 in New York (still EDT): inside.
        assert_eq!(
            row(&rows, "wrap_up", Recipient::Mentee).send_at,
            utc("2026-10-30T22:00:00Z")
        );
        // ... and 23:00 in Berlin (CET): next morning 08:00 CET = 07:00 UTC.
        assert_eq!(
            row(&rows, "wrap_up", Recipient::Mentor).send_at,
            utc("2026-10-31T07:00:00Z")
        );
    }

    #[test]
    fn a_window_opening_inside_a_spring_forward_gap_opens_when_the_clock_resumes() {
        // Berlin jumps from 02:00 to 03:00 on 2026-03-29: a 02:30 opening becomes 03:00 CEST = 01:00 UTC.
        let w = SendWindow::parse("02:30-05:00").unwrap();
        let tz: Tz = "Europe/Berlin".parse().unwrap();
        assert_eq!(
            w.next_open(utc("2026-03-28T23:00:00Z"), Some(tz)),
            utc("2026-03-29T01:00:00Z")
        );
    }

    #[test]
    fn time_scale_compresses_offsets() {
        let p = pair("2026-11-24T10:00:00Z", "UTC", "UTC");
        let scale = TimeScale::new(86_400.0).unwrap();
        let rows = plan(&p, &Playbook::built_in(), scale, SendWindow::Off);
        assert_eq!(
            row(&rows, "check_in", Recipient::Mentee).due_at,
            utc("2026-11-24T10:00:02Z")
        );
        assert_eq!(
            row(&rows, "escalation", Recipient::Coordinator).due_at,
            utc("2026-11-24T10:00:07Z")
        );
        assert_eq!(rows.len(), 2 + 2 + 2 + 1 + 2 + 1);
        assert!(in_first_week(
            p.started_at,
            utc("2026-11-24T10:00:06Z"),
            &Playbook::built_in(),
            scale
        ));
        assert!(!in_first_week(
            p.started_at,
            utc("2026-11-24T10:00:08Z"),
            &Playbook::built_in(),
            scale
        ));
        assert!(TimeScale::new(0.5).is_none());
    }
}
