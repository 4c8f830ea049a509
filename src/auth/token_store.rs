//! The QuickBooks grant at rest: one file, `state_dir/tokens.enc`, encrypted with
//! XChaCha20-Poly1305 and replaced atomically on every save.
//!
//! The newest refresh token is the one thing qbsync cannot afford to lose (Intuit rotates it
//! and refuses the old one once the new one is used), so the file is never truncated in place
//! and a wrong key is reported as such instead of being mistaken for "not connected".
//!
//! File layout (version 1): `b"QBSYNCTK"`, a version byte, the 8-byte key id, a random 24-byte
//! nonce, then the ciphertext of the grant as JSON. The first 17 bytes and the file's name are
//! authenticated as associated data, so neither the version nor the key id can be altered, nor
//! one sealed file renamed into another, unnoticed. The Google user grant
//! (`google-tokens.enc`, see `google.rs`) is sealed the same way with the same key.

use std::fmt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use chrono::{DateTime, Utc};
use secrecy::zeroize::Zeroizing;
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::key::TokenKey;
use super::private_fs;
use super::{AuthError, QboEnvironment};

const MAGIC: &[u8; 8] = b"QBSYNCTK";
const VERSION: u8 = 1;
const HEADER_LEN: usize = MAGIC.len() + 1 + 8;
const NONCE_LEN: usize = 24;

const WRONG_KEY: &str = "the token store was encrypted with a different key: set QBSYNC_TOKEN_KEY to the key used before, or run `qbsync auth` again to re-connect";

/// One QuickBooks connection: the company, the tokens and when they lapse.
///
/// `Debug` shows no token.
#[derive(Clone, Debug)]
pub struct StoredGrant {
    pub environment: QboEnvironment,
    pub realm_id: String,
    pub refresh_token: SecretString,
    pub access_token: Option<SecretString>,
    pub access_expires_at: Option<DateTime<Utc>>,
    /// The rolling expiry (`x_refresh_token_expires_in`, about 100 days, renewed by each refresh).
    pub refresh_expires_at: Option<DateTime<Utc>>,
    /// The hard expiry (`x_refresh_token_hard_expires_in`, five years from consent).
    pub refresh_hard_expires_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    /// Set when Intuit refused this grant: every process sharing the store then waits for a
    /// person instead of asking Intuit again. A new `qbsync auth` writes a grant without it.
    pub reconnect: Option<ReconnectNeeded>,
}

/// Why and since when a person must run `qbsync auth`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconnectNeeded {
    pub reason: String,
    pub since: DateTime<Utc>,
}

/// Identifies one written version of the store file, to notice that another process (or a
/// person running `qbsync auth`) replaced it. Every save renames a new file into place, so the
/// inode changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct StoreVersion {
    dev: u64,
    ino: u64,
    len: u64,
    mtime_ns: i128,
}

/// The encrypted token file of one state directory. Cheap to clone.
#[derive(Clone)]
pub struct TokenStore {
    dir: PathBuf,
    key: Arc<TokenKey>,
}

impl TokenStore {
    pub const FILE: &str = "tokens.enc";

    /// Uses `state_dir` (created 0700 if needed) with `key`. Reads nothing yet.
    pub fn open(state_dir: &Path, key: TokenKey) -> Result<TokenStore, AuthError> {
        private_fs::ensure_private_dir(state_dir)
            .map_err(|error| AuthError::store(format!("cannot prepare {}: {error}", state_dir.display())))?;
        Ok(TokenStore { dir: state_dir.to_owned(), key: Arc::new(key) })
    }

    /// The grant, or `None` when nothing is stored (never connected, or deleted).
    pub fn load(&self) -> Result<Option<StoredGrant>, AuthError> {
        Ok(self.read_sealed::<RecordIn>(Self::FILE)?.map(RecordIn::into_grant))
    }

    /// Replaces the stored grant atomically and durably (temp file, fsync, rename, fsync dir).
    pub fn save(&self, grant: &StoredGrant) -> Result<(), AuthError> {
        self.write_sealed(Self::FILE, &RecordOut::of(grant))
    }

    /// Forgets the grant (after revoking it, or to start over).
    pub fn delete(&self) -> Result<(), AuthError> {
        self.remove_sealed(Self::FILE)
    }

    /// Decrypts and parses `dir/name`; `None` when the file does not exist.
    pub(crate) fn read_sealed<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, AuthError> {
        let path = self.dir.join(name);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(AuthError::store(format!("cannot read {}: {error}", path.display()))),
        };
        let plaintext = self.decrypt(name, &bytes)?;
        let value = serde_json::from_slice(&plaintext)
            .map_err(|_| AuthError::store(format!("{} is damaged: delete it and connect again", path.display())))?;
        Ok(Some(value))
    }

    /// Encrypts `value` as JSON into `dir/name`, replacing it atomically and durably.
    pub(crate) fn write_sealed(&self, name: &str, value: &impl Serialize) -> Result<(), AuthError> {
        let path = self.dir.join(name);
        let mut plaintext = Zeroizing::new(Vec::with_capacity(4096));
        serde_json::to_writer(&mut *plaintext, value)
            .map_err(|error| AuthError::store(format!("cannot encode {}: {error}", path.display())))?;
        let bytes = self.encrypt(name, &plaintext)?;
        private_fs::replace_file(&self.dir, name, &bytes)
            .map_err(|error| AuthError::store(format!("cannot write {}: {error}", path.display())))
    }

    pub(crate) fn remove_sealed(&self, name: &str) -> Result<(), AuthError> {
        private_fs::remove_file(&self.dir, name)
            .map_err(|error| AuthError::store(format!("cannot delete {}: {error}", self.dir.join(name).display())))
    }

    /// [`TokenStore::load`] off the async threads.
    pub(crate) async fn load_async(&self) -> Result<Option<StoredGrant>, AuthError> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.load()).await.map_err(|error| AuthError::store(error.to_string()))?
    }

    /// [`TokenStore::save`] off the async threads. Once started, the save completes even if the
    /// caller stops waiting, so a refresh whose answer arrived is not lost to a cancelled task.
    pub(crate) async fn save_async(&self, grant: &StoredGrant) -> Result<(), AuthError> {
        let (store, grant) = (self.clone(), grant.clone());
        tokio::task::spawn_blocking(move || store.save(&grant))
            .await
            .map_err(|error| AuthError::store(error.to_string()))?
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join(Self::FILE)
    }

    pub fn key(&self) -> &TokenKey {
        &self.key
    }

    /// The version on disk now; `None` when there is no file.
    pub(crate) fn version(&self) -> Option<StoreVersion> {
        let meta = std::fs::metadata(self.path()).ok()?;
        Some(StoreVersion {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
        })
    }

    /// Authenticated with the ciphertext: the header, and the file's name, so one sealed file
    /// cannot be passed off as another.
    fn associated_data(&self, name: &str) -> Vec<u8> {
        let mut aad = self.header().to_vec();
        aad.extend_from_slice(name.as_bytes());
        aad
    }

    fn header(&self) -> [u8; HEADER_LEN] {
        let mut header = [0u8; HEADER_LEN];
        header[..MAGIC.len()].copy_from_slice(MAGIC);
        header[MAGIC.len()] = VERSION;
        header[MAGIC.len() + 1..].copy_from_slice(&self.key.id());
        header
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(self.key.bytes().into())
    }

    fn encrypt(&self, name: &str, plaintext: &[u8]) -> Result<Vec<u8>, AuthError> {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let ciphertext = self
            .cipher()
            .encrypt(&nonce, Payload { msg: plaintext, aad: &self.associated_data(name) })
            .map_err(|_| AuthError::store("encryption failed".into()))?;
        let mut bytes = Vec::with_capacity(HEADER_LEN + NONCE_LEN + ciphertext.len());
        bytes.extend_from_slice(&self.header());
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&ciphertext);
        Ok(bytes)
    }

    fn decrypt(&self, name: &str, bytes: &[u8]) -> Result<Zeroizing<Vec<u8>>, AuthError> {
        let path = self.dir.join(name);
        let damaged = || {
            AuthError::store(format!(
                "{} is damaged or not a qbsync token store: delete it and connect again",
                path.display()
            ))
        };
        if bytes.len() < HEADER_LEN + NONCE_LEN || &bytes[..MAGIC.len()] != MAGIC {
            return Err(damaged());
        }
        let (header, rest) = bytes.split_at(HEADER_LEN);
        if header[MAGIC.len()] != VERSION {
            return Err(AuthError::store(format!(
                "{} was written by another version of qbsync (format {}); this one reads format {VERSION}",
                path.display(),
                header[MAGIC.len()]
            )));
        }
        if header[MAGIC.len() + 1..] != self.key.id() {
            return Err(AuthError::store(WRONG_KEY.into()));
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        self.cipher()
            .decrypt(XNonce::from_slice(nonce), Payload { msg: ciphertext, aad: &self.associated_data(name) })
            .map(Zeroizing::new)
            .map_err(|_| damaged())
    }
}

impl fmt::Debug for TokenStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenStore").field("path", &self.path()).field("key", &self.key).finish()
    }
}

/// The plaintext as written: borrowed from the grant, so the only copy of a token made for
/// saving is the zeroized JSON buffer.
#[derive(Serialize)]
struct RecordOut<'a> {
    environment: QboEnvironment,
    realm_id: &'a str,
    refresh_token: &'a str,
    access_token: Option<&'a str>,
    access_expires_at: Option<DateTime<Utc>>,
    refresh_expires_at: Option<DateTime<Utc>>,
    refresh_hard_expires_at: Option<DateTime<Utc>>,
    updated_at: DateTime<Utc>,
    reconnect: Option<&'a ReconnectNeeded>,
}

impl<'a> RecordOut<'a> {
    fn of(grant: &'a StoredGrant) -> RecordOut<'a> {
        RecordOut {
            environment: grant.environment,
            realm_id: &grant.realm_id,
            refresh_token: grant.refresh_token.expose_secret(),
            access_token: grant.access_token.as_ref().map(|t| t.expose_secret()),
            access_expires_at: grant.access_expires_at,
            refresh_expires_at: grant.refresh_expires_at,
            refresh_hard_expires_at: grant.refresh_hard_expires_at,
            updated_at: grant.updated_at,
            reconnect: grant.reconnect.as_ref(),
        }
    }
}

#[derive(Deserialize)]
struct RecordIn {
    environment: QboEnvironment,
    realm_id: String,
    refresh_token: SecretString,
    access_token: Option<SecretString>,
    access_expires_at: Option<DateTime<Utc>>,
    refresh_expires_at: Option<DateTime<Utc>>,
    refresh_hard_expires_at: Option<DateTime<Utc>>,
    updated_at: DateTime<Utc>,
    #[serde(default)]
    reconnect: Option<ReconnectNeeded>,
}

impl RecordIn {
    fn into_grant(self) -> StoredGrant {
        StoredGrant {
            environment: self.environment,
            realm_id: self.realm_id,
            refresh_token: self.refresh_token,
            access_token: self.access_token,
            access_expires_at: self.access_expires_at,
            refresh_expires_at: self.refresh_expires_at,
            refresh_hard_expires_at: self.refresh_hard_expires_at,
            updated_at: self.updated_at,
            reconnect: self.reconnect,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant() -> StoredGrant {
        StoredGrant {
            environment: QboEnvironment::Sandbox,
            realm_id: "9341".into(),
            refresh_token: "AB11-refresh-secret".into(),
            access_token: Some("eyJ-access-secret".into()),
            access_expires_at: Some(Utc::now()),
            refresh_expires_at: None,
            refresh_hard_expires_at: None,
            updated_at: Utc::now(),
            reconnect: None,
        }
    }

    #[test]
    fn a_saved_grant_loads_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::open(dir.path(), TokenKey::generate()).unwrap();
        assert!(store.load().unwrap().is_none());
        store.save(&grant()).unwrap();
        let loaded = store.load().unwrap().unwrap();
        assert_eq!(loaded.refresh_token.expose_secret(), "AB11-refresh-secret");
        assert_eq!(loaded.access_token.unwrap().expose_secret(), "eyJ-access-secret");
        assert_eq!(loaded.realm_id, "9341");
        store.delete().unwrap();
        assert!(store.load().unwrap().is_none());
    }

    #[test]
    fn each_save_uses_a_fresh_nonce() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::open(dir.path(), TokenKey::generate()).unwrap();
        let grant = grant();
        store.save(&grant).unwrap();
        let first = std::fs::read(store.path()).unwrap();
        store.save(&grant).unwrap();
        let second = std::fs::read(store.path()).unwrap();
        assert_eq!(first[..HEADER_LEN], second[..HEADER_LEN]);
        assert_ne!(first[HEADER_LEN..HEADER_LEN + NONCE_LEN], second[HEADER_LEN..HEADER_LEN + NONCE_LEN]);
    }

    #[test]
    fn tampering_is_detected_and_told_apart_from_a_wrong_key() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::open(dir.path(), TokenKey::generate()).unwrap();
        store.save(&grant()).unwrap();
        let mut bytes = std::fs::read(store.path()).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(store.path(), &bytes).unwrap();
        let damaged = store.load().unwrap_err().to_string();
        assert!(damaged.contains("damaged"), "{damaged}");

        let other = TokenStore::open(dir.path(), TokenKey::generate()).unwrap();
        let wrong = other.load().unwrap_err().to_string();
        assert!(wrong.contains("different key"), "{wrong}");
    }

    #[test]
    fn a_sealed_file_cannot_pass_for_another() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::open(dir.path(), TokenKey::generate()).unwrap();
        store.write_sealed("other.enc", &serde_json::json!({"refresh_token": "x"})).unwrap();
        std::fs::rename(dir.path().join("other.enc"), store.path()).unwrap();
        assert!(store.load().unwrap_err().to_string().contains("damaged"));
    }

    #[test]
    fn a_newer_format_is_reported_as_such() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::open(dir.path(), TokenKey::generate()).unwrap();
        store.save(&grant()).unwrap();
        let mut bytes = std::fs::read(store.path()).unwrap();
        bytes[MAGIC.len()] = 2;
        std::fs::write(store.path(), &bytes).unwrap();
        assert!(store.load().unwrap_err().to_string().contains("another version of qbsync"));
    }
}
