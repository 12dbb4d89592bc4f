//! Telling "PostgreSQL cannot answer now, wait and retry" from "this work is
//! wrong", where the errors are produced: callers ask
//! [`StoreError::is_outage`] rather than guessing from an error's text or type.

use crate::StoreError;

impl StoreError {
    /// Whether PostgreSQL is unreachable, restarting or out of room for now,
    /// rather than the work itself being wrong.
    pub fn is_outage(&self) -> bool {
        match self {
            StoreError::Database(e) => is_outage(e),
            _ => false,
        }
    }
}

/// Whether a sqlx error means the database cannot answer now (see
/// [`StoreError::is_outage`]).
pub fn is_outage(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|c| transient_sqlstate(&c)),
        _ => false,
    }
}

/// SQLSTATE classes that say "the database cannot do it right now", never
/// "this work is bad": 08 connection exception, 40 transaction rollback
/// (serialization failure, deadlock), 53 insufficient resources (too many
/// connections, disk full), 55 object not in prerequisite state (lock not
/// available), 57 operator intervention (statement timeout, shutdown).
pub fn transient_sqlstate(code: &str) -> bool {
    ["08", "40", "53", "55", "57"]
        .iter()
        .any(|class| code.starts_with(class))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_and_limits_are_outages_and_bad_data_is_not() {
        for code in [
            "08006", "40001", "40P01", "53300", "55P03", "57014", "57P01",
        ] {
            assert!(transient_sqlstate(code), "{code}");
        }
        for code in ["23505", "22P02", "42P01"] {
            assert!(!transient_sqlstate(code), "{code}");
        }
    }

    #[test]
    fn an_unreachable_database_is_an_outage_and_a_corrupt_row_is_not() {
        assert!(StoreError::Database(sqlx::Error::PoolTimedOut).is_outage());
        assert!(!StoreError::Database(sqlx::Error::RowNotFound).is_outage());
        assert!(!StoreError::Corrupt("m-1".into(), "bad".into()).is_outage());
    }
}
