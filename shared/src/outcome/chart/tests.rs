//! The chart's promises: responsive, labelled, honest about small groups,
//! colour-blind safe, titled once.

use super::*;
use crate::outcome::{Escalation, FirstWeek, Observed, report};

fn pair(interactions: u32, two_way: bool, o: Outcome) -> Observed {
    Observed {
        week: FirstWeek {
            interactions,
            two_way,
            plan: two_way,
            escalation: Escalation::None,
        },
        outcome: o,
        rating: None,
    }
}

/// Ten two-way pairs with 6+ interactions (eight thriving, two
/// continuing) and one silent pair that ended.
fn cohort() -> Vec<Observed> {
    let mut c: Vec<Observed> = (0..8).map(|_| pair(7, true, Outcome::Thriving)).collect();
    c.extend((0..2).map(|_| pair(7, true, Outcome::Continuing)));
    c.push(pair(0, false, Outcome::Ended));
    c
}

/// The `<g>` of the group whose name is drawn as `name` (the first one).
fn group_of<'a>(chart: &'a str, name: &str) -> &'a str {
    let at = chart
        .find(&format!(">{name}</text>"))
        .unwrap_or_else(|| panic!("{name} is drawn: {chart}"));
    let start = chart[..at].rfind("<g ").expect("in a group");
    let end = at + chart[at..].find("</g>").expect("a group ends");
    &chart[start..end]
}

#[test]
fn the_chart_scales_to_its_column_with_no_fixed_width() {
    let chart = svg(&report(3, &cohort(), 0), Title::Drawn("t"));
    let open = &chart[..chart.find('>').expect("an opening tag")];
    assert!(open.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert!(open.contains("viewBox=\"0 0 360 "), "{open}");
    assert!(open.contains("width=\"100%\""), "{open}");
    assert!(!open.contains("height=\""), "the height follows: {open}");
    assert!(
        !open.contains("width=\"640") && !open.contains("px\""),
        "no width in pixels: {open}"
    );
    // Nothing starts past the viewBox's right edge.
    for x in chart.split(" x=\"").skip(1) {
        let x: f64 = x[..x.find('"').expect("a value")]
            .parse()
            .expect("a number");
        assert!((0.0..=WIDTH).contains(&x), "x = {x}");
    }
}

#[test]
fn counts_shares_and_intervals_are_written_out_not_only_in_tooltips() {
    let chart = svg(&report(3, &cohort(), 2), Title::Drawn("t"));
    let busy = group_of(&chart, "6+");
    // The count on the bar, then the outcome, count, share and interval in words.
    assert!(busy.contains(">8</text>"), "{busy}");
    assert!(busy.contains(">thriving 8 · 80% (49–94%)</text>"), "{busy}");
    assert!(
        busy.contains(">continuing 2 · 20% (6–51%)</text>"),
        "{busy}"
    );
    assert!(busy.contains(">10 pairs</text>"), "{busy}");
    // Outcomes no pair has are not listed.
    assert!(!busy.contains("ended"), "{busy}");
    assert!(chart.contains("11 pairs with an outcome (2 without one yet)."));
    for g in [
        "0",
        "1-2",
        "3-5",
        "6+",
        "yes, recovered",
        "yes, not recovered",
    ] {
        assert!(chart.contains(&format!(">{g}</text>")), "{g}");
    }
    // The tooltip stays for those who hover.
    assert!(chart.contains("<title>thriving: 8 of 10 (80%, 95% CI 49%–94%)</title>"));
}

#[test]
fn a_group_of_few_pairs_is_hatched_and_says_so() {
    let chart = svg(&report(3, &cohort(), 0), Title::Drawn("t"));
    let silent = group_of(&chart, "0");
    assert!(silent.contains("class=\"group few\""), "{silent}");
    assert!(silent.contains(">1 pair, few pairs</text>"), "{silent}");
    let hatch = hatch_id("t");
    assert!(
        chart.contains(&format!("<pattern id=\"{hatch}\"")),
        "{chart}"
    );
    assert!(
        silent.contains(&format!("fill=\"url(#{hatch})\"")),
        "{silent}"
    );
    assert!(silent.contains("stroke-dasharray"), "{silent}");
    let busy = group_of(&chart, "6+");
    assert!(busy.contains("class=\"group\""), "{busy}");
    assert!(!busy.contains("few") && !busy.contains("url(#"), "{busy}");
    // An empty group is neither: it has no pairs.
    let empty = group_of(&chart, "3-5");
    assert!(empty.contains(">no pairs</text>"), "{empty}");
    assert!(chart.contains("few pairs (fewer than 5): read with care"));
}

#[test]
fn the_palette_is_colour_blind_safe_never_red_against_green() {
    let chart = svg(&report(3, &cohort(), 0), Title::Drawn("t"));
    for o in Outcome::ALL {
        assert!(chart.contains(colour(o).0), "{o:?}");
    }
    for old in ["#1b7837", "#a6dba0", "#f4a582", "#b2182b"] {
        assert!(!chart.contains(old), "{old}");
    }
}

#[test]
fn the_title_is_drawn_once_or_only_named_for_a_page_that_shows_it() {
    let cohort = cohort();
    let r = report(3, &cohort, 0);
    let drawn = svg(&r, Title::Drawn("program <a&b>"));
    assert_eq!(
        drawn.matches("program &lt;a&amp;b&gt;").count(),
        2,
        "drawn and named"
    );
    assert!(drawn.contains(">program &lt;a&amp;b&gt;</text>"));
    let labelled = svg(&r, Title::Labelled("program p"));
    assert!(labelled.contains("aria-label=\"program p\""));
    assert_eq!(labelled.matches("program p").count(), 1, "{labelled}");
    assert!(!labelled.contains("<script"));
    // Two charts in one page never share their pattern's id.
    assert_ne!(hatch_id("program p"), hatch_id("program q"));
}

#[test]
fn long_text_wraps_within_the_width() {
    let lines = wrap("a b c dddddddd eeeeeeee ffffffff", 10.0, 60.0);
    assert!(lines.len() > 1, "{lines:?}");
    for l in &lines {
        assert!(text_width(l, 10.0) <= 60.0 || !l.contains(' '), "{l}");
    }
    assert_eq!(lines.join(" "), "a b c dddddddd eeeeeeee ffffffff");
}
