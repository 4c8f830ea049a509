//! The key that encrypts the token store, and where it comes from.
//!
//! In order: `QBSYNC_TOKEN_KEY` (for containers and secret managers), a systemd credential
//! (`LoadCredential=token-key:…` / `LoadCredentialEncrypted=`, read from
//! `$CREDENTIALS_DIRECTORY/token-key`), else a key file `state_dir/token.key` created 0600 on
//! first use. The key never leaves this type except as bytes handed to the cipher.

use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use rand::RngCore;
use secrecy::zeroize::Zeroizing;
use secrecy::{ExposeSecret, SecretBox, SecretString};
use sha2::{Digest, Sha256};

use super::AuthError;
use super::private_fs;

const KEY_LEN: usize = 32;

/// Where the key came from, for `qbsync doctor` and error messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySource {
    /// `QBSYNC_TOKEN_KEY`.
    Environment,
    /// A systemd credential file.
    Credential(PathBuf),
    /// The key file qbsync generated in the state directory.
    KeyFile(PathBuf),
    /// Given directly by the program (tests, tools).
    Given,
}

/// A 256-bit key for XChaCha20-Poly1305. `Debug` shows the source, never the key.
pub struct TokenKey {
    key: SecretBox<[u8; KEY_LEN]>,
    source: KeySource,
}

impl TokenKey {
    pub const ENV_VAR: &str = "QBSYNC_TOKEN_KEY";
    pub const CREDENTIAL_NAME: &str = "token-key";
    pub const KEY_FILE: &str = "token.key";

    /// Finds the key: `env_key` (the value of `QBSYNC_TOKEN_KEY`), else
    /// `credentials_dir/token-key` (`$CREDENTIALS_DIRECTORY`), else `state_dir/token.key`,
    /// created with a fresh random key if absent.
    pub fn resolve(
        env_key: Option<&SecretString>,
        credentials_dir: Option<&Path>,
        state_dir: &Path,
    ) -> Result<TokenKey, AuthError> {
        if let Some(text) = env_key {
            return TokenKey::parse_text(text.expose_secret(), KeySource::Environment).map_err(|()| {
                AuthError::Config {
                    reason: format!("{} must be 32 bytes written as 64 hex digits or in base64", Self::ENV_VAR),
                }
            });
        }
        if let Some(dir) = credentials_dir {
            let path = dir.join(Self::CREDENTIAL_NAME);
            match std::fs::read(&path) {
                Ok(bytes) => {
                    let bytes = Zeroizing::new(bytes);
                    return TokenKey::parse_credential(&bytes, KeySource::Credential(path.clone())).map_err(|()| {
                        AuthError::Config {
                            reason: format!(
                                "the credential {} must hold 32 bytes (raw, 64 hex digits or base64)",
                                path.display()
                            ),
                        }
                    });
                }
                // systemd sets the variable for any credential; this one may simply not be among them.
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => return Err(AuthError::store(format!("cannot read {}: {error}", path.display()))),
            }
        }
        TokenKey::from_key_file(state_dir)
    }

    /// A key from its text form (64 hex digits or base64), as `QBSYNC_TOKEN_KEY` holds it.
    pub fn from_text(text: &SecretString) -> Result<TokenKey, AuthError> {
        TokenKey::parse_text(text.expose_secret(), KeySource::Given).map_err(|()| AuthError::Config {
            reason: "a token key must be 32 bytes as 64 hex digits or base64".into(),
        })
    }

    /// A fresh random key.
    pub fn generate() -> TokenKey {
        let mut key = Box::new([0u8; KEY_LEN]);
        rand::rngs::OsRng.fill_bytes(key.as_mut());
        TokenKey { key: SecretBox::new(key), source: KeySource::Given }
    }

    /// The key as 64 hex digits, the form `QBSYNC_TOKEN_KEY` accepts (for moving a key file
    /// into a secret manager).
    pub fn to_text(&self) -> SecretString {
        SecretString::from(hex::encode(self.key.expose_secret()))
    }

    pub fn source(&self) -> &KeySource {
        &self.source
    }

    pub(crate) fn bytes(&self) -> &[u8; KEY_LEN] {
        self.key.expose_secret()
    }

    /// A short, one-way fingerprint stored beside the ciphertext, so a wrong key is told apart
    /// from a damaged file.
    pub(crate) fn id(&self) -> [u8; 8] {
        let digest = Sha256::new_with_prefix(b"qbsync token key id v1").chain_update(self.bytes()).finalize();
        let mut id = [0u8; 8];
        id.copy_from_slice(&digest[..8]);
        id
    }

    fn from_key_file(state_dir: &Path) -> Result<TokenKey, AuthError> {
        let path = state_dir.join(Self::KEY_FILE);
        private_fs::ensure_private_dir(state_dir)
            .map_err(|error| AuthError::store(format!("cannot create {}: {error}", state_dir.display())))?;
        if !path.exists() {
            let key = TokenKey::generate();
            let text = Zeroizing::new(format!("{}\n", key.to_text().expose_secret()));
            private_fs::create_file_once(state_dir, Self::KEY_FILE, text.as_bytes())
                .map_err(|error| AuthError::store(format!("cannot create {}: {error}", path.display())))?;
            // Whether ours or a concurrent process's won, the file now holds the key.
        }
        let loose = private_fs::loose_bits(&path)
            .map_err(|error| AuthError::store(format!("cannot read {}: {error}", path.display())))?;
        if loose != 0 {
            return Err(AuthError::store(format!(
                "{} can be read by other users: run `chmod 600 {}`",
                path.display(),
                path.display()
            )));
        }
        let bytes = Zeroizing::new(
            std::fs::read(&path)
                .map_err(|error| AuthError::store(format!("cannot read {}: {error}", path.display())))?,
        );
        let text = std::str::from_utf8(&bytes).map_err(|_| ());
        text.and_then(|text| TokenKey::parse_text(text, KeySource::KeyFile(path.clone())))
            .map_err(|()| AuthError::store(format!("{} is damaged: it must hold 64 hex digits", path.display())))
    }

    /// A credential file may hold the raw 32 bytes (`systemd-creds encrypt` of a binary key)
    /// or the text forms.
    fn parse_credential(bytes: &[u8], source: KeySource) -> Result<TokenKey, ()> {
        if let Ok(raw) = <[u8; KEY_LEN]>::try_from(bytes) {
            return Ok(TokenKey { key: SecretBox::new(Box::new(raw)), source });
        }
        TokenKey::parse_text(std::str::from_utf8(bytes).map_err(|_| ())?, source)
    }

    /// 64 hex digits, or base64 (standard or URL-safe, padded or not).
    fn parse_text(text: &str, source: KeySource) -> Result<TokenKey, ()> {
        let text = text.trim();
        let mut key = Box::new([0u8; KEY_LEN]);
        if text.len() == 2 * KEY_LEN && hex::decode_to_slice(text, key.as_mut()).is_ok() {
            return Ok(TokenKey { key: SecretBox::new(key), source });
        }
        for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
            let Ok(decoded) = engine.decode(text) else { continue };
            let decoded = Zeroizing::new(decoded);
            if decoded.len() == KEY_LEN {
                key.copy_from_slice(&decoded);
                return Ok(TokenKey { key: SecretBox::new(key), source });
            }
        }
        Err(())
    }
}

impl fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenKey").field("source", &self.source).field("key", &"[REDACTED]").finish()
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    const HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    fn expected() -> [u8; 32] {
        std::array::from_fn(|i| i as u8)
    }

    #[test]
    fn environment_key_accepts_hex_and_base64() {
        let dir = tempfile::tempdir().unwrap();
        let b64 = STANDARD.encode(expected());
        let url = URL_SAFE_NO_PAD.encode(expected());
        for text in [HEX, &b64, &url, &format!(" {HEX}\n")] {
            let key = TokenKey::resolve(Some(&SecretString::from(text)), None, dir.path()).unwrap();
            assert_eq!(key.bytes(), &expected());
            assert_eq!(key.source(), &KeySource::Environment);
        }
        assert!(!dir.path().join(TokenKey::KEY_FILE).exists(), "no key file when the environment has one");
    }

    #[test]
    fn wrong_length_keys_are_refused_without_echoing_them() {
        let dir = tempfile::tempdir().unwrap();
        let short = SecretString::from("deadbeef");
        let error = TokenKey::resolve(Some(&short), None, dir.path()).unwrap_err();
        assert!(matches!(error, AuthError::Config { .. }));
        assert!(!error.to_string().contains("deadbeef"));
    }

    #[test]
    fn the_credential_file_comes_before_the_key_file() {
        let creds = tempfile::tempdir().unwrap();
        let state = tempfile::tempdir().unwrap();
        std::fs::write(creds.path().join(TokenKey::CREDENTIAL_NAME), expected()).unwrap();
        let key = TokenKey::resolve(None, Some(creds.path()), state.path()).unwrap();
        assert_eq!(key.bytes(), &expected());
        assert!(matches!(key.source(), KeySource::Credential(_)));

        let empty = tempfile::tempdir().unwrap();
        let key = TokenKey::resolve(None, Some(empty.path()), state.path()).unwrap();
        assert!(matches!(key.source(), KeySource::KeyFile(_)), "falls through when the credential is absent");
    }

    #[test]
    fn the_key_file_is_created_once_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let first = TokenKey::resolve(None, None, &state).unwrap();
        let second = TokenKey::resolve(None, None, &state).unwrap();
        assert_eq!(first.bytes(), second.bytes());
        let path = state.join(TokenKey::KEY_FILE);
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::metadata(&state).unwrap().permissions().mode() & 0o777, 0o700);

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let error = TokenKey::resolve(None, None, &state).unwrap_err();
        assert!(error.to_string().contains("chmod 600"), "{error}");
    }

    #[test]
    fn debug_never_shows_the_key() {
        let key = TokenKey::from_text(&SecretString::from(HEX)).unwrap();
        let shown = format!("{key:?}");
        assert!(!shown.contains("0001020304"), "{shown}");
        assert!(!shown.contains("[0, 1, 2"), "{shown}");
    }
}
