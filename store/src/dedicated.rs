//! A connection of its own, outside the pool, for the statements a service
//! runs every second of its life (the scheduler's look at what waits, the
//! readiness ping). sqlx pings a pooled connection each time it goes back to
//! the pool: a statement through the pool costs two round trips more than on
//! a connection kept aside, and at one statement a second that is most of
//! what an idle service spends.

use sqlx::{ConnectOptions, Connection, PgConnection, PgPool};

use crate::StoreError;

/// A connection opened with the pool's settings on first use, and again
/// after [`Dedicated::reset`].
pub struct Dedicated {
    pool: PgPool,
    conn: Option<PgConnection>,
}

impl Dedicated {
    /// Connects lazily, with the same options as `pool`.
    pub fn new(pool: PgPool) -> Dedicated {
        Dedicated { pool, conn: None }
    }

    /// The connection, opened if needed.
    pub async fn get(&mut self) -> Result<&mut PgConnection, StoreError> {
        let conn = match self.conn.take() {
            Some(conn) => conn,
            None => self.pool.connect_options().connect().await?,
        };
        Ok(self.conn.insert(conn))
    }

    /// Forgets the connection (after an error, or a statement that took too
    /// long): the next use opens a fresh one.
    pub fn reset(&mut self) {
        self.conn = None;
    }

    /// One round trip: whether PostgreSQL answers on this connection.
    pub async fn ping(&mut self) -> Result<(), StoreError> {
        let result = self.get().await?.ping().await;
        if result.is_err() {
            self.reset();
        }
        Ok(result?)
    }

    /// Closes the connection politely (at shutdown).
    pub async fn close(mut self) {
        if let Some(conn) = self.conn.take() {
            let _ = conn.close().await;
        }
    }
}
