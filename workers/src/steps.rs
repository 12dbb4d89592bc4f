//! Due steps: ask the domain what the step does ([`decision::decide`]), claim
//! the delivery, compose and send, and record what became of it.

use std::sync::Arc;

use chrono::{Duration, Utc};
use lapin::message::Delivery;
use lettre::message::Mailbox;
use sqlx::PgPool;
use tokio::task::JoinSet;
use tracing::Instrument;

use chrono_tz::Tz;
use firstweek::Rules;
use firstweek::decision::{self, Evidence, Moment, Skip, Timing, Verdict};
use firstweek::digest::{self, DigestContext};
use firstweek::email::{self, Context, Links, Templates};
use firstweek::escalation::{Notice, Sighting};
use firstweek::event::MentorshipStarted;
use firstweek::interaction::{Interaction, Summary};
use firstweek::link::Purpose;
use firstweek::participant::{self, Answer};
use firstweek::playbook::Recipient;
use firstweek::playbook::Step;
use firstweek::timeline::{program_day, timezone_of};
use firstweek_broker::{self as broker, DueStep};
use firstweek_ops::backoff::Backoff;
use firstweek_ops::outage::is_outage;
use firstweek_store::{
    self as store, Claim, DeliveryClaim, DeliveryEnd, DeliveryKey, DeliveryStatus, Handover,
    HeldClaim, PairRecord, RowStatus, StepState, Subject, TimelineRow, UnknownDelivery,
};

use crate::batcher::{Batcher, Limits, on_own_connection};
use crate::consumer::{Handler, Outcome};
use crate::mailer::{MailError, Mailer};

/// Items per statement at most, and statements of one kind in flight;
/// `linger`: how long a quiet stage waits for company (see the batcher).
pub fn limits(linger: std::time::Duration) -> Limits {
    Limits {
        max_items: 64,
        writers: 2,
        idle: std::time::Duration::from_secs(30),
        linger,
    }
}

/// What the steps role needs besides the database.
pub struct StepsConfig {
    /// The playbook as run here.
    pub rules: Rules,
    /// The templates, checked against the playbook.
    pub templates: Templates,
    /// Where emails go.
    pub mailer: Arc<Mailer>,
    /// The sender.
    pub from: Mailbox,
    /// Transient mail failures are retried until this long after the due time.
    pub mail_deadline: Duration,
    /// A `sending` claim older than this belongs to a worker that died (it is
    /// several SMTP timeouts long): it is taken over.
    pub claim_lease: Duration,
    /// What becomes of an email the SMTP server may or may not have.
    pub unknown_delivery: UnknownDelivery,
    /// A step handled more than this (wall-clock) after it became sendable
    /// is skipped as stale; `None`: never.
    pub stale_after: Option<Duration>,
    /// The base of links in emails; `None`: no links.
    pub public_url: Option<String>,
    /// How long a quiet stage's statement waits for others to join it.
    pub batch_linger: std::time::Duration,
}

/// Evaluates and sends due steps.
pub struct Steps {
    pool: PgPool,
    cfg: StepsConfig,
    /// How retries of a failing email are spaced: 1 s, 2 s, ... up to 256 s.
    retry: Backoff,
    groups: Groups,
}

/// Group commit for the steps' database work: reads, claims, hand-overs and
/// finishes of concurrent handlers run as one statement per batch
/// (`store::load_steps`, `claim_deliveries`, `mark_handing_over_many`,
/// `finish_deliveries`). If a batch fails, its items are run one by one, so
/// each gets its own answer.
struct Groups {
    load: Batcher<i64, Option<StepState>>,
    claim: Batcher<DeliveryClaim, Claim>,
    handover: Batcher<HeldClaim, Handover>,
    finish: Batcher<DeliveryEnd, bool>,
}

impl Handler for Steps {
    async fn handle(&self, delivery: &Delivery) -> anyhow::Result<Outcome> {
        let due = match DueStep::from_json(&delivery.data) {
            Ok(d) => d,
            Err(why) => return Ok(Outcome::Dead(why)),
        };
        // A digest's subject id is its coordinator's opaque key, never an address.
        let span = tracing::info_span!("step", mentorship_id = %due.mentorship_id, step = %due.step_id, recipient = %due.recipient, timeline_id = due.timeline_id);
        let timeline_id = due.timeline_id;
        // Boxed: the whole path (escalation, notices, links, delivery) is a
        // large future; one allocation per step keeps the consumer's small.
        match Box::pin(self.process(timeline_id).instrument(span)).await {
            Ok(()) => Ok(Outcome::Ack),
            // The last attempt of a step that keeps failing (not an outage):
            // close its row so the scheduler does not offer it again, and dead-letter it.
            Err(e)
                if !is_outage(&e)
                    && broker::delivery_count(&delivery.properties) + 1
                        >= broker::DELIVERY_LIMIT =>
            {
                let reason = format!("failed {} times: {e:#}", broker::DELIVERY_LIMIT);
                tracing::error!(timeline_id, error = %reason, "giving up on a step");
                store::finish_row(&self.pool, timeline_id, RowStatus::Failed, &reason).await?;
                Ok(Outcome::Dead(reason))
            }
            Err(e) => Err(e),
        }
    }
}

impl Steps {
    /// The steps role; its batch writers run in `tasks`.
    pub fn new(pool: PgPool, cfg: StepsConfig, tasks: &mut JoinSet<()>) -> Steps {
        let groups = Groups::spawn(&pool, &cfg, tasks);
        Steps {
            pool,
            cfg,
            retry: Backoff::new(
                std::time::Duration::from_secs(1),
                std::time::Duration::from_secs(256),
            ),
            groups,
        }
    }

    async fn process(&self, timeline_id: i64) -> anyhow::Result<()> {
        let Some(state) = self.groups.load.call(timeline_id).await? else {
            tracing::warn!("timeline row not found; ignored");
            return Ok(());
        };
        let StepState { row, pair, ledger } = state;
        if !row.status.is_open() {
            tracing::debug!(status = %row.status, "already handled");
            return Ok(());
        }
        let Subject::Pair { .. } = &row.subject else {
            return self.process_digest(&row).await;
        };
        if let Some(notice) = Notice::of_step(&row.step_id) {
            return self.process_notice(&row, notice, pair, &ledger).await;
        }
        let decision = decision::decide(
            &self.cfg.rules,
            &row.step_id,
            row.recipient,
            row.due_at,
            pair.as_ref().map(|p| p.with_ledger(&ledger)),
            Moment::Processing,
        );
        let escalating = matches!(decision.verdict, Verdict::Escalate(_));
        let evidence = match decision.verdict {
            Verdict::Send(evidence) | Verdict::Escalate(evidence) => evidence,
            Verdict::Skip(skip) => {
                return self.finish(&row, RowStatus::Skipped, &skip.reason()).await;
            }
            Verdict::Cancel => {
                return self
                    .finish(&row, RowStatus::Cancelled, "mentorship ended")
                    .await;
            }
        };
        // A verdict to send implies the pair and its step (in the playbook
        // the pair is pinned to) exist.
        let Some(pair) = pair else {
            return self
                .finish(&row, RowStatus::Skipped, &Skip::UnknownPair.reason())
                .await;
        };
        let rules = self.cfg.rules.pinned(pair.playbook.as_deref());
        let Some(step) = rules.playbook.step(&row.step_id) else {
            return self
                .finish(&row, RowStatus::Skipped, &Skip::NotInPlaybook.reason())
                .await;
        };
        let started = &pair.started;
        let tz = timezone_of(started, row.recipient);
        if !self.on_time(&row, tz).await? {
            return Ok(());
        }
        let links;
        if escalating {
            let day = program_day(started.started_at, evidence.as_of, self.cfg.rules.scale);
            let sighting = Sighting::new(&row.step_id, day, &evidence);
            let opening =
                store::open_escalation(&self.pool, &rules, started, &row.step_id, &sighting)
                    .await?;
            if !opening.opens {
                let skip = Skip::AddedToEscalation {
                    opened_by: opening.escalation.opened_by,
                };
                return self.finish(&row, RowStatus::Skipped, &skip.reason()).await;
            }
            links = self
                .coordinator_links(started, &opening.escalation.coordinator_key)
                .await?;
        } else {
            links = self.participant_links(started, step, row.recipient).await?;
        }
        let Evidence {
            summary, reasons, ..
        } = evidence;
        let ctx = Context::new(
            started,
            &row.step_id,
            row.recipient,
            row.due_at,
            self.cfg.rules.scale,
            summary,
            reasons,
            Utc::now(),
        )
        .with_links(links);
        let (name, address) = match row.recipient {
            Recipient::Mentor => (&started.mentor.name, &started.mentor.email),
            Recipient::Mentee => (&started.mentee.name, &started.mentee.email),
            Recipient::Coordinator => (&started.coordinator.name, &started.coordinator.email),
        };
        let message_id = self.message_id(&started.mentorship_id, &step.once_key, row.recipient);
        self.deliver(&row, tz, &step.once_key, message_id, |message_id| {
            email::compose(
                &self.cfg.templates,
                &step.template,
                &ctx,
                &self.cfg.from,
                name,
                address,
                message_id,
            )
        })
        .await
    }

    /// An escalation's reminder or resolution notice to the coordinator:
    /// sent only while the escalation still calls for it.
    async fn process_notice(
        &self,
        row: &TimelineRow,
        notice: Notice,
        pair: Option<PairRecord>,
        ledger: &[Interaction],
    ) -> anyhow::Result<()> {
        let Some(pair) = pair else {
            return self
                .finish(row, RowStatus::Skipped, &Skip::UnknownPair.reason())
                .await;
        };
        // An erased coordinator gets no reminder or notice either.
        if pair.erased.contains(&Recipient::Coordinator) {
            return self
                .finish(row, RowStatus::Skipped, &Skip::Erased.reason())
                .await;
        }
        let escalation = store::escalation(&self.pool, row.subject.id()).await?;
        if let Err(withdrawn) = decision::escalation::notice(notice, escalation.as_ref()) {
            return self
                .finish(row, RowStatus::Skipped, withdrawn.reason())
                .await;
        }
        let Some(escalation) = escalation else {
            return Ok(());
        };
        let started = &pair.started;
        let tz = timezone_of(started, Recipient::Coordinator);
        if !self.on_time(row, tz).await? {
            return Ok(());
        }
        let now = Utc::now();
        let links = match notice {
            Notice::Reminder => {
                self.coordinator_links(started, &escalation.coordinator_key)
                    .await?
            }
            Notice::Resolved => Links::default(),
        };
        let ctx = Context::new(
            started,
            &row.step_id,
            Recipient::Coordinator,
            now,
            self.cfg.rules.scale,
            Summary::as_of(ledger, now),
            decision::escalation::notice_reasons(notice, &escalation),
            now,
        )
        .with_links(links);
        let once_key = notice.step_id();
        let message_id = self.message_id(&started.mentorship_id, once_key, Recipient::Coordinator);
        self.deliver(row, tz, once_key, message_id, |message_id| {
            email::compose(
                &self.cfg.templates,
                once_key,
                &ctx,
                &self.cfg.from,
                &started.coordinator.name,
                &started.coordinator.email,
                message_id,
            )
        })
        .await
    }

    /// The acknowledge link for this pair's escalation and the coordinator's
    /// page link, valid until a little after the pair's week; none without
    /// `FIRSTWEEK_PUBLIC_URL`.
    async fn coordinator_links(
        &self,
        started: &MentorshipStarted,
        coordinator_key: &str,
    ) -> anyhow::Result<Links> {
        let Some(base) = &self.cfg.public_url else {
            return Ok(Links::default());
        };
        let expires = self.link_expiry(started);
        let ack = store::issue_link(
            &self.pool,
            Purpose::Acknowledge,
            &started.mentorship_id,
            expires,
        )
        .await?;
        let page = store::issue_link(
            &self.pool,
            Purpose::CoordinatorPage,
            coordinator_key,
            expires,
        )
        .await?;
        Ok(Links {
            acknowledge: Some(format!("{base}/a/{}", ack.as_str())),
            page: Some(format!("{base}/c/{}", page.as_str())),
            ..Links::default()
        })
    }

    /// A mentor's or mentee's links: the answers the step offers and
    /// unsubscribe, each personal to them; none without `FIRSTWEEK_PUBLIC_URL`.
    async fn participant_links(
        &self,
        started: &MentorshipStarted,
        step: &Step,
        recipient: Recipient,
    ) -> anyhow::Result<Links> {
        let (Some(base), Some(_)) = (&self.cfg.public_url, participant::actor_of(recipient)) else {
            return Ok(Links::default());
        };
        let expires = self.link_expiry(started);
        let id = &started.mentorship_id;
        let mut links = Links::default();
        for answer in participant::answers_for(step) {
            let token =
                store::issue_personal_link(&self.pool, answer.purpose(), id, recipient, expires)
                    .await?;
            let url = Some(format!("{base}/r/{}", token.as_str()));
            match answer {
                Answer::InTouch => links.in_touch = url,
                Answer::HavePlan => links.have_plan = url,
            }
        }
        let token =
            store::issue_personal_link(&self.pool, Purpose::Unsubscribe, id, recipient, expires)
                .await?;
        links.unsubscribe = Some(format!("{base}/u/{}", token.as_str()));
        Ok(links)
    }

    /// Links live through the pair's week and a margin (at least two program days).
    fn link_expiry(&self, started: &MentorshipStarted) -> chrono::DateTime<Utc> {
        // Eight program days past the default week: a margin over any
        // program's week short of that, and links are cheap to reissue.
        let rules = &self.cfg.rules;
        let expires = started.started_at + decision::horizon(rules, Duration::days(8));
        expires.max(Utc::now() + rules.scale.wall(Duration::days(2)))
    }

    /// A coordinator's daily digest, an action queue as of now: their
    /// escalations nobody acknowledged, their pairs trending low, the rest
    /// counted. Nothing to act on: no email, unless the playbook asks for an
    /// "all quiet".
    async fn process_digest(&self, row: &TimelineRow) -> anyhow::Result<()> {
        let Subject::Digest {
            coordinator_key,
            coordinator_email,
        } = &row.subject
        else {
            return Ok(());
        };
        let now = Utc::now();
        let rules = &self.cfg.rules;
        let found =
            store::coordinator_digest(&self.pool, rules, coordinator_key, coordinator_email, now)
                .await?;
        // The same pair the scheduler took the zone from (the latest in view).
        let latest = found
            .pairs
            .last()
            .or(found.escalated.last())
            .map(|p| &p.record.started);
        let name = latest
            .map(|s| s.coordinator.name.clone())
            .unwrap_or_else(|| coordinator_email.clone());
        let tz = latest.and_then(|s| timezone_of(s, Recipient::Coordinator));
        let pairs: Vec<_> = found
            .pairs
            .iter()
            .chain(&found.escalated)
            .map(|p| p.view())
            .collect();
        let date = digest::date_of(&row.step_id).unwrap_or_default();
        // Judged before the send window: a quiet day is closed at once, and
        // a digest held for the window is judged again when it opens.
        let mut ctx: DigestContext =
            match digest::digest(rules, &name, date, tz, &pairs, &found.escalations, now) {
                digest::Digest::Send(ctx) => ctx,
                digest::Digest::Quiet(why) => {
                    return self.finish(row, RowStatus::Skipped, why.reason()).await;
                }
            };
        if !self.on_time(row, tz).await? {
            return Ok(());
        }
        if let Some(base) = &self.cfg.public_url {
            // A page link of its own for each digest, valid a little over a week.
            let expires = now + rules.scale.wall(Duration::days(8));
            let token = store::issue_link(
                &self.pool,
                Purpose::CoordinatorPage,
                row.subject.id(),
                expires,
            )
            .await?;
            ctx = ctx.with_page(format!("{base}/c/{}", token.as_str()));
        }
        let header_id = digest::header_id(coordinator_email);
        let message_id = self.message_id(&header_id, &row.step_id, row.recipient);
        self.deliver(row, tz, &row.step_id, message_id, |message_id| {
            email::compose_any(
                &self.cfg.templates,
                digest::TEMPLATE,
                &ctx,
                (row.step_id.as_str(), header_id.as_str()),
                &self.cfg.from,
                &name,
                coordinator_email,
                message_id,
            )
        })
        .await
    }

    /// Whether the step may go out now. Outside the recipient's send window
    /// it waits for the window to open; long past its time it is skipped.
    /// Asked on every path a step arrives by (on time, retried, republished,
    /// late after an outage), so none of them emails anyone at night.
    async fn on_time(&self, row: &TimelineRow, tz: Option<Tz>) -> anyhow::Result<bool> {
        let now = Utc::now();
        match decision::timing(
            self.cfg.rules.window,
            tz,
            row.send_at,
            now,
            self.cfg.stale_after,
        ) {
            Timing::Now => Ok(true),
            Timing::Wait(until) => {
                tracing::info!(%until, "outside the recipient's send window; waiting for it to open");
                store::recheck_at(&self.pool, row.id, until).await?;
                Ok(false)
            }
            Timing::Stale { late_by } => {
                metrics::counter!("firstweek_steps_stale_total").increment(1);
                let why = decision::timing::stale_reason(late_by);
                self.finish(row, RowStatus::Skipped, &why).await?;
                Ok(false)
            }
        }
    }

    fn message_id(&self, about: &str, once_key: &str, recipient: Recipient) -> String {
        email::message_id(about, once_key, recipient, self.cfg.from.email.domain())
    }

    /// Claims the delivery `(subject, once_key, recipient)` in the ledger,
    /// then composes, sends and records the email; a delivery someone else
    /// holds or already made is not sent again.
    async fn deliver(
        &self,
        row: &TimelineRow,
        tz: Option<Tz>,
        once_key: &str,
        message_id: String,
        compose: impl FnOnce(String) -> Result<email::Composed, email::EmailError>,
    ) -> anyhow::Result<()> {
        let claim = DeliveryClaim {
            row: row.clone(),
            once_key: once_key.to_string(),
            message_id: message_id.clone(),
        };
        // Before the claim: waiting for a turn must not eat into its lease.
        let slot = self.cfg.mailer.slot().await;
        let attempt = match self.groups.claim.call(claim).await? {
            Claim::Granted { attempt } => attempt,
            Claim::Ended => {
                return self
                    .finish(row, RowStatus::Cancelled, "mentorship ended")
                    .await;
            }
            Claim::Busy => {
                tracing::info!(
                    "another worker holds this delivery; checking back when its claim expires"
                );
                store::recheck_at(&self.pool, row.id, Utc::now() + self.cfg.claim_lease).await?;
                return Ok(());
            }
            Claim::Taken { step_id, status } if step_id == row.step_id => {
                return self
                    .finish(row, status.row_status(), "already handled")
                    .await;
            }
            Claim::Taken { step_id, status } => {
                let skip = Skip::OnceKeyTaken {
                    once_key: once_key.to_string(),
                    by_step: step_id,
                    status: status.to_string(),
                };
                return self.finish(row, RowStatus::Skipped, &skip.reason()).await;
            }
        };
        let held = HeldClaim {
            key: DeliveryKey::of(row, once_key),
            attempt,
        };
        let composed = match compose(message_id) {
            Ok(c) => c,
            Err(e) => {
                // A template that fails to render is a bug in the program's templates, not a transient fault.
                tracing::error!(error = %e, "cannot compose the email");
                let why = format!("compose: {e}");
                return self
                    .record(row, tz, &held, Err(MailError::Permanent(why)))
                    .await;
            }
        };
        let stem = format!("{}.{}.{}", row.subject.id(), row.step_id, row.recipient);
        let handover = || -> futures_util::future::BoxFuture<'_, Result<(), MailError>> {
            let held = held.clone();
            Box::pin(async move {
                match self.groups.handover.call(held).await {
                    Ok(Handover::Go) => Ok(()),
                    Ok(refused) => Err(MailError::Withheld(refused)),
                    Err(e) => Err(MailError::Transient(format!(
                        "recording the hand-over: {e:#}"
                    ))),
                }
            })
        };
        let in_flight = metrics::gauge!("firstweek_deliveries_in_flight");
        in_flight.increment(1.0);
        let result = self
            .cfg
            .mailer
            .send(&slot, &composed, &stem, &handover)
            .await;
        drop(slot);
        in_flight.decrement(1.0);
        self.record(row, tz, &held, result).await
    }

    /// Records a delivery's end. Once the SMTP server may have the message,
    /// this must not give up on a database outage: starting the step over
    /// would find its own claim and, after the lease, send it twice.
    async fn settle_delivery(
        &self,
        row: &TimelineRow,
        held: &HeldClaim,
        status: DeliveryStatus,
        detail: &str,
    ) -> anyhow::Result<()> {
        let mut backoff = Backoff::default();
        let started = std::time::Instant::now();
        loop {
            let end = DeliveryEnd {
                row: row.clone(),
                claim: held.clone(),
                status,
                detail: detail.to_string(),
            };
            match self.groups.finish.call(end).await {
                Ok(true) => return Ok(()),
                Ok(false) => {
                    // Another worker took the claim over after our lease ran out:
                    // what it recorded stands.
                    tracing::warn!(%status, attempt = held.attempt, "the claim was taken over; this outcome is not recorded");
                    metrics::counter!("firstweek_claims_lost_total").increment(1);
                    return Ok(());
                }
                // On shutdown, keep trying for a while; the drain deadline bounds it.
                Err(e) if started.elapsed() < self.cfg.claim_lease.to_std().unwrap_or_default() => {
                    let delay = backoff.next_delay();
                    tracing::warn!(error = %e, %status, "cannot record the delivery yet; retrying");
                    tokio::time::sleep(delay).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Gives the claim back and offers the row again after the backoff, in
    /// the recipient's window; past the mail deadline, gives up on it.
    async fn retry_later(
        &self,
        row: &TimelineRow,
        tz: Option<Tz>,
        held: &HeldClaim,
        why: &str,
    ) -> anyhow::Result<()> {
        store::release_delivery(&self.pool, held).await?;
        if Utc::now() - row.due_at > self.cfg.mail_deadline {
            tracing::error!(error = %why, "mail still failing after the deadline; giving up");
            let outcome = format!("gave up after the deadline: {why}");
            store::finish_row(&self.pool, row.id, RowStatus::Failed, &outcome).await?;
            return Ok(());
        }
        let delay = self.retry.delay_for(row.attempts.max(0) as u32);
        let delay = Duration::from_std(delay).unwrap_or_default();
        let at = decision::retry_at(self.cfg.rules.window, tz, Utc::now(), delay);
        tracing::warn!(error = %why, retry_at = %at, "mail failed; will retry");
        store::retry_row(&self.pool, row.id, at, why).await?;
        Ok(())
    }

    async fn record(
        &self,
        row: &TimelineRow,
        tz: Option<Tz>,
        held: &HeldClaim,
        result: Result<(), MailError>,
    ) -> anyhow::Result<()> {
        let step = row.step_id.as_str();
        match result {
            Ok(()) => {
                self.settle_delivery(row, held, DeliveryStatus::Sent, "accepted")
                    .await?;
                let lateness = (Utc::now() - row.due_at).num_milliseconds().max(0) as f64 / 1000.0;
                metrics::histogram!("firstweek_step_lateness_seconds").record(lateness);
                metrics::counter!("firstweek_emails_sent_total", "step" => step.to_string())
                    .increment(1);
                match Notice::of_step(step) {
                    Some(Notice::Reminder) => {
                        store::mark_reminded(&self.pool, row.subject.id()).await?;
                    }
                    Some(Notice::Resolved) => {}
                    None if row.recipient == Recipient::Coordinator => {
                        metrics::counter!("firstweek_escalations_total").increment(1);
                    }
                    None => {}
                }
                tracing::info!("email sent");
            }
            Err(MailError::Withheld(Handover::Withdrawn)) => {
                tracing::info!(
                    "the escalation was acknowledged or resolved before the hand-over; no reminder"
                );
                store::release_delivery(&self.pool, held).await?;
                self.finish(
                    row,
                    RowStatus::Skipped,
                    "the escalation was acknowledged or resolved",
                )
                .await?;
            }
            Err(MailError::Withheld(Handover::Ended)) => {
                tracing::info!("the mentorship ended before the hand-over; nothing sent");
                store::release_delivery(&self.pool, held).await?;
                self.finish(row, RowStatus::Cancelled, "mentorship ended")
                    .await?;
            }
            Err(MailError::Withheld(_)) => {
                // Our lease ran out (a long pause): whoever holds the claim now decides.
                tracing::warn!(
                    attempt = held.attempt,
                    "the claim is no longer ours; nothing sent, nothing recorded"
                );
                metrics::counter!("firstweek_claims_lost_total").increment(1);
            }
            Err(MailError::Transient(why)) => {
                metrics::counter!("firstweek_emails_failed_total", "kind" => "transient")
                    .increment(1);
                self.retry_later(row, tz, held, &why).await?;
            }
            Err(MailError::Permanent(why)) => {
                metrics::counter!("firstweek_emails_failed_total", "kind" => "permanent")
                    .increment(1);
                tracing::error!(error = %why, "mail refused permanently; not retried");
                self.settle_delivery(row, held, DeliveryStatus::Failed, &why)
                    .await?;
            }
            Err(MailError::Unknown(why)) => {
                metrics::counter!("firstweek_emails_failed_total", "kind" => "unknown")
                    .increment(1);
                match self.cfg.unknown_delivery {
                    UnknownDelivery::Record => {
                        tracing::error!(error = %why, "mail outcome unknown; not resent, to avoid a duplicate");
                        self.settle_delivery(row, held, DeliveryStatus::Unknown, &why)
                            .await?;
                    }
                    UnknownDelivery::Resend => {
                        tracing::warn!(error = %why, "mail outcome unknown; resending with the same Message-ID (FIRSTWEEK_UNKNOWN_DELIVERY=resend)");
                        let why = format!("outcome unknown, resending: {why}");
                        self.retry_later(row, tz, held, &why).await?;
                    }
                }
            }
        }
        Ok(())
    }

    async fn finish(&self, row: &TimelineRow, status: RowStatus, why: &str) -> anyhow::Result<()> {
        tracing::info!(%status, why, "step closed without an email");
        metrics::counter!("firstweek_steps_closed_total", "status" => status.as_str()).increment(1);
        store::finish_row(&self.pool, row.id, status, why).await?;
        Ok(())
    }
}

impl Groups {
    fn spawn(pool: &PgPool, cfg: &StepsConfig, tasks: &mut JoinSet<()>) -> Groups {
        let (lease, unknown) = (cfg.claim_lease, cfg.unknown_delivery);
        let limits = limits(cfg.batch_linger);
        // Each writer runs its batches on a connection of its own; the
        // one-by-one answers (rare: a batch failed, a key already taken) go
        // through the pool.
        let own = |pool: &PgPool| {
            let pool = pool.clone();
            move || store::Dedicated::for_key_lookups(pool.clone())
        };
        let p = pool.clone();
        let load = Batcher::spawn(tasks, limits, own(pool), move |mut conn, ids: Vec<i64>| {
            let pool = p.clone();
            async move {
                let picked = on_own_connection!(conn, |c| store::pick_steps(c, &ids));
                let out = or_one_by_one(picked, ids, |id| {
                    let pool = pool.clone();
                    async move { pick_one(&pool, id).await }
                })
                .await;
                (conn, out)
            }
        });
        let p = pool.clone();
        let claim = Batcher::spawn(
            tasks,
            limits,
            own(pool),
            move |mut conn, claims: Vec<DeliveryClaim>| {
                let pool = p.clone();
                async move {
                    let granted = on_own_connection!(conn, |c| store::claim_deliveries(c, &claims))
                        .unwrap_or_else(|_| vec![false; claims.len()]);
                    let mut out = Vec::with_capacity(claims.len());
                    for (claim, granted) in claims.iter().zip(granted) {
                        out.push(if granted {
                            Ok(Claim::Granted { attempt: 1 })
                        } else {
                            // The key exists already, the pair ended, or the batch failed: the full answer.
                            store::claim_delivery(&pool, claim, lease, unknown)
                                .await
                                .map_err(Into::into)
                        });
                    }
                    (conn, out)
                }
            },
        );
        let p = pool.clone();
        let handover = Batcher::spawn(
            tasks,
            limits,
            own(pool),
            move |mut conn, claims: Vec<HeldClaim>| {
                let pool = p.clone();
                async move {
                    let marked = on_own_connection!(conn, |c| store::mark_handing_over_many(
                        c, &claims, lease
                    ));
                    let out = or_one_by_one(marked, claims, |claim| {
                        let pool = pool.clone();
                        async move { Ok(store::mark_handing_over(&pool, &claim, lease).await?) }
                    })
                    .await;
                    (conn, out)
                }
            },
        );
        let p = pool.clone();
        let finish = Batcher::spawn(
            tasks,
            limits,
            own(pool),
            move |mut conn, ends: Vec<DeliveryEnd>| {
                let pool = p.clone();
                async move {
                    let finished = on_own_connection!(conn, |c| store::finish_deliveries(c, &ends));
                    let out = or_one_by_one(finished, ends, |end| {
                        let pool = pool.clone();
                        async move { Ok(store::finish_delivery(&pool, &end).await?) }
                    })
                    .await;
                    (conn, out)
                }
            },
        );
        Groups {
            load,
            claim,
            handover,
            finish,
        }
    }
}

/// One step's state through the pool (a batch that failed, retried item by item).
/// A batch's answers, one per item; when the batch failed, each item's own
/// answer from `one` (a lone item's answer is the batch's error), so an
/// item that cannot be written fails alone.
async fn or_one_by_one<I, O, F>(
    batch: Result<Vec<O>, store::StoreError>,
    items: Vec<I>,
    one: impl Fn(I) -> F,
) -> Vec<anyhow::Result<O>>
where
    F: std::future::Future<Output = anyhow::Result<O>>,
{
    match batch {
        Ok(answers) => answers.into_iter().map(Ok).collect(),
        Err(e) if items.len() == 1 => vec![Err(e.into())],
        Err(_) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                out.push(one(item).await);
            }
            out
        }
    }
}

async fn pick_one(pool: &PgPool, id: i64) -> anyhow::Result<Option<StepState>> {
    let mut conn = pool.acquire().await?;
    let mut states = store::pick_steps(&mut conn, &[id]).await?;
    Ok(states.pop().flatten())
}
