//! Request signature checks for chat platforms' HTTP endpoints, done before
//! anything else reads a request. Slack: HMAC-SHA256 over `v0:<timestamp>:<body>`
//! with the app's signing secret, sent as `X-Slack-Signature: v0=<hex>` with
//! `X-Slack-Request-Timestamp`; timestamps more than five minutes from now are
//! refused (replay), and the comparison is constant-time. Discord: Ed25519
//! over `<timestamp><body>` with the application's public key, sent as
//! `X-Signature-Ed25519: <128 hex>` with `X-Signature-Timestamp`; the same
//! five-minute window. Pure: the caller passes the current time.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How far a request's timestamp may be from now.
pub const MAX_SKEW_SECONDS: i64 = 5 * 60;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the request timestamp '{0}' is not a Unix time")]
    BadTimestamp(String),
    #[error("the request is {0} s away from now (limit {MAX_SKEW_SECONDS} s): refused as a possible replay")]
    Stale(i64),
    #[error("the signature is not of the form v0=<64 hex digits>")]
    BadFormat,
    #[error("the signature does not match")]
    Mismatch,
    #[error("the Ed25519 signature is not 128 hex digits")]
    BadEd25519Format,
}

/// The Ed25519 public key Discord shows for an application (64 hex digits).
#[derive(Clone, PartialEq, Eq)]
pub struct DiscordPublicKey(ed25519_dalek::VerifyingKey);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("DISCORD_PUBLIC_KEY is not an Ed25519 public key of 64 hex digits ({0})")]
pub struct PublicKeyError(&'static str);

impl DiscordPublicKey {
    pub fn from_hex(text: &str) -> Result<DiscordPublicKey, PublicKeyError> {
        let bytes: [u8; 32] = hex_decode(text.trim())
            .and_then(|b| b.try_into().ok())
            .ok_or(PublicKeyError("not 64 hex digits"))?;
        DiscordPublicKey::from_bytes(&bytes)
    }

    pub fn from_bytes(bytes: &[u8; 32]) -> Result<DiscordPublicKey, PublicKeyError> {
        ed25519_dalek::VerifyingKey::from_bytes(bytes)
            .map(DiscordPublicKey)
            .map_err(|_| PublicKeyError("not a point on the curve"))
    }
}

impl std::fmt::Debug for DiscordPublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Public, but nothing is gained by printing it in logs.
        f.write_str("DiscordPublicKey(..)")
    }
}

/// Parses the timestamp header and refuses it outside the window.
fn check_timestamp(timestamp: &str, now_unix: i64) -> Result<i64, SignatureError> {
    let shown: String = timestamp.chars().take(20).collect();
    let sent: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| SignatureError::BadTimestamp(shown))?;
    let skew = now_unix.saturating_sub(sent).saturating_abs();
    if skew > MAX_SKEW_SECONDS {
        return Err(SignatureError::Stale(skew));
    }
    Ok(sent)
}

/// Checks a Discord interaction. `timestamp` and `signature` are the raw
/// `X-Signature-Timestamp` and `X-Signature-Ed25519` values; `body` is the
/// raw body. Strict verification (no small-order keys, no malleable
/// signatures).
pub fn verify_discord(
    key: &DiscordPublicKey,
    timestamp: &str,
    signature: &str,
    body: &[u8],
    now_unix: i64,
) -> Result<(), SignatureError> {
    check_timestamp(timestamp, now_unix)?;
    let bytes: [u8; 64] = Some(signature.trim())
        .filter(|h| h.len() == 128)
        .and_then(hex_decode)
        .and_then(|b| b.try_into().ok())
        .ok_or(SignatureError::BadEd25519Format)?;
    let signature = ed25519_dalek::Signature::from_bytes(&bytes);
    let mut message = Vec::with_capacity(timestamp.len() + body.len());
    message.extend_from_slice(timestamp.as_bytes());
    message.extend_from_slice(body);
    key.0
        .verify_strict(&message, &signature)
        .map_err(|_| SignatureError::Mismatch)
}

fn hex_decode(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| {
            text.get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect()
}

/// Checks a Slack request. `timestamp` and `signature` are the raw header
/// values; `body` is the raw body, exactly as received.
pub fn verify_slack(
    signing_secret: &[u8],
    timestamp: &str,
    signature: &str,
    body: &[u8],
    now_unix: i64,
) -> Result<(), SignatureError> {
    check_timestamp(timestamp, now_unix)?;
    let digest = signature
        .strip_prefix("v0=")
        .filter(|h| h.len() == 64)
        .and_then(hex_decode)
        .ok_or(SignatureError::BadFormat)?;
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac =
        Hmac::<Sha256>::new_from_slice(signing_secret).map_err(|_| SignatureError::Mismatch)?;
    mac.update(b"v0:");
    mac.update(timestamp.trim().as_bytes());
    mac.update(b":");
    mac.update(body);
    mac.verify_slice(&digest)
        .map_err(|_| SignatureError::Mismatch)
}

/// Remembers the signatures seen within the replay window, so a request
/// captured and sent again inside the window is refused too. Bounded: entries
/// leave when their timestamp falls out of the window, and past `capacity`
/// new requests are refused rather than the memory growing. Pure: the caller
/// passes the time.
#[derive(Debug)]
pub struct ReplayGuard {
    seen: std::collections::HashMap<String, i64>,
    capacity: usize,
}

impl ReplayGuard {
    pub fn new(capacity: usize) -> ReplayGuard {
        ReplayGuard {
            seen: std::collections::HashMap::new(),
            capacity,
        }
    }

    /// True the first time a (verified) signature is offered within the
    /// window; false for a replay, or when the guard is full.
    pub fn first_time(&mut self, signature: &str, timestamp: i64, now_unix: i64) -> bool {
        if self.seen.contains_key(signature) {
            return false;
        }
        if self.seen.len() >= self.capacity {
            self.seen
                .retain(|_, t| now_unix.saturating_sub(*t).saturating_abs() <= MAX_SKEW_SECONDS);
            if self.seen.len() >= self.capacity {
                return false;
            }
        }
        self.seen.insert(signature.to_string(), timestamp);
        true
    }

    /// Forgets an entry, so the same key is taken again: a request that was
    /// seen but could not be queued, and will be resent.
    pub fn forget(&mut self, key: &str) {
        self.seen.remove(key);
    }
}

/// The Unix time in a header already accepted by `verify_slack` or
/// `verify_discord`.
pub fn header_time(timestamp: &str) -> i64 {
    timestamp.trim().parse().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_is_accepted_once_within_the_window() {
        let mut guard = ReplayGuard::new(2);
        assert!(guard.first_time("v0=a", 100, 100));
        assert!(!guard.first_time("v0=a", 100, 101));
        assert!(guard.first_time("v0=b", 100, 100));
        // Full, and nothing has left the window yet: refused, not grown.
        assert!(!guard.first_time("v0=c", 100, 100));
        // Later the old entries leave and there is room again.
        assert!(guard.first_time("v0=c", 500, 100 + MAX_SKEW_SECONDS + 1));
        assert!(guard.seen.len() <= 2);
        guard.forget("v0=c");
        assert!(guard.first_time("v0=c", 500, 500));
    }

    // Slack's own example ("Verifying requests from Slack"): secret, timestamp,
    // body and the signature Slack documents for them.
    const SECRET: &[u8] = b"8f742231b10e8888abcd99yyyzzz85a5";
    const TIMESTAMP: &str = "1531420618";
    const BODY: &[u8] = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const SIGNATURE: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
    const NOW: i64 = 1531420618 + 30;

    #[test]
    fn slacks_documented_example_verifies() {
        assert_eq!(
            verify_slack(SECRET, TIMESTAMP, SIGNATURE, BODY, NOW),
            Ok(())
        );
    }

    #[test]
    fn a_changed_body_secret_or_signature_is_refused() {
        let mut body = BODY.to_vec();
        body[10] ^= 1;
        assert_eq!(
            verify_slack(SECRET, TIMESTAMP, SIGNATURE, &body, NOW),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_slack(b"other", TIMESTAMP, SIGNATURE, BODY, NOW),
            Err(SignatureError::Mismatch)
        );
        let flipped = SIGNATURE.replace("a2114d57", "a2114d58");
        assert_eq!(
            verify_slack(SECRET, TIMESTAMP, &flipped, BODY, NOW),
            Err(SignatureError::Mismatch)
        );
        // The timestamp is signed too: a replay with a fresh timestamp fails.
        assert_eq!(
            verify_slack(SECRET, "1531420648", SIGNATURE, BODY, NOW),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn old_or_future_requests_are_refused_as_replays() {
        let late = 1531420618 + MAX_SKEW_SECONDS + 1;
        assert!(matches!(
            verify_slack(SECRET, TIMESTAMP, SIGNATURE, BODY, late),
            Err(SignatureError::Stale(_))
        ));
        let early = 1531420618 - MAX_SKEW_SECONDS - 1;
        assert!(matches!(
            verify_slack(SECRET, TIMESTAMP, SIGNATURE, BODY, early),
            Err(SignatureError::Stale(_))
        ));
    }

    #[test]
    fn malformed_headers_get_clear_errors() {
        assert!(matches!(
            verify_slack(SECRET, "yesterday", SIGNATURE, BODY, NOW),
            Err(SignatureError::BadTimestamp(_))
        ));
        assert!(matches!(
            verify_slack(SECRET, "99999999999999999999999", SIGNATURE, BODY, NOW),
            Err(SignatureError::BadTimestamp(_))
        ));
        for bad in [
            "",
            "v0=",
            "v1=a2114d57",
            "a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
            "v0=zz114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
            "v0=é2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b50",
        ] {
            assert_eq!(
                verify_slack(SECRET, TIMESTAMP, bad, BODY, NOW),
                Err(SignatureError::BadFormat),
                "{bad}"
            );
        }
    }

    fn discord_pair() -> (ed25519_dalek::SigningKey, DiscordPublicKey) {
        let signer = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
        let key = DiscordPublicKey::from_bytes(signer.verifying_key().as_bytes()).unwrap();
        (signer, key)
    }

    fn discord_sign(signer: &ed25519_dalek::SigningKey, timestamp: &str, body: &[u8]) -> String {
        use ed25519_dalek::Signer;
        let mut message = timestamp.as_bytes().to_vec();
        message.extend_from_slice(body);
        signer
            .sign(&message)
            .to_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    #[test]
    fn a_discord_interaction_signed_with_the_app_key_verifies_and_nothing_else_does() {
        let (signer, key) = discord_pair();
        let body = br#"{"type":1}"#;
        let sig = discord_sign(&signer, TIMESTAMP, body);
        assert_eq!(verify_discord(&key, TIMESTAMP, &sig, body, NOW), Ok(()));
        assert_eq!(
            verify_discord(&key, TIMESTAMP, &sig, br#"{"type":2}"#, NOW),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_discord(&key, "1531420619", &sig, body, NOW),
            Err(SignatureError::Mismatch),
            "the timestamp is signed"
        );
        let other = ed25519_dalek::SigningKey::from_bytes(&[8u8; 32]);
        let wrong = discord_sign(&other, TIMESTAMP, body);
        assert_eq!(
            verify_discord(&key, TIMESTAMP, &wrong, body, NOW),
            Err(SignatureError::Mismatch)
        );
        let late = 1531420618 + MAX_SKEW_SECONDS + 1;
        assert!(matches!(
            verify_discord(&key, TIMESTAMP, &sig, body, late),
            Err(SignatureError::Stale(_))
        ));
        for bad in ["", "00", &sig[..126], &format!("{}zz", &sig[..126])] {
            assert_eq!(
                verify_discord(&key, TIMESTAMP, bad, body, NOW),
                Err(SignatureError::BadEd25519Format),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_public_key_is_64_hex_digits() {
        let (signer, _) = discord_pair();
        let hex: String = signer
            .verifying_key()
            .as_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert!(DiscordPublicKey::from_hex(&hex).is_ok());
        assert!(DiscordPublicKey::from_hex(&hex[..62]).is_err());
        assert!(DiscordPublicKey::from_hex("not hex").is_err());
        assert!(!format!("{:?}", DiscordPublicKey::from_hex(&hex).unwrap()).contains(&hex[..8]));
    }

    proptest::proptest! {
        #[test]
        fn discord_checks_never_panic(ts in ".{0,30}", sig in ".{0,140}", body in proptest::collection::vec(proptest::num::u8::ANY, 0..200), now in proptest::num::i64::ANY) {
            let (_, key) = discord_pair();
            let _ = verify_discord(&key, &ts, &sig, &body, now);
        }

        #[test]
        fn never_panics(ts in ".{0,30}", sig in ".{0,80}", body in proptest::collection::vec(proptest::num::u8::ANY, 0..200), now in proptest::num::i64::ANY) {
            let _ = verify_slack(SECRET, &ts, &sig, &body, now);
        }
    }
}
