//! How a run directory's files reach the disk: JSON Lines appended whole and synced at a
//! cadence ([`Appender`]), a torn last line repaired before anything is appended after it,
//! records read back with their line numbers, and atomic replacement of whole files.
//!
//! Durability. An append is `write(2)` of one whole line on a file opened `O_APPEND`, so a
//! `kill -9` of the writer loses at most that line: what `write` returned from is in the
//! kernel's page cache, which outlives the process. Surviving a crash of the machine needs
//! `fdatasync`, which costs a disk round trip (docs/PERFORMANCE.md, "Run directories"), so an
//! [`Appender`] syncs after a line when [`SYNC_INTERVAL`] has passed since its last sync or
//! [`SYNC_LINES`] lines are waiting, and always when the run directory syncs before writing a
//! summary and when it is closed. A power cut therefore loses at most the lines of the last
//! [`SYNC_INTERVAL`] (or [`SYNC_LINES`] lines), never a line in the middle of the file.
//! Whole-file writes ([`write_atomic`]) sync the new file before renaming it into place and
//! sync the directory after, so a reader sees the old file or the new one, even after a crash.
//!
//! A write that fails (a full disk writes part of a line, then fails) is cut back to the last
//! whole line at once, so the file never ends in a fragment that the next append would glue
//! onto; were the cut to fail too, the next append retries it first, and the next open repairs
//! the tail ([`repair_tail`], [`read_records`]).

use std::fs::{File, OpenOptions};
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Error, Result};

/// An appended line is synced to the disk at most this long after the previous sync.
pub const SYNC_INTERVAL: Duration = Duration::from_millis(500);

/// At most this many appended lines wait for a sync.
pub const SYNC_LINES: usize = 64;

/// An append-only JSON Lines file. Every line is written whole or not at all (see the module
/// docs for how and when it is synced).
#[derive(Debug)]
pub struct Appender {
    path: PathBuf,
    file: File,
    /// The file's length after its last whole line: a failed write is cut back to it.
    len: u64,
    /// A failed write could not be cut back: the next append cuts it first.
    torn: bool,
    /// Lines written since the last sync.
    unsynced: usize,
    last_sync: Instant,
}

impl Appender {
    /// Open `path` for appending, creating it (and syncing its directory, so the new entry
    /// survives a crash) if it does not exist. Its tail must already be whole lines
    /// ([`repair_tail`] or [`read_records`]).
    pub fn open(path: &Path) -> Result<Appender> {
        let (appender, created) = Appender::open_unsynced(path)?;
        if created {
            sync_parent(path)?;
        }
        Ok(appender)
    }

    /// [`Appender::open`] without syncing the directory: the caller syncs it once for every
    /// file it created (`true` when this one is new).
    pub(crate) fn open_unsynced(path: &Path) -> Result<(Appender, bool)> {
        let existed = path.exists();
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|source| write_error(path, source))?;
        let len = file
            .metadata()
            .map_err(|source| write_error(path, source))?
            .len();
        let appender = Appender {
            path: path.to_path_buf(),
            file,
            len,
            torn: false,
            unsynced: 0,
            last_sync: Instant::now(),
        };
        Ok((appender, !existed))
    }

    /// Append `record` as one line; sync when the cadence says so.
    pub fn append<T: Serialize>(&mut self, record: &T) -> Result<()> {
        let mut line = serde_json::to_string(record).expect("records serialise");
        line.push('\n');
        self.append_bytes(line.as_bytes())
    }

    fn append_bytes(&mut self, line: &[u8]) -> Result<()> {
        if self.torn {
            self.cut_back()?;
        }
        if let Err(source) = self.file.write_all(line) {
            // A full disk can take part of the line before it fails: take it back, so the file
            // still ends with a whole line.
            self.torn = true;
            let _ = self.cut_back();
            return Err(write_error(&self.path, source));
        }
        self.len += line.len() as u64;
        self.unsynced += 1;
        if self.unsynced >= SYNC_LINES || self.last_sync.elapsed() >= SYNC_INTERVAL {
            self.sync()?;
        }
        Ok(())
    }

    /// Sync what was appended to the disk now.
    pub fn sync(&mut self) -> Result<()> {
        if self.unsynced == 0 {
            return Ok(());
        }
        self.sync_unmarked()?;
        self.unsynced = 0;
        self.last_sync = Instant::now();
        Ok(())
    }

    /// Sync through a shared reference (the counters then still ask for the next sync, a
    /// harmless extra one).
    pub(crate) fn sync_unmarked(&self) -> Result<()> {
        self.file
            .sync_data()
            .map_err(|source| write_error(&self.path, source))
    }

    fn cut_back(&mut self) -> Result<()> {
        self.file
            .set_len(self.len)
            .map_err(|source| write_error(&self.path, source))?;
        self.torn = false;
        Ok(())
    }

    /// The file written to, for the tests' injected failures.
    #[cfg(test)]
    pub(crate) fn replace_file_for_test(&mut self, file: File) {
        self.file = file;
    }
}

/// The error for a failed write of `path`: [`Error::DiskFull`] when the disk (or a quota) is
/// full, else [`Error::Write`].
pub(crate) fn write_error(path: &Path, source: std::io::Error) -> Error {
    use std::io::ErrorKind;
    if matches!(
        source.kind(),
        ErrorKind::StorageFull | ErrorKind::QuotaExceeded | ErrorKind::FileTooLarge
    ) {
        Error::DiskFull {
            path: path.to_path_buf(),
            source,
        }
    } else {
        Error::Write {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Replace `path` with `text` atomically and durably: write a temporary file beside it, sync
/// it, rename it over `path`, sync the directory. On failure the old file is untouched and
/// the temporary one is removed.
pub fn write_atomic(path: &Path, text: &str) -> Result<()> {
    write_atomic_unsynced(path, text)?;
    sync_parent(path)
}

/// [`write_atomic`] up to the rename: the caller syncs the directory.
pub(crate) fn write_atomic_unsynced(path: &Path, text: &str) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let written = (|| {
        let mut file = File::create(&tmp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()
    })();
    if let Err(source) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(write_error(path, source));
    }
    if let Err(source) = std::fs::rename(&tmp, path) {
        let _ = std::fs::remove_file(&tmp);
        return Err(write_error(path, source));
    }
    Ok(())
}

/// Sync the directory holding `path`, so a new or renamed entry survives a crash.
pub(crate) fn sync_parent(path: &Path) -> Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    File::open(dir)
        .and_then(|dir| dir.sync_all())
        .map_err(|source| write_error(dir, source))
}

/// Read a JSON Lines file of records. A last line without its newline that does not parse is a
/// torn write: it is cut off (the file is truncated) and counted. Any other bad line is an error
/// naming its line.
pub fn read_records<T: DeserializeOwned>(path: &Path) -> Result<(Vec<T>, usize)> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
        Err(source) => {
            return Err(Error::Read {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    let mut records = Vec::new();
    let mut offset = 0;
    let mut line_no = 0;
    while offset < bytes.len() {
        line_no += 1;
        let end = bytes[offset..]
            .iter()
            .position(|b| *b == b'\n')
            .map(|i| offset + i);
        let line = &bytes[offset..end.unwrap_or(bytes.len())];
        let parsed = std::str::from_utf8(line)
            .map_err(|err| err.to_string())
            .and_then(|text| serde_json::from_str::<T>(text).map_err(|err| err.to_string()));
        match (parsed, end) {
            (Ok(record), Some(end)) => {
                records.push(record);
                offset = end + 1;
            }
            (Err(message), Some(_)) => {
                return Err(Error::Line {
                    path: path.to_path_buf(),
                    line: line_no,
                    message,
                });
            }
            // A complete record whose newline was not written: keep it, finish the line.
            (Ok(record), None) => {
                records.push(record);
                finish_line(path)?;
                return Ok((records, 0));
            }
            // A torn write: cut it off.
            (Err(_), None) => {
                truncate(path, offset as u64)?;
                return Ok((records, 1));
            }
        }
    }
    Ok((records, 0))
}

/// Repair the end of a JSON Lines file without reading the rest (for files only appended to
/// and read by other tools, like `traces.jsonl`): a last line without its newline is finished
/// when it is a whole JSON value and cut off otherwise. Returns the number of lines cut (0 or
/// 1); a missing file has none.
pub(crate) fn repair_tail(path: &Path) -> Result<usize> {
    let read_err = |source| Error::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(source) => return Err(read_err(source)),
    };
    let len = file.metadata().map_err(read_err)?.len();
    let start = last_line_start(&mut file, len).map_err(read_err)?;
    let Some(start) = start else {
        return Ok(0);
    };
    let mut tail = Vec::new();
    file.seek(SeekFrom::Start(start))
        .and_then(|_| file.read_to_end(&mut tail))
        .map_err(read_err)?;
    let whole = std::str::from_utf8(&tail)
        .ok()
        .is_some_and(|text| serde_json::from_str::<serde_json::Value>(text).is_ok());
    if whole {
        finish_line(path)?;
        Ok(0)
    } else {
        truncate(path, start)?;
        Ok(1)
    }
}

/// Where the unfinished last line of a file of `len` bytes starts; `None` when the file is
/// empty or ends with a newline. Reads backwards in blocks, so a long file costs a few reads.
fn last_line_start(file: &mut File, len: u64) -> std::io::Result<Option<u64>> {
    const BLOCK: u64 = 64 * 1024;
    if len == 0 {
        return Ok(None);
    }
    let mut last = [0u8; 1];
    file.seek(SeekFrom::Start(len - 1))?;
    file.read_exact(&mut last)?;
    if last[0] == b'\n' {
        return Ok(None);
    }
    let mut end = len;
    let mut block = vec![0u8; BLOCK as usize];
    while end > 0 {
        let start = end.saturating_sub(BLOCK);
        let chunk = &mut block[..(end - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(chunk)?;
        if let Some(newline) = chunk.iter().rposition(|b| *b == b'\n') {
            return Ok(Some(start + newline as u64 + 1));
        }
        end = start;
    }
    Ok(Some(0))
}

/// Write the missing newline after a whole last record.
fn finish_line(path: &Path) -> Result<()> {
    OpenOptions::new()
        .append(true)
        .open(path)
        .and_then(|mut file| file.write_all(b"\n"))
        .map_err(|source| write_error(path, source))
}

fn truncate(path: &Path, len: u64) -> Result<()> {
    OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|file| file.set_len(len))
        .map_err(|source| write_error(path, source))
}
