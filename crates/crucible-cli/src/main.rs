//! The `crucible` binary: argument parsing, logging setup, dispatch and exit codes.

mod commands;
mod interrupt;
mod openmp;
mod output;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

/// Generate code with a language model and prove it by running it
///
/// Crucible runs a local GGUF model through llama.cpp (or a model behind an OpenAI-compatible
/// server), executes what it writes in a sandbox, and uses the verdicts to select, repair and
/// score programs.
///
/// Examples:
///   crucible generate --lang cpp "read two integers and print their sum"
///   crucible data pull all
///   crucible eval --benchmark humaneval
///   crucible score --benchmark humaneval-plus evalplus_samples/
///   crucible compare runs/a runs/b --html compare.html
///
/// Every subcommand's --help has its own examples; the README walks through them all.
#[derive(Debug, Parser)]
#[command(
    verbatim_doc_comment,
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
    /// Download, list, inspect and remove models
    ///
    /// Examples:
    ///   crucible model list --available
    ///   crucible model pull qwen2.5-coder-1.5b-instruct
    ///   crucible model info --json
    #[command(subcommand, verbatim_doc_comment)]
    Model(commands::model::ModelCommand),
    Eval(commands::eval::EvalArgs),
    Exec(commands::exec::ExecArgs),
    /// Measure throughput (inference speed, batching, memory)
    ///
    /// Examples:
    ///   crucible bench inference
    ///   crucible bench inference --json > bench.json
    #[command(subcommand, verbatim_doc_comment)]
    Bench(commands::bench::BenchCommand),
    /// List, show and pull benchmark data; curate, synthesise and export training data
    ///
    /// Examples:
    ///   crucible data pull all
    ///   crucible data list
    ///   crucible data show humaneval HumanEval/0
    ///   crucible data curate ~/src --output curated/
    #[command(subcommand, verbatim_doc_comment)]
    Data(commands::data::DataCommand),
    Score(commands::score::ScoreArgs),
    Compare(commands::compare::CompareArgs),
    Serve(commands::serve::ServeArgs),
    Index(commands::index::IndexArgs),
    Search(commands::index::SearchArgs),
    Lsp(commands::lsp::LspArgs),
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
