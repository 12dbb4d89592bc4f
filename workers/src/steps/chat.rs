//! A coordinator's message in the program's chat channels (Slack, Teams),
//! beside or instead of its email: each route's post is a delivery of its
//! own in the ledger ([`store::chat_once_key`]), claimed, handed over and
//! ended like an email, so a step delivered twice posts once. The message
//! is the domain's ([`firstweek::chat`]); every payload is checked against
//! its platform's shape before it leaves.
//!
//! While no email goes instead, a post that fails transiently (after the
//! poster's own tries) has its row retried as a failing email is
//! ([`decision::delivery::give_up`] after `FIRSTWEEK_MAIL_DEADLINE`); when
//! nothing could be posted, the email goes after all, so the coordinator is
//! told somewhere. Beside an email, a failed post is recorded failed.

use chrono::{Duration, Utc};
use chrono_tz::Tz;

use firstweek::chat::Message;
use firstweek::decision;
use firstweek_store::{
    self as store, ChatPurpose, ChatRoute, Claim, DeliveryClaim, DeliveryKey, DeliveryStatus,
    Handover, HeldClaim, RowStatus, TimelineRow, UnknownDelivery,
};

use super::{StepError, Steps};
use crate::chat::PostError;

/// What the message's email does after its posts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Chatted {
    /// The email goes too (no route, routes beside email, or nothing posted).
    EmailToo,
    /// Posted instead of the email: the row is closed.
    Instead,
    /// A post failed for now: the row is offered again later.
    Later,
}

/// How one route's post went.
enum Posted {
    /// In the channel (now, or by an earlier delivery of the step).
    Yes,
    /// Not posted, and it will not be (refused, unknown, withheld).
    No,
    /// Not posted for now; worth another try.
    NotYet(String),
}

impl Steps {
    /// Posts `message` through the routes of `program` that carry
    /// `purpose`, and says whether the email goes too.
    pub(super) async fn post_to_chat(
        &self,
        row: &TimelineRow,
        tz: Option<Tz>,
        once_key: &str,
        program: Option<&str>,
        purpose: ChatPurpose,
        message: impl FnOnce() -> Message,
    ) -> Result<Chatted, StepError> {
        let Some(program) = program else {
            return Ok(Chatted::EmailToo);
        };
        let routes = store::chat_routes_of(&self.pool, program, purpose).await?;
        if routes.is_empty() {
            return Ok(Chatted::EmailToo);
        }
        let instead = routes.iter().any(|r| r.instead_of_email);
        let message = message();
        let (mut posted, mut not_yet) = (false, None);
        for route in &routes {
            match self
                .post_route(row, once_key, route, &message, instead)
                .await?
            {
                Posted::Yes => posted = true,
                Posted::No => {}
                Posted::NotYet(why) => not_yet = Some(why),
            }
        }
        if !instead {
            return Ok(Chatted::EmailToo);
        }
        if let Some(why) = not_yet {
            if !decision::delivery::give_up(row.due_at, Utc::now(), self.cfg.mail_deadline) {
                let delay = self.retry.delay_for(row.attempts.max(0) as u32);
                let delay = Duration::from_std(delay).unwrap_or_default();
                let at = decision::retry_at(self.cfg.rules.window, tz, Utc::now(), delay);
                tracing::warn!(error = %why, retry_at = %at, "chat post failed; will retry");
                store::retry_row(&self.pool, row.id, at, &format!("chat: {why}")).await?;
                return Ok(Chatted::Later);
            }
            tracing::error!(error = %why, "chat post still failing after the deadline");
        }
        if posted {
            if purpose == ChatPurpose::Escalation {
                metrics::counter!("firstweek_escalations_total").increment(1);
            }
            let why = "posted to the program's chat instead of email";
            self.finish(row, RowStatus::Sent, why).await?;
            return Ok(Chatted::Instead);
        }
        tracing::warn!("nothing could be posted to chat; the email goes instead");
        Ok(Chatted::EmailToo)
    }

    /// One route's post, from claim to record. `may_wait`: a transient
    /// failure gives the claim back for a later try (else it is recorded failed).
    async fn post_route(
        &self,
        row: &TimelineRow,
        once_key: &str,
        route: &ChatRoute,
        message: &Message,
        may_wait: bool,
    ) -> Result<Posted, StepError> {
        let key = store::chat_once_key(once_key, route);
        let claim = DeliveryClaim {
            row: row.clone(),
            once_key: key.clone(),
            message_id: format!("{}:{}", route.platform, route.id),
            budget: None,
        };
        let lease = self.cfg.claim_lease;
        let attempt = match store::claim_delivery(
            &self.pool,
            &claim,
            lease,
            UnknownDelivery::Record,
        )
        .await?
        {
            Claim::Granted { attempt } => attempt,
            Claim::Taken {
                status: DeliveryStatus::Sent,
                ..
            } => return Ok(Posted::Yes),
            // Another worker posts it right now: as good as posted.
            Claim::Busy => return Ok(Posted::Yes),
            Claim::Taken { .. } | Claim::Ended | Claim::OverBudget { .. } => {
                return Ok(Posted::No);
            }
        };
        let held = HeldClaim {
            key: DeliveryKey::of(row, &key),
            attempt,
        };
        let payload = route.platform.payload(message);
        let problems = route.platform.problems(&payload);
        if !problems.is_empty() {
            let why = format!(
                "the payload breaks {}'s shape: {}",
                route.platform,
                problems.join("; ")
            );
            tracing::error!(error = %why, "chat message not posted");
            store::finish_chat(&self.pool, &held, DeliveryStatus::Failed, &why).await?;
            return Ok(Posted::No);
        }
        match store::mark_handing_over(&self.pool, &held, lease).await? {
            Handover::Go => {}
            refused => {
                tracing::info!(?refused, "chat post withheld");
                store::release_delivery(&self.pool, &held).await?;
                return Ok(Posted::No);
            }
        }
        let platform = route.platform.as_str();
        let (status, detail, posted) = match self.cfg.chat.post(&route.url, &payload).await {
            Ok(()) => (DeliveryStatus::Sent, "posted".to_string(), Posted::Yes),
            Err(PostError::Transient(why)) if may_wait => {
                store::release_delivery(&self.pool, &held).await?;
                metrics::counter!("firstweek_chat_failed_total", "platform" => platform, "kind" => "transient").increment(1);
                return Ok(Posted::NotYet(why));
            }
            Err(e) => {
                let kind = match e {
                    PostError::Unknown(_) => DeliveryStatus::Unknown,
                    _ => DeliveryStatus::Failed,
                };
                (kind, e.to_string(), Posted::No)
            }
        };
        match status {
            DeliveryStatus::Sent => {
                tracing::info!(platform, route = route.id, "posted to chat");
                metrics::counter!("firstweek_chat_posted_total", "platform" => platform)
                    .increment(1);
            }
            _ => {
                tracing::error!(platform, route = route.id, error = %detail, "chat post failed");
                metrics::counter!("firstweek_chat_failed_total", "platform" => platform, "kind" => status.as_str()).increment(1);
            }
        }
        store::finish_chat(&self.pool, &held, status, &detail).await?;
        Ok(posted)
    }
}
