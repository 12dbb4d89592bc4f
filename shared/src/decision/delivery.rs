//! The rules around one delivery that are not about the step itself: how
//! long the links in an email live, whether an escalation's notice may reach
//! its coordinator, and what follows a send that failed. The worker carries
//! these out; it decides none of them.

use chrono::{DateTime, Duration, Utc};

use crate::decision::{self, Pair, Rules, Skip};
use crate::delivery::UnknownDelivery;
use crate::link::Purpose;
use crate::rule::Recipient;

/// How long a link lives past the default week, and at least past its
/// issuing, in program days: a margin over any program's week short of
/// that, and links are cheap to reissue.
const LINK_MARGIN_DAYS: i64 = 8;

/// How long an unsubscribe link works after its email, in calendar days.
/// The product promises at least 60 (an opt-out must keep working long
/// after the week, whenever the email is read or a mail provider sends its
/// RFC 8058 one-click POST); 90 leaves a margin over that promise. Calendar
/// days, not program days: a mail provider's clock is the real one, whatever
/// `FIRSTWEEK_TIME_SCALE` says.
pub const UNSUBSCRIBE_LINK_DAYS: i64 = 90;

/// Until when a link for `purpose` issued at `now` is valid, the one rule
/// for every link in every email:
/// - an unsubscribe link for [`UNSUBSCRIBE_LINK_DAYS`] from its issuing;
/// - the others (answers, acknowledge, the coordinator's page) through the
///   week of the pair they are about and a margin (`started_at`; a digest
///   is about no one pair), and never less than the margin from their
///   issuing: what they answer is over by then, and a coordinator's daily
///   digest brings a fresh page link.
///
/// Revocation (a pair's end, an erasure, `firstweek link revoke`) ends a
/// link sooner, whatever this says.
pub fn link_expiry(
    rules: &Rules,
    purpose: Purpose,
    started_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> DateTime<Utc> {
    if purpose == Purpose::Unsubscribe {
        return now + Duration::days(UNSUBSCRIBE_LINK_DAYS);
    }
    let margin = Duration::days(LINK_MARGIN_DAYS);
    let from_now = now + rules.scale.wall(margin);
    match started_at {
        Some(started) => (started + decision::horizon(rules, margin)).max(from_now),
        None => from_now,
    }
}

/// Why an escalation's reminder or resolution notice is not sent to the
/// pair's coordinator before its escalation is even read: the pair is not
/// stored, or the coordinator was erased (they get no email either).
pub fn notice_skip(pair: Option<&Pair<'_>>) -> Option<Skip> {
    match pair {
        None => Some(Skip::UnknownPair),
        Some(p) if p.erased.contains(&Recipient::Coordinator) => Some(Skip::Erased),
        Some(_) => None,
    }
}

/// How a send ended badly, as far as what follows is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Nothing was delivered.
    Transient,
    /// The server refused the message, or it could not be composed.
    Permanent,
    /// The server may have the message.
    Unknown,
}

/// What follows a failed send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    /// Give the claim back and try again later ([`give_up`] says until when).
    Retry,
    /// Record the delivery failed: never retried.
    RecordFailed,
    /// Record its outcome unknown: never resent, to avoid a duplicate.
    RecordUnknown,
}

/// What follows `failure` under the deployment's unknown-delivery `policy`
/// (`FIRSTWEEK_UNKNOWN_DELIVERY`): an unknown outcome is recorded (a
/// possible gap), or sent again like a transient failure (a possible
/// duplicate, with the same Message-ID).
pub fn after_failure(failure: Failure, policy: UnknownDelivery) -> AfterFailure {
    match (failure, policy) {
        (Failure::Transient, _) | (Failure::Unknown, UnknownDelivery::Resend) => {
            AfterFailure::Retry
        }
        (Failure::Permanent, _) => AfterFailure::RecordFailed,
        (Failure::Unknown, UnknownDelivery::Record) => AfterFailure::RecordUnknown,
    }
}

/// Whether a step whose email keeps failing is given up on: once more than
/// `deadline` has passed since it fell due (`FIRSTWEEK_MAIL_DEADLINE`).
pub fn give_up(due_at: DateTime<Utc>, now: DateTime<Utc>, deadline: Duration) -> bool {
    now - due_at > deadline
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn links_live_through_the_pairs_week_and_a_margin_and_never_less_than_the_margin() {
        let rules = crate::decision::tests::built_in();
        let started = utc("2026-11-23T09:00:00Z");
        let week = rules.playbook.week();
        let margin = Duration::days(LINK_MARGIN_DAYS);
        let end_of_week = started + week;
        let cases = [
            // During the week: through the week and the margin.
            (Some(started), started, end_of_week + margin),
            (Some(started), end_of_week, end_of_week + margin),
            // Issued after the week: the margin from its issuing.
            (
                Some(started),
                end_of_week + Duration::days(3),
                end_of_week + Duration::days(3) + margin,
            ),
            // A digest's link is about no pair: the margin from its issuing.
            (None, started, started + margin),
        ];
        for purpose in [
            Purpose::AnswerInTouch,
            Purpose::AnswerPlan,
            Purpose::Acknowledge,
            Purpose::CoordinatorPage,
        ] {
            for (started_at, now, expected) in cases {
                assert_eq!(
                    link_expiry(&rules, purpose, started_at, now),
                    expected,
                    "{purpose:?} {started_at:?} {now}"
                );
            }
        }
    }

    #[test]
    fn an_unsubscribe_link_keeps_working_at_least_60_calendar_days_whatever_the_scale() {
        let mut rules = crate::decision::tests::built_in();
        let started = utc("2026-11-23T09:00:00Z");
        for scale in [1.0, 14_400.0] {
            rules.scale = crate::timeline::TimeScale::new(scale).expect("a valid scale");
            for now in [
                started,
                started + Duration::days(6),
                started + Duration::days(40),
            ] {
                let expires = link_expiry(&rules, Purpose::Unsubscribe, Some(started), now);
                assert!(
                    expires >= now + Duration::days(60),
                    "scale {scale}, issued {now}: expires {expires}"
                );
                // Far longer than the answer links of the same email.
                assert!(expires > link_expiry(&rules, Purpose::AnswerInTouch, Some(started), now));
            }
        }
    }

    #[test]
    fn a_notice_reaches_only_a_stored_pairs_coordinator_who_was_not_erased() {
        let coordinator = [Recipient::Coordinator];
        let mentee = [Recipient::Mentee];
        let started = crate::decision::tests::started();
        let ledger = [];
        let pair = |erased| Pair {
            started: &started,
            ended_at: None,
            ledger: &ledger,
            unsubscribed: &[],
            playbook: None,
            erased,
            held_out: &[],
        };
        let cases = [
            (None, Some(Skip::UnknownPair)),
            (Some(pair(&coordinator)), Some(Skip::Erased)),
            (Some(pair(&mentee)), None),
            (Some(pair(&[])), None),
        ];
        for (pair, expected) in cases {
            assert_eq!(notice_skip(pair.as_ref()), expected, "{pair:?}");
        }
    }

    #[test]
    fn a_failed_send_is_retried_recorded_or_given_up_by_kind_and_policy() {
        use AfterFailure::*;
        use UnknownDelivery::{Record, Resend};
        let cases = [
            (Failure::Transient, Record, Retry),
            (Failure::Transient, Resend, Retry),
            (Failure::Permanent, Record, RecordFailed),
            (Failure::Permanent, Resend, RecordFailed),
            (Failure::Unknown, Record, RecordUnknown),
            (Failure::Unknown, Resend, Retry),
        ];
        for (failure, policy, expected) in cases {
            assert_eq!(
                after_failure(failure, policy),
                expected,
                "{failure:?} {policy:?}"
            );
        }
    }

    #[test]
    fn a_failing_email_is_given_up_on_only_past_the_deadline() {
        let due = utc("2026-11-24T09:00:00Z");
        let deadline = Duration::hours(24);
        let cases = [
            (due, false),
            (due + Duration::hours(23), false),
            (due + deadline, false),
            (due + deadline + Duration::seconds(1), true),
        ];
        for (now, expected) in cases {
            assert_eq!(give_up(due, now, deadline), expected, "{now}");
        }
    }
}
