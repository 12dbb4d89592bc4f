//! Wall-clock jobs (the digest, retention, the backlog gauges): each a task
//! that sleeps until its schedule's next time, runs, and sleeps again.
//!
//! Schedules are six-field cron expressions (seconds first, UTC), parsed by
//! croner as tokio-cron-scheduler parsed them. That crate ran them before;
//! its dispatch loop woke every 500 ms whatever the schedules said, which
//! was a fifth of an idle scheduler's CPU (BENCHMARKS.md). Here a job wakes
//! only when it is due. A run of a job is awaited before its next time is
//! computed, so one job never runs twice at once; a time missed while it ran
//! is skipped, not made up.

use std::future::Future;

use chrono::{DateTime, Utc};
use croner::Cron;
use croner::parser::{CronParser, Seconds};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// A parsed six-field cron expression.
#[derive(Debug, Clone)]
pub struct Schedule(Cron);

/// Why an expression is not a schedule.
#[derive(Debug, thiserror::Error)]
#[error("{expr:?} is not a six-field cron expression (seconds first): {reason}")]
pub struct BadSchedule {
    expr: String,
    reason: String,
}

impl Schedule {
    /// Parses `expr`: six fields, seconds first; day of month and day of
    /// week must both match when both are given.
    pub fn parse(expr: &str) -> Result<Schedule, BadSchedule> {
        CronParser::builder()
            .seconds(Seconds::Required)
            .dom_and_dow(true)
            .build()
            .parse(expr)
            .map(Schedule)
            .map_err(|e| BadSchedule {
                expr: expr.to_string(),
                reason: e.to_string(),
            })
    }

    /// The first time strictly after `now`, if the schedule has one.
    pub fn next_after(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.0.find_next_occurrence(&now, false).ok()
    }
}

/// Runs `job` at every time of `schedule` until `shutdown`, as a task of
/// `tasks`. A run in progress when shutdown comes is dropped (each job's
/// work is transactions that roll back, and the next start does it again).
pub fn spawn<F, Fut>(
    tasks: &mut JoinSet<()>,
    name: &'static str,
    schedule: Schedule,
    shutdown: CancellationToken,
    job: F,
) where
    F: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    tasks.spawn(async move {
        while let Some(next) = schedule.next_after(Utc::now()) {
            let wait = (next - Utc::now()).to_std().unwrap_or_default();
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = job() => {}
            }
        }
        tracing::warn!(job = name, "the schedule has no next time; the job stops");
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn the_next_time_is_the_first_one_after_now() {
        let every_ten = Schedule::parse("*/10 * * * * *").unwrap();
        assert_eq!(
            every_ten.next_after(at("2026-12-04T12:00:03Z")),
            Some(at("2026-12-04T12:00:10Z"))
        );
        assert_eq!(
            every_ten.next_after(at("2026-12-04T12:00:10Z")),
            Some(at("2026-12-04T12:00:20Z")),
            "strictly after: a job that just ran waits for the next time"
        );
        let mornings = Schedule::parse("0 30 7 * * Mon-Fri").unwrap();
        // 4 Dec 2026 is a Friday: the next weekday morning is Monday's.
        assert_eq!(
            mornings.next_after(at("2026-12-04T08:00:00Z")),
            Some(at("2026-12-07T07:30:00Z"))
        );
    }

    #[test]
    fn a_five_field_or_garbled_expression_is_refused_with_its_text() {
        for bad in ["* * * * *", "every minute", "61 * * * * *"] {
            let e = Schedule::parse(bad).unwrap_err();
            assert!(e.to_string().contains(bad), "{e}");
        }
    }

    #[tokio::test]
    async fn a_job_runs_at_its_times_and_stops_with_shutdown() {
        let runs = Arc::new(AtomicUsize::new(0));
        let shutdown = CancellationToken::new();
        let mut tasks = JoinSet::new();
        let counter = runs.clone();
        spawn(
            &mut tasks,
            "test",
            Schedule::parse("* * * * * *").unwrap(),
            shutdown.clone(),
            move || {
                let counter = counter.clone();
                async move {
                    counter.fetch_add(1, Ordering::SeqCst);
                }
            },
        );
        tokio::time::sleep(Duration::from_millis(2_300)).await;
        let seen = runs.load(Ordering::SeqCst);
        assert!(
            (2..=3).contains(&seen),
            "once a second: {seen} runs in 2.3 s"
        );
        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(1), async {
            while tasks.join_next().await.is_some() {}
        })
        .await
        .expect("the job's task ends with shutdown");
    }
}
