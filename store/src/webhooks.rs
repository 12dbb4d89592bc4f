//! Signed webhooks out: a program's endpoints (registered with the CLI),
//! the fan-out of each announcement to the endpoints subscribed to it, and
//! the deliveries a dispatcher claims, posts and records. At least once: a
//! delivery is unique per (endpoint, event), claimed with a lease, and its
//! end is fenced by its attempt number.

use chrono::{DateTime, Duration, Utc};
use sqlx::PgPool;

use crate::StoreError;
use crate::status::{EndpointState, WebhookStatus};

/// An endpoint as an operator sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    /// Its id (`firstweek webhook deliveries --endpoint ID`).
    pub id: i64,
    /// The program whose events it receives.
    pub program_id: String,
    /// Where they are posted.
    pub url: String,
    /// The routing keys it receives.
    pub events: Vec<String>,
    /// Active, failing or removed.
    pub state: EndpointState,
    /// Since when it has been failing.
    pub failing_since: Option<DateTime<Utc>>,
    /// Deliveries waiting for their next try.
    pub pending: i64,
    /// Deliveries that used up their retries.
    pub failed: i64,
}

/// Registers an endpoint; answers its id. `secret` is `whsec_<base64>`.
pub async fn add_endpoint(
    pool: &PgPool,
    program_id: &str,
    url: &str,
    events: &[String],
    secret: &str,
) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(
        "INSERT INTO webhook_endpoints (program_id, url, events, secret, state)
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(program_id)
    .bind(url)
    .bind(events)
    .bind(secret)
    .bind(EndpointState::Active)
    .fetch_one(pool)
    .await?)
}

/// Every endpoint not removed, with its delivery counts.
pub async fn endpoints(pool: &PgPool) -> Result<Vec<Endpoint>, StoreError> {
    type Row = (
        i64,
        String,
        String,
        Vec<String>,
        EndpointState,
        Option<DateTime<Utc>>,
        i64,
        i64,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT e.id, e.program_id, e.url, e.events, e.state, e.failing_since,
                (SELECT count(*) FROM webhook_deliveries d WHERE d.endpoint_id = e.id AND d.status = $2),
                (SELECT count(*) FROM webhook_deliveries d WHERE d.endpoint_id = e.id AND d.status = $3)
         FROM webhook_endpoints e WHERE e.state <> $1 ORDER BY e.id",
    )
    .bind(EndpointState::Removed)
    .bind(WebhookStatus::Pending)
    .bind(WebhookStatus::Failed)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(id, program_id, url, events, state, failing_since, pending, failed)| Endpoint {
                id,
                program_id,
                url,
                events,
                state,
                failing_since,
                pending,
                failed,
            },
        )
        .collect())
}

/// Removes an endpoint: nothing more is posted to it, its pending
/// deliveries are recorded failed. `false`: no such endpoint.
pub async fn remove_endpoint(pool: &PgPool, id: i64) -> Result<bool, StoreError> {
    let removed: i64 = sqlx::query_scalar(
        "WITH e AS (
             UPDATE webhook_endpoints SET state = $2 WHERE id = $1 AND state <> $2 RETURNING id
         ), d AS (
             UPDATE webhook_deliveries SET status = $4, finished_at = now(), next_at = NULL,
                    last_error = 'the endpoint was removed'
             WHERE endpoint_id IN (SELECT id FROM e) AND status = $3
         )
         SELECT count(*) FROM e",
    )
    .bind(id)
    .bind(EndpointState::Removed)
    .bind(WebhookStatus::Pending)
    .bind(WebhookStatus::Failed)
    .fetch_one(pool)
    .await?;
    Ok(removed == 1)
}

/// Fans up to `limit` announcements out to the endpoints subscribed to
/// them: their program's (the event's `program_id`; for a
/// `participant.unsubscribed`, the programs of the person's pairs), for
/// their routing key, registered before the event was written. Several
/// dispatchers skip each other's rows; a delivery already there is not
/// added again. Answers (announcements fanned out, deliveries added).
pub async fn fan_out(pool: &PgPool, limit: i64) -> Result<(i64, i64), StoreError> {
    Ok(sqlx::query_as(
        "WITH batch AS (
             SELECT id, event_id, routing_key, payload, created_at FROM outbox
             WHERE webhooks_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED
         ), programs AS (
             SELECT b.id, b.payload ->> 'program_id' AS program_id FROM batch b
             WHERE b.payload ? 'program_id'
             UNION
             SELECT b.id, m.program_id FROM batch b JOIN mentorships m
               ON b.routing_key = $2 AND m.program_id IS NOT NULL
              AND b.payload ->> 'person_id' IN (m.people -> 'mentor' ->> 'id', m.people -> 'mentee' ->> 'id')
         ), added AS (
             INSERT INTO webhook_deliveries (endpoint_id, event_id, event_type, body, status, next_at)
             SELECT e.id, b.event_id, b.routing_key, b.payload::text, $4, now()
             FROM batch b JOIN programs p ON p.id = b.id
             JOIN webhook_endpoints e ON e.program_id = p.program_id AND e.state <> $3
              AND b.routing_key = ANY (e.events) AND e.created_at <= b.created_at
             ON CONFLICT (endpoint_id, event_id) DO NOTHING
             RETURNING 1
         ), done AS (
             UPDATE outbox o SET webhooks_at = now() FROM batch b WHERE o.id = b.id RETURNING 1
         )
         SELECT (SELECT count(*) FROM done), (SELECT count(*) FROM added)",
    )
    .bind(limit)
    .bind(firstweek::event::PARTICIPANT_UNSUBSCRIBED)
    .bind(EndpointState::Removed)
    .bind(WebhookStatus::Pending)
    .fetch_one(pool)
    .await?)
}

/// A delivery a dispatcher has claimed.
#[derive(Clone)]
pub struct ClaimedWebhook {
    /// The delivery (its `webhook-id` is `msg_<id>`).
    pub id: i64,
    /// The endpoint.
    pub endpoint_id: i64,
    /// Where to post it.
    pub url: String,
    /// The endpoint's signing secret, `whsec_<base64>` (never printed).
    pub secret: String,
    /// The body: the event as the exchange carries it.
    pub body: String,
    /// This claim's attempt number (1 for the first try), named when recording.
    pub attempt: i32,
}

impl ClaimedWebhook {
    /// Its `webhook-id`: the same on every retry and replay.
    pub fn message_id(&self) -> String {
        message_id(self.id)
    }
}

/// The `webhook-id` of delivery `id`.
pub fn message_id(id: i64) -> String {
    format!("msg_{id}")
}

// The secret is never printed, not even in debug output.
impl std::fmt::Debug for ClaimedWebhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClaimedWebhook")
            .field("id", &self.id)
            .field("endpoint_id", &self.endpoint_id)
            .field("attempt", &self.attempt)
            .finish_non_exhaustive()
    }
}

/// Claims up to `limit` due deliveries for `lease`, oldest first, at most
/// `per_endpoint` in flight per endpoint (counting claims held by other
/// dispatchers), so one slow endpoint holds at most that many. Each
/// endpoint's due deliveries are looked up by their own index, so the
/// backlog of one (a receiver that is down) costs the others no scan.
pub async fn claim_webhooks(
    pool: &PgPool,
    limit: i64,
    per_endpoint: i64,
    lease: Duration,
) -> Result<Vec<ClaimedWebhook>, StoreError> {
    type Row = (i64, i64, String, String, String, i32);
    let rows: Vec<Row> = sqlx::query_as(
        "WITH pick AS (
             SELECT d.id, d.next_at FROM webhook_endpoints e
             CROSS JOIN LATERAL (
                 SELECT x.id, x.next_at FROM webhook_deliveries x
                 WHERE x.endpoint_id = e.id AND x.status = $4 AND x.next_at <= now()
                   AND (x.claimed_until IS NULL OR x.claimed_until <= now())
                 ORDER BY x.next_at, x.id
                 LIMIT greatest(0, $2 - (SELECT count(*) FROM webhook_deliveries y
                                         WHERE y.endpoint_id = e.id AND y.status = $4
                                           AND y.claimed_until > now()))
             ) d
             WHERE e.state <> $5
             ORDER BY d.next_at, d.id LIMIT $1
         ), locked AS (
             SELECT id FROM webhook_deliveries WHERE id IN (SELECT id FROM pick)
             FOR UPDATE SKIP LOCKED
         )
         UPDATE webhook_deliveries d SET claimed_until = now() + $3, attempts = d.attempts + 1
         FROM locked, webhook_endpoints e
         WHERE d.id = locked.id AND e.id = d.endpoint_id AND e.state <> $5 AND d.status = $4
           AND (d.claimed_until IS NULL OR d.claimed_until <= now())
         RETURNING d.id, d.endpoint_id, e.url, e.secret, d.body, d.attempts",
    )
    .bind(limit)
    .bind(per_endpoint)
    .bind(lease)
    .bind(WebhookStatus::Pending)
    .bind(EndpointState::Removed)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(id, endpoint_id, url, secret, body, attempt)| ClaimedWebhook {
                id,
                endpoint_id,
                url,
                secret,
                body,
                attempt,
            },
        )
        .collect())
}

/// What became of one attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum Attempted {
    /// The endpoint answered 2xx: delivered (and the endpoint active again).
    Delivered {
        /// Its status code.
        status: u16,
    },
    /// Not delivered; tried again after `after`.
    Retry {
        /// How long until the next try.
        after: Duration,
        /// The status code, if it answered.
        status: Option<u16>,
        /// What went wrong, in words (no body).
        error: String,
    },
    /// Not delivered and no retry left: failed, and the endpoint failing.
    GaveUp {
        /// The status code, if it answered.
        status: Option<u16>,
        /// What went wrong, in words (no body).
        error: String,
    },
}

/// Records an attempt of a claimed delivery; `false` when the claim was no
/// longer the holder's (its lease ran out and another took it; nothing changed).
pub async fn record_webhook(
    pool: &PgPool,
    claim: &ClaimedWebhook,
    attempted: &Attempted,
) -> Result<bool, StoreError> {
    let (status, next_in, code, error) = match attempted {
        Attempted::Delivered { status } => (WebhookStatus::Delivered, None, Some(*status), None),
        Attempted::Retry {
            after,
            status,
            error,
        } => (WebhookStatus::Pending, Some(*after), *status, Some(error)),
        Attempted::GaveUp { status, error } => (WebhookStatus::Failed, None, *status, Some(error)),
    };
    let recorded: i64 = sqlx::query_scalar(
        "WITH d AS (
             UPDATE webhook_deliveries SET status = $3, claimed_until = NULL,
                    next_at = now() + $4, last_status = $5, last_error = $6,
                    finished_at = CASE WHEN $3 = $7 THEN NULL ELSE now() END
             WHERE id = $1 AND attempts = $2 AND status = $7
             RETURNING endpoint_id
         ), e AS (
             UPDATE webhook_endpoints e
             SET state = CASE WHEN $3 = $8 THEN $10 ELSE $11 END,
                 failing_since = CASE WHEN $3 = $8 THEN coalesce(e.failing_since, now()) ELSE NULL END
             FROM d WHERE e.id = d.endpoint_id AND e.state <> $9 AND $3 <> $7
         )
         SELECT count(*) FROM d",
    )
    .bind(claim.id)
    .bind(claim.attempt)
    .bind(status)
    .bind(next_in)
    .bind(code.map(i32::from))
    .bind(error)
    .bind(WebhookStatus::Pending)
    .bind(WebhookStatus::Failed)
    .bind(EndpointState::Removed)
    .bind(EndpointState::Failing)
    .bind(EndpointState::Active)
    .fetch_one(pool)
    .await?;
    Ok(recorded == 1)
}

/// How many endpoints are failing (the gauge's value).
pub async fn failing_endpoints(pool: &PgPool) -> Result<i64, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT count(*) FROM webhook_endpoints WHERE state = $1")
            .bind(EndpointState::Failing)
            .fetch_one(pool)
            .await?,
    )
}

/// Sends a delivery again from the start of its retry schedule, with the
/// same `webhook-id` (receivers deduplicate on it, so a replay of one they
/// took is ignored by a receiver that deduplicates). `false`: no such
/// delivery, or its endpoint was removed.
pub async fn replay_webhook(pool: &PgPool, id: i64) -> Result<bool, StoreError> {
    let replayed = sqlx::query(
        "UPDATE webhook_deliveries d SET status = $2, next_at = now(), finished_at = NULL,
                attempts = CASE WHEN d.status = $2 THEN d.attempts ELSE 0 END
         FROM webhook_endpoints e
         WHERE d.id = $1 AND e.id = d.endpoint_id AND e.state <> $3",
    )
    .bind(id)
    .bind(WebhookStatus::Pending)
    .bind(EndpointState::Removed)
    .execute(pool)
    .await?
    .rows_affected();
    Ok(replayed == 1)
}

/// One delivery as an operator sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookDelivery {
    /// Its id (`firstweek webhook replay ID`); its `webhook-id` is `msg_<id>`.
    pub id: i64,
    /// The endpoint.
    pub endpoint_id: i64,
    /// The event's routing key.
    pub event_type: String,
    /// The event's id.
    pub event_id: String,
    /// Pending, delivered or failed.
    pub status: WebhookStatus,
    /// Tries so far.
    pub attempts: i32,
    /// When the next try is due (pending only).
    pub next_at: Option<DateTime<Utc>>,
    /// The last try's status code, if it answered.
    pub last_status: Option<i32>,
    /// The last try's failure, in words.
    pub last_error: Option<String>,
    /// When it was added.
    pub created_at: DateTime<Utc>,
}

/// The latest `limit` deliveries, of one endpoint and in one state if asked.
pub async fn webhook_deliveries(
    pool: &PgPool,
    endpoint: Option<i64>,
    status: Option<WebhookStatus>,
    limit: i64,
) -> Result<Vec<WebhookDelivery>, StoreError> {
    type Row = (
        i64,
        i64,
        String,
        String,
        WebhookStatus,
        i32,
        Option<DateTime<Utc>>,
        Option<i32>,
        Option<String>,
        DateTime<Utc>,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, endpoint_id, event_type, event_id, status, attempts, next_at,
                last_status, last_error, created_at
         FROM webhook_deliveries
         WHERE ($1::int8 IS NULL OR endpoint_id = $1) AND ($2::text IS NULL OR status = $2)
         ORDER BY id DESC LIMIT $3",
    )
    .bind(endpoint)
    .bind(status)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| WebhookDelivery {
            id: r.0,
            endpoint_id: r.1,
            event_type: r.2,
            event_id: r.3,
            status: r.4,
            attempts: r.5,
            next_at: r.6,
            last_status: r.7,
            last_error: r.8,
            created_at: r.9,
        })
        .collect())
}
