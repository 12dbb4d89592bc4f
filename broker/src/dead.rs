//! Dead letters: how a refused message is written to `firstweek.dead`
//! (its reason, where it was first published, a cut body) and how one reads.

use lapin::types::{AMQPValue, LongString, ShortString};
use lapin::{BasicProperties, Channel};

use crate::publish::{Message, Publisher};
use sha2::{Digest, Sha256};

use crate::{
    BrokerError, DEAD_BODY_KEPT, DEAD_BODY_WHOLE_MAX, DEAD_ID_HEADER, DEAD_QUEUE, ERROR_HEADER,
    EVENTS_QUEUE, EXCHANGE, EXCHANGE_HEADER, ORIGINAL_SIZE_HEADER, ROUTING_KEY_HEADER, STEPS_QUEUE,
};

/// What a dead letter keeps of a refused body, and the reason it carries: a
/// body up to [`DEAD_BODY_WHOLE_MAX`] whole; of a larger one the first
/// [`DEAD_BODY_KEPT`] bytes, the reason saying so.
pub fn dead_body<'a>(body: &'a [u8], reason: &str) -> (&'a [u8], String) {
    if body.len() <= DEAD_BODY_WHOLE_MAX {
        return (body, reason.to_string());
    }
    (
        &body[..DEAD_BODY_KEPT],
        format!(
            "{reason} (the dead letter keeps the first {DEAD_BODY_KEPT} of its {} bytes)",
            body.len()
        ),
    )
}

/// Publishes a refused message to the dead-letter queue with its reason,
/// where it was first published (`origin`) and its identity
/// ([`dead_letter_id`]); returns once the broker has confirmed it (only then
/// may the original be acked: a worker that dies in between leaves a second
/// copy with the same identity). An oversized body is cut (see
/// [`dead_body`]).
pub async fn dead_letter(
    channel: &Channel,
    origin: &Origin,
    original: &BasicProperties,
    body: &[u8],
    reason: &str,
) -> Result<(), BrokerError> {
    let (kept, reason) = dead_body(body, reason);
    let id = dead_letter_id(
        origin,
        original.message_id().as_ref().map(|m| m.as_str()),
        body,
    );
    let mut headers = original.headers().clone().unwrap_or_default();
    headers.insert(
        DEAD_ID_HEADER.into(),
        AMQPValue::LongString(LongString::from(id)),
    );
    headers.insert(
        ERROR_HEADER.into(),
        AMQPValue::LongString(LongString::from(reason)),
    );
    headers.insert(
        ROUTING_KEY_HEADER.into(),
        AMQPValue::LongString(LongString::from(origin.routing_key.as_str())),
    );
    headers.insert(
        EXCHANGE_HEADER.into(),
        AMQPValue::LongString(LongString::from(origin.exchange.as_str())),
    );
    if kept.len() < body.len() {
        headers.insert(
            ORIGINAL_SIZE_HEADER.into(),
            AMQPValue::LongLongInt(i64::try_from(body.len()).unwrap_or(i64::MAX)),
        );
    }
    let mut props = BasicProperties::default()
        .with_delivery_mode(2)
        .with_headers(headers);
    if let Some(ct) = original.content_type() {
        props = props.with_content_type(ct.clone());
    }
    // Kept so a replay carries it again (and has the same identity).
    if let Some(m) = original.message_id() {
        props = props.with_message_id(m.clone());
    }
    Publisher::on(channel.clone())
        .publish(Message::new("", DEAD_QUEUE, kept, props))
        .await
}

/// The identity of a refused message, which its dead letter keeps: a
/// SHA-256 (hex) of where it was first published, its `message_id` if it
/// had one, and its whole body. A message delivered again (its first
/// dead-lettering not acked) has the same; two messages alike in all of
/// these are one for whoever consumes them.
pub fn dead_letter_id(origin: &Origin, message_id: Option<&str>, body: &[u8]) -> String {
    let mut h = Sha256::new();
    for part in [
        origin.exchange.as_bytes(),
        origin.routing_key.as_bytes(),
        message_id.unwrap_or_default().as_bytes(),
    ] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    h.update(body);
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// A dead letter's identity: the one it was written with, else (a letter
/// the broker dead-lettered at its delivery limit, or one written before
/// identities) computed the same way from what it holds.
pub fn identity(props: &BasicProperties, body: &[u8]) -> String {
    if let Some(id) = header_text(props, DEAD_ID_HEADER) {
        return id;
    }
    let origin = origin(props).unwrap_or(Origin {
        exchange: String::new(),
        routing_key: String::new(),
    });
    dead_letter_id(
        &origin,
        props.message_id().as_ref().map(|m| m.as_str()),
        body,
    )
}

/// The size of the original body, if this dead letter keeps only its start.
pub fn original_size(props: &BasicProperties) -> Option<i64> {
    let headers = props.headers().as_ref()?;
    match headers
        .inner()
        .get(&ShortString::from(ORIGINAL_SIZE_HEADER))?
    {
        AMQPValue::LongLongInt(n) => Some(*n),
        AMQPValue::LongInt(n) => Some(i64::from(*n)),
        AMQPValue::LongUInt(n) => Some(i64::from(*n)),
        _ => None,
    }
}

/// A header's text, if present and a string.
pub fn header_text(props: &BasicProperties, name: &str) -> Option<String> {
    let headers = props.headers().as_ref()?;
    text(headers.inner().get(&ShortString::from(name))?)
}

/// Where a dead letter was first published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The exchange (`firstweek`, or empty for a queue's default exchange).
    pub exchange: String,
    /// The routing key (a queue name on the default exchange).
    pub routing_key: String,
}

/// Headers the broker or firstweek added when dead-lettering.
pub fn is_dead_letter_header(name: &str) -> bool {
    name == ERROR_HEADER
        || name == DEAD_ID_HEADER
        || name == ROUTING_KEY_HEADER
        || name == EXCHANGE_HEADER
        || name == ORIGINAL_SIZE_HEADER
        || name == "x-death"
        || name == "x-delivery-count"
        || name.starts_with("x-first-death-")
        || name.starts_with("x-last-death-")
}

/// Where the message was first published: firstweek's headers (refused by a
/// worker), else the broker's `x-death` (delivery limit reached).
pub fn origin(p: &BasicProperties) -> Option<Origin> {
    if let Some(key) = header_text(p, ROUTING_KEY_HEADER) {
        // Dead letters written before the exchange header existed: a queue's
        // name as the key means the step was published to that queue through
        // the default exchange (the scheduler's `firstweek.steps`); anything
        // else came from the public exchange.
        let exchange = header_text(p, EXCHANGE_HEADER).unwrap_or_else(|| {
            if [STEPS_QUEUE, EVENTS_QUEUE, DEAD_QUEUE].contains(&key.as_str()) {
                String::new()
            } else {
                EXCHANGE.into()
            }
        });
        return Some(Origin {
            exchange,
            routing_key: key,
        });
    }
    let headers = p.headers().as_ref()?;
    let AMQPValue::FieldArray(deaths) = headers.inner().get("x-death")? else {
        return None;
    };
    // The oldest death is last.
    let AMQPValue::FieldTable(death) = deaths.as_slice().last()? else {
        return None;
    };
    let exchange = text(death.inner().get("exchange")?)?;
    let AMQPValue::FieldArray(keys) = death.inner().get("routing-keys")? else {
        return None;
    };
    let routing_key = text(keys.as_slice().first()?)?;
    Some(Origin {
        exchange,
        routing_key,
    })
}

/// Why a message was dead-lettered: firstweek's reason header, or the
/// broker's delivery limit.
pub fn dead_letter_reason(p: &BasicProperties) -> Option<String> {
    header_text(p, ERROR_HEADER)
        .or_else(|| origin(p).map(|_| "delivery limit reached (x-death)".to_string()))
}

pub(crate) fn text(v: &AMQPValue) -> Option<String> {
    match v {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.as_str().to_string()),
        _ => None,
    }
}

/// A header value as text, for showing a dead letter.
pub fn value_text(v: &AMQPValue) -> String {
    match v {
        AMQPValue::LongString(_) | AMQPValue::ShortString(_) => text(v).unwrap_or_default(),
        AMQPValue::Boolean(b) => b.to_string(),
        AMQPValue::ShortShortInt(n) => n.to_string(),
        AMQPValue::ShortShortUInt(n) => n.to_string(),
        AMQPValue::ShortInt(n) => n.to_string(),
        AMQPValue::ShortUInt(n) => n.to_string(),
        AMQPValue::LongInt(n) => n.to_string(),
        AMQPValue::LongUInt(n) => n.to_string(),
        AMQPValue::LongLongInt(n) => n.to_string(),
        AMQPValue::Float(n) => n.to_string(),
        AMQPValue::Double(n) => n.to_string(),
        AMQPValue::Timestamp(t) => chrono::DateTime::from_timestamp(*t as i64, 0)
            .map(|t| t.to_rfc3339())
            .unwrap_or_else(|| t.to_string()),
        AMQPValue::FieldArray(a) => {
            let items: Vec<String> = a.as_slice().iter().map(value_text).collect();
            format!("[{}]", items.join(", "))
        }
        AMQPValue::FieldTable(t) => {
            let items: Vec<String> = t
                .inner()
                .iter()
                .map(|(k, v)| format!("{}: {}", k.as_str(), value_text(v)))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
        other => format!("{other:?}"),
    }
}

/// How many times the broker has delivered this message before (quorum queues
/// count it in `x-delivery-count`).
pub fn delivery_count(props: &BasicProperties) -> i64 {
    let Some(headers) = props.headers().as_ref() else {
        return 0;
    };
    match headers.inner().get(&ShortString::from("x-delivery-count")) {
        Some(AMQPValue::LongLongInt(n)) => *n,
        Some(AMQPValue::LongInt(n)) => i64::from(*n),
        Some(AMQPValue::LongUInt(n)) => i64::from(*n),
        Some(AMQPValue::ShortInt(n)) => i64::from(*n),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lapin::types::FieldTable;

    fn with_headers(pairs: &[(&str, &str)]) -> BasicProperties {
        let mut t = FieldTable::default();
        for (k, v) in pairs {
            t.insert((*k).into(), AMQPValue::LongString(LongString::from(*v)));
        }
        BasicProperties::default().with_headers(t)
    }

    #[test]
    fn a_dead_letter_goes_back_where_it_was_first_published() {
        let step = with_headers(&[(ROUTING_KEY_HEADER, STEPS_QUEUE), (EXCHANGE_HEADER, "")]);
        assert_eq!(
            origin(&step),
            Some(Origin {
                exchange: String::new(),
                routing_key: STEPS_QUEUE.into()
            })
        );
        // Written before the exchange header: a queue name means the default exchange.
        let legacy_step = with_headers(&[(ROUTING_KEY_HEADER, STEPS_QUEUE)]);
        assert_eq!(origin(&legacy_step).unwrap().exchange, "");
        let legacy_event = with_headers(&[(ROUTING_KEY_HEADER, "mentorship.started")]);
        assert_eq!(origin(&legacy_event).unwrap().exchange, EXCHANGE);
        assert!(is_dead_letter_header(EXCHANGE_HEADER));
        assert!(is_dead_letter_header(ORIGINAL_SIZE_HEADER));
        assert!(is_dead_letter_header(DEAD_ID_HEADER));
    }

    #[test]
    fn a_dead_letter_has_the_identity_of_the_message_it_came_from() {
        let origin = Origin {
            exchange: EXCHANGE.into(),
            routing_key: "mentorship.started".into(),
        };
        let id = dead_letter_id(&origin, None, b"{}");
        assert_eq!(id, dead_letter_id(&origin, None, b"{}"));
        assert_ne!(id, dead_letter_id(&origin, Some("m-1"), b"{}"));
        assert_ne!(id, dead_letter_id(&origin, None, b"{ }"));
        let elsewhere = Origin {
            exchange: String::new(),
            routing_key: STEPS_QUEUE.into(),
        };
        assert_ne!(id, dead_letter_id(&elsewhere, None, b"{}"));
        // Read back: the header, else the same hash of what the letter holds.
        let written = with_headers(&[(DEAD_ID_HEADER, "abc")]);
        assert_eq!(identity(&written, b"{}"), "abc");
        let legacy = with_headers(&[(ROUTING_KEY_HEADER, "mentorship.started")]);
        assert_eq!(identity(&legacy, b"{}"), id);
    }

    #[test]
    fn a_dead_letter_keeps_a_contract_sized_body_whole_and_the_start_of_a_larger_one() {
        let fits = vec![b'x'; DEAD_BODY_WHOLE_MAX];
        let (kept, reason) = dead_body(&fits, "field `x`: bad");
        assert_eq!(
            (kept.len(), reason.as_str()),
            (fits.len(), "field `x`: bad")
        );

        let huge = vec![b'y'; 10 * 1024 * 1024];
        let (kept, reason) = dead_body(
            &huge,
            "body is 10485760 bytes, larger than the 65536 allowed",
        );
        assert_eq!(kept, &huge[..DEAD_BODY_KEPT]);
        assert!(reason.starts_with("body is 10485760 bytes"), "{reason}");
        assert!(
            reason.ends_with("(the dead letter keeps the first 4096 of its 10485760 bytes)"),
            "{reason}"
        );
    }
}
