//! Which proxies serve a SQLite ledger file now: each holds a shared lock on a file beside
//! it (`<ledger>.proxy-lock`) for as long as it runs, draining included.
//!
//! A proxy that starts with a stale time shorter than the live one (`--stale-after 0s`,
//! to settle a crash's `sending` rows at once) may only take those rows for abandoned when
//! no other process could still be sending them: a proxy stopping with SIGTERM drains its
//! calls in flight after it stopped listening, so its successor can start while it still
//! sends. The successor therefore takes the lock *exclusively* first; if another proxy
//! holds it, the start-up settle uses the live stale time instead
//! ([`Proxy::live_stale_after`](super::Proxy::live_stale_after)). PostgreSQL has no such
//! file: several proxies on one database always start with the live stale time unless
//! told otherwise (see README).

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

/// The lock file of the SQLite ledger at `url` (`sqlite:PATH`, `sqlite://PATH`, with or
/// without a `?query`); `None` for an in-memory or non-SQLite ledger.
pub fn lock_path_of(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split('?').next().unwrap_or(rest);
    if path.is_empty() || path.contains(":memory:") || url.contains("mode=memory") {
        return None;
    }
    let mut name = path.to_owned();
    name.push_str(".proxy-lock");
    Some(PathBuf::from(name))
}

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
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)?;
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

    #[test]
    fn lock_paths() {
        assert_eq!(
            lock_path_of("sqlite:/var/l.db?synchronous=full"),
            Some(PathBuf::from("/var/l.db.proxy-lock"))
        );
        assert_eq!(
            lock_path_of("sqlite://l.db"),
            Some(PathBuf::from("l.db.proxy-lock"))
        );
        assert_eq!(lock_path_of("sqlite::memory:"), None);
        assert_eq!(lock_path_of("postgres://u@h/db"), None);
    }

    /// A second proxy on the same file is not alone while the first serves, and is once
    /// the first is gone.
    #[tokio::test]
    async fn only_a_lone_proxy_is_alone() {
        let dir = std::env::temp_dir().join(format!("rms-preflight-lock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("l.db.proxy-lock");
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
