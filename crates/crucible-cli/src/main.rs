//! The `crucible` binary: argument parsing, logging setup, dispatch and exit codes.

mod commands;
mod interrupt;
mod openmp;
mod output;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

/// Generate code with a language model and prove it by running it.
///
/// Crucible runs a local GGUF model through llama.cpp (or a model behind an OpenAI-compatible
/// server), executes what it writes in a sandbox, and uses the verdicts to select, repair and
/// score programs.
#[derive(Debug, Parser)]
#[command(
    name = "crucible",
    version,
    propagate_version = true,
    max_term_width = 100
)]
struct Cli {
    #[command(subcommand)]
    command: Command,

    #[command(flatten)]
    global: commands::GlobalArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    Generate(commands::generate::GenerateArgs),
    /// Download, list, inspect and remove models.
    #[command(subcommand)]
    Model(commands::model::ModelCommand),
    Eval(commands::eval::EvalArgs),
    Exec(commands::exec::ExecArgs),
    /// Measure throughput (inference speed, batching, memory).
    #[command(subcommand)]
    Bench(commands::bench::BenchCommand),
    /// List, show and pull benchmark data.
    #[command(subcommand)]
    Data(commands::data::DataCommand),
    Score(commands::score::ScoreArgs),
    /// Compare runs side by side: pass@k, tasks gained and lost, a paired significance test, cost
    /// per solved task; with metrics, whether each ranks the runs as their pass rates do
    Compare(commands::compare::CompareArgs),
    Serve(commands::serve::ServeArgs),
    Index(commands::index::IndexArgs),
    Search(commands::index::SearchArgs),
    /// A language server on stdin/stdout: completions with repository context, and a code
    /// action that implements a function from its docstring and verifies it.
    Lsp(commands::lsp::LspArgs),
    /// Repository-level next-line prediction: predict each line of a `crucible data repobench`
    /// task file with in-file, BM25 or iterative repository context and score it (exact match,
    /// edit similarity, identifier F1); resumable.
    Repobench(commands::repobench::EvalArgs),
}

impl Command {
    /// Whether the command loads a model in this process.
    fn runs_inference(&self) -> bool {
        matches!(
            self,
            Command::Generate(_)
                | Command::Eval(_)
                | Command::Bench(_)
                | Command::Serve(_)
                | Command::Lsp(_)
                | Command::Repobench(_)
        ) || matches!(self, Command::Score(args) if args.runs_model())
    }
}

/// Exit code for a verdict that is not `passed` (1 is an error, 2 a usage error).
pub(crate) const EXIT_NOT_PASSED: u8 = 3;

/// Exit codes, for every command's `--help` (the README's table says the same).
const EXIT_CODES: &str = "Exit codes:
  0    success
  1    error (the message names the problem and the fix)
  2    usage: unknown or invalid arguments
  3    a failing verdict (`crucible exec`; `crucible generate` with a strategy or --verify
       when the program it returns fails the tests it was run on; the code is still printed)
  130  interrupted (Ctrl-C); what was done is kept and the same command resumes";

/// The command line with the exit codes under every command's help.
fn command() -> clap::Command {
    fn with_exit_codes(command: clap::Command) -> clap::Command {
        command
            .after_help(EXIT_CODES)
            .mut_subcommands(with_exit_codes)
    }
    with_exit_codes(Cli::command())
}

fn main() -> ExitCode {
    let cli = match Cli::from_arg_matches(&command().get_matches()) {
        Ok(cli) => cli,
        Err(err) => err.exit(),
    };
    if cli.command.runs_inference() {
        openmp::ensure_short_spin();
    }
    output::init_logging(&cli.global);
    let res = match cli.command {
        Command::Generate(args) => commands::generate::run(args, &cli.global),
        Command::Model(cmd) => commands::model::run(cmd, &cli.global),
        Command::Eval(args) => commands::eval::run(args, &cli.global),
        Command::Exec(args) => commands::exec::run(args, &cli.global),
        Command::Bench(cmd) => commands::bench::run(cmd, &cli.global),
        Command::Data(cmd) => commands::data::run(cmd, &cli.global),
        Command::Score(args) => commands::score::run(args, &cli.global),
        Command::Compare(args) => commands::compare::run(args, &cli.global),
        Command::Serve(args) => commands::serve::run(args, &cli.global),
        Command::Index(args) => commands::index::run_index(args, &cli.global),
        Command::Search(args) => commands::index::run_search(args, &cli.global),
        Command::Lsp(args) => commands::lsp::run(args, &cli.global),
        Command::Repobench(args) => commands::repobench::run_eval(&args, &cli.global),
    };
    match res {
        Ok(code) => code,
        Err(err) => output::report_error(&err),
    }
}
