//! A coordinator's daily digest, an action queue as of now: their
//! escalations nobody acknowledged, their pairs trending low, the rest
//! counted ([`digest::digest`]). Nothing to act on: no email, unless the
//! playbook asks for an "all quiet".

use std::collections::BTreeSet;

use super::StepError;
use chrono::{NaiveDate, Utc};

use firstweek::chat;
use firstweek::decision::relevance::Expiry;
use firstweek::digest::{self, DigestContext};
use firstweek::email;
use firstweek::rule::Recipient;
use firstweek::timeline::timezone_of;
use firstweek_store::{self as store, ChatPurpose, RowStatus, Subject, TimelineRow};

use super::Steps;
use super::chat::Chatted;

impl Steps {
    /// Gathers the coordinator's pairs and escalations and sends the digest
    /// of `date`, or closes a quiet day's row.
    pub(super) async fn process_digest(
        &self,
        row: &TimelineRow,
        date: NaiveDate,
    ) -> Result<(), StepError> {
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
        let date = date.to_string();
        // Judged before the send window: a quiet day is closed at once, and
        // a digest held for the window is judged again when it opens.
        let mut ctx: DigestContext =
            match digest::digest(rules, &name, &date, tz, &pairs, &found.escalations, now) {
                digest::Digest::Send(ctx) => ctx,
                digest::Digest::Quiet(why) => {
                    return self.finish(row, RowStatus::Skipped, why.reason()).await;
                }
            };
        if !self
            .on_time(row, tz, &Expiry::Fixed(self.cfg.stale_after))
            .await?
        {
            return Ok(());
        }
        // A channel is a program's: a digest goes to one only when every
        // pair it covers is of that program.
        let programs: BTreeSet<Option<&str>> = found
            .pairs
            .iter()
            .chain(&found.escalated)
            .map(|p| p.record.started.program_id.as_deref())
            .collect();
        let program = match programs.len() {
            1 => programs.into_iter().next().flatten(),
            _ => None,
        };
        let message = || chat::digest(&ctx);
        let chatted = self
            .post_to_chat(row, tz, &row.step_id, program, ChatPurpose::Digest, message)
            .await?;
        if chatted != Chatted::EmailToo {
            return Ok(());
        }
        if let Some(page) = self.digest_page_link(coordinator_key, now).await? {
            ctx = ctx.with_page(page);
        }
        let header_id = digest::header_id(coordinator_key);
        let message_id = self.message_id(&header_id, &row.step_id, row.recipient);
        self.deliver(row, tz, &row.step_id, message_id, None, |message_id| {
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
}
