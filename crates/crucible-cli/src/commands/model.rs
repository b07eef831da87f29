//! `crucible model`: pull, list, inspect and remove models.

use std::process::ExitCode;

use clap::Subcommand;

use super::GlobalArgs;

/// Subcommands of `crucible model`.
#[derive(Debug, Subcommand)]
pub(crate) enum ModelCommand {
    /// List known and installed models.
    List,
}

pub(crate) fn run(cmd: ModelCommand, _global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    match cmd {
        ModelCommand::List => anyhow::bail!("`crucible model list` is not built yet"),
    }
}
