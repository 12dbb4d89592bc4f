//! A held-out pair: the step closes `skipped: holdout` exactly where it
//! would have gone out, and nothing else about the pair changes.

use chrono::Duration;

use super::tests::started;
use super::*;
use crate::event::Actor;
use crate::playbook::{BUILT_IN, Playbook};

fn with_holdout() -> Rules {
    let text = BUILT_IN.replacen(
        "id = \"check_in\"\n",
        "id = \"check_in\"\nholdout = 0.1\n",
        1,
    );
    Rules {
        playbook: Playbook::parse("p.toml", &text).expect("valid"),
        programs: Default::default(),
        scale: crate::timeline::TimeScale::REAL,
        window: SendWindow::Off,
    }
}

fn verdict(rules: &Rules, pair: Pair<'_>, step: &str, r: Recipient, days: i64) -> String {
    let due = pair.started.started_at + Duration::days(days);
    match decide(rules, step, r, due, Some(pair), Moment::Processing).verdict {
        Verdict::Send(_) => "send".into(),
        Verdict::Escalate(_) => "escalate".into(),
        Verdict::Skip(s) => format!("skipped: {}", s.reason()),
        Verdict::Cancel => "cancel".into(),
    }
}

#[test]
fn a_held_out_pair_misses_only_the_step_it_is_held_out_of() {
    let rules = with_holdout();
    let started = started();
    let held = ["check_in".to_string()];
    let out = Pair {
        held_out: &held,
        ..Pair::with_ledger(&started, &[])
    };
    let nudged = Pair::with_ledger(&started, &[]);
    assert_eq!(
        verdict(&rules, out, "check_in", Recipient::Mentee, 2),
        "skipped: holdout"
    );
    assert_eq!(
        verdict(&rules, out, "check_in", Recipient::Mentor, 2),
        "skipped: holdout"
    );
    assert_eq!(
        verdict(&rules, nudged, "check_in", Recipient::Mentee, 2),
        "send"
    );
    // Everything else goes on: the welcome, the plan reminder, and the
    // escalation that protects a silent pair.
    assert_eq!(
        verdict(&rules, out, "welcome", Recipient::Mentee, 0),
        "send"
    );
    assert_eq!(
        verdict(&rules, out, "plan_reminder", Recipient::Mentee, 4),
        "send"
    );
    assert_eq!(
        verdict(&rules, out, "escalation_early", Recipient::Coordinator, 4),
        "escalate"
    );
    // Where the step would not have gone out, it is not a holdout either:
    // the report compares only pairs whose condition was true.
    let talked: Vec<Interaction> = [Actor::Mentor, Actor::Mentee]
        .into_iter()
        .map(|actor| Interaction {
            kind: crate::event::InteractionKind::Message,
            actor,
            occurred_at: started.started_at + Duration::hours(1),
            duration_minutes: None,
        })
        .collect();
    let out_but_talking = Pair {
        held_out: &held,
        ..Pair::with_ledger(&started, &talked)
    };
    assert_eq!(
        verdict(&rules, out_but_talking, "check_in", Recipient::Mentee, 2),
        "skipped: condition not met: no_two_way"
    );
    // A step whose playbook has no holdout ignores a stale assignment.
    let plain = super::tests::built_in();
    assert_eq!(
        verdict(&plain, out, "check_in", Recipient::Mentee, 2),
        "send"
    );
}
