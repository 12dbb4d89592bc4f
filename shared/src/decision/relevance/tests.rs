//! Table tests of relevance and the daily budget. Times are hours after the
//! pair's start (a Monday 09:00 UTC), on the real clock unless said.

use super::*;
use crate::playbook::Playbook;

fn start() -> DateTime<Utc> {
    "2026-11-02T09:00:00Z".parse().unwrap()
}

fn at(hours: i64) -> DateTime<Utc> {
    start() + Duration::hours(hours)
}

/// Staleness on, with the coordinator's fixed limit a day.
const ON: Option<Duration> = Some(Duration::days(1));

fn rules(playbook: Playbook, scale: f64) -> Rules {
    Rules {
        playbook,
        programs: Default::default(),
        scale: TimeScale::new(scale).unwrap(),
        window: SendWindow::Off,
    }
}

/// A program's playbook with many participant steps on one day.
const BUSY: &str = r#"
name = "busy"
[[step]]
id = "hello"
at = "0d"
to = ["mentor", "mentee"]
[[step]]
id = "tips_a"
at = "1d"
to = ["mentee"]
[[step]]
id = "tips_b"
at = "1d2h"
to = ["mentee"]
[[step]]
id = "tips_c"
at = "1d4h"
to = ["mentee"]
[[step]]
id = "goodbye"
at = "7d"
to = ["mentor", "mentee"]
[[step]]
id = "alarm"
at = "3d"
to = ["coordinator"]
"#;

#[test]
fn each_step_has_a_role_for_its_recipient() {
    let built_in = Playbook::built_in();
    let busy = Playbook::parse("busy.toml", BUSY).unwrap();
    let cases = [
        (&built_in, "welcome", Recipient::Mentor, Role::Welcome),
        (&built_in, "welcome", Recipient::Mentee, Role::Welcome),
        (&built_in, "check_in", Recipient::Mentee, Role::Nudge),
        (&built_in, "plan_reminder", Recipient::Mentor, Role::Nudge),
        (&built_in, "pacing_tip", Recipient::Mentee, Role::Nudge),
        (&built_in, "wrap_up", Recipient::Mentee, Role::WrapUp),
        (
            &built_in,
            "escalation",
            Recipient::Coordinator,
            Role::Coordinator,
        ),
        (
            &built_in,
            "escalation_early",
            Recipient::Coordinator,
            Role::Coordinator,
        ),
        // A program's own steps: its first step is the welcome, whatever its name.
        (&busy, "hello", Recipient::Mentee, Role::Welcome),
        (&busy, "tips_b", Recipient::Mentee, Role::Nudge),
        (&busy, "goodbye", Recipient::Mentor, Role::WrapUp),
        (&busy, "alarm", Recipient::Coordinator, Role::Coordinator),
    ];
    for (playbook, id, recipient, expected) in cases {
        let step = playbook.step(id).unwrap();
        assert_eq!(
            role(playbook, step, recipient),
            expected,
            "{id} to {recipient}"
        );
    }
    assert!(!Role::Welcome.counted() && !Role::Coordinator.counted());
    assert!(Role::Nudge.counted() && Role::WrapUp.counted());
}

#[test]
fn a_step_is_stale_when_it_no_longer_makes_sense_not_when_it_is_late() {
    let r = rules(Playbook::built_in(), 1.0);
    let fixed = Some(Duration::days(1));
    let stale = |id: &str, recipient: Recipient, due: i64, handled: i64| {
        let step = r.playbook.step(id).unwrap();
        let e = expiry(&r, step, recipient, start(), at(due), fixed);
        e.stale_at(at(due), at(handled)).map(|s| s.reason())
    };
    let superseded = |by: &str| Some(format!("stale: a later step ({by}) is due for this person"));
    let week_over = Some("stale: the pair's first week is over".to_string());
    let cases = [
        // The welcome, handled two days late (the old rule's limit was a day): sent.
        ("welcome", Recipient::Mentor, 0, 48, None),
        ("welcome", Recipient::Mentee, 0, 24 * 7 - 1, None),
        ("welcome", Recipient::Mentee, 0, 24 * 7, week_over.clone()),
        // A nudge is sent however late, until the next step to the person is due.
        ("check_in", Recipient::Mentee, 48, 95, None),
        (
            "check_in",
            Recipient::Mentee,
            48,
            96,
            superseded("plan_reminder"),
        ),
        ("plan_reminder", Recipient::Mentor, 96, 24 * 7 - 1, None),
        (
            "plan_reminder",
            Recipient::Mentor,
            96,
            24 * 7,
            superseded("wrap_up"),
        ),
        // The pacing tip (due when the intense session happened, hour 30).
        ("pacing_tip", Recipient::Mentee, 30, 47, None),
        (
            "pacing_tip",
            Recipient::Mentee,
            30,
            48,
            superseded("check_in"),
        ),
        // The wrap-up: until two days after the week.
        ("wrap_up", Recipient::Mentee, 168, 168 + 47, None),
        ("wrap_up", Recipient::Mentee, 168, 168 + 48, week_over),
        // The coordinator's steps keep the fixed rule (a day after sendable).
        ("escalation", Recipient::Coordinator, 168, 168 + 24, None),
        (
            "escalation",
            Recipient::Coordinator,
            168,
            168 + 25,
            Some("stale: handled 90000 s after it became sendable".into()),
        ),
    ];
    for (id, recipient, due, handled, expected) in cases {
        assert_eq!(
            stale(id, recipient, due, handled),
            expected,
            "{id} to {recipient}, due at hour {due}, handled at hour {handled}"
        );
    }
    // With staleness off (`FIRSTWEEK_STALE_AFTER=off`), nothing is stale.
    for (id, recipient) in [
        ("escalation", Recipient::Coordinator),
        ("check_in", Recipient::Mentee),
    ] {
        let step = r.playbook.step(id).unwrap();
        let e = expiry(&r, step, recipient, start(), at(48), None);
        assert_eq!(e, Expiry::Fixed(None));
        assert_eq!(e.stale_at(at(48), at(1000)), None);
    }
}

#[test]
fn relevance_runs_on_the_program_clock() {
    // A program day lasts 2 s: the check-in is superseded 4 s after the start.
    let r = rules(Playbook::built_in(), 43_200.0);
    let step = r.playbook.step("check_in").unwrap();
    let due = start() + Duration::seconds(4);
    let e = expiry(&r, step, Recipient::Mentor, start(), due, ON);
    assert_eq!(
        e,
        Expiry::Until(
            start() + Duration::seconds(8),
            Stale::Superseded {
                by: "plan_reminder".into()
            }
        )
    );
}

#[test]
fn local_days_follow_the_persons_zone_on_the_program_clock() {
    let tokyo: Tz = "Asia/Tokyo".parse().unwrap();
    let real = TimeScale::REAL;
    let day = |s: &str| s.parse::<NaiveDate>().unwrap();
    // Monday 09:00 UTC is Monday 18:00 in Tokyo; 15:00 UTC is Tuesday 00:00 there.
    assert_eq!(
        local_day(start(), at(0), real, Some(tokyo)),
        day("2026-11-02")
    );
    assert_eq!(
        local_day(start(), at(6), real, Some(tokyo)),
        day("2026-11-03")
    );
    assert_eq!(local_day(start(), at(6), real, None), day("2026-11-02"));
    assert_eq!(
        next_day_starts(start(), day("2026-11-02"), real, Some(tokyo)),
        at(6)
    );
    assert_eq!(
        next_day_starts(start(), day("2026-11-02"), real, None),
        at(15)
    );
    // A day lasts 2 s at 43200: 1 s after a 09:00 start is program 21:00, 2 s is Tuesday 09:00.
    let fast = TimeScale::new(43_200.0).unwrap();
    let s = |secs: i64| start() + Duration::seconds(secs);
    assert_eq!(local_day(start(), s(1), fast, None), day("2026-11-02"));
    assert_eq!(local_day(start(), s(2), fast, None), day("2026-11-03"));
    // Tuesday 00:00 is 15 program hours after the start: 1.25 s.
    assert_eq!(
        next_day_starts(start(), day("2026-11-02"), fast, None),
        start() + Duration::milliseconds(1250)
    );
}

#[test]
fn a_nudge_over_the_budget_waits_for_the_next_day_or_is_dropped() {
    let r = rules(Playbook::parse("busy.toml", BUSY).unwrap(), 1.0);
    // tips_a, _b, _c fall due on Tuesday at 09:00, 11:00, 13:00 UTC; Wednesday starts at hour 39.
    let tomorrow = next_day_starts(
        start(),
        local_day(start(), at(24), r.scale, None),
        r.scale,
        None,
    );
    assert_eq!(tomorrow, at(39));
    let verdict = |id: &str, due: i64, window: SendWindow, tz: Option<Tz>| {
        let step = r.playbook.step(id).unwrap();
        let e = expiry(&r, step, Recipient::Mentee, start(), at(due), ON);
        over_budget(window, tz, &e, at(due), tomorrow)
    };
    // Superseded by tomorrow: dropped, with the reason.
    let dropped = verdict("tips_a", 24, SendWindow::Off, None);
    assert_eq!(
        dropped,
        OverBudget::Drop(Stale::Superseded {
            by: "tips_b".into()
        })
    );
    assert_eq!(
        dropped.reason(1),
        "dropped: the daily budget of 1 nudge is spent, and by the next local day a later step (tips_b) is due for this person"
    );
    assert!(matches!(
        verdict("tips_b", 26, SendWindow::Off, None),
        OverBudget::Drop(_)
    ));
    // The last of the day is not superseded before the wrap-up: deferred.
    let deferred = verdict("tips_c", 28, SendWindow::Off, None);
    assert_eq!(deferred, OverBudget::Defer(tomorrow));
    assert_eq!(
        deferred.reason(2),
        "deferred: the daily budget of 2 nudges is spent; offered again on the next local day (2026-11-04 00:00 UTC)"
    );
    // A window delays the offer to the person's morning (08:00 in Berlin).
    let berlin: Tz = "Europe/Berlin".parse().unwrap();
    assert_eq!(
        verdict("tips_c", 28, SendWindow::default(), Some(berlin)),
        OverBudget::Defer("2026-11-04T07:00:00Z".parse().unwrap())
    );
    // A wrap-up over the budget on the week's last day is deferred; two days on, dropped.
    let step = r.playbook.step("goodbye").unwrap();
    let e = expiry(&r, step, Recipient::Mentee, start(), at(168), ON);
    assert!(matches!(
        over_budget(SendWindow::Off, None, &e, at(168), at(168 + 15)),
        OverBudget::Defer(_)
    ));
    assert_eq!(
        over_budget(SendWindow::Off, None, &e, at(168), at(168 + 48)),
        OverBudget::Drop(Stale::WeekOver)
    );
}
