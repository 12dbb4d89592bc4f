//! When a due step may go out: now, later (the recipient's send window is
//! closed), or never (it is stale: it no longer makes sense, see
//! [`super::relevance`]). Every path a step takes to a worker (on time,
//! retried, republished, late after an outage, a digest) asks here, so
//! nobody is emailed at night and nobody gets a burst of old nudges.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;

use super::relevance::{Expiry, Stale};
use crate::timeline::SendWindow;

/// What a worker does with a due step at this moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Timing {
    /// Send it now.
    Now,
    /// The recipient's send window is closed: wait until it opens.
    Wait(DateTime<Utc>),
    /// It no longer makes sense: skip it, for this reason.
    Stale(Stale),
}

/// When the step may go out, as of `now`. `send_at` is when it became
/// sendable; `expiry` says until when it makes sense. A participant's step
/// that would wait for a window opening only after it stops making sense is
/// stale now.
pub fn timing(
    window: SendWindow,
    tz: Option<Tz>,
    send_at: DateTime<Utc>,
    now: DateTime<Utc>,
    expiry: &Expiry,
) -> Timing {
    if let Some(stale) = expiry.stale_at(send_at, now) {
        return Timing::Stale(stale);
    }
    let open = window.next_open(now, tz);
    if open <= now {
        return Timing::Now;
    }
    match expiry {
        Expiry::Until(..) => match expiry.stale_at(send_at, open) {
            Some(stale) => Timing::Stale(stale),
            None => Timing::Wait(open),
        },
        // A coordinator's email keeps its fixed rule: judged when handled.
        Expiry::Fixed(_) => Timing::Wait(open),
    }
}

/// When a retry `delay` from `now` may run: then, or when the recipient's
/// window next opens if it would land at night.
pub fn retry_at(
    window: SendWindow,
    tz: Option<Tz>,
    now: DateTime<Utc>,
    delay: Duration,
) -> DateTime<Utc> {
    window.next_open(now + delay, tz)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    const TOKYO: Tz = chrono_tz::Asia::Tokyo;
    const NEVER: Expiry = Expiry::Fixed(None);

    #[test]
    fn a_step_handled_at_night_waits_for_the_recipients_morning() {
        // 23:00 in Tokyo.
        let now = utc("2026-11-24T14:00:00Z");
        let t = timing(SendWindow::default(), Some(TOKYO), now, now, &NEVER);
        assert_eq!(t, Timing::Wait(utc("2026-11-24T23:00:00Z")));
        // 10:00 in Tokyo: now.
        let now = utc("2026-11-24T01:00:00Z");
        assert_eq!(
            timing(SendWindow::default(), Some(TOKYO), now, now, &NEVER),
            Timing::Now
        );
    }

    #[test]
    fn a_retry_that_would_land_at_night_waits_for_the_morning() {
        // 19:59 in Tokyo, retried in 5 minutes: 20:04 is closed, so 08:00 tomorrow.
        let now = utc("2026-11-24T10:59:00Z");
        assert_eq!(
            retry_at(
                SendWindow::default(),
                Some(TOKYO),
                now,
                Duration::minutes(5)
            ),
            utc("2026-11-24T23:00:00Z")
        );
        assert_eq!(
            retry_at(SendWindow::Off, Some(TOKYO), now, Duration::minutes(5)),
            now + Duration::minutes(5)
        );
    }

    #[test]
    fn a_step_later_than_the_limit_is_stale_whatever_the_window() {
        let send_at = utc("2026-11-20T01:00:00Z");
        let now = utc("2026-11-24T14:00:00Z");
        let t = timing(
            SendWindow::default(),
            Some(TOKYO),
            send_at,
            now,
            &Expiry::Fixed(Some(Duration::days(1))),
        );
        assert!(matches!(t, Timing::Stale(Stale::Late { late_by }) if late_by > Duration::days(4)));
        // Late, but within the limit: sent (here at once, the window being off).
        let now = send_at + Duration::hours(23);
        assert_eq!(
            timing(
                SendWindow::Off,
                None,
                send_at,
                now,
                &Expiry::Fixed(Some(Duration::days(1)))
            ),
            Timing::Now
        );
    }

    #[test]
    fn a_nudge_that_would_wait_past_its_relevance_is_stale_now() {
        // 23:00 in Tokyo; the window opens at 08:00, after the next step is due at 02:00.
        let now = utc("2026-11-24T14:00:00Z");
        let superseded = Stale::Superseded {
            by: "plan_reminder".into(),
        };
        let expiry = Expiry::Until(utc("2026-11-24T17:00:00Z"), superseded.clone());
        assert_eq!(
            timing(SendWindow::default(), Some(TOKYO), now, now, &expiry),
            Timing::Stale(superseded)
        );
        // Relevant until after the opening: it waits.
        let expiry = Expiry::Until(utc("2026-11-25T17:00:00Z"), Stale::WeekOver);
        assert_eq!(
            timing(SendWindow::default(), Some(TOKYO), now, now, &expiry),
            Timing::Wait(utc("2026-11-24T23:00:00Z"))
        );
    }
}
