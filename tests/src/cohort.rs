//! The cohorts tests play, in one vocabulary: the fault suites' archetypes
//! (a behaviour and the emails it calls for, see [`archetypes`]), and the
//! demo's cohort, one script per kind of first week a program sees (engaged,
//! silent, one-sided, too intense, ending early, late, recovering), shared
//! by `firstweek-demo` and the benchmark's cohort phase.

use serde_json::Value;

use crate::Pair;

/// One interaction of a script: (kind, actor, program day, minutes).
pub type Beat = (&'static str, &'static str, f64, Option<u32>);

/// How one pair of the cohort behaves during its week.
#[derive(Debug, Clone)]
pub struct Script {
    /// What the pair is like, in a few words.
    pub behaviour: &'static str,
    /// The mentor's and the mentee's time zones.
    pub zones: (&'static str, &'static str),
    /// Its interactions, in program time.
    pub beats: Vec<Beat>,
    /// The program day its `mentorship.ended` happens on, if it ends.
    pub ends_on_day: Option<f64>,
    /// Its events are delivered twice (at-least-once publishers).
    pub twice: bool,
    /// Its interactions arrive before its `mentorship.started`.
    pub before_start: bool,
    /// Its interactions are published when they happen, not up front.
    pub live: bool,
}

fn script(
    behaviour: &'static str,
    zones: (&'static str, &'static str),
    beats: Vec<Beat>,
) -> Script {
    Script {
        behaviour,
        zones,
        beats,
        ends_on_day: None,
        twice: false,
        before_start: false,
        live: false,
    }
}

const EU: (&str, &str) = ("Europe/Berlin", "Europe/Madrid");
const FAR: (&str, &str) = ("Asia/Tokyo", "America/Sao_Paulo");
const US: (&str, &str) = ("America/New_York", "America/Los_Angeles");

/// The demo's cohort: twenty pairs, one of each behaviour a program sees.
pub fn cohort() -> Vec<Script> {
    let talk = |d: f64| -> Vec<Beat> {
        vec![
            ("message", "mentor", d, None),
            ("message", "mentee", d + 0.1, None),
        ]
    };
    let mut v = vec![
        script(
            "engaged",
            EU,
            [
                talk(0.2),
                vec![
                    ("goal_set", "mentee", 1.0, None),
                    ("call", "mentor", 1.5, Some(30)),
                ],
            ]
            .concat(),
        ),
        script(
            "engaged, far apart, async",
            FAR,
            [
                talk(0.3),
                talk(1.2),
                vec![("plan_shared", "mentor", 2.0, None)],
            ]
            .concat(),
        ),
        script(
            "engaged with an intro call",
            US,
            [
                talk(0.1),
                vec![
                    ("call", "mentee", 0.8, Some(30)),
                    ("plan_shared", "mentee", 3.0, None),
                ],
            ]
            .concat(),
        ),
        script("silent", EU, vec![]),
        script("silent, far apart", FAR, vec![]),
        script(
            "one-sided: mentor only",
            US,
            vec![
                ("message", "mentor", 0.2, None),
                ("message", "mentor", 1.5, None),
                ("message", "mentor", 3.0, None),
                ("plan_shared", "mentor", 3.1, None),
            ],
        ),
        script(
            "one-sided: mentee only",
            EU,
            vec![
                ("message", "mentee", 0.5, None),
                ("goal_set", "mentee", 1.0, None),
                ("message", "mentee", 4.5, None),
            ],
        ),
        script(
            "talks; plan said by the email's link",
            US,
            [talk(0.4), talk(2.5), talk(5.0)].concat(),
        ),
        script(
            "low interaction",
            FAR,
            vec![
                ("message", "mentor", 1.0, None),
                ("message", "mentee", 1.5, None),
            ],
        ),
        script(
            "too intense: 3-hour session",
            EU,
            [
                talk(0.2),
                vec![
                    ("session", "mentor", 1.0, Some(180)),
                    ("goal_set", "mentee", 1.1, None),
                ],
            ]
            .concat(),
        ),
        script(
            "too intense: CV review on day 0",
            US,
            [
                talk(0.1),
                vec![
                    ("deliverable_requested", "mentee", 0.5, None),
                    ("plan_shared", "mentor", 2.0, None),
                ],
            ]
            .concat(),
        ),
        script(
            "late bloomer",
            FAR,
            [
                talk(3.0),
                vec![
                    ("goal_set", "mentee", 5.0, None),
                    ("message", "mentor", 5.5, None),
                ],
            ]
            .concat(),
        ),
        script(
            "mentor wakes up on day 6",
            EU,
            vec![
                ("message", "mentee", 0.5, None),
                ("message", "mentee", 2.5, None),
                ("message", "mentor", 6.0, None),
            ],
        ),
        script(
            "engaged, events delivered twice",
            US,
            [talk(0.3), vec![("goal_set", "mentor", 1.0, None)]].concat(),
        ),
        script(
            "interactions arrive before the pair",
            EU,
            [talk(0.2), vec![("plan_shared", "mentee", 1.0, None)]].concat(),
        ),
        script("ends on day 3", FAR, vec![("message", "mentor", 0.5, None)]),
        script("ends on day 1", EU, vec![]),
        script(
            "engaged, goals on day 6",
            US,
            [
                talk(0.5),
                talk(2.0),
                vec![("goal_set", "mentee", 6.0, None)],
            ]
            .concat(),
        ),
        script(
            "engaged, plenty of calls",
            FAR,
            [
                talk(0.2),
                vec![
                    ("call", "mentor", 1.0, Some(30)),
                    ("call", "mentee", 2.0, Some(45)),
                    ("goal_set", "mentee", 2.1, None),
                ],
            ]
            .concat(),
        ),
        script(
            "engaged",
            EU,
            [talk(0.1), vec![("plan_shared", "mentor", 0.9, None)]].concat(),
        ),
        script(
            "silent 4 days, then recovers",
            US,
            [talk(4.5), vec![("plan_shared", "mentee", 5.0, None)]].concat(),
        ),
    ];
    v[13].twice = true;
    v[14].before_start = true;
    v[15].ends_on_day = Some(3.0);
    v[16].ends_on_day = Some(1.0);
    v[20].live = true;
    v
}

/// The `interaction.recorded` bodies of `beats` for `pair`, numbered from 1;
/// `day` turns a program day into time after the pair's start.
pub fn interactions(
    pair: &Pair,
    beats: &[Beat],
    day: impl Fn(f64) -> chrono::Duration,
) -> Vec<Value> {
    beats
        .iter()
        .zip(1..)
        .map(|((kind, actor, d, minutes), n)| pair.interaction(n, kind, actor, day(*d), *minutes))
        .collect()
}

/// Both talk and the mentee shares a plan, all `at` after `pair`'s start:
/// what recovers a pair (and resolves its escalation).
pub fn talk_and_plan(pair: &Pair, at: chrono::Duration) -> Vec<Value> {
    let beats: [Beat; 3] = [
        ("message", "mentor", 0.0, None),
        ("message", "mentee", 0.0, None),
        ("plan_shared", "mentee", 0.0, None),
    ];
    interactions(pair, &beats, |_| at)
}

/// A behaviour of the fault suites' cohort and the emails it calls for
/// under the built-in playbook.
#[derive(Debug, Clone)]
pub struct Archetype {
    /// Its name, also part of its pairs' ids.
    pub name: &'static str,
    /// Its interactions, in program time.
    pub beats: Vec<Beat>,
    /// Every email it calls for, once each, as `step->role`.
    pub expected: Vec<&'static str>,
}

impl Archetype {
    /// What a program publishes about `pair` playing this archetype, in
    /// order: its start, then its interactions (`day` as in [`interactions`]).
    pub fn events(
        &self,
        pair: &Pair,
        day: impl Fn(f64) -> chrono::Duration,
    ) -> Vec<(&'static str, Value)> {
        let start = (
            "mentorship.started",
            pair.started(&format!("{}-start", pair.id)),
        );
        let beats = interactions(pair, &self.beats, day)
            .into_iter()
            .map(|body| ("interaction.recorded", body));
        std::iter::once(start).chain(beats).collect()
    }
}

/// Welcome and wrap-up, to both: what every pair that runs its week gets.
const WELCOME: [&str; 2] = ["welcome->mentor", "welcome->mentee"];
const WRAP_UP: [&str; 2] = ["wrap_up->mentor", "wrap_up->mentee"];

fn archetype_of(name: &'static str, beats: Vec<Beat>, nudges: &[&'static str]) -> Archetype {
    Archetype {
        name,
        beats,
        expected: [&WELCOME[..], nudges, &WRAP_UP[..]].concat(),
    }
}

/// The fault suites' cohort: engaged, silent, one-sided, talking without a
/// plan, too intense.
pub fn archetypes() -> Vec<Archetype> {
    vec![
        // Both talk on day 0, goals set on day 1: nothing to nudge, nothing to escalate.
        archetype_of(
            "engaged",
            vec![
                ("message", "mentor", 0.1, None),
                ("message", "mentee", 0.2, None),
                ("goal_set", "mentee", 1.0, None),
            ],
            &[],
        ),
        // Nobody: every nudge, the early escalation and its reminder.
        archetype_of(
            "silent",
            vec![],
            &[
                "check_in->mentor",
                "check_in->mentee",
                "plan_reminder->mentor",
                "plan_reminder->mentee",
                "escalation_early->coordinator",
                "escalation_reminder->coordinator",
            ],
        ),
        // Only the mentor, but with a plan: check-in on day 2, one-sided escalation on day 7.
        archetype_of(
            "one-sided",
            vec![
                ("message", "mentor", 0.5, None),
                ("message", "mentor", 1.0, None),
                ("message", "mentor", 3.0, None),
                ("plan_shared", "mentor", 3.5, None),
            ],
            &[
                "check_in->mentor",
                "check_in->mentee",
                "escalation->coordinator",
                "escalation_reminder->coordinator",
            ],
        ),
        // Talking, but no plan: plan reminder on day 4 and an escalation for the missing plan.
        archetype_of(
            "no-plan",
            vec![
                ("message", "mentor", 0.5, None),
                ("message", "mentee", 0.6, None),
                ("message", "mentor", 2.5, None),
                ("message", "mentee", 3.0, None),
            ],
            &[
                "plan_reminder->mentor",
                "plan_reminder->mentee",
                "escalation->coordinator",
                "escalation_reminder->coordinator",
            ],
        ),
        // A three-hour session on day 1: one pacing tip each.
        archetype_of(
            "intense",
            vec![
                ("message", "mentor", 0.2, None),
                ("message", "mentee", 0.3, None),
                ("session", "mentor", 1.0, Some(180)),
                ("goal_set", "mentee", 1.2, None),
            ],
            &["pacing_tip->mentor", "pacing_tip->mentee"],
        ),
    ]
}

/// The archetype named `name` (one of [`archetypes`]).
pub fn archetype(name: &str) -> Archetype {
    archetypes()
        .into_iter()
        .find(|a| a.name == name)
        .unwrap_or_else(|| panic!("no archetype named {name}"))
}
