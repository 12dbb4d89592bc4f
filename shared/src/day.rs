//! The one day count people read: "day 4" in an escalation, a digest, a
//! page, the CLI and an escalation's evidence all mean the same stretch of
//! the pair's week.
//!
//! The rule: day N is the N-th 24 hours (program time) after the pair's
//! `started_at`, ending at `started_at + N days` inclusive; the start itself
//! is day 1. So a step the playbook puts at offset `Nd` happens on day N
//! (the day-4 escalation on day 4, the week's last steps at `7d` on day 7),
//! and the moment after it is day N + 1. It counts from the start, not in
//! anyone's local calendar: everyone, in every zone, reads the same number.

use std::fmt;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Deserializer, Serialize};

use crate::timeline::TimeScale;

/// A day of a pair's week as people read it (1-based, see the module).
/// Templates see its number; `Display` writes `day N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Day(u32);

impl Day {
    /// The start's day.
    pub const FIRST: Day = Day(1);

    /// The day `at` falls on for a pair started at `started_at`. A moment
    /// before the start is day 1. The boundaries are the ones the
    /// scheduler dates steps with ([`TimeScale::wall`] of whole days), so
    /// a step due at offset `Nd` is on day N at any time scale.
    pub fn of(started_at: DateTime<Utc>, at: DateTime<Utc>, scale: TimeScale) -> Day {
        let end_of = |n: i64| started_at + scale.wall(Duration::days(n));
        let day_ms = scale.wall(Duration::days(1)).num_milliseconds().max(1);
        let elapsed = (at - started_at).num_milliseconds();
        if elapsed <= 0 {
            return Day::FIRST;
        }
        // A first guess by division, then exact against the scheduler's boundaries.
        let mut n = ((elapsed + day_ms - 1) / day_ms).clamp(1, i64::from(u32::MAX) - 1);
        while n > 1 && at <= end_of(n - 1) {
            n -= 1;
        }
        while at > end_of(n) {
            n += 1;
        }
        Day(u32::try_from(n).unwrap_or(u32::MAX))
    }

    /// Day `n` (day 1 for 0).
    pub fn nth(n: u32) -> Day {
        Day(n.max(1))
    }

    /// Its number (1 for the start's day).
    pub fn number(self) -> u32 {
        self.0
    }

    /// Whether it lies after a week of `week_days` days.
    pub fn after_week(self, week_days: u32) -> bool {
        self.0 > week_days
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "day {}", self.0)
    }
}

/// Evidence stored before this rule may say day 0: it reads as day 1.
impl<'de> Deserialize<'de> for Day {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Day, D::Error> {
        let n = i64::deserialize(d)?;
        Ok(Day(u32::try_from(n.max(1)).unwrap_or(u32::MAX)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start() -> DateTime<Utc> {
        "2026-11-02T09:30:00Z".parse().unwrap_or_default()
    }

    fn day(after: Duration, scale: TimeScale) -> u32 {
        Day::of(start(), start() + after, scale).number()
    }

    #[test]
    fn the_start_is_day_1_and_day_n_ends_n_days_after_it() {
        let real = TimeScale::REAL;
        assert_eq!(day(Duration::zero(), real), 1);
        assert_eq!(day(Duration::hours(-5), real), 1, "before the start");
        assert_eq!(day(Duration::hours(23), real), 1);
        assert_eq!(day(Duration::days(1), real), 1, "the end of day 1");
        assert_eq!(day(Duration::days(1) + Duration::seconds(1), real), 2);
        assert_eq!(day(Duration::hours(3 * 24 + 5), real), 4);
        assert_eq!(day(Duration::days(4), real), 4, "the early escalation");
        assert_eq!(day(Duration::days(7), real), 7, "the week's last steps");
        assert_eq!(day(Duration::days(7) + Duration::milliseconds(1), real), 8);
        assert_eq!(Day::of(start(), start(), real).to_string(), "day 1");
    }

    #[test]
    fn a_step_at_offset_n_days_is_on_day_n_at_any_scale() {
        for factor in [1.0, 7.0, 24.0, 8_640.0, 14_400.0, 86_400.0, 1_000_003.0] {
            let Some(scale) = TimeScale::new(factor) else {
                panic!("{factor}");
            };
            for n in 1..=30 {
                let due = start() + scale.wall(Duration::days(n));
                assert_eq!(
                    Day::of(start(), due, scale).number(),
                    u32::try_from(n).unwrap_or_default(),
                    "x{factor}"
                );
                let next = due + Duration::milliseconds(1);
                assert_eq!(
                    i64::from(Day::of(start(), next, scale).number()),
                    n + 1,
                    "x{factor}"
                );
            }
        }
    }

    #[test]
    fn stored_evidence_of_day_0_reads_as_day_1() {
        let d: Day = serde_json::from_str("0").unwrap_or(Day(99));
        assert_eq!(d, Day::FIRST);
        let d: Day = serde_json::from_str("4").unwrap_or(Day(99));
        assert_eq!(
            (d.number(), serde_json::to_string(&d).ok()),
            (4, Some("4".into()))
        );
        assert!(Day(8).after_week(7) && !Day(7).after_week(7));
    }
}
