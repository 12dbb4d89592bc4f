//! The links an email carries, each a token issued in the store and valid
//! until [`decision::delivery::link_expiry`] says for its purpose; none without
//! `FIRSTWEEK_PUBLIC_URL`.

use super::StepError;
use chrono::{DateTime, Utc};

use firstweek::coordinator;
use firstweek::decision;
use firstweek::email::Links;
use firstweek::event::MentorshipStarted;
use firstweek::link::Purpose;
use firstweek::participant::{self, Answer};
use firstweek::playbook::Step;
use firstweek::rule::Recipient;
use firstweek_store as store;

use super::Steps;

impl Steps {
    /// The acknowledge link for this pair's escalation, the coordinator's
    /// page link and the pair's own page below it.
    pub(super) async fn coordinator_links(
        &self,
        started: &MentorshipStarted,
        coordinator_key: &str,
    ) -> Result<Links, StepError> {
        let Some(base) = &self.cfg.public_url else {
            return Ok(Links::default());
        };
        let ack = store::issue_link(
            &self.pool,
            Purpose::Acknowledge,
            &started.mentorship_id,
            self.link_expiry(Purpose::Acknowledge, started),
        )
        .await?;
        let page = store::issue_link(
            &self.pool,
            Purpose::CoordinatorPage,
            coordinator_key,
            self.link_expiry(Purpose::CoordinatorPage, started),
        )
        .await?;
        let page = format!("{base}/c/{}", page.as_str());
        Ok(Links {
            acknowledge: Some(format!("{base}/a/{}", ack.as_str())),
            pair: Some(format!(
                "{page}{}",
                coordinator::pair_path(&started.mentorship_id)
            )),
            page: Some(page),
            ..Links::default()
        })
    }

    /// A mentor's or mentee's links: the answers the step offers and
    /// unsubscribe, each personal to them.
    pub(super) async fn participant_links(
        &self,
        started: &MentorshipStarted,
        step: &Step,
        recipient: Recipient,
    ) -> Result<Links, StepError> {
        let (Some(base), Some(_)) = (&self.cfg.public_url, participant::actor_of(recipient)) else {
            return Ok(Links::default());
        };
        let id = &started.mentorship_id;
        let mut links = Links::default();
        for answer in participant::answers_for(step) {
            let purpose = answer.purpose();
            let expires = self.link_expiry(purpose, started);
            let token =
                store::issue_personal_link(&self.pool, purpose, id, recipient, expires).await?;
            let url = Some(format!("{base}/r/{}", token.as_str()));
            match answer {
                Answer::InTouch => links.in_touch = url,
                Answer::HavePlan => links.have_plan = url,
            }
        }
        let expires = self.link_expiry(Purpose::Unsubscribe, started);
        let token =
            store::issue_personal_link(&self.pool, Purpose::Unsubscribe, id, recipient, expires)
                .await?;
        links.unsubscribe = Some(format!("{base}/u/{}", token.as_str()));
        Ok(links)
    }

    /// A digest's own link to the coordinator's page (`coordinator_key`).
    pub(super) async fn digest_page_link(
        &self,
        coordinator_key: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StepError> {
        let Some(base) = &self.cfg.public_url else {
            return Ok(None);
        };
        let expires =
            decision::delivery::link_expiry(&self.cfg.rules, Purpose::CoordinatorPage, None, now);
        let token = store::issue_link(
            &self.pool,
            Purpose::CoordinatorPage,
            coordinator_key,
            expires,
        )
        .await?;
        Ok(Some(format!("{base}/c/{}", token.as_str())))
    }

    fn link_expiry(&self, purpose: Purpose, started: &MentorshipStarted) -> DateTime<Utc> {
        let started_at = Some(started.started_at);
        decision::delivery::link_expiry(&self.cfg.rules, purpose, started_at, Utc::now())
    }
}
