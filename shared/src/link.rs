//! Links in emails: what a link may do, and the secret it carries.
//!
//! A link names no one: it carries a random token of 256 bits, and only the
//! token's SHA-256 is stored, so a database dump opens nothing. Each token
//! has one purpose, an expiry, and can be revoked; the pair's id alone never
//! opens anything. (Opening a link only shows a page; acting takes a POST.)

use std::fmt;

use sha2::{Digest, Sha256};

/// What a link lets its holder do; a token opens nothing else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Purpose {
    /// A coordinator's page of their own pairs.
    CoordinatorPage,
    /// Acknowledge one escalation.
    Acknowledge,
    /// A mentor's or mentee's "we've been in touch" (a `message` of their side).
    AnswerInTouch,
    /// A mentor's or mentee's "we have a plan" (a `plan_shared` of their side).
    AnswerPlan,
    /// Stop firstweek's emails to one mentor or mentee (RFC 8058 one-click).
    Unsubscribe,
}

impl Purpose {
    /// The purpose as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::CoordinatorPage => "coordinator_page",
            Purpose::Acknowledge => "acknowledge",
            Purpose::AnswerInTouch => "answer_in_touch",
            Purpose::AnswerPlan => "answer_plan",
            Purpose::Unsubscribe => "unsubscribe",
        }
    }

    /// Parses a stored purpose.
    pub fn parse(s: &str) -> Option<Purpose> {
        match s {
            "coordinator_page" => Some(Purpose::CoordinatorPage),
            "acknowledge" => Some(Purpose::Acknowledge),
            "answer_in_touch" => Some(Purpose::AnswerInTouch),
            "answer_plan" => Some(Purpose::AnswerPlan),
            "unsubscribe" => Some(Purpose::Unsubscribe),
            _ => None,
        }
    }
}

/// Random bytes in a token: 256 bits, well above the 128 a guess must beat.
pub const TOKEN_BYTES: usize = 32;

/// A link's secret, as it appears in a URL (hex). Never logged: its
/// `Debug` shows only its hash's first bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct LinkToken(String);

/// Why a string is not a link token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a link token")]
pub struct NotAToken;

impl LinkToken {
    /// The token made of these random bytes (the caller draws them from the
    /// operating system: the domain does no I/O).
    pub fn from_random(bytes: [u8; TOKEN_BYTES]) -> LinkToken {
        LinkToken(hex(&bytes))
    }

    /// Reads a token from a URL; anything but 64 lowercase hex digits is refused.
    pub fn parse(s: &str) -> Result<LinkToken, NotAToken> {
        let ok = s.len() == 2 * TOKEN_BYTES
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if ok {
            Ok(LinkToken(s.to_string()))
        } else {
            Err(NotAToken)
        }
    }

    /// The token as it goes into a URL.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What is stored instead of the token.
    pub fn hash(&self) -> [u8; 32] {
        Sha256::digest(self.0.as_bytes()).into()
    }
}

impl fmt::Debug for LinkToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LinkToken(hash {}…)", &hex(&self.hash())[..8])
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_round_trips_through_a_url_and_is_stored_only_as_its_hash() {
        let t = LinkToken::from_random([7; TOKEN_BYTES]);
        assert_eq!(t.as_str().len(), 64);
        assert_eq!(LinkToken::parse(t.as_str()), Ok(t.clone()));
        assert_ne!(&t.hash()[..], t.as_str().as_bytes());
        assert!(
            !format!("{t:?}").contains(t.as_str()),
            "Debug never shows the secret"
        );
    }

    #[test]
    fn anything_else_is_not_a_token() {
        for s in ["", "abc", &"G".repeat(64), &"A".repeat(64), &"a".repeat(65)] {
            assert_eq!(LinkToken::parse(s), Err(NotAToken), "{s:?}");
        }
    }

    #[test]
    fn purposes_round_trip() {
        for p in [
            Purpose::CoordinatorPage,
            Purpose::Acknowledge,
            Purpose::AnswerInTouch,
            Purpose::AnswerPlan,
            Purpose::Unsubscribe,
        ] {
            assert_eq!(Purpose::parse(p.as_str()), Some(p));
        }
        assert_eq!(Purpose::parse("Unsubscribe"), None);
    }
}
