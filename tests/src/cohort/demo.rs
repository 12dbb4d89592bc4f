//! The demo's cohort: twenty pairs, one of each behaviour a program sees.

use super::{Beat, beat};

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
            beat("message", "mentor", d),
            beat("message", "mentee", d + 0.1),
        ]
    };
    let mut v = vec![
        script(
            "engaged",
            EU,
            [
                talk(0.2),
                vec![
                    beat("goal_set", "mentee", 1.0),
                    beat("call", "mentor", 1.5).lasting(30),
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
                vec![beat("plan_shared", "mentor", 2.0)],
            ]
            .concat(),
        ),
        script(
            "engaged with an intro call",
            US,
            [
                talk(0.1),
                vec![
                    beat("call", "mentee", 0.8).lasting(30),
                    beat("plan_shared", "mentee", 3.0),
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
                beat("message", "mentor", 0.2),
                beat("message", "mentor", 1.5),
                beat("message", "mentor", 3.0),
                beat("plan_shared", "mentor", 3.1),
            ],
        ),
        script(
            "one-sided: mentee only",
            EU,
            vec![
                beat("message", "mentee", 0.5),
                beat("goal_set", "mentee", 1.0),
                beat("message", "mentee", 4.5),
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
                beat("message", "mentor", 1.0),
                beat("message", "mentee", 1.5),
            ],
        ),
        script(
            "too intense: 3-hour session",
            EU,
            [
                talk(0.2),
                vec![
                    beat("session", "mentor", 1.0).lasting(180),
                    beat("goal_set", "mentee", 1.1),
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
                    beat("deliverable_requested", "mentee", 0.5),
                    beat("plan_shared", "mentor", 2.0),
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
                    beat("goal_set", "mentee", 5.0),
                    beat("message", "mentor", 5.5),
                ],
            ]
            .concat(),
        ),
        script(
            "mentor wakes up on day 6",
            EU,
            vec![
                beat("message", "mentee", 0.5),
                beat("message", "mentee", 2.5),
                beat("message", "mentor", 6.0),
            ],
        ),
        script(
            "engaged, events delivered twice",
            US,
            [talk(0.3), vec![beat("goal_set", "mentor", 1.0)]].concat(),
        ),
        script(
            "interactions arrive before the pair",
            EU,
            [talk(0.2), vec![beat("plan_shared", "mentee", 1.0)]].concat(),
        ),
        script("ends on day 3", FAR, vec![beat("message", "mentor", 0.5)]),
        script("ends on day 1", EU, vec![]),
        script(
            "engaged, goals on day 6",
            US,
            [talk(0.5), talk(2.0), vec![beat("goal_set", "mentee", 6.0)]].concat(),
        ),
        script(
            "engaged, plenty of calls",
            FAR,
            [
                talk(0.2),
                vec![
                    beat("call", "mentor", 1.0).lasting(30),
                    beat("call", "mentee", 2.0).lasting(45),
                    beat("goal_set", "mentee", 2.1),
                ],
            ]
            .concat(),
        ),
        script(
            "engaged",
            EU,
            [talk(0.1), vec![beat("plan_shared", "mentor", 0.9)]].concat(),
        ),
        script(
            "silent 4 days, then recovers",
            US,
            [talk(4.5), vec![beat("plan_shared", "mentee", 5.0)]].concat(),
        ),
    ];
    v[13].twice = true;
    v[14].before_start = true;
    v[15].ends_on_day = Some(3.0);
    v[16].ends_on_day = Some(1.0);
    v[20].live = true;
    v
}
