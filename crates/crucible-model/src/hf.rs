//! `hf:` references: parse `hf:ORG/REPO[@REVISION]/FILE.gguf`, download it from a Hugging
//! Face hub (`<endpoint>/ORG/REPO/resolve/REVISION/FILE`), and cache it under the model home.
//!
//! The download streams to a hidden partial file next to its final place. An interrupted
//! download resumes with an HTTP range request; the file is checked (the sha256 the hub
//! announces for large files, then the GGUF header and length) and only then renamed to its
//! final name, so a file in the cache is always complete.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::home::ModelHome;
use crate::pull::{PullEvent, io, sha256_file};

/// The public hub, used when `HF_ENDPOINT` is not set.
pub const DEFAULT_HF_ENDPOINT: &str = "https://huggingface.co";

/// A file in a Hugging Face repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HfRef {
    /// Organisation or user.
    pub org: String,
    /// Repository.
    pub repo: String,
    /// Branch, tag or commit; `main` unless given with `@`.
    pub revision: String,
    /// Path of the file inside the repository (may contain `/`).
    pub file: String,
}

/// Where the hub is and how to authenticate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HfParams {
    /// Base URL, such as [`DEFAULT_HF_ENDPOINT`] or a mirror.
    pub endpoint: String,
    /// Sent as `Authorization: Bearer <token>` when set.
    pub token: Option<String>,
}

impl HfRef {
    /// Parse `hf:ORG/REPO/FILE.gguf` or `hf:ORG/REPO@REVISION/FILE.gguf`.
    pub fn parse(spec: &str) -> Result<HfRef> {
        let invalid = |reason| Error::InvalidHfRef {
            spec: spec.to_owned(),
            reason,
        };
        let rest = spec
            .strip_prefix("hf:")
            .ok_or(invalid("it must start with `hf:`"))?;
        let mut pieces = rest.splitn(3, '/');
        let (Some(org), Some(repo_rev), Some(file)) = (pieces.next(), pieces.next(), pieces.next())
        else {
            return Err(invalid("expected `hf:ORG/REPO[@REVISION]/FILE.gguf`"));
        };
        let (repo, revision) = match repo_rev.split_once('@') {
            Some((repo, revision)) => (repo, revision),
            None => (repo_rev, "main"),
        };
        let safe_component = |piece: &str| {
            !piece.is_empty()
                && !piece.starts_with('.')
                && piece
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        if !safe_component(org) || !safe_component(repo) {
            return Err(invalid(
                "organisation and repository are letters, digits, `-`, `_` and `.`",
            ));
        }
        if !safe_component(revision) {
            return Err(invalid(
                "the revision is a branch, tag or commit made of letters, digits, `-`, `_` and `.`",
            ));
        }
        // The file path becomes a path under the cache: no empty, hidden or parent components.
        if !file
            .split('/')
            .all(|piece| !piece.is_empty() && !piece.starts_with('.') && !piece.contains('\\'))
        {
            return Err(invalid(
                "the file path has an empty, hidden or `..` component",
            ));
        }
        if !file.ends_with(".gguf") {
            return Err(invalid("the file must be a `.gguf` file"));
        }
        Ok(HfRef {
            org: org.to_owned(),
            repo: repo.to_owned(),
            revision: revision.to_owned(),
            file: file.to_owned(),
        })
    }

    /// `<endpoint>/ORG/REPO/resolve/REVISION/FILE`, with the file path percent-encoded.
    pub fn url(&self, endpoint: &str) -> String {
        let file: Vec<String> = self.file.split('/').map(percent_encode).collect();
        format!(
            "{}/{}/{}/resolve/{}/{}",
            endpoint.trim_end_matches('/'),
            self.org,
            self.repo,
            self.revision,
            file.join("/")
        )
    }

    /// Where the download is cached: `models/hf/ORG/REPO/REVISION/FILE`.
    pub fn cache_path(&self, home: &ModelHome) -> PathBuf {
        let mut path = home
            .hf_dir()
            .join(&self.org)
            .join(&self.repo)
            .join(&self.revision);
        path.extend(self.file.split('/'));
        path
    }
}

impl std::fmt::Display for HfRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "hf:{}/{}", self.org, self.repo)?;
        if self.revision != "main" {
            write!(f, "@{}", self.revision)?;
        }
        write!(f, "/{}", self.file)
    }
}

/// The cached file for `hf_ref`, downloading it first if it is not cached yet.
pub fn fetch_hf_model(
    home: &ModelHome,
    hf_ref: &HfRef,
    params: &HfParams,
    progress: &mut dyn FnMut(&PullEvent<'_>),
) -> Result<PathBuf> {
    let dest = hf_ref.cache_path(home);
    if dest.is_file() {
        return Ok(dest);
    }
    let dir = dest.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(|source| io("create", dir, source))?;
    let file_name = dest.file_name().unwrap_or_default().to_string_lossy();
    let partial_path = dir.join(format!(".{file_name}.partial"));
    let mut partial = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&partial_path)
        .map_err(|source| io("create", &partial_path, source))?;
    // Two processes appending to one partial file would corrupt it; the lock is released when
    // the file is closed, including when the process dies. A lock can also outlive its download
    // for a moment: a child forked elsewhere in this process holds a copy of the descriptor
    // until it execs. So wait a little before calling it another download.
    if !lock_within(&partial, LOCK_PATIENCE) {
        return Err(Error::DownloadInProgress { path: partial_path });
    }
    let url = hf_ref.url(&params.endpoint);
    let expected_sha = download(&url, params, &mut partial, &partial_path, progress)?;
    progress(&PullEvent::Verifying);
    if let Err(err) = check_download(&partial_path, expected_sha.as_deref(), hf_ref) {
        // A complete body that is wrong will be wrong again if resumed: start afresh next time.
        let _ = fs::remove_file(&partial_path);
        return Err(err);
    }
    partial
        .sync_all()
        .map_err(|source| io("write", &partial_path, source))?;
    fs::rename(&partial_path, &dest)
        .map_err(|source| io("rename to the final name", &partial_path, source))?;
    tracing::info!(path = %dest.display(), "downloaded `{hf_ref}`");
    Ok(dest)
}

/// Stream `url` into `partial`, resuming after the bytes it already holds when the server
/// allows. Returns the sha256 the hub announced, if any.
fn download(
    url: &str,
    params: &HfParams,
    partial: &mut File,
    partial_path: &Path,
    progress: &mut dyn FnMut(&PullEvent<'_>),
) -> Result<Option<String>> {
    let have = partial
        .metadata()
        .map_err(|source| io("inspect", partial_path, source))?
        .len();
    let mut response = get(url, params, have)?;
    let range_ok = response
        .header("content-range")
        .is_some_and(|range| range.starts_with(&format!("bytes {have}-")));
    if response.status() == 206 && !range_ok {
        // A range we did not ask for: fall back to the whole file.
        response = get(url, params, 0)?;
    }
    let resumed = response.status() == 206;
    let start = if resumed { have } else { 0 };
    if resumed {
        progress(&PullEvent::Resuming { from: have });
    }
    partial
        .set_len(start)
        .and_then(|()| partial.seek(std::io::SeekFrom::Start(start)).map(drop))
        .map_err(|source| io("prepare", partial_path, source))?;
    let total = response
        .header("content-length")
        .and_then(|len| len.parse::<u64>().ok())
        .map(|len| start + len);
    let expected_sha = announced_sha256(&response);
    let mut body = response.into_reader();
    let mut done = start;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = match body.read(&mut buf) {
            Ok(n) => n,
            Err(err) => {
                tracing::debug!(%err, "download interrupted");
                break;
            }
        };
        if n == 0 {
            break;
        }
        partial
            .write_all(&buf[..n])
            .map_err(|source| io("write", partial_path, source))?;
        done += n as u64;
        progress(&PullEvent::Bytes { done, total });
    }
    if let Some(expected) = total.filter(|&total| done < total) {
        return Err(Error::DownloadTruncated {
            url: url.to_owned(),
            received: done,
            expected,
        });
    }
    Ok(expected_sha)
}

/// GET with auth and, when bytes are already on disk, a range request for the rest.
fn get(url: &str, params: &HfParams, have: u64) -> Result<ureq::Response> {
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(30))
        .timeout_read(Duration::from_secs(60))
        .redirect_auth_headers(ureq::RedirectAuthHeaders::SameHost)
        .build();
    let mut request = agent.get(url).set("Accept-Encoding", "identity").set(
        "User-Agent",
        concat!("crucible/", env!("CARGO_PKG_VERSION")),
    );
    if let Some(token) = &params.token {
        request = request.set("Authorization", &format!("Bearer {token}"));
    }
    if have > 0 {
        request = request.set("Range", &format!("bytes={have}-"));
    }
    match request.call() {
        Ok(response) => Ok(response),
        // The partial file already holds everything (or more): start again from zero.
        Err(ureq::Error::Status(416, _)) if have > 0 => get(url, params, 0),
        Err(ureq::Error::Status(status, _)) => Err(Error::HttpStatus {
            url: url.to_owned(),
            status,
        }),
        Err(ureq::Error::Transport(transport)) => Err(Error::HttpTransport {
            url: url.to_owned(),
            source: Box::new(transport),
        }),
    }
}

/// The hub sends the sha256 of large (LFS) files as `X-Linked-Etag` (or as the `ETag` of the
/// redirect target): 64 hex digits, possibly quoted.
fn announced_sha256(response: &ureq::Response) -> Option<String> {
    ["x-linked-etag", "etag"].iter().find_map(|name| {
        let value = response.header(name)?;
        let value = value
            .trim_start_matches("W/")
            .trim_matches('"')
            .to_ascii_lowercase();
        let is_sha = value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit());
        is_sha.then_some(value)
    })
}

/// The downloaded file must match the announced checksum and be a complete GGUF file.
fn check_download(path: &Path, expected_sha: Option<&str>, hf_ref: &HfRef) -> Result<()> {
    if let Some(expected) = expected_sha {
        let actual = sha256_file(path)?;
        if actual != expected {
            return Err(Error::ShaMismatch {
                name: hf_ref.to_string(),
                expected: expected.to_owned(),
                actual,
            });
        }
    }
    crucible_gguf::load_gguf(path)?;
    Ok(())
}

/// Percent-encode one path segment (RFC 3986 unreserved characters stay as they are).
fn percent_encode(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// How long a partial file's lock is waited for before another download is assumed.
const LOCK_PATIENCE: std::time::Duration = std::time::Duration::from_secs(3);

/// Take `file`'s exclusive lock, retrying for up to `patience`.
fn lock_within(file: &fs::File, patience: std::time::Duration) -> bool {
    let deadline = std::time::Instant::now() + patience;
    loop {
        if file.try_lock().is_ok() {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_references_with_and_without_revision() {
        let plain = HfRef::parse(
            "hf:Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        )
        .unwrap();
        assert_eq!(plain.org, "Qwen");
        assert_eq!(plain.repo, "Qwen2.5-Coder-0.5B-Instruct-GGUF");
        assert_eq!(plain.revision, "main");
        assert_eq!(plain.file, "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf");
        let pinned = HfRef::parse("hf:org/repo@v1.0/sub dir/model.gguf").unwrap();
        assert_eq!(pinned.revision, "v1.0");
        assert_eq!(pinned.file, "sub dir/model.gguf");
        assert_eq!(pinned.to_string(), "hf:org/repo@v1.0/sub dir/model.gguf");
        assert_eq!(
            pinned.url("http://127.0.0.1:8080/"),
            "http://127.0.0.1:8080/org/repo/resolve/v1.0/sub%20dir/model.gguf"
        );
        let home = ModelHome::new(Path::new("/h"));
        assert_eq!(
            pinned.cache_path(&home),
            Path::new("/h/models/hf/org/repo/v1.0/sub dir/model.gguf")
        );
    }

    #[test]
    fn rejects_malformed_references() {
        let cases = [
            (
                "hf:org/model.gguf",
                "expected `hf:ORG/REPO[@REVISION]/FILE.gguf`",
            ),
            ("hf:org/repo/model.bin", "the file must be a `.gguf` file"),
            (
                "hf:org/repo/../../etc/x.gguf",
                "the file path has an empty, hidden or `..` component",
            ),
            (
                "hf:org/repo//x.gguf",
                "the file path has an empty, hidden or `..` component",
            ),
            (
                "hf:../repo/x.gguf",
                "organisation and repository are letters, digits, `-`, `_` and `.`",
            ),
            (
                "hf:org/repo@/x.gguf",
                "the revision is a branch, tag or commit made of letters, digits, `-`, `_` and `.`",
            ),
        ];
        for (spec, reason) in cases {
            let err = HfRef::parse(spec).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("invalid Hugging Face reference `{spec}`: {reason}")
            );
        }
    }
}
