//! Crash-safe files: write to a temporary name, fsync, rename into place, fsync the directory.
//!
//! A file under its final name is always complete, so a killed run never leaves a half-written
//! output that a re-run would trust. Temporary names are fixed per target (`NAME.tmp`), so a
//! re-run overwrites what a killed run left instead of piling up files.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// A file being written; it appears under its final name only on [`AtomicFile::commit`].
#[derive(Debug)]
pub struct AtomicFile {
    path: PathBuf,
    tmp: PathBuf,
    writer: Option<BufWriter<File>>,
}

impl AtomicFile {
    /// Start writing `path` (parent directories are created).
    pub fn create(path: &Path) -> Result<Self> {
        if let Some(parent) = path.parent() {
            create_dir_all(parent)?;
        }
        let tmp = tmp_path(path);
        let file = File::create(&tmp).map_err(|err| Error::io("create", &tmp, err))?;
        Ok(AtomicFile {
            path: path.to_path_buf(),
            tmp,
            writer: Some(BufWriter::with_capacity(1 << 16, file)),
        })
    }

    /// Append bytes.
    pub fn write_all(&mut self, bytes: &[u8]) -> Result<()> {
        let writer = self.writer.as_mut().expect("writer present until commit");
        writer
            .write_all(bytes)
            .map_err(|err| Error::io("write", &self.tmp, err))
    }

    /// Flush, fsync and rename into place; then fsync the directory so the rename survives a
    /// power cut.
    pub fn commit(mut self) -> Result<()> {
        let writer = self.writer.take().expect("writer present until commit");
        let file = writer
            .into_inner()
            .map_err(|err| Error::io("write", &self.tmp, err.into_error()))?;
        file.sync_all()
            .map_err(|err| Error::io("sync", &self.tmp, err))?;
        drop(file);
        std::fs::rename(&self.tmp, &self.path)
            .map_err(|err| Error::io("rename into", &self.path, err))?;
        sync_parent(&self.path)
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.writer
            .as_mut()
            .expect("writer present until commit")
            .write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.writer
            .as_mut()
            .expect("writer present until commit")
            .flush()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.writer.is_some() {
            // Not committed: leave no partial file behind (best effort; a re-run overwrites it).
            self.writer = None;
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Write a whole file atomically.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = AtomicFile::create(path)?;
    file.write_all(bytes)?;
    file.commit()
}

/// Create a file only if it does not exist; returns whether this call created it. Used for
/// first-writer-wins records (the configuration, a stage's shard count).
pub fn create_exclusive(path: &Path, bytes: &[u8]) -> Result<bool> {
    if let Some(parent) = path.parent() {
        create_dir_all(parent)?;
    }
    // Write the content under a unique name, then hard-link it to the target: the link either
    // appears complete or fails because the target exists.
    // Unique per process and call: threads of one process may race for the same target.
    static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let unique = path.with_extension(format!("new.{}.{call}", std::process::id()));
    write_atomic(&unique, bytes)?;
    let res = std::fs::hard_link(&unique, path);
    let _ = std::fs::remove_file(&unique);
    match res {
        Ok(()) => {
            sync_parent(path)?;
            Ok(true)
        }
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(err) => Err(Error::io("create", path, err)),
    }
}

/// Read a file, `None` if it does not exist.
pub fn read_optional(path: &Path) -> Result<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(Error::io("read", path, err)),
    }
}

/// `create_dir_all` with this crate's error.
pub fn create_dir_all(path: &Path) -> Result<()> {
    std::fs::create_dir_all(path).map_err(|err| Error::io("create directory", path, err))
}

/// Open a file for reading.
pub fn open(path: &Path) -> Result<File> {
    File::open(path).map_err(|err| Error::io("open", path, err))
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

fn sync_parent(path: &Path) -> Result<()> {
    let Some(parent) = path.parent() else {
        return Ok(());
    };
    let dir = File::open(parent).map_err(|err| Error::io("open directory", parent, err))?;
    dir.sync_all()
        .map_err(|err| Error::io("sync directory", parent, err))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_uncommitted_file_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b.txt");
        {
            let mut file = AtomicFile::create(&path).unwrap();
            file.write_all(b"half").unwrap();
        }
        assert!(!path.exists());
        assert!(!tmp_path(&path).exists());
        write_atomic(&path, b"whole").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"whole");
    }

    #[test]
    fn the_first_exclusive_writer_wins() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.json");
        assert!(create_exclusive(&path, b"one").unwrap());
        assert!(!create_exclusive(&path, b"two").unwrap());
        assert_eq!(std::fs::read(&path).unwrap(), b"one");
    }

    #[test]
    fn a_full_disk_is_named_as_such() {
        // /dev/full fails every write with ENOSPC: the nearest thing to a full disk a test can
        // get without mounting one.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.bin");
        std::os::unix::fs::symlink("/dev/full", tmp_path(&path)).unwrap();
        let mut file = AtomicFile::create(&path).unwrap();
        let res = file.write_all(&[0u8; 1 << 17]).and_then(|()| file.commit());
        assert!(matches!(res, Err(Error::DiskFull { .. })), "{res:?}");
        assert!(!path.exists());
    }
}
