//! Emails in the reader's language: the fallback chain, German and Spanish
//! renderings, and the check that refuses a missing translation.

use chrono::{DateTime, Utc};
use lettre::message::Mailbox;

use super::*;
use crate::escalation::Notice;
use crate::event::{Coordinator, MentorshipStarted, Person};
use crate::interaction::Summary;
use crate::playbook::Playbook;
use crate::rule::Recipient;

fn pair(
    mentor: Option<&str>,
    mentee: Option<&str>,
    coordinator: Option<&str>,
) -> MentorshipStarted {
    let person = |id: &str, name: &str, tz: &str, locale: Option<&str>| Person {
        id: id.into(),
        name: name.into(),
        email: format!("{id}@example.org"),
        timezone: tz.into(),
        locale: locale.map(Into::into),
    };
    MentorshipStarted {
        event_id: "e".into(),
        mentorship_id: "m-42".into(),
        program_id: Some("spring".into()),
        started_at: "2026-11-23T09:00:00Z".parse().unwrap(),
        mentor: person("ada", "Ada", "Europe/Vienna", mentor),
        mentee: person("bo", "Bo", "America/Mexico_City", mentee),
        coordinator: Coordinator {
            name: "Cy".into(),
            email: "cy@example.org".into(),
            timezone: Some("Europe/Madrid".into()),
            locale: coordinator.map(Into::into),
        },
    }
}

/// Tuesday 24 November 2026, 10:00 UTC: 11:00 in Vienna, 04:00 in Mexico City.
fn now() -> DateTime<Utc> {
    "2026-11-24T10:00:00Z".parse().unwrap()
}

fn ctx(p: &MentorshipStarted, step: &str, to: Recipient) -> Context {
    ctx_with(p, step, to, Summary::default())
}

fn ctx_with(p: &MentorshipStarted, step: &str, to: Recipient, summary: Summary) -> Context {
    Context::new(
        p,
        step,
        to,
        now(),
        crate::timeline::TimeScale::REAL,
        summary,
        vec!["no interaction at all".into()],
        now(),
    )
    .with_links(Links {
        unsubscribe: Some("https://fw.example.org/u/t".into()),
        acknowledge: Some("https://fw.example.org/a/t".into()),
        ..Links::default()
    })
}

#[test]
fn a_german_welcome_renders_in_german_with_german_dates_and_zone_names() {
    let p = pair(Some("de-AT"), Some("es-MX"), None);
    let r = Templates::built_in()
        .unwrap()
        .render_parts("welcome", &ctx(&p, "welcome", Recipient::Mentor))
        .unwrap();
    assert_eq!(r.subject, "Lerne Bo kennen: eure erste Woche beginnt jetzt");
    assert!(r.text.starts_with("Hallo Ada,"), "{}", r.text);
    assert!(
        r.text.contains(
            "Bo lebt nach Ortszeit Mexiko-Stadt (UTC\u{2212}6); dort ist es gerade Dienstag 04:00."
        ),
        "{}",
        r.text
    );
    assert!(
        r.text
            .contains("Keine solchen E-Mails mehr: https://fw.example.org/u/t")
    );
    assert!(
        !r.text.contains("Tuesday") && !r.text.contains("Hi "),
        "{}",
        r.text
    );
    assert!(r.html.contains(r#"<html lang="de">"#), "{}", r.html);
    assert!(r.html.contains(">Abmelden</a>"), "{}", r.html);
}

#[test]
fn a_spanish_mentee_and_an_english_coordinator_each_read_their_own() {
    let p = pair(Some("de-AT"), Some("es-MX"), None);
    let t = Templates::built_in().unwrap();
    let r = t
        .render_parts("welcome", &ctx(&p, "welcome", Recipient::Mentee))
        .unwrap();
    assert_eq!(r.subject, "Conoce a Ada: tu primera semana empieza ahora");
    assert!(
        r.text
            .contains("Ada vive en hora de Viena (UTC+1), donde ahora es martes 11:00."),
        "{}",
        r.text
    );
    assert!(r.html.contains(r#"<html lang="es">"#));
    let r = t
        .render_parts("escalation", &ctx(&p, "escalation", Recipient::Coordinator))
        .unwrap();
    assert!(
        r.subject.starts_with("At risk: Ada and Bo"),
        "{}",
        r.subject
    );
    assert!(
        r.text.contains("bo@example.org") && r.text.contains("Mexico City time (UTC\u{2212}6)"),
        "{}",
        r.text
    );
}

/// The welcome with how to reach the partner and the intro call's slots,
/// as the worker builds it.
fn welcome_with_reach(p: &MentorshipStarted, to: Recipient) -> Rendered {
    let c = ctx(p, "welcome", to).with_reach(
        p,
        &Playbook::built_in(),
        crate::timeline::SendWindow::default(),
        "welcome",
        now(),
    );
    Templates::built_in()
        .unwrap()
        .render_parts("welcome", &c)
        .unwrap()
}

#[test]
fn a_german_welcome_writes_the_intro_call_slots_with_german_weekdays_and_months() {
    // Ada in Vienna reads German; Bo in Mexico City, seven hours behind.
    let p = pair(Some("de-AT"), Some("es-MX"), None);
    let r = welcome_with_reach(&p, Recipient::Mentor);
    // The first slot, 17:00 in Vienna and 10:00 in Mexico City: German
    // weekday and month on Ada's clock, the German weekday on Bo's.
    assert!(
        r.text.contains(
            "  - Dienstag, 24. November, 17:00\u{2013}17:30 deiner Zeit (Dienstag 10:00\u{2013}10:30 bei Bo)"
        ),
        "{}",
        r.text
    );
    assert!(
        r.text.contains("Such dir eine aus und schick sie Bo"),
        "{}",
        r.text
    );
    assert!(
        r.html
            .contains("<strong>Dienstag, 24. November, 17:00\u{2013}17:30</strong>"),
        "{}",
        r.html
    );
    for english in ["Tuesday", "Wednesday", "your time", "Pick one"] {
        assert!(!r.text.contains(english), "{english}: {}", r.text);
    }
    // The attached calendar invitation speaks German too.
    let c = ctx(&p, "welcome", Recipient::Mentor).with_reach(
        &p,
        &Playbook::built_in(),
        crate::timeline::SendWindow::default(),
        "welcome",
        now(),
    );
    let (_, invite) = &c.extras.invites[0];
    assert_eq!(invite.summary, "Kennenlern-Anruf: Ada und Bo");
    assert!(
        invite
            .description
            .ends_with("Erreiche Bo unter bo@example.org"),
        "{}",
        invite.description
    );
    // Bo, who reads Spanish, reads the same slot in Spanish.
    let r = welcome_with_reach(&p, Recipient::Mentee);
    assert!(
        r.text.contains(
            "  - martes 24 de noviembre, 10:00\u{2013}10:30 tu hora (martes 17:00\u{2013}17:30 para Ada)"
        ),
        "{}",
        r.text
    );
    assert!(
        r.text
            .contains("Para contactar con Ada, escribe a ada@example.org"),
        "{}",
        r.text
    );
}

#[test]
fn a_german_coordinator_reads_the_escalation_advice_in_german() {
    let p = pair(None, None, Some("de"));
    let fired = [
        crate::rule::Condition::NoInteraction,
        crate::rule::Condition::NoPlan,
    ];
    let quiet_mentee = Summary {
        total: 2,
        mentor: 2,
        last_activity: Some(now() - chrono::Duration::hours(1)),
        last_actor: Some(crate::event::Actor::Mentor),
        ..Summary::default()
    };
    let t = Templates::built_in().unwrap();
    for (summary, german, english) in [
        (
            Summary::default(),
            "Hilf ihnen zu einem ersten Gespräch",
            "Help them set up a first call",
        ),
        (
            quiet_mentee,
            "bisher hat sich nur der Mentor gemeldet. Schreib dem Mentee persönlich",
            "Nudge the quiet side",
        ),
    ] {
        let advice = crate::coordinator::advice::lines(&fired, &summary);
        for template in ["escalation", "escalation_reminder"] {
            let c = ctx_with(&p, template, Recipient::Coordinator, summary.clone())
                .with_advice(advice.clone());
            let r = t.render_parts(template, &c).unwrap();
            assert!(r.text.contains("Was zu tun ist:"), "{}", r.text);
            if summary.total > 0 {
                // The last activity on Cy's clock (Madrid), in German.
                assert!(
                    r.text
                        .contains("letzte Aktivität: Di. 24. Nov. 10:00 CET vom Mentor"),
                    "{}",
                    r.text
                );
            }
            for part in [&r.text, &r.html] {
                assert!(part.contains(german), "{template}: {part}");
                assert!(!part.contains(english), "{template}: {part}");
            }
        }
    }
}

#[test]
fn the_fallback_chain_takes_the_most_specific_template_part_by_part() {
    let overrides = [
        ("de-AT/welcome.subject", "Servus {{ other.name }}"),
        ("de-AT/check_in.subject", "Grüß dich"),
    ]
    .map(|(n, s)| (n.to_string(), s.to_string()));
    let t = Templates::from_sources(overrides).unwrap();
    let subject = |tag: &str| {
        let p = pair(Some(tag), None, None);
        let r = t
            .render_parts("welcome", &ctx(&p, "welcome", Recipient::Mentor))
            .unwrap();
        (
            r.subject,
            r.text.lines().next().unwrap_or_default().to_string(),
        )
    };
    // de-AT: its own subject, the German body (de), no English.
    assert_eq!(subject("de-AT"), ("Servus Bo".into(), "Hallo Ada,".into()));
    assert_eq!(
        subject("de-DE").0,
        "Lerne Bo kennen: eure erste Woche beginnt jetzt"
    );
    assert_eq!(
        subject("es-MX").0,
        "Conoce a Bo: tu primera semana empieza ahora"
    );
    // A language firstweek does not ship: the default, English.
    assert_eq!(subject("fr-CA").1, "Hi Ada,");
    assert_eq!(subject("en-GB").1, "Hi Ada,");
    // de-AT is a locale of its own now, complete through de: the check passes.
    assert_eq!(
        t.locales()
            .iter()
            .map(|l| l.to_string())
            .collect::<Vec<_>>(),
        ["de", "de-AT", "es"]
    );
    t.check(&Playbook::built_in()).unwrap();
}

#[test]
fn the_check_refuses_a_missing_translation_naming_the_locale_and_the_template() {
    // A locale directory with one part only: every other is missing.
    let partial = [("fr/welcome.subject".to_string(), "Bienvenue".to_string())];
    let e = Templates::from_sources(partial)
        .unwrap()
        .check(&Playbook::built_in())
        .unwrap_err();
    assert!(
        matches!(&e, EmailError::Untranslated { locale, .. } if locale == "fr"),
        "{e}"
    );
    assert_eq!(
        e.to_string(),
        "step \"welcome\" uses template \"welcome\", which has no txt part in locale fr (fr/welcome.txt)"
    );
    // A program's own template, in English only: refused for German first.
    let playbook = Playbook::parse(
        "test",
        "name = \"test\"\n[[step]]\nid = \"hello\"\nat = \"1h\"\nto = [\"mentee\"]\ntemplate = \"hello\"\n",
    )
    .unwrap();
    let english = ["subject", "txt", "html"].map(|p| (format!("hello.{p}"), "Hello".to_string()));
    let e = Templates::from_sources(english)
        .unwrap()
        .check(&playbook)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("template \"hello\"") && e.contains("in locale de (de/hello.subject)"),
        "{e}"
    );
}

#[test]
fn every_template_renders_in_every_shipped_locale_for_every_recipient() {
    let t = Templates::built_in().unwrap();
    t.check(&Playbook::built_in()).unwrap();
    let from: Mailbox = "firstweek <fw@example.org>".parse().unwrap();
    for tag in ["de", "es"] {
        let p = pair(Some(tag), Some(tag), Some(tag));
        let steps = Playbook::built_in().steps;
        let all = steps
            .iter()
            .map(|s| (s.id.clone(), s.template.clone()))
            .chain(Notice::ALL.map(|n| (n.step_id().to_string(), n.step_id().to_string())));
        for (step, template) in all {
            for to in [Recipient::Mentor, Recipient::Mentee, Recipient::Coordinator] {
                let c = ctx(&p, &step, to);
                let id = message_id("m-42", &step, to, "example.org");
                let composed = compose(&t, &template, &c, &from, "X", "x@example.org", id)
                    .unwrap_or_else(|e| panic!("{tag} {template} to {to:?}: {e}"));
                let raw = String::from_utf8(composed.message.formatted()).unwrap();
                assert!(
                    raw.contains(&format!("lang=\"{tag}\""))
                        || raw.contains(&format!("lang=3D\"{tag}\"")),
                    "{tag} {template}: {raw}"
                );
            }
        }
    }
}
