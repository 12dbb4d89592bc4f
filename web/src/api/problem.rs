//! Problem details (RFC 9457) for the events API: every refusal is
//! `application/problem+json` with `type`, `title`, `status`, `detail` and,
//! when one field is at fault, `field` (its path, e.g. `mentor.email`,
//! `events[2].occurred_at`). A detail says what is wrong and what is
//! expected, never the value sent (an address, a name).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use firstweek::event::InvalidEvent;
use serde::Serialize;

/// What kind of refusal: its status, `type` and `title`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// 400: the body is not JSON.
    Unparseable,
    /// 401: no key, not a key, an unknown or a revoked key.
    Unauthorized,
    /// 403: the event names another program than the key's.
    Forbidden,
    /// 404: the pair or person is not one of the key's program's.
    NotFound,
    /// 409: the `event_id` was accepted before with other content.
    Conflict,
    /// 413: the body is larger than 64 KiB.
    TooLarge,
    /// 415: the body is sent as something other than JSON.
    UnsupportedMediaType,
    /// 422: JSON, but not an event of the contract.
    InvalidEvent,
    /// 429: the key's events for this minute are used up.
    RateLimited,
    /// 503: the database cannot take the event now; nothing was accepted.
    Unavailable,
}

impl Kind {
    /// The HTTP status.
    pub fn status(self) -> StatusCode {
        match self {
            Kind::Unparseable => StatusCode::BAD_REQUEST,
            Kind::Unauthorized => StatusCode::UNAUTHORIZED,
            Kind::Forbidden => StatusCode::FORBIDDEN,
            Kind::NotFound => StatusCode::NOT_FOUND,
            Kind::Conflict => StatusCode::CONFLICT,
            Kind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Kind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Kind::InvalidEvent => StatusCode::UNPROCESSABLE_ENTITY,
            Kind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Kind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The `type` slug (the URI is `/api/v1/problems/<slug>`) and `title`.
    fn words(self) -> (&'static str, &'static str) {
        match self {
            Kind::Unparseable => ("unparseable", "The body is not JSON"),
            Kind::Unauthorized => ("unauthorized", "No valid API key"),
            Kind::Forbidden => ("forbidden", "The event names another program"),
            Kind::NotFound => ("not-found", "Not a pair or person of this key's program"),
            Kind::Conflict => ("conflict", "This event_id was accepted with other content"),
            Kind::TooLarge => ("too-large", "The body is larger than 65536 bytes"),
            Kind::UnsupportedMediaType => (
                "unsupported-media-type",
                "The body must be application/json",
            ),
            Kind::InvalidEvent => ("invalid-event", "Not an event of the contract"),
            Kind::RateLimited => ("rate-limited", "Too many events for this key"),
            Kind::Unavailable => ("unavailable", "Events cannot be accepted now"),
        }
    }

    /// The metrics label.
    pub fn label(self) -> &'static str {
        self.words().0
    }
}

/// One refusal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// What kind.
    pub kind: Kind,
    /// What is wrong, without the value sent.
    pub detail: String,
    /// The offending field's path, when one is.
    pub field: Option<String>,
    /// Seconds to wait (`Retry-After`), for 429 and 503.
    pub retry_after: Option<u32>,
}

#[derive(Serialize)]
struct Body<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    detail: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

impl Problem {
    /// A refusal of `kind` saying `detail`.
    pub fn new(kind: Kind, detail: impl Into<String>) -> Problem {
        Problem {
            kind,
            detail: detail.into(),
            field: None,
            retry_after: None,
        }
    }

    /// The same, naming the offending field.
    pub fn at(mut self, field: impl Into<String>) -> Problem {
        self.field = Some(field.into());
        self
    }

    /// The refusal of an event the contract does not take, with the same
    /// reason a dead letter carries (without its position in the text).
    pub fn invalid(e: &InvalidEvent) -> Problem {
        let detail = without_position(&e.to_string());
        let field = match e {
            InvalidEvent::Field { field, .. } => Some(field.clone()),
            InvalidEvent::Json(reason) => field_in(reason),
            InvalidEvent::UnknownRoutingKey(_) => Some("type".to_string()),
            _ => None,
        };
        Problem {
            kind: Kind::InvalidEvent,
            detail,
            field,
            retry_after: None,
        }
    }

    /// The same problem about the event at `prefix` (`event`, `events[2]`):
    /// its field's path is prefixed.
    pub fn within(mut self, prefix: &str) -> Problem {
        self.field = Some(match self.field {
            Some(f) => format!("{prefix}.{f}"),
            None => prefix.to_string(),
        });
        self
    }

    /// The JSON body.
    pub fn body(&self) -> String {
        let (slug, title) = self.kind.words();
        let body = Body {
            kind: format!("/api/v1/problems/{slug}"),
            title,
            status: self.kind.status().as_u16(),
            detail: &self.detail,
            field: self.field.as_deref(),
        };
        serde_json::to_string(&body).unwrap_or_default()
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let mut response = (self.kind.status(), self.body()).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.kind == Kind::Unauthorized {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// The field a JSON reason names (`field `mentor`: missing field `email``
/// is `mentor.email`; `missing field `mentee`` is `mentee`).
fn field_in(reason: &str) -> Option<String> {
    let named = |s: &str| -> Option<String> {
        ["missing field `", "unknown field `", "duplicate field `"]
            .iter()
            .find_map(|p| s.find(p).map(|i| &s[i + p.len()..]))
            .and_then(|rest| rest.split_once('`'))
            .map(|(name, _)| name.to_string())
    };
    let path = reason
        .split_once("field `")
        .filter(|(before, _)| {
            !before.ends_with("missing ")
                && !before.ends_with("unknown ")
                && !before.ends_with("duplicate ")
        })
        .and_then(|(_, rest)| rest.split_once("`: "));
    match path {
        Some((path, rest)) => match named(rest) {
            Some(name) if path != name && !path.ends_with(&format!(".{name}")) => {
                Some(format!("{path}.{name}"))
            }
            _ => Some(path.to_string()),
        },
        None => named(reason),
    }
}

/// serde's position (` (at line 1, column 80)`) counts in the text the
/// worker parsed, which is not the request's body: dropped.
fn without_position(reason: &str) -> String {
    match reason.rfind(" (at line ") {
        Some(i) => reason[..i].to_string(),
        None => reason.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use firstweek::event::Event;

    fn refusal(routing_key: &str, body: &str) -> Problem {
        let e = Event::parse(routing_key, None, body.as_bytes(), chrono::Utc::now()).unwrap_err();
        Problem::invalid(&e).within("event")
    }

    #[test]
    fn an_invalid_event_names_its_field_and_never_the_value_sent() {
        let started = r#"{"event_id":"e1","mentorship_id":"m1","started_at":"2026-01-01T00:00:00Z",
            "mentor":{"id":"a","name":"Ada","email":"ada@example.org","timezone":"Europe/Berlin"},
            "mentee":{"id":"b","name":"Bo","email":"ada@example.org","timezone":"Europe/Berlin"},
            "coordinator":{"name":"C","email":"c@example.org"}}"#;
        let p = refusal("mentorship.started", started);
        assert_eq!(p.kind.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(p.field.as_deref(), Some("event.mentee.email"));
        assert!(!p.body().contains("ada@example.org"), "{}", p.body());

        let missing = r#"{"event_id":"e1","mentorship_id":"m1","kind":"message","actor":"mentor"}"#;
        let p = refusal("interaction.recorded", missing);
        assert_eq!(p.field.as_deref(), Some("event.occurred_at"), "{p:?}");

        let mistyped = r#"{"event_id":"e1","mentorship_id":"m1","kind":"message","actor":"ada@example.org","occurred_at":"2026-01-01T00:00:00Z"}"#;
        let p = refusal("interaction.recorded", mistyped);
        assert_eq!(p.field.as_deref(), Some("event.actor"), "{p:?}");
        assert!(!p.body().contains("ada@example.org"), "{}", p.body());
        assert!(!p.detail.contains("(at line"), "{}", p.detail);
    }

    #[test]
    fn a_problem_is_rfc_9457_json_with_its_status() {
        let p = Problem::new(Kind::RateLimited, "wait").at("events[3]");
        let body: serde_json::Value = serde_json::from_str(&p.body()).unwrap();
        assert_eq!(body["type"], "/api/v1/problems/rate-limited");
        assert_eq!(body["status"], 429);
        assert_eq!(body["title"], "Too many events for this key");
        assert_eq!(body["detail"], "wait");
        assert_eq!(body["field"], "events[3]");
        let response = Problem {
            retry_after: Some(7),
            ..p
        }
        .into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "7");
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
        let unauthorized = Problem::new(Kind::Unauthorized, "no key").into_response();
        assert_eq!(unauthorized.headers()[header::WWW_AUTHENTICATE], "Bearer");
    }
}
