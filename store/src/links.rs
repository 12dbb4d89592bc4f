//! Link tokens at rest: issued, opened, used up, revoked. Only a token's
//! hash is stored (see [`firstweek::link`]).

use chrono::{DateTime, Utc};
use firstweek::link::{LinkToken, Purpose, TOKEN_BYTES};
use firstweek::pseudonym::PseudonymKey;
use firstweek::rule::Recipient;
use sqlx::{PgPool, Postgres, Transaction};

use crate::StoreError;

/// What a valid link is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// What it may do.
    pub purpose: Purpose,
    /// What it is about: a pair's id, or a coordinator's key.
    pub subject_id: String,
    /// Whose it is, for a link personal to one side of a pair.
    pub recipient: Option<Recipient>,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}

/// Why a link opens nothing. A token that was never issued and one issued
/// for another purpose look the same, so a link reveals nothing about others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// No such link (or not for this).
    Unknown,
    /// Past its expiry.
    Expired,
    /// Revoked.
    Revoked,
    /// Single-use, and used already.
    Used,
}

/// Issues a link for `purpose` about `subject_id`, valid until `expires_at`.
pub async fn issue_link(
    pool: &PgPool,
    purpose: Purpose,
    subject_id: &str,
    expires_at: DateTime<Utc>,
) -> Result<LinkToken, StoreError> {
    issue(pool, purpose, subject_id, None, expires_at).await
}

/// Issues a link personal to one side (`recipient`) of pair `mentorship_id`.
pub async fn issue_personal_link(
    pool: &PgPool,
    purpose: Purpose,
    mentorship_id: &str,
    recipient: Recipient,
    expires_at: DateTime<Utc>,
) -> Result<LinkToken, StoreError> {
    issue(pool, purpose, mentorship_id, Some(recipient), expires_at).await
}

async fn issue(
    pool: &PgPool,
    purpose: Purpose,
    subject_id: &str,
    recipient: Option<Recipient>,
    expires_at: DateTime<Utc>,
) -> Result<LinkToken, StoreError> {
    let mut bytes = [0u8; TOKEN_BYTES];
    getrandom::fill(&mut bytes).map_err(|e| StoreError::Randomness(e.to_string()))?;
    let token = LinkToken::from_random(bytes);
    sqlx::query(
        "INSERT INTO links (token_hash, purpose, subject_id, recipient, expires_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&token.hash()[..])
    .bind(purpose.as_str())
    .bind(subject_id)
    .bind(recipient.map(Recipient::as_str))
    .bind(expires_at)
    .execute(pool)
    .await?;
    Ok(token)
}

type Row = (
    String,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
    Option<String>,
);

/// A link as issued, whatever became of it: a page can say why it opens
/// nothing, and show what was done with it (an answer's, say).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    /// What it is about and until when.
    pub link: Link,
    /// When it was used (an answer given through it), if it was.
    pub used_at: Option<DateTime<Utc>>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl Issued {
    /// Whether it opens as of `now`, and if not why: revoked first (a
    /// revoked link says nothing more), then expired, then used.
    pub fn judge(&self, now: DateTime<Utc>) -> Result<(), Refused> {
        if self.revoked_at.is_some() {
            return Err(Refused::Revoked);
        }
        if self.link.expires_at <= now {
            return Err(Refused::Expired);
        }
        if self.used_at.is_some() {
            return Err(Refused::Used);
        }
        Ok(())
    }
}

/// The link issued for `purpose` with this token, whatever its state;
/// `None` when there is none (or not for this purpose).
pub async fn find_link(
    pool: &PgPool,
    token: &LinkToken,
    purpose: Purpose,
) -> Result<Option<Issued>, StoreError> {
    // Through the function firstweek-web's role may run (it reads no table of links).
    let row: Option<Row> = sqlx::query_as(
        "SELECT subject_id, expires_at, used_at, revoked_at, recipient FROM firstweek_web_link($1, $2)",
    )
    .bind(&token.hash()[..])
    .bind(purpose.as_str())
    .fetch_optional(pool)
    .await?;
    Ok(row.map(
        |(subject_id, expires_at, used_at, revoked_at, recipient)| Issued {
            link: Link {
                purpose,
                subject_id,
                recipient: recipient.as_deref().and_then(Recipient::parse),
                expires_at,
            },
            used_at,
            revoked_at,
        },
    ))
}

/// Opens a link for `purpose` without using it up (a page that is only shown).
pub async fn open_link(
    pool: &PgPool,
    token: &LinkToken,
    purpose: Purpose,
) -> Result<Result<Link, Refused>, StoreError> {
    Ok(match find_link(pool, token, purpose).await? {
        None => Err(Refused::Unknown),
        Some(issued) => issued.judge(Utc::now()).map(|()| issued.link),
    })
}

/// Uses a single-use link up: it answers `Ok` once, however often (and
/// however concurrently) it is submitted.
pub async fn use_link(
    pool: &PgPool,
    token: &LinkToken,
    purpose: Purpose,
) -> Result<Result<Link, Refused>, StoreError> {
    let used: Option<(String, DateTime<Utc>, Option<String>)> = sqlx::query_as(
        "UPDATE links SET used_at = now()
         WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > now()
         RETURNING subject_id, expires_at, recipient",
    )
    .bind(&token.hash()[..])
    .bind(purpose.as_str())
    .fetch_optional(pool)
    .await?;
    if let Some((subject_id, expires_at, recipient)) = used {
        return Ok(Ok(Link {
            purpose,
            subject_id,
            recipient: recipient.as_deref().and_then(Recipient::parse),
            expires_at,
        }));
    }
    // Not usable: say why.
    Ok(open_link(pool, token, purpose)
        .await?
        .and(Err(Refused::Used)))
}

/// Revokes every link for `purpose` about `subject_id`; returns how many.
pub async fn revoke_links(
    pool: &PgPool,
    subject_id: &str,
    purpose: Purpose,
) -> Result<u64, StoreError> {
    Ok(sqlx::query(
        "UPDATE links SET revoked_at = now() WHERE subject_id = $1 AND purpose = $2 AND revoked_at IS NULL",
    )
    .bind(subject_id)
    .bind(purpose.as_str())
    .execute(pool)
    .await?
    .rows_affected())
}

/// The purposes of the links personal to a mentor or mentee.
const PERSONAL: [Purpose; 3] = [
    Purpose::AnswerInTouch,
    Purpose::AnswerPlan,
    Purpose::Unsubscribe,
];

fn names(purposes: &[Purpose]) -> Vec<&'static str> {
    purposes.iter().map(|p| p.as_str()).collect()
}

/// Revokes every link about pair `mentorship_id` (its acknowledge links and
/// its mentor's and mentee's links); returns how many.
pub async fn revoke_links_of_pair(pool: &PgPool, mentorship_id: &str) -> Result<u64, StoreError> {
    Ok(sqlx::query(
        "UPDATE links SET revoked_at = now() WHERE subject_id = $1 AND purpose <> $2 AND revoked_at IS NULL",
    )
    .bind(mentorship_id)
    .bind(Purpose::CoordinatorPage.as_str())
    .execute(pool)
    .await?
    .rows_affected())
}

/// Revokes the links personal to mentor or mentee `person_id`, in every
/// pair they are part of; returns how many.
pub async fn revoke_links_of_person(pool: &PgPool, person_id: &str) -> Result<u64, StoreError> {
    Ok(sqlx::query(
        "UPDATE links l SET revoked_at = now() FROM mentorships m
         WHERE l.subject_id = m.id AND l.purpose = ANY($2) AND l.revoked_at IS NULL
           AND l.recipient IN ('mentor', 'mentee') AND m.people -> l.recipient ->> 'id' = $1",
    )
    .bind(person_id)
    .bind(names(&PERSONAL))
    .execute(pool)
    .await?
    .rows_affected())
}

/// Revokes a coordinator's links, named by address or by their key
/// (`coordinator-…`): their page links (a forwarded digest opens nothing
/// more) and the acknowledge links of the escalations filed under them;
/// returns how many.
pub async fn revoke_links_of_coordinator(
    pool: &PgPool,
    coordinator: &str,
    key: &PseudonymKey,
) -> Result<u64, StoreError> {
    let coordinator = coordinator.trim();
    let coordinator_key = if coordinator.contains('@') {
        key.coordinator(coordinator)
    } else {
        coordinator.to_string()
    };
    Ok(sqlx::query(
        "UPDATE links l SET revoked_at = now()
         WHERE l.revoked_at IS NULL
           AND ((l.purpose = $2 AND l.subject_id = $1)
                OR (l.purpose = $3 AND l.subject_id IN (SELECT e.mentorship_id FROM escalations e
                                                         WHERE e.coordinator_key = $1)))",
    )
    .bind(coordinator_key)
    .bind(Purpose::CoordinatorPage.as_str())
    .bind(Purpose::Acknowledge.as_str())
    .execute(pool)
    .await?
    .rows_affected())
}

/// On a correction that hands pair `mentorship_id` to another coordinator
/// (in intake's transaction): its escalation is filed under the new one,
/// and the acknowledge links the old one was sent open nothing more.
pub(crate) async fn reassign_in(
    tx: &mut Transaction<'_, Postgres>,
    mentorship_id: &str,
    new_coordinator_key: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE escalations SET coordinator_key = $2
         WHERE mentorship_id = $1 AND coordinator_key <> $2",
    )
    .bind(mentorship_id)
    .bind(new_coordinator_key)
    .execute(&mut **tx)
    .await?;
    revoke_in(tx, &[mentorship_id.to_string()], &[Purpose::Acknowledge]).await
}

/// When pair `mentorship_id` ends (in intake's transaction): its answer
/// links no longer serve. Unsubscribe links keep working.
pub(crate) async fn revoke_ended_in(
    tx: &mut Transaction<'_, Postgres>,
    mentorship_id: &str,
) -> Result<(), StoreError> {
    revoke_in(
        tx,
        &[mentorship_id.to_string()],
        &[Purpose::AnswerInTouch, Purpose::AnswerPlan],
    )
    .await
}

/// On an erasure (in its transaction): every link about the pairs naming
/// the person, and, when an address was erased, the page links of the
/// coordinator it was (by their key).
pub(crate) async fn revoke_links_of_erased(
    tx: &mut Transaction<'_, Postgres>,
    pairs: &[String],
    coordinator_key: Option<String>,
) -> Result<(), StoreError> {
    revoke_in(
        tx,
        pairs,
        &[
            Purpose::Acknowledge,
            Purpose::AnswerInTouch,
            Purpose::AnswerPlan,
            Purpose::Unsubscribe,
        ],
    )
    .await?;
    if let Some(coordinator_key) = coordinator_key {
        sqlx::query(
            "UPDATE links SET revoked_at = now()
             WHERE purpose = $2 AND subject_id = $1 AND revoked_at IS NULL",
        )
        .bind(coordinator_key)
        .bind(Purpose::CoordinatorPage.as_str())
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

async fn revoke_in(
    tx: &mut Transaction<'_, Postgres>,
    subjects: &[String],
    purposes: &[Purpose],
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE links SET revoked_at = now()
         WHERE subject_id = ANY($1) AND purpose = ANY($2) AND revoked_at IS NULL",
    )
    .bind(subjects)
    .bind(names(purposes))
    .execute(&mut **tx)
    .await?;
    Ok(())
}
