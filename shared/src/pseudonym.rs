//! Pseudonyms: what firstweek keeps, or announces, instead of a person's id
//! or address. The erasure ledger's key (`erasures.subject_hash`), the
//! placeholders that replace an erased person (`erased-<16 hex>`), and a
//! coordinator's opaque key (`coordinator-<16 hex>`, in escalations, their
//! `escalation.*` events, digests and page links).
//!
//! Each is an HMAC-SHA256 keyed by a secret the operator provides
//! (`FIRSTWEEK_PSEUDONYM_KEY`): without it, someone who guesses an address
//! cannot confirm it against a pseudonym. The HMAC is taken of the
//! unkeyed pseudonym firstweek used before keying (the SHA-256 of the id or
//! lowercased address; a coordinator's `coordinator-<16 hex of SHA-256>`),
//! so values stored before can be keyed without knowing whom they were
//! about ([`PseudonymKey::keyed`]). This module is the one place the rule is.

use sha2::{Digest, Sha256};

/// The operator's secret pseudonyms are keyed with. Its `Debug` does not
/// print it; nothing else reveals it.
#[derive(Clone, PartialEq, Eq)]
pub struct PseudonymKey {
    secret: Vec<u8>,
}

/// A secret too short to key pseudonyms with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be at least {min} characters (e.g. `openssl rand -hex 32`), got {got}", min = PseudonymKey::MIN_LEN)]
pub struct ShortKey {
    /// How long the secret was.
    pub got: usize,
}

impl std::fmt::Debug for PseudonymKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PseudonymKey(..)")
    }
}

/// SHA-256's block size: an HMAC key longer than this is hashed first.
const BLOCK: usize = 64;

impl PseudonymKey {
    /// The shortest secret accepted: 32 characters (128 bits as hex, more
    /// as random text).
    pub const MIN_LEN: usize = 32;

    /// The key of a secret (surrounding whitespace ignored), refused when shorter than [`Self::MIN_LEN`].
    pub fn new(secret: &str) -> Result<PseudonymKey, ShortKey> {
        let secret = secret.trim();
        let got = secret.chars().count();
        if got < Self::MIN_LEN {
            return Err(ShortKey { got });
        }
        Ok(PseudonymKey {
            secret: secret.as_bytes().to_vec(),
        })
    }

    /// A key of its own for `purpose` (e.g. one program's holdout draws),
    /// derived from this one: knowing it reveals nothing of the others.
    pub fn derived(&self, purpose: &str) -> PseudonymKey {
        PseudonymKey {
            secret: self.hmac(purpose.as_bytes()).to_vec(),
        }
    }

    /// HMAC-SHA256 (RFC 2104) of `message`.
    pub(crate) fn hmac(&self, message: &[u8]) -> [u8; 32] {
        let mut key = [0u8; BLOCK];
        if self.secret.len() > BLOCK {
            key[..32].copy_from_slice(&Sha256::digest(&self.secret));
        } else {
            key[..self.secret.len()].copy_from_slice(&self.secret);
        }
        let pad = |byte: u8| key.map(|k| k ^ byte);
        let inner = Sha256::new()
            .chain_update(pad(0x36))
            .chain_update(message)
            .finalize();
        Sha256::new()
            .chain_update(pad(0x5c))
            .chain_update(inner)
            .finalize()
            .into()
    }

    /// The keyed form of an unkeyed pseudonym: hex HMAC of its text. What
    /// keying a value stored before does, and what every new one is.
    pub fn keyed(&self, unkeyed: &str) -> String {
        hex(&self.hmac(unkeyed.as_bytes()))
    }

    /// The erasure ledger's key of an id or an address (addresses without regard to case).
    pub fn subject(&self, value: &str) -> String {
        self.keyed(&unkeyed_subject(value))
    }

    /// A coordinator's opaque key, by their address as given (the same
    /// address in another case is another coordinator, as it always was).
    pub fn coordinator(&self, email: &str) -> String {
        self.coordinator_of(&unkeyed_coordinator(email))
    }

    /// The keyed coordinator key of one stored before keying.
    pub fn coordinator_of(&self, unkeyed: &str) -> String {
        format!("{COORDINATOR_PREFIX}{}", &self.keyed(unkeyed)[..16])
    }

    /// A fingerprint of the key, stored with the data it keyed, so a start
    /// with another key is refused instead of mixing two keys' pseudonyms.
    /// Reveals nothing of the key.
    pub fn fingerprint(&self) -> String {
        self.keyed("firstweek pseudonym key fingerprint")[..16].to_string()
    }
}

/// Every coordinator key starts with this.
pub const COORDINATOR_PREFIX: &str = "coordinator-";

/// The SHA-256 (hex) of an id, or of an address lowercased: the erasure
/// ledger's key before keying.
pub fn unkeyed_subject(value: &str) -> String {
    let value = value.trim();
    let normal = if value.contains('@') {
        value.to_lowercase()
    } else {
        value.to_string()
    };
    hex(&Sha256::digest(normal.as_bytes()))
}

/// A coordinator's key before keying: `coordinator-` and the first 16 hex
/// of the SHA-256 of their address as given.
pub fn unkeyed_coordinator(email: &str) -> String {
    let sha = hex(&Sha256::digest(email.as_bytes()));
    format!("{COORDINATOR_PREFIX}{}", &sha[..16])
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE: &str = "0123456789abcdef0123456789abcdef-one";
    const TWO: &str = "0123456789abcdef0123456789abcdef-two";

    #[test]
    fn the_hmac_is_rfc_4231s() {
        // RFC 4231 test case 2 has a short key; this one a 32+ byte key (case 6's is 131 bytes).
        let key = PseudonymKey {
            secret: vec![0xaa; 131],
        };
        assert_eq!(
            hex(&key.hmac(b"Test Using Larger Than Block-Size Key - Hash Key First")),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
        let key = PseudonymKey {
            secret: b"Jefe".to_vec(),
        };
        assert_eq!(
            hex(&key.hmac(b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn the_same_address_under_two_keys_has_two_pseudonyms() {
        let (one, two) = (
            PseudonymKey::new(ONE).unwrap(),
            PseudonymKey::new(TWO).unwrap(),
        );
        let address = "Cy@Example.org";
        assert_ne!(one.subject(address), two.subject(address));
        assert_ne!(one.coordinator(address), two.coordinator(address));
        assert_ne!(one.fingerprint(), two.fingerprint());
        // Not the unkeyed SHA-256 anyone could compute from a guess.
        assert_ne!(one.subject(address), unkeyed_subject(address));
        assert_ne!(one.coordinator(address), unkeyed_coordinator(address));
        // Stable, and addresses without regard to case (the ledger's key).
        assert_eq!(one.subject(address), one.subject(" cy@example.ORG "));
        assert_eq!(one.subject(address).len(), 64);
        let key = one.coordinator(address);
        assert!(
            key.starts_with(COORDINATOR_PREFIX) && key.len() == 28,
            "{key}"
        );
        // What a value stored before keying becomes.
        assert_eq!(one.subject(address), one.keyed(&unkeyed_subject(address)));
        assert_eq!(key, one.coordinator_of(&unkeyed_coordinator(address)));
    }

    #[test]
    fn a_short_key_is_refused_and_no_key_is_printed() {
        assert_eq!(PseudonymKey::new("short").unwrap_err().got, 5);
        assert!(PseudonymKey::new(&" ".repeat(40)).is_err());
        let key = PseudonymKey::new(ONE).unwrap();
        assert_eq!(format!("{key:?}"), "PseudonymKey(..)");
    }
}
