//! Wall-clock jobs (the digest, retention, the backlog gauges), driven by
//! tokio-cron-scheduler, the design card's scheduler crate.
//!
//! Schedules are six-field cron expressions (seconds first, UTC). They are
//! checked here with croner, the parser tokio-cron-scheduler itself uses
//! with the same settings, because its own error does not say what is wrong.
//!
//! What the crate does not do, [`Jobs`] adds: a run of a job never starts
//! while the previous one still runs (that time is skipped, not made up),
//! and at [`Jobs::stop`] a run in progress is dropped and waited for (each
//! job's work is transactions that roll back; the next start does it
//! again). The crate checks its jobs every 500 ms whatever their schedules
//! say; that interval is fixed in the crate (BENCHMARKS.md has its cost).

use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use croner::Cron;
use croner::parser::{CronParser, Seconds};
use tokio::sync::Mutex;
use tokio_cron_scheduler::{Job, JobScheduler, JobSchedulerError};
use tokio_util::sync::CancellationToken;

/// A checked six-field cron expression.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// The expression as given, for the driver.
    text: String,
    /// The same, parsed, for its next times.
    cron: Cron,
}

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
            .map(|cron| Schedule {
                text: expr.to_string(),
                cron,
            })
            .map_err(|e| BadSchedule {
                expr: expr.to_string(),
                reason: e.to_string(),
            })
    }

    /// The first time strictly after `now`, if the schedule has one.
    pub fn next_after(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron.find_next_occurrence(&now, false).ok()
    }
}

/// Why the wall-clock jobs could not start.
#[derive(Debug, thiserror::Error)]
pub enum CronError {
    /// The crate's scheduler did not start or refused a job.
    #[error("the cron scheduler: {0:?}")]
    Scheduler(#[from] JobSchedulerError),
}

/// The running wall-clock jobs.
pub struct Jobs {
    scheduler: JobScheduler,
    /// Cancelled by [`Jobs::stop`]: a run in progress ends, none starts.
    stop: CancellationToken,
    /// Each job's lock, held while it runs.
    running: Vec<Arc<Mutex<()>>>,
}

impl Jobs {
    /// Starts the scheduler, with no job yet. It needs a multi-threaded
    /// runtime (on a current-thread one, adding a job hangs).
    pub async fn start() -> Result<Jobs, CronError> {
        let scheduler = JobScheduler::new().await?;
        scheduler.start().await?;
        Ok(Jobs {
            scheduler,
            stop: CancellationToken::new(),
            running: Vec::new(),
        })
    }

    /// Runs `job` at every time of `schedule` until [`Jobs::stop`].
    pub async fn add<F, Fut>(
        &mut self,
        name: &'static str,
        schedule: &Schedule,
        job: F,
    ) -> Result<(), CronError>
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let running = Arc::new(Mutex::new(()));
        self.running.push(running.clone());
        let stop = self.stop.clone();
        let job = Job::new_async(schedule.text.as_str(), move |_id, _scheduler| {
            let (run, running, stop) = (job(), running.clone(), stop.clone());
            Box::pin(async move {
                let Ok(_running) = running.try_lock_owned() else {
                    tracing::debug!(job = name, "the previous run goes on; this time is skipped");
                    return;
                };
                tokio::select! {
                    biased;
                    _ = stop.cancelled() => {}
                    _ = run => {}
                }
            })
        })?;
        self.scheduler.add(job).await?;
        tracing::debug!(job = name, first = ?schedule.next_after(Utc::now()), "wall-clock job added");
        Ok(())
    }

    /// Stops the schedules, ends a run in progress and waits until it has.
    pub async fn stop(mut self) {
        self.stop.cancel();
        if let Err(e) = self.scheduler.shutdown().await {
            tracing::warn!(error = ?e, "the cron scheduler did not stop cleanly");
        }
        // Once a job's lock is ours, its run has ended; a later one ends at once.
        for running in &self.running {
            drop(running.lock().await);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
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

    // The crate hangs on a current-thread runtime (the default test one).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_job_runs_at_its_times_and_stops_with_shutdown() {
        let runs = Arc::new(AtomicUsize::new(0));
        let mut jobs = Jobs::start().await.unwrap();
        let counter = runs.clone();
        let every_second = Schedule::parse("* * * * * *").unwrap();
        jobs.add("test", &every_second, move || {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
            }
        })
        .await
        .unwrap();
        // Each second's run starts up to 500 ms late (the crate's check interval).
        tokio::time::sleep(Duration::from_millis(3_300)).await;
        let seen = runs.load(Ordering::SeqCst);
        assert!(
            (2..=4).contains(&seen),
            "once a second: {seen} runs in 3.3 s"
        );
        tokio::time::timeout(Duration::from_secs(1), jobs.stop())
            .await
            .expect("the jobs stop with shutdown");
        let stopped = runs.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(1_600)).await;
        assert_eq!(runs.load(Ordering::SeqCst), stopped, "no run after stop");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_slow_run_is_never_started_twice_and_is_ended_by_stop() {
        let started = Arc::new(AtomicUsize::new(0));
        let finished = Arc::new(AtomicBool::new(false));
        let mut jobs = Jobs::start().await.unwrap();
        let every_second = Schedule::parse("* * * * * *").unwrap();
        let (s, f) = (started.clone(), finished.clone());
        jobs.add("slow", &every_second, move || {
            let (s, f) = (s.clone(), f.clone());
            async move {
                s.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_secs(60)).await;
                f.store(true, Ordering::SeqCst);
            }
        })
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_millis(3_300)).await;
        assert_eq!(
            started.load(Ordering::SeqCst),
            1,
            "three times came while the first run went on"
        );
        tokio::time::timeout(Duration::from_secs(1), jobs.stop())
            .await
            .expect("stop ends the run in progress and waits for it");
        assert!(!finished.load(Ordering::SeqCst), "the run was dropped");
    }
}
