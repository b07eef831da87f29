//! `crucible generate`: generate code.

use std::process::ExitCode;

use clap::Args;

use super::GlobalArgs;

/// Arguments of `crucible generate`.
#[derive(Debug, Args)]
pub(crate) struct GenerateArgs {
    /// The source file to run.
    file: std::path::PathBuf,
}

pub(crate) fn run(args: GenerateArgs, _global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!(
        "`crucible generate` is not built yet (file `{}`)",
        args.file.display()
    )
}
