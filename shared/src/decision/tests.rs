//! Table-driven tests of the engine's decisions. Pure: every fixture is built
//! in memory (a `MentorshipStarted`, a ledger, a playbook parsed from text).
//!
//! Times are written as hours after the pair's start (`at(48)` is program
//! day 2 on the real clock), so a case reads like the week it describes.

use super::*;

use crate::event::{Actor, Coordinator, InteractionKind, Person};
use crate::rule::Recipient;
use InteractionKind::*;

// ---------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------

/// The pair's start: a Monday morning, UTC.
fn start() -> DateTime<Utc> {
    "2026-11-02T09:00:00Z".parse().unwrap()
}

/// `hours` after the pair's start.
fn at(hours: i64) -> DateTime<Utc> {
    start() + Duration::hours(hours)
}

/// Program day `d` (real clock), at the hour of the start.
fn day(d: i64) -> DateTime<Utc> {
    at(24 * d)
}

/// A started pair; everyone in UTC so no send window can move a row.
pub(super) fn started() -> MentorshipStarted {
    let person = |id: &str| Person {
        id: id.into(),
        name: id.into(),
        email: format!("{id}@example.org"),
        timezone: "UTC".into(),
        locale: None,
    };
    MentorshipStarted {
        event_id: "e-1".into(),
        mentorship_id: "m-1".into(),
        program_id: None,
        started_at: start(),
        mentor: person("mentor"),
        mentee: person("mentee"),
        coordinator: Coordinator {
            name: "coordinator".into(),
            email: "coordinator@example.org".into(),
            timezone: Some("UTC".into()),
            locale: None,
        },
    }
}

fn interaction(kind: InteractionKind, actor: Actor, hour: i64) -> Interaction {
    Interaction {
        kind,
        actor,
        occurred_at: at(hour),
        duration_minutes: None,
    }
}

/// Something the mentor did `hour` hours after the start.
fn mentor(kind: InteractionKind, hour: i64) -> Interaction {
    interaction(kind, Actor::Mentor, hour)
}

/// Something the mentee did `hour` hours after the start.
fn mentee(kind: InteractionKind, hour: i64) -> Interaction {
    interaction(kind, Actor::Mentee, hour)
}

/// An interaction of `kind` lasting `minutes` (only sessions are judged on length).
fn lasting(kind: InteractionKind, hour: i64, minutes: u32) -> Interaction {
    Interaction {
        duration_minutes: Some(minutes),
        ..mentor(kind, hour)
    }
}

/// Rules on the real clock with no send window: due time is send time.
fn rules(playbook: Playbook) -> Rules {
    Rules {
        playbook,
        programs: Default::default(),
        scale: TimeScale::REAL,
        window: SendWindow::Off,
    }
}

pub(super) fn built_in() -> Rules {
    rules(Playbook::built_in())
}

/// A playbook of one step `s`, due on day 2. `to` and `when` are TOML values,
/// e.g. `["coordinator"]` and `["no_plan", "one_sided"]`.
fn one_step(to: &str, when: &str) -> Rules {
    let text =
        format!("name = \"test\"\n\n[[step]]\nid = \"s\"\nat = \"2d\"\nto = {to}\nwhen = {when}\n");
    rules(Playbook::parse("test.toml", &text).expect("the test playbook is valid"))
}

/// The due time of `one_step`'s step.
fn due() -> DateTime<Utc> {
    day(2)
}

fn pair<'a>(
    started: &'a MentorshipStarted,
    ended_at: Option<DateTime<Utc>>,
    ledger: &'a [Interaction],
) -> Pair<'a> {
    Pair {
        ended_at,
        ..Pair::with_ledger(started, ledger)
    }
}

/// The verdict in a few words, for tables that compare whole timelines.
fn label(d: &Decision) -> String {
    let names = |cs: &[Condition]| cs.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", ");
    let what = match &d.verdict {
        Verdict::Send(e) => format!("send ({})", names(&e.fired)),
        Verdict::Escalate(e) => format!("escalate ({})", names(&e.fired)),
        Verdict::Skip(s) => format!("skip: {}", s.reason()),
        Verdict::Cancel => "cancel".into(),
    };
    if d.forecast {
        format!("forecast {what}")
    } else {
        what
    }
}

/// Planned rows as (step, recipient, due), in the order given.
fn rows(planned: &[Planned]) -> Vec<(String, Recipient, DateTime<Utc>)> {
    planned
        .iter()
        .map(|p| (p.step_id.clone(), p.recipient, p.due_at))
        .collect()
}

fn row(step: &str, r: Recipient, due_at: DateTime<Utc>) -> (String, Recipient, DateTime<Utc>) {
    (step.to_string(), r, due_at)
}

// ---------------------------------------------------------------------------
// 1. `decide`, condition by condition
// ---------------------------------------------------------------------------

/// What a case expects `decide` to return.
#[derive(Debug)]
enum Want {
    /// Sent, with these conditions fired and these reasons.
    Send(Vec<Condition>, Vec<&'static str>),
    /// Escalated to the coordinator, with these conditions fired and reasons.
    Escalate(Vec<Condition>, Vec<&'static str>),
    /// Skipped: none of the step's conditions held.
    NotMet(Vec<Condition>),
}

#[test]
fn decide_sends_escalates_or_skips_on_each_condition() {
    use Condition::*;
    use Recipient::{Coordinator as Coord, Mentee as Ee, Mentor as Or};

    struct Case {
        name: &'static str,
        to: &'static str,
        when: &'static str,
        recipient: Recipient,
        ledger: Vec<Interaction>,
        want: Want,
    }
    let cases = vec![
        // always
        Case {
            name: "always: sent to the mentor even with an empty ledger",
            to: r#"["mentor", "mentee"]"#,
            when: r#""always""#,
            recipient: Or,
            ledger: vec![],
            want: Want::Send(vec![Always], vec!["scheduled for every pair"]),
        },
        Case {
            name: "always: sent to the mentee of an engaged pair",
            to: r#"["mentor", "mentee"]"#,
            when: r#""always""#,
            recipient: Ee,
            ledger: vec![mentor(Message, 1), mentee(Message, 2), mentee(GoalSet, 3)],
            want: Want::Send(vec![Always], vec!["scheduled for every pair"]),
        },
        Case {
            name: "always: to the coordinator it is an escalation",
            to: r#"["coordinator"]"#,
            when: r#""always""#,
            recipient: Coord,
            ledger: vec![],
            want: Want::Escalate(vec![Always], vec!["scheduled for every pair"]),
        },
        // no_two_way
        Case {
            name: "no_two_way: holds with an empty ledger",
            to: r#"["mentor", "mentee"]"#,
            when: r#""no_two_way""#,
            recipient: Ee,
            ledger: vec![],
            want: Want::Send(
                vec![NoTwoWay],
                vec!["mentor and mentee have not both interacted yet"],
            ),
        },
        Case {
            name: "no_two_way: holds when only the mentor spoke",
            to: r#"["mentor", "mentee"]"#,
            when: r#""no_two_way""#,
            recipient: Or,
            ledger: vec![mentor(Message, 1), mentor(Call, 5)],
            want: Want::Send(
                vec![NoTwoWay],
                vec!["mentor and mentee have not both interacted yet"],
            ),
        },
        Case {
            name: "no_two_way: not met once both sides spoke",
            to: r#"["mentor", "mentee"]"#,
            when: r#""no_two_way""#,
            recipient: Or,
            ledger: vec![mentor(Message, 1), mentee(Message, 2)],
            want: Want::NotMet(vec![NoTwoWay]),
        },
        // no_plan
        Case {
            name: "no_plan: holds when they only talked",
            to: r#"["mentor", "mentee"]"#,
            when: r#""no_plan""#,
            recipient: Ee,
            ledger: vec![mentor(Message, 1), mentee(Meeting, 2)],
            want: Want::Send(vec![NoPlan], vec!["no plan or goals shared yet"]),
        },
        Case {
            name: "no_plan: not met once a plan is shared",
            to: r#"["mentor", "mentee"]"#,
            when: r#""no_plan""#,
            recipient: Ee,
            ledger: vec![mentor(PlanShared, 1)],
            want: Want::NotMet(vec![NoPlan]),
        },
        Case {
            name: "no_plan: not met once goals are set",
            to: r#"["mentor", "mentee"]"#,
            when: r#""no_plan""#,
            recipient: Or,
            ledger: vec![mentee(GoalSet, 1)],
            want: Want::NotMet(vec![NoPlan]),
        },
        // no_interaction
        Case {
            name: "no_interaction: silence escalates",
            to: r#"["coordinator"]"#,
            when: r#""no_interaction""#,
            recipient: Coord,
            ledger: vec![],
            want: Want::Escalate(vec![NoInteraction], vec!["no interaction at all"]),
        },
        Case {
            name: "no_interaction: one message is enough not to",
            to: r#"["coordinator"]"#,
            when: r#""no_interaction""#,
            recipient: Coord,
            ledger: vec![mentee(Message, 30)],
            want: Want::NotMet(vec![NoInteraction]),
        },
        // low_interaction (built-in threshold: 3)
        Case {
            name: "low_interaction: two interactions are fewer than three",
            to: r#"["coordinator"]"#,
            when: r#""low_interaction""#,
            recipient: Coord,
            ledger: vec![mentor(Message, 1), mentee(Message, 2)],
            want: Want::Escalate(
                vec![LowInteraction],
                vec!["low interaction: 2 (fewer than 3)"],
            ),
        },
        Case {
            name: "low_interaction: silence is low too",
            to: r#"["coordinator"]"#,
            when: r#""low_interaction""#,
            recipient: Coord,
            ledger: vec![],
            want: Want::Escalate(
                vec![LowInteraction],
                vec!["low interaction: 0 (fewer than 3)"],
            ),
        },
        Case {
            name: "low_interaction: three interactions are enough",
            to: r#"["coordinator"]"#,
            when: r#""low_interaction""#,
            recipient: Coord,
            ledger: vec![mentor(Message, 1), mentee(Message, 2), mentor(Call, 3)],
            want: Want::NotMet(vec![LowInteraction]),
        },
        // one_sided
        Case {
            name: "one_sided: only the mentor",
            to: r#"["coordinator"]"#,
            when: r#""one_sided""#,
            recipient: Coord,
            ledger: vec![mentor(Message, 1), mentor(Message, 20)],
            want: Want::Escalate(
                vec![OneSided],
                vec!["one-sided: only the mentor has interacted"],
            ),
        },
        Case {
            name: "one_sided: only the mentee",
            to: r#"["coordinator"]"#,
            when: r#""one_sided""#,
            recipient: Coord,
            ledger: vec![mentee(Message, 1)],
            want: Want::Escalate(
                vec![OneSided],
                vec!["one-sided: only the mentee has interacted"],
            ),
        },
        Case {
            name: "one_sided: silence is not one-sided",
            to: r#"["coordinator"]"#,
            when: r#""one_sided""#,
            recipient: Coord,
            ledger: vec![],
            want: Want::NotMet(vec![OneSided]),
        },
        Case {
            name: "one_sided: not met when both sides spoke",
            to: r#"["coordinator"]"#,
            when: r#""one_sided""#,
            recipient: Coord,
            ledger: vec![mentor(Message, 1), mentee(Message, 2)],
            want: Want::NotMet(vec![OneSided]),
        },
        // several conditions: any one fires the step; the fired ones keep `when`'s order
        Case {
            name: "several: all three hold, in the order written",
            to: r#"["coordinator"]"#,
            when: r#"["low_interaction", "one_sided", "no_plan"]"#,
            recipient: Coord,
            ledger: vec![mentor(Message, 1)],
            want: Want::Escalate(
                vec![LowInteraction, OneSided, NoPlan],
                vec![
                    "low interaction: 1 (fewer than 3)",
                    "one-sided: only the mentor has interacted",
                    "no plan or goals shared yet",
                ],
            ),
        },
        Case {
            name: "several: only no_plan holds for a lively pair without a plan",
            to: r#"["coordinator"]"#,
            when: r#"["low_interaction", "one_sided", "no_plan"]"#,
            recipient: Coord,
            ledger: vec![mentor(Message, 1), mentee(Message, 2), mentee(Call, 3)],
            want: Want::Escalate(vec![NoPlan], vec!["no plan or goals shared yet"]),
        },
        Case {
            name: "several: none holds, the skip names every condition",
            to: r#"["mentor"]"#,
            when: r#"["no_two_way", "no_plan"]"#,
            recipient: Or,
            ledger: vec![mentor(Message, 1), mentee(PlanShared, 2)],
            want: Want::NotMet(vec![NoTwoWay, NoPlan]),
        },
    ];

    let s = started();
    for c in cases {
        let rules = one_step(c.to, c.when);
        let d = decide(
            &rules,
            "s",
            c.recipient,
            due(),
            Some(pair(&s, None, &c.ledger)),
            Moment::Processing,
        );
        assert!(
            !d.forecast,
            "{}: a processed step is never a forecast",
            c.name
        );
        let check = |e: &Evidence, fired: &[Condition], reasons: &[&str]| {
            assert_eq!(e.fired, fired, "{}: fired", c.name);
            assert_eq!(e.reasons, reasons, "{}: reasons", c.name);
            assert_eq!(e.as_of, due(), "{}: judged as of the due time", c.name);
            // Every fixture interaction happens before the due time.
            assert_eq!(
                e.summary.total as usize,
                c.ledger.len(),
                "{}: total",
                c.name
            );
        };
        match (&c.want, &d.verdict) {
            (Want::Send(fired, reasons), Verdict::Send(e)) => check(e, fired, reasons),
            (Want::Escalate(fired, reasons), Verdict::Escalate(e)) => check(e, fired, reasons),
            (Want::NotMet(when), Verdict::Skip(Skip::ConditionNotMet(got))) => {
                assert_eq!(
                    got, when,
                    "{}: the skip lists the step's conditions",
                    c.name
                );
            }
            (want, got) => panic!("{}: wanted {want:?}, got {got:?}", c.name),
        }
    }
}

// ---------------------------------------------------------------------------
// 1b. `decide`: rows it cannot judge, and ended pairs
// ---------------------------------------------------------------------------

#[test]
fn decide_skips_unknown_rows_and_cancels_ended_pairs() {
    struct Case {
        name: &'static str,
        step: &'static str,
        /// `false`: the pair is not stored.
        stored: bool,
        ended_at: Option<DateTime<Utc>>,
        moment: Moment,
        want: &'static str,
    }
    // The step `s` is "always" to the mentor, due on day 2: whatever is not
    // skipped or cancelled is sent.
    let cases = vec![
        Case {
            name: "a step the playbook no longer has",
            step: "check_in",
            stored: true,
            ended_at: None,
            moment: Moment::Processing,
            want: "skip: the step is no longer in the playbook",
        },
        Case {
            // The step is looked up first: a removed step says so even for a lost pair.
            name: "a removed step of a pair that is not stored",
            step: "gone",
            stored: false,
            ended_at: None,
            moment: Moment::Processing,
            want: "skip: the step is no longer in the playbook",
        },
        Case {
            name: "a pair that is not stored",
            step: "s",
            stored: false,
            ended_at: None,
            moment: Moment::Processing,
            want: "skip: mentorship not found",
        },
        Case {
            name: "processing: no ending, sent",
            step: "s",
            stored: true,
            ended_at: None,
            moment: Moment::Processing,
            want: "send (always)",
        },
        Case {
            name: "processing: ended before the due time cancels",
            step: "s",
            stored: true,
            ended_at: Some(day(1)),
            moment: Moment::Processing,
            want: "cancel",
        },
        Case {
            // A worker that handles the row late still sees the recorded ending.
            name: "processing: an ending after the due time cancels too",
            step: "s",
            stored: true,
            ended_at: Some(day(3)),
            moment: Moment::Processing,
            want: "cancel",
        },
        Case {
            name: "preview: ended before the due time cancels",
            step: "s",
            stored: true,
            ended_at: Some(day(1)),
            moment: Moment::Preview { now: day(5) },
            want: "cancel",
        },
        Case {
            name: "preview: ended exactly at the due time cancels",
            step: "s",
            stored: true,
            ended_at: Some(due()),
            moment: Moment::Preview { now: day(5) },
            want: "cancel",
        },
        Case {
            // Taken as processed on time: it went out before the pair ended.
            name: "preview: ended after the due time does not cancel",
            step: "s",
            stored: true,
            ended_at: Some(due() + Duration::seconds(1)),
            moment: Moment::Preview { now: day(5) },
            want: "send (always)",
        },
        Case {
            // Not due yet, but it never will be: a cancel is no forecast.
            name: "preview: a step not due yet of a pair already ended",
            step: "s",
            stored: true,
            ended_at: Some(at(12)),
            moment: Moment::Preview { now: day(1) },
            want: "cancel",
        },
        Case {
            name: "preview: no ending, a step not due yet is a forecast",
            step: "s",
            stored: true,
            ended_at: None,
            moment: Moment::Preview { now: day(1) },
            want: "forecast send (always)",
        },
    ];

    let rules = one_step(r#"["mentor"]"#, r#""always""#);
    let s = started();
    for c in cases {
        let p = c.stored.then(|| pair(&s, c.ended_at, &[]));
        let d = decide(&rules, c.step, Recipient::Mentor, due(), p, c.moment);
        assert_eq!(label(&d), c.want, "{}", c.name);
    }

    // The skips above carry the exact variants, not just their words.
    let d = decide(
        &rules,
        "gone",
        Recipient::Mentor,
        due(),
        None,
        Moment::Processing,
    );
    assert_eq!(d.verdict, Verdict::Skip(Skip::NotInPlaybook));
    let d = decide(
        &rules,
        "s",
        Recipient::Mentor,
        due(),
        None,
        Moment::Processing,
    );
    assert_eq!(d.verdict, Verdict::Skip(Skip::UnknownPair));
}

// ---------------------------------------------------------------------------
// 2. Judged as of the due time (or as of `now` for a forecast)
// ---------------------------------------------------------------------------

#[test]
fn a_step_is_judged_as_of_its_due_time_or_as_of_now_when_not_due() {
    struct Case {
        name: &'static str,
        ledger: Vec<Interaction>,
        moment: Moment,
        want: &'static str,
        /// The instant the evidence says it was judged as of (when it fires).
        as_of: DateTime<Utc>,
    }
    // The step `s` is the day-2 check-in: sent to the mentee unless both spoke.
    let cases = vec![
        Case {
            name: "processing: the mentee's day-3 reply came too late",
            ledger: vec![mentor(Message, 1), mentee(Message, 72)],
            moment: Moment::Processing,
            want: "send (no_two_way)",
            as_of: due(),
        },
        Case {
            name: "processing: the same, ledger in reverse order",
            ledger: vec![mentee(Message, 72), mentor(Message, 1)],
            moment: Moment::Processing,
            want: "send (no_two_way)",
            as_of: due(),
        },
        Case {
            name: "processing: a reply one second after the due time does not count",
            ledger: vec![
                Interaction {
                    occurred_at: due() + Duration::seconds(1),
                    ..mentee(Message, 0)
                },
                mentor(Message, 1),
            ],
            moment: Moment::Processing,
            want: "send (no_two_way)",
            as_of: due(),
        },
        Case {
            name: "processing: a reply exactly at the due time counts",
            ledger: vec![mentee(Message, 48), mentor(Message, 1)],
            moment: Moment::Processing,
            want: "skip: condition not met: no_two_way",
            as_of: due(),
        },
        Case {
            name: "processing: both spoke before the due time",
            ledger: vec![mentee(Message, 30), mentor(Message, 1)],
            moment: Moment::Processing,
            want: "skip: condition not met: no_two_way",
            as_of: due(),
        },
        Case {
            name: "preview after the due time: still judged as of the due time",
            ledger: vec![mentee(Message, 72), mentor(Message, 1)],
            moment: Moment::Preview { now: day(5) },
            want: "send (no_two_way)",
            as_of: due(),
        },
        Case {
            name: "preview before the due time: both spoke by now, forecast skip",
            ledger: vec![mentee(Message, 12), mentor(Message, 1)],
            moment: Moment::Preview { now: day(1) },
            want: "forecast skip: condition not met: no_two_way",
            as_of: day(1),
        },
        Case {
            // As if it fell due now: the reply after `now` is not seen yet.
            name: "preview before the due time: a reply after now does not count",
            ledger: vec![mentee(Message, 40), mentor(Message, 1)],
            moment: Moment::Preview { now: day(1) },
            want: "forecast send (no_two_way)",
            as_of: day(1),
        },
        Case {
            name: "preview exactly at the due time: due, not a forecast",
            ledger: vec![mentor(Message, 1)],
            moment: Moment::Preview { now: due() },
            want: "send (no_two_way)",
            as_of: due(),
        },
    ];

    let rules = one_step(r#"["mentee"]"#, r#""no_two_way""#);
    let s = started();
    for c in cases {
        let d = decide(
            &rules,
            "s",
            Recipient::Mentee,
            due(),
            Some(pair(&s, None, &c.ledger)),
            c.moment,
        );
        assert_eq!(label(&d), c.want, "{}", c.name);
        if let Verdict::Send(e) = &d.verdict {
            assert_eq!(e.as_of, c.as_of, "{}: as_of", c.name);
            let seen = c.ledger.iter().filter(|i| i.occurred_at <= c.as_of).count();
            assert_eq!(e.summary.total as usize, seen, "{}: summary total", c.name);
        }
    }
}

// ---------------------------------------------------------------------------
// 3. The pacing tip
// ---------------------------------------------------------------------------

#[test]
fn an_intense_first_week_plans_the_pacing_tip() {
    struct Case {
        name: &'static str,
        ledger: Vec<Interaction>,
        /// The pacing tip's due time, or `None`: no tip.
        due: Option<DateTime<Utc>>,
    }
    // Built-in: a session of 120 minutes or more, or a deliverable requested,
    // in [start, start + 7 days).
    let cases = vec![
        Case {
            name: "a 120-minute session",
            ledger: vec![lasting(Session, 10, 120)],
            due: Some(at(10)),
        },
        Case {
            name: "a 300-minute session",
            ledger: vec![lasting(Session, 30, 300)],
            due: Some(at(30)),
        },
        Case {
            name: "a 119-minute session",
            ledger: vec![lasting(Session, 10, 119)],
            due: None,
        },
        Case {
            name: "a session of unknown length",
            ledger: vec![mentor(Session, 10)],
            due: None,
        },
        Case {
            name: "a deliverable requested",
            ledger: vec![mentee(DeliverableRequested, 50)],
            due: Some(at(50)),
        },
        Case {
            name: "a long call is not a session",
            ledger: vec![lasting(Call, 10, 300)],
            due: None,
        },
        Case {
            name: "a long meeting is not a session",
            ledger: vec![lasting(Meeting, 10, 300)],
            due: None,
        },
        Case {
            name: "ordinary interactions",
            ledger: vec![mentor(Message, 1), mentee(GoalSet, 2), mentee(Call, 3)],
            due: None,
        },
        Case {
            name: "intense before the start",
            ledger: vec![lasting(Session, -1, 180), mentee(DeliverableRequested, -2)],
            due: None,
        },
        Case {
            name: "intense exactly at the start",
            ledger: vec![mentee(DeliverableRequested, 0)],
            due: Some(start()),
        },
        Case {
            name: "intense in the week's last hour",
            ledger: vec![lasting(Session, 167, 120)],
            due: Some(at(167)),
        },
        Case {
            name: "intense exactly when the week ends",
            ledger: vec![lasting(Session, 168, 120)],
            due: None,
        },
        Case {
            name: "intense after the week",
            ledger: vec![mentee(DeliverableRequested, 200)],
            due: None,
        },
        Case {
            name: "several intense: the earliest, whatever the ledger order",
            ledger: vec![
                mentee(DeliverableRequested, 50),
                lasting(Session, 20, 150),
                lasting(Session, 5, 60),
            ],
            due: Some(at(20)),
        },
        Case {
            name: "the earliest inside the week, not the one before it",
            ledger: vec![lasting(Session, -3, 150), mentee(DeliverableRequested, 90)],
            due: Some(at(90)),
        },
    ];

    let rules = built_in();
    let s = started();
    let timed = timeline::plan(&s, &rules.playbook, rules.scale, rules.window);
    assert_eq!(timed.len(), 10, "the built-in week has ten timed rows");
    for c in cases {
        let want: Vec<_> = c
            .due
            .map(|d| {
                vec![
                    row("pacing_tip", Recipient::Mentor, d),
                    row("pacing_tip", Recipient::Mentee, d),
                ]
            })
            .unwrap_or_default();

        let tip = pacing(&rules, &s, &c.ledger);
        assert_eq!(rows(&tip), want, "{}: pacing", c.name);
        // No send window: each row may go out as soon as it is due.
        assert!(
            tip.iter().all(|p| p.send_at == p.due_at),
            "{}: send_at",
            c.name
        );

        // A new pair whose interactions arrived first: the timed rows, then the tip.
        let planned = plan(&rules, &s, &c.ledger);
        assert_eq!(
            planned[..timed.len()],
            timed[..],
            "{}: plan, timed rows",
            c.name
        );
        assert_eq!(rows(&planned[timed.len()..]), want, "{}: plan, tip", c.name);

        // One interaction at a time: each intense one in the week calls for the tip.
        for i in &c.ledger {
            let alone = pacing(&rules, &s, std::slice::from_ref(i));
            assert_eq!(
                calls_for_pacing(&rules, s.started_at, i),
                !alone.is_empty(),
                "{}: calls_for_pacing of {:?} at {}",
                c.name,
                i.kind,
                i.occurred_at
            );
        }
    }
}

#[test]
fn calls_for_pacing_judges_one_interaction() {
    let cases = vec![
        (
            "a 120-minute session on day 1",
            lasting(Session, 24, 120),
            true,
        ),
        (
            "a 119-minute session on day 1",
            lasting(Session, 24, 119),
            false,
        ),
        (
            "a deliverable on day 6",
            mentee(DeliverableRequested, 150),
            true,
        ),
        (
            "a deliverable a minute before the start",
            {
                Interaction {
                    occurred_at: start() - Duration::minutes(1),
                    ..mentee(DeliverableRequested, 0)
                }
            },
            false,
        ),
        (
            "a deliverable on day 8",
            mentee(DeliverableRequested, 8 * 24),
            false,
        ),
        ("a 4-hour call", lasting(Call, 24, 240), false),
        ("a message", mentor(Message, 24), false),
    ];
    let rules = built_in();
    for (name, i, want) in cases {
        assert_eq!(calls_for_pacing(&rules, start(), &i), want, "{name}");
    }
}

#[test]
fn plan_lays_out_the_built_in_week() {
    use Recipient::{Coordinator as Coord, Mentee as Ee, Mentor as Or};
    // Playbook order, one row per recipient, due at the step's offset.
    let want = vec![
        row("welcome", Or, day(0)),
        row("welcome", Ee, day(0)),
        row("check_in", Or, day(2)),
        row("check_in", Ee, day(2)),
        row("plan_reminder", Or, day(4)),
        row("plan_reminder", Ee, day(4)),
        row("escalation_early", Coord, day(4)),
        row("wrap_up", Or, day(7)),
        row("wrap_up", Ee, day(7)),
        row("escalation", Coord, day(7)),
    ];
    let s = started();
    assert_eq!(rows(&plan(&built_in(), &s, &[])), want);
}

// ---------------------------------------------------------------------------
// 4. `preview`: a whole timeline, once-keys honoured
// ---------------------------------------------------------------------------

#[test]
fn preview_decides_the_timeline_and_honours_once_keys() {
    struct Case {
        name: &'static str,
        ledger: Vec<Interaction>,
        ended_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
        /// (step, recipient, verdict label), in due order.
        want: Vec<(&'static str, &'static str, &'static str)>,
    }
    let cases = vec![
        Case {
            // Both escalation steps would fire; they share the once-key
            // "escalation", so the coordinator hears once, on day 4.
            name: "a silent pair: one escalation, the early one",
            ledger: vec![],
            ended_at: None,
            now: day(8),
            want: vec![
                ("welcome", "mentor", "send (always)"),
                ("welcome", "mentee", "send (always)"),
                ("check_in", "mentor", "send (no_two_way)"),
                ("check_in", "mentee", "send (no_two_way)"),
                ("plan_reminder", "mentor", "send (no_plan)"),
                ("plan_reminder", "mentee", "send (no_plan)"),
                (
                    "escalation_early",
                    "coordinator",
                    "escalate (no_interaction)",
                ),
                ("wrap_up", "mentor", "send (always)"),
                ("wrap_up", "mentee", "send (always)"),
                (
                    "escalation",
                    "coordinator",
                    "skip: escalation already sent by step escalation_early",
                ),
            ],
        },
        Case {
            name: "a one-sided pair: no early escalation, the day-7 one",
            ledger: vec![mentor(Message, 1)],
            ended_at: None,
            now: day(8),
            want: vec![
                ("welcome", "mentor", "send (always)"),
                ("welcome", "mentee", "send (always)"),
                ("check_in", "mentor", "send (no_two_way)"),
                ("check_in", "mentee", "send (no_two_way)"),
                ("plan_reminder", "mentor", "send (no_plan)"),
                ("plan_reminder", "mentee", "send (no_plan)"),
                (
                    "escalation_early",
                    "coordinator",
                    "skip: condition not met: no_interaction",
                ),
                ("wrap_up", "mentor", "send (always)"),
                ("wrap_up", "mentee", "send (always)"),
                (
                    "escalation",
                    "coordinator",
                    "escalate (low_interaction, one_sided, no_plan)",
                ),
            ],
        },
        Case {
            // The pacing tip is planned afresh from the ledger and slots in by due time.
            name: "an engaged pair that dived in too hard",
            ledger: vec![
                mentor(Message, 1),
                mentee(Message, 2),
                mentee(GoalSet, 3),
                lasting(Session, 5, 150),
            ],
            ended_at: None,
            now: day(8),
            want: vec![
                ("welcome", "mentor", "send (always)"),
                ("welcome", "mentee", "send (always)"),
                ("pacing_tip", "mentor", "send (always)"),
                ("pacing_tip", "mentee", "send (always)"),
                ("check_in", "mentor", "skip: condition not met: no_two_way"),
                ("check_in", "mentee", "skip: condition not met: no_two_way"),
                (
                    "plan_reminder",
                    "mentor",
                    "skip: condition not met: no_plan",
                ),
                (
                    "plan_reminder",
                    "mentee",
                    "skip: condition not met: no_plan",
                ),
                (
                    "escalation_early",
                    "coordinator",
                    "skip: condition not met: no_interaction",
                ),
                ("wrap_up", "mentor", "send (always)"),
                ("wrap_up", "mentee", "send (always)"),
                (
                    "escalation",
                    "coordinator",
                    "skip: condition not met: low_interaction, one_sided, no_plan",
                ),
            ],
        },
        Case {
            // Each row taken as processed on time: what fell due before the end went out.
            name: "a pair that ended on day 3",
            ledger: vec![mentor(Message, 1)],
            ended_at: Some(day(3)),
            now: day(8),
            want: vec![
                ("welcome", "mentor", "send (always)"),
                ("welcome", "mentee", "send (always)"),
                ("check_in", "mentor", "send (no_two_way)"),
                ("check_in", "mentee", "send (no_two_way)"),
                ("plan_reminder", "mentor", "cancel"),
                ("plan_reminder", "mentee", "cancel"),
                ("escalation_early", "coordinator", "cancel"),
                ("wrap_up", "mentor", "cancel"),
                ("wrap_up", "mentee", "cancel"),
                ("escalation", "coordinator", "cancel"),
            ],
        },
        Case {
            // Day 3: what is not due yet is a forecast as of now (the mentee's
            // day-3.5 reply is not seen yet).
            name: "mid-week: the rest of the week as forecasts",
            ledger: vec![mentor(Message, 1), mentee(Message, 84)],
            ended_at: None,
            now: day(3),
            want: vec![
                ("welcome", "mentor", "send (always)"),
                ("welcome", "mentee", "send (always)"),
                ("check_in", "mentor", "send (no_two_way)"),
                ("check_in", "mentee", "send (no_two_way)"),
                ("plan_reminder", "mentor", "forecast send (no_plan)"),
                ("plan_reminder", "mentee", "forecast send (no_plan)"),
                (
                    "escalation_early",
                    "coordinator",
                    "forecast skip: condition not met: no_interaction",
                ),
                ("wrap_up", "mentor", "forecast send (always)"),
                ("wrap_up", "mentee", "forecast send (always)"),
                (
                    "escalation",
                    "coordinator",
                    "forecast escalate (low_interaction, one_sided, no_plan)",
                ),
            ],
        },
    ];

    let rules = built_in();
    let s = started();
    for c in cases {
        let got = preview(&rules, pair(&s, c.ended_at, &c.ledger), c.now);
        let got: Vec<(String, &str, String)> = got
            .iter()
            .map(|p| {
                (
                    p.planned.step_id.clone(),
                    p.planned.recipient.as_str(),
                    label(&p.decision),
                )
            })
            .collect();
        let want: Vec<(String, &str, String)> = c
            .want
            .iter()
            .map(|(s, r, l)| (s.to_string(), *r, l.to_string()))
            .collect();
        assert_eq!(got, want, "{}", c.name);
    }
}

#[test]
fn preview_names_the_step_that_holds_the_once_key() {
    let rules = built_in();
    assert_eq!(
        rules.playbook.step("escalation_early").unwrap().once_key,
        rules.playbook.step("escalation").unwrap().once_key,
        "the built-in escalations share a once-key"
    );
    let s = started();
    let got = preview(&rules, pair(&s, None, &[]), day(8));
    let escalation = got
        .iter()
        .find(|p| p.planned.step_id == "escalation")
        .expect("the day-7 escalation is planned");
    let want = Skip::OnceKeyTaken {
        once_key: "escalation".into(),
        by_step: "escalation_early".into(),
        status: "sent".into(),
    };
    assert_eq!(escalation.decision.verdict, Verdict::Skip(want.clone()));
    assert!(!escalation.decision.forecast);
    assert_eq!(
        want.reason(),
        "escalation already sent by step escalation_early"
    );
}

/// On day 5 of a silent pair the early escalation has gone out (day 4) and
/// holds the once-key; the day-7 escalation, not due yet, is forecast "as if
/// it fell due now" — and if it fell due now the delivery ledger would skip
/// it. `preview` only checks once-keys for rows that are not forecasts, so it
/// forecasts a second escalation that will never be sent.
#[test]
fn preview_forecast_honours_a_once_key_already_held() {
    let rules = built_in();
    let s = started();
    let got = preview(&rules, pair(&s, None, &[]), day(5));
    let early = got
        .iter()
        .find(|p| p.planned.step_id == "escalation_early")
        .unwrap();
    assert_eq!(label(&early.decision), "escalate (no_interaction)");
    let escalation = got
        .iter()
        .find(|p| p.planned.step_id == "escalation")
        .unwrap();
    assert!(escalation.decision.forecast);
    assert!(
        matches!(
            &escalation.decision.verdict,
            Verdict::Skip(Skip::OnceKeyTaken { by_step, .. }) if by_step == "escalation_early"
        ),
        "got {}",
        label(&escalation.decision)
    );
}

// ---------------------------------------------------------------------------
// 5. Risks
// ---------------------------------------------------------------------------

#[test]
fn risk_conditions_are_the_coordinator_steps_conditions() {
    use Condition::*;
    let cases: Vec<(&str, Playbook, Vec<Condition>)> = vec![
        (
            "built-in: early then day-7 escalation, in playbook order",
            Playbook::built_in(),
            vec![NoInteraction, LowInteraction, OneSided, NoPlan],
        ),
        (
            "no step to the coordinator: nothing is a risk",
            one_step(r#"["mentor", "mentee"]"#, r#"["no_plan", "one_sided"]"#).playbook,
            vec![],
        ),
        (
            "always is no risk, a condition counts once, mentor-only steps do not count",
            Playbook::parse(
                "test.toml",
                r#"
name = "test"

[[step]]
id = "a"
at = "1d"
to = ["coordinator"]
when = ["always", "one_sided"]

[[step]]
id = "b"
at = "2d"
to = ["mentor"]
when = "no_plan"

[[step]]
id = "c"
at = "3d"
to = ["mentor", "coordinator"]
when = ["one_sided", "no_two_way"]
"#,
            )
            .unwrap(),
            vec![OneSided, NoTwoWay],
        ),
    ];
    for (name, playbook, want) in cases {
        assert_eq!(risk_conditions(&playbook), want, "{name}");
    }
}

#[test]
fn built_in_risks_wait_until_the_week_has_had_time_for_them() {
    use Condition::*;
    struct Case {
        name: &'static str,
        ledger: Vec<Interaction>,
        now: DateTime<Utc>,
        want: Vec<Condition>,
    }
    // Silence from day 1, one-sided from day 2, no plan from day 4 (the plan
    // reminder's day), low interaction below 3 * day / 7 (integer division).
    let two_way = || vec![mentor(Message, 1), mentee(Message, 2)];
    let cases = vec![
        Case {
            name: "silent, day 0: too early for anything",
            ledger: vec![],
            now: at(23),
            want: vec![],
        },
        Case {
            name: "silent, day 1: silence",
            ledger: vec![],
            now: day(1),
            want: vec![NoInteraction],
        },
        Case {
            name: "silent, day 2: low expects 3*2/7 = 0 still",
            ledger: vec![],
            now: day(2),
            want: vec![NoInteraction],
        },
        Case {
            name: "silent, day 3: low expects 1",
            ledger: vec![],
            now: day(3),
            want: vec![NoInteraction, LowInteraction],
        },
        Case {
            name: "silent, day 4: and no plan",
            ledger: vec![],
            now: day(4),
            want: vec![NoInteraction, LowInteraction, NoPlan],
        },
        Case {
            name: "one-sided, day 1: too early to call it one-sided",
            ledger: vec![mentor(Message, 1)],
            now: at(47),
            want: vec![],
        },
        Case {
            name: "one-sided, day 2",
            ledger: vec![mentor(Message, 1)],
            now: day(2),
            want: vec![OneSided],
        },
        Case {
            name: "one interaction, day 3: 1 is enough for 3*3/7 = 1",
            ledger: vec![mentee(Message, 1)],
            now: day(3),
            want: vec![OneSided],
        },
        Case {
            name: "one interaction, day 5: fewer than 3*5/7 = 2",
            ledger: vec![mentor(Message, 1)],
            now: day(5),
            want: vec![LowInteraction, OneSided, NoPlan],
        },
        Case {
            name: "two-way without a plan, day 3: on track",
            ledger: two_way(),
            now: day(3),
            want: vec![],
        },
        Case {
            name: "two-way without a plan, day 4: no plan",
            ledger: two_way(),
            now: day(4),
            want: vec![NoPlan],
        },
        Case {
            name: "two-way, two interactions, day 6: 3*6/7 = 2 is met",
            ledger: two_way(),
            now: day(6),
            want: vec![NoPlan],
        },
        Case {
            name: "two-way with a plan, two interactions, day 7: low",
            ledger: vec![mentor(Message, 1), mentee(PlanShared, 2)],
            now: day(7),
            want: vec![LowInteraction],
        },
        Case {
            name: "two-way with a plan, day 10: still measured against the full week",
            ledger: vec![mentor(Message, 1), mentee(PlanShared, 2)],
            now: day(10),
            want: vec![LowInteraction],
        },
        Case {
            name: "engaged, day 7: on track",
            ledger: vec![mentor(Message, 1), mentee(Message, 2), mentee(GoalSet, 30)],
            now: day(7),
            want: vec![],
        },
        Case {
            name: "an interaction after now does not count",
            ledger: vec![mentor(Message, 100)],
            now: day(2),
            want: vec![NoInteraction],
        },
        Case {
            name: "before the start: day 0, nothing",
            ledger: vec![],
            now: at(-5),
            want: vec![],
        },
    ];

    let rules = built_in();
    let s = started();
    for c in cases {
        let got = risks(&rules, pair(&s, None, &c.ledger), c.now);
        let conditions: Vec<Condition> = got.iter().map(|r| r.condition).collect();
        assert_eq!(conditions, c.want, "{}", c.name);
        // Each risk says why, in the same words as an escalation.
        let summary = Summary::as_of(&c.ledger, c.now);
        for r in &got {
            assert_eq!(
                r.reason,
                r.condition.wording(&summary, &rules.playbook.thresholds),
                "{}: reason of {:?}",
                c.name,
                r.condition
            );
        }
    }
}

#[test]
fn custom_playbooks_gate_risks_by_their_own_steps_and_week() {
    use Condition::*;
    struct Case {
        name: &'static str,
        playbook: &'static str,
        ledger: Vec<Interaction>,
        now: DateTime<Utc>,
        want: Vec<Condition>,
    }
    // "No plan" is looked at from the earliest timed step that acts on it,
    // whoever receives that step.
    const EARLY_REMINDER: &str = r#"
name = "test"

[[step]]
id = "reminder"
at = "1d12h"
to = ["mentee"]
when = "no_plan"

[[step]]
id = "escalation"
at = "5d"
to = ["coordinator"]
when = "no_plan"
"#;
    const LATE_ESCALATION: &str = r#"
name = "test"

[[step]]
id = "escalation"
at = "5d"
to = ["coordinator"]
when = "no_plan"
"#;
    // No timed step acts on no_plan: it is looked at from day 2.
    const ON_INTENSE_ONLY: &str = r#"
name = "test"

[[step]]
id = "escalation"
on = "intense_interaction"
to = ["coordinator"]
when = "no_plan"
"#;
    // A 3-day week expecting 6 interactions: 2 a day.
    const SPRINT: &str = r#"
name = "test"
week_days = 3

[thresholds]
min_interactions = 6

[[step]]
id = "escalation"
at = "3d"
to = ["coordinator"]
when = "low_interaction"
"#;
    let cases = vec![
        Case {
            name: "reminder at 1d12h: no plan from day 1",
            playbook: EARLY_REMINDER,
            ledger: vec![],
            now: day(1),
            want: vec![NoPlan],
        },
        Case {
            name: "reminder at 1d12h: not on day 0",
            playbook: EARLY_REMINDER,
            ledger: vec![],
            now: at(23),
            want: vec![],
        },
        Case {
            name: "only a day-5 step: not on day 4",
            playbook: LATE_ESCALATION,
            ledger: vec![],
            now: day(4),
            want: vec![],
        },
        Case {
            name: "only a day-5 step: from day 5",
            playbook: LATE_ESCALATION,
            ledger: vec![],
            now: day(5),
            want: vec![NoPlan],
        },
        Case {
            name: "no timed step: not on day 1",
            playbook: ON_INTENSE_ONLY,
            ledger: vec![],
            now: day(1),
            want: vec![],
        },
        Case {
            name: "no timed step: from day 2",
            playbook: ON_INTENSE_ONLY,
            ledger: vec![],
            now: day(2),
            want: vec![NoPlan],
        },
        Case {
            name: "sprint, day 1: one interaction is fewer than 6*1/3 = 2",
            playbook: SPRINT,
            ledger: vec![mentor(Message, 1)],
            now: day(1),
            want: vec![LowInteraction],
        },
        Case {
            name: "sprint, day 1: two are enough",
            playbook: SPRINT,
            ledger: vec![mentor(Message, 1), mentee(Message, 2)],
            now: day(1),
            want: vec![],
        },
        Case {
            name: "sprint, day 5: past the week, all 6 expected",
            playbook: SPRINT,
            ledger: (0..5).map(|h| mentor(Message, h)).collect(),
            now: day(5),
            want: vec![LowInteraction],
        },
    ];
    let s = started();
    for c in cases {
        let rules = rules(Playbook::parse("test.toml", c.playbook).unwrap());
        let got: Vec<Condition> = risks(&rules, pair(&s, None, &c.ledger), c.now)
            .into_iter()
            .map(|r| r.condition)
            .collect();
        assert_eq!(got, c.want, "{}", c.name);
    }
}

// ---------------------------------------------------------------------------
// 6. Skip reasons, in words
// ---------------------------------------------------------------------------

#[test]
fn skip_reasons_read_as_recorded_on_the_timeline() {
    let taken = |status: &str| Skip::OnceKeyTaken {
        once_key: "escalation".into(),
        by_step: "escalation_early".into(),
        status: status.into(),
    };
    let cases = vec![
        (
            "not in playbook",
            Skip::NotInPlaybook,
            "the step is no longer in the playbook",
        ),
        ("unknown pair", Skip::UnknownPair, "mentorship not found"),
        (
            "one condition",
            Skip::ConditionNotMet(vec![Condition::NoTwoWay]),
            "condition not met: no_two_way",
        ),
        (
            "two conditions, in order",
            Skip::ConditionNotMet(vec![Condition::NoTwoWay, Condition::NoPlan]),
            "condition not met: no_two_way, no_plan",
        ),
        (
            "once-key sent",
            taken("sent"),
            "escalation already sent by step escalation_early",
        ),
        (
            "once-key failed",
            taken("failed"),
            "escalation already failed by step escalation_early",
        ),
    ];
    for (name, skip, want) in cases {
        assert_eq!(skip.reason(), want, "{name}");
    }
}

// ---------------------------------------------------------------------------
// The coordinator's horizon
// ---------------------------------------------------------------------------

#[test]
fn horizon_is_the_week_and_the_grace_in_wall_clock_time() {
    let cases = vec![
        (
            "real clock, one day of grace",
            TimeScale::REAL,
            1,
            Duration::days(8),
        ),
        (
            "real clock, no grace",
            TimeScale::REAL,
            0,
            Duration::days(7),
        ),
        (
            "24x: a program day is a wall-clock hour",
            TimeScale::new(24.0).unwrap(),
            1,
            Duration::hours(8),
        ),
    ];
    for (name, scale, grace, want) in cases {
        let r = Rules {
            scale,
            ..built_in()
        };
        assert_eq!(horizon(&r, Duration::days(grace)), want, "{name}");
    }
}

// ---------------------------------------------------------------------------
// The week is the week: only interactions of the pair's first week count
// ---------------------------------------------------------------------------

/// A three-day week with a coordinator step on day 5, after the week, that
/// fires on silence or low interaction.
fn short_week() -> Rules {
    let text = "name = \"short\"\nweek_days = 3\n[thresholds]\nmin_interactions = 2\n\n\
                [[step]]\nid = \"late_look\"\nat = \"5d\"\nto = [\"coordinator\"]\n\
                when = [\"no_interaction\", \"low_interaction\"]\n";
    rules(Playbook::parse("short.toml", text).expect("the test playbook is valid"))
}

#[test]
fn only_interactions_within_the_first_week_count_whatever_order_they_arrive_in() {
    use Condition::*;
    let s = started();
    let rules = short_week();
    struct Case {
        name: &'static str,
        ledger: Vec<Interaction>,
        want: &'static str,
    }
    let cases = vec![
        Case {
            name: "silent in the week, busy on day 4: still silent",
            ledger: vec![mentor(Message, 4 * 24), mentee(Message, 4 * 24 + 1)],
            want: "escalate (no_interaction, low_interaction)",
        },
        Case {
            name: "before the start does not count either",
            ledger: vec![mentor(Message, -2), mentee(Message, -1)],
            want: "escalate (no_interaction, low_interaction)",
        },
        Case {
            name: "the week ends at started_at + week, exclusive",
            ledger: vec![mentor(Message, 3 * 24 - 1), mentee(Message, 3 * 24)],
            want: "escalate (low_interaction)",
        },
        Case {
            name: "two in the week, arriving after later ones: enough",
            ledger: vec![
                mentee(Message, 4 * 24),
                mentor(Message, 2 * 24),
                mentee(Message, 1),
            ],
            want: "skip: condition not met: no_interaction, low_interaction",
        },
    ];
    for c in cases {
        let got = decide(
            &rules,
            "late_look",
            Recipient::Coordinator,
            day(5),
            Some(pair(&s, None, &c.ledger)),
            Moment::Processing,
        );
        assert_eq!(label(&got), c.want, "{}", c.name);
        let preview = decide(
            &rules,
            "late_look",
            Recipient::Coordinator,
            day(5),
            Some(pair(&s, None, &c.ledger)),
            Moment::Preview { now: day(9) },
        );
        assert_eq!(label(&preview), c.want, "preview: {}", c.name);
    }

    // The evidence counts the week only, too.
    let ledger = [mentor(Message, 1), mentor(Message, 4 * 24)];
    let Verdict::Escalate(e) = decide(
        &rules,
        "late_look",
        Recipient::Coordinator,
        day(5),
        Some(pair(&s, None, &ledger)),
        Moment::Processing,
    )
    .verdict
    else {
        panic!("low interaction escalates")
    };
    assert_eq!((e.summary.total, e.fired), (1, vec![LowInteraction]));
    assert_eq!(e.summary.last_activity, Some(at(1)));
}

#[test]
fn at_risk_and_the_digest_count_the_first_week_only() {
    use Condition::*;
    let s = started();
    let rules = short_week();
    // Silent in the week, then a burst on day 4: at risk on day 6 still.
    let ledger = [mentor(Message, 4 * 24), mentee(Message, 4 * 24 + 1)];
    let got: Vec<Condition> = risks(&rules, pair(&s, None, &ledger), day(6))
        .iter()
        .map(|r| r.condition)
        .collect();
    assert_eq!(got, vec![NoInteraction, LowInteraction]);
    let line = crate::digest::line(&rules, pair(&s, None, &ledger), day(6));
    assert_eq!((line.total, line.by_mentor, line.by_mentee), (0, 0, 0));
    assert_eq!(
        week_summary(&rules, pair(&s, None, &ledger), day(6)).total,
        0
    );
}

#[test]
fn erased_and_unsubscribed_sides_get_no_email_and_the_others_do() {
    let rules = built_in();
    let started = started();
    let ledger: Vec<Interaction> = vec![];
    let decide_for =
        |recipient: Recipient, step: &str, unsubscribed: &[Recipient], erased: &[Recipient]| {
            let pair = Pair {
                unsubscribed,
                erased,
                held_out: &[],
                ..pair(&started, None, &ledger)
            };
            let due = if step == "welcome" { day(0) } else { day(7) };
            label(&decide(
                &rules,
                step,
                recipient,
                due,
                Some(pair),
                Moment::Processing,
            ))
        };
    use Recipient::{Coordinator as Coord, Mentee as Ee, Mentor as Or};
    assert_eq!(
        decide_for(Ee, "welcome", &[], &[Ee]),
        "skip: the recipient was erased"
    );
    assert_eq!(
        decide_for(Ee, "welcome", &[Ee], &[Ee]),
        "skip: the recipient was erased",
        "an erasure says so even after an unsubscribe"
    );
    assert_eq!(
        decide_for(Ee, "welcome", &[Ee], &[]),
        "skip: the recipient unsubscribed"
    );
    assert!(decide_for(Or, "welcome", &[], &[Ee]).starts_with("send"));
    // An erased coordinator hears nothing; the pair is still judged for the others.
    assert_eq!(
        decide_for(Coord, "escalation", &[], &[Coord]),
        "skip: the recipient was erased"
    );
    assert!(decide_for(Coord, "escalation", &[], &[Ee]).starts_with("escalate"));
}
