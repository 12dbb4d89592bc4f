//! The outcome report as an SVG chart, drawn to be read on a phone: per
//! factor, one stacked bar per group (the share of each outcome), with every
//! count, share and 95 % interval written out under it, not hidden in a
//! tooltip.
//!
//! - Responsive: a `viewBox` 360 units wide (a phone's width, so its text is
//!   drawn at its own size there) and `width="100%"`, never a fixed width:
//!   the chart shrinks to its column and grows on a desktop up to
//!   [`MAX_WIDTH`].
//! - Colour-blind safe: the Okabe–Ito blue, sky blue, orange and vermillion,
//!   which differ in hue for every common colour vision deficiency and in
//!   lightness for greyscale, and colour is never the only cue (each share
//!   is written with its outcome's name).
//! - Honest about small groups: a group of fewer than [`FEW_PAIRS`] pairs is
//!   hatched (its colours stay recognisable under the stripes), with a
//!   dashed outline, and says "few pairs".
//!
//! Self-contained (no script, no external font or style), so it can be a
//! file (`firstweek report outcomes --svg`) or inline in a page.

use std::fmt::Write as _;

use super::{Group, Report, percent};
use crate::event::Outcome;

/// Groups with fewer pairs than this are marked as few: below 5, the 95 %
/// interval of any share is wider than half the scale (2 of 4 pairs:
/// 15 %–85 %), so the bar's split says next to nothing.
pub const FEW_PAIRS: u32 = 5;

/// How wide the chart grows on a wide screen (CSS): its text at about
/// 1.3 times its phone size, no larger.
pub const MAX_WIDTH: &str = "30rem";

/// How the chart is named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Title<'a> {
    /// Drawn at its top: a chart that stands alone (a file).
    Drawn(&'a str),
    /// Only for assistive technology: a page that already shows it as its
    /// heading (it would be said twice otherwise).
    Labelled(&'a str),
}

impl Title<'_> {
    fn text(&self) -> &str {
        match self {
            Title::Drawn(t) | Title::Labelled(t) => t,
        }
    }
}

/// The width of the drawing, in its own units.
const WIDTH: f64 = 360.0;
/// The margin at either side.
const PAD: f64 = 8.0;
/// The width of a bar (the whole drawing but the margins).
const BAR: f64 = WIDTH - 2.0 * PAD;
/// A bar's height.
const BAR_HEIGHT: f64 = 20.0;
/// The font size of names and headings.
const FONT: f64 = 13.0;
/// The font size of counts, shares and notes.
const SMALL: f64 = 11.0;
/// Height of a line of small text.
const SMALL_LINE: f64 = 14.0;

/// The colour of each outcome, best to worst (Okabe–Ito: blues for the
/// better, oranges for the worse), and the colour of a count written on it
/// (each at least 4.5:1 against its fill, light ones too).
fn colour(o: Outcome) -> (&'static str, &'static str) {
    match o {
        Outcome::Thriving => ("#0072B2", "#fff"),
        Outcome::Continuing => ("#56B4E9", "#000"),
        Outcome::Struggling => ("#E69F00", "#000"),
        Outcome::Ended => ("#D55E00", "#000"),
    }
}

/// About how wide `text` is drawn at `size` (sans-serif averages a little
/// over half an em): enough to lay text out without measuring it.
fn text_width(text: &str, size: f64) -> f64 {
    text.chars().count() as f64 * size * 0.58
}

/// `text` cut into lines that fit `width` at `size`, at spaces.
fn wrap(text: &str, size: f64, width: f64) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        let candidate = if line.is_empty() {
            word.to_string()
        } else {
            format!("{line} {word}")
        };
        if !line.is_empty() && text_width(&candidate, size) > width {
            lines.push(std::mem::replace(&mut line, word.to_string()));
        } else {
            line = candidate;
        }
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// The report as an SVG chart named `title` (see the module's notes).
pub fn svg(report: &Report, title: Title<'_>) -> String {
    let hatch = hatch_id(title.text());
    let mut body = format!(
        r##"<defs><pattern id="{hatch}" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="3" height="6" fill="#fff" fill-opacity="0.6"/></pattern></defs>"##
    );
    let mut y = 0.0;
    if let Title::Drawn(t) = title {
        for line in wrap(t, 15.0, BAR) {
            y += 20.0;
            let _ = write!(
                body,
                r#"<text x="{PAD}" y="{y}" font-size="15" font-weight="bold">{}</text>"#,
                escape(&line)
            );
        }
        y += 6.0;
    }
    y = legend(&mut body, y, &hatch);
    for f in &report.factors {
        y += 26.0;
        let _ = write!(
            body,
            r#"<text x="{PAD}" y="{y}" font-weight="bold">{}</text>"#,
            escape(f.title)
        );
        for g in &f.groups {
            y = group(&mut body, g, y + 8.0, &hatch);
        }
    }
    y += 10.0;
    let note = format!(
        "{} pairs with an outcome ({} without one yet). Each share comes with its 95% interval in brackets.",
        report.pairs, report.without_outcome
    );
    for line in wrap(&note, SMALL, BAR) {
        y += SMALL_LINE;
        let _ = write!(
            body,
            r##"<text x="{PAD}" y="{y}" font-size="{SMALL}" fill="#333">{}</text>"##,
            escape(&line)
        );
    }
    let height = y + 8.0;
    format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="100%" style="display:block;max-width:{MAX_WIDTH};height:auto" font-family="sans-serif" font-size="{FONT}" role="img" aria-label="{}">{body}</svg>"#,
        escape(title.text())
    )
}

/// The legend below the title, from `y`: each outcome's colour and name,
/// as many to a line as fit, then what a hatched bar means. Returns where
/// it ends.
fn legend(body: &mut String, mut y: f64, hatch: &str) -> f64 {
    y += 18.0;
    let mut x = PAD;
    for o in Outcome::ALL {
        let name = o.as_str();
        let width = 16.0 + text_width(name, FONT);
        if x > PAD && x + width > WIDTH - PAD {
            x = PAD;
            y += 18.0;
        }
        let _ = write!(
            body,
            r##"<rect x="{x:.1}" y="{}" width="12" height="12" fill="{}" stroke="#333" stroke-width="0.5"/><text x="{:.1}" y="{y}">{name}</text>"##,
            y - 10.0,
            colour(o).0,
            x + 16.0,
        );
        x += width + 10.0;
    }
    y += 18.0;
    let _ = write!(
        body,
        r##"<rect x="{PAD}" y="{}" width="12" height="12" fill="{}"/><rect x="{PAD}" y="{}" width="12" height="12" fill="url(#{hatch})" stroke="#333" stroke-dasharray="2 2"/><text x="{}" y="{y}" font-size="{SMALL}" fill="#333">few pairs (fewer than {FEW_PAIRS}): read with care</text>"##,
        y - 10.0,
        colour(Outcome::Thriving).0,
        y - 10.0,
        PAD + 16.0
    );
    y
}

/// The id of a chart's hatch pattern: one of its own per chart (from its
/// title), so charts inline in one page never share an id.
fn hatch_id(title: &str) -> String {
    // FNV-1a: stable across builds and platforms, unlike `DefaultHasher`.
    let hash = title.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("few-pairs-{hash:016x}")
}

/// One group from `top`: its name and size, its bar, then each outcome's
/// count, share and interval. Returns where it ends.
fn group(body: &mut String, g: &Group, top: f64, hatch: &str) -> f64 {
    let few = g.pairs > 0 && g.pairs < FEW_PAIRS;
    let size = match g.pairs {
        0 => "no pairs".to_string(),
        1 => "1 pair".to_string(),
        n => format!("{n} pairs"),
    };
    let size = if few {
        format!("{size}, few pairs")
    } else {
        size
    };
    let class = if few { "group few" } else { "group" };
    let mut y = top + 14.0;
    let _ = write!(
        body,
        r##"<g class="{class}"><text x="{PAD}" y="{y}">{}</text><text x="{}" y="{y}" text-anchor="end" font-size="{SMALL}" fill="#333">{}</text>"##,
        escape(&g.group),
        WIDTH - PAD,
        size
    );
    let bar_top = y + 5.0;
    let mut left = PAD;
    for s in g.outcomes.iter().filter(|s| s.count > 0) {
        let w = s.share * BAR;
        let (fill, _) = colour(s.outcome);
        let _ = write!(
            body,
            r##"<rect x="{left:.1}" y="{bar_top}" width="{w:.1}" height="{BAR_HEIGHT}" fill="{fill}" stroke="#fff" stroke-width="1"><title>{}: {} of {} ({}, 95% CI {}–{})</title></rect>"##,
            s.outcome.as_str(),
            s.count,
            g.pairs,
            percent(s.share),
            percent(s.ci95.0),
            percent(s.ci95.1)
        );
        left += w;
    }
    if few {
        let _ = write!(
            body,
            r#"<rect x="{PAD}" y="{bar_top}" width="{BAR}" height="{BAR_HEIGHT}" fill="url(#{hatch})"/>"#
        );
    }
    // The counts on the bar, over the hatching (a halo of their
    // background's contrast keeps them readable on the stripes).
    let mut left = PAD;
    for s in g.outcomes.iter().filter(|s| s.count > 0) {
        let w = s.share * BAR;
        let (_, ink) = colour(s.outcome);
        let halo = if ink == "#fff" { "#000" } else { "#fff" };
        let label = s.count.to_string();
        if w >= text_width(&label, SMALL) + 6.0 {
            let halo = if few {
                format!(r#" stroke="{halo}" stroke-width="3" paint-order="stroke""#)
            } else {
                String::new()
            };
            let _ = write!(
                body,
                r#"<text x="{:.1}" y="{}" text-anchor="middle" font-size="{SMALL}" font-weight="bold" fill="{ink}"{halo}>{label}</text>"#,
                left + w / 2.0,
                bar_top + 14.0
            );
        }
        left += w;
    }
    let dash = if few || g.pairs == 0 {
        r#" stroke-dasharray="3 3""#
    } else {
        ""
    };
    let _ = write!(
        body,
        r##"<rect x="{PAD}" y="{bar_top}" width="{BAR}" height="{BAR_HEIGHT}" fill="none" stroke="#333"{dash}/>"##
    );
    y = bar_top + BAR_HEIGHT;
    // Each outcome's count, share and interval, as many to a line as fit.
    let items: Vec<String> = g
        .outcomes
        .iter()
        .filter(|s| s.count > 0)
        .map(|s| {
            format!(
                "{} {} · {} ({}–{})",
                s.outcome.as_str(),
                s.count,
                percent(s.share),
                // The interval's low end without its own "%": `21–100%`.
                percent(s.ci95.0).trim_end_matches('%'),
                percent(s.ci95.1)
            )
        })
        .collect();
    let mut line: Vec<&str> = Vec::new();
    let mut lines: Vec<Vec<&str>> = Vec::new();
    for item in &items {
        let mut candidate = line.clone();
        candidate.push(item);
        if !line.is_empty() && text_width(&candidate.join("    "), SMALL) > BAR {
            lines.push(std::mem::replace(&mut line, vec![item]));
        } else {
            line = candidate;
        }
    }
    if !line.is_empty() {
        lines.push(line);
    }
    for l in lines {
        y += SMALL_LINE;
        let mut x = PAD;
        for item in l {
            let _ = write!(
                body,
                r##"<text x="{x:.1}" y="{y}" font-size="{SMALL}" fill="#333">{}</text>"##,
                escape(item)
            );
            x += text_width(item, SMALL) + text_width("    ", SMALL);
        }
    }
    body.push_str("</g>");
    y
}

/// Escapes text for SVG (XML) content and attributes.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests;
