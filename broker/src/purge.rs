//! Removing the dead letters that mention an erased person.

use lapin::Connection;

use crate::dead::header_text;
use crate::walk::DeadLetters;
use crate::{BrokerError, ERROR_HEADER};

/// What a purge of `firstweek.dead` did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    /// Letters removed (their bodies mentioned the person).
    pub removed: usize,
    /// Letters kept (republished to the dead queue as they were).
    pub kept: usize,
}

/// Walks `firstweek.dead` once ([`DeadLetters`]): a letter whose body, or
/// reason (which may quote a value of the body), `mentions` says mentions
/// the person is removed, any other kept as it was.
/// A vhost without the dead queue has nothing to purge.
pub async fn purge_dead_letters(
    conn: &Connection,
    mentions: impl Fn(&[u8]) -> bool,
) -> Result<Purged, BrokerError> {
    let Some(mut walk) = DeadLetters::open(conn).await? else {
        return Ok(Purged::default());
    };
    let mut purged = Purged::default();
    let result = async {
        while let Some(letter) = walk.take().await? {
            let reason = header_text(&letter.properties, ERROR_HEADER);
            if mentions(&letter.data) || reason.is_some_and(|r| mentions(r.as_bytes())) {
                walk.remove(&letter).await?;
                purged.removed += 1;
            } else {
                walk.keep(&letter).await?;
                purged.kept += 1;
            }
        }
        Ok(())
    }
    .await;
    walk.close().await;
    result.map(|()| purged)
}
