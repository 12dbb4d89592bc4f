//! The states rows are in, as enums. This is the one place that maps them to
//! the text PostgreSQL stores (the schema's `CHECK` constraints hold the same
//! lists); SQL binds these values instead of writing them out.

use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgHasArrayType, PgTypeInfo, PgValueRef};
use sqlx::{Decode, Encode, Postgres, Type};

/// Declares an enum stored as `TEXT`, with its names, `as_str`, `parse`,
/// `Display` and the sqlx mapping.
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The stored text.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            /// Parses the stored text.
            pub fn parse(s: &str) -> Option<$name> {
                match s {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Type<Postgres> for $name {
            fn type_info() -> PgTypeInfo {
                <&str as Type<Postgres>>::type_info()
            }
            fn compatible(ty: &PgTypeInfo) -> bool {
                <&str as Type<Postgres>>::compatible(ty)
            }
        }

        impl PgHasArrayType for $name {
            fn array_type_info() -> PgTypeInfo {
                <&str as PgHasArrayType>::array_type_info()
            }
        }

        impl Encode<'_, Postgres> for $name {
            fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
                <&str as Encode<'_, Postgres>>::encode(self.as_str(), buf)
            }
        }

        impl<'r> Decode<'r, Postgres> for $name {
            fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
                let text = <&str as Decode<'r, Postgres>>::decode(value)?;
                $name::parse(text).ok_or_else(|| {
                    format!(concat!("{:?} is not a known ", stringify!($name)), text).into()
                })
            }
        }
    };
}

text_enum! {
    /// Where a timeline row is: waiting for the scheduler, handed to the
    /// workers, or final.
    RowStatus {
        /// Waiting for its send time (or a retry).
        Scheduled => "scheduled",
        /// Published to the workers; not finished yet.
        Published => "published",
        /// Its email was accepted by the SMTP server.
        Sent => "sent",
        /// Closed without an email (condition not met, once-key taken, ...).
        Skipped => "skipped",
        /// The mentorship ended first.
        Cancelled => "cancelled",
        /// Its email was refused, or kept failing past the deadline.
        Failed => "failed",
        /// The SMTP server may or may not have the email; never resent by itself.
        Unknown => "unknown",
    }
}

impl RowStatus {
    /// States in which a row still waits for something (the rest are final).
    pub const OPEN: &'static [RowStatus] = &[RowStatus::Scheduled, RowStatus::Published];

    /// The row still waits for the scheduler or a worker.
    pub fn is_open(self) -> bool {
        Self::OPEN.contains(&self)
    }
}

text_enum! {
    /// Where a delivery in the ledger is.
    DeliveryStatus {
        /// Claimed by a worker; nothing handed to the SMTP server yet.
        Sending => "sending",
        /// Being handed to the SMTP server: a worker that dies now leaves an outcome nobody knows.
        HandingOver => "handing_over",
        /// Accepted by the SMTP server.
        Sent => "sent",
        /// Refused permanently.
        Failed => "failed",
        /// Outcome unknown (no final reply, or a worker died mid hand-over).
        Unknown => "unknown",
    }
}

impl DeliveryStatus {
    /// A worker holds the delivery right now.
    pub const IN_FLIGHT: &'static [DeliveryStatus] =
        &[DeliveryStatus::Sending, DeliveryStatus::HandingOver];
    /// Ended in a way an operator may send again (`firstweek resend`).
    pub const RESENDABLE: &'static [DeliveryStatus] =
        &[DeliveryStatus::Failed, DeliveryStatus::Unknown];

    /// The timeline status a row takes when its delivery ends so.
    pub fn row_status(self) -> RowStatus {
        match self {
            DeliveryStatus::Sent => RowStatus::Sent,
            DeliveryStatus::Failed => RowStatus::Failed,
            DeliveryStatus::Unknown => RowStatus::Unknown,
            // Not an end: a row is never closed with these.
            DeliveryStatus::Sending | DeliveryStatus::HandingOver => RowStatus::Published,
        }
    }
}

text_enum! {
    /// What a timeline row is about.
    SubjectKind {
        /// A mentor–mentee pair.
        Pair => "pair",
        /// A coordinator's daily digest.
        Digest => "digest",
    }
}

text_enum! {
    /// Who asked for an erasure.
    ErasedVia {
        /// A `person.erased` event.
        Event => "event",
        /// An operator, with `firstweek erase`.
        Cli => "cli",
    }
}

text_enum! {
    /// A webhook endpoint's state.
    EndpointState {
        /// Its deliveries arrive (or are being retried).
        Active => "active",
        /// A delivery used up its retries; the next one that arrives makes
        /// it active again.
        Failing => "failing",
        /// Removed by an operator: nothing more is sent to it.
        Removed => "removed",
    }
}

text_enum! {
    /// One webhook delivery's state.
    WebhookStatus {
        /// To be posted at its `next_at` (first try or a retry).
        Pending => "pending",
        /// The endpoint answered 2xx.
        Delivered => "delivered",
        /// Every retry failed.
        Failed => "failed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_round_trips_through_its_text() {
        for s in RowStatus::ALL {
            assert_eq!(RowStatus::parse(s.as_str()), Some(*s));
        }
        for s in DeliveryStatus::ALL {
            assert_eq!(DeliveryStatus::parse(s.as_str()), Some(*s));
        }
        assert_eq!(RowStatus::parse("Sent"), None);
        assert!(RowStatus::Published.is_open() && !RowStatus::Skipped.is_open());
    }

    #[test]
    fn the_schema_checks_the_same_lists() {
        let migration = include_str!("../../migrations/20261201000001_typed_state.sql");
        let list = |all: &[&str]| {
            all.iter()
                .map(|s| format!("'{s}'"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let rows: Vec<&str> = RowStatus::ALL.iter().map(|s| s.as_str()).collect();
        let deliveries: Vec<&str> = DeliveryStatus::ALL.iter().map(|s| s.as_str()).collect();
        let subjects: Vec<&str> = SubjectKind::ALL.iter().map(|s| s.as_str()).collect();
        for l in [list(&rows), list(&deliveries), list(&subjects)] {
            assert!(migration.contains(&format!("IN ({l})")), "{l}");
        }
        let erasure = include_str!("../../migrations/20261202000650_erasure.sql");
        let via: Vec<&str> = ErasedVia::ALL.iter().map(|s| s.as_str()).collect();
        assert!(erasure.contains(&format!("IN ({})", list(&via))));
        let webhooks = include_str!("../../migrations/20261209200000_webhooks.sql");
        let states: Vec<&str> = EndpointState::ALL.iter().map(|s| s.as_str()).collect();
        let statuses: Vec<&str> = WebhookStatus::ALL.iter().map(|s| s.as_str()).collect();
        for l in [list(&states), list(&statuses)] {
            assert!(webhooks.contains(&format!("IN ({l})")), "{l}");
        }
    }
}
