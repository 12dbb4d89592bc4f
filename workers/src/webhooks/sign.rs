//! The Standard Webhooks signature: `v1,` and the base64 HMAC-SHA256 of
//! `{webhook-id}.{webhook-timestamp}.{body}`, keyed with the bytes the
//! endpoint's `whsec_<base64>` secret encodes.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{KeyInit as _, Mac as _};

type HmacSha256 = hmac::Hmac<webhook_sha2::Sha256>;

/// What a secret starts with.
pub const PREFIX: &str = "whsec_";
/// How many random bytes a new secret has (Standard Webhooks: 24 to 64).
const SECRET_BYTES: usize = 32;

/// Why a secret cannot sign.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// Not `whsec_` followed by base64.
    #[error("a webhook secret is whsec_ followed by base64")]
    Malformed,
    /// The system gave no randomness for a new one.
    #[error("no randomness for a webhook secret: {0}")]
    Randomness(String),
}

/// An endpoint's signing key (never printed).
pub struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl Secret {
    /// Reads `whsec_<base64>`.
    pub fn parse(text: &str) -> Result<Secret, SecretError> {
        let encoded = text.strip_prefix(PREFIX).ok_or(SecretError::Malformed)?;
        let key = STANDARD
            .decode(encoded)
            .map_err(|_| SecretError::Malformed)?;
        if key.is_empty() {
            return Err(SecretError::Malformed);
        }
        Ok(Secret(key))
    }

    /// The `webhook-signature` of one request.
    pub fn sign(&self, message_id: &str, timestamp: i64, body: &str) -> String {
        // HMAC takes a key of any length.
        let Ok(mut mac) = HmacSha256::new_from_slice(&self.0) else {
            return String::new();
        };
        mac.update(message_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body.as_bytes());
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

/// A new random secret, `whsec_<base64>`, shown once to the operator.
pub fn new_secret() -> Result<String, SecretError> {
    let mut key = [0u8; SECRET_BYTES];
    getrandom::fill(&mut key).map_err(|e| SecretError::Randomness(e.to_string()))?;
    Ok(format!("{PREFIX}{}", STANDARD.encode(key)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks specification and its reference
    /// libraries (the `standardwebhooks` package signs the same).
    #[test]
    fn signs_the_specifications_known_vector() {
        let secret = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let signature = secret.sign(
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            r#"{"test": 2432232314}"#,
        );
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn another_id_timestamp_or_body_is_another_signature() {
        let secret = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let one = secret.sign("msg_1", 1, "{}");
        assert_ne!(one, secret.sign("msg_2", 1, "{}"));
        assert_ne!(one, secret.sign("msg_1", 2, "{}"));
        assert_ne!(one, secret.sign("msg_1", 1, "{ }"));
    }

    #[test]
    fn a_new_secret_is_random_and_parses() {
        let (a, b) = (new_secret().unwrap(), new_secret().unwrap());
        assert!(a.starts_with(PREFIX) && a != b);
        assert!(Secret::parse(&a).is_ok());
        for bad in ["MfKQ9r8GKYqrTwjU", "whsec_", "whsec_not base64!"] {
            assert!(Secret::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(format!("{:?}", Secret::parse(&a).unwrap()), "Secret(..)");
    }
}
