//! Partners can reach each other, end to end through the real SMTP
//! capture: the welcome names the partner's address and is answered to
//! them (Reply-To), or gives the program's own link when its playbook says
//! so; it carries two or three intro-call times as `.ics` files that fall
//! inside both people's hours, and none when no time suits both.

use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, NaiveTime, Utc};
use chrono_tz::Tz;
use firstweek_tests::{Env, Launch, Mail, MimePart, Options, Pair, header};

const LIMIT: Duration = Duration::from_secs(40);

fn options(extra: &[(&str, String)]) -> Options {
    let mut options = Options {
        launch: Launch::InProcess,
        ..Options::default()
    };
    for (k, v) in extra {
        options.env.push((k.to_string(), v.clone()));
    }
    options
}

/// A text part's body; HTML as a browser reads it (minijinja escapes `/`).
fn text_part(mail: &Mail, content_type: &str) -> String {
    mail.parts()
        .into_iter()
        .find(|p| p.content_type.starts_with(content_type))
        .map(|p| p.body.replace("&#x2f;", "/").replace("&amp;", "&"))
        .unwrap_or_else(|| panic!("no {content_type} part in {}", mail.raw))
}

fn calendars(mail: &Mail) -> Vec<MimePart> {
    mail.parts()
        .into_iter()
        .filter(|p| p.content_type.starts_with("text/calendar"))
        .collect()
}

/// An `.ics` property's value (unfolded; these are never escaped).
fn property(ics: &str, name: &str) -> String {
    let unfolded = ics.replace("\r\n ", "");
    unfolded
        .split("\r\n")
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap_or_else(|| panic!("no {name} in {ics}"))
        .to_string()
}

fn instant(v: &str) -> DateTime<Utc> {
    NaiveDateTime::parse_from_str(v, "%Y%m%dT%H%M%SZ")
        .unwrap_or_else(|e| panic!("{v}: {e}"))
        .and_utc()
}

/// The tests' send window is `off`: a call then fits 09:00-18:00 local on a working day.
fn in_daytime(start: DateTime<Utc>, end: DateTime<Utc>, zone: &str) -> bool {
    use chrono::Datelike;
    let tz: Tz = zone.parse().unwrap_or(Tz::UTC);
    let (s, e) = (start.with_timezone(&tz), end.with_timezone(&tz));
    let at = |h| NaiveTime::from_hms_opt(h, 0, 0).unwrap_or_default();
    s.date_naive() == e.date_naive()
        && s.time() >= at(9)
        && e.time() <= at(18)
        && s.weekday().num_days_from_monday() < 5
}

/// Checks each `.ics` is a well-formed published event of 30 minutes
/// inside both zones' daytime; returns their start times.
fn check_calendars(mail: &Mail, zones: [&str; 2]) -> Vec<DateTime<Utc>> {
    let cals = calendars(mail);
    assert!(
        (2..=3).contains(&cals.len()),
        "{} .ics files in {}",
        cals.len(),
        mail.raw
    );
    let mut starts = Vec::new();
    for cal in &cals {
        assert!(
            cal.content_type.contains("method=PUBLISH"),
            "{}",
            cal.content_type
        );
        assert!(cal.disposition.contains(".ics"), "{}", cal.disposition);
        let ics = &cal.body;
        assert!(
            ics.starts_with("BEGIN:VCALENDAR\r\n") && ics.ends_with("END:VCALENDAR\r\n"),
            "{ics}"
        );
        assert!(
            ics.split("\r\n")
                .all(|l| l.len() <= 75 && !l.contains('\n')),
            "CRLF lines of at most 75 octets: {ics:?}"
        );
        for name in ["UID", "DTSTAMP", "SUMMARY"] {
            assert!(!property(ics, name).is_empty(), "{name}");
        }
        assert_eq!(property(ics, "METHOD"), "PUBLISH");
        let start = instant(&property(ics, "DTSTART"));
        let end = instant(&property(ics, "DTEND"));
        assert_eq!(end - start, chrono::Duration::minutes(30));
        for zone in zones {
            assert!(
                in_daytime(start, end, zone),
                "{start} is outside {zone}'s day"
            );
        }
        starts.push(start);
    }
    starts
}

#[tokio::test(flavor = "multi_thread")]
async fn the_welcome_reaches_the_partner_with_call_times_inside_both_days() -> anyhow::Result<()> {
    let env = Env::start(options(&[])).await?;
    let start = Utc::now();
    // Berlin and São Paulo: 4 hours apart, their days overlap.
    let near = Pair::new(&format!("{}-near", env.name), start);
    // Berlin and Auckland: 12 hours apart, one's day is the other's night.
    let mut far = Pair::new(&format!("{}-far", env.name), start);
    far.tz_mentee = "Pacific/Auckland".into();
    for p in [&near, &far] {
        env.publish_json("mentorship.started", &p.started(&format!("{}-start", p.id)))
            .await?;
    }

    let to_mentee = env.wait_mail(&near.mentee(), "welcome", LIMIT).await?;
    let to_mentor = env.wait_mail(&near.mentor(), "welcome", LIMIT).await?;
    // Replying to the welcome reaches the partner; the text says how.
    let reply_to = header(&to_mentee.headers, "Reply-To").unwrap_or_default();
    assert!(reply_to.contains(&near.mentor()), "Reply-To: {reply_to:?}");
    let reply_to = header(&to_mentor.headers, "Reply-To").unwrap_or_default();
    assert!(reply_to.contains(&near.mentee()), "Reply-To: {reply_to:?}");
    for part in ["text/plain", "text/html"] {
        let body = text_part(&to_mentee, part);
        assert!(body.contains(&near.mentor()), "{part}: {body}");
        assert!(body.contains("your reply goes to Ada."), "{part}: {body}");
        assert!(body.contains("times suit you both"), "{part}: {body}");
    }
    // Both get the same 2-3 times, inside both people's day.
    let zones = ["Europe/Berlin", "America/Sao_Paulo"];
    let slots = check_calendars(&to_mentee, zones);
    assert_eq!(check_calendars(&to_mentor, zones), slots);
    // Each is written on both clocks: São Paulo's for the mentee, Berlin's beside it.
    let text = text_part(&to_mentee, "text/plain");
    for s in &slots {
        let sp = s
            .with_timezone(&chrono_tz::America::Sao_Paulo)
            .format("%A %-d %B, %H:%M");
        let berlin = s
            .with_timezone(&chrono_tz::Europe::Berlin)
            .format("%A %H:%M");
        assert!(text.contains(&sp.to_string()), "{sp} in {text}");
        assert!(text.contains(&format!("({berlin}–")), "{berlin} in {text}");
    }

    // No time suits both: no call time, no .ics, async instead.
    let to_far = env.wait_mail(&far.mentee(), "welcome", LIMIT).await?;
    assert!(calendars(&to_far).is_empty(), "{}", to_far.raw);
    for part in ["text/plain", "text/html"] {
        let body = text_part(&to_far, part);
        assert!(body.contains("no call time to suggest"), "{part}: {body}");
        assert!(body.contains(&far.mentor()), "{part}: {body}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_program_link_playbook_sends_its_link_instead_of_the_address() -> anyhow::Result<()> {
    let built_in = firstweek::playbook::BUILT_IN;
    let text = built_in.replace(
        "contact = \"email\"",
        "contact = \"https://program.example/pairs/{pair_id}/messages\"",
    );
    anyhow::ensure!(
        text != built_in,
        "the built-in playbook no longer sets contact"
    );
    let path = std::env::temp_dir().join(format!("{}.toml", firstweek_tests::unique("linked")));
    std::fs::write(&path, text)?;
    let env = Env::start(options(&[(
        "FIRSTWEEK_PLAYBOOK",
        path.display().to_string(),
    )]))
    .await?;
    let pair = Pair::new(&format!("{}-linked", env.name), Utc::now());
    env.publish_json("mentorship.started", &pair.started("linked-start"))
        .await?;

    let mail = env.wait_mail(&pair.mentee(), "welcome", LIMIT).await?;
    let link = format!("https://program.example/pairs/{}/messages", pair.id);
    assert_eq!(
        header(&mail.headers, "Reply-To"),
        None,
        "replies stay with the sender"
    );
    for part in ["text/plain", "text/html"] {
        let body = text_part(&mail, part);
        assert!(body.contains(&link), "{part}: {body}");
        assert!(!body.contains(&pair.mentor()), "no address: {part}: {body}");
    }
    for cal in calendars(&mail) {
        assert_eq!(property(&cal.body, "URL"), link);
    }
    check_calendars(&mail, ["Europe/Berlin", "America/Sao_Paulo"]);
    let _ = std::fs::remove_file(&path);
    Ok(())
}
