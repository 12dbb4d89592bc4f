use chrono::{DateTime, Utc};
use serde_json::Value;

use super::*;
use crate::coordinator::advice;
use crate::email::{Context, Links};
use crate::event::{Coordinator, MentorshipStarted, Person};
use crate::interaction::Summary;
use crate::rule::{Condition, Recipient};
use crate::timeline::TimeScale;

fn person(id: &str, name: &str, email: &str) -> Person {
    Person {
        id: id.into(),
        name: name.into(),
        email: email.into(),
        timezone: "Europe/Berlin".into(),
        locale: None,
    }
}

fn started(mentor: &str, mentee: &str) -> MentorshipStarted {
    MentorshipStarted {
        event_id: "e".into(),
        mentorship_id: "m-42".into(),
        program_id: Some("spring".into()),
        started_at: "2026-11-23T09:00:00Z".parse().unwrap(),
        mentor: person("a", mentor, "ada@example.org"),
        mentee: person("b", mentee, "bo@example.org"),
        coordinator: Coordinator {
            name: "Cy Coordinator".into(),
            email: "cy@example.org".into(),
            timezone: None,
            locale: Some("de".into()),
        },
    }
}

/// The early escalation's context of a silent pair on day 4, as the worker
/// hands it to the email.
fn silent(mentor: &str, mentee: &str, ack: Option<&str>) -> Context {
    let now: DateTime<Utc> = "2026-11-26T10:00:00Z".parse().unwrap();
    let summary = Summary::default();
    let fired = [Condition::NoInteraction];
    Context::new(
        &started(mentor, mentee),
        "escalation_early",
        Recipient::Coordinator,
        now,
        TimeScale::REAL,
        summary.clone(),
        vec!["no interaction at all".into()],
        now,
    )
    .with_advice(advice::lines(&fired, &summary))
    .with_links(Links {
        acknowledge: ack.map(str::to_string),
        page: Some("https://fw.example.org/c/page".into()),
        pair: Some("https://fw.example.org/c/page/pairs/m-42".into()),
        ..Links::default()
    })
}

const ACK: &str = "https://fw.example.org/a/0123abcd";

fn all_text(v: &Value) -> String {
    v.to_string()
}

#[test]
fn the_escalation_names_the_pair_by_first_names_with_reasons_evidence_and_advice() {
    let m = escalation(&silent("Ada Lovelace", "Bo Mentee", Some(ACK)));
    assert_eq!(m.title, "Pair at risk: Ada and Bo");
    assert!(
        m.lead.contains("on day 4 of their first week"),
        "{}",
        m.lead
    );
    assert_eq!(
        m.sections[0].lines,
        vec!["no interaction at all".to_string()]
    );
    assert!(
        m.sections[1].lines[0].contains("first call"),
        "{:?}",
        m.sections[1]
    );
    assert!(
        m.facts
            .iter()
            .any(|f| f.label == "Interactions" && f.value.starts_with("0 "))
    );
    assert!(
        m.facts
            .iter()
            .any(|f| f.label == "Last activity" && f.value == "none")
    );
    assert_eq!(m.button.as_ref().map(|b| b.url.as_str()), Some(ACK));
}

#[test]
fn no_address_no_last_name_and_no_page_link_reaches_a_channel() {
    let ctx = silent("Ada Lovelace", "Bo Mentee", Some(ACK));
    for p in Platform::ALL {
        let text = all_text(&p.payload(&escalation(&ctx)));
        for secret in ["@example.org", "Lovelace", "/c/page"] {
            assert!(!text.contains(secret), "{p}: {secret} in {text}");
        }
        assert!(text.contains(ACK), "{p}: {text}");
    }
}

#[test]
fn slack_payloads_keep_block_kits_shape() {
    let m = escalation(&silent("Ada", "Bo", Some(ACK)));
    let v = slack::payload(&m);
    assert_eq!(shape::slack_problems(&v), Vec::<String>::new(), "{v:#}");
    let types: Vec<&str> = v["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|b| b["type"].as_str())
        .collect();
    assert_eq!(types.first(), Some(&"header"));
    for t in ["section", "context", "actions"] {
        assert!(types.contains(&t), "{t} missing: {types:?}");
    }
    let button = &v["blocks"].as_array().unwrap().last().unwrap()["elements"][0];
    assert_eq!(button["type"], "button");
    assert_eq!(button["url"], ACK);
    assert!(v["text"].as_str().unwrap().contains("Ada and Bo"));
    // A section's fields are mrkdwn label/value pairs.
    let fields = v["blocks"][2]["fields"].as_array().unwrap();
    assert_eq!(fields[0]["type"], "mrkdwn");
    assert_eq!(fields[0]["text"], "*Day*\n4");
}

#[test]
fn long_texts_are_cut_to_slacks_limits_and_markup_is_escaped() {
    let long = "x".repeat(400);
    let mut ctx = silent(&long, "<!channel>&Bo Mentee", Some(ACK));
    ctx.reasons = (0..200)
        .map(|i| format!("reason {i} {}", "y".repeat(50)))
        .collect();
    let v = slack::payload(&escalation(&ctx));
    assert_eq!(shape::slack_problems(&v), Vec::<String>::new());
    let header = v["blocks"][0]["text"]["text"].as_str().unwrap();
    assert_eq!(header.chars().count(), slack::limits::HEADER);
    assert!(header.ends_with('…'));
    // Slack reads `text` and every mrkdwn object as markup; a header is plain_text.
    let mut marked = vec![v["text"].as_str().unwrap().to_string()];
    collect_mrkdwn(&v["blocks"], &mut marked);
    assert!(marked.len() > 3);
    for t in &marked {
        assert!(
            !t.contains("<!channel>"),
            "no mention can be smuggled in: {t}"
        );
    }
    assert!(
        marked[0].contains("&lt;!channel&gt;&amp;Bo"),
        "{}",
        marked[0]
    );
    // A link Slack would refuse stays out of the button.
    let mut ctx = silent("Ada", "Bo", None);
    ctx.links.acknowledge = Some(format!("https://x.example/{}", "a".repeat(3000)));
    let v = slack::payload(&escalation(&ctx));
    assert_eq!(shape::slack_problems(&v), Vec::<String>::new());
    assert!(!v.to_string().contains("\"actions\""));
}

fn collect_mrkdwn(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(o) if o.get("type") == Some(&Value::from("mrkdwn")) => {
            out.extend(o.get("text").and_then(Value::as_str).map(str::to_string));
        }
        Value::Object(o) => o.values().for_each(|x| collect_mrkdwn(x, out)),
        Value::Array(a) => a.iter().for_each(|x| collect_mrkdwn(x, out)),
        _ => {}
    }
}

#[test]
fn the_shape_checks_catch_what_slack_refuses() {
    let ok = slack::payload(&escalation(&silent("Ada", "Bo", Some(ACK))));
    let broken = |f: &dyn Fn(&mut Value)| {
        let mut v = ok.clone();
        f(&mut v);
        shape::slack_problems(&v)
    };
    assert!(!broken(&|v| v["blocks"][0]["text"]["text"] = "h".repeat(151).into()).is_empty());
    assert!(!broken(&|v| v["blocks"][0]["text"]["type"] = "mrkdwn".into()).is_empty());
    assert!(!broken(&|v| v["blocks"][1]["text"]["text"] = "s".repeat(3001).into()).is_empty());
    assert!(!broken(&|v| v["blocks"][1]["type"] = "banner".into()).is_empty());
    assert!(!broken(&|v| v["text"] = Value::Null).is_empty());
    assert!(
        !broken(&|v| {
            let n = v["blocks"].as_array().unwrap().len();
            v["blocks"][n - 1]["elements"][0]["url"] = "/a/relative".into();
        })
        .is_empty()
    );
    assert!(
        !broken(&|v| {
            let b = v["blocks"][1].clone();
            v["blocks"] = Value::Array(vec![b; 51]);
        })
        .is_empty()
    );
}

#[test]
fn teams_payloads_are_adaptive_cards_in_a_message() {
    let m = escalation(&silent("Ada", "Bo", Some(ACK)));
    let v = teams::payload(&m);
    assert_eq!(shape::teams_problems(&v), Vec::<String>::new(), "{v:#}");
    assert_eq!(v["type"], "message");
    let a = &v["attachments"][0];
    assert_eq!(a["contentType"], "application/vnd.microsoft.card.adaptive");
    let card = &a["content"];
    assert_eq!(card["type"], "AdaptiveCard");
    assert_eq!(card["version"], "1.4");
    assert_eq!(card["$schema"], teams::SCHEMA);
    let body = card["body"].as_array().unwrap();
    assert_eq!(body[0]["text"], "Pair at risk: Ada and Bo");
    let facts = body.iter().find(|b| b["type"] == "FactSet").unwrap();
    assert_eq!(facts["facts"][0]["title"], "Day");
    assert_eq!(facts["facts"][0]["value"], "4");
    assert_eq!(card["actions"][0]["type"], "Action.OpenUrl");
    assert_eq!(card["actions"][0]["url"], ACK);
    // Without an acknowledge link: no action at all.
    let v = teams::payload(&escalation(&silent("Ada", "Bo", None)));
    assert!(v["attachments"][0]["content"]["actions"].is_null());
    assert_eq!(shape::teams_problems(&v), Vec::<String>::new());
}

#[test]
fn the_shape_checks_catch_what_teams_refuses() {
    let ok = teams::payload(&escalation(&silent("Ada", "Bo", Some(ACK))));
    let broken = |f: &dyn Fn(&mut Value)| {
        let mut v = ok.clone();
        f(&mut v);
        shape::teams_problems(&v)
    };
    let card = "/attachments/0/content";
    let set = |v: &mut Value, path: &str, x: Value| {
        if let Some(slot) = v.pointer_mut(&format!("{card}{path}")) {
            *slot = x;
        }
    };
    assert!(!broken(&|v| v["type"] = "card".into()).is_empty());
    assert!(!broken(&|v| v["attachments"][0]["contentType"] = "text/html".into()).is_empty());
    assert!(!broken(&|v| set(v, "/type", "HeroCard".into())).is_empty());
    assert!(!broken(&|v| set(v, "/version", "2.0".into())).is_empty());
    assert!(!broken(&|v| set(v, "/$schema", Value::Null)).is_empty());
    assert!(!broken(&|v| set(v, "/body/0/type", "Image".into())).is_empty());
    assert!(!broken(&|v| set(v, "/actions/0/type", "Action.Submit".into())).is_empty());
    assert!(!broken(&|v| set(v, "/actions/0/url", Value::Null)).is_empty());
}

#[test]
fn long_evidence_keeps_a_teams_card_inside_its_message_size() {
    let mut ctx = silent("Ada", "Bo", Some(ACK));
    ctx.reasons = (0..2000)
        .map(|i| format!("reason {i} {}", "y".repeat(50)))
        .collect();
    let v = teams::payload(&escalation(&ctx));
    assert_eq!(shape::teams_problems(&v), Vec::<String>::new());
    let mut big = v;
    big["attachments"][0]["content"]["body"][1]["text"] = "z".repeat(30_000).into();
    assert!(
        !shape::teams_problems(&big).is_empty(),
        "the check catches it"
    );
}

#[test]
fn teams_text_cannot_become_a_link() {
    let v = teams::payload(&escalation(&silent(
        "[Ada](https://evil.example)",
        "Bo",
        Some(ACK),
    )));
    assert!(!v.to_string().contains("](https://evil"), "{v}");
}

#[test]
fn the_digest_lists_what_waits_by_first_names() {
    use crate::day::Day;
    use crate::digest::{DigestContext, EscalationLine, Others, PairLine};
    let ctx = DigestContext {
        locale: "en".into(),
        coordinator: "Cy Coordinator".into(),
        date: "2026-11-26".into(),
        escalations: vec![EscalationLine {
            mentorship_id: "m-1".into(),
            mentor: Some("Ada Lovelace".into()),
            mentee: Some("Bo Mentee".into()),
            rules: vec!["no interaction at all".into()],
            day: Day::nth(5),
            opened_day: Some(Day::nth(4)),
            total: 0,
            by_mentor: 0,
            by_mentee: 0,
            kinds: vec![],
            last_activity: None,
            open_since: "Thu".into(),
            advice: vec![],
            url: Some("https://fw.example.org/c/page/pairs/m-1".into()),
        }],
        trending_low: vec![PairLine {
            mentorship_id: "m-2".into(),
            mentor: "Cleo Long".into(),
            mentee: "Dee Short".into(),
            day: Day::nth(3),
            week_days: 7,
            total: 1,
            by_mentor: 1,
            by_mentee: 0,
            has_plan: false,
            risks: vec!["one-sided".into()],
            advice: vec![],
            url: None,
        }],
        others: Others {
            total: 3,
            on_track: 3,
            acknowledged: 0,
        },
        all_quiet: false,
        page_url: Some("https://fw.example.org/c/page".into()),
    };
    let m = digest(&ctx);
    assert_eq!(
        m.sections[0].lines,
        vec!["Ada & Bo, day 5: no interaction at all".to_string()]
    );
    assert_eq!(
        m.sections[1].lines,
        vec!["Cleo & Dee, day 3: one-sided".to_string()]
    );
    for p in Platform::ALL {
        let v = p.payload(&m);
        assert_eq!(p.problems(&v), Vec::<String>::new(), "{p}: {v:#}");
        let text = v.to_string();
        assert!(
            !text.contains("/c/page") && !text.contains("Lovelace"),
            "{text}"
        );
    }
}
