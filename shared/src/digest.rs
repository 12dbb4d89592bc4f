//! The coordinators' daily digest: one email a day to each coordinator, in
//! their own morning (the playbook's `digest_at` in their time zone, UTC when
//! they have none), as an action queue: first the escalations nobody has
//! acknowledged yet, then the pairs trending low that no escalation covers
//! yet ([`crate::decision::risks`] fires), then one line of counts for the
//! rest. A day with nothing to act on sends nothing, unless the playbook asks
//! for an "all quiet" (`digest_all_quiet`).
//!
//! A digest rides the same rails as any step: the scheduler's digest job
//! adds a timeline row per coordinator once their morning has come ([`due_today`]: a
//! digest subject, step `digest-<local date>`), unique per coordinator and
//! date, so replicas and restarts add it once; the worker gathers the
//! coordinator's pairs and escalations and sends it through the delivery
//! ledger like any email. This module is the pure part: when a digest is due
//! and what it says.
//!
//! Digests follow the wall clock, whatever `FIRSTWEEK_TIME_SCALE` says: a
//! coordinator's morning is a real morning. Only the pairs' program days
//! (and so their risks) run at the scale.

use chrono::{
    DateTime, Days, Duration, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeZone, Utc,
};
use chrono_tz::Tz;
use serde::Serialize;

use crate::coordinator::{self, advice};
use crate::day::Day;
use crate::decision::{self, Pair, Rules};
use crate::escalation::{Escalation, State};
use crate::interaction::KindCount;

/// Step ids of digests start with this, followed by the date.
pub const STEP_PREFIX: &str = "digest-";
/// The template digests use.
pub const TEMPLATE: &str = "digest";

/// The step id of the digest of `day`.
pub fn step_id(day: NaiveDate) -> String {
    format!("{STEP_PREFIX}{day}")
}

/// What a digest email carries in `X-Firstweek-Mentorship` and derives its
/// Message-ID from: it is about no one pair, so it names its coordinator by
/// their opaque key (the one their escalations carry), never by address: a
/// downstream system stores this header as a key, where erasure cannot reach.
pub fn header_id(coordinator_key: &str) -> String {
    format!("digest:{coordinator_key}")
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

/// The digest the scheduler adds as of `now`: today's (the local date in
/// `tz`), once its [`due_instant`] has passed; `None` before. A day's digest
/// belongs to that day: a coordinator who first appears at 03:00, or a
/// scheduler back from a day-long outage, gets no digest of yesterday at
/// night (and a second one in the same morning); that morning's comes at
/// `digest_at`.
pub fn due_today(at: NaiveTime, tz: Option<Tz>, now: DateTime<Utc>) -> Option<NaiveDate> {
    let today = now.with_timezone(&tz.unwrap_or(Tz::UTC)).date_naive();
    due_date(at, tz, now).filter(|d| *d == today)
}

/// One pair's line in a digest (and on the coordinator's page).
#[derive(Debug, Clone, Serialize)]
pub struct PairLine {
    /// The pair's id.
    pub mentorship_id: String,
    /// The mentor's name.
    pub mentor: String,
    /// The mentee's name.
    pub mentee: String,
    /// The day of the pair's week, as of now ([`Day`]).
    pub day: Day,
    /// How many days its first week has.
    pub week_days: u32,
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
    /// What to do about those, most pressing first (empty: on track).
    pub advice: Vec<advice::AdviceLine>,
    /// The pair's own page (a digest with a page link), if any.
    pub url: Option<String>,
}

/// One pair's line as of `now`.
pub fn line(rules: &Rules, pair: Pair<'_>, now: DateTime<Utc>) -> PairLine {
    let rules = &*rules.pinned(pair.playbook);
    let started = pair.started;
    let summary = decision::week_summary(rules, pair, now);
    let risks = decision::risks(rules, pair, now);
    let fired: Vec<_> = risks.iter().map(|r| r.condition).collect();
    PairLine {
        mentorship_id: started.mentorship_id.clone(),
        mentor: started.mentor.name.clone(),
        mentee: started.mentee.name.clone(),
        day: Day::of(started.started_at, now, rules.scale),
        week_days: rules.playbook.week_days,
        total: summary.total,
        by_mentor: summary.mentor,
        by_mentee: summary.mentee,
        has_plan: summary.has_plan(),
        advice: if fired.is_empty() {
            Vec::new()
        } else {
            advice::lines(&fired, &summary)
        },
        risks: risks.into_iter().map(|r| r.reason).collect(),
        url: None,
    }
}

/// An escalation waiting for the coordinator: opened, not acknowledged.
#[derive(Debug, Clone, Serialize)]
pub struct EscalationLine {
    /// The pair's id.
    pub mentorship_id: String,
    /// The mentor's name, when the pair is still stored.
    pub mentor: Option<String>,
    /// The mentee's name, when the pair is still stored.
    pub mentee: Option<String>,
    /// The rules that fired, in words.
    pub rules: Vec<String>,
    /// The day of the pair's week the counts are as of: today's when the
    /// pair is stored, else the day of the escalation's latest evidence.
    pub day: Day,
    /// The day of the pair's week the escalation opened on.
    pub opened_day: Option<Day>,
    /// Interactions by either side.
    pub total: u32,
    /// Of which by the mentor.
    pub by_mentor: u32,
    /// Of which by the mentee.
    pub by_mentee: u32,
    /// Counts by kind and side, for the kinds that occurred.
    pub kinds: Vec<KindCount>,
    /// When the latest interaction occurred, in the coordinator's zone.
    pub last_activity: Option<String>,
    /// When the escalation opened, in the coordinator's zone.
    pub open_since: String,
    /// What to do, by the rules that fired and what the pair has done since
    /// (empty when the pair is no longer stored: nobody to reach).
    pub advice: Vec<advice::AdviceLine>,
    /// The pair's own page (a digest with a page link), if any.
    pub url: Option<String>,
}

/// The rest of the coordinator's pairs, counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Others {
    /// All of them.
    pub total: usize,
    /// No rule fires.
    pub on_track: usize,
    /// Their escalation is acknowledged: the coordinator is on it.
    pub acknowledged: usize,
}

/// Everything the digest template may use.
#[derive(Debug, Clone, Serialize)]
pub struct DigestContext {
    /// The coordinator's locale (a BCP 47 tag, from their most recent
    /// pair; `en` without one): it chooses the templates.
    pub locale: String,
    /// The coordinator's name.
    pub coordinator: String,
    /// The digest's local date (`YYYY-MM-DD`).
    pub date: String,
    /// Open escalations nobody has acknowledged, the longest waiting first.
    pub escalations: Vec<EscalationLine>,
    /// Pairs a rule fires for that no escalation covers yet, the furthest
    /// into their week first.
    pub trending_low: Vec<PairLine>,
    /// The rest, in counts.
    pub others: Others,
    /// Nothing to act on: the playbook asked for the "all quiet" email.
    pub all_quiet: bool,
    /// The coordinator's own page (`FIRSTWEEK_PUBLIC_URL` set), if any.
    pub page_url: Option<String>,
}

impl DigestContext {
    /// The same digest, linking to the coordinator's page (`url`, a
    /// `/c/<token>` link) and each pair to its own page below it.
    pub fn with_page(mut self, url: String) -> DigestContext {
        let base = url.trim_end_matches('/');
        for e in &mut self.escalations {
            e.url = Some(format!(
                "{base}{}",
                coordinator::pair_path(&e.mentorship_id)
            ));
        }
        for p in &mut self.trending_low {
            p.url = Some(format!(
                "{base}{}",
                coordinator::pair_path(&p.mentorship_id)
            ));
        }
        self.page_url = Some(url);
        self
    }
}

/// Why a coordinator gets no digest today (the reason its row is closed with).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quiet {
    /// No pair in view and no escalation open.
    NoPairs,
    /// No escalation waiting and no pair trending low; the playbook wants no "all quiet".
    NothingToActOn,
}

impl Quiet {
    /// The reason recorded on the digest's row.
    pub fn reason(self) -> &'static str {
        match self {
            Quiet::NoPairs => "no pairs to report",
            Quiet::NothingToActOn => "nothing to act on",
        }
    }
}

/// What a coordinator's digest comes to today.
#[derive(Debug, Clone)]
pub enum Digest {
    /// An email to send.
    Send(DigestContext),
    /// No email.
    Quiet(Quiet),
}

/// One coordinator's digest as of `now`. `pairs` are their pairs in view and
/// the pairs of their unresolved escalations; `escalations` their unresolved
/// escalations; times are written in `tz` (UTC when `None`).
pub fn digest(
    rules: &Rules,
    coordinator: &str,
    date: &str,
    tz: Option<Tz>,
    pairs: &[Pair<'_>],
    escalations: &[Escalation],
    now: DateTime<Utc>,
) -> Digest {
    if pairs.is_empty() && escalations.is_empty() {
        return Digest::Quiet(Quiet::NoPairs);
    }
    // Their locale, as their zone, is the one their most recent pair names.
    let locale = pairs
        .iter()
        .max_by_key(|p| p.started.started_at)
        .and_then(|p| p.started.coordinator.locale.as_deref())
        .and_then(|t| crate::locale::Locale::parse(t).ok())
        .unwrap_or_default();
    let english = locale.shipped().is_none_or(|t| t == crate::locale::DEFAULT);
    let when = |t: DateTime<Utc>| {
        if english {
            coordinator::when(t, tz)
        } else {
            crate::locale::when(&locale, tz.map(|z| z.name()), t)
        }
    };
    let pair_of = |id: &str| pairs.iter().find(|p| p.started.mentorship_id == id);
    let state_of = |id: &str| {
        escalations
            .iter()
            .find(|e| e.mentorship_id == id)
            .map(|e| e.state)
    };

    let mut waiting: Vec<&Escalation> = escalations
        .iter()
        .filter(|e| e.state == State::Open)
        .collect();
    waiting.sort_by(|a, b| (a.opened_at, &a.mentorship_id).cmp(&(b.opened_at, &b.mentorship_id)));
    let escalation_lines: Vec<EscalationLine> = waiting
        .into_iter()
        .map(|e| escalation_line(rules, e, pair_of(&e.mentorship_id), now, &when))
        .collect();

    let mut trending_low = Vec::new();
    let mut others = Others::default();
    for pair in pairs {
        match state_of(&pair.started.mentorship_id) {
            Some(State::Open) => continue,
            Some(State::Acknowledged) => {
                others.total += 1;
                others.acknowledged += 1;
                continue;
            }
            // A pair whose escalation is over can slip again: it trends low again.
            Some(State::Resolved) | None => {}
        }
        let l = line(rules, *pair, now);
        if l.risks.is_empty() {
            others.total += 1;
            others.on_track += 1;
        } else {
            trending_low.push(l);
        }
    }
    trending_low.sort_by(|a, b| (b.day, &a.mentorship_id).cmp(&(a.day, &b.mentorship_id)));

    let all_quiet = escalation_lines.is_empty() && trending_low.is_empty();
    if all_quiet && !rules.playbook.coordinators.digest_all_quiet {
        return Digest::Quiet(Quiet::NothingToActOn);
    }
    Digest::Send(DigestContext {
        locale: locale.to_string(),
        coordinator: coordinator.to_string(),
        date: date.to_string(),
        escalations: escalation_lines,
        trending_low,
        others,
        all_quiet,
        page_url: None,
    })
}

fn escalation_line(
    rules: &Rules,
    e: &Escalation,
    pair: Option<&Pair<'_>>,
    now: DateTime<Utc>,
    when: &dyn Fn(DateTime<Utc>) -> String,
) -> EscalationLine {
    let open_since = when(e.opened_at);
    match pair {
        // Today's counts: what happened since the escalation opened matters
        // to whoever reaches out this morning.
        Some(pair) => {
            let summary = decision::week_summary(rules, *pair, now);
            let thresholds = &rules.playbook.thresholds;
            EscalationLine {
                mentorship_id: e.mentorship_id.clone(),
                mentor: Some(pair.started.mentor.name.clone()),
                mentee: Some(pair.started.mentee.name.clone()),
                rules: e
                    .rules
                    .iter()
                    .map(|c| c.wording(&summary, thresholds))
                    .collect(),
                day: Day::of(pair.started.started_at, now, rules.scale),
                opened_day: e.opened_day(),
                advice: advice::lines(&e.rules, &summary),
                total: summary.total,
                by_mentor: summary.mentor,
                by_mentee: summary.mentee,
                kinds: KindCount::of(&summary)
                    .into_iter()
                    .map(KindCount::in_words)
                    .collect(),
                last_activity: summary.last_activity.map(when),
                open_since,
                url: None,
            }
        }
        // The pair is gone (erased): what the escalation saw last.
        None => {
            let seen = e.latest();
            EscalationLine {
                mentorship_id: e.mentorship_id.clone(),
                mentor: None,
                mentee: None,
                rules: seen.map(|s| s.reasons.clone()).unwrap_or_default(),
                day: seen.map_or(Day::FIRST, |s| s.day),
                opened_day: e.opened_day(),
                advice: Vec::new(),
                total: seen.map_or(0, |s| s.total),
                by_mentor: seen.map_or(0, |s| s.mentor),
                by_mentee: seen.map_or(0, |s| s.mentee),
                kinds: seen
                    .map(|s| s.by_kind.iter().cloned().map(KindCount::in_words).collect())
                    .unwrap_or_default(),
                last_activity: seen.and_then(|s| s.last_activity).map(when),
                open_since,
                url: None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Actor, Coordinator, InteractionKind, MentorshipStarted, Person};
    use crate::interaction::Interaction;
    use crate::playbook::Playbook;
    use crate::rule::Condition;
    use crate::timeline::{SendWindow, TimeScale};

    fn rules() -> Rules {
        Rules {
            playbook: Playbook::built_in(),
            programs: Default::default(),
            scale: TimeScale::REAL,
            window: SendWindow::Off,
        }
    }

    fn pair_named(id: &str, started_at: DateTime<Utc>) -> MentorshipStarted {
        let p = |n: &str| Person {
            id: n.into(),
            name: n.into(),
            email: format!("{n}@example.org"),
            timezone: "UTC".into(),
            locale: None,
        };
        MentorshipStarted {
            event_id: "e".into(),
            mentorship_id: id.into(),
            program_id: None,
            started_at,
            mentor: p("ada"),
            mentee: p("bo"),
            coordinator: Coordinator {
                name: "Cy".into(),
                email: "cy@example.org".into(),
                timezone: None,
                locale: None,
            },
        }
    }

    fn pair(started_at: DateTime<Utc>) -> MentorshipStarted {
        pair_named("m", started_at)
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

    #[test]
    fn only_todays_digest_is_added_and_only_once_its_morning_has_come() {
        let la = zone("America/Los_Angeles");
        let at = hm(8, 0);
        // 03:00 in Los Angeles: yesterday's is the latest due, but it is not added now.
        let night = utc("2026-11-24T11:00:00Z");
        assert_eq!(due_date(at, la, night), Some(date("2026-11-23")));
        assert_eq!(due_today(at, la, night), None);
        assert_eq!(
            due_today(at, la, utc("2026-11-24T16:00:00Z")),
            Some(date("2026-11-24"))
        );
        // Spring forward with digest_at in the gap: today's once the clocks jump.
        let at = hm(2, 30);
        assert_eq!(due_today(at, la, utc("2026-03-08T09:59:00Z")), None);
        assert_eq!(
            due_today(at, la, utc("2026-03-08T10:00:00Z")),
            Some(date("2026-03-08"))
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
        line(&rules(), Pair::with_ledger(started, ledger), now)
    }

    #[test]
    fn a_line_shows_progress_and_only_the_risks_the_week_has_had_time_for() {
        let now: DateTime<Utc> = "2026-11-24T12:00:00Z".parse().unwrap();
        let silent_since_day_0 = at(&pair(now - Duration::hours(12)), &[], now);
        assert_eq!(
            (
                silent_since_day_0.day.number(),
                silent_since_day_0.risks.len()
            ),
            (1, 0),
            "day 1: too early to worry"
        );

        let msg = |actor, h| Interaction {
            kind: InteractionKind::Message,
            actor,
            occurred_at: now - Duration::hours(h),
            duration_minutes: None,
        };
        let ledger = [msg(Actor::Mentor, 70), msg(Actor::Mentor, 50)];
        let one_sided = at(&pair(now - Duration::hours(80)), &ledger, now);
        assert_eq!(one_sided.day.number(), 4, "3 days and 8 hours in: day 4");
        assert_eq!(
            (one_sided.total, one_sided.by_mentor, one_sided.by_mentee),
            (2, 2, 0)
        );
        // Three days in: one-sided already; two interactions are enough for three days; a plan is not asked for before day 4.
        assert_eq!(
            one_sided.risks,
            vec!["one-sided: only the mentor has interacted".to_string()]
        );

        let silent_day_5 = at(&pair(now - Duration::hours(125)), &[], now);
        assert_eq!(silent_day_5.day.number(), 6);
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

    fn escalation(id: &str, state: State, opened_at: DateTime<Utc>) -> Escalation {
        Escalation {
            mentorship_id: id.into(),
            coordinator_key: "coordinator-x".into(),
            program_id: None,
            opened_at,
            opened_by: "escalation_early".into(),
            rules: vec![Condition::NoInteraction],
            evidence: vec![],
            state,
            acknowledged: None,
            reminded_at: None,
            resolved: None,
        }
    }

    struct Week {
        now: DateTime<Utc>,
        pairs: Vec<MentorshipStarted>,
        ledger: Vec<Interaction>,
    }

    /// Five pairs: two silent since day 5 ("esc", escalated; "low", not),
    /// one silent with an acknowledged escalation ("acked"), two on track
    /// (day 1: too early to worry).
    fn week() -> Week {
        let now = utc("2026-11-24T12:00:00Z");
        let day5 = now - Duration::hours(125);
        Week {
            now,
            pairs: vec![
                pair_named("esc", day5),
                pair_named("low", day5),
                pair_named("acked", day5),
                pair_named("new-1", now - Duration::hours(2)),
                pair_named("new-2", now - Duration::hours(3)),
            ],
            ledger: vec![],
        }
    }

    fn digest_of(rules: &Rules, w: &Week, escalations: &[Escalation], which: &[&str]) -> Digest {
        let pairs: Vec<Pair<'_>> = w
            .pairs
            .iter()
            .filter(|p| which.contains(&p.mentorship_id.as_str()))
            .map(|started| Pair::with_ledger(started, &w.ledger))
            .collect();
        digest(
            rules,
            "Cy",
            "2026-11-24",
            zone("Europe/Berlin"),
            &pairs,
            escalations,
            w.now,
        )
    }

    #[test]
    fn the_digest_is_an_action_queue() {
        let w = week();
        let escalations = [
            escalation("esc", State::Open, w.now - Duration::hours(30)),
            escalation("acked", State::Acknowledged, w.now - Duration::hours(30)),
        ];
        let all = ["esc", "low", "acked", "new-1", "new-2"];
        let Digest::Send(ctx) = digest_of(&rules(), &w, &escalations, &all) else {
            panic!("something to act on")
        };
        let ids: Vec<&str> = ctx
            .escalations
            .iter()
            .map(|e| e.mentorship_id.as_str())
            .collect();
        assert_eq!(ids, ["esc"], "only the unacknowledged one waits");
        let e = &ctx.escalations[0];
        assert_eq!((e.day.number(), e.total), (6, 0));
        assert_eq!(e.opened_day, None, "no evidence recorded in this test");
        assert_eq!(e.rules, vec!["no interaction at all".to_string()]);
        assert_eq!(
            e.open_since, "Mon 23 Nov 07:00 CET",
            "in the coordinator's zone"
        );
        let low: Vec<&str> = ctx
            .trending_low
            .iter()
            .map(|l| l.mentorship_id.as_str())
            .collect();
        assert_eq!(low, ["low"], "at risk, not escalated yet");
        assert_eq!(
            ctx.others,
            Others {
                total: 3,
                on_track: 2,
                acknowledged: 1
            }
        );
        assert!(!ctx.all_quiet);
    }

    #[test]
    fn a_day_with_nothing_to_act_on_sends_nothing_unless_the_playbook_asks() {
        let w = week();
        let acked = [escalation(
            "acked",
            State::Acknowledged,
            w.now - Duration::hours(30),
        )];
        let quiet = ["acked", "new-1", "new-2"];
        assert!(matches!(
            digest_of(&rules(), &w, &acked, &quiet),
            Digest::Quiet(Quiet::NothingToActOn)
        ));
        assert!(matches!(
            digest_of(&rules(), &w, &[], &[]),
            Digest::Quiet(Quiet::NoPairs)
        ));
        let mut loud = rules();
        loud.playbook.coordinators.digest_all_quiet = true;
        let Digest::Send(ctx) = digest_of(&loud, &w, &acked, &quiet) else {
            panic!("the playbook asks for an all quiet")
        };
        assert!(ctx.all_quiet && ctx.escalations.is_empty() && ctx.trending_low.is_empty());
        assert!(matches!(
            digest_of(&loud, &w, &[], &[]),
            Digest::Quiet(Quiet::NoPairs)
        ));
    }

    #[test]
    fn an_escalation_whose_pair_is_gone_shows_its_last_evidence() {
        let w = week();
        let mut e = escalation("erased", State::Open, w.now - Duration::hours(30));
        e.evidence = vec![crate::escalation::Sighting::of_silence(
            "escalation_early",
            w.now - Duration::hours(30),
            Day::nth(4),
        )];
        let Digest::Send(ctx) = digest_of(&rules(), &w, &[e], &[]) else {
            panic!("an open escalation is something to act on")
        };
        let line = &ctx.escalations[0];
        assert_eq!((line.mentor.as_deref(), line.day.number()), (None, 4));
        assert_eq!(line.opened_day, Some(Day::nth(4)));
        assert!(line.advice.is_empty(), "nobody to reach");
    }

    fn render(ctx: &DigestContext) -> String {
        let t = crate::email::Templates::built_in().unwrap();
        let from: lettre::message::Mailbox = "fw <fw@example.org>".parse().unwrap();
        let c = crate::email::compose_any(
            &t,
            TEMPLATE,
            ctx,
            (
                "digest-2026-11-24",
                &header_id("coordinator-3f2a9c0d1e4b5a6f"),
            ),
            &from,
            "Cy",
            "cy@example.org",
            "<x@example.org>".into(),
        )
        .unwrap();
        String::from_utf8(c.message.formatted()).unwrap()
    }

    fn text_part(raw: &str) -> String {
        // The plain part is quoted-printable or 7bit; soft line breaks are undone.
        raw.replace("=\r\n", "").replace("\r\n", "\n")
    }

    #[test]
    fn the_digest_renders_escalations_first_then_trending_low_then_counts() {
        let w = week();
        let escalations = [escalation("esc", State::Open, w.now - Duration::hours(30))];
        let all = ["esc", "low", "new-1", "new-2"];
        let Digest::Send(ctx) = digest_of(&rules(), &w, &escalations, &all) else {
            panic!("something to act on")
        };
        let raw = text_part(&render(
            &ctx.with_page("https://fw.example.org/c/abc".into()),
        ));
        assert!(raw.contains("https://fw.example.org/c/abc"), "{raw}");
        assert!(
            raw.contains("Subject: Your pairs today: 1 escalation waiting, 1 pair trending low"),
            "{raw}"
        );
        let (esc, low, rest) = (
            raw.find("(pair id esc)").expect("the escalation is listed"),
            raw.find("(pair id low)")
                .expect("the trending pair is listed"),
            raw.find("2 other pairs on track")
                .expect("the rest, counted"),
        );
        assert!(esc < low && low < rest, "{raw}");
        assert!(raw.contains("open since Mon 23 Nov 07:00 CET"), "{raw}");
        // Each pair links to its own page: one step from the digest to acting.
        assert!(
            raw.contains("contacts and their week: https://fw.example.org/c/abc/pairs/esc\n"),
            "{raw}"
        );
        assert!(
            raw.contains("https://fw.example.org/c/abc/pairs/low\n"),
            "{raw}"
        );
        assert!(
            raw.contains("what to do: Help them set up a first call"),
            "silent pairs: {raw}"
        );
        assert!(!raw.contains("new-1"), "pairs on track are only counted");
        assert!(raw.contains("X-Firstweek-Step: digest-2026-11-24"));
    }

    #[test]
    fn a_coordinator_with_a_locale_gets_the_digest_in_it_with_local_dates() {
        let mut w = week();
        for p in &mut w.pairs {
            p.coordinator.locale = Some("es-ES".into());
        }
        let escalations = [escalation("esc", State::Open, w.now - Duration::hours(30))];
        let Digest::Send(ctx) = digest_of(&rules(), &w, &escalations, &["esc", "low", "new-1"])
        else {
            panic!("something to act on")
        };
        assert_eq!(ctx.locale, "es-ES");
        let raw = text_part(&render(&ctx));
        assert!(
            raw.contains("Subject: Tus parejas hoy: 1 escalada pendiente, 1 pareja a la baja"),
            "{raw}"
        );
        assert!(
            raw.contains("abierta desde lun 23 nov 07:00 hora de Berl=C3=ADn (UTC+1)")
                || raw.contains("abierta desde lun 23 nov 07:00 hora de Berlín (UTC+1)"),
            "{raw}"
        );
        let mut german = ctx;
        german.locale = "de".into();
        let raw = text_part(&render(&german));
        assert!(
            raw.contains("Subject: Deine Paare heute: 1 Eskalation wartet"),
            "{raw}"
        );
    }

    #[test]
    fn the_all_quiet_digest_is_short() {
        let w = week();
        let mut loud = rules();
        loud.playbook.coordinators.digest_all_quiet = true;
        let Digest::Send(ctx) = digest_of(&loud, &w, &[], &["new-1", "new-2"]) else {
            panic!("all quiet asked for")
        };
        let raw = text_part(&render(&ctx));
        assert!(
            raw.contains("Subject: Your pairs today: all quiet"),
            "{raw}"
        );
        assert!(raw.contains("2 pairs, all on track"), "{raw}");
    }
}
