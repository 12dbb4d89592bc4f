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
        // 08: connection exception; 57P: operator intervention (shutdown, restart).
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|c| c.starts_with("08") || c.starts_with("57P")),
        _ => false,
    }
}
