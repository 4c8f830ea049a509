//! Files only qbsync's user may read, written so that a crash leaves either the old content or
//! the new one, never a torn or empty file (the failure of yup-oauth2's and many peers' token
//! caches: truncate-then-write).
//!
//! Every secret-bearing file lives in a 0700 directory and is created 0600.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rand::Rng;

pub const DIR_MODE: u32 = 0o700;
pub const FILE_MODE: u32 = 0o600;

/// Creates `dir` (and missing parents) 0700, or tightens an existing one to 0700.
pub fn ensure_private_dir(dir: &Path) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(DIR_MODE).create(dir)?;
    let mode = fs::metadata(dir)?.mode() & 0o777;
    if mode & 0o077 != 0 {
        tracing::warn!(dir = %dir.display(), mode = format!("{mode:o}"), "tightening the state directory to 0700: it holds credentials");
        fs::set_permissions(dir, fs::Permissions::from_mode(DIR_MODE))?;
    }
    Ok(())
}

/// Replaces `dir/name` with `bytes` atomically: temp file (0600) in the same directory, fsync,
/// rename, fsync of the directory so the rename itself survives a power cut.
pub fn replace_file(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    let temp = write_temp(dir, name, bytes)?;
    if let Err(error) = fs::rename(&temp, dir.join(name)) {
        let _ = fs::remove_file(&temp);
        return Err(error);
    }
    sync_dir(dir)
}

/// Creates `dir/name` with `bytes` unless it exists; never exposes a partly written file.
/// Returns `false` when another writer got there first (its content stands).
pub fn create_file_once(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<bool> {
    let temp = write_temp(dir, name, bytes)?;
    let linked = fs::hard_link(&temp, dir.join(name));
    let _ = fs::remove_file(&temp);
    match linked {
        Ok(()) => sync_dir(dir).map(|()| true),
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(error) => Err(error),
    }
}

/// Removes `dir/name` if present, durably.
pub fn remove_file(dir: &Path, name: &str) -> io::Result<()> {
    match fs::remove_file(dir.join(name)) {
        Ok(()) => sync_dir(dir),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(error),
    }
}

/// Opens (creating 0600) a file used only for locking.
pub fn open_lock_file(path: &Path) -> io::Result<File> {
    OpenOptions::new().read(true).write(true).create(true).truncate(false).mode(FILE_MODE).open(path)
}

/// The permission bits of `path` that grant group or others any access.
pub fn loose_bits(path: &Path) -> io::Result<u32> {
    Ok(fs::metadata(path)?.mode() & 0o077)
}

fn write_temp(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<PathBuf> {
    // Unique per writer, so two processes never write into the same temp file.
    let suffix: u64 = rand::thread_rng().r#gen();
    let temp = dir.join(format!(".{name}.tmp-{}-{suffix:016x}", std::process::id()));
    let mut file = OpenOptions::new().write(true).create_new(true).mode(FILE_MODE).open(&temp)?;
    let written = file.write_all(bytes).and_then(|()| file.sync_all());
    if let Err(error) = written {
        let _ = fs::remove_file(&temp);
        return Err(error);
    }
    Ok(temp)
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaced_files_are_private_and_complete() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        ensure_private_dir(&state).unwrap();
        replace_file(&state, "f", b"one").unwrap();
        replace_file(&state, "f", b"two").unwrap();
        assert_eq!(fs::read(state.join("f")).unwrap(), b"two");
        assert_eq!(fs::metadata(state.join("f")).unwrap().mode() & 0o777, FILE_MODE);
        assert_eq!(fs::metadata(&state).unwrap().mode() & 0o777, DIR_MODE);
        assert_eq!(fs::read_dir(&state).unwrap().count(), 1, "no temp file left behind");
    }

    #[test]
    fn create_once_keeps_the_first_writer() {
        let dir = tempfile::tempdir().unwrap();
        assert!(create_file_once(dir.path(), "k", b"first").unwrap());
        assert!(!create_file_once(dir.path(), "k", b"second").unwrap());
        assert_eq!(fs::read(dir.path().join("k")).unwrap(), b"first");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn loose_directories_are_tightened() {
        let dir = tempfile::tempdir().unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        ensure_private_dir(dir.path()).unwrap();
        assert_eq!(fs::metadata(dir.path()).unwrap().mode() & 0o777, DIR_MODE);
    }
}
