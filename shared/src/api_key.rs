//! API keys of the events API: a random secret shown once to the operator
//! who creates it, stored only as its SHA-256 (like a link's token), and
//! scoped to one program.
//!
//! A key reads `fwk_` and 64 lowercase hex digits (256 random bits): the
//! prefix lets secret scanners and people recognise one.

use std::fmt;

use sha2::{Digest, Sha256};

/// Random bytes in a key: 256 bits, well above the 128 a guess must beat.
pub const KEY_BYTES: usize = 32;

/// What every key starts with.
pub const PREFIX: &str = "fwk_";

/// An API key as its holder sends it (`Authorization: Bearer fwk_…`).
/// Never logged: its `Debug` shows only its hash's first bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

/// Why a string is not an API key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an API key")]
pub struct NotAKey;

impl ApiKey {
    /// The key made of these random bytes (the caller draws them from the
    /// operating system: the domain does no I/O).
    pub fn from_random(bytes: [u8; KEY_BYTES]) -> ApiKey {
        ApiKey(format!("{PREFIX}{}", hex(&bytes)))
    }

    /// Reads a key; anything but `fwk_` and 64 lowercase hex digits is refused.
    pub fn parse(s: &str) -> Result<ApiKey, NotAKey> {
        let digits = s.strip_prefix(PREFIX).ok_or(NotAKey)?;
        let ok = digits.len() == 2 * KEY_BYTES
            && digits
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if ok {
            Ok(ApiKey(s.to_string()))
        } else {
            Err(NotAKey)
        }
    }

    /// Reads the key from an `Authorization` header's value (`Bearer <key>`).
    pub fn from_authorization(value: &str) -> Result<ApiKey, NotAKey> {
        let (scheme, key) = value.trim().split_once(' ').ok_or(NotAKey)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(NotAKey);
        }
        ApiKey::parse(key.trim())
    }

    /// The key, to be shown once.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What is stored instead of the key.
    pub fn hash(&self) -> [u8; 32] {
        Sha256::digest(self.0.as_bytes()).into()
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey(hash {}…)", &hex(&self.hash())[..8])
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_round_trips_through_a_header_and_is_stored_only_as_its_hash() {
        let key = ApiKey::from_random([0xab; KEY_BYTES]);
        assert!(key.as_str().starts_with("fwk_abab"));
        assert_eq!(key.as_str().len(), PREFIX.len() + 64);
        let header = format!("Bearer {}", key.as_str());
        assert_eq!(ApiKey::from_authorization(&header), Ok(key.clone()));
        assert_eq!(
            ApiKey::from_authorization(&format!("bearer  {} ", key.as_str())),
            Ok(key.clone())
        );
        // The hash is the SHA-256 of the key's text, and the Debug shows no key.
        let expected: [u8; 32] = Sha256::digest(key.as_str().as_bytes()).into();
        assert_eq!(key.hash(), expected);
        assert!(!format!("{key:?}").contains(key.as_str()));
    }

    #[test]
    fn anything_but_a_well_formed_key_is_refused() {
        let good = ApiKey::from_random([1; KEY_BYTES]);
        let upper = good.as_str().to_uppercase();
        let short = &good.as_str()[..good.as_str().len() - 1];
        let bare = good.as_str().trim_start_matches(PREFIX);
        for bad in [upper.as_str(), short, bare, "", "fwk_"] {
            assert_eq!(ApiKey::parse(bad), Err(NotAKey), "{bad}");
        }
        for header in [
            good.as_str().to_string(),
            format!("Basic {}", good.as_str()),
            "Bearer".to_string(),
        ] {
            assert_eq!(ApiKey::from_authorization(&header), Err(NotAKey));
        }
        // Two draws of different bytes are different keys.
        assert_ne!(ApiKey::from_random([2; KEY_BYTES]), good);
    }
}
