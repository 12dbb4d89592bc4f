//! Mentors and mentees answering an email with one click: "we've been in
//! touch", "we have a plan", and unsubscribing. An answer becomes an
//! `interaction.recorded` of the person's side, published like any other
//! event, so conditions, escalations and digests see it the same way.

use crate::event::{Actor, InteractionKind, InteractionRecorded, ParticipantUnsubscribed};
use crate::link::{LinkToken, Purpose};
use crate::playbook::Step;
use crate::rule::{Condition, Recipient};
use chrono::{DateTime, Utc};

/// An answer a mentor or mentee can give from an email.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Answer {
    /// "We've been in touch": a `message` of their side.
    InTouch,
    /// "We have a plan": a `plan_shared` of their side.
    HavePlan,
}

impl Answer {
    /// Both answers.
    pub const ALL: [Answer; 2] = [Answer::InTouch, Answer::HavePlan];

    /// The link purpose that carries it.
    pub fn purpose(self) -> Purpose {
        match self {
            Answer::InTouch => Purpose::AnswerInTouch,
            Answer::HavePlan => Purpose::AnswerPlan,
        }
    }

    /// The answer a link purpose carries, if it carries one.
    pub fn of(purpose: Purpose) -> Option<Answer> {
        Answer::ALL.into_iter().find(|a| a.purpose() == purpose)
    }

    /// The interaction it records.
    pub fn kind(self) -> InteractionKind {
        match self {
            Answer::InTouch => InteractionKind::Message,
            Answer::HavePlan => InteractionKind::PlanShared,
        }
    }

    /// What the answer says, as the button reads.
    pub fn words(self) -> &'static str {
        match self {
            Answer::InTouch => "We've been in touch",
            Answer::HavePlan => "We have a plan",
        }
    }
}

/// The answers a step's email offers: "we've been in touch" where the step
/// nudges a pair that has not talked, "we have a plan" where it asks for a
/// plan. A step that fires for every pair (a welcome) offers none.
pub fn answers_for(step: &Step) -> Vec<Answer> {
    let mut out = Vec::new();
    let talk = [
        Condition::NoTwoWay,
        Condition::NoInteraction,
        Condition::OneSided,
        Condition::LowInteraction,
    ];
    if step.when.iter().any(|c| talk.contains(c)) {
        out.push(Answer::InTouch);
    }
    if step.when.contains(&Condition::NoPlan) {
        out.push(Answer::HavePlan);
    }
    out
}

/// The side a mentor's or mentee's link records for; `None` for the coordinator.
pub fn actor_of(recipient: Recipient) -> Option<Actor> {
    match recipient {
        Recipient::Mentor => Some(Actor::Mentor),
        Recipient::Mentee => Some(Actor::Mentee),
        Recipient::Coordinator => None,
    }
}

/// The event an answer records. Its `event_id` is derived from the link, so
/// the same link submitted twice is the same event and counts once.
pub fn answered(
    answer: Answer,
    token: &LinkToken,
    mentorship_id: &str,
    actor: Actor,
    at: DateTime<Utc>,
) -> InteractionRecorded {
    InteractionRecorded {
        event_id: format!("firstweek-answer-{}", short_digest(&token.hash())),
        mentorship_id: mentorship_id.to_string(),
        kind: answer.kind(),
        actor,
        occurred_at: at,
        duration_minutes: None,
    }
}

/// `participant.unsubscribed` as firstweek publishes it when a person
/// unsubscribed through its link (the person's id only); one per person.
pub fn unsubscribed(person_id: &str, at: DateTime<Utc>) -> ParticipantUnsubscribed {
    ParticipantUnsubscribed {
        // A person's id may be up to the contract's 128 characters: the
        // event's own id is a digest of it, so it always fits.
        event_id: format!(
            "firstweek-unsubscribe-{}",
            short_digest(person_id.as_bytes())
        ),
        person_id: person_id.to_string(),
        unsubscribed_at: at,
    }
}

/// When an answer was given, as its page tells the person who gave it: in
/// their own time zone (their own clock needs no zone name), or in UTC,
/// named, when theirs does not parse: `Tuesday 8 December at 14:05`.
pub fn answered_when(timezone: &str, at: DateTime<Utc>) -> String {
    const FORMAT: &str = "%A %-d %B at %H:%M";
    match timezone.parse::<chrono_tz::Tz>() {
        Ok(tz) => at.with_timezone(&tz).format(FORMAT).to_string(),
        Err(_) => format!("{} UTC", at.format(FORMAT)),
    }
}

/// 128 bits of SHA-256, in hex: an id derived from a secret or a long id.
fn short_digest(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::playbook::Playbook;

    #[test]
    fn an_answer_is_dated_on_the_persons_own_clock() {
        let at: DateTime<Utc> = "2026-12-08T13:05:00Z".parse().expect("a time");
        assert_eq!(
            answered_when("Europe/Berlin", at),
            "Tuesday 8 December at 14:05"
        );
        assert_eq!(
            answered_when("America/Los_Angeles", at),
            "Tuesday 8 December at 05:05"
        );
        assert_eq!(
            answered_when("Not/AZone", at),
            "Tuesday 8 December at 13:05 UTC"
        );
    }

    #[test]
    fn the_check_in_offers_in_touch_and_the_plan_reminder_a_plan() {
        let p = Playbook::built_in();
        let offered = |id: &str| p.step(id).map(answers_for).unwrap_or_default();
        assert_eq!(offered("check_in"), vec![Answer::InTouch]);
        assert_eq!(offered("plan_reminder"), vec![Answer::HavePlan]);
        assert_eq!(offered("welcome"), Vec::<Answer>::new());
        assert_eq!(offered("wrap_up"), Vec::<Answer>::new());
    }

    #[test]
    fn one_link_is_one_event_whatever_the_moment_it_is_submitted() {
        let token = LinkToken::from_random([3; 32]);
        let at = Utc::now();
        let a = answered(Answer::HavePlan, &token, "m-1", Actor::Mentee, at);
        let b = answered(
            Answer::HavePlan,
            &token,
            "m-1",
            Actor::Mentee,
            at + chrono::Duration::seconds(5),
        );
        assert_eq!(a.event_id, b.event_id);
        assert_eq!(a.kind, InteractionKind::PlanShared);
        assert!(
            !a.event_id.contains(token.as_str()),
            "the event never carries the token"
        );
        let other = answered(
            Answer::HavePlan,
            &LinkToken::from_random([4; 32]),
            "m-1",
            Actor::Mentee,
            at,
        );
        assert_ne!(a.event_id, other.event_id);
    }
}
