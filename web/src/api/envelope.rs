//! What a request to the events API carries: one event as
//! `{"type": "<routing key>", "event": {…}}` (the event exactly as it would
//! be published over AMQP under that routing key), or a batch of them as
//! `{"events": [ … ]}`. Each event is validated by the same parser as the
//! workers' intake ([`Event::parse`]), so it is refused here for the same
//! reasons it would be dead-lettered there.

use chrono::{DateTime, Utc};
use firstweek::event::Event;
use serde_json::Value;

use super::problem::{Kind, Problem};

/// An event that passed validation, as it is stored and later published.
#[derive(Debug, Clone, PartialEq)]
pub struct Offered {
    /// Its routing key.
    pub routing_key: &'static str,
    /// Its `event_id`: the idempotency key.
    pub event_id: String,
    /// The event as sent.
    pub payload: Value,
    /// The event as parsed ([`Event::to_json`]): what its idempotency compares.
    pub parsed: Vec<u8>,
}

/// The body of `POST /api/v1/events`.
pub fn single(body: &[u8], now: DateTime<Utc>) -> Result<Offered, Problem> {
    envelope(&json(body)?, now, "")
}

/// The body of `POST /api/v1/events/batch`: 1 to `max` events.
pub fn batch(body: &[u8], max: usize, now: DateTime<Utc>) -> Result<Vec<Offered>, Problem> {
    let doc = json(body)?;
    let Some(events) = doc.get("events").and_then(Value::as_array) else {
        return Err(Problem::new(
            Kind::InvalidEvent,
            "a batch is an object with an array `events`",
        )
        .at("events"));
    };
    if events.is_empty() || events.len() > max {
        return Err(Problem::new(
            Kind::InvalidEvent,
            format!(
                "a batch carries 1 to {max} events, this one {}",
                events.len()
            ),
        )
        .at("events"));
    }
    if let Some(extra) = doc
        .as_object()
        .and_then(|o| o.keys().find(|k| *k != "events"))
    {
        return Err(Problem::new(
            Kind::InvalidEvent,
            format!("unknown field `{}`", clip(extra)),
        )
        .at(clip(extra)));
    }
    events
        .iter()
        .enumerate()
        .map(|(i, e)| envelope(e, now, &format!("events[{i}].")))
        .collect()
}

fn json(body: &[u8]) -> Result<Value, Problem> {
    serde_json::from_slice(body).map_err(|e| {
        Problem::new(
            Kind::Unparseable,
            format!("invalid JSON: {}", firstweek::event::json::problem(&e)),
        )
    })
}

/// One `{"type", "event"}`; `at` prefixes the paths of its fields.
fn envelope(doc: &Value, now: DateTime<Utc>, at: &str) -> Result<Offered, Problem> {
    let Some(object) = doc.as_object() else {
        return Err(Problem::new(
            Kind::InvalidEvent,
            "an event is an object with `type` and `event`",
        )
        .at(trim(at)));
    };
    if let Some(extra) = object.keys().find(|k| *k != "type" && *k != "event") {
        return Err(Problem::new(
            Kind::InvalidEvent,
            format!("unknown field `{}`", clip(extra)),
        )
        .at(format!("{at}{}", clip(extra))));
    }
    let Some(routing_key) = object.get("type").and_then(Value::as_str) else {
        return Err(Problem::new(
            Kind::InvalidEvent,
            "`type` must be the event's routing key, e.g. mentorship.started",
        )
        .at(format!("{at}type")));
    };
    let Some(event) = object.get("event").filter(|e| e.is_object()) else {
        return Err(Problem::new(
            Kind::InvalidEvent,
            "`event` must be the event's JSON object",
        )
        .at(format!("{at}event")));
    };
    let text = serde_json::to_vec(event).unwrap_or_default();
    let parsed = Event::parse(routing_key, None, &text, now).map_err(|e| {
        let p = Problem::invalid(&e);
        match p.field.as_deref() {
            Some("type") => p.at(format!("{at}type")),
            _ => p.within(&format!("{at}event")),
        }
    })?;
    Ok(Offered {
        routing_key: parsed.routing_key(),
        event_id: parsed.event_id().to_string(),
        payload: event.clone(),
        parsed: parsed.to_json(),
    })
}

fn trim(at: &str) -> String {
    at.trim_end_matches('.').to_string()
}

/// A key the sender made up, clipped (a key is a name, not a value, but
/// it is the sender's text).
fn clip(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(60).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUTCOME: &str = r#"{"event_id":"o1","mentorship_id":"m1","outcome":"thriving","recorded_at":"2026-01-01T00:00:00Z"}"#;

    fn now() -> DateTime<Utc> {
        "2026-01-02T00:00:00Z".parse().unwrap()
    }

    #[test]
    fn an_envelope_carries_the_event_as_amqp_would() {
        let body = format!(r#"{{"type":"mentorship.outcome","event":{OUTCOME}}}"#);
        let offered = single(body.as_bytes(), now()).unwrap();
        assert_eq!(offered.routing_key, "mentorship.outcome");
        assert_eq!(offered.event_id, "o1");
        assert_eq!(
            offered.payload,
            serde_json::from_str::<Value>(OUTCOME).unwrap()
        );
    }

    #[test]
    fn each_refusal_has_its_status_and_field() {
        let cases: [(&str, Kind, Option<&str>); 5] = [
            ("{not json", Kind::Unparseable, None),
            (
                r#"{"type":"mentorship.begun","event":{}}"#,
                Kind::InvalidEvent,
                Some("type"),
            ),
            (
                r#"{"type":"mentorship.outcome"}"#,
                Kind::InvalidEvent,
                Some("event"),
            ),
            (
                r#"{"type":"mentorship.outcome","event":{},"extra":1}"#,
                Kind::InvalidEvent,
                Some("extra"),
            ),
            (
                r#"{"type":"mentorship.outcome","event":{"event_id":"o1","mentorship_id":"m1","outcome":"thriving","rating":9,"recorded_at":"2026-01-01T00:00:00Z"}}"#,
                Kind::InvalidEvent,
                Some("event.rating"),
            ),
        ];
        for (body, kind, field) in cases {
            let p = single(body.as_bytes(), now()).unwrap_err();
            assert_eq!((p.kind, p.field.as_deref()), (kind, field), "{body}: {p:?}");
        }
    }

    #[test]
    fn a_batch_names_the_event_at_fault_by_its_index() {
        let good = format!(r#"{{"type":"mentorship.outcome","event":{OUTCOME}}}"#);
        let bad = r#"{"type":"mentorship.outcome","event":{"event_id":"o2","mentorship_id":"m1","outcome":"thriving"}}"#;
        let body = format!(r#"{{"events":[{good},{bad}]}}"#);
        let p = batch(body.as_bytes(), 10, now()).unwrap_err();
        assert_eq!(
            p.field.as_deref(),
            Some("events[1].event.recorded_at"),
            "{p:?}"
        );
        let body = format!(r#"{{"events":[{good},{good}]}}"#);
        assert_eq!(batch(body.as_bytes(), 10, now()).unwrap().len(), 2);
        let p = batch(body.as_bytes(), 1, now()).unwrap_err();
        assert_eq!(p.field.as_deref(), Some("events"));
        let p = batch(br#"{"events":[]}"#, 10, now()).unwrap_err();
        assert_eq!(p.kind, Kind::InvalidEvent);
    }
}
