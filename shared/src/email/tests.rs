use chrono::{DateTime, Utc};
use lettre::message::Mailbox;

use super::*;
use crate::event::{Coordinator, MentorshipStarted, Person};
use crate::interaction::Summary;
use crate::playbook::Playbook;
use crate::rule::Recipient;

pub(super) fn pair(mentor_name: &str) -> MentorshipStarted {
    MentorshipStarted {
        event_id: "e".into(),
        mentorship_id: "m-42".into(),
        program_id: Some("spring".into()),
        started_at: "2026-11-23T09:00:00Z".parse().unwrap(),
        mentor: Person {
            id: "a".into(),
            name: mentor_name.into(),
            email: "ada@example.org".into(),
            timezone: "Europe/Berlin".into(),
            locale: None,
        },
        mentee: Person {
            id: "b".into(),
            name: "Bo <b>".into(),
            email: "bo@example.org".into(),
            timezone: "Asia/Tokyo".into(),
            locale: None,
        },
        coordinator: Coordinator {
            name: "Cy".into(),
            email: "cy@example.org".into(),
            timezone: None,
            locale: None,
        },
    }
}

/// The welcome step's context for the mentor, due and judged at `now`, with
/// no interactions.
fn welcome_to_mentor(p: &MentorshipStarted, now: DateTime<Utc>) -> Context {
    Context::new(
        p,
        "welcome",
        Recipient::Mentor,
        now,
        crate::timeline::TimeScale::REAL,
        Summary::default(),
        vec![],
        now,
    )
}

fn render(step: &str, template: &str, r: Recipient, mentor_name: &str) -> String {
    let t = Templates::built_in().unwrap();
    let now: DateTime<Utc> = "2026-11-24T10:00:00Z".parse().unwrap();
    let p = pair(mentor_name);
    let ctx = Context::new(
        &p,
        step,
        r,
        now,
        crate::timeline::TimeScale::REAL,
        Summary::default(),
        vec!["no interaction at all".into()],
        now,
    );
    let from: Mailbox = "firstweek <fw@example.org>".parse().unwrap();
    let (name, email) = match r {
        Recipient::Mentor => (p.mentor.name.clone(), p.mentor.email.clone()),
        Recipient::Mentee => (p.mentee.name.clone(), p.mentee.email.clone()),
        Recipient::Coordinator => (p.coordinator.name.clone(), p.coordinator.email.clone()),
    };
    let id = message_id(&p.mentorship_id, step, r, "example.org");
    let c = compose(&t, template, &ctx, &from, &name, &email, id).unwrap();
    String::from_utf8(c.message.formatted()).unwrap()
}

#[test]
fn every_built_in_template_renders_for_every_recipient() {
    let p = Playbook::built_in();
    for step in &p.steps {
        for r in [Recipient::Mentor, Recipient::Mentee, Recipient::Coordinator] {
            let raw = render(&step.id, &step.template, r, "Ada");
            assert!(raw.contains(&format!("X-Firstweek-Step: {}", step.id)));
        }
    }
}

#[test]
fn template_names_are_those_with_all_three_parts() {
    let names = Templates::built_in().unwrap().names();
    for step in &Playbook::built_in().steps {
        assert!(
            names.contains(&step.template),
            "{} in {names:?}",
            step.template
        );
    }
    assert!(
        !names.iter().any(|n| n == "base"),
        "base.html alone is not one"
    );
    assert!(names.windows(2).all(|w| w[0] < w[1]), "sorted: {names:?}");
}

#[test]
fn every_built_in_step_has_its_templates() {
    Templates::built_in()
        .unwrap()
        .check(&Playbook::built_in())
        .unwrap();
}

#[test]
fn the_welcome_tells_the_other_persons_local_time_and_the_contract_headers() {
    let raw = render("welcome", "welcome", Recipient::Mentee, "Ada");
    assert!(raw.contains("X-Firstweek-Step: welcome"), "{raw}");
    assert!(raw.contains("X-Firstweek-Mentorship: m-42"));
    assert!(raw.contains("Message-ID: <"));
    assert!(raw.contains("multipart/alternative"));
    assert!(
        raw.contains("Ada is on Berlin time (UTC+1), where it is now Tuesday 11:00."),
        "Berlin local time for the mentee: {raw}"
    );
    assert!(
        raw.contains("8 hours apart"),
        "Tokyo and Berlin are far apart: {raw}"
    );
}

fn apart(mentor_tz: &str, mentee_tz: &str) -> (String, bool) {
    let mut p = pair("Ada");
    p.mentor.timezone = mentor_tz.into();
    p.mentee.timezone = mentee_tz.into();
    let now: DateTime<Utc> = "2026-11-24T10:00:00Z".parse().unwrap();
    let ctx = welcome_to_mentor(&p, now);
    let text = Templates::built_in()
        .unwrap()
        .render("welcome.txt", &ctx)
        .unwrap();
    (text, ctx.far_apart)
}

#[test]
fn hours_apart_is_the_circular_difference_in_minutes() {
    // UTC+14 and UTC-10 show the same clock time (a day apart): 0 hours, not 24.
    let (text, far) = apart("Pacific/Kiritimati", "Pacific/Honolulu");
    assert!(!far, "{text}");
    assert!(!text.contains("hours apart"), "{text}");
    // UTC+13 and UTC-10: 23 hours one way, 1 hour the other.
    let (text, far) = apart("Pacific/Tongatapu", "Pacific/Honolulu");
    assert!(!far, "{text}");
    // India (+5:30) and UTC: 5.5 hours, not 5; Nepal (+5:45) and UTC-1 (Azores in winter): 6.75.
    let (text, far) = apart("Asia/Kolkata", "UTC");
    assert!(!far, "{text}");
    let (text, far) = apart("Asia/Kathmandu", "Atlantic/Azores");
    assert!(far && text.contains("6.75 hours apart"), "{text}");
    let (text, far) = apart("Asia/Kolkata", "Europe/London");
    assert!(!far, "{text}");
    let (text, far) = apart("Asia/Kolkata", "America/Sao_Paulo");
    assert!(far && text.contains("8.5 hours apart"), "{text}");
    // Whole hours stay whole: "8 hours", not "8.0 hours".
    let (text, _) = apart("Europe/Berlin", "Asia/Tokyo");
    assert!(text.contains("You are 8 hours apart"), "{text}");
}

#[test]
fn names_never_break_headers_or_html() {
    let raw = render(
        "welcome",
        "welcome",
        Recipient::Mentor,
        "Ada\r\nBcc: evil@example.org",
    );
    let headers = raw.split("\r\n\r\n").next().unwrap();
    assert!(!headers.contains("\r\nBcc:"), "{headers}");
    assert!(
        raw.contains("<title>Meet Bo &lt;b&gt;:"),
        "HTML escapes names: {raw}"
    );
    assert!(!raw.contains("<strong>Bo <b>"));
}

/// The header block of a formatted message, unfolded: (name, value) per header.
fn headers_of(raw: &str) -> Vec<(String, String)> {
    let block = raw.split("\r\n\r\n").next().unwrap();
    let mut out: Vec<(String, String)> = Vec::new();
    for line in block.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            out.last_mut().unwrap().1.push_str(line);
        } else {
            let (name, value) = line.split_once(':').expect("a header line has a colon");
            out.push((name.to_string(), value.trim_start().to_string()));
        }
    }
    out
}

pub(super) fn base64_decode(s: &str) -> Vec<u8> {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let (mut bits, mut n, mut out) = (0u32, 0, Vec::new());
    for c in s.bytes().filter(|c| *c != b'=') {
        bits = (bits << 6) | A.iter().position(|a| *a == c).unwrap() as u32;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
        }
    }
    out
}

/// What a lax mail client shows for a header value: quotes dropped, then
/// every RFC 2047 encoded word decoded wherever it stands (many clients
/// decode them even inside quoted strings), adjacent words joined.
fn as_shown(value: &str) -> String {
    let unquoted = value.replace('"', "");
    let mut shown = String::new();
    let mut rest = unquoted.as_str();
    let mut last_was_word = false;
    while let Some(start) = rest.find("=?") {
        let (before, word) = rest.split_at(start);
        let parts: Vec<&str> = word[2..].splitn(3, '?').collect();
        let Some(end) = parts.get(2).and_then(|t| t.find("?=")) else {
            break;
        };
        if !(last_was_word && before.trim().is_empty()) {
            shown.push_str(before);
        }
        let text = &parts[2][..end];
        let bytes = match parts[1] {
            "b" | "B" => base64_decode(text),
            _ => {
                let mut out = Vec::new();
                let b = text.as_bytes();
                let mut i = 0;
                while i < b.len() {
                    match b[i] {
                        b'_' => out.push(b' '),
                        b'=' => {
                            out.push(u8::from_str_radix(&text[i + 1..i + 3], 16).unwrap());
                            i += 2;
                        }
                        c => out.push(c),
                    }
                    i += 1;
                }
                out
            }
        };
        shown.push_str(&String::from_utf8_lossy(&bytes));
        rest = &parts[2][end + 2..];
        last_was_word = true;
    }
    shown.push_str(rest);
    shown
}

#[test]
fn a_name_that_is_an_encoded_word_is_shown_as_the_text_it_is() {
    let spoofs = [
        "=?utf-8?q?Ada=0D=0ABcc:_evil@example.org?=",
        "=?UTF-8?B?QWRhDQpCY2M6IGV2aWxAZXhhbXBsZS5vcmc=?=",
        "Ada =?utf-8?q?=0D=0ATo:_boss@example.org?= Lovelace",
        "=?utf-8?q?ceo@example.org_<ceo@example.org>?=",
    ];
    for name in spoofs {
        // The mentor's own email: the name is the To display name.
        let raw = render("welcome", "welcome", Recipient::Mentor, name);
        let headers = headers_of(&raw);
        let names: Vec<&str> = headers.iter().map(|(n, _)| n.as_str()).collect();
        for one in ["To", "Subject", "From"] {
            assert_eq!(
                names.iter().filter(|n| **n == one).count(),
                1,
                "{one} in {names:?}"
            );
        }
        assert!(
            !names.iter().any(|n| n.eq_ignore_ascii_case("bcc")),
            "{names:?}"
        );
        let to = &headers.iter().find(|(n, _)| n == "To").unwrap().1;
        let shown = as_shown(to);
        assert_eq!(shown, format!("{name} <ada@example.org>"), "To: {to}");
        assert!(!shown.contains(['\r', '\n']));

        // The mentee's email names the mentor in its subject.
        let raw = render("welcome", "welcome", Recipient::Mentee, name);
        let headers = headers_of(&raw);
        let subject = &headers.iter().find(|(n, _)| n == "Subject").unwrap().1;
        assert_eq!(
            as_shown(subject),
            format!("Meet {name}: your first week starts now"),
            "Subject: {subject}"
        );
        let to = &headers.iter().find(|(n, _)| n == "To").unwrap().1;
        assert_eq!(as_shown(to), "\"Bo <b>\" <bo@example.org>".replace('"', ""));
    }
}

#[test]
fn addresses_are_taken_out_of_log_and_reason_text() {
    assert_eq!(
        without_addresses("550 5.1.1 <bo.mentee+x@mail.example.org>: no such user"),
        "550 5.1.1 <<address>>: no such user"
    );
    assert_eq!(
        without_addresses("to ada@example.org, cy@example.co.uk."),
        "to <address>, <address>."
    );
    assert_eq!(
        without_addresses("Grüße an zoë@bücher.de"),
        "Grüße an <address>"
    );
    // Not addresses: left alone.
    for text in ["no @ here", "user@localhost", "@example.org", "a@.b", "x@"] {
        assert_eq!(without_addresses(text), text);
    }
}

#[test]
fn message_ids_are_stable_per_pair_step_and_recipient() {
    let a = message_id("m", "welcome", Recipient::Mentor, "x.org");
    assert_eq!(a, message_id("m", "welcome", Recipient::Mentor, "x.org"));
    assert_ne!(a, message_id("m", "welcome", Recipient::Mentee, "x.org"));
    assert_ne!(a, message_id("n", "welcome", Recipient::Mentor, "x.org"));
}

#[test]
fn an_override_replaces_a_template_and_a_broken_one_is_refused() {
    let subject = (
        "welcome.subject".to_string(),
        "Hello from {{ program_id }}".to_string(),
    );
    let t = Templates::from_sources([subject.clone()]).unwrap();
    let now = Utc::now();
    let ctx = welcome_to_mentor(&pair("Ada"), now);
    assert_eq!(
        t.render("welcome.subject", &ctx).unwrap(),
        "Hello from spring"
    );
    let broken = ("welcome.txt".to_string(), "{% if %}".to_string());
    assert!(matches!(
        Templates::from_sources([subject, broken]),
        Err(EmailError::Template { name, .. }) if name == "welcome.txt"
    ));
    assert!(Templates::is_part("welcome.html") && !Templates::is_part("notes.md"));
}

#[test]
fn the_html_title_is_the_plain_subject_and_the_preview_text_the_opening() {
    let t = Templates::built_in().unwrap();
    let now: DateTime<Utc> = "2026-11-24T10:00:00Z".parse().unwrap();
    let ctx = Context::new(
        &pair("Ada Mentor"),
        "check_in",
        Recipient::Mentor,
        now,
        crate::timeline::TimeScale::REAL,
        Summary::default(),
        vec![],
        now,
    )
    .with_links(Links {
        in_touch: Some("https://x.example/r/t".into()),
        ..Links::default()
    });
    let r = t.render_parts("check_in", &ctx).unwrap();
    assert_eq!(r.subject, "Say hello to Bo");
    assert!(
        r.html.contains("<title>Say hello to Bo</title>"),
        "{}",
        r.html
    );
    assert!(
        r.html
            .contains(">Two days in, and you and Bo have not both said hello yet."),
        "the preview text is the text part's opening: {}",
        r.html
    );
    assert!(r.text.starts_with("Hi Ada,"), "first names: {}", r.text);
}

#[test]
fn a_playbook_names_the_program_in_the_footer_and_the_sender_in_the_from() {
    let text = format!(
        "program_name = \"Spring Mentoring\"\nsender_name = \"Ada's Mentoring Circle\"\n{}",
        Playbook::built_in().source
    );
    let playbook = Playbook::parse("t", &text).unwrap();
    let from: Mailbox = "firstweek <fw@example.org>".parse().unwrap();
    assert_eq!(
        sender(&from, &playbook).to_string(),
        "Ada's Mentoring Circle <fw@example.org>"
    );
    assert_eq!(sender(&from, &Playbook::built_in()), from);
    let now: DateTime<Utc> = "2026-11-24T10:00:00Z".parse().unwrap();
    let ctx = welcome_to_mentor(&pair("Ada Mentor"), now).with_program(&playbook);
    let r = Templates::built_in()
        .unwrap()
        .render_parts("wrap_up", &ctx)
        .unwrap();
    let footer = "Sent by Ada's Mentoring Circle for Spring Mentoring.";
    assert!(r.text.contains(footer), "{}", r.text);
    assert!(
        r.html
            .contains("Sent by Ada&#x27;s Mentoring Circle for Spring Mentoring."),
        "{}",
        r.html
    );
    assert!(!r.html.contains("(spring)"), "no program id: {}", r.html);
    let empty = format!("sender_name = \" \"\n{}", Playbook::built_in().source);
    let e = Playbook::parse("t", &empty).unwrap_err();
    assert!(e.message.contains("`sender_name` is empty"), "{e:?}");
}
