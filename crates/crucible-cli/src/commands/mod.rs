//! One module per subcommand. Each owns its clap `Args` and a `run` function.

pub(crate) mod bench;
pub(crate) mod common;
pub(crate) mod compare;
pub(crate) mod curate;
pub(crate) mod data;
pub(crate) mod eval;
pub(crate) mod exec;
pub(crate) mod generate;
pub(crate) mod index;
pub(crate) mod lsp;
pub(crate) mod model;
pub(crate) mod repobench;
pub(crate) mod score;
pub(crate) mod serve;
pub(crate) mod strategy_args;
pub(crate) mod synth;

use clap::{ArgAction, Args};

/// Flags every subcommand accepts.
#[derive(Debug, Args)]
pub(crate) struct GlobalArgs {
    /// More log output on stderr (-v: debug, -vv: trace).
    #[arg(short, long, global = true, action = ArgAction::Count)]
    pub(crate) verbose: u8,
    /// Only errors on stderr.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub(crate) quiet: bool,
}
