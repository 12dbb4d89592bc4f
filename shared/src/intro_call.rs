//! The intro call's suggested times: two or three 30-minute slots on the
//! next working days of the pair's first week, each inside BOTH people's
//! local hours (their send windows; a sensible daytime when sending is
//! unrestricted), or none when no time suits both: then the pair goes async,
//! as the seed says a call is optional.
//!
//! Both people get the same slots (they are computed from the pair, not
//! from when each email leaves), so they can agree on one. Every check is
//! made on each zone's own clock, minute by minute, so a daylight-saving
//! change inside the week moves nothing outside anyone's hours.

use chrono::{DateTime, Datelike, Duration, NaiveTime, Timelike, Utc, Weekday};
use chrono_tz::Tz;

use crate::event::MentorshipStarted;
use crate::timeline::SendWindow;

/// How long the intro call is.
pub const CALL_MINUTES: i64 = 30;
/// At most this many slots are offered.
pub const MAX_SLOTS: usize = 3;
/// The local hours for a call when the send window is `off` (sending at
/// any hour says nothing about when people take calls).
pub const DAYTIME: (NaiveTime, NaiveTime) = (
    match NaiveTime::from_hms_opt(9, 0, 0) {
        Some(t) => t,
        None => NaiveTime::MIN,
    },
    match NaiveTime::from_hms_opt(18, 0, 0) {
        Some(t) => t,
        None => NaiveTime::MIN,
    },
);
/// The first slot starts at least this long after both welcomes went out,
/// so each has seen the email first (in practice: from the next day).
pub const LEAD: Duration = Duration::hours(12);
/// A slot this far inside both people's hours is as good as any later one;
/// closer to an edge (08:00 for one of them) it is offered only when
/// nothing better exists that day.
const COMFORT_MINUTES: i64 = 120;

/// One suggested call time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    /// When it starts.
    pub start: DateTime<Utc>,
}

impl Slot {
    /// When it ends.
    pub fn end(self) -> DateTime<Utc> {
        self.start + Duration::minutes(CALL_MINUTES)
    }
}

/// The local hours `[start, end)` a person may be called in; `end < start`
/// wraps past midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Hours {
    start: u32,
    len: u32,
}

impl Hours {
    fn of(window: SendWindow) -> Hours {
        let (start, end) = match window {
            SendWindow::Local { start, end } => (start, end),
            SendWindow::Off => DAYTIME,
        };
        let (s, e) = (minute_of_day(start), minute_of_day(end));
        Hours {
            start: s,
            len: (e + 1440 - s) % 1440,
        }
    }

    /// Minutes since the hours opened, if `local` is inside them.
    fn since_open(self, local: NaiveTime) -> Option<u32> {
        let since = (minute_of_day(local) + 1440 - self.start) % 1440;
        (since < self.len).then_some(since)
    }
}

fn minute_of_day(t: NaiveTime) -> u32 {
    t.hour() * 60 + t.minute()
}

fn working_day(d: Weekday) -> bool {
    !matches!(d, Weekday::Sat | Weekday::Sun)
}

/// How comfortably `[start, start + 30 min)` sits inside `hours` on `tz`'s
/// clock (minutes to the nearer edge), or `None` when any minute of it is
/// outside them or it is not a working day there.
fn margin(hours: Hours, tz: Tz, start: DateTime<Utc>) -> Option<i64> {
    let first = start.with_timezone(&tz);
    if !working_day(first.weekday()) {
        return None;
    }
    for m in 0..CALL_MINUTES {
        let local = (start + Duration::minutes(m)).with_timezone(&tz);
        hours.since_open(local.time())?;
        if local.date_naive() != first.date_naive() {
            return None;
        }
    }
    let since = i64::from(hours.since_open(first.time())?);
    Some(since.min(i64::from(hours.len) - since - CALL_MINUTES))
}

/// Up to [`MAX_SLOTS`] slots in `[after, until]` inside `window` on both
/// `a`'s and `b`'s clocks, on working days in both: the most comfortable
/// one of each of the first days that have one; when fewer than two days
/// do, a second slot at least two hours from the first.
pub fn slots(
    a: Tz,
    b: Tz,
    window: SendWindow,
    after: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Vec<Slot> {
    let hours = Hours::of(window);
    // Candidates start on the hour or the half hour.
    let step = Duration::minutes(30);
    let mut t = after
        .with_second(0)
        .and_then(|t| t.with_nanosecond(0))
        .unwrap_or(after);
    let past_half = i64::from(t.minute() % 30);
    if past_half != 0 || t < after {
        t += Duration::minutes(30 - past_half);
    }
    let mut candidates: Vec<(Slot, i64)> = Vec::new();
    while t + Duration::minutes(CALL_MINUTES) <= until {
        if let (Some(ma), Some(mb)) = (margin(hours, a, t), margin(hours, b, t)) {
            candidates.push((Slot { start: t }, ma.min(mb).min(COMFORT_MINUTES)));
        }
        t += step;
    }

    // The best of each day (on `a`'s calendar), earliest first on a tie.
    let mut picked: Vec<(Slot, i64)> = Vec::new();
    for &(slot, score) in &candidates {
        let day = slot.start.with_timezone(&a).date_naive();
        let same_day = picked
            .iter()
            .position(|(s, _)| s.start.with_timezone(&a).date_naive() == day);
        match same_day {
            Some(i) if score > picked[i].1 => picked[i] = (slot, score),
            Some(_) => {}
            None if picked.len() < MAX_SLOTS => picked.push((slot, score)),
            None => break,
        }
    }
    let mut out: Vec<Slot> = picked.into_iter().map(|(s, _)| s).collect();
    if out.len() == 1 {
        let mut rest: Vec<&(Slot, i64)> = candidates
            .iter()
            .filter(|(s, _)| (s.start - out[0].start).abs() >= Duration::hours(2))
            .collect();
        rest.sort_by_key(|(s, score)| (-score, s.start));
        if let Some((s, _)) = rest.first() {
            out.push(*s);
            out.sort_by_key(|s| s.start);
        }
    }
    out
}

/// The pair's slots: from [`LEAD`] after the later of the two welcomes'
/// send times (each person's window opening at the start) to the end of
/// the first week, `week_days` calendar days after the start (a call is
/// made on real days even when program time runs faster). Empty when a
/// time zone is unknown.
pub fn for_pair(started: &MentorshipStarted, window: SendWindow, week_days: u32) -> Vec<Slot> {
    let zone = |name: &str| name.parse::<Tz>().ok();
    let (Some(a), Some(b)) = (
        zone(&started.mentor.timezone),
        zone(&started.mentee.timezone),
    ) else {
        return Vec::new();
    };
    let welcomed = window
        .next_open(started.started_at, Some(a))
        .max(window.next_open(started.started_at, Some(b)));
    let until = started.started_at + Duration::days(i64::from(week_days));
    slots(a, b, window, welcomed + LEAD, until)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn tz(name: &str) -> Tz {
        name.parse().unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    /// Whether every minute of the slot is inside `window` (or the daytime
    /// when it is off) on `zone`'s clock, on a working day there: checked
    /// independently of the code under test.
    fn inside(slot: Slot, zone: Tz, window: SendWindow) -> bool {
        let (open, close) = match window {
            SendWindow::Local { start, end } => (start, end),
            SendWindow::Off => DAYTIME,
        };
        let s = slot.start.with_timezone(&zone);
        let e = slot.end().with_timezone(&zone);
        let inside = if open < close {
            s.time() >= open && e.time() <= close && s.date_naive() == e.date_naive()
        } else {
            s.time() >= open || e.time() <= close
        };
        inside && working_day(s.weekday())
    }

    #[test]
    fn slots_fall_inside_both_windows_on_working_days() {
        let window = SendWindow::default();
        let zones = [
            ("Europe/Berlin", "America/New_York"),
            ("Europe/Berlin", "America/Sao_Paulo"),
            ("Asia/Kolkata", "Europe/London"),
            ("Asia/Tokyo", "America/Los_Angeles"),
            ("Australia/Sydney", "Asia/Singapore"),
        ];
        // Monday 2026-11-30 10:00 UTC, a week ahead.
        let after = utc("2026-11-30T10:00:00Z");
        for (x, y) in zones {
            let (a, b) = (tz(x), tz(y));
            let s = slots(a, b, window, after, after + Duration::days(7));
            assert!((2..=MAX_SLOTS).contains(&s.len()), "{x}/{y}: {s:?}");
            for slot in &s {
                assert!(slot.start >= after, "{x}/{y}: {slot:?}");
                assert!(
                    inside(*slot, a, window) && inside(*slot, b, window),
                    "{x}/{y}: {slot:?}"
                );
            }
            assert!(s.windows(2).all(|w| w[0].start < w[1].start), "{s:?}");
        }
    }

    #[test]
    fn a_same_zone_pair_gets_comfortable_times_on_three_days() {
        let berlin = tz("Europe/Berlin");
        // Monday 10:00 UTC: the first slots are Tuesday's, 10:00 Berlin
        // (two hours into the day), not 08:00.
        let after = utc("2026-11-30T22:00:00Z");
        let s = slots(
            berlin,
            berlin,
            SendWindow::default(),
            after,
            after + Duration::days(6),
        );
        let local: Vec<String> = s
            .iter()
            .map(|s| {
                s.start
                    .with_timezone(&berlin)
                    .format("%a %H:%M")
                    .to_string()
            })
            .collect();
        assert_eq!(local, ["Tue 10:00", "Wed 10:00", "Thu 10:00"]);
    }

    #[test]
    fn no_slot_when_the_windows_do_not_overlap() {
        // Berlin and Auckland are 12 hours apart in December: 09:00-18:00 in
        // one is night in the other.
        let (berlin, auckland) = (tz("Europe/Berlin"), tz("Pacific/Auckland"));
        let after = utc("2026-11-30T10:00:00Z");
        let week = after + Duration::days(7);
        assert_eq!(slots(berlin, auckland, SendWindow::Off, after, week), []);
        let narrow = SendWindow::parse("09:00-12:00").unwrap_or_default();
        assert_eq!(
            slots(
                tz("Europe/London"),
                tz("America/Chicago"),
                narrow,
                after,
                week
            ),
            []
        );
    }

    #[test]
    fn the_off_window_means_daytime_not_any_hour() {
        let (berlin, sao_paulo) = (tz("Europe/Berlin"), tz("America/Sao_Paulo"));
        let after = utc("2026-11-30T10:00:00Z");
        let s = slots(
            berlin,
            sao_paulo,
            SendWindow::Off,
            after,
            after + Duration::days(7),
        );
        assert_eq!(s.len(), 3, "{s:?}");
        for slot in s {
            assert!(
                inside(slot, berlin, SendWindow::Off) && inside(slot, sao_paulo, SendWindow::Off),
                "{slot:?}"
            );
        }
    }

    #[test]
    fn weekends_are_skipped_and_a_short_week_still_offers_two() {
        let berlin = tz("Europe/Berlin");
        // Thursday 2026-12-03 20:00 UTC to Saturday: only Friday is left.
        let s = slots(
            berlin,
            berlin,
            SendWindow::default(),
            utc("2026-12-03T20:00:00Z"),
            utc("2026-12-06T20:00:00Z"),
        );
        assert_eq!(s.len(), 2, "{s:?}");
        for slot in &s {
            assert_eq!(slot.start.with_timezone(&berlin).weekday(), Weekday::Fri);
        }
        assert!(s[1].start - s[0].start >= Duration::hours(2));
    }

    #[test]
    fn across_a_daylight_saving_change_times_stay_inside_both_clocks() {
        // Berlin leaves summer time on Sunday 2026-10-25, New York a week
        // later: in between they are 5 hours apart, else 6.
        let (berlin, new_york) = (tz("Europe/Berlin"), tz("America/New_York"));
        let window = SendWindow::parse("09:00-17:00").unwrap_or_default();
        for start in ["2026-10-22T12:00:00Z", "2026-10-29T12:00:00Z"] {
            let after = utc(start);
            let s = slots(berlin, new_york, window, after, after + Duration::days(7));
            assert!(s.len() >= 2, "{start}: {s:?}");
            for slot in s {
                assert!(
                    inside(slot, berlin, window) && inside(slot, new_york, window),
                    "{start}: {slot:?} is {} in Berlin, {} in New York",
                    slot.start.with_timezone(&berlin),
                    slot.start.with_timezone(&new_york)
                );
            }
        }
    }

    #[test]
    fn both_people_get_the_same_slots_after_both_welcomes() {
        use crate::event::{Coordinator, Person};
        let person = |tz: &str| Person {
            id: tz.into(),
            name: tz.into(),
            email: "x@example.org".into(),
            timezone: tz.into(),
            locale: None,
        };
        // Monday 05:00 UTC: 06:00 in Berlin (its welcome waits for 08:00),
        // 02:00 in São Paulo (08:00 there is 11:00 UTC).
        let started = MentorshipStarted {
            event_id: "e".into(),
            mentorship_id: "m".into(),
            program_id: None,
            started_at: utc("2026-11-30T05:00:00Z"),
            mentor: person("Europe/Berlin"),
            mentee: person("America/Sao_Paulo"),
            coordinator: Coordinator {
                name: "c".into(),
                email: "c@example.org".into(),
                timezone: None,
                locale: None,
            },
        };
        let s = for_pair(&started, SendWindow::default(), 7);
        assert_eq!(s.len(), 3, "{s:?}");
        assert!(s[0].start >= utc("2026-11-30T11:00:00Z") + LEAD, "{s:?}");
        assert!(s[2].end() <= utc("2026-12-07T05:00:00Z"));
        let mut unknown = started;
        unknown.mentee.timezone = "Mars/Olympus".into();
        assert_eq!(for_pair(&unknown, SendWindow::default(), 7), []);
    }
}
