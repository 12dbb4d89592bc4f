//! The pair's page in the coordinator's language: the steps, what became
//! of them, the interactions, the advice, the contacts' local times and
//! every date are worded by the German page, none left in English.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Europe::Berlin;

use firstweek::coordinator::{self, advice, plain};
use firstweek::event::{Actor, Coordinator, InteractionKind, MentorshipStarted, Person};
use firstweek::interaction::{Interaction, Summary};
use firstweek::locale::Locale;
use firstweek::playbook::Playbook;
use firstweek::rule::Condition;
use firstweek::timeline::TimeScale;

fn person(id: &str, name: &str, tz: &str) -> Person {
    Person {
        id: id.into(),
        name: name.into(),
        email: format!("{id}@example.org"),
        timezone: tz.into(),
        locale: None,
    }
}

fn render(tag: &str) -> String {
    let locale = Locale::parse(tag).expect("a tag");
    let start: DateTime<Utc> = "2026-11-02T09:00:00Z".parse().expect("a time");
    let playbook = Playbook::built_in();
    let rows = [
        plain::StoredStep {
            step_id: "welcome",
            recipient: "mentor",
            due_at: start,
            status: "sent",
            outcome: None,
        },
        plain::StoredStep {
            step_id: "check_in",
            recipient: "mentee",
            due_at: start + Duration::days(2),
            status: "skipped",
            outcome: Some("condition not met: no_two_way"),
        },
    ];
    let steps = plain::steps(
        &rows,
        &playbook,
        start,
        TimeScale::REAL,
        Some(Berlin),
        &locale,
    );
    let ledger = [Interaction {
        kind: InteractionKind::Session,
        actor: Actor::Mentee,
        occurred_at: start + Duration::hours(30),
        duration_minutes: Some(90),
    }];
    let interactions = plain::interactions(&ledger, start, TimeScale::REAL, Some(Berlin), &locale);
    let started = MentorshipStarted {
        event_id: "e".into(),
        mentorship_id: "m-1".into(),
        program_id: None,
        started_at: start,
        mentor: person("ada", "Ada", "Europe/Vienna"),
        mentee: person("bo", "Bo", "America/Mexico_City"),
        coordinator: Coordinator {
            name: "Cy".into(),
            email: "cy@example.org".into(),
            timezone: Some("Europe/Berlin".into()),
            locale: Some(tag.into()),
        },
    };
    // Tuesday 3 November, 10:00 UTC.
    let now = start + Duration::hours(25);
    let none: Vec<String> = Vec::new();
    crate::templates::load(None)
        .expect("the pages parse")
        .get_template(&format!("{}/pair.html", locale.shipped().unwrap_or("en")))
        .and_then(|t| {
            t.render(minijinja::context! {
                pair => minijinja::context! {
                    mentor => "Ada", mentee => "Bo", mentorship_id => "m-1", day => 2,
                    week_days => 7, total => 1, by_mentor => 0, by_mentee => 1,
                    has_plan => false, risks => none.clone(),
                },
                contacts => coordinator::contacts(&started, &[], now, &locale),
                unsubscribed => none,
                advice => advice::lines(&[Condition::NoInteraction], &Summary::default()),
                steps, interactions, zone => "Europe/Berlin", token => "t", id_in_path => "m-1",
            })
        })
        .expect("renders")
}

#[test]
fn a_german_coordinator_reads_the_pair_page_in_german() {
    let page = render("de");
    for german in [
        "<td class=\"step\">Willkommen</td>",
        "an den Mentor",
        "<td>gesendet</td>",
        "<td class=\"step\">Nachfrage</td>",
        "an den Mentee",
        "nicht nötig: sie hatten schon beide Kontakt",
        "Tag 2, Mi. 4. Nov. 10:00 CET",
        "Arbeitssitzung (90 Min.) vom Mentee, Tag 2",
        "Di. 3. Nov. 16:00 CET",
        "Hilf ihnen zu einem ersten Gespräch",
        "dort gerade Dienstag 11:00",
    ] {
        assert!(page.contains(german), "{german}: {page}");
    }
    for english in [
        "Check-in",
        "not needed",
        "to the mentee",
        "working session",
        "Help them",
        "Wed",
        "Tuesday",
        "there now",
    ] {
        assert!(!page.contains(english), "{english}: {page}");
    }
}

#[test]
fn a_spanish_coordinator_reads_the_pair_page_in_spanish() {
    let page = render("es-MX");
    for spanish in [
        "<td class=\"step\">Seguimiento</td>",
        "al mentee",
        "no hacía falta: ya habían estado en contacto los dos",
        "día 2, mié 4 nov 10:00 CET",
        "Sesión de trabajo (90 min) del mentee",
        "Ayúdales a tener una primera conversación",
        "allí ahora es martes 04:00",
    ] {
        assert!(page.contains(spanish), "{spanish}: {page}");
    }
    for english in ["Check-in", "not needed", "working session", "Help them"] {
        assert!(!page.contains(english), "{english}: {page}");
    }
}
