//! An iCalendar (RFC 5545) file of one event, as calendar apps import it:
//! `VCALENDAR` with `METHOD:PUBLISH` holding one `VEVENT` (UID, DTSTAMP,
//! DTSTART and DTEND in UTC), CRLF line endings, lines folded at 75 octets,
//! text values escaped. No ORGANIZER or ATTENDEE: a published event is a
//! suggestion to import, not an invitation that expects replies.

use chrono::{DateTime, Utc};

/// One event to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Globally unique and stable: importing the same suggestion twice
    /// updates the event instead of adding another.
    pub uid: String,
    /// When the file was made.
    pub stamp: DateTime<Utc>,
    /// Start.
    pub start: DateTime<Utc>,
    /// End.
    pub end: DateTime<Utc>,
    /// The title.
    pub summary: String,
    /// The notes.
    pub description: String,
    /// A link for the event (the program's page for the pair), if any.
    pub url: Option<String>,
}

/// The `.ics` text of `event`.
pub fn calendar(event: &Event) -> String {
    let stamp = |t: DateTime<Utc>| t.format("%Y%m%dT%H%M%SZ").to_string();
    let mut lines = vec![
        "BEGIN:VCALENDAR".to_string(),
        "VERSION:2.0".to_string(),
        "PRODID:-//firstweek//intro call//EN".to_string(),
        "CALSCALE:GREGORIAN".to_string(),
        "METHOD:PUBLISH".to_string(),
        "BEGIN:VEVENT".to_string(),
        format!("UID:{}", text(&event.uid)),
        format!("DTSTAMP:{}", stamp(event.stamp)),
        format!("DTSTART:{}", stamp(event.start)),
        format!("DTEND:{}", stamp(event.end)),
        format!("SUMMARY:{}", text(&event.summary)),
        format!("DESCRIPTION:{}", text(&event.description)),
    ];
    if let Some(url) = &event.url {
        // A URI value is not TEXT: no escaping, but nothing that would end the line.
        let url: String = url.chars().filter(|c| !c.is_control()).collect();
        lines.push(format!("URL:{url}"));
    }
    lines.extend(
        ["TRANSP:OPAQUE", "END:VEVENT", "END:VCALENDAR"]
            .iter()
            .map(|s| s.to_string()),
    );
    lines.iter().map(|l| fold(l)).collect()
}

/// A TEXT value escaped (RFC 5545 3.3.11): backslash, semicolon, comma and
/// line breaks; other control characters dropped.
fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.replace("\r\n", "\n").chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' | '\r' => out.push_str("\\n"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// One content line folded (RFC 5545 3.1): no physical line longer than 75
/// octets, each continuation starting with a space, never splitting a
/// UTF-8 character; every line ends in CRLF.
fn fold(line: &str) -> String {
    const MAX: usize = 75;
    let mut out = String::with_capacity(line.len() + line.len() / 70 * 3 + 2);
    let mut used = 0;
    for c in line.chars() {
        if used + c.len_utf8() > MAX {
            out.push_str("\r\n ");
            used = 1;
        }
        out.push(c);
        used += c.len_utf8();
    }
    out.push_str("\r\n");
    out
}

/// A strict reader of what [`calendar`] writes: checks the line
/// discipline, unfolds, and returns the properties in order with their
/// TEXT values unescaped.
#[cfg(test)]
pub(crate) fn read(ics: &str) -> Vec<(String, String)> {
    tests::parse(ics)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A strict reader of what [`calendar`] writes: checks the line
    /// discipline, unfolds, and returns the components' properties with
    /// their TEXT values unescaped.
    pub(super) fn parse(ics: &str) -> Vec<(String, String)> {
        assert!(ics.ends_with("\r\n"), "ends with CRLF");
        let physical: Vec<&str> = ics.trim_end_matches("\r\n").split("\r\n").collect();
        for l in &physical {
            assert!(l.len() <= 75, "{l:?} is {} octets", l.len());
            assert!(
                !l.contains('\n') && !l.contains('\r'),
                "bare line break in {l:?}"
            );
        }
        let mut logical: Vec<String> = Vec::new();
        for l in physical {
            match l.strip_prefix(' ') {
                Some(rest) => logical
                    .last_mut()
                    .expect("a continuation follows a line")
                    .push_str(rest),
                None => logical.push(l.to_string()),
            }
        }
        logical
            .into_iter()
            .map(|l| {
                let (name, value) = l.split_once(':').expect("NAME:value");
                let mut out = String::new();
                let mut chars = value.chars();
                while let Some(c) = chars.next() {
                    if c != '\\' {
                        out.push(c);
                        continue;
                    }
                    match chars.next() {
                        Some('n' | 'N') => out.push('\n'),
                        Some(e @ ('\\' | ';' | ',')) => out.push(e),
                        other => panic!("bad escape \\{other:?} in {value:?}"),
                    }
                }
                (name.to_string(), out)
            })
            .collect()
    }

    fn event() -> Event {
        Event {
            uid: "intro-0123456789abcdef-20261201T150000Z@example.org".into(),
            stamp: "2026-11-30T10:00:00Z".parse().unwrap_or_default(),
            start: "2026-12-01T15:00:00Z".parse().unwrap_or_default(),
            end: "2026-12-01T15:30:00Z".parse().unwrap_or_default(),
            summary: "Intro call: Zoë Ångström-Øvergård; and Bo, \"the\" mentee \\ friend".into(),
            description: "30 minutes, no agenda.\nReach Bo: bo@example.org; or reply. ".repeat(4),
            url: Some("https://program.example/pairs/m-42/messages".into()),
        }
    }

    #[test]
    fn a_calendar_reads_back_as_it_was_written() {
        let e = event();
        let props = parse(&calendar(&e));
        let names: Vec<&str> = props.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "BEGIN",
                "VERSION",
                "PRODID",
                "CALSCALE",
                "METHOD",
                "BEGIN",
                "UID",
                "DTSTAMP",
                "DTSTART",
                "DTEND",
                "SUMMARY",
                "DESCRIPTION",
                "URL",
                "TRANSP",
                "END",
                "END"
            ]
        );
        let get = |n: &str| {
            props
                .iter()
                .filter(|(k, _)| k == n)
                .map(|(_, v)| v.as_str())
                .collect::<Vec<_>>()
        };
        assert_eq!(get("BEGIN"), ["VCALENDAR", "VEVENT"]);
        assert_eq!(get("END"), ["VEVENT", "VCALENDAR"]);
        assert_eq!(get("VERSION"), ["2.0"]);
        assert_eq!(get("METHOD"), ["PUBLISH"]);
        assert_eq!(get("UID"), [e.uid.as_str()]);
        assert_eq!(get("DTSTAMP"), ["20261130T100000Z"]);
        assert_eq!(get("DTSTART"), ["20261201T150000Z"]);
        assert_eq!(get("DTEND"), ["20261201T153000Z"]);
        assert_eq!(get("SUMMARY"), [e.summary.as_str()]);
        assert_eq!(get("DESCRIPTION"), [e.description.as_str()]);
        assert_eq!(get("URL"), ["https://program.example/pairs/m-42/messages"]);
    }

    #[test]
    fn folding_never_splits_a_character_and_escaping_keeps_lines_whole() {
        let mut e = event();
        // Multi-byte characters across every possible fold position.
        e.summary = "é".repeat(37) + &"日本".repeat(40) + "\r\nBcc: x";
        let ics = calendar(&e);
        let props = parse(&ics);
        assert!(props.contains(&("SUMMARY".to_string(), e.summary.replace("\r\n", "\n"))));
        assert!(
            !ics.contains("\r\nBcc"),
            "a line break in a value stays escaped"
        );
        assert_eq!(text("a;b,c\\d\ne\u{7}"), "a\\;b\\,c\\\\d\\ne");
    }
}
