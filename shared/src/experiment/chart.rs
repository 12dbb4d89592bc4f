//! The experiment report as an SVG chart: per step, the difference the
//! nudge makes (nudged share minus held-out share) as a dot on a scale from
//! -100 to +100 points, its 95 % interval as a line through it, and zero
//! marked, with the counts and the verdict written out under it. Drawn the
//! way the outcome chart is: 360 units wide, responsive, self-contained.

use std::fmt::Write as _;

use super::StepResult;
use crate::outcome::MAX_WIDTH;

const WIDTH: f64 = 360.0;
const PAD: f64 = 8.0;
const FONT: f64 = 12.0;
/// Each step's block: the name, the scale, the counts, the verdict (wrapped).
const LINE: f64 = 16.0;

/// The x of a difference `d` (a fraction, -1 to 1).
fn x(d: f64) -> f64 {
    PAD + (d.clamp(-1.0, 1.0) + 1.0) / 2.0 * (WIDTH - 2.0 * PAD)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Splits `text` into lines of at most `width` characters, at spaces.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for word in text.split(' ') {
        let last = lines.last_mut().expect("one line at least");
        if !last.is_empty() && last.chars().count() + 1 + word.chars().count() > width {
            lines.push(word.to_string());
        } else {
            if !last.is_empty() {
                last.push(' ');
            }
            last.push_str(word);
        }
    }
    lines
}

/// Draws `r`'s scale with its axis at `axis`: the line from -100 to +100
/// points, zero dashed, the interval and the difference on it, and the
/// ends and zero (`zero`) labelled a line below.
fn draw_scale(body: &mut String, r: &StepResult, axis: f64, zero_label: &str) {
    let zero = x(0.0);
    let _ = write!(
        body,
        r##"<line x1="{PAD}" y1="{axis}" x2="{}" y2="{axis}" stroke="#999"/><line x1="{zero}" y1="{}" x2="{zero}" y2="{}" stroke="#000" stroke-dasharray="2 2"/>"##,
        WIDTH - PAD,
        axis - 8.0,
        axis + 8.0
    );
    if let (Some(d), Some([lo, hi])) = (r.difference, r.interval) {
        let _ = write!(
            body,
            r##"<line x1="{}" y1="{axis}" x2="{}" y2="{axis}" stroke="#0072B2" stroke-width="4"/><circle cx="{}" cy="{axis}" r="5" fill="#D55E00"/>"##,
            x(lo),
            x(hi),
            x(d)
        );
    }
    let y = axis + LINE;
    let _ = write!(
        body,
        r#"<text x="{PAD}" y="{y}">-100</text><text x="{zero}" y="{y}" text-anchor="middle">{}</text><text x="{}" y="{y}" text-anchor="end">+100</text>"#,
        escape(zero_label),
        WIDTH - PAD
    );
}

/// `r`'s scale alone, for a page that writes its counts, interval and
/// verdict out in words beside it (in the reader's language): numbers only,
/// so hidden from assistive technology, which reads the words instead.
/// Responsive as [`svg`].
pub fn scale(r: &StepResult) -> String {
    let mut body = String::new();
    let axis = PAD + 8.0;
    draw_scale(&mut body, r, axis, "0");
    let height = axis + LINE + PAD;
    format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="100%" style="display:block;max-width:{MAX_WIDTH};height:auto" font-family="sans-serif" font-size="{FONT}" aria-hidden="true">{body}</svg>"#
    )
}

/// The chart of `results`, titled `title` (drawn at its top).
pub fn svg(results: &[StepResult], title: &str) -> String {
    let mut body = String::new();
    let mut y = PAD + FONT;
    let _ = write!(
        body,
        r#"<text x="{PAD}" y="{y}" font-weight="bold">{}</text>"#,
        escape(title)
    );
    y += LINE;
    if results.is_empty() {
        let _ = write!(
            body,
            r#"<text x="{PAD}" y="{y}">No step has a holdout yet.</text>"#
        );
        y += LINE;
    }
    for r in results {
        y += LINE / 2.0;
        let _ = write!(
            body,
            r#"<text x="{PAD}" y="{y}" font-weight="bold">{}</text>"#,
            escape(&r.step)
        );
        y += LINE;
        draw_scale(&mut body, r, y, "0 points");
        y += 2.0 * LINE;
        let counts = format!(
            "nudged {} of {} reached its aim; held out {} of {}",
            r.nudged.reached, r.nudged.pairs, r.held_out.reached, r.held_out.pairs
        );
        let _ = write!(
            body,
            r#"<text x="{PAD}" y="{y}">{}</text>"#,
            escape(&counts)
        );
        for line in wrap(&r.verdict, 54) {
            y += LINE;
            let _ = write!(body, r#"<text x="{PAD}" y="{y}">{}</text>"#, escape(&line));
        }
        y += LINE;
    }
    let height = y + PAD;
    format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="100%" style="display:block;max-width:{MAX_WIDTH};height:auto" font-family="sans-serif" font-size="{FONT}" role="img" aria-label="{}">{body}</svg>"#,
        escape(title)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiment::{Arm, result};
    use crate::playbook::Aim;

    #[test]
    fn the_chart_writes_out_counts_and_verdict_and_draws_the_interval() {
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
        let s = svg(std::slice::from_ref(&r), "Nudges <tested>");
        assert!(s.contains("Nudges &lt;tested&gt;"));
        assert!(s.contains("nudged 56 of 70 reached its aim; held out 48 of 80"));
        assert!(s.contains("The check_in helps"));
        // The interval runs from +5 to +33 points: right of zero.
        let [lo, hi] = r.interval.unwrap();
        assert!(x(lo) > x(0.0) && x(hi) > x(lo));
        assert!(s.contains(&format!("x1=\"{}\" y1", x(lo))), "{s}");
        assert!(svg(&[], "t").contains("No step has a holdout yet."));
    }

    #[test]
    fn the_scale_alone_draws_the_interval_without_words() {
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
        let s = scale(&r);
        let [lo, hi] = r.interval.unwrap();
        assert!(s.contains(&format!("x1=\"{}\" y1", x(lo))), "{s}");
        assert!(s.contains(&format!("x2=\"{}\" y2", x(hi))), "{s}");
        assert!(s.contains("width=\"100%\"") && s.contains("aria-hidden=\"true\""));
        assert!(!s.contains("points") && !s.contains("check_in"), "{s}");
        // Without a held-out pair there is no interval to draw.
        let empty = result("check_in", Aim::TwoWay, r.nudged, Arm::default());
        assert!(!scale(&empty).contains("<circle"));
    }
}
