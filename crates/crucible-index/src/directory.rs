//! The directory tantivy keeps the index in: tantivy's memory-mapped directory without its
//! fsyncs.
//!
//! A commit of one changed file writes about ten segment files, a delete bitset and two
//! metadata files, and tantivy's own directory syncs each of them and the directory: about 18
//! fsyncs a commit, which took 130-250 ms of a named-path update whose CPU time is 30-50 ms
//! (docs/PERFORMANCE.md, "Repository index"). The index is a cache of the repository that is
//! rebuilt from it: a process that dies leaves its writes in the page cache, and only a power
//! loss can lose writes, after which an index that cannot be opened is rebuilt (`Index::open`)
//! and one that opens is brought up to date by the next update or rebuilt by deleting its
//! directory. So files are written and renamed into place, never synced.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tantivy::directory::error::{
    DeleteError, LockError, OpenDirectoryError, OpenReadError, OpenWriteError,
};
use tantivy::directory::{
    AntiCallToken, Directory, DirectoryLock, FileHandle, Lock, MmapDirectory, TerminatingWrite,
    WatchCallback, WatchHandle, WritePtr,
};

/// [`MmapDirectory`] for reading, locking and watching; writes without fsync.
#[derive(Debug, Clone)]
pub(crate) struct UnsyncedDirectory {
    inner: MmapDirectory,
    root: PathBuf,
}

impl UnsyncedDirectory {
    /// The directory at `root`, which must exist.
    pub(crate) fn open(root: &Path) -> Result<UnsyncedDirectory, OpenDirectoryError> {
        Ok(UnsyncedDirectory {
            inner: MmapDirectory::open(root)?,
            root: root.to_path_buf(),
        })
    }
}

/// A file written through a buffer and closed without a sync.
struct UnsyncedFile(File);

impl Write for UnsyncedFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl TerminatingWrite for UnsyncedFile {
    fn terminate_ref(&mut self, _: AntiCallToken) -> io::Result<()> {
        self.0.flush()
    }
}

impl Directory for UnsyncedDirectory {
    fn get_file_handle(&self, path: &Path) -> Result<Arc<dyn FileHandle>, OpenReadError> {
        self.inner.get_file_handle(path)
    }

    fn delete(&self, path: &Path) -> Result<(), DeleteError> {
        self.inner.delete(path)
    }

    fn exists(&self, path: &Path) -> Result<bool, OpenReadError> {
        self.inner.exists(path)
    }

    fn open_write(&self, path: &Path) -> Result<WritePtr, OpenWriteError> {
        // tantivy's files are written once: an existing file is an error, as in MmapDirectory.
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(self.root.join(path))
            .map_err(|err| match err.kind() {
                io::ErrorKind::AlreadyExists => {
                    OpenWriteError::FileAlreadyExists(path.to_path_buf())
                }
                _ => OpenWriteError::wrap_io_error(err, path.to_path_buf()),
            })?;
        Ok(BufWriter::new(Box::new(UnsyncedFile(file))))
    }

    fn atomic_read(&self, path: &Path) -> Result<Vec<u8>, OpenReadError> {
        self.inner.atomic_read(path)
    }

    fn atomic_write(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        // Written beside the target and renamed over it, so a reader sees the old or the new
        // content whole. tantivy writes each of these files under a lock of its own.
        let target = self.root.join(path);
        let mut temporary = target.clone().into_os_string();
        temporary.push(".crucible-tmp");
        std::fs::write(&temporary, data)?;
        std::fs::rename(&temporary, &target)
    }

    fn sync_directory(&self) -> io::Result<()> {
        Ok(())
    }

    fn acquire_lock(&self, lock: &Lock) -> Result<DirectoryLock, LockError> {
        self.inner.acquire_lock(lock)
    }

    fn watch(&self, watch_callback: WatchCallback) -> tantivy::Result<WatchHandle> {
        self.inner.watch(watch_callback)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_written_once_and_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        let directory = UnsyncedDirectory::open(dir.path()).unwrap();
        let name = Path::new("segment.idx");
        let mut writer = directory.open_write(name).unwrap();
        writer.write_all(b"postings").unwrap();
        writer.flush().unwrap();
        writer.into_inner().ok().unwrap().terminate().unwrap();
        assert_eq!(std::fs::read(dir.path().join(name)).unwrap(), b"postings");
        assert!(matches!(
            directory.open_write(name),
            Err(OpenWriteError::FileAlreadyExists(_))
        ));

        let meta = Path::new("meta.json");
        directory.atomic_write(meta, b"{\"v\":1}").unwrap();
        directory.atomic_write(meta, b"{\"v\":2}").unwrap();
        assert_eq!(directory.atomic_read(meta).unwrap(), b"{\"v\":2}");
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            names.iter().all(|n| !n.ends_with(".crucible-tmp")),
            "{names:?}"
        );
    }
}
