//! Telling "a dependency is down, wait and retry" from "this message is bad".

/// Whether an error means PostgreSQL or RabbitMQ is unreachable (or restarting),
/// rather than a problem with the work itself.
pub fn is_outage(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        if let Some(e) = cause.downcast_ref::<sqlx::Error>() {
            return sqlx_outage(e);
        }
        if let Some(firstweek_store::StoreError::Database(e)) =
            cause.downcast_ref::<firstweek_store::StoreError>()
        {
            return sqlx_outage(e);
        }
        cause.downcast_ref::<lapin::Error>().is_some()
            || cause
                .downcast_ref::<firstweek_broker::BrokerError>()
                .is_some()
            || cause.downcast_ref::<std::io::Error>().is_some()
    })
}

fn sqlx_outage(e: &sqlx::Error) -> bool {
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
}
