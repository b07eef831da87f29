//! Integration tests of `crucible-eval` against the shipped benchmark files.

mod canonical;
mod catalogue;
mod fetch;
mod loaders;
mod placement;
mod retry;

use std::path::PathBuf;

use crucible_eval::DataDirs;

/// The benchmark data for tests: `CRUCIBLE_DATA`, else `../shared/data` beside the repository.
pub(crate) fn data_dirs() -> DataDirs {
    let env = std::env::var_os("CRUCIBLE_DATA").map(PathBuf::from);
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    DataDirs::resolve(None, env.as_deref(), &manifest, None)
}
