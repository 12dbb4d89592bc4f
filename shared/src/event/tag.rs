//! A BCP 47 language tag (RFC 5646), checked for well-formedness and kept
//! in its conventional case (`de-AT`, `zh-Hant-TW`, `es-419`): the
//! contract's `locale` fields. What firstweek writes in it is `crate::locale`.

use std::fmt;

/// The default locale: English. Every fallback chain ends here.
pub const DEFAULT: &str = "en";

/// Why a tag is refused. It never holds the tag itself: what a publisher
/// put in the field may be anything (a name, an address).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("is not a BCP 47 language tag (e.g. de-AT, es, en-GB)")]
pub struct InvalidTag;

/// A well-formed BCP 47 language tag.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Locale(String);

impl Default for Locale {
    fn default() -> Locale {
        Locale(DEFAULT.to_string())
    }
}

impl fmt::Display for Locale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Longest tag accepted: RFC 5646 sets no limit, but a tag of 35
/// characters covers every registered combination (section 4.4.1); twice
/// that leaves room for extensions and stays short in a header or a log.
const MAX_CHARS: usize = 70;

fn alpha(s: &str, range: std::ops::RangeInclusive<usize>) -> bool {
    range.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphabetic())
}

fn alnum(s: &str, range: std::ops::RangeInclusive<usize>) -> bool {
    range.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn digits(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|b| b.is_ascii_digit())
}

/// Where in the tag the parser is: each subtag kind may only follow the kinds before it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Next {
    Extlang(u8),
    Script,
    Region,
    Variant,
    Extension,
}

impl Locale {
    /// Parses a tag (`de-AT`, `es`, `en-GB`, `zh-Hant-TW`, `es-419`), any
    /// case; refused unless it is a well-formed `langtag` of RFC 5646
    /// whose language is an ISO 639 code of 2 or 3 letters (private-use
    /// and grandfathered tags are refused: no template could be chosen for
    /// them).
    pub fn parse(tag: &str) -> Result<Locale, InvalidTag> {
        if tag.is_empty() || tag.len() > MAX_CHARS || !tag.is_ascii() {
            return Err(InvalidTag);
        }
        let mut subtags = tag.split('-');
        let language = subtags.next().unwrap_or("");
        // RFC 5646 keeps 5 to 8 letters for languages it may register some
        // day; none is, and such a "tag" is a word (`german`): refused.
        if !alpha(language, 2..=3) {
            return Err(InvalidTag);
        }
        let mut out = vec![language.to_ascii_lowercase()];
        let mut next = Next::Extlang(0);
        let mut in_extension = false;
        let mut extension_has_subtag = true;
        let mut singletons = Vec::new();
        for sub in subtags {
            if in_extension {
                if alnum(sub, 2..=8) {
                    extension_has_subtag = true;
                    out.push(sub.to_ascii_lowercase());
                    continue;
                }
                if !extension_has_subtag {
                    return Err(InvalidTag);
                }
            }
            match next {
                Next::Extlang(n) if n < 3 && alpha(sub, 3..=3) => {
                    next = Next::Extlang(n + 1);
                    out.push(sub.to_ascii_lowercase());
                    continue;
                }
                _ => {}
            }
            if next <= Next::Script && alpha(sub, 4..=4) {
                next = Next::Region;
                let mut script = sub.to_ascii_lowercase();
                script[..1].make_ascii_uppercase();
                out.push(script);
            } else if next <= Next::Region && (alpha(sub, 2..=2) || digits(sub, 3)) {
                next = Next::Variant;
                out.push(sub.to_ascii_uppercase());
            } else if next <= Next::Variant
                && (alnum(sub, 5..=8)
                    || (sub.len() == 4 && sub.as_bytes()[0].is_ascii_digit() && alnum(sub, 4..=4)))
            {
                next = Next::Variant;
                out.push(sub.to_ascii_lowercase());
            } else if sub.len() == 1
                && sub.as_bytes()[0].is_ascii_alphanumeric()
                && !sub.eq_ignore_ascii_case("x")
            {
                let s = sub.to_ascii_lowercase();
                // A singleton appears once (RFC 5646 section 2.2.6).
                if singletons.contains(&s) {
                    return Err(InvalidTag);
                }
                singletons.push(s.clone());
                next = Next::Extension;
                in_extension = true;
                extension_has_subtag = false;
                out.push(s);
            } else {
                return Err(InvalidTag);
            }
        }
        if in_extension && !extension_has_subtag {
            return Err(InvalidTag);
        }
        Ok(Locale(out.join("-")))
    }

    /// The tag, in its conventional case.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The primary language subtag (`de` of `de-AT`).
    pub fn language(&self) -> &str {
        self.0.split('-').next().unwrap_or(&self.0)
    }

    /// Where templates are looked up, most specific first: the tag, then
    /// the tag with its last subtag dropped, and so on down to the
    /// language, then the default (`de-AT` → `de` → `en`; `en-GB` → `en`).
    pub fn chain(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut tag = self.0.as_str();
        loop {
            if !out.iter().any(|t: &String| t == tag) {
                out.push(tag.to_string());
            }
            match tag.rfind('-') {
                Some(i) => tag = &tag[..i],
                None => break,
            }
        }
        if !out.iter().any(|t| t == DEFAULT) {
            out.push(DEFAULT.to_string());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_formed_tags_parse_into_their_conventional_case() {
        for (given, canonical) in [
            ("de-AT", "de-AT"),
            ("es", "es"),
            ("EN-gb", "en-GB"),
            ("zh-hant-tw", "zh-Hant-TW"),
            ("es-419", "es-419"),
            ("sl-rozaj-biske", "sl-rozaj-biske"),
            ("de-CH-1901", "de-CH-1901"),
            ("en-US-u-ca-gregory", "en-US-u-ca-gregory"),
            ("zh-yue-HK", "zh-yue-HK"),
        ] {
            assert_eq!(
                Locale::parse(given).map(|l| l.to_string()),
                Ok(canonical.to_string()),
                "{given}"
            );
        }
    }

    #[test]
    fn malformed_tags_are_refused() {
        for bad in [
            "",
            "d",
            "german",
            "de_AT",
            "de-",
            "-de",
            "de--AT",
            "de-AT-AT",
            "de-Latn-Latn",
            "en-u",
            "en-a-bbb-a-ccc",
            "x-private",
            "Europe/Berlin",
            "bo@example.org",
            "dé",
            "de AT",
        ] {
            assert_eq!(Locale::parse(bad), Err(InvalidTag), "{bad:?}");
        }
    }

    #[test]
    fn the_fallback_chain_drops_one_subtag_at_a_time_down_to_the_default() {
        let chain = |t: &str| Locale::parse(t).unwrap().chain();
        assert_eq!(chain("de-AT"), ["de-AT", "de", "en"]);
        assert_eq!(chain("zh-Hant-TW"), ["zh-Hant-TW", "zh-Hant", "zh", "en"]);
        assert_eq!(chain("en-GB"), ["en-GB", "en"]);
        assert_eq!(chain("en"), ["en"]);
        assert_eq!(chain("fr"), ["fr", "en"]);
    }
}
