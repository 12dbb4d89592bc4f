//! The statistics against published tables, and the verdicts.

use super::*;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 5e-5
}

#[test]
fn newcombe_matches_the_published_table() {
    // Newcombe (1998), Statistics in Medicine 17:873-890, Table II, method 10.
    for ((k1, n1, k2, n2), (d, lo, hi)) in [
        ((56, 70, 48, 80), (0.2, 0.0524, 0.3339)),
        ((9, 10, 3, 10), (0.6, 0.1705, 0.8090)),
    ] {
        let (gd, glo, ghi) = newcombe(k1, n1, k2, n2).unwrap();
        assert!(
            close(gd, d) && close(glo, lo) && close(ghi, hi),
            "{k1}/{n1} vs {k2}/{n2}: {gd:.4} ({glo:.4}, {ghi:.4})"
        );
    }
    assert_eq!(newcombe(1, 2, 0, 0), None);
}

#[test]
fn the_sample_size_is_the_textbook_one() {
    // 60 % against 50 %, 80 % power, two-sided 5 %: 388 per group
    // (Fleiss, Levin & Paik, without continuity correction).
    assert_eq!(pairs_needed(0.6, 0.5), 388);
    assert_eq!(pairs_needed(0.4, 0.3), 356);
}

#[test]
fn the_verdict_says_what_to_do() {
    let r = result(
        "check_in",
        Aim::TwoWay,
        Arm {
            pairs: 20,
            reached: 12,
        },
        Arm {
            pairs: 4,
            reached: 1,
        },
    );
    assert!(
        r.verdict.starts_with("Not enough pairs yet: about "),
        "{}",
        r.verdict
    );
    let more = r.more_needed.unwrap();
    assert_eq!(more, pairs_needed(0.35, 0.25) - 4);
    assert!(r.verdict.contains(&format!("about {more} more per group")));

    let r = result(
        "check_in",
        Aim::TwoWay,
        Arm {
            pairs: 70,
            reached: 56,
        },
        Arm {
            pairs: 80,
            reached: 48,
        },
    );
    assert!(
        r.verdict.starts_with("The check_in helps: 80% of nudged"),
        "{}",
        r.verdict
    );
    assert_eq!(r.more_needed, None);
    let [lo, hi] = r.interval.unwrap();
    assert!(close(lo, 0.0524) && close(hi, 0.3339));

    let r = result(
        "check_in",
        Aim::TwoWay,
        Arm {
            pairs: 900,
            reached: 450,
        },
        Arm {
            pairs: 900,
            reached: 445,
        },
    );
    assert!(
        r.verdict.starts_with("No difference shown"),
        "{}",
        r.verdict
    );

    let empty = result(
        "check_in",
        Aim::TwoWay,
        Arm {
            pairs: 5,
            reached: 2,
        },
        Arm::default(),
    );
    assert_eq!((empty.difference, empty.interval), (None, None));
    assert_eq!(empty.more_needed, Some(pairs_needed(0.6, 0.5)));
}

#[test]
fn the_report_counts_each_groups_later_outcomes_where_recorded() {
    let exposure = |held_out: bool, reached: bool, outcome: Option<Outcome>| Exposure {
        step: "check_in".into(),
        aim: Aim::TwoWay,
        held_out,
        reached,
        outcome,
    };
    let results = report(&[
        exposure(false, true, Some(Outcome::Thriving)),
        exposure(false, true, Some(Outcome::Thriving)),
        exposure(false, false, None),
        exposure(true, false, Some(Outcome::Ended)),
        exposure(true, true, Some(Outcome::Continuing)),
    ]);
    let [r] = results.as_slice() else {
        panic!("one step: {results:?}")
    };
    assert_eq!(
        (r.nudged, r.held_out),
        (
            Arm {
                pairs: 3,
                reached: 2
            },
            Arm {
                pairs: 2,
                reached: 1
            }
        )
    );
    assert_eq!(r.nudged_outcomes.count(Outcome::Thriving), 2);
    assert_eq!(
        r.nudged_outcomes.recorded(),
        2,
        "the pair without one is not counted"
    );
    assert_eq!(r.held_out_outcomes.count(Outcome::Ended), 1);
    assert_eq!(r.held_out_outcomes.count(Outcome::Continuing), 1);
    assert_eq!(r.held_out_outcomes.count(Outcome::Thriving), 0);
    assert_eq!(r.finding, Finding::NotEnough);
}

#[test]
fn each_verdict_has_its_finding() {
    let arm = |pairs, reached| Arm { pairs, reached };
    let finding = |n: Arm, h: Arm| result("check_in", Aim::TwoWay, n, h).finding;
    assert_eq!(finding(arm(70, 56), arm(80, 48)), Finding::Helps);
    assert_eq!(finding(arm(80, 48), arm(70, 56)), Finding::Hurts);
    assert_eq!(finding(arm(900, 450), arm(900, 445)), Finding::NoDifference);
    assert_eq!(finding(arm(20, 12), arm(4, 1)), Finding::NotEnough);
}
