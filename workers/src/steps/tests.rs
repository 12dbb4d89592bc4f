//! The steps handler against a real database (its own per test, dropped
//! even when the test fails) and the file mailer: what a due row becomes,
//! as the timeline, the ledger and the outbox show it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{Duration, Utc};
use tokio::task::JoinSet;

use firstweek::Rules;
use firstweek::email::Templates;
use firstweek::erasure::Target;
use firstweek::playbook::Playbook;
use firstweek::timeline::{SendWindow, TimeScale};
use firstweek_store::{self as store, ErasedVia, UnknownDelivery};
use firstweek_tests::{Pair, TestDb};

use super::{Steps, StepsConfig};
use crate::mailer::Mailer;

/// A steps handler writing `.eml` files, on a database of its own.
struct Harness {
    db: TestDb,
    steps: Steps,
    outbox: PathBuf,
    _writers: JoinSet<()>,
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(dir) = self.outbox.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

async fn harness(mail_deadline: Duration) -> anyhow::Result<Harness> {
    let db = TestDb::create("steps").await?;
    let outbox = std::env::temp_dir().join(&db.name).join("outbox");
    let timeout = std::time::Duration::from_secs(5);
    let mailer = Mailer::new(None, outbox.clone(), timeout, None, 4)?;
    let cfg = StepsConfig {
        rules: Rules {
            playbook: Playbook::built_in(),
            programs: Default::default(),
            scale: TimeScale::REAL,
            window: SendWindow::Off,
        },
        templates: Templates::built_in()?,
        mailer: Arc::new(mailer),
        chat: Arc::new(crate::chat::ChatPoster::new(
            crate::chat::TIMEOUT,
            std::time::Duration::from_millis(10),
        )?),
        from: "firstweek <firstweek@example.org>".parse()?,
        mail_deadline,
        claim_lease: Duration::minutes(5),
        unknown_delivery: UnknownDelivery::Record,
        stale_after: None,
        public_url: Some("https://firstweek.example.org".into()),
        batch_linger: std::time::Duration::ZERO,
        pseudonym_key: firstweek_tests::pseudonym_key(),
    };
    let mut writers = JoinSet::new();
    let steps = Steps::new(db.pool.clone(), cfg, &mut writers);
    Ok(Harness {
        db,
        steps,
        outbox,
        _writers: writers,
    })
}

impl Harness {
    /// Stores a pair that started an hour ago.
    async fn started(&self, id: &str) -> anyhow::Result<Pair> {
        let pair = Pair::new(id, Utc::now() - Duration::hours(1));
        self.db
            .ingest("mentorship.started", &pair.started(&format!("{id}-start")))
            .await?;
        Ok(pair)
    }

    async fn row(&self, pair: &Pair, step_id: &str, recipient: &str) -> anyhow::Result<i64> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM timeline WHERE mentorship_id = $1 AND step_id = $2 AND recipient = $3",
        )
        .bind(&pair.id)
        .bind(step_id)
        .bind(recipient)
        .fetch_one(&self.db.pool)
        .await?)
    }

    /// A row the store would add for an escalation's notice, due now.
    async fn notice_row(&self, pair: &Pair, step_id: &str) -> anyhow::Result<i64> {
        Ok(sqlx::query_scalar(
            "INSERT INTO timeline (mentorship_id, subject, step_id, recipient, due_at, send_at, next_at)
             VALUES ($1, 'pair', $2, 'coordinator', now(), now(), now()) RETURNING id",
        )
        .bind(&pair.id)
        .bind(step_id)
        .fetch_one(&self.db.pool)
        .await?)
    }

    /// The row's status, outcome and failed attempts.
    async fn state(&self, id: i64) -> anyhow::Result<(String, String, i32)> {
        let (status, outcome, attempts): (String, Option<String>, i32) =
            sqlx::query_as("SELECT status, outcome, attempts FROM timeline WHERE id = $1")
                .bind(id)
                .fetch_one(&self.db.pool)
                .await?;
        Ok((status, outcome.unwrap_or_default(), attempts))
    }

    /// The emails written, by file name, with their text.
    fn mail(&self) -> Vec<(String, String)> {
        emails_in(&self.outbox)
    }
}

fn emails_in(dir: &Path) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                .map(|p| {
                    let name = p.file_name().unwrap_or_default().to_string_lossy();
                    (
                        name.into_owned(),
                        std::fs::read_to_string(&p).unwrap_or_default(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

#[tokio::test]
async fn a_due_welcome_is_written_once_to_its_recipient_with_personal_links() -> anyhow::Result<()>
{
    let h = harness(Duration::hours(24)).await?;
    let pair = h.started("w1").await?;
    let row = h.row(&pair, "welcome", "mentee").await?;
    h.steps.process(row).await?;
    let mail = h.mail();
    assert_eq!(mail.len(), 1, "{mail:?}");
    let (name, text) = &mail[0];
    assert_eq!(name, "w1.welcome.mentee.eml");
    assert!(text.contains(&pair.mentee()), "{text}");
    assert!(text.contains("X-Firstweek-Step: welcome"), "{text}");
    assert!(
        text.contains("https://firstweek.example.org/u/"),
        "no unsubscribe link: {text}"
    );
    assert_eq!(h.state(row).await?.0, "sent");
    // Offered again (a redelivery): nothing more is sent.
    h.steps.process(row).await?;
    assert_eq!(h.mail().len(), 1);
    assert_eq!(h.state(row).await?.0, "sent");
    Ok(())
}

#[tokio::test]
async fn a_step_of_an_ended_mentorship_is_cancelled_and_sends_nothing() -> anyhow::Result<()> {
    let h = harness(Duration::hours(24)).await?;
    let pair = h.started("e1").await?;
    h.db.ingest("mentorship.ended", &pair.ended(Duration::minutes(30)))
        .await?;
    let row = h.row(&pair, "welcome", "mentor").await?;
    h.steps.process(row).await?;
    assert!(h.mail().is_empty(), "{:?}", h.mail());
    let (status, outcome, _) = h.state(row).await?;
    assert_eq!(
        (status.as_str(), outcome.as_str()),
        ("cancelled", "mentorship ended")
    );
    Ok(())
}

#[tokio::test]
async fn notices_go_only_while_called_for_and_never_to_an_erased_coordinator() -> anyhow::Result<()>
{
    let h = harness(Duration::hours(24)).await?;
    // No escalation to remind anyone of.
    let pair = h.started("n1").await?;
    let row = h.notice_row(&pair, "escalation_reminder").await?;
    h.steps.process(row).await?;
    let (status, outcome, _) = h.state(row).await?;
    assert_eq!(status, "skipped", "{outcome}");
    // An erased coordinator hears nothing, whatever the notice.
    let erased = h.started("n2").await?;
    let key = firstweek_tests::pseudonym_key();
    store::erase(
        &h.db.pool,
        &Target::new(&erased.coordinator(), &key),
        ErasedVia::Cli,
        &key,
    )
    .await?;
    let row = h.notice_row(&erased, "escalation_resolved").await?;
    h.steps.process(row).await?;
    let (status, outcome, _) = h.state(row).await?;
    assert_eq!(
        (status.as_str(), outcome.as_str()),
        ("skipped", "the recipient was erased")
    );
    assert!(h.mail().is_empty(), "{:?}", h.mail());
    Ok(())
}

#[tokio::test]
async fn a_mail_failure_is_retried_and_given_up_after_the_deadline() -> anyhow::Result<()> {
    let h = harness(Duration::hours(24)).await?;
    let pair = h.started("f1").await?;
    // The outbox is gone: writing the email fails, nothing was delivered.
    std::fs::remove_dir_all(&h.outbox)?;
    let row = h.row(&pair, "welcome", "mentor").await?;
    h.steps.process(row).await?;
    let (status, outcome, attempts) = h.state(row).await?;
    assert_eq!((status.as_str(), attempts), ("scheduled", 1), "{outcome}");
    assert!(outcome.starts_with("writing"), "{outcome}");
    // The claim was given back: the retry may claim it again.
    let held: i64 = sqlx::query_scalar("SELECT count(*) FROM deliveries WHERE mentorship_id = $1")
        .bind(&pair.id)
        .fetch_one(&h.db.pool)
        .await?;
    assert_eq!(held, 0);

    // Past the deadline (none at all here): given up on, closed as failed.
    let late = harness(Duration::zero()).await?;
    let pair = late.started("f2").await?;
    std::fs::remove_dir_all(&late.outbox)?;
    let row = late.row(&pair, "welcome", "mentor").await?;
    late.steps.process(row).await?;
    let (status, outcome, _) = late.state(row).await?;
    assert_eq!(status, "failed", "{outcome}");
    assert!(
        outcome.starts_with("gave up after the deadline: writing"),
        "{outcome}"
    );
    Ok(())
}
