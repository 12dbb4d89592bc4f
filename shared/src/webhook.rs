//! Webhooks out: which URLs an endpoint may have, and when a delivery that
//! failed is tried again (the Standard Webhooks schedule, about a day).

use chrono::Duration;

use crate::timeline::TimeScale;

/// How long after each failed try the next one comes, in program time: the
/// first try is immediate, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h
/// (eight tries over about 27 hours). After the last, the delivery fails.
pub const SCHEDULE_SECONDS: [i64; 7] = [5, 300, 1800, 7200, 18_000, 36_000, 36_000];

/// How many tries a delivery gets in all.
pub const TRIES: i32 = SCHEDULE_SECONDS.len() as i32 + 1;

/// How much a delay is spread either way, so the retries of many deliveries
/// that failed together (an endpoint's outage) do not all come back at once.
pub const JITTER: f64 = 0.2;

/// When try `tried + 1` comes after try number `tried` (1 for the first)
/// failed, in wall time under `scale`; `None`: that was the last, the
/// delivery fails. `spread` in `[0, 1)` places it inside the jitter
/// (0.5: the schedule's own delay).
pub fn retry_after(tried: i32, scale: TimeScale, spread: f64) -> Option<Duration> {
    let index = usize::try_from(tried).ok()?.checked_sub(1)?;
    let base = *SCHEDULE_SECONDS.get(index)?;
    let factor = 1.0 + JITTER * (2.0 * spread.clamp(0.0, 1.0) - 1.0);
    let ms = (base as f64 * 1000.0 * factor).round() as i64;
    Some(scale.wall(Duration::milliseconds(ms)))
}

/// Why an endpoint's URL is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlRefused {
    /// Not `https://` or `http://` followed by a host.
    #[error("{0:?} is not an https:// URL with a host")]
    NotHttp(String),
    /// Plain `http://` to a host other than this machine's loopback.
    #[error(
        "{0:?}: plain http:// is only for localhost or 127.0.0.1 (set FIRSTWEEK_WEBHOOK_ALLOW_HTTP=true to allow it elsewhere)"
    )]
    PlainHttp(String),
}

/// Checks an endpoint's URL: `https://`, or plain `http://` to localhost,
/// 127.0.0.1 or `[::1]`, or anywhere when `allow_http` says so.
pub fn check_url(url: &str, allow_http: bool) -> Result<(), UrlRefused> {
    let refused = || UrlRefused::NotHttp(url.to_string());
    let (scheme, rest) = url.split_once("://").ok_or_else(refused)?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split_once(']').map(|(h, _)| h).unwrap_or_default(),
        None => host.split(':').next().unwrap_or_default(),
    };
    if host.is_empty() || url.chars().any(char::is_whitespace) {
        return Err(refused());
    }
    match scheme {
        "https" => Ok(()),
        "http" if allow_http || ["localhost", "127.0.0.1", "::1"].contains(&host) => Ok(()),
        "http" => Err(UrlRefused::PlainHttp(url.to_string())),
        _ => Err(refused()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_follow_the_standard_webhooks_schedule_then_stop() {
        let middle: Vec<i64> = (1..TRIES)
            .map(|t| retry_after(t, TimeScale::REAL, 0.5).map_or(-1, |d| d.num_seconds()))
            .collect();
        assert_eq!(middle, vec![5, 300, 1800, 7200, 18_000, 36_000, 36_000]);
        assert_eq!(TRIES, 8);
        assert_eq!(
            retry_after(TRIES, TimeScale::REAL, 0.5),
            None,
            "the eighth try was the last"
        );
        assert_eq!(retry_after(0, TimeScale::REAL, 0.5), None);
        let total: i64 = SCHEDULE_SECONDS.iter().sum();
        assert!(
            (24 * 3600..30 * 3600).contains(&total),
            "about a day: {total} s"
        );
    }

    #[test]
    fn jitter_spreads_a_delay_by_a_fifth_either_way_and_the_scale_compresses_it() {
        let early = retry_after(3, TimeScale::REAL, 0.0).map(|d| d.num_seconds());
        let late = retry_after(3, TimeScale::REAL, 1.0).map(|d| d.num_seconds());
        assert_eq!((early, late), (Some(1440), Some(2160)));
        let fast = TimeScale::new(43_200.0).map(|s| retry_after(7, s, 0.5));
        assert_eq!(fast.flatten(), Some(Duration::milliseconds(833)));
    }

    /// An endpoint chooses among what the outbox announces; the intake
    /// takes the delivery events off its queue as announcements, never as
    /// input (they would be dead-lettered as unknown routing keys).
    #[test]
    fn webhook_events_are_announced_and_delivery_events_are_no_input() {
        use crate::event::{self, ANNOUNCED, WEBHOOK_EVENTS};
        assert!(WEBHOOK_EVENTS.iter().all(|k| ANNOUNCED.contains(k)));
        for k in [event::EMAIL_SENT, event::EMAIL_FAILED, event::EMAIL_UNKNOWN] {
            assert!(event::is_announcement(k), "{k}");
        }
        assert!(!WEBHOOK_EVENTS.contains(&event::INTERACTION_RECORDED));
    }

    #[test]
    fn https_anywhere_plain_http_only_to_this_machine_unless_allowed() {
        for ok in [
            "https://hooks.example.org/firstweek",
            "http://localhost:8080/in",
            "http://127.0.0.1:9000",
            "http://[::1]:9000/x",
        ] {
            assert_eq!(check_url(ok, false), Ok(()), "{ok}");
        }
        assert!(matches!(
            check_url("http://hooks.example.org/in", false),
            Err(UrlRefused::PlainHttp(_))
        ));
        assert_eq!(check_url("http://hooks.example.org/in", true), Ok(()));
        for bad in [
            "ftp://x.org",
            "hooks.example.org",
            "https://",
            "https:// x.org",
            "http://localhost.evil.org/",
        ] {
            let refused = check_url(bad, false);
            assert!(refused.is_err(), "{bad}: {refused:?}");
        }
    }
}
