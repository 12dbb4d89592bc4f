//! The one backoff policy lives with the broker link, which reconnects with
//! it; the services' other waits (the database, a failing tick) use the same type.

pub use firstweek_broker::backoff::Backoff;
