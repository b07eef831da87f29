//! The lock that keeps a second process out of a run directory: an exclusive `flock` on
//! `run.lock`, which holds the holder's PID so that a refused process can name it.
//!
//! The kernel releases an `flock` when the last descriptor of the locked file is closed, and
//! a process's descriptors are closed when it dies, however it dies: a holder killed with
//! `SIGKILL` leaves the file behind with its stale PID, but not the lock, and the next run
//! takes it over. Children never keep the lock alive: the file is opened close-on-exec.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::Path;
use std::time::{Duration, Instant};

use super::files::write_error;
use crate::{Error, Result};

/// The lock file inside a run directory.
pub const LOCK_FILE: &str = "run.lock";

/// How long a lock that names this very process is waited for (see [`DirLock::acquire`]).
const SELF_HELD_WAIT: Duration = Duration::from_secs(2);

/// A held lock; released when dropped (or when the process ends).
#[derive(Debug)]
pub(crate) struct DirLock {
    _file: File,
}

impl DirLock {
    /// Take the lock of `dir` without waiting: [`Error::Locked`] (naming the holder's PID) when
    /// another open run directory holds it, in this process or another.
    pub(crate) fn acquire(dir: &Path) -> Result<DirLock> {
        let path = dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|source| write_error(&path, source))?;
        // A lock this process released can live on for a moment in a child that another of
        // its threads forked and that has not yet reached `exec` (which closes the
        // descriptor): when the file names this process, wait for that child a little.
        let deadline = Instant::now() + SELF_HELD_WAIT;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) => {
                    let mut text = String::new();
                    // The holder may not have written its PID yet: then it is not named.
                    let _ = file.seek(SeekFrom::Start(0));
                    let _ = file.read_to_string(&mut text);
                    let pid: Option<u32> = text.trim().parse().ok();
                    if pid == Some(std::process::id()) && Instant::now() < deadline {
                        std::thread::sleep(Duration::from_millis(20));
                        continue;
                    }
                    return Err(Error::Locked {
                        dir: dir.to_path_buf(),
                        pid,
                    });
                }
                Err(TryLockError::Error(source)) => return Err(write_error(&path, source)),
            }
        }
        file.set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| writeln!(file, "{}", std::process::id()))
            .map_err(|source| write_error(&path, source))?;
        Ok(DirLock { _file: file })
    }
}
