//! When a due step may go out: now, later (the recipient's send window is
//! closed), or never (it is stale). Every path a step takes to a worker (on
//! time, retried, republished, late after an outage, a digest) asks here, so
//! nobody is emailed at night and nobody gets a burst of old nudges.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;

use crate::timeline::SendWindow;

/// What a worker does with a due step at this moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timing {
    /// Send it now.
    Now,
    /// The recipient's send window is closed: wait until it opens.
    Wait(DateTime<Utc>),
    /// It became sendable too long ago: skip it.
    Stale {
        /// How long after it became sendable it is being handled.
        late_by: Duration,
    },
}

/// When the step may go out, as of `now`. `send_at` is when it became
/// sendable; `stale_after` (wall-clock) is how late it may still be sent.
pub fn timing(
    window: SendWindow,
    tz: Option<Tz>,
    send_at: DateTime<Utc>,
    now: DateTime<Utc>,
    stale_after: Option<Duration>,
) -> Timing {
    let late_by = now - send_at;
    if stale_after.is_some_and(|limit| late_by > limit) {
        return Timing::Stale { late_by };
    }
    let open = window.next_open(now, tz);
    if open > now {
        Timing::Wait(open)
    } else {
        Timing::Now
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

/// The reason recorded on a stale step's row.
pub fn stale_reason(late_by: Duration) -> String {
    format!(
        "stale: handled {} s after it became sendable",
        late_by.num_seconds()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    const TOKYO: Tz = chrono_tz::Asia::Tokyo;

    #[test]
    fn a_step_handled_at_night_waits_for_the_recipients_morning() {
        // 23:00 in Tokyo.
        let now = utc("2026-11-24T14:00:00Z");
        let t = timing(SendWindow::default(), Some(TOKYO), now, now, None);
        assert_eq!(t, Timing::Wait(utc("2026-11-24T23:00:00Z")));
        // 10:00 in Tokyo: now.
        let now = utc("2026-11-24T01:00:00Z");
        assert_eq!(
            timing(SendWindow::default(), Some(TOKYO), now, now, None),
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
            Some(Duration::days(1)),
        );
        assert!(matches!(t, Timing::Stale { late_by } if late_by > Duration::days(4)));
        assert!(stale_reason(Duration::hours(30)).starts_with("stale"));
        // Late, but within the limit: sent (here at once, the window being off).
        let now = send_at + Duration::hours(23);
        assert_eq!(
            timing(SendWindow::Off, None, send_at, now, Some(Duration::days(1))),
            Timing::Now
        );
    }
}
