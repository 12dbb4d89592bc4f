//! `firstweek-web`: a separately deployable service that serves the pages
//! people open from firstweek's emails. For now: a coordinator's page of
//! their pairs (at risk first, with the rules that fire and the counts
//! behind them) and one pair's timeline, opened with the link in their
//! daily digest. A link opens one coordinator's pages only; no message
//! content is shown, only counts, times and reasons.
//!
//! The pages are served on the public address (`FIRSTWEEK_WEB_ADDR`),
//! within the limits in [`server`] and with its security headers on every
//! answer. `/healthz`, `/readyz` (the database answers) and `/metrics` are
//! served on the admin address (`FIRSTWEEK_ADMIN_ADDR`, like the other
//! services'), never on the public one.

mod api;
mod escalations;
mod lang;
mod pages;
mod pair;
mod participants;
pub mod server;
mod templates;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use axum::middleware;
use axum::routing::{get, post};
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use firstweek::Rules;
use firstweek_ops::admin::{self, Admin};
use firstweek_ops::database;
use firstweek_settings::WebSettings;

/// What every request handler shares.
#[derive(Clone)]
struct Shared {
    pool: PgPool,
    rules: Rules,
    pages: Arc<pages::Pages>,
    /// The events API's limits.
    api: firstweek_settings::ApiSettings,
}

/// The web service, bound and ready to run.
pub struct App {
    settings: WebSettings,
    listener: TcpListener,
    admin: Admin,
    pages: pages::Pages,
}

impl App {
    /// Loads the page templates and binds `FIRSTWEEK_WEB_ADDR` and
    /// `FIRSTWEEK_ADMIN_ADDR`; a template that cannot be used names its
    /// file, an address that cannot be bound names its variable.
    pub async fn build(settings: WebSettings) -> anyhow::Result<App> {
        let pages = pages::Pages::new(settings.templates_dir.as_deref())?;
        let listener = TcpListener::bind(settings.web_addr)
            .await
            .with_context(|| format!("FIRSTWEEK_WEB_ADDR={} cannot be bound", settings.web_addr))?;
        let admin = Admin::bind_without_broker(settings.admin_addr).await?;
        Ok(App {
            settings,
            listener,
            admin,
            pages,
        })
    }

    /// Where the pages are served.
    pub fn addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// Where the admin endpoints listen, if they do.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.addr()
    }

    /// Serves until `shutdown`, then finishes the requests in flight.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let App {
            settings,
            listener,
            admin,
            pages,
        } = self;
        tracing::info!(addr = ?listener.local_addr().ok(), "firstweek-web starting");
        // The admin endpoints answer (not ready) while the database is awaited.
        let mut tasks = tokio::task::JoinSet::new();
        let admin_stop = shutdown.child_token();
        let health = admin.spawn(&mut tasks, &admin_stop);
        let Some(pool) =
            database::connect_when_migrated(&settings.database_url, 8, &shutdown).await
        else {
            admin_stop.cancel();
            while tasks.join_next().await.is_some() {}
            return Ok(());
        };
        tasks.spawn(admin::watch_database(
            pool.clone(),
            health,
            admin_stop.clone(),
        ));
        let shared = Shared {
            pool: pool.clone(),
            rules: settings.rules.clone(),
            pages: Arc::new(pages),
            api: settings.api,
        };
        let limits = server::Limits {
            read_timeout: settings.read_timeout,
            max_connections: settings.max_connections,
        };
        server::serve(listener, router(shared, limits), limits, shutdown).await;
        admin_stop.cancel();
        while let Some(done) = tasks.join_next().await {
            if let Ok(Err(e)) = done {
                tracing::warn!(error = %format!("{e:#}"), "admin endpoints");
            }
        }
        pool.close().await;
        tracing::info!("firstweek-web stopped");
        Ok(())
    }
}

/// The public routes: the pages links open, nothing else (an unknown path
/// is a 404 with the security headers like any other answer).
fn router(shared: Shared, limits: server::Limits) -> Router {
    Router::new()
        .route("/c/{token}", get(pages::coordinator))
        .route("/c/{token}/pairs/{mentorship_id}", get(pair::pair))
        .route(
            "/c/{token}/pairs/{mentorship_id}/acknowledge",
            post(escalations::page_acknowledge),
        )
        .route(
            "/c/{token}/pairs/{mentorship_id}/resolve",
            get(escalations::page_resolve_confirm).post(escalations::page_resolve),
        )
        .route(
            "/a/{token}",
            get(escalations::show).post(escalations::acknowledge),
        )
        .route(
            "/r/{token}",
            get(participants::show_answer).post(participants::answer),
        )
        .route("/api/v1/events", post(api::post_event))
        .route("/api/v1/events/batch", post(api::post_batch))
        .route(
            "/u/{token}",
            get(participants::show_unsubscribe).post(participants::unsubscribe),
        )
        .with_state(shared)
        .layer(middleware::from_fn_with_state(
            limits.read_timeout,
            server::deadline,
        ))
        .layer(middleware::from_fn(lang::choose))
        .layer(middleware::from_fn(server::security_headers))
}
