//! `crucible exec`: run a program in the sandbox.

use std::process::ExitCode;

use clap::Args;

use super::GlobalArgs;

/// Arguments of `crucible exec`.
#[derive(Debug, Args)]
pub(crate) struct ExecArgs {
    /// The source file to run.
    file: std::path::PathBuf,
}

pub(crate) fn run(args: ExecArgs, _global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!(
        "`crucible exec` is not built yet (file `{}`)",
        args.file.display()
    )
}
