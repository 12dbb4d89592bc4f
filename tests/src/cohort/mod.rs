//! The cohorts tests play, in one vocabulary: a pair's interactions as
//! [`Beat`]s, the fault suites' archetypes (a behaviour and the emails it
//! calls for, see [`archetypes`]), and the demo's cohort, one script per
//! kind of first week a program sees (engaged, silent, one-sided, too
//! intense, ending early, late, recovering), shared by `firstweek-demo` and
//! the benchmark's cohort phase.

use serde_json::Value;

use crate::Pair;

mod archetypes;
mod demo;
pub use archetypes::{Archetype, archetype, archetypes};
pub use demo::{Script, cohort};

/// One interaction of a script, in program time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Beat {
    /// Its `kind` (`message`, `call`, `plan_shared`, ...).
    pub kind: &'static str,
    /// Who: `mentor` or `mentee`.
    pub actor: &'static str,
    /// The program day it happens on (0 is the start).
    pub day: f64,
    /// How long it lasted, when it says.
    pub minutes: Option<u32>,
}

/// `actor`'s interaction of `kind` on program `day`.
pub const fn beat(kind: &'static str, actor: &'static str, day: f64) -> Beat {
    Beat {
        kind,
        actor,
        day,
        minutes: None,
    }
}

impl Beat {
    /// The same interaction, lasting `minutes`.
    pub const fn lasting(self, minutes: u32) -> Beat {
        Beat {
            minutes: Some(minutes),
            ..self
        }
    }
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
        .map(|(b, n)| pair.interaction(n, b.kind, b.actor, day(b.day), b.minutes))
        .collect()
}

/// Both talk and the mentee shares a plan, all `at` after `pair`'s start:
/// what recovers a pair (and resolves its escalation).
pub fn talk_and_plan(pair: &Pair, at: chrono::Duration) -> Vec<Value> {
    let beats: [Beat; 3] = [
        beat("message", "mentor", 0.0),
        beat("message", "mentee", 0.0),
        beat("plan_shared", "mentee", 0.0),
    ];
    interactions(pair, &beats, |_| at)
}
