//! A connection of its own, outside the pool, for the statements a service
//! runs every second of its life (the scheduler's look at what waits, the
//! readiness ping) and for the batch writers of the hot paths. sqlx pings a
//! pooled connection each time it goes back to the pool: a statement through
//! the pool costs two round trips more than on a connection kept aside; at
//! one statement a second that is most of what an idle service spends, and
//! on a hot path it is a round trip per batch.

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection, PgPool};

use crate::StoreError;

/// A connection opened with the pool's settings on first use, and again
/// after [`Dedicated::reset`].
pub struct Dedicated {
    options: PgConnectOptions,
    conn: Option<PgConnection>,
}

impl Dedicated {
    /// Connects lazily, with the same options as `pool`.
    pub fn new(pool: PgPool) -> Dedicated {
        Dedicated {
            options: (*pool.connect_options()).clone(),
            conn: None,
        }
    }

    /// [`Dedicated::new`] for a batch writer of key lookups: the same few
    /// statements over and over, each joining its batch (array parameters)
    /// to tables by their keys. With the pool's custom plans PostgreSQL
    /// plans each run anew: in a profile of the mail path, 40 % of
    /// PostgreSQL's time was the planner. Here each statement is planned once
    /// per connection, and planned as what it is whatever the statistics say
    /// when it is (a table may be empty then and hold millions of rows an
    /// hour later): index lookups joined by nested loops, never a sequential
    /// scan or a hash join over a whole table. Only for statements that
    /// find their rows by key: [`crate::pick_steps`],
    /// [`crate::claim_deliveries`], [`crate::mark_handing_over_many`],
    /// [`crate::finish_deliveries`].
    pub fn for_key_lookups(pool: PgPool) -> Dedicated {
        let mut dedicated = Dedicated::new(pool);
        dedicated.options = dedicated.options.options([
            ("plan_cache_mode", "force_generic_plan"),
            ("enable_seqscan", "off"),
            ("enable_hashjoin", "off"),
            ("enable_mergejoin", "off"),
        ]);
        dedicated
    }

    /// The connection, opened if needed.
    pub async fn get(&mut self) -> Result<&mut PgConnection, StoreError> {
        let conn = match self.conn.take() {
            Some(conn) => conn,
            None => self.options.connect().await?,
        };
        Ok(self.conn.insert(conn))
    }

    /// Passes on the `result` of work done on this connection; an error
    /// forgets the connection (it may be broken, or mid-transaction), so
    /// the next use opens a fresh one. (A method taking the work as an
    /// async closure would read better, but its future is not `Send` for
    /// every lifetime, which a spawned writer needs: `on_own_connection!`
    /// in the workers pairs [`Dedicated::get`] with this.)
    pub fn checked<T>(&mut self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        if result.is_err() {
            self.reset();
        }
        result
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
