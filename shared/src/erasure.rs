//! Erasure: forgetting a person (`person.erased`, `firstweek erase`, and
//! the retention job). What replaces their name, address and time zone,
//! which people of a stored pair are the one to forget, and whether a dead
//! letter mentions them.
//!
//! The replacements keep a pair usable: its interactions, counts and
//! timeline stay for the program's statistics, and a placeholder address
//! (`erased+<digest>@invalid`, a domain that can never receive mail, RFC
//! 6761) is never written to by firstweek: the sides carrying one are
//! skipped like an unsubscribed person.

use chrono::{DateTime, Duration, Utc};

use crate::Rules;
use crate::event::{Coordinator, MentorshipStarted, Person};
use crate::pseudonym::{PseudonymKey, unkeyed_subject};
use crate::rule::Recipient;

/// The name an erased person is shown under.
pub const ERASED_NAME: &str = "erased";
/// The time zone an erased person's emails would be planned in.
pub const ERASED_TIMEZONE: &str = "UTC";

/// Whom an erasure is about: the `person_id` of `person.erased` or of
/// `firstweek erase`. A mentor or mentee is named by their `id`; a value
/// that is an address also names every coordinator (and mentor or mentee)
/// with that address, compared without regard to case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    value: String,
    key: String,
}

impl Target {
    /// The person named by an id or an address, with their pseudonym under `key`.
    pub fn new(value: &str, key: &PseudonymKey) -> Target {
        Target {
            value: value.trim().to_string(),
            key: key.subject(value),
        }
    }

    /// As given (trimmed): a person id, or an address.
    pub fn as_str(&self) -> &str {
        &self.value
    }

    /// Whether it is an address (then it names coordinators too).
    pub fn is_address(&self) -> bool {
        self.value.contains('@')
    }

    /// The key the erasure ledger keeps instead of the value: their keyed
    /// pseudonym ([`PseudonymKey::subject`]), so a repeat (a later start
    /// naming them) is recognised without keeping who they were.
    pub fn key(&self) -> String {
        self.key.clone()
    }

    /// What replaces their id and address, the same for every pair.
    pub fn placeholder(&self) -> Placeholder {
        Placeholder::from_key(&self.key())
    }
}

/// What an erased person becomes in every pair they were part of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placeholder {
    /// Replaces a mentor's or mentee's `id`: `erased-<digest>`.
    pub id: String,
    /// Replaces their address: `erased+<digest>@invalid`, undeliverable by design.
    pub email: String,
}

impl Placeholder {
    /// The placeholder of an erasure key (its first 64 bits name it).
    pub fn from_key(key: &str) -> Placeholder {
        let short: String = key.chars().take(16).collect();
        Placeholder {
            id: format!("erased-{short}"),
            email: format!("erased+{short}@invalid"),
        }
    }

    /// The placeholder of one side of one pair, for the retention job (which
    /// forgets a pair's people there, not a person everywhere). Unkeyed: it
    /// is derived from the pair's id, which the row keeps anyway.
    pub fn retained(mentorship_id: &str, side: Recipient) -> Placeholder {
        Placeholder::from_key(&unkeyed_subject(&format!(
            "retained:{}:{mentorship_id}",
            side.as_str()
        )))
    }

    fn person(&self) -> Person {
        Person {
            id: self.id.clone(),
            name: ERASED_NAME.into(),
            email: self.email.clone(),
            timezone: ERASED_TIMEZONE.into(),
            locale: None,
        }
    }

    fn coordinator(&self) -> Coordinator {
        Coordinator {
            name: ERASED_NAME.into(),
            email: self.email.clone(),
            timezone: None,
            locale: None,
        }
    }
}

/// The name and address an erasure replaced, to find them in dead letters.
/// Never logged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Traces {
    /// Ids, names and addresses, as they were stored.
    pub values: Vec<String>,
}

impl Traces {
    /// The traces of a target alone (nothing stored of them any more).
    pub fn of(target: &Target) -> Traces {
        Traces {
            values: vec![target.as_str().to_string()],
        }
    }

    fn add(&mut self, value: &str) {
        if !self
            .values
            .iter()
            .any(|v| v.eq_ignore_ascii_case(value.trim()))
        {
            self.values.push(value.trim().to_string());
        }
    }

    /// Adds the traces of another erasure.
    pub fn extend(&mut self, other: Traces) {
        for v in other.values {
            self.add(&v);
        }
    }

    /// Whether a message body mentions any of them, without regard to
    /// case: a JSON body in one of its strings, any other body in its text.
    /// A trace counts where it stands whole: the string itself, or inside a
    /// longer text (`"Ada Lovelace <ada@example.org>"`, a reason quoting an
    /// address) between characters that cannot continue it, so `p-1` is
    /// not found in `p-10` nor `ada@example.org` in `nada@example.org`. A
    /// trace shorter than three characters counts only as a whole string.
    pub fn mentioned_in(&self, body: &[u8]) -> bool {
        match serde_json::from_slice::<serde_json::Value>(body) {
            Ok(v) => self.in_json(&v),
            Err(_) => self.in_text(&String::from_utf8_lossy(body)),
        }
    }

    fn in_json(&self, v: &serde_json::Value) -> bool {
        match v {
            serde_json::Value::String(s) => self.in_text(s),
            serde_json::Value::Array(items) => items.iter().any(|i| self.in_json(i)),
            serde_json::Value::Object(map) => map.values().any(|i| self.in_json(i)),
            _ => false,
        }
    }

    /// Whether a text is one of the traces or holds one whole.
    pub fn in_text(&self, text: &str) -> bool {
        let text = text.trim().to_lowercase();
        self.values.iter().any(|t| {
            let t = t.trim().to_lowercase();
            !t.is_empty() && (text == t || (t.chars().count() >= 3 && holds_whole(&text, &t)))
        })
    }
}

/// Whether `needle` occurs in `text` with no character on either side that
/// would continue it (a letter, a digit, or one of `-_+@`, or a `.`
/// followed by one of those, as inside an address or a domain).
fn holds_whole(text: &str, needle: &str) -> bool {
    let continues = |c: char| c.is_alphanumeric() || "-_+@".contains(c);
    let mut from = 0;
    while let Some(at) = text[from..].find(needle) {
        let start = from + at;
        let end = start + needle.len();
        let before = text[..start].chars().next_back();
        let mut after = text[end..].chars();
        let next = after.next();
        let open_before = before.is_none_or(|c| !continues(c) && c != '.');
        let open_after = match next {
            None => true,
            Some('.') => after.next().is_none_or(|c| !continues(c)),
            Some(c) => !continues(c),
        };
        if open_before && open_after {
            return true;
        }
        from = start + text[start..].chars().next().map_or(1, char::len_utf8);
    }
    false
}

/// A stored pair's people with the target's replaced, and what was there
/// (`None` when the target is none of them).
pub fn scrub(started: &MentorshipStarted, target: &Target) -> Option<(MentorshipStarted, Traces)> {
    let placeholder = target.placeholder();
    let same_address =
        |email: &str| target.is_address() && email.eq_ignore_ascii_case(target.as_str());
    let mut out = started.clone();
    let mut traces = Traces::of(target);
    let mut changed = false;
    for person in [&mut out.mentor, &mut out.mentee] {
        if person.id == target.as_str() || same_address(&person.email) {
            traces.add(&person.id);
            traces.add(&person.name);
            traces.add(&person.email);
            *person = placeholder.person();
            changed = true;
        }
    }
    if same_address(&out.coordinator.email) {
        traces.add(&out.coordinator.name);
        traces.add(&out.coordinator.email);
        out.coordinator = placeholder.coordinator();
        changed = true;
    }
    changed.then_some((out, traces))
}

/// Every person of a pair replaced, for the retention job: each side gets
/// its own placeholder of this pair.
pub fn scrub_all(started: &MentorshipStarted) -> MentorshipStarted {
    let id = &started.mentorship_id;
    MentorshipStarted {
        mentor: Placeholder::retained(id, Recipient::Mentor).person(),
        mentee: Placeholder::retained(id, Recipient::Mentee).person(),
        coordinator: Placeholder::retained(id, Recipient::Coordinator).coordinator(),
        ..started.clone()
    }
}

/// The erasure keys a start names (ids and addresses), to look up in the
/// ledger: a start naming an erased person is stored with their placeholder.
pub fn keys_named(started: &MentorshipStarted, key: &PseudonymKey) -> Vec<String> {
    vec![
        key.subject(&started.mentor.id),
        key.subject(&started.mentor.email),
        key.subject(&started.mentee.id),
        key.subject(&started.mentee.email),
        key.subject(&started.coordinator.email),
    ]
}

/// A start with every person whose id or address has an erasure replaced by
/// that erasure's placeholder (`erased`: the keys of [`keys_named`] that the
/// ledger holds), so a repeat or a correction never brings them back.
pub fn scrub_erased(
    started: &MentorshipStarted,
    erased: &[String],
    key: &PseudonymKey,
) -> MentorshipStarted {
    let key_of = |value: &str| key.subject(value);
    let has = |value: &str| erased.contains(&key_of(value));
    let mut out = started.clone();
    for person in [&mut out.mentor, &mut out.mentee] {
        let hit = [person.id.as_str(), person.email.as_str()]
            .into_iter()
            .find(|v| has(v))
            .map(str::to_string);
        if let Some(v) = hit {
            *person = Placeholder::from_key(&key_of(&v)).person();
        }
    }
    if has(&out.coordinator.email) {
        out.coordinator = Placeholder::from_key(&key_of(&out.coordinator.email)).coordinator();
    }
    out
}

/// Which pairs the retention job forgets the people of: those that ended
/// before `ended_before`, and those (ended or not) that started before
/// `started_before`, whose first week finished longer ago than the
/// retention. Days are program days (`FIRSTWEEK_TIME_SCALE`), like the week.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// A pair that ended before this is past retention.
    pub ended_before: DateTime<Utc>,
    /// A pair that started before this is past retention.
    pub started_before: DateTime<Utc>,
}

/// The retention job's bounds as of `now`, after `days` program days.
pub fn retention(rules: &Rules, now: DateTime<Utc>, days: u32) -> Retention {
    let keep = Duration::days(i64::from(days));
    Retention {
        ended_before: now - rules.scale.wall(keep),
        started_before: now - rules.scale.wall(rules.playbook.week() + keep),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> PseudonymKey {
        PseudonymKey::new("a test key of at least thirty-two characters").unwrap()
    }

    fn target(value: &str) -> Target {
        Target::new(value, &key())
    }

    fn started() -> MentorshipStarted {
        let person = |id: &str, name: &str| Person {
            id: id.into(),
            name: name.into(),
            email: format!("{id}@example.org"),
            timezone: "Europe/Berlin".into(),
            locale: None,
        };
        MentorshipStarted {
            event_id: "e-1".into(),
            mentorship_id: "m-1".into(),
            program_id: None,
            started_at: "2026-11-24T09:00:00Z".parse().unwrap(),
            mentor: person("ada", "Ada Lovelace"),
            mentee: person("bo", "Bo Diddley"),
            coordinator: Coordinator {
                name: "Cy Twombly".into(),
                email: "Cy@Example.org".into(),
                timezone: Some("America/New_York".into()),
                locale: None,
            },
        }
    }

    #[test]
    fn a_mentee_named_by_id_is_replaced_and_the_rest_of_the_pair_kept() {
        let (out, traces) = scrub(&started(), &target("bo")).unwrap();
        assert_eq!(out.mentee.name, ERASED_NAME);
        assert_eq!(out.mentee.timezone, ERASED_TIMEZONE);
        assert!(out.mentee.email.starts_with("erased+") && out.mentee.email.ends_with("@invalid"));
        assert!(
            out.mentee.email.parse::<lettre::Address>().is_ok(),
            "still an address"
        );
        assert_eq!(out.mentor, started().mentor);
        assert_eq!(out.coordinator, started().coordinator);
        assert_eq!(out.started_at, started().started_at);
        for v in ["bo", "Bo Diddley", "bo@example.org"] {
            assert!(traces.values.contains(&v.to_string()), "{v}");
        }
        // The same placeholder in every pair, so every pair skips them.
        let again = scrub(&started(), &target(" bo ")).unwrap().0;
        assert_eq!(again.mentee, out.mentee);
    }

    #[test]
    fn a_coordinator_is_named_by_address_without_regard_to_case() {
        let (out, traces) = scrub(&started(), &target("cy@example.ORG")).unwrap();
        assert_eq!(out.coordinator.name, ERASED_NAME);
        assert_eq!(out.coordinator.timezone, None);
        assert!(out.coordinator.email.ends_with("@invalid"));
        assert_eq!(out.mentor, started().mentor);
        assert!(traces.values.contains(&"Cy Twombly".to_string()));
        assert_eq!(scrub(&started(), &target("nobody")), None);
        // An id is not an address: `ada` names the mentor, not by email.
        assert!(scrub(&started(), &target("ada@example.org")).is_some());
    }

    #[test]
    fn a_later_start_naming_an_erased_person_takes_their_placeholder() {
        let erased = vec![target("bo").key()];
        let keys = keys_named(&started(), &key());
        assert!(keys.contains(&erased[0]));
        let out = scrub_erased(&started(), &erased, &key());
        assert_eq!(
            out.mentee,
            scrub(&started(), &target("bo")).unwrap().0.mentee
        );
        assert_eq!(out.mentor, started().mentor);
        // By address too, for the coordinator.
        let out = scrub_erased(&started(), &[key().subject("CY@example.org")], &key());
        assert_eq!(out.coordinator.name, ERASED_NAME);
        assert_eq!(scrub_erased(&started(), &[], &key()), started());
    }

    #[test]
    fn the_ledger_key_and_placeholder_depend_on_the_operators_key() {
        let other = PseudonymKey::new("another key of at least thirty-two characters").unwrap();
        let (one, two) = (
            target("bo@example.org"),
            Target::new("bo@example.org", &other),
        );
        assert_ne!(one.key(), two.key());
        assert_ne!(one.placeholder(), two.placeholder());
        assert_ne!(one.key(), unkeyed_subject("bo@example.org"));
    }

    #[test]
    fn retention_replaces_every_person_of_the_pair() {
        let out = scrub_all(&started());
        for name in [&out.mentor.name, &out.mentee.name, &out.coordinator.name] {
            assert_eq!(name, ERASED_NAME);
        }
        assert_ne!(out.mentor.email, out.mentee.email, "the pair stays valid");
        assert_eq!(out.mentorship_id, "m-1");
    }

    #[test]
    fn dead_letters_are_matched_on_whole_values() {
        let (_, traces) = scrub(&started(), &target("bo")).unwrap();
        let json = |v: serde_json::Value| v.to_string().into_bytes();
        assert!(traces.mentioned_in(&json(serde_json::json!({"person_id": "bo"}))));
        assert!(traces.mentioned_in(&json(
            serde_json::json!({"mentee": {"email": "BO@example.org"}})
        )));
        assert!(traces.mentioned_in(&json(serde_json::json!({"x": ["Bo Diddley"]}))));
        assert!(!traces.mentioned_in(&json(serde_json::json!({"person_id": "bob"}))));
        assert!(!traces.mentioned_in(&json(
            serde_json::json!({"mentor": {"email": "ada@example.org"}})
        )));
        assert!(traces.mentioned_in(b"not json, bo@example.org inside"));
        assert!(!traces.mentioned_in(b"not json at all"));
    }

    #[test]
    fn dead_letters_are_matched_on_a_trace_inside_a_longer_text() {
        let (_, traces) = scrub(&started(), &target("BO@example.org")).unwrap();
        let json = |v: serde_json::Value| v.to_string().into_bytes();
        for named in [
            serde_json::json!({"mentor": {"email": "Bo Diddley <bo@EXAMPLE.org>"}}),
            serde_json::json!({"note": "asked to stop; contact bo@example.org."}),
            serde_json::json!({"note": "from BO DIDDLEY, twice"}),
        ] {
            assert!(traces.mentioned_in(&json(named.clone())), "{named}");
        }
        for other in [
            serde_json::json!({"mentor": {"email": "Nabo <nabo@example.org>"}}),
            serde_json::json!({"email": "bo@example.org.uk"}),
            serde_json::json!({"person_id": "bo-2"}),
            serde_json::json!({"note": "bob did it"}),
        ] {
            assert!(!traces.mentioned_in(&json(other.clone())), "{other}");
        }
        // An id shorter than three characters counts only whole.
        let short = Traces::of(&target("p1"));
        assert!(short.mentioned_in(&json(serde_json::json!({"id": "P1"}))));
        assert!(!short.mentioned_in(&json(serde_json::json!({"note": "see p1 here"}))));
        let id = Traces::of(&target("p-1"));
        assert!(id.mentioned_in(&json(serde_json::json!({"note": "for p-1: late"}))));
        assert!(!id.mentioned_in(&json(serde_json::json!({"note": "for p-10: late"}))));
        assert!(!id.mentioned_in(b"sp-1 is another"));
    }

    #[test]
    fn retention_counts_program_days_after_the_week() {
        let now: DateTime<Utc> = "2026-11-24T12:00:00Z".parse().unwrap();
        let mut rules = Rules {
            playbook: crate::playbook::Playbook::built_in(),
            programs: Default::default(),
            scale: crate::timeline::TimeScale::REAL,
            window: crate::timeline::SendWindow::Off,
        };
        let r = retention(&rules, now, 30);
        assert_eq!(r.ended_before, now - Duration::days(30));
        assert_eq!(r.started_before, now - Duration::days(37));
        rules.scale = crate::timeline::TimeScale::new(86_400.0).unwrap();
        let r = retention(&rules, now, 30);
        assert_eq!(r.ended_before, now - Duration::seconds(30));
        assert_eq!(r.started_before, now - Duration::seconds(37));
    }
}
