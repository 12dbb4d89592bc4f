//! What becomes of an email the SMTP server may or may not have: the
//! deployment's choice between a possible gap and a possible duplicate.

/// What becomes of an email whose whole message reached the SMTP server but
/// whose final reply never came (a timeout, a reset, a worker that stopped):
/// the server may have it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UnknownDelivery {
    /// Recorded `unknown` and never resent: a possible gap, never a duplicate.
    #[default]
    Record,
    /// Sent again, with the same Message-ID (so receiving systems can collapse
    /// the copies): a possible duplicate, never a gap.
    Resend,
}
