//! The fault suites' cohort: a few behaviours, each with every email it
//! calls for under the built-in playbook.

use serde_json::Value;

use super::{Beat, beat, interactions};
use crate::Pair;

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
                beat("message", "mentor", 0.1),
                beat("message", "mentee", 0.2),
                beat("goal_set", "mentee", 1.0),
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
                beat("message", "mentor", 0.5),
                beat("message", "mentor", 1.0),
                beat("message", "mentor", 3.0),
                beat("plan_shared", "mentor", 3.5),
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
                beat("message", "mentor", 0.5),
                beat("message", "mentee", 0.6),
                beat("message", "mentor", 2.5),
                beat("message", "mentee", 3.0),
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
                beat("message", "mentor", 0.2),
                beat("message", "mentee", 0.3),
                beat("session", "mentor", 1.0).lasting(180),
                beat("goal_set", "mentee", 1.2),
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
