//! Languages: a person's `locale` (a BCP 47 tag such as `de-AT`, `es`,
//! `en-GB`), the fallback chain templates are looked up along (`de-AT` →
//! `de` → the default, English), and dates, times and zone names written
//! for a locale.
//!
//! The words of each shipped locale (weekday and month names, how a zone is
//! named, 12- or 24-hour clock) live in one table per locale, in
//! `locale/words.rs`; what an email or a page says lives in its templates
//! (`shared/templates/<locale>/`, `web/templates/<locale>/`). See
//! `docs/locales.md`.

mod time;
mod words;

pub use crate::event::tag::{DEFAULT, InvalidTag, Locale};
pub use time::{date_time, day_at, local_time, span, weekday_time, when, zone_name};
pub use words::{Clock, Words};

/// The locales firstweek ships complete templates for: every step's email
/// and every page exists in each of them.
pub const SHIPPED: [&str; 3] = ["en", "de", "es"];

/// The locale of a person who named none, or one that is not shipped and
/// has no shipped parent: the default.
pub fn default_locale() -> Locale {
    Locale::default()
}

impl Locale {
    /// The first shipped locale along the chain, if one is before the
    /// default (`es-MX` → `es`); `None` for a language firstweek does not
    /// ship (`fr`), whose pages fall back to the default.
    pub fn shipped(&self) -> Option<&'static str> {
        let mut tag = self.as_str();
        loop {
            if let Some(s) = SHIPPED.iter().find(|s| **s == tag) {
                return Some(s);
            }
            tag = &tag[..tag.rfind('-')?];
        }
    }
}

/// The shipped locale that best matches an `Accept-Language` header
/// (RFC 9110: tags with optional `;q=` weights), else the default. A tag
/// matches a shipped locale through its fallback chain (`es-MX` is `es`).
pub fn negotiate(accept_language: &str) -> Locale {
    let mut offers: Vec<(u16, usize, Locale)> = Vec::new();
    for (i, item) in accept_language.split(',').enumerate() {
        let mut parts = item.split(';');
        let tag = parts.next().unwrap_or("").trim();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .next()
            .and_then(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        // Weights have at most three decimals: compared as integers.
        let q = (q.clamp(0.0, 1.0) * 1000.0).round() as u16;
        if q == 0 {
            continue;
        }
        if let Ok(locale) = Locale::parse(tag)
            && locale.shipped().is_some()
        {
            offers.push((q, i, locale));
        }
    }
    // The highest weight first; among equals, the one listed first.
    offers.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    offers
        .into_iter()
        .next()
        .map(|(_, _, l)| l)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_is_shipped_through_its_language() {
        let shipped = |t: &str| Locale::parse(t).unwrap().shipped();
        assert_eq!(shipped("es-MX"), Some("es"));
        assert_eq!(shipped("de-AT"), Some("de"));
        assert_eq!(shipped("en-GB"), Some("en"));
        assert_eq!(shipped("fr-CA"), None);
    }

    #[test]
    fn accept_language_picks_the_best_shipped_locale() {
        assert_eq!(negotiate("es-MX,es;q=0.9,en;q=0.8").as_str(), "es-MX");
        assert_eq!(negotiate("fr-FR, de;q=0.7, en;q=0.5").as_str(), "de");
        assert_eq!(negotiate("en;q=0.2, de-AT;q=0.9").as_str(), "de-AT");
        assert_eq!(negotiate("fr, ja").as_str(), "en");
        assert_eq!(negotiate("").as_str(), "en");
        assert_eq!(negotiate("de;q=0, es;q=0.1").as_str(), "es");
        assert_eq!(negotiate("*").as_str(), "en");
    }
}
