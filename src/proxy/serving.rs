//! Which proxies serve a SQLite ledger file now: each holds a shared `flock` on the
//! database file itself for as long as it runs, draining included. (SQLite's own locks
//! are POSIX record locks, which `flock` does not touch on Linux; a lock on the file, not
//! on a name beside it, holds whatever path, link or spelling reaches the file.)
//!
//! A proxy that starts with a stale time shorter than the live one (`--stale-after 0s`,
//! to settle a crash's `sending` rows at once) may only take those rows for abandoned when
//! no other process could still be sending them: a proxy stopping with SIGTERM drains its
//! calls in flight after it stopped listening, so its successor can start while it still
//! sends. The successor therefore takes the lock *exclusively* first; if another proxy
//! holds it, the start-up settle uses the live stale time instead
//! ([`Proxy::live_stale_after`](super::Proxy::live_stale_after)). PostgreSQL has no such
//! file: a proxy on it always starts with the live stale time when that is the longer.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;

/// A proxy's hold on a ledger file: shared while it serves (dropped at exit).
#[derive(Debug)]
pub struct ServingLock {
    _file: File,
}

impl ServingLock {
    /// Takes the lock at `path`: exclusively when no other proxy holds it, in which case
    /// `alone` is true and `settle` runs while no other proxy can start; shared
    /// afterwards (and at once when another proxy holds it: `alone` false).
    pub async fn acquire<F, Fut, T>(path: &Path, settle: F) -> io::Result<(ServingLock, T)>
    where
        F: FnOnce(bool) -> Fut,
        Fut: std::future::Future<Output = T>,
    {
        // The ledger file exists (the ledger was opened first): never created here.
        let file = OpenOptions::new().read(true).open(path)?;
        if !file.metadata()?.is_file() {
            return Err(io::Error::other("not a regular file"));
        }
        let alone = match file.try_lock() {
            Ok(()) => true,
            Err(std::fs::TryLockError::WouldBlock) => false,
            Err(std::fs::TryLockError::Error(e)) => return Err(e),
        };
        let settled = settle(alone).await;
        if alone {
            file.unlock()?;
        }
        // Blocks only while another proxy runs its own start-up settle.
        let file = tokio::task::spawn_blocking(move || file.lock_shared().map(|()| file))
            .await
            .map_err(io::Error::other)??;
        Ok((ServingLock { _file: file }, settled))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A second proxy on the same file is not alone while the first serves, and is once
    /// the first is gone.
    #[tokio::test]
    async fn only_a_lone_proxy_is_alone() {
        let dir = std::env::temp_dir().join(format!("rms-preflight-lock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("l.db");
        std::fs::write(&path, b"").expect("file");
        let (first, alone) = ServingLock::acquire(&path, |alone| async move { alone })
            .await
            .expect("first");
        assert!(alone);
        let (second, alone) = ServingLock::acquire(&path, |alone| async move { alone })
            .await
            .expect("second");
        assert!(!alone, "a proxy serving the file was not seen");
        drop(first);
        drop(second);
        let (_third, alone) = ServingLock::acquire(&path, |alone| async move { alone })
            .await
            .expect("third");
        assert!(alone);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
