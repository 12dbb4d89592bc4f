use chrono::{DateTime, NaiveDateTime, NaiveTime, Utc};
use chrono_tz::Tz;
use lettre::message::Mailbox;

use crate::email::tests::{base64_decode, pair};
use crate::email::{Context, Templates, compose, ics, message_id};
use crate::event::MentorshipStarted;
use crate::interaction::Summary;
use crate::playbook::Playbook;
use crate::rule::Recipient;
use crate::timeline::{SendWindow, TimeScale};

/// One MIME part: its header block and its body decoded (base64 or
/// quoted-printable), the message's own headers first.
struct Part {
    headers: String,
    body: String,
}

fn parts(raw: &str) -> Vec<Part> {
    let mut out = Vec::new();
    for chunk in raw.split("\r\n--") {
        let (headers, body) = chunk.split_once("\r\n\r\n").unwrap_or((chunk, ""));
        let lower = headers.to_ascii_lowercase();
        let body = if lower.contains("content-transfer-encoding: base64") {
            let compact: String = body.split_whitespace().collect();
            String::from_utf8(base64_decode(&compact)).expect("UTF-8")
        } else if lower.contains("content-transfer-encoding: quoted-printable") {
            let joined = body.replace("=\r\n", "");
            let mut bytes = Vec::new();
            let b = joined.as_bytes();
            let mut i = 0;
            while i < b.len() {
                if b[i] == b'='
                    && let Some(x) = joined
                        .get(i + 1..i + 3)
                        .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    bytes.push(x);
                    i += 3;
                    continue;
                }
                bytes.push(b[i]);
                i += 1;
            }
            String::from_utf8(bytes).expect("UTF-8")
        } else {
            body.to_string()
        };
        out.push(Part {
            headers: headers.to_string(),
            body,
        });
    }
    out
}

fn header<'a>(part: &'a Part, name: &str) -> Option<&'a str> {
    let prefix = format!("{}:", name.to_ascii_lowercase());
    part.headers
        .split("\r\n")
        .find(|l| l.to_ascii_lowercase().starts_with(&prefix))
        .map(|l| l[prefix.len()..].trim())
}

/// A pair-step email with the recipient's reach, sent at `now`.
fn email(
    p: &MentorshipStarted,
    template: &str,
    r: Recipient,
    playbook: &Playbook,
    window: SendWindow,
    now: DateTime<Utc>,
) -> Vec<Part> {
    let ctx = Context::new(
        p,
        template,
        r,
        now,
        TimeScale::REAL,
        Summary::default(),
        vec![],
        now,
    )
    .with_reach(p, playbook, window, template, now);
    let (name, to) = match r {
        Recipient::Mentor => (&p.mentor.name, &p.mentor.email),
        _ => (&p.mentee.name, &p.mentee.email),
    };
    let from: Mailbox = "firstweek <fw@example.org>".parse().expect("from");
    let id = message_id(&p.mentorship_id, template, r, "example.org");
    let t = Templates::built_in().expect("templates");
    let c = compose(&t, template, &ctx, &from, name, to, id).expect("composes");
    parts(&String::from_utf8(c.message.formatted()).expect("UTF-8"))
}

fn text_and_html(parts: &[Part]) -> (String, String) {
    let find = |ct: &str| {
        parts
            .iter()
            .find(|p| header(p, "Content-Type").is_some_and(|v| v.starts_with(ct)))
            .map(|p| p.body.clone())
            .unwrap_or_else(|| panic!("no {ct} part"))
    };
    // The HTML as a browser reads it: minijinja escapes `/` in values.
    let html = find("text/html")
        .replace("&#x2f;", "/")
        .replace("&amp;", "&");
    (find("text/plain"), html)
}

/// The `.ics` files: (file name, properties).
fn calendars(parts: &[Part]) -> Vec<(String, Vec<(String, String)>)> {
    parts
        .iter()
        .filter(|p| header(p, "Content-Type").is_some_and(|v| v.starts_with("text/calendar")))
        .map(|p| {
            let ct = header(p, "Content-Type").unwrap_or_default();
            assert!(ct.contains("method=PUBLISH"), "{ct}");
            let disposition = header(p, "Content-Disposition").unwrap_or_default();
            assert!(disposition.starts_with("attachment"), "{disposition}");
            let file = disposition
                .split("filename=")
                .nth(1)
                .unwrap_or_default()
                .trim_matches('"')
                .to_string();
            (file, ics::read(&p.body))
        })
        .collect()
}

fn prop<'a>(props: &'a [(String, String)], name: &str) -> &'a str {
    props
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {name}"))
}

fn instant(v: &str) -> DateTime<Utc> {
    NaiveDateTime::parse_from_str(v, "%Y%m%dT%H%M%SZ")
        .unwrap_or_else(|e| panic!("{v}: {e}"))
        .and_utc()
}

/// Whether `[start, end]` lies within `open`..`close` on `tz`'s clock, one day.
fn within(start: DateTime<Utc>, end: DateTime<Utc>, tz: &str, open: u32, close: u32) -> bool {
    let tz: Tz = tz.parse().expect("zone");
    let (s, e) = (start.with_timezone(&tz), end.with_timezone(&tz));
    let at = |h| NaiveTime::from_hms_opt(h, 0, 0).unwrap_or_default();
    s.date_naive() == e.date_naive() && s.time() >= at(open) && e.time() <= at(close)
}

fn monday() -> DateTime<Utc> {
    "2026-11-23T09:00:00Z".parse().expect("time")
}

#[test]
fn the_welcome_answers_to_the_partner_and_attaches_times_inside_both_windows() {
    let p = pair("Ada");
    let playbook = Playbook::built_in();
    let window = SendWindow::default();
    let to_bo = email(
        &p,
        "welcome",
        Recipient::Mentee,
        &playbook,
        window,
        monday(),
    );
    let reply_to = header(&to_bo[0], "Reply-To").expect("a Reply-To");
    assert!(reply_to.ends_with("<ada@example.org>"), "{reply_to}");
    assert!(header(&to_bo[0], "Content-Type").is_some_and(|c| c.starts_with("multipart/mixed")));
    let (text, html) = text_and_html(&to_bo);
    for body in [&text, &html] {
        assert!(body.contains("ada@example.org"), "{body}");
        assert!(body.contains("your reply goes to Ada"), "{body}");
    }
    let cals = calendars(&to_bo);
    assert!((2..=3).contains(&cals.len()), "{} .ics", cals.len());
    for (i, (file, props)) in cals.iter().enumerate() {
        assert_eq!(file, &format!("intro-call-{}.ics", i + 1));
        assert_eq!(prop(props, "METHOD"), "PUBLISH");
        let (start, end) = (
            instant(prop(props, "DTSTART")),
            instant(prop(props, "DTEND")),
        );
        assert_eq!(end - start, chrono::Duration::minutes(30));
        assert!(start > monday(), "{start}");
        assert!(
            within(start, end, "Europe/Berlin", 8, 20),
            "{start} for Ada"
        );
        assert!(within(start, end, "Asia/Tokyo", 8, 20), "{start} for Bo");
        assert!(prop(props, "UID").ends_with("@example.org"));
        // The email says the same time on both clocks.
        let tokyo = start.with_timezone(&chrono_tz::Asia::Tokyo);
        let berlin = start.with_timezone(&chrono_tz::Europe::Berlin);
        let line = format!(
            "{} your time ({} for Ada)",
            tokyo.format("%A %-d %B, %H:%M–").to_string()
                + &(tokyo + chrono::Duration::minutes(30))
                    .format("%H:%M")
                    .to_string(),
            berlin.format("%A %H:%M–").to_string()
                + &(berlin + chrono::Duration::minutes(30))
                    .format("%H:%M")
                    .to_string(),
        );
        assert!(text.contains(&line), "{line:?} in {text}");
    }
    // Ada is offered the very same slots, so they can agree on one.
    let to_ada = email(
        &p,
        "welcome",
        Recipient::Mentor,
        &playbook,
        window,
        monday(),
    );
    let uids = |c: &[(String, Vec<(String, String)>)]| {
        c.iter()
            .map(|(_, p)| prop(p, "UID").to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(uids(&calendars(&to_ada)), uids(&cals));
    assert!(header(&to_ada[0], "Reply-To").is_some_and(|r| r.ends_with("<bo@example.org>")));
}

#[test]
fn a_same_zone_pair_is_told_one_time_not_your_0900_is_their_0900() {
    let mut p = pair("Ada");
    p.mentee.timezone = "Europe/Berlin".into();
    let to_ada = email(
        &p,
        "welcome",
        Recipient::Mentor,
        &Playbook::built_in(),
        SendWindow::default(),
        monday(),
    );
    let (text, _) = text_and_html(&to_ada);
    assert!(
        text.contains("Tuesday 24 November, 10:00–10:30 (the same time for Bo)"),
        "{text}"
    );
    assert!(!text.contains("your time"), "{text}");
    assert_eq!(calendars(&to_ada).len(), 3);
}

#[test]
fn no_call_time_is_suggested_when_no_slot_suits_both() {
    let mut p = pair("Ada");
    // 12 hours apart: one's daytime is the other's night.
    p.mentee.timezone = "Pacific/Auckland".into();
    let to_bo = email(
        &p,
        "welcome",
        Recipient::Mentee,
        &Playbook::built_in(),
        SendWindow::Off,
        monday(),
    );
    assert!(calendars(&to_bo).is_empty());
    assert!(
        header(&to_bo[0], "Content-Type").is_some_and(|c| c.starts_with("multipart/alternative"))
    );
    let (text, html) = text_and_html(&to_bo);
    for body in [&text, &html] {
        assert!(body.contains("no call time to suggest"), "{body}");
        assert!(!body.contains("times suit you both"), "{body}");
        assert!(body.contains("ada@example.org"), "still reachable: {body}");
    }
}

#[test]
fn a_program_link_replaces_the_address_and_the_reply_to() {
    let p = pair("Ada");
    let playbook = Playbook::parse(
        "p.toml",
        &Playbook::built_in().source.replace(
            "contact = \"email\"",
            "contact = \"https://program.example/pairs/{pair_id}/messages\"",
        ),
    )
    .expect("a playbook with a link");
    let to_bo = email(
        &p,
        "welcome",
        Recipient::Mentee,
        &playbook,
        SendWindow::default(),
        monday(),
    );
    assert_eq!(header(&to_bo[0], "Reply-To"), None);
    let link = "https://program.example/pairs/m-42/messages";
    let (text, html) = text_and_html(&to_bo);
    for body in [&text, &html] {
        assert!(body.contains(link), "{body}");
        assert!(!body.contains("ada@example.org"), "no address: {body}");
    }
    let cals = calendars(&to_bo);
    assert!(!cals.is_empty());
    for (_, props) in &cals {
        assert_eq!(prop(props, "URL"), link);
    }
}

#[test]
fn later_emails_show_the_contact_but_keep_the_senders_reply_to() {
    let p = pair("Ada");
    let playbook = Playbook::built_in();
    let check_in = email(
        &p,
        "check_in",
        Recipient::Mentor,
        &playbook,
        SendWindow::default(),
        monday(),
    );
    assert_eq!(header(&check_in[0], "Reply-To"), None);
    assert!(calendars(&check_in).is_empty());
    let (text, html) = text_and_html(&check_in);
    assert!(text.contains("bo@example.org") && html.contains("bo@example.org"));
    // The coordinator's emails have no partner to reach.
    let ctx = Context::new(
        &p,
        "escalation",
        Recipient::Coordinator,
        monday(),
        TimeScale::REAL,
        Summary::default(),
        vec![],
        monday(),
    )
    .with_reach(&p, &playbook, SendWindow::default(), "escalation", monday());
    assert!(ctx.reach.is_none());
}
