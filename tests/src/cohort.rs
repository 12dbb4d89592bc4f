//! The demo's cohort: one script per kind of first week a program sees
//! (engaged, silent, one-sided, too intense, ending early, late, recovering),
//! shared by `firstweek-demo` and the benchmark's cohort phase.

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
