//! The cross-process half of "one refresh at a time": an exclusive lock on
//! `state_dir/tokens.lock`, held while a process reads the store, refreshes and saves.
//!
//! Two qbsync processes sharing a state directory (the daemon and a `qbsync run-once` started
//! by hand) would otherwise both refresh the same refresh token; the loser's token is then
//! superseded and, once the winner's is used, Intuit answers `invalid_grant`
//! (intuit/oauth-jsclient #138). The lock is `flock(2)` through `std::fs::File::lock`, so the
//! kernel releases it when a process dies, and it also excludes another handle in the same
//! process.

use std::fs::File;
use std::path::Path;
use std::time::Duration;

use super::{AuthError, private_fs};

/// How long to wait for another process's refresh (which is itself bounded by the HTTP
/// timeout) before giving up for now.
const WAIT: Duration = Duration::from_secs(120);

/// Held while the token store is read, refreshed and written. Dropping it releases the lock.
#[derive(Debug)]
pub struct RefreshLock {
    _file: File,
}

impl RefreshLock {
    pub const FILE: &str = "tokens.lock";

    /// Waits for the lock of `state_dir`, off the async threads.
    pub async fn acquire(state_dir: &Path) -> Result<RefreshLock, AuthError> {
        let path = state_dir.join(Self::FILE);
        let file = private_fs::open_lock_file(&path)
            .map_err(|error| AuthError::Store { reason: format!("cannot open {}: {error}", path.display()) })?;
        // If this future is dropped while waiting, the blocking task still gets the lock and
        // releases it at once when its result (the file) is dropped.
        let locking = tokio::task::spawn_blocking(move || file.lock().map(|()| file));
        match tokio::time::timeout(WAIT, locking).await {
            Ok(Ok(Ok(file))) => Ok(RefreshLock { _file: file }),
            Ok(Ok(Err(error))) => Err(AuthError::Store { reason: format!("cannot lock {}: {error}", path.display()) }),
            Ok(Err(join_error)) => {
                Err(AuthError::Store { reason: format!("cannot lock {}: {join_error}", path.display()) })
            }
            Err(_) => Err(AuthError::Transient {
                reason: format!("another qbsync process has held {} for {}s", path.display(), WAIT.as_secs()),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_second_holder_waits_for_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let first = RefreshLock::acquire(dir.path()).await.unwrap();
        let path = dir.path().to_owned();
        let second = tokio::spawn(async move { RefreshLock::acquire(&path).await.map(|_| ()) });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!second.is_finished(), "the second lock must wait while the first is held");
        drop(first);
        second.await.unwrap().unwrap();
    }
}
