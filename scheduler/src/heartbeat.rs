//! The heartbeat: the publisher looks at what waits once a second. Ticks
//! only wake; all state lives in PostgreSQL, so a missed or doubled tick (or
//! a second scheduler replica) changes nothing.
//!
//! The one-second beat is a plain interval, not a cron job: the wall-clock
//! schedules (the digest, retention, the backlog gauges) are
//! [`crate::cron`]'s, and a one-second job there would cost the crate's
//! dispatch every second.

use std::time::Duration;

use tokio::time::{Interval, MissedTickBehavior};

/// How often the publisher looks at what waits.
pub const PERIOD: Duration = Duration::from_secs(1);

/// The heartbeat's ticks. Ticks missed while the publisher was busy are
/// not made up: the next comes a period after the late one.
pub fn ticks() -> Interval {
    let mut ticks = tokio::time::interval(PERIOD);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    ticks
}
