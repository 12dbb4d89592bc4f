//! `firstweek-web`: a separately deployable service that serves the pages
//! people open from firstweek's emails. For now: a coordinator's page of
//! their pairs (at risk first, with the rules that fire and the counts
//! behind them) and one pair's timeline, opened with the link in their
//! daily digest. A link opens one coordinator's pages only; no message
//! content is shown, only counts, times and reasons.
//!
//! `/healthz`, `/readyz` (the database answers) and `/metrics` are served on
//! the same address (`FIRSTWEEK_WEB_ADDR`).

mod escalations;
mod pages;
mod participants;
mod templates;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use axum::routing::{get, post};
use metrics_exporter_prometheus::PrometheusHandle;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use firstweek::Rules;
use firstweek_ops::{admin, database};
use firstweek_settings::WebSettings;

/// What every request handler shares.
#[derive(Clone)]
struct Shared {
    pool: PgPool,
    rules: Rules,
    pages: Arc<pages::Pages>,
    metrics: PrometheusHandle,
}

/// The web service, bound and ready to run.
pub struct App {
    settings: WebSettings,
    listener: TcpListener,
    pages: pages::Pages,
}

impl App {
    /// Loads the page templates and binds `FIRSTWEEK_WEB_ADDR`; a template
    /// that cannot be used names its file, an address that cannot be bound
    /// names the variable.
    pub async fn build(settings: WebSettings) -> anyhow::Result<App> {
        let pages = pages::Pages::new(settings.templates_dir.as_deref())?;
        let listener = TcpListener::bind(settings.web_addr)
            .await
            .with_context(|| format!("FIRSTWEEK_WEB_ADDR={} cannot be bound", settings.web_addr))?;
        Ok(App {
            settings,
            listener,
            pages,
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// Serves until `shutdown`, then finishes the requests in flight.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let App {
            settings,
            listener,
            pages,
        } = self;
        let metrics = admin::install_metrics()?;
        tracing::info!(addr = ?listener.local_addr().ok(), "firstweek-web starting");
        let Some(pool) =
            database::connect_when_migrated(&settings.database_url, 8, &shutdown).await
        else {
            return Ok(());
        };
        let shared = Shared {
            pool: pool.clone(),
            rules: settings.rules.clone(),
            pages: Arc::new(pages),
            metrics,
        };
        let stop = shutdown.clone();
        axum::serve(listener, router(shared))
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await
            .context("serving")?;
        pool.close().await;
        tracing::info!("firstweek-web stopped");
        Ok(())
    }
}

fn router(shared: Shared) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(pages::ready))
        .route("/metrics", get(pages::metrics))
        .route("/c/{token}", get(pages::coordinator))
        .route("/c/{token}/pairs/{mentorship_id}", get(pages::pair))
        .route(
            "/c/{token}/pairs/{mentorship_id}/acknowledge",
            post(escalations::page_acknowledge),
        )
        .route(
            "/c/{token}/pairs/{mentorship_id}/resolve",
            post(escalations::page_resolve),
        )
        .route(
            "/a/{token}",
            get(escalations::show).post(escalations::acknowledge),
        )
        .route(
            "/r/{token}",
            get(participants::show_answer).post(participants::answer),
        )
        .route(
            "/u/{token}",
            get(participants::show_unsubscribe).post(participants::unsubscribe),
        )
        .with_state(shared)
}
