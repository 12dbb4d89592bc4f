//! The coordinators' daily digest: one email a day to each coordinator with
//! pairs in (or just past) their first week, listing each pair's progress and
//! the escalation rules that currently fire ([`crate::decision::risks`]).
//!
//! A digest rides the same rails as any step: the scheduler's daily job adds
//! a timeline row per coordinator (a digest subject, step `digest-<date>`),
//! unique per day, so replicas and restarts add it once; the worker gathers
//! the coordinator's pairs and sends it through the delivery ledger like any
//! email. This module is the pure part: when a digest is due ([`due_date`],
//! in the coordinator's own zone) and what it says.
//!
//! Digests follow the wall clock, whatever `FIRSTWEEK_TIME_SCALE` says: a
//! coordinator's morning is a real morning. Only the pairs' program days
//! (and so their risks) run at the scale.

use chrono::{
    DateTime, Days, Duration, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeZone, Utc,
};
use chrono_tz::Tz;
use serde::Serialize;

use crate::decision::{self, Pair, Rules};
use crate::timeline;

/// Step ids of digests start with this, followed by the date.
pub const STEP_PREFIX: &str = "digest-";
/// The template digests use.
pub const TEMPLATE: &str = "digest";

/// The step id of the digest of `day`.
pub fn step_id(day: NaiveDate) -> String {
    format!("{STEP_PREFIX}{day}")
}

/// The date part of a digest's step id.
pub fn date_of(step_id: &str) -> Option<&str> {
    step_id.strip_prefix(STEP_PREFIX)
}

/// What a digest email carries in `X-Firstweek-Mentorship` and derives its
/// Message-ID from: it is about no one pair, so it names its coordinator
/// (the email's own recipient).
pub fn header_id(coordinator_email: &str) -> String {
    format!("digest:{coordinator_email}")
}

/// How far back a pair still belongs in the digest: its first week and one day.
pub fn horizon(rules: &Rules) -> Duration {
    decision::horizon(rules, Duration::days(1))
}

/// The instant the digest of local date `date` is due: `at` on that date in
/// `tz` (UTC when `None`). On a spring-forward day when `at` falls in the
/// gap, the first valid instant after it (the moment the clocks jump); on a
/// fall-back day when `at` happens twice, the earlier. `None` for a date the
/// zone skipped altogether (Samoa's 2011-12-30): it has no morning.
pub fn due_instant(date: NaiveDate, at: NaiveTime, tz: Option<Tz>) -> Option<DateTime<Utc>> {
    let zone = tz.unwrap_or(Tz::UTC);
    let local = date.and_time(at);
    let instant = match zone.from_local_datetime(&local).earliest() {
        Some(t) => t.with_timezone(&Utc),
        None => first_valid_after(zone, local)?,
    };
    // A gap that swallows the rest of the day lands on the next date, which
    // has its own digest: this date then has none.
    (instant.with_timezone(&zone).date_naive() == date).then_some(instant)
}

/// The first instant whose local time in `zone` is at or after `local`, a
/// time the zone skipped. The gap is one jump of the UTC offset from
/// `before` to `after`: `local` read with `after` names an instant before the
/// jump, read with `before` one after it, and local time only moves forward
/// between the two, so a binary search over seconds finds the jump.
fn first_valid_after(zone: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    let offset = |utc: NaiveDateTime| {
        Duration::seconds(i64::from(
            zone.offset_from_utc_datetime(&utc).fix().local_minus_utc(),
        ))
    };
    // Far enough on either side that no offset (at most ±14 h) reaches the jump.
    let wide = Duration::hours(36);
    let (before, after) = (offset(local - wide), offset(local + wide));
    let reads_at_or_after = |ts: i64| {
        DateTime::from_timestamp(ts, 0).map(|u| {
            let u = u.naive_utc();
            u + offset(u) >= local
        })
    };
    let mut lo = (local - after).and_utc().timestamp();
    let mut hi = (local - before).and_utc().timestamp();
    if hi <= lo || reads_at_or_after(lo)? || !reads_at_or_after(hi)? {
        return None;
    }
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if reads_at_or_after(mid)? {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    DateTime::from_timestamp(hi, 0)
}

/// Which local date's digest is due as of `now`: the latest local date (in
/// `tz`, UTC when `None`) whose [`due_instant`] has passed. It changes once
/// per local date, at that date's instant, so a job asking every minute adds
/// exactly one digest per coordinator per local date, DST days included.
pub fn due_date(at: NaiveTime, tz: Option<Tz>, now: DateTime<Utc>) -> Option<NaiveDate> {
    let today = now.with_timezone(&tz.unwrap_or(Tz::UTC)).date_naive();
    // Yesterday's instant has always passed, unless the zone skipped
    // yesterday: then the day before.
    (0..=2)
        .filter_map(|back| today.checked_sub_days(Days::new(back)))
        .find(|d| due_instant(*d, at, tz).is_some_and(|t| t <= now))
}

/// One pair's line in a digest.
#[derive(Debug, Clone, Serialize)]
pub struct PairLine {
    /// The pair's id.
    pub mentorship_id: String,
    /// The mentor's name.
    pub mentor: String,
    /// The mentee's name.
    pub mentee: String,
    /// Program day of the first week (0-based).
    pub day: i64,
    /// Interactions so far.
    pub total: u32,
    /// Of which by the mentor.
    pub by_mentor: u32,
    /// Of which by the mentee.
    pub by_mentee: u32,
    /// A plan or goals were shared.
    pub has_plan: bool,
    /// The escalation rules that fire as of now, in words (empty: on track).
    pub risks: Vec<String>,
}

/// Everything the digest template may use.
#[derive(Debug, Clone, Serialize)]
pub struct DigestContext {
    /// The coordinator's name.
    pub coordinator: String,
    /// The digest's date (`YYYY-MM-DD`).
    pub date: String,
    /// One line per pair.
    pub pairs: Vec<PairLine>,
    /// How many of them need a look.
    pub at_risk: usize,
    /// The coordinator's own page (`FIRSTWEEK_PUBLIC_URL` set), if any.
    pub page_url: Option<String>,
}

impl DigestContext {
    /// The digest of these pairs; `None` when there is no pair to report.
    pub fn new(coordinator: String, date: &str, pairs: Vec<PairLine>) -> Option<DigestContext> {
        if pairs.is_empty() {
            return None;
        }
        let at_risk = pairs.iter().filter(|p| !p.risks.is_empty()).count();
        Some(DigestContext {
            coordinator,
            date: date.to_string(),
            pairs,
            at_risk,
            page_url: None,
        })
    }

    /// The same digest, linking to the coordinator's page.
    pub fn with_page(mut self, url: String) -> DigestContext {
        self.page_url = Some(url);
        self
    }
}

/// One pair's line as of `now`.
pub fn line(rules: &Rules, pair: Pair<'_>, now: DateTime<Utc>) -> PairLine {
    let started = pair.started;
    let summary = decision::week_summary(rules, pair, now);
    PairLine {
        mentorship_id: started.mentorship_id.clone(),
        mentor: started.mentor.name.clone(),
        mentee: started.mentee.name.clone(),
        day: timeline::program_day(started.started_at, now, rules.scale),
        total: summary.total,
        by_mentor: summary.mentor,
        by_mentee: summary.mentee,
        has_plan: summary.has_plan(),
        risks: decision::risks(rules, pair, now)
            .into_iter()
            .map(|r| r.reason)
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Actor, Coordinator, InteractionKind, MentorshipStarted, Person};
    use crate::interaction::Interaction;
    use crate::playbook::Playbook;
    use crate::timeline::{SendWindow, TimeScale};

    fn rules() -> Rules {
        Rules {
            playbook: Playbook::built_in(),
            scale: TimeScale::REAL,
            window: SendWindow::Off,
        }
    }

    fn pair(started_at: DateTime<Utc>) -> MentorshipStarted {
        let p = |n: &str| Person {
            id: n.into(),
            name: n.into(),
            email: format!("{n}@example.org"),
            timezone: "UTC".into(),
        };
        MentorshipStarted {
            event_id: "e".into(),
            mentorship_id: "m".into(),
            program_id: None,
            started_at,
            mentor: p("ada"),
            mentee: p("bo"),
            coordinator: Coordinator {
                name: "Cy".into(),
                email: "cy@example.org".into(),
                timezone: None,
            },
        }
    }

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn hm(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn zone(name: &str) -> Option<Tz> {
        Some(name.parse().unwrap())
    }

    #[test]
    fn digest_step_ids_carry_their_date() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
        assert_eq!(step_id(day), "digest-2026-11-24");
        assert_eq!(date_of(&step_id(day)), Some("2026-11-24"));
        assert_eq!(date_of("welcome"), None);
    }

    #[test]
    fn without_a_zone_the_digest_is_due_at_digest_at_utc() {
        let at = hm(8, 0);
        assert_eq!(
            due_instant(date("2026-11-24"), at, None),
            Some(utc("2026-11-24T08:00:00Z"))
        );
        assert_eq!(
            due_date(at, None, utc("2026-11-24T07:59:59Z")),
            Some(date("2026-11-23"))
        );
        assert_eq!(
            due_date(at, None, utc("2026-11-24T08:00:00Z")),
            Some(date("2026-11-24"))
        );
        assert_eq!(
            due_date(at, None, utc("2026-11-24T23:59:59Z")),
            Some(date("2026-11-24"))
        );
    }

    #[test]
    fn los_angeles_spring_forward_takes_the_first_instant_after_the_gap() {
        // 2026-03-08: 02:00 PST jumps to 03:00 PDT; 02:30 never happens.
        let la = zone("America/Los_Angeles");
        let at = hm(2, 30);
        assert_eq!(
            due_instant(date("2026-03-08"), at, la),
            Some(utc("2026-03-08T10:00:00Z")),
            "03:00 PDT, the moment the clocks jump"
        );
        assert_eq!(
            due_date(at, la, utc("2026-03-08T09:59:59Z")),
            Some(date("2026-03-07"))
        );
        assert_eq!(
            due_date(at, la, utc("2026-03-08T10:00:00Z")),
            Some(date("2026-03-08"))
        );
        // The ordinary morning on either side keeps its own offset.
        assert_eq!(
            due_instant(date("2026-03-07"), hm(8, 0), la),
            Some(utc("2026-03-07T16:00:00Z"))
        );
        assert_eq!(
            due_instant(date("2026-03-08"), hm(8, 0), la),
            Some(utc("2026-03-08T15:00:00Z"))
        );
    }

    #[test]
    fn los_angeles_fall_back_takes_the_earlier_of_the_two() {
        // 2026-11-01: 02:00 PDT falls back to 01:00 PST; 01:30 happens twice.
        let la = zone("America/Los_Angeles");
        let at = hm(1, 30);
        assert_eq!(
            due_instant(date("2026-11-01"), at, la),
            Some(utc("2026-11-01T08:30:00Z")),
            "01:30 PDT, not 01:30 PST (09:30Z)"
        );
        // The second 01:30 is the same local date: no second digest.
        assert_eq!(
            due_date(at, la, utc("2026-11-01T09:30:00Z")),
            Some(date("2026-11-01"))
        );
    }

    #[test]
    fn berlin_dst_days() {
        let berlin = zone("Europe/Berlin");
        // 2026-03-29: 02:00 CET jumps to 03:00 CEST.
        assert_eq!(
            due_instant(date("2026-03-29"), hm(2, 30), berlin),
            Some(utc("2026-03-29T01:00:00Z"))
        );
        assert_eq!(
            due_instant(date("2026-03-29"), hm(8, 0), berlin),
            Some(utc("2026-03-29T06:00:00Z"))
        );
        // 2026-10-25: 03:00 CEST falls back to 02:00 CET.
        assert_eq!(
            due_instant(date("2026-10-25"), hm(2, 30), berlin),
            Some(utc("2026-10-25T00:30:00Z")),
            "02:30 CEST, the earlier"
        );
        assert_eq!(
            due_instant(date("2026-10-25"), hm(8, 0), berlin),
            Some(utc("2026-10-25T07:00:00Z"))
        );
    }

    #[test]
    fn auckland_is_a_day_ahead_of_utc_and_has_its_own_dst_days() {
        let akl = zone("Pacific/Auckland");
        // Its 08:00 on the 25th is 19:00 UTC on the 24th (NZDT, +13).
        assert_eq!(
            due_instant(date("2026-11-25"), hm(8, 0), akl),
            Some(utc("2026-11-24T19:00:00Z"))
        );
        assert_eq!(
            due_date(hm(8, 0), akl, utc("2026-11-24T19:00:00Z")),
            Some(date("2026-11-25"))
        );
        assert_eq!(
            due_date(hm(8, 0), akl, utc("2026-11-24T18:59:00Z")),
            Some(date("2026-11-24"))
        );
        // 2026-09-27: 02:00 NZST jumps to 03:00 NZDT.
        assert_eq!(
            due_instant(date("2026-09-27"), hm(2, 30), akl),
            Some(utc("2026-09-26T14:00:00Z"))
        );
        // 2026-04-05: 03:00 NZDT falls back to 02:00 NZST.
        assert_eq!(
            due_instant(date("2026-04-05"), hm(2, 30), akl),
            Some(utc("2026-04-04T13:30:00Z")),
            "02:30 NZDT, the earlier"
        );
    }

    #[test]
    fn a_date_the_zone_skipped_has_no_digest() {
        // Samoa skipped 2011-12-30, going from UTC-10 to UTC+14.
        let apia = zone("Pacific/Apia");
        assert_eq!(due_instant(date("2011-12-30"), hm(8, 0), apia), None);
        assert_eq!(
            due_date(hm(8, 0), apia, utc("2011-12-30T17:00:00Z")),
            Some(date("2011-12-29")),
            "07:00 on the 31st: the 29th's is still the latest"
        );
    }

    /// Asking every few minutes across DST changes: the due date moves
    /// forward one local date at a time, exactly at that date's instant.
    #[test]
    fn exactly_one_digest_per_local_date_across_dst_changes() {
        let cases = [
            ("UTC", "2026-03-01T00:00:00Z"),
            ("America/Los_Angeles", "2026-03-05T00:00:00Z"),
            ("America/Los_Angeles", "2026-10-29T00:00:00Z"),
            ("Europe/Berlin", "2026-03-26T00:00:00Z"),
            ("Europe/Berlin", "2026-10-22T00:00:00Z"),
            ("Pacific/Auckland", "2026-04-02T00:00:00Z"),
            ("Pacific/Auckland", "2026-09-24T00:00:00Z"),
            ("Pacific/Apia", "2011-12-27T00:00:00Z"),
        ];
        let step = Duration::minutes(5);
        for (name, from) in cases {
            for at in [
                hm(0, 0),
                hm(1, 30),
                hm(2, 0),
                hm(2, 30),
                hm(8, 0),
                hm(23, 55),
            ] {
                let tz = zone(name);
                let mut t = utc(from);
                let mut prev = due_date(at, tz, t).unwrap();
                let mut seen = vec![prev];
                for _ in 0..(7 * 24 * 12) {
                    t += step;
                    let d = due_date(at, tz, t).unwrap();
                    if d != prev {
                        let instant = due_instant(d, at, tz).unwrap();
                        assert!(
                            instant <= t && t - step < instant,
                            "{name} {at}: {d} became due at {t}, its instant is {instant}"
                        );
                        let skipped = name == "Pacific/Apia" && d == date("2011-12-31");
                        let expected = prev.succ_opt().unwrap();
                        assert!(d == expected || skipped, "{name} {at}: {prev} then {d}");
                        seen.push(d);
                        prev = d;
                    }
                }
                let mut unique = seen.clone();
                unique.dedup();
                assert_eq!(unique, seen, "{name} {at}: a date came due twice");
                assert!(seen.len() >= 7, "{name} {at}: {seen:?}");
            }
        }
    }

    fn at(started: &MentorshipStarted, ledger: &[Interaction], now: DateTime<Utc>) -> PairLine {
        line(
            &rules(),
            Pair {
                started,
                ended_at: None,
                ledger,
                unsubscribed: &[],
            },
            now,
        )
    }

    #[test]
    fn a_line_shows_progress_and_only_the_risks_the_week_has_had_time_for() {
        let now: DateTime<Utc> = "2026-11-24T12:00:00Z".parse().unwrap();
        let silent_since_day_0 = at(&pair(now - Duration::hours(12)), &[], now);
        assert_eq!(
            (silent_since_day_0.day, silent_since_day_0.risks.len()),
            (0, 0),
            "day 0: too early to worry"
        );

        let msg = |actor, h| Interaction {
            kind: InteractionKind::Message,
            actor,
            occurred_at: now - Duration::hours(h),
            duration_minutes: None,
        };
        let ledger = [msg(Actor::Mentor, 70), msg(Actor::Mentor, 50)];
        let one_sided = at(&pair(now - Duration::hours(80)), &ledger, now);
        assert_eq!(one_sided.day, 3);
        assert_eq!(
            (one_sided.total, one_sided.by_mentor, one_sided.by_mentee),
            (2, 2, 0)
        );
        // Day 3: one-sided already; two interactions are enough for three days; a plan is not asked for before day 4.
        assert_eq!(
            one_sided.risks,
            vec!["one-sided: only the mentor has interacted".to_string()]
        );

        let silent_day_5 = at(&pair(now - Duration::hours(125)), &[], now);
        assert_eq!(silent_day_5.day, 5);
        let firsts: Vec<&str> = silent_day_5
            .risks
            .iter()
            .map(|r| r.split(':').next().unwrap_or(""))
            .collect();
        assert_eq!(
            firsts,
            vec![
                "no interaction at all",
                "low interaction",
                "no plan or goals shared yet"
            ],
            "{:?}",
            silent_day_5.risks
        );
    }

    #[test]
    fn the_digest_renders_with_the_pairs_that_need_a_look() {
        let now: DateTime<Utc> = "2026-11-24T12:00:00Z".parse().unwrap();
        let ctx = DigestContext {
            coordinator: "Cy".into(),
            date: "2026-11-24".into(),
            pairs: vec![at(&pair(now - Duration::hours(80)), &[], now)],
            at_risk: 1,
            page_url: Some("https://fw.example.org/c/abc".into()),
        };
        let t = crate::email::Templates::load(None).unwrap();
        let from: lettre::message::Mailbox = "fw <fw@example.org>".parse().unwrap();
        let c = crate::email::compose_any(
            &t,
            TEMPLATE,
            &ctx,
            ("digest-2026-11-24", "digest:cy@example.org"),
            &from,
            "Cy",
            "cy@example.org",
            "<x@example.org>".into(),
        )
        .unwrap();
        let raw = String::from_utf8(c.message.formatted()).unwrap();
        assert!(
            raw.contains("https://fw.example.org/c/abc"),
            "the page link is in the digest"
        );
        assert!(
            raw.contains("Subject: Your mentorship pairs today: 1 of 1 need a look"),
            "{raw}"
        );
        assert!(raw.contains("needs a look: no interaction at all"), "{raw}");
        assert!(raw.contains("X-Firstweek-Step: digest-2026-11-24"));
    }
}
