//! The published contract (`docs/schemas/*.json`, `docs/asyncapi.yaml`) must
//! not drift from the serde types and the parser (`firstweek::event`).
//!
//! The schemas are hand-written. These tests check them against the code both
//! ways: every schema example parses; the properties, the `required` lists and
//! the enums are exactly what the types accept and refuse; and a small
//! validator for the keywords the schemas use agrees with `Event::parse` on
//! valid events and on a set of broken ones.

use std::collections::BTreeSet;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use firstweek::event::{
    Actor, Coordinator, Event, INTERACTION_RECORDED, InteractionKind, InteractionRecorded,
    MENTORSHIP_ENDED, MENTORSHIP_OUTCOME, MENTORSHIP_STARTED, MentorshipEnded, MentorshipOutcome,
    MentorshipStarted, Outcome, PARTICIPANT_UNSUBSCRIBED, PERSON_ERASED, ParticipantUnsubscribed,
    Person, PersonErased,
};
use serde_json::{Map, Value, json};

const EVENTS: [&str; 6] = [
    MENTORSHIP_STARTED,
    INTERACTION_RECORDED,
    MENTORSHIP_ENDED,
    PARTICIPANT_UNSUBSCRIBED,
    PERSON_ERASED,
    MENTORSHIP_OUTCOME,
];

fn docs() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs")
}

fn schema(event: &str) -> Value {
    let path = docs().join(format!("schemas/{event}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The schema examples are dated November 2026; judge them as of then, after
/// the last of them (11-27): an interaction or an ending more than two days
/// ahead of now is refused.
fn now() -> DateTime<Utc> {
    "2026-11-27T12:00:00Z".parse().unwrap()
}

fn parse(event: &str, body: &Value) -> Result<Event, String> {
    Event::parse(
        event,
        Some("application/json"),
        body.to_string().as_bytes(),
        now(),
    )
    .map_err(|e| e.to_string())
}

/// An event of each kind with every optional field set, built from the types.
fn full(event: &str) -> Value {
    let person = |id: &str, tz: &str| Person {
        id: id.into(),
        name: format!("Person {id}"),
        email: format!("{id}@example.org"),
        timezone: tz.into(),
        locale: Some("es-MX".into()),
    };
    let value = match event {
        MENTORSHIP_STARTED => serde_json::to_value(MentorshipStarted {
            event_id: "e-1".into(),
            mentorship_id: "m-1".into(),
            program_id: Some("p-1".into()),
            started_at: now(),
            mentor: person("a", "Europe/Berlin"),
            mentee: person("b", "Asia/Tokyo"),
            coordinator: Coordinator {
                name: "Cy".into(),
                email: "cy@example.org".into(),
                timezone: Some("UTC".into()),
                locale: Some("de-AT".into()),
            },
        }),
        INTERACTION_RECORDED => serde_json::to_value(InteractionRecorded {
            event_id: "e-2".into(),
            mentorship_id: "m-1".into(),
            kind: InteractionKind::Session,
            actor: Actor::Mentee,
            occurred_at: now(),
            duration_minutes: Some(45),
        }),
        MENTORSHIP_ENDED => serde_json::to_value(MentorshipEnded {
            event_id: "e-3".into(),
            mentorship_id: "m-1".into(),
            ended_at: now(),
            reason: Some("moved on".into()),
        }),
        PARTICIPANT_UNSUBSCRIBED => serde_json::to_value(ParticipantUnsubscribed {
            event_id: "e-4".into(),
            person_id: "p-1".into(),
            unsubscribed_at: now(),
        }),
        PERSON_ERASED => serde_json::to_value(PersonErased {
            event_id: "e-5".into(),
            person_id: "p-1".into(),
        }),
        MENTORSHIP_OUTCOME => serde_json::to_value(MentorshipOutcome {
            event_id: "e-6".into(),
            mentorship_id: "m-1".into(),
            outcome: Outcome::Struggling,
            rating: Some(2),
            recorded_at: now(),
        }),
        other => panic!("unknown event {other}"),
    };
    value.unwrap()
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

/// Resolves a local `$ref` (`#/$defs/...`) against the root schema.
fn resolve<'a>(root: &'a Value, s: &'a Value) -> &'a Value {
    match s.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let pointer = r
                .strip_prefix('#')
                .unwrap_or_else(|| panic!("non-local $ref {r}"));
            resolve(
                root,
                root.pointer(pointer)
                    .unwrap_or_else(|| panic!("dangling $ref {r}")),
            )
        }
        None => s,
    }
}

/// The object schemas reachable from the root, with the JSON pointer of
/// their instances (`""`, `"/mentor"`, ...).
fn objects(root: &Value) -> Vec<(String, &Value)> {
    let mut out = vec![(String::new(), root)];
    let mut i = 0;
    while i < out.len() {
        let (path, s) = out[i].clone();
        if let Some(props) = s.get("properties").and_then(Value::as_object) {
            for (name, p) in props {
                let p = resolve(root, p);
                if p.get("type") == Some(&json!("object")) {
                    out.push((format!("{path}/{name}"), p));
                }
            }
        }
        i += 1;
    }
    out
}

/// A validator for the keywords the schemas use: `$ref` (local), `type`,
/// `required`, `properties`, `additionalProperties: false`, `enum`,
/// `minLength`, `maxLength`, `minimum`, `maximum`, and the formats
/// `date-time` and `email` (loosely). `pattern` is left to the parser's tests.
fn validate(root: &Value, schema: &Value, v: &Value, path: &str) -> Result<(), String> {
    let s = resolve(root, schema);
    // Keywords beside a `$ref` (descriptions) add no constraint here.
    let fail = |why: String| {
        Err(format!(
            "{}: {why}",
            if path.is_empty() { "/" } else { path }
        ))
    };
    if let Some(t) = s.get("type").and_then(Value::as_str) {
        let ok = match t {
            "object" => v.is_object(),
            "string" => v.is_string(),
            "integer" => v.is_i64() || v.is_u64(),
            "number" => v.is_number(),
            "array" => v.is_array(),
            "boolean" => v.is_boolean(),
            other => panic!("type {other} not supported by the test validator"),
        };
        if !ok {
            return fail(format!("not a {t}"));
        }
    }
    if let Some(allowed) = s.get("enum").and_then(Value::as_array)
        && !allowed.contains(v)
    {
        return fail(format!("{v} is not one of {allowed:?}"));
    }
    if let Some(text) = v.as_str() {
        let n = text.chars().count() as u64;
        if s.get("minLength")
            .and_then(Value::as_u64)
            .is_some_and(|min| n < min)
        {
            return fail(format!("shorter than minLength ({n})"));
        }
        if s.get("maxLength")
            .and_then(Value::as_u64)
            .is_some_and(|max| n > max)
        {
            return fail(format!("longer than maxLength ({n})"));
        }
        match s.get("format").and_then(Value::as_str) {
            Some("date-time") if DateTime::parse_from_rfc3339(text).is_err() => {
                return fail(format!("{text:?} is not a date-time"));
            }
            Some("email") if !text.contains('@') => {
                return fail(format!("{text:?} is not an email"));
            }
            _ => {}
        }
    }
    if let Some(n) = v.as_i64() {
        if s.get("minimum")
            .and_then(Value::as_i64)
            .is_some_and(|min| n < min)
        {
            return fail(format!("{n} is below the minimum"));
        }
        if s.get("maximum")
            .and_then(Value::as_i64)
            .is_some_and(|max| n > max)
        {
            return fail(format!("{n} is above the maximum"));
        }
    }
    if let (Some(items), Some(array)) = (s.get("items"), v.as_array()) {
        for (i, item) in array.iter().enumerate() {
            validate(root, items, item, &format!("{path}/{i}"))?;
        }
    }
    if let Some(obj) = v.as_object() {
        let empty = Map::new();
        let props = s
            .get("properties")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        for r in s
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let r = r.as_str().unwrap();
            if !obj.contains_key(r) {
                return fail(format!("missing required {r}"));
            }
        }
        for (k, value) in obj {
            match props.get(k) {
                Some(p) => validate(root, p, value, &format!("{path}/{k}"))?,
                None if s.get("additionalProperties") == Some(&json!(false)) => {
                    return fail(format!("unknown property {k}"));
                }
                None => {}
            }
        }
    }
    Ok(())
}

fn valid(root: &Value, v: &Value) -> Result<(), String> {
    validate(root, root, v, "")
}

#[test]
fn every_schema_is_draft_2020_12_and_names_its_event() {
    for event in EVENTS {
        let s = schema(event);
        assert_eq!(
            s["$schema"], "https://json-schema.org/draft/2020-12/schema",
            "{event}"
        );
        assert_eq!(s["title"], event);
        assert_eq!(s["type"], "object");
        for (path, o) in objects(&s) {
            assert_eq!(
                o["additionalProperties"],
                json!(false),
                "{event}{path}: the types deny unknown fields, so must the schema"
            );
        }
    }
}

#[test]
fn every_schema_example_is_valid_for_the_schema_and_the_parser() {
    for event in EVENTS {
        let s = schema(event);
        let examples = s["examples"].as_array().expect("examples");
        assert!(examples.len() >= 2, "{event}: a full and a minimal example");
        for e in examples {
            valid(&s, e).unwrap_or_else(|why| panic!("{event} example {e}: schema says {why}"));
            let parsed = parse(event, e).unwrap_or_else(|why| panic!("{event} example {e}: {why}"));
            assert_eq!(parsed.routing_key(), event);
        }
    }
}

#[test]
fn properties_are_exactly_the_fields_of_the_types() {
    for event in EVENTS {
        let s = schema(event);
        let full = full(event);
        valid(&s, &full).unwrap_or_else(|why| panic!("{event}: the types' own event: {why}"));
        parse(event, &full).unwrap();
        for (path, o) in objects(&s) {
            let instance = full
                .pointer(&path)
                .unwrap_or_else(|| panic!("{event}{path}"));
            assert_eq!(
                keys(&o["properties"]),
                keys(instance),
                "{event}{path}: schema properties vs the fields serde writes"
            );
        }
    }
}

#[test]
fn required_lists_are_exactly_what_the_parser_requires() {
    for event in EVENTS {
        let s = schema(event);
        let full = full(event);
        for (path, o) in objects(&s) {
            let required: BTreeSet<String> = o["required"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_str().unwrap().to_string())
                .collect();
            for field in keys(&o["properties"]) {
                let mut v = full.clone();
                let parent = if path.is_empty() {
                    &mut v
                } else {
                    v.pointer_mut(&path).unwrap()
                };
                parent.as_object_mut().unwrap().remove(&field);
                let by_parser = parse(event, &v).is_err();
                let by_schema = valid(&s, &v).is_err();
                let is_required = required.contains(&field);
                assert_eq!(
                    by_parser, is_required,
                    "{event}{path}/{field}: parser refuses without it?"
                );
                assert_eq!(
                    by_schema, is_required,
                    "{event}{path}/{field}: schema refuses without it?"
                );
            }
        }
    }
}

#[test]
fn the_outcome_enum_is_the_contracts() {
    let s = schema(MENTORSHIP_OUTCOME);
    let outcomes: Vec<Value> = Outcome::ALL
        .iter()
        .map(|o| serde_json::to_value(o).unwrap())
        .collect();
    assert_eq!(
        s["properties"]["outcome"]["enum"].as_array().unwrap(),
        &outcomes
    );
    for o in Outcome::ALL {
        assert_eq!(serde_json::to_value(o).unwrap(), o.as_str());
        let mut v = full(MENTORSHIP_OUTCOME);
        v["outcome"] = o.as_str().into();
        assert!(parse(MENTORSHIP_OUTCOME, &v).is_ok(), "{o}");
        assert!(valid(&s, &v).is_ok(), "{o}");
    }
}

#[test]
fn enums_are_the_contracts_kinds_and_actors() {
    let s = schema(INTERACTION_RECORDED);
    let kinds: Vec<Value> = InteractionKind::ALL
        .iter()
        .map(|k| serde_json::to_value(k).unwrap())
        .collect();
    assert_eq!(s["properties"]["kind"]["enum"].as_array().unwrap(), &kinds);
    for k in InteractionKind::ALL {
        assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
    }
    let actors: Vec<Value> = [Actor::Mentor, Actor::Mentee]
        .iter()
        .map(|a| serde_json::to_value(a).unwrap())
        .collect();
    assert_eq!(
        s["properties"]["actor"]["enum"].as_array().unwrap(),
        &actors
    );

    // Each value the schema allows parses; one it does not is refused by both.
    let base = full(INTERACTION_RECORDED);
    for (field, values) in [("kind", &kinds), ("actor", &actors)] {
        for value in values {
            let mut v = base.clone();
            v[field] = value.clone();
            parse(INTERACTION_RECORDED, &v).unwrap();
            valid(&s, &v).unwrap();
        }
        let mut v = base.clone();
        v[field] = json!("dance");
        assert!(parse(INTERACTION_RECORDED, &v).is_err());
        assert!(valid(&s, &v).is_err());
    }
}

#[test]
fn the_schema_and_the_parser_refuse_the_same_broken_events() {
    let long = "x".repeat(129);
    let cases: Vec<(&str, &str, Value)> = vec![
        (MENTORSHIP_STARTED, "/event_id", json!("")),
        (MENTORSHIP_STARTED, "/mentorship_id", json!(long)),
        (MENTORSHIP_STARTED, "/program_id", json!(7)),
        (MENTORSHIP_STARTED, "/started_at", json!("yesterday")),
        (MENTORSHIP_STARTED, "/mentor/name", json!("")),
        (MENTORSHIP_STARTED, "/mentor/name", json!("y".repeat(201))),
        (MENTORSHIP_STARTED, "/mentee/email", json!("not-an-address")),
        (MENTORSHIP_STARTED, "/coordinator", json!("Cy")),
        (MENTORSHIP_STARTED, "/mentee/locale", json!("")),
        (MENTORSHIP_STARTED, "/mentee/locale", json!(7)),
        (
            MENTORSHIP_STARTED,
            "/coordinator/locale",
            json!("x".repeat(71)),
        ),
        (INTERACTION_RECORDED, "/duration_minutes", json!(1441)),
        (INTERACTION_RECORDED, "/duration_minutes", json!(-1)),
        (INTERACTION_RECORDED, "/duration_minutes", json!("30")),
        (
            INTERACTION_RECORDED,
            "/occurred_at",
            json!("2026-11-24 10:00"),
        ),
        (MENTORSHIP_ENDED, "/reason", json!("")),
        (MENTORSHIP_ENDED, "/ended_at", json!(1_700_000_000)),
        (PERSON_ERASED, "/person_id", json!("")),
        (PERSON_ERASED, "/person_id", json!("z".repeat(255))),
        (PERSON_ERASED, "/person_id", json!(7)),
        (PERSON_ERASED, "/event_id", json!(long)),
        (MENTORSHIP_OUTCOME, "/outcome", json!("flourishing")),
        (MENTORSHIP_OUTCOME, "/rating", json!(0)),
        (MENTORSHIP_OUTCOME, "/rating", json!(6)),
        (MENTORSHIP_OUTCOME, "/rating", json!("5")),
        (MENTORSHIP_OUTCOME, "/recorded_at", json!("last week")),
    ];
    for (event, pointer, value) in cases {
        let s = schema(event);
        let mut v = full(event);
        *v.pointer_mut(pointer)
            .unwrap_or_else(|| panic!("{event}{pointer}")) = value.clone();
        assert!(
            parse(event, &v).is_err(),
            "{event}{pointer} = {value}: the parser accepts it"
        );
        assert!(
            valid(&s, &v).is_err(),
            "{event}{pointer} = {value}: the schema accepts it"
        );
    }
    // Unknown fields, at the top and inside a person.
    for (event, parent) in [
        (MENTORSHIP_STARTED, ""),
        (MENTORSHIP_STARTED, "/mentee"),
        (MENTORSHIP_STARTED, "/coordinator"),
        (INTERACTION_RECORDED, ""),
        (MENTORSHIP_ENDED, ""),
        (PERSON_ERASED, ""),
    ] {
        let s = schema(event);
        let mut v = full(event);
        let obj = if parent.is_empty() {
            &mut v
        } else {
            v.pointer_mut(parent).unwrap()
        };
        obj["surprise"] = json!(1);
        assert!(
            parse(event, &v).is_err(),
            "{event}{parent}: unknown field accepted"
        );
        assert!(
            valid(&s, &v).is_err(),
            "{event}{parent}: unknown field accepted by the schema"
        );
    }
}

#[test]
fn the_asyncapi_document_references_every_schema_and_the_dead_letter_queue() {
    let path = docs().join("asyncapi.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("asyncapi: 3.0.0\n"), "AsyncAPI 3.0");
    for event in EVENTS {
        assert!(
            text.contains(&format!("address: {event}\n")),
            "channel {event}"
        );
        assert!(
            text.contains(&format!("$ref: './schemas/{event}.json'")),
            "the {event} message payload is the published schema"
        );
        assert!(
            text.contains(&format!("messageType: {event}\n")),
            "{event} binding"
        );
    }
    for needle in [
        "name: firstweek\n",
        "type: topic",
        "durable: true",
        "deliveryMode: 2",
        "address: firstweek.dead\n",
        "x-firstweek-error:",
        "x-firstweek-routing-key:",
        "defaultContentType: application/json",
    ] {
        assert!(text.contains(needle), "{needle:?} in {}", path.display());
    }
    // The YAML has no tabs (YAML forbids them for indentation).
    assert!(!text.contains('\t'));
    // The documented limits are the code's.
    assert!(text.contains(&format!(
        "at most {} bytes",
        firstweek::event::MAX_BODY_BYTES
    )));
}

/// What a repeated `event_id` and a repeated start mean is part of the
/// contract publishers rely on: written in the AsyncAPI document and in each
/// schema's own words, in the reason's exact words (`conflicting duplicate`,
/// what `x-firstweek-error` starts with).
#[test]
fn repeats_and_corrections_are_written_into_the_contract() {
    let asyncapi = std::fs::read_to_string(docs().join("asyncapi.yaml")).unwrap();
    for needle in ["conflicting duplicate", "corrects"] {
        assert!(asyncapi.contains(needle), "{needle:?} in asyncapi.yaml");
    }
    for event in EVENTS {
        let s = schema(event);
        let id = s["properties"]["event_id"]["description"]
            .as_str()
            .unwrap_or_default();
        assert!(
            id.contains("counts once") && id.contains("conflicting duplicate"),
            "{event}: event_id says what a repeat means: {id}"
        );
    }
    let started = schema(MENTORSHIP_STARTED);
    let description = started["description"].as_str().unwrap_or_default();
    assert!(
        description.contains("corrects") && !description.contains("is ignored"),
        "mentorship.started says a new start for a known pair corrects its people: {description}"
    );
}

/// firstweek's own events, as the domain writes them, against their
/// published schemas: every field documented, every required one present,
/// no name or address in any of them.
#[test]
fn firstweeks_own_escalation_events_match_their_schemas() {
    use firstweek::decision::escalation as rule;
    use firstweek::escalation::{AckVia, Escalation, Resolution, Sighting, State};
    use firstweek::interaction::{KindCount, Summary};
    use firstweek::rule::Condition;

    let opened_at = now();
    let sighting = Sighting {
        step_id: "escalation".into(),
        as_of: opened_at,
        day: firstweek::day::Day::nth(7),
        fired: vec![Condition::OneSided],
        reasons: vec!["one-sided: only the mentor has interacted".into()],
        total: 2,
        mentor: 2,
        mentee: 0,
        by_kind: vec![KindCount {
            kind: "message".into(),
            mentor: 2,
            mentee: 0,
        }],
        last_activity: Some(opened_at),
    };
    let e = Escalation {
        mentorship_id: "m-42".into(),
        coordinator_key: "coordinator-3f2a9c0d1e4b5a6f".into(),
        program_id: Some("spring-2026".into()),
        opened_at,
        opened_by: "escalation".into(),
        rules: vec![Condition::OneSided],
        evidence: vec![sighting],
        state: State::Open,
        acknowledged: None,
        reminded_at: None,
        resolved: None,
    };
    let later = opened_at + chrono::Duration::minutes(90);
    let all = [
        rule::opened(&e),
        rule::acknowledged(&e, later, AckVia::Link),
        rule::resolved(&e, later, Resolution::Recovered, &Summary::default()),
    ];
    let text = std::fs::read_to_string(docs().join("asyncapi.yaml")).unwrap();
    for a in &all {
        let root = schema(a.routing_key);
        valid(&root, &a.payload).unwrap_or_else(|why| panic!("{}: {why}", a.routing_key));
        assert_eq!(a.payload["event_id"], a.event_id.as_str());
        for example in root["examples"].as_array().unwrap() {
            valid(&root, example).unwrap_or_else(|why| panic!("{} example: {why}", a.routing_key));
        }
        let body = a.payload.to_string();
        assert!(!body.contains('@'), "no address: {body}");
        assert!(
            text.contains(&format!("address: {}\n", a.routing_key)),
            "channel {}",
            a.routing_key
        );
        assert!(text.contains(&format!("$ref: './schemas/{}.json'", a.routing_key)));
    }
    // Every documented property of `escalation.opened` is one the domain writes.
    let root = schema("escalation.opened");
    assert_eq!(keys(&root["properties"]), keys(&all[0].payload));
}

/// The delivery events (`email.*`) are written by the store in SQL: their
/// schemas say what it writes (checked end to end by tests/tests/webhooks.rs),
/// their examples are valid, the AsyncAPI document names them, and no
/// property could hold an address or a name.
#[test]
fn firstweeks_delivery_events_are_documented() {
    use firstweek::event::{ANNOUNCED, EMAIL_FAILED, EMAIL_SENT, EMAIL_UNKNOWN, WEBHOOK_EVENTS};
    let text = std::fs::read_to_string(docs().join("asyncapi.yaml")).unwrap();
    for key in [EMAIL_SENT, EMAIL_FAILED, EMAIL_UNKNOWN] {
        assert!(ANNOUNCED.contains(&key) && WEBHOOK_EVENTS.contains(&key));
        let root = schema(key);
        for example in root["examples"].as_array().unwrap() {
            valid(&root, example).unwrap_or_else(|why| panic!("{key} example: {why}"));
            assert!(!example.to_string().contains('@'));
        }
        let props = keys(&root["properties"]);
        assert_eq!(
            props.iter().map(String::as_str).collect::<Vec<_>>(),
            [
                "event_id",
                "mentorship_id",
                "occurred_at",
                "program_id",
                "recipient",
                "step_id"
            ]
        );
        assert!(text.contains(&format!("address: {key}\n")), "channel {key}");
        assert!(text.contains(&format!("$ref: './schemas/{key}.json'")));
        assert!(text.contains(&format!("messageType: {key}\n")));
    }
}
