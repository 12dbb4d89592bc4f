//! `firstweek-scheduler` as a library: it owns time. A heartbeat
//! (every second) wakes the publisher, which claims due
//! timeline rows in PostgreSQL and publishes them to RabbitMQ with publisher
//! confirms; a daily job adds the coordinators' digests; another samples the
//! backlog gauges; with `FIRSTWEEK_RETENTION_DAYS`, another forgets the
//! people of old pairs. [`App::build`] from the settings, then
//! [`App::run_until_stopped`].

mod announcer;
mod app;
mod backlog;
mod cron;
mod digest;
mod heartbeat;
mod inbound;
mod publisher;
mod retention;

pub use app::App;
