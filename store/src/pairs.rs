//! Reading a pair back: its start event, its ending, its interaction ledger.
//! Interaction rows are decoded here and nowhere else.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use chrono::{DateTime, Utc};
use firstweek::decision::Pair;
use firstweek::event::{Actor, InteractionKind, MentorshipStarted};
use firstweek::interaction::Interaction;
use firstweek::playbook::{MAX_MIN_INTERACTIONS, Playbook};
use firstweek::rule::Recipient;
use sqlx::{Postgres, Row};

use crate::StoreError;

/// A stored pair: its start event and, if it ended, when.
#[derive(Debug, Clone)]
pub struct PairRecord {
    /// The `mentorship.started` event, as validated and stored.
    pub started: MentorshipStarted,
    /// When it ended, if an ending was recorded.
    pub ended_at: Option<DateTime<Utc>>,
    /// Its mentor and/or mentee, if they unsubscribed.
    pub unsubscribed: Vec<Recipient>,
    /// The playbook it started with (`None`: from before pinning).
    pub playbook: Option<Arc<Playbook>>,
    /// Its sides whose person was erased (they carry an erasure's placeholder).
    pub erased: Vec<Recipient>,
    /// The steps it is held out of (table `holdouts`, drawn when it started).
    pub held_out: Vec<String>,
}

impl PairRecord {
    /// The pair as the domain's decisions take it.
    pub fn with_ledger<'a>(&'a self, ledger: &'a [Interaction]) -> Pair<'a> {
        Pair {
            started: &self.started,
            ended_at: self.ended_at,
            ledger,
            unsubscribed: &self.unsubscribed,
            playbook: self.playbook.as_deref(),
            erased: &self.erased,
            held_out: &self.held_out,
        }
    }
}

/// A stored pair with its interaction ledger.
#[derive(Debug, Clone)]
pub struct StoredPair {
    /// The pair.
    pub record: PairRecord,
    /// Its interactions, by time.
    pub ledger: Vec<Interaction>,
}

impl StoredPair {
    /// The pair as the domain's decisions take it.
    pub fn view(&self) -> Pair<'_> {
        self.record.with_ledger(&self.ledger)
    }

    /// The pair's id.
    pub fn id(&self) -> &str {
        &self.record.started.mentorship_id
    }
}

/// Decodes the stored `people` column of a pair.
pub(crate) fn started_of(
    id: &str,
    people: serde_json::Value,
) -> Result<MentorshipStarted, StoreError> {
    // serde's own message would quote a name or an address into the log.
    serde_json::from_value(people)
        .map_err(|e| StoreError::Corrupt(id.to_string(), firstweek::event::json::problem(&e)))
}

/// The sides of a pair whose person unsubscribed (mentor, mentee), as a
/// column `unsubscribed`, and those whose person was erased (any side: it
/// carries an erasure's placeholder), as a column `erased` (a macro, so
/// queries stay static strings).
macro_rules! unsubscribed_column {
    () => {
        "ARRAY(SELECT v.side FROM (VALUES ('mentor', people -> 'mentor' ->> 'id'), ('mentee', people -> 'mentee' ->> 'id')) AS v(side, person)
               WHERE EXISTS (SELECT 1 FROM unsubscribed u WHERE u.person_id = v.person)) AS unsubscribed,
         playbook_version,
         (SELECT pb.source FROM playbooks pb WHERE pb.version = playbook_version) AS playbook_source,
         ARRAY(SELECT v.side FROM (VALUES ('mentor', people -> 'mentor' ->> 'id'), ('mentee', people -> 'mentee' ->> 'id'),
                                          ('coordinator', people -> 'coordinator' ->> 'email')) AS v(side, person)
               WHERE EXISTS (SELECT 1 FROM erasures e WHERE e.placeholder_id = v.person OR e.placeholder_email = v.person)) AS erased,
         ARRAY(SELECT h.step_id FROM holdouts h WHERE h.mentorship_id = id AND h.held_out ORDER BY h.step_id) AS held_out"
    };
}
pub(crate) use unsubscribed_column;

/// Decodes a pair from a row with `people`, `ended_at`, `unsubscribed` and `erased`.
pub(crate) fn record_of(id: &str, row: &sqlx::postgres::PgRow) -> Result<PairRecord, StoreError> {
    let sides = |column: &str| -> Result<Vec<Recipient>, StoreError> {
        let names: Vec<String> = row.try_get(column)?;
        Ok(names.iter().filter_map(|s| Recipient::parse(s)).collect())
    };
    let version: Option<String> = row.try_get("playbook_version")?;
    let source: Option<String> = row.try_get("playbook_source")?;
    let playbook = match (version, source) {
        (Some(version), Some(source)) => Some(pinned(id, &version, &source)?),
        _ => None,
    };
    Ok(PairRecord {
        started: started_of(id, row.try_get("people")?)?,
        ended_at: row.try_get("ended_at")?,
        unsubscribed: sides("unsubscribed")?,
        erased: sides("erased")?,
        held_out: row.try_get("held_out")?,
        playbook,
    })
}

/// A pinned playbook, parsed once per process: a version's text never
/// changes (it is its digest), so the cache can never be stale.
fn pinned(id: &str, version: &str, source: &str) -> Result<Arc<Playbook>, StoreError> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<Playbook>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(p) = cache.lock().ok().and_then(|c| c.get(version).cloned()) {
        return Ok(p);
    }
    let parsed = Playbook::parse(&format!("pinned playbook {version}"), source)
        .map_err(|e| StoreError::Corrupt(id.to_string(), e.to_string()))?;
    let parsed = Arc::new(parsed);
    if let Ok(mut c) = cache.lock() {
        c.insert(version.to_string(), parsed.clone());
    }
    Ok(parsed)
}

/// A stored pair by id.
pub async fn mentorship<'e, E>(db: E, id: &str) -> Result<Option<PairRecord>, StoreError>
where
    E: sqlx::Executor<'e, Database = Postgres>,
{
    let sql = concat!(
        "SELECT people, ended_at, ",
        unsubscribed_column!(),
        " FROM mentorships WHERE id = $1"
    );
    let row = sqlx::query(sql).bind(id).fetch_optional(db).await?;
    let Some(row) = row else { return Ok(None) };
    record_of(id, &row).map(Some)
}

/// Stored pairs by id (absent ids are left out).
pub(crate) async fn mentorships<'e, E>(
    db: E,
    ids: &[&str],
) -> Result<HashMap<String, PairRecord>, StoreError>
where
    E: sqlx::Executor<'e, Database = Postgres>,
{
    let mut pairs = HashMap::with_capacity(ids.len());
    let sql = concat!(
        "SELECT id, people, ended_at, ",
        unsubscribed_column!(),
        " FROM mentorships WHERE id = ANY($1)"
    );
    for row in sqlx::query(sql).bind(ids).fetch_all(db).await? {
        let id: String = row.try_get("id")?;
        let record = record_of(&id, &row)?;
        pairs.insert(id, record);
    }
    Ok(pairs)
}

/// The pair's whole interaction ledger.
pub async fn interactions<'e, E>(db: E, mentorship_id: &str) -> Result<Vec<Interaction>, StoreError>
where
    E: sqlx::Executor<'e, Database = Postgres>,
{
    Ok(ledgers(db, &[mentorship_id])
        .await?
        .remove(mentorship_id)
        .unwrap_or_default())
}

/// Of each kind and side of a pair, the earliest this many interactions are
/// loaded: all any condition can count to ([`MAX_MIN_INTERACTIONS`]).
pub const KEEP_PER_KIND_AND_SIDE: u32 = MAX_MIN_INTERACTIONS;

/// The interaction ledgers of these pairs, each by time (pairs without interactions are absent).
///
/// Bounded, so one noisy pair cannot exhaust a worker, and no decision
/// changes: a condition asks whether a side or a kind occurred by a moment
/// (the earliest of each is kept), or whether fewer than `min_interactions`
/// did (the earliest [`KEEP_PER_KIND_AND_SIDE`] of each kind and side are
/// kept, so up to any moment the count is exact or at least the most a
/// playbook can ask for); the pacing tip needs the earliest session of each
/// length (lengths are at most a day's minutes, so that is bounded too).
/// Interactions before a stored pair's start never count and are left out.
/// What the cap does change, for a pair past it only: the counts shown as
/// evidence stop at the cap and "last activity" is the latest one kept.
pub async fn ledgers<'e, E>(
    db: E,
    ids: &[&str],
) -> Result<HashMap<String, Vec<Interaction>>, StoreError>
where
    E: sqlx::Executor<'e, Database = Postgres>,
{
    let rows = sqlx::query(
        "SELECT mentorship_id, kind, actor, occurred_at, duration_minutes FROM (
             SELECT i.*,
                    row_number() OVER (PARTITION BY i.mentorship_id, i.kind, i.actor
                                       ORDER BY i.occurred_at, i.event_id) AS nth,
                    row_number() OVER (PARTITION BY i.mentorship_id, i.kind, i.actor, i.duration_minutes
                                       ORDER BY i.occurred_at, i.event_id) AS nth_of_length
             FROM interactions i
             LEFT JOIN mentorships m ON m.id = i.mentorship_id
             WHERE i.mentorship_id = ANY($1)
               AND (m.started_at IS NULL OR i.occurred_at >= m.started_at)
         ) kept
         WHERE nth <= $2 OR (duration_minutes IS NOT NULL AND nth_of_length = 1)
         ORDER BY mentorship_id, occurred_at",
    )
    .bind(ids)
    .bind(i64::from(KEEP_PER_KIND_AND_SIDE))
    .fetch_all(db)
    .await?;
    let mut ledgers: HashMap<String, Vec<Interaction>> = HashMap::new();
    for row in rows {
        let id: String = row.try_get("mentorship_id")?;
        let interaction = decode_interaction(&id, &row)?;
        ledgers.entry(id).or_default().push(interaction);
    }
    Ok(ledgers)
}

fn decode_interaction(id: &str, row: &sqlx::postgres::PgRow) -> Result<Interaction, StoreError> {
    let corrupt = |what: String| StoreError::Corrupt(id.to_string(), what);
    let kind: String = row.try_get("kind")?;
    let actor: String = row.try_get("actor")?;
    Ok(Interaction {
        kind: InteractionKind::parse(&kind)
            .ok_or_else(|| corrupt(format!("interaction kind {kind:?}")))?,
        actor: Actor::parse(&actor)
            .ok_or_else(|| corrupt(format!("interaction actor {actor:?}")))?,
        occurred_at: row.try_get("occurred_at")?,
        duration_minutes: row
            .try_get::<Option<i32>, _>("duration_minutes")?
            .map(|d| d.max(0) as u32),
    })
}
