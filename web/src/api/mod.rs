//! The events API: programs `POST` the contract's events over HTTP
//! (`/api/v1/events`, one event; `/api/v1/events/batch`, several), with an
//! API key scoped to their program (`Authorization: Bearer fwk_…`).
//!
//! `202` means durable: the event is committed in `inbound_events` (by the
//! one database function the web may call for it,
//! `firstweek_web_accept_event`), from where the scheduler relays it to the
//! exchange with confirms and the workers' intake takes it as if it had
//! been published over AMQP. The web's role still writes no table and has
//! no broker link. Refusals are problem details ([`problem`]). Logs name
//! the key's id and the `event_id`, never the key or anything in the event.

mod envelope;
pub mod problem;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use firstweek::api_key::ApiKey;
use firstweek::event::MAX_BODY_BYTES;
use firstweek_store::{self as store, Acceptance};
use serde_json::json;

use crate::Shared;
use envelope::Offered;
use problem::{Kind, Problem};

/// `POST /api/v1/events`: one event.
pub async fn post_event(State(shared): State<Shared>, headers: HeaderMap, body: Body) -> Response {
    let answer = async {
        let key = key(&headers)?;
        let bytes = read(&headers, body).await?;
        let offered = envelope::single(&bytes, chrono::Utc::now())?;
        let verdicts = accept(&shared, &key, std::slice::from_ref(&offered), false).await?;
        Ok::<_, Problem>(accepted(&verdicts, false))
    };
    settle(answer.await)
}

/// `POST /api/v1/events/batch`: up to `FIRSTWEEK_API_MAX_BATCH` events, all
/// accepted in one transaction or none.
pub async fn post_batch(State(shared): State<Shared>, headers: HeaderMap, body: Body) -> Response {
    let answer = async {
        let key = key(&headers)?;
        let bytes = read(&headers, body).await?;
        let offered = envelope::batch(&bytes, shared.api.max_batch, chrono::Utc::now())?;
        let verdicts = accept(&shared, &key, &offered, true).await?;
        Ok::<_, Problem>(accepted(&verdicts, true))
    };
    settle(answer.await)
}

fn settle(answer: Result<Response, Problem>) -> Response {
    match answer {
        Ok(response) => response,
        Err(p) => {
            metrics::counter!("firstweek_api_requests_total", "result" => p.kind.label())
                .increment(1);
            p.into_response()
        }
    }
}

fn key(headers: &HeaderMap) -> Result<ApiKey, Problem> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| ApiKey::from_authorization(v).ok())
        .ok_or_else(|| Problem::new(Kind::Unauthorized, "send `Authorization: Bearer <API key>`"))
}

/// The body, at most [`MAX_BODY_BYTES`], sent as JSON.
async fn read(headers: &HeaderMap, body: Body) -> Result<Bytes, Problem> {
    if let Some(ct) = headers.get(header::CONTENT_TYPE) {
        let base = ct
            .to_str()
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim();
        if !base.eq_ignore_ascii_case("application/json") {
            return Err(Problem::new(
                Kind::UnsupportedMediaType,
                "send the body as application/json",
            ));
        }
    }
    let too_large = || {
        Problem::new(
            Kind::TooLarge,
            format!("a body is at most {MAX_BODY_BYTES} bytes"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES) {
        return Err(too_large());
    }
    axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| too_large())
}

/// What became of each event that was accepted (`accepted` or `repeat`).
struct Verdict {
    event_id: String,
    repeat: bool,
}

/// Offers the events in one transaction: all are accepted, or the first
/// refusal is answered and nothing is kept. `batch`: fields are named
/// `events[i].event.…`, else `event.…`.
async fn accept(
    shared: &Shared,
    key: &ApiKey,
    offered: &[Offered],
    batch: bool,
) -> Result<Vec<Verdict>, Problem> {
    let mut tx = shared.pool.begin().await.map_err(outage)?;
    let mut verdicts = Vec::with_capacity(offered.len());
    for (i, o) in offered.iter().enumerate() {
        let acceptance = store::accept_event(
            &mut tx,
            key,
            o.routing_key,
            &o.payload,
            &o.parsed,
            shared.api.rate_per_minute,
        )
        .await
        .map_err(outage)?;
        let (kind, key_id, field, detail) = match acceptance {
            Acceptance::Accepted { key_id } | Acceptance::Repeat { key_id } => {
                let repeat = matches!(acceptance, Acceptance::Repeat { .. });
                tracing::info!(key_id, event_id = %o.event_id, kind = o.routing_key, repeat, "event accepted");
                verdicts.push(Verdict {
                    event_id: o.event_id.clone(),
                    repeat,
                });
                continue;
            }
            Acceptance::UnknownKey => {
                return Err(Problem::new(
                    Kind::Unauthorized,
                    "the API key is unknown or revoked",
                ));
            }
            Acceptance::RateLimited {
                key_id,
                retry_after,
            } => {
                tracing::info!(key_id, event_id = %o.event_id, "rate limited");
                return Err(Problem {
                    retry_after: Some(retry_after),
                    ..Problem::new(
                        Kind::RateLimited,
                        format!(
                            "this key's events for this minute are used up; retry in {retry_after} s"
                        ),
                    )
                });
            }
            Acceptance::Conflict { key_id } => (
                Kind::Conflict,
                key_id,
                "event_id",
                "this event_id was accepted before with other content; a new event needs a new event_id",
            ),
            Acceptance::Forbidden { key_id } => (
                Kind::Forbidden,
                key_id,
                "program_id",
                "a mentorship.started must name this key's program as its program_id",
            ),
            Acceptance::NotFound { key_id } => (
                Kind::NotFound,
                key_id,
                if o.payload.get("mentorship_id").is_some() {
                    "mentorship_id"
                } else {
                    "person_id"
                },
                "no pair or person of this key's program has this id",
            ),
        };
        tracing::info!(key_id, event_id = %o.event_id, result = kind.label(), "event refused");
        let prefix = if batch {
            format!("events[{i}].event")
        } else {
            "event".to_string()
        };
        return Err(Problem::new(kind, detail).at(format!("{prefix}.{field}")));
    }
    tx.commit().await.map_err(outage)?;
    Ok(verdicts)
}

fn outage(e: impl std::fmt::Display) -> Problem {
    tracing::warn!(error = %e, "events API: the database did not take the events");
    Problem {
        retry_after: Some(5),
        ..Problem::new(
            Kind::Unavailable,
            "the events were not accepted; retry the same request",
        )
    }
}

fn accepted(verdicts: &[Verdict], batch: bool) -> Response {
    metrics::counter!("firstweek_api_requests_total", "result" => "accepted").increment(1);
    metrics::counter!("firstweek_api_events_accepted_total").increment(verdicts.len() as u64);
    let events: Vec<_> = verdicts
        .iter()
        .map(|v| json!({"event_id": v.event_id, "status": if v.repeat { "repeat" } else { "accepted" }}))
        .collect();
    let body = match events.as_slice() {
        [one] if !batch => one.clone(),
        _ => json!({ "events": events }),
    };
    (
        StatusCode::ACCEPTED,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}
