//! What `firstweek-web` changes, each through one database function keyed by
//! the link token's hash (migration `web_functions`): the function checks
//! the link and that what it names is still the link holder's, then does the
//! one thing that link allows. The web's role holds no write on any table.
//!
//! The announcement's payload is built here, by the domain's rules, from
//! what the page read; the function sets its identity fields (event id,
//! pair, coordinator, person, side) itself, so a caller cannot announce
//! about anything its link does not cover.

use chrono::{DateTime, Utc};
use firstweek::event::{Event, InteractionRecorded, ParticipantUnsubscribed};
use firstweek::link::LinkToken;
use sqlx::PgPool;

use crate::StoreError;

/// What a link's action found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acted {
    /// Done now.
    Done,
    /// Already so (acknowledged, resolved, answered, unsubscribed): nothing changed.
    Already,
    /// The link covers no such pair (another coordinator's, or no escalation).
    NotFound,
    /// The link is not live (unknown, revoked, expired, or not for this).
    Refused,
}

impl Acted {
    fn parse(word: &str, what: &str) -> Result<Acted, StoreError> {
        match word {
            "done" => Ok(Acted::Done),
            "already" => Ok(Acted::Already),
            "not_found" => Ok(Acted::NotFound),
            "refused" => Ok(Acted::Refused),
            other => Err(StoreError::Corrupt(
                what.to_string(),
                format!("database function answered {other:?}"),
            )),
        }
    }
}

/// The two things a link may do to an escalation.
#[derive(Debug, Clone, Copy)]
enum EscalationAct {
    Acknowledge,
    Resolve,
}

async fn escalation_action(
    pool: &PgPool,
    act: EscalationAct,
    token: &LinkToken,
    mentorship_id: &str,
    at: DateTime<Utc>,
    payload: &serde_json::Value,
) -> Result<Acted, StoreError> {
    let sql = match act {
        EscalationAct::Acknowledge => "SELECT firstweek_web_acknowledge($1, $2, $3, $4::jsonb)",
        EscalationAct::Resolve => "SELECT firstweek_web_resolve($1, $2, $3, $4::jsonb)",
    };
    let word: String = sqlx::query_scalar(sql)
        .bind(&token.hash()[..])
        .bind(mentorship_id)
        .bind(at)
        .bind(payload.to_string())
        .fetch_one(pool)
        .await?;
    Acted::parse(&word, mentorship_id)
}

/// Acknowledges the pair's escalation with an acknowledge link or a
/// coordinator page link (`via` follows from the link), dated `at` (now),
/// announcing `payload` (`escalation.acknowledged` as the domain builds it).
pub async fn web_acknowledge(
    pool: &PgPool,
    token: &LinkToken,
    mentorship_id: &str,
    at: DateTime<Utc>,
    payload: &serde_json::Value,
) -> Result<Acted, StoreError> {
    escalation_action(
        pool,
        EscalationAct::Acknowledge,
        token,
        mentorship_id,
        at,
        payload,
    )
    .await
}

/// Closes the pair's escalation with a coordinator page link, dated `at`
/// (now), announcing `payload` (`escalation.resolved`).
pub async fn web_resolve(
    pool: &PgPool,
    token: &LinkToken,
    mentorship_id: &str,
    at: DateTime<Utc>,
    payload: &serde_json::Value,
) -> Result<Acted, StoreError> {
    escalation_action(
        pool,
        EscalationAct::Resolve,
        token,
        mentorship_id,
        at,
        payload,
    )
    .await
}

/// Queues the interaction an answer link records (once per link).
pub async fn web_answer(
    pool: &PgPool,
    token: &LinkToken,
    answer: &InteractionRecorded,
) -> Result<Acted, StoreError> {
    let payload = Event::Interaction(answer.clone()).announcement().payload;
    let word: String = sqlx::query_scalar("SELECT firstweek_web_answer($1, $2::jsonb)")
        .bind(&token.hash()[..])
        .bind(payload.to_string())
        .fetch_one(pool)
        .await?;
    Acted::parse(&word, &answer.mentorship_id)
}

/// Unsubscribes the person an unsubscribe link is personal to, announcing
/// `participant.unsubscribed` the first time.
pub async fn web_unsubscribe(
    pool: &PgPool,
    token: &LinkToken,
    event: &ParticipantUnsubscribed,
) -> Result<Acted, StoreError> {
    let payload = Event::Unsubscribed(event.clone()).announcement().payload;
    let word: String = sqlx::query_scalar("SELECT firstweek_web_unsubscribe($1, $2, $3::jsonb)")
        .bind(&token.hash()[..])
        .bind(event.unsubscribed_at)
        .bind(payload.to_string())
        .fetch_one(pool)
        .await?;
    Acted::parse(&word, "an unsubscribe link")
}
