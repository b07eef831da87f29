//! Weights llama.cpp loads: the model file as it is, or a cached copy with its Q5_0 tensors
//! re-encoded, losslessly, as Q8_0 (see [`crucible_gguf::widen_q5_0`] for why and what it costs).
//!
//! The copy lives in `CRUCIBLE_HOME/cache/weights/<stem>-<key>.q8_0.gguf`, where `key` hashes
//! the source's canonical path, size and modification time: a changed source gets a new copy,
//! and older copies of the same stem are removed when it is written. The copy is written to a
//! hidden partial file and renamed, so a killed conversion never leaves a file that looks
//! complete; the next conversion removes what it left.

use std::fs::{self, File};
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::Result;
use crate::home::{ModelHome, partial_prefix};
use crate::pull::{io, remove_stale_partials, to_hex};

/// Which encoding of the weights to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Weights {
    /// Re-encode Q5_0 tensors as Q8_0 (same values, faster CPU kernels, 30% more weight
    /// memory: the 0.5B model's peak goes from about 650 to 790 MiB); files without Q5_0
    /// tensors run as they are.
    Widen,
    /// Run the file exactly as it is.
    AsIs,
}

/// The file to load for `source` (whose header is `gguf`) under `weights`, and whether it is a
/// widened copy. The copy is made on first use (a few seconds for a 0.5B model) and reused.
pub fn prepare_weights(
    home: &ModelHome,
    source: &Path,
    gguf: &crucible_gguf::Gguf,
    weights: Weights,
) -> Result<(PathBuf, bool)> {
    if weights == Weights::AsIs || crucible_gguf::q5_0_tensors(gguf) == 0 {
        return Ok((source.to_owned(), false));
    }
    let dir = home.weights_dir();
    let stem = file_stem(source);
    let target = copy_path(home, source)?;
    if target.is_file() {
        return Ok((target, true));
    }
    fs::create_dir_all(&dir).map_err(|source| io("create", &dir, source))?;
    let file_name = target
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    // A conversion killed earlier left its partial file; the pull's cleanup knows the pattern.
    remove_stale_partials(&dir, &file_name);
    let partial = dir.join(format!(
        "{}{}",
        partial_prefix(&file_name),
        std::process::id()
    ));
    let written = write_widened(source, gguf, &partial);
    if let Err(err) = written {
        let _ = fs::remove_file(&partial);
        return Err(err);
    }
    fs::rename(&partial, &target).map_err(|source| io("rename", &partial, source))?;
    tracing::info!(
        source = %source.display(),
        copy = %target.display(),
        "wrote the model's Q5_0 weights as Q8_0 (once; reused from now on)"
    );
    remove_older_copies(&dir, &stem, &target);
    Ok((target, true))
}

/// The widened copy of `source` if one is cached (for `crucible model info`); `None` also when
/// the source cannot be inspected.
pub fn widened_copy(home: &ModelHome, source: &Path) -> Option<PathBuf> {
    copy_path(home, source).ok().filter(|path| path.is_file())
}

/// Where the widened copy of `source`, as it is now, lives.
fn copy_path(home: &ModelHome, source: &Path) -> Result<PathBuf> {
    let name = format!("{}-{}.q8_0.gguf", file_stem(source), source_key(source)?);
    Ok(home.weights_dir().join(name))
}

fn file_stem(source: &Path) -> String {
    source
        .file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".to_owned())
}

fn write_widened(source: &Path, gguf: &crucible_gguf::Gguf, partial: &Path) -> Result<()> {
    let mut input = BufReader::new(File::open(source).map_err(|err| io("open", source, err))?);
    let file = File::create(partial).map_err(|err| io("create", partial, err))?;
    let mut output = BufWriter::with_capacity(1 << 20, file);
    crucible_gguf::widen_q5_0(gguf, &mut input, &mut output).map_err(|err| match err {
        crucible_gguf::Error::Write { source } => io("write", partial, source),
        crucible_gguf::Error::Read { source: err, .. } => io("read", source, err),
        other => other.into(),
    })?;
    let file = output
        .into_inner()
        .map_err(|err| io("write", partial, err.into_error()))?;
    file.sync_all().map_err(|err| io("sync", partial, err))?;
    Ok(())
}

/// A short hash of what identifies the source's content cheaply: canonical path, size and
/// modification time (hashing the content itself would cost a second per 500 MB on every load).
fn source_key(source: &Path) -> Result<String> {
    let canonical = fs::canonicalize(source).map_err(|err| io("inspect", source, err))?;
    let metadata = fs::metadata(&canonical).map_err(|err| io("inspect", source, err))?;
    let modified = metadata
        .modified()
        .ok()
        .and_then(|time| time.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |since| since.as_nanos());
    let mut hasher = Sha256::new();
    hasher.update(canonical.to_string_lossy().as_bytes());
    hasher.update(metadata.len().to_le_bytes());
    hasher.update(modified.to_le_bytes());
    Ok(to_hex(&hasher.finalize()[..8]))
}

/// Remove other widened copies of a file with this stem (made from an older version of it).
fn remove_older_copies(dir: &Path, stem: &str, keep: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path != keep && is_copy_of(&name, stem) {
            let _ = fs::remove_file(&path);
        }
    }
}

/// Whether `file_name` is a widened copy of a file with `stem`: `<stem>-<16 hex>.q8_0.gguf`.
fn is_copy_of(file_name: &str, stem: &str) -> bool {
    file_name
        .strip_prefix(stem)
        .and_then(|rest| rest.strip_prefix('-'))
        .and_then(|rest| rest.strip_suffix(".q8_0.gguf"))
        .is_some_and(|key| key.len() == 16 && key.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Remove every widened copy of files with this stem (`crucible model rm`).
pub(crate) fn remove_copies(home: &ModelHome, stem: &str) {
    remove_older_copies(&home.weights_dir(), stem, Path::new(""));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-tensor GGUF file: `t` of 64 elements of type `type_id`, with `data_len` data bytes.
    fn tiny_gguf(type_id: u32, data_len: usize) -> Vec<u8> {
        let mut out = b"GGUF".to_vec();
        out.extend(3u32.to_le_bytes());
        out.extend(1u64.to_le_bytes()); // tensors
        out.extend(1u64.to_le_bytes()); // metadata entries
        out.extend(20u64.to_le_bytes());
        out.extend(b"general.architecture");
        out.extend(8u32.to_le_bytes());
        out.extend(5u64.to_le_bytes());
        out.extend(b"qwen2");
        out.extend(1u64.to_le_bytes());
        out.extend(b"t");
        out.extend(1u32.to_le_bytes());
        out.extend(64u64.to_le_bytes());
        out.extend(type_id.to_le_bytes());
        out.extend(0u64.to_le_bytes());
        out.resize(out.len().next_multiple_of(32), 0);
        out.extend((0..data_len).map(|i| i as u8));
        out
    }

    #[test]
    fn a_widened_copy_is_made_once_and_replaced_when_the_source_changes() {
        let dir = tempfile::tempdir().unwrap();
        let home = ModelHome::new(&dir.path().join("home"));
        let source = dir.path().join("toy.gguf");
        fs::write(&source, tiny_gguf(6, 44)).unwrap();
        let gguf = crucible_gguf::load_gguf(&source).unwrap();

        // What a killed conversion of this file left (its process is long gone).
        let key = source_key(&source).unwrap();
        let leftover = home
            .weights_dir()
            .join(format!(".toy-{key}.q8_0.gguf.partial-999999999"));
        fs::create_dir_all(home.weights_dir()).unwrap();
        fs::write(&leftover, b"half a model").unwrap();
        assert_eq!(widened_copy(&home, &source), None);

        let (path, widened) = prepare_weights(&home, &source, &gguf, Weights::Widen).unwrap();
        assert!(widened);
        assert_eq!(widened_copy(&home, &source), Some(path.clone()));
        assert!(
            !leftover.exists(),
            "the killed conversion's partial file is removed"
        );
        assert!(path.starts_with(home.weights_dir()), "{}", path.display());
        let copy = crucible_gguf::load_gguf(&path).unwrap();
        assert_eq!(copy.tensors[0].ggml_type, crucible_gguf::Q8_0);
        assert_eq!(copy.tensors[0].n_bytes, Some(68));
        let written = fs::metadata(&path).unwrap().modified().unwrap();

        let (again, _) = prepare_weights(&home, &source, &gguf, Weights::Widen).unwrap();
        assert_eq!(again, path);
        assert_eq!(fs::metadata(&again).unwrap().modified().unwrap(), written);

        let (as_is, widened) = prepare_weights(&home, &source, &gguf, Weights::AsIs).unwrap();
        assert_eq!((as_is, widened), (source.clone(), false));

        // A new version of the source: a new copy, and the old one is gone.
        fs::write(&source, tiny_gguf(6, 44)).unwrap();
        let later = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
        File::options()
            .write(true)
            .open(&source)
            .unwrap()
            .set_modified(later)
            .unwrap();
        let (newer, _) = prepare_weights(&home, &source, &gguf, Weights::Widen).unwrap();
        assert_ne!(newer, path);
        assert_eq!(widened_copy(&home, &source), Some(newer.clone()));
        assert!(newer.is_file() && !path.exists());
        let names: Vec<_> = fs::read_dir(home.weights_dir()).unwrap().collect();
        assert_eq!(names.len(), 1, "no partial files or stale copies are left");

        remove_copies(&home, "toy");
        assert!(!newer.exists());
    }

    #[test]
    fn files_without_q5_0_tensors_run_as_they_are() {
        let dir = tempfile::tempdir().unwrap();
        let home = ModelHome::new(dir.path());
        let source = dir.path().join("f32.gguf");
        fs::write(&source, tiny_gguf(0, 256)).unwrap();
        let gguf = crucible_gguf::load_gguf(&source).unwrap();
        let (path, widened) = prepare_weights(&home, &source, &gguf, Weights::Widen).unwrap();
        assert_eq!((path, widened), (source, false));
        assert!(!home.weights_dir().exists());
    }

    #[test]
    fn copies_are_recognised_by_stem_and_key() {
        assert!(is_copy_of("m-0123456789abcdef.q8_0.gguf", "m"));
        assert!(!is_copy_of("m-2-0123456789abcdef.q8_0.gguf", "m"));
        assert!(!is_copy_of("m-0123456789abcdef.q8_0.gguf", "m-2"));
        assert!(!is_copy_of(".m-0123456789abcdef.q8_0.gguf.partial-1", "m"));
        assert!(!is_copy_of("m-0123.q8_0.gguf", "m"));
    }
}
