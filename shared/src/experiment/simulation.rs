//! Proof that the report measures what it says: cohorts with a known
//! effect of a step (held-out pairs reach its aim with p = 0.3, nudged ones
//! with 0.6) and with none, drawn into a 30 % holdout by the real draw,
//! over many seeds. A 95 % interval should cover the true difference in
//! about 95 % of cohorts; with an effect it should exclude 0 nearly always.

use super::{Arm, Draw, newcombe};
use crate::pseudonym::PseudonymKey;

/// SplitMix64: a tiny deterministic generator, enough for a simulation.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn key() -> PseudonymKey {
    PseudonymKey::new("simulation-secret-simulation-secret").expect("long enough")
}

const HOLDOUT: f64 = 0.3;
const COHORT: usize = 300;
const RUNS: u64 = 1000;

/// Plays `RUNS` cohorts; returns how often the interval covered the true
/// difference, and how often it excluded 0.
fn play(p_nudged: f64, p_held_out: f64) -> (f64, f64) {
    let draw = Draw::new(&key(), Some("sim"));
    let truth = p_nudged - p_held_out;
    let (mut covered, mut excluded) = (0u32, 0u32);
    for seed in 0..RUNS {
        let mut rng = SplitMix(seed);
        let (mut nudged, mut held) = (Arm::default(), Arm::default());
        for pair in 0..COHORT {
            let id = format!("sim-{seed}-{pair}");
            let out = draw.at(&id, "check_in") < HOLDOUT;
            let arm = if out { &mut held } else { &mut nudged };
            let p = if out { p_held_out } else { p_nudged };
            arm.pairs += 1;
            arm.reached += u32::from(rng.unit() < p);
        }
        let (_, lo, hi) = newcombe(nudged.reached, nudged.pairs, held.reached, held.pairs)
            .expect("both groups have pairs");
        covered += u32::from(lo <= truth && truth <= hi);
        excluded += u32::from(lo > 0.0 || hi < 0.0);
    }
    let runs = RUNS as f64;
    (f64::from(covered) / runs, f64::from(excluded) / runs)
}

#[test]
fn the_interval_covers_the_true_effect_as_often_as_it_claims() {
    let (covered, excluded) = play(0.6, 0.3);
    println!(
        "effect 0.6 vs 0.3, {RUNS} cohorts of {COHORT} pairs, holdout {HOLDOUT}: covers the true difference in {:.1} %, excludes 0 in {:.1} %",
        covered * 100.0,
        excluded * 100.0
    );
    assert!((0.93..=0.97).contains(&covered), "coverage {covered}");
    assert!(excluded > 0.99, "power {excluded}");

    let (covered, excluded) = play(0.3, 0.3);
    println!(
        "no effect 0.3 vs 0.3: covers 0 in {:.1} %, a false difference in {:.1} %",
        covered * 100.0,
        excluded * 100.0
    );
    assert!((0.93..=0.97).contains(&covered), "coverage {covered}");
    assert!((covered + excluded - 1.0).abs() < 1e-9);
}

#[test]
fn the_draw_is_balanced_and_stable() {
    let key = key();
    let ids: Vec<String> = (0..10_000).map(|i| format!("pair-{i}")).collect();
    let held = |key: &PseudonymKey, step: &str, program: &str| -> Vec<bool> {
        let draw = Draw::new(key, Some(program));
        ids.iter().map(|id| draw.at(id, step) < 0.1).collect()
    };
    let first = held(&key, "check_in", "p1");
    let share = first.iter().filter(|h| **h).count() as f64 / ids.len() as f64;
    println!(
        "holdout 0.1 over 10,000 pairs: {:.2} % held out",
        share * 100.0
    );
    // Binomial sd at n = 10k, p = 0.1 is 0.3 points: 4 sd.
    assert!((share - 0.1).abs() < 0.012, "share {share}");
    // A restart or another replica recomputes the same draw from the same key.
    let again = PseudonymKey::new("simulation-secret-simulation-secret").expect("long enough");
    assert_eq!(held(&again, "check_in", "p1"), first);
    // Another step, or another program, draws independently.
    let other_step = held(&key, "plan_reminder", "p1");
    let other_program = held(&key, "check_in", "p2");
    let both = |a: &[bool], b: &[bool]| a.iter().zip(b).filter(|(x, y)| **x && **y).count();
    assert!(both(&first, &other_step) < 200, "steps are not independent");
    assert!(
        both(&first, &other_program) < 200,
        "programs are not independent"
    );
}
