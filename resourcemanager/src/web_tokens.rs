//! Bearer tokens for the web (`spindle token create`): for users of YARN REST clients
//! that cannot present a client certificate. A token names a user and an expiry (wall
//! clock: it is read by people and crosses hosts) and is signed with a key only the RM
//! holds (kept in its state dir, 0600, so tokens outlive an RM restart).

use ring::hmac;
use std::path::Path;

const PREFIX: &str = "spindle1";
/// The key's file in the state dir.
pub const KEY_FILE: &str = "web-token.key";
/// The longest a token may live.
pub const MAX_TTL_MS: u64 = 30 * 24 * 3600 * 1000;

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenRefused {
    #[error("the bearer token is not a Spindle web token")]
    Malformed,
    #[error("the bearer token's signature is wrong (forged, or from another cluster)")]
    BadSignature,
    #[error("the bearer token expired at {expiry_ms} (ms since the epoch); make a new one with `spindle token create`")]
    Expired { expiry_ms: u64 },
}

/// The RM's web-token key.
pub struct WebTokens {
    key: hmac::Key,
}

impl std::fmt::Debug for WebTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebTokens(..)")
    }
}

impl WebTokens {
    /// The key in `state_dir`, made (0600) when there is none.
    pub fn open(state_dir: &Path) -> std::io::Result<Self> {
        use std::os::unix::fs::OpenOptionsExt;
        let path = state_dir.join(KEY_FILE);
        let raw = match std::fs::read(&path) {
            Ok(raw) if raw.len() == 32 => raw,
            _ => {
                let rng = ring::rand::SystemRandom::new();
                let raw: [u8; 32] = ring::rand::generate(&rng)
                    .map_err(|_| std::io::Error::other("no randomness"))?
                    .expose();
                std::fs::create_dir_all(state_dir)?;
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .mode(0o600)
                    .open(&path)?;
                std::io::Write::write_all(&mut f, &raw)?;
                raw.to_vec()
            }
        };
        Ok(Self::from_key(&raw))
    }

    pub fn from_key(raw: &[u8]) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, raw),
        }
    }

    /// A token for `user` (a checked user name) valid until `expiry_ms`.
    pub fn issue(&self, user: &str, expiry_ms: u64) -> String {
        let body = format!("{user}:{expiry_ms}");
        let mac = hmac::sign(&self.key, body.as_bytes());
        format!(
            "{PREFIX}.{}.{}",
            hex::encode(body.as_bytes()),
            hex::encode(mac.as_ref())
        )
    }

    /// The user a token names, if it is genuine and not expired at `now_ms` (wall clock).
    pub fn verify_at(&self, token: &str, now_ms: u64) -> Result<String, TokenRefused> {
        let mut parts = token.split('.');
        let (Some(PREFIX), Some(body), Some(mac), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenRefused::Malformed);
        };
        let body = hex::decode(body).map_err(|_| TokenRefused::Malformed)?;
        let mac = hex::decode(mac).map_err(|_| TokenRefused::Malformed)?;
        hmac::verify(&self.key, &body, &mac).map_err(|_| TokenRefused::BadSignature)?;
        let body = String::from_utf8(body).map_err(|_| TokenRefused::Malformed)?;
        let (user, expiry) = body.rsplit_once(':').ok_or(TokenRefused::Malformed)?;
        let expiry_ms: u64 = expiry.parse().map_err(|_| TokenRefused::Malformed)?;
        if now_ms > expiry_ms {
            return Err(TokenRefused::Expired { expiry_ms });
        }
        Ok(user.to_string())
    }

    /// [`Self::verify_at`] now.
    pub fn verify(&self, token: &str) -> Result<String, TokenRefused> {
        self.verify_at(token, common::clock::wall_ms())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_name_their_user_until_they_expire() {
        let t = WebTokens::from_key(&[7; 32]);
        let tok = t.issue("alice", 1000);
        assert_eq!(t.verify_at(&tok, 999), Ok("alice".into()));
        assert_eq!(
            t.verify_at(&tok, 1001),
            Err(TokenRefused::Expired { expiry_ms: 1000 })
        );
        // Another key's token, a tampered one, garbage.
        let other = WebTokens::from_key(&[8; 32]).issue("alice", 1000);
        assert_eq!(t.verify_at(&other, 0), Err(TokenRefused::BadSignature));
        let forged = tok.replacen(&hex::encode("alice"), &hex::encode("admin"), 1);
        assert_eq!(t.verify_at(&forged, 0), Err(TokenRefused::BadSignature));
        assert_eq!(t.verify_at("Basic xyz", 0), Err(TokenRefused::Malformed));
    }

    #[test]
    fn the_key_is_kept_0600_and_reused() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let tok = WebTokens::open(d.path()).unwrap().issue("bob", u64::MAX);
        let mode = std::fs::metadata(d.path().join(KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(
            WebTokens::open(d.path()).unwrap().verify_at(&tok, 0),
            Ok("bob".into())
        );
    }
}
