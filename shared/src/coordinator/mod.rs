//! What a coordinator reads about their pairs, wherever they read it (the
//! escalation and reminder emails, the digest, the pages): times in their
//! own zone, the pair's contacts, the advice that follows the reason
//! ([`advice`]), and the pair's week in plain words ([`plain`]).

pub mod advice;
pub mod outcome;
pub mod plain;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::event::{MentorshipStarted, Person};
use crate::locale::{self, Locale};
use crate::rule::Recipient;

/// A moment as a coordinator reads it: in their zone (`tz`), UTC when they
/// have none, e.g. `Tue 03 Nov 09:30 CET`.
pub fn when(at: DateTime<Utc>, tz: Option<Tz>) -> String {
    at.with_timezone(&tz.unwrap_or(Tz::UTC))
        .format("%a %d %b %H:%M %Z")
        .to_string()
}

/// A moment as a coordinator reads it in their `locale`: [`when`]'s
/// shape with the locale's weekday and month names and clock (`Di.
/// 3. Nov. 09:30 CET`, `mar 3 nov 09:30 CET`); English as [`when`].
pub fn when_in(locale: &Locale, at: DateTime<Utc>, tz: Option<Tz>) -> String {
    match locale.shipped() {
        Some(tag) if tag != locale::DEFAULT => {
            let tz = tz.unwrap_or(Tz::UTC);
            let date = locale::date_time(locale, tz.name(), at);
            format!("{date} {}", at.with_timezone(&tz).format("%Z"))
        }
        _ => when(at, tz),
    }
}

/// The path of a pair's page below the coordinator's page
/// (`/c/<token>` + this): the pair's id as one URL path segment, every byte
/// but the unreserved ones (RFC 3986) percent-encoded, so any id a program
/// uses (`/`, `?`, `#`, `%` included) names exactly its pair.
pub fn pair_path(mentorship_id: &str) -> String {
    format!("/pairs/{}", path_segment(mentorship_id))
}

/// `id` as one URL path segment (see [`pair_path`]): it holds no `/`, so a
/// template can write it into a path as is.
pub fn path_segment(id: &str) -> String {
    let mut path = String::new();
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            path.push(char::from(b));
        } else {
            path.push_str(&format!("%{b:02X}"));
        }
    }
    path
}

/// One side of a pair as its coordinator may reach them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Contact {
    /// `mentor` or `mentee`.
    pub role: &'static str,
    /// Their name.
    pub name: String,
    /// Their address; `None` once they were erased (firstweek no longer knows it).
    pub email: Option<String>,
    /// Their IANA time zone.
    pub timezone: String,
    /// Their local time at the moment of reading, in the reader's locale,
    /// e.g. `Tuesday 14:05`, `Dienstag 14:05`.
    pub local_time: String,
}

/// The pair's mentor and mentee, as their coordinator may reach them: shown
/// only to the pair's own coordinator (their emails, and pages opened with
/// their link). An erased side keeps its placeholder name and no address.
/// `locale`: the reader's (their local times).
pub fn contacts(
    started: &MentorshipStarted,
    erased: &[Recipient],
    now: DateTime<Utc>,
    locale: &Locale,
) -> Vec<Contact> {
    let one = |role: &'static str, side: Recipient, p: &Person| Contact {
        role,
        name: p.name.clone(),
        email: (!erased.contains(&side)).then(|| p.email.clone()),
        timezone: p.timezone.clone(),
        local_time: match p.timezone.parse::<Tz>() {
            Ok(tz) => locale::weekday_time(locale, tz.name(), now),
            Err(_) => String::new(),
        },
    };
    vec![
        one("mentor", Recipient::Mentor, &started.mentor),
        one("mentee", Recipient::Mentee, &started.mentee),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_in_the_coordinators_zone_and_utc_without_one() {
        let at: DateTime<Utc> = "2026-11-03T08:30:00Z".parse().unwrap_or_default();
        assert_eq!(when(at, None), "Tue 03 Nov 08:30 UTC");
        assert_eq!(
            when(at, Some(chrono_tz::Europe::Berlin)),
            "Tue 03 Nov 09:30 CET"
        );
        assert_eq!(
            when(at, Some(chrono_tz::America::Los_Angeles)),
            "Tue 03 Nov 00:30 PST"
        );
        let l = |t: &str| Locale::parse(t).unwrap_or_default();
        let berlin = Some(chrono_tz::Europe::Berlin);
        assert_eq!(when_in(&l("en-GB"), at, berlin), "Tue 03 Nov 09:30 CET");
        assert_eq!(when_in(&l("de-AT"), at, berlin), "Di. 3. Nov. 09:30 CET");
        assert_eq!(when_in(&l("es"), at, None), "mar 3 nov 08:30 UTC");
    }

    #[test]
    fn a_pairs_path_names_exactly_its_pair() {
        assert_eq!(pair_path("m-42_a.b~c"), "/pairs/m-42_a.b~c");
        assert_eq!(pair_path("a/b?c#d%e f"), "/pairs/a%2Fb%3Fc%23d%25e%20f");
        assert_eq!(pair_path("é"), "/pairs/%C3%A9");
    }
}
