//! `firstweek-web` run as a database role of the test's own, granted
//! exactly what `deploy/postgres/roles.sql` grants `firstweek_web` (by the
//! same `firstweek_grant_web` function), on a test database: what the web
//! tier can and cannot do, seen from its own connection.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use sqlx::PgPool;
use tokio::process::{Child, Command};

use crate::{PG_ADMIN_URL, TestDb, bin_dir, http_status, port, unique};

/// A login role with the web's grants on one test database; dropped with
/// the guard (its grants first), whether the test passed or not.
pub struct WebRole {
    /// The role's name.
    pub name: String,
    /// `DATABASE_URL` for the test database as this role.
    pub url: String,
    admin_url: String,
}

impl WebRole {
    /// Creates the role and grants it what `roles.sql` grants `firstweek_web`.
    pub async fn create(db: &TestDb) -> anyhow::Result<WebRole> {
        let name = unique("fw_web_role");
        let admin = PgPool::connect(PG_ADMIN_URL)
            .await
            .context("connecting to PostgreSQL")?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE ROLE {name} LOGIN")))
            .execute(&admin)
            .await?;
        admin.close().await;
        let role = WebRole {
            url: format!("postgres://{name}@127.0.0.1:5432/{}", db.name),
            name,
            admin_url: db.url.clone(),
        };
        sqlx::query("SELECT firstweek_grant_web($1)")
            .bind(&role.name)
            .execute(&db.pool)
            .await?;
        Ok(role)
    }

    /// A pool on the test database as this role.
    pub async fn pool(&self) -> anyhow::Result<PgPool> {
        Ok(PgPool::connect(&self.url).await?)
    }
}

impl Drop for WebRole {
    fn drop(&mut self) {
        let (name, db_url) = (self.name.clone(), self.admin_url.clone());
        // A runtime of its own: the test's may be gone or busy by now.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                // Its grants in the test database (if that is still there), then the role.
                if let Ok(db) = PgPool::connect(&db_url).await {
                    let sql = format!("DROP OWNED BY {name}");
                    let _ = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&db).await;
                    db.close().await;
                }
                let admin = PgPool::connect(PG_ADMIN_URL).await.ok()?;
                let sql = format!("DROP ROLE IF EXISTS {name}");
                let _ = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&admin).await;
                admin.close().await;
                Some(())
            })
        });
        let _ = dropped.join();
    }
}

/// `firstweek-web` running as a [`WebRole`]; killed when dropped.
pub struct RestrictedWeb {
    /// Where it listens on 127.0.0.1.
    pub port: u16,
    _child: Child,
}

impl RestrictedWeb {
    /// Starts `firstweek-web` with `role`'s `DATABASE_URL` and waits until it is ready.
    pub async fn start(role: &WebRole) -> anyhow::Result<RestrictedWeb> {
        RestrictedWeb::start_with(role, &[]).await
    }

    /// The same, with extra environment (`FIRSTWEEK_API_RATE_PER_MINUTE`, ...).
    pub async fn start_with(role: &WebRole, env: &[(&str, &str)]) -> anyhow::Result<RestrictedWeb> {
        let web_port = port();
        let child = Command::new(bin_dir().join("firstweek-web"))
            .env_clear()
            .envs(env.iter().copied())
            .env("DATABASE_URL", &role.url)
            .env("FIRSTWEEK_WEB_ADDR", format!("127.0.0.1:{web_port}"))
            .env(
                "FIRSTWEEK_PUBLIC_URL",
                format!("http://127.0.0.1:{web_port}"),
            )
            .env("FIRSTWEEK_ADMIN_ADDR", "off")
            .env("RUST_LOG", "warn")
            .kill_on_drop(true)
            .spawn()
            .context("starting firstweek-web")?;
        let web = RestrictedWeb {
            port: web_port,
            _child: child,
        };
        let start = Instant::now();
        // A well-formed token nobody was issued: "not found" once the database
        // answers (and the schema is current), "try again" before.
        let unknown = format!("/c/{}", "0".repeat(64));
        while http_status(web_port, &unknown).await != 404 {
            if start.elapsed() > Duration::from_secs(30) {
                bail!("firstweek-web as {} did not become ready", role.name);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Ok(web)
    }
}
