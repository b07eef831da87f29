//! `crucible data synth` and `crucible data export`: the flags and output of execution-verified
//! instruction synthesis and of exporting training files (the work is `crucible_core::synth`'s
//! and `crucible_core::export`'s).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};

use crucible_core::exec::default_limits;
use crucible_core::export::{ExportParams, export};
use crucible_core::infer::Observer;
use crucible_core::synth::{Outcome, Style, SynthParams, TaskShape};
use crucible_core::{backend, strategy_tools};

use super::common::{DecodingArgs, ModelArgs};
use super::data::DirArgs;
use crate::{interrupt, output};

/// Synthesise instruction data (OSS-Instruct style) from a curated corpus: the model writes
/// a problem, a solution and tests; only solutions that pass their tests in the sandbox are
/// kept; resumable
///
/// Examples:
///   crucible data synth curated/data/part-000000.jsonl --out synth-run --count 30
///   crucible data synth curated/data/*.jsonl --out run --count 1000 --endpoint http://localhost:8000/v1
///   crucible data synth curated/data/part-000000.jsonl --out run --samples 4 --repair 2
///   crucible data synth synth-run/synth.jsonl --style evol --out evol-run --count 20
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub(crate) struct SynthArgs {
    /// Curated JSON Lines (`crucible data curate` output, data/*.jsonl) to draw seed snippets
    /// from; with `--style evol`, the synth.jsonl of earlier runs.
    #[arg(required = true, value_name = "CORPUS")]
    corpus: Vec<PathBuf>,
    /// Run directory: config.json, records.jsonl (kept), rejected.jsonl, synth.jsonl (kept after
    /// dedup and decontamination), summary.json. Re-running the same command continues it.
    #[arg(long, short = 'o', value_name = "DIR")]
    out: PathBuf,
    /// Seeds to draw (a resumed run may ask for more).
    #[arg(long, default_value_t = 20)]
    count: usize,
    /// `oss` (a problem inspired by a snippet of real code) or `evol` (a harder rewrite of an
    /// earlier run's record).
    #[arg(long, value_enum, default_value_t = StyleArg::Oss)]
    style: StyleArg,
    /// Licence recorded for seed documents that carry no `license` field.
    #[arg(long, default_value = "unknown", value_name = "SPDX")]
    licence: String,
    /// Mutants tried per kept record (their kill rate measures the tests).
    #[arg(long, default_value_t = 8, value_name = "N")]
    mutants: usize,
    /// Answers asked for per seed, sampled together (default temperature 0.8): the kept one's
    /// solution passes its own tests and its tests are passed by the most answers' solutions
    /// (dual execution agreement, as the rerank strategy chooses).
    #[arg(long, default_value_t = 1, value_name = "N")]
    samples: usize,
    /// Repair rounds for a seed whose solution fails its own tests: the repair strategy shows
    /// the model the sandbox's failure report and takes its corrected program (0: none).
    #[arg(long, default_value_t = 0, value_name = "N")]
    repair: usize,
    /// Program tasks: the model writes a problem, a Python program reading stdin and writing
    /// stdout, and input/output examples, judged as program benchmarks are (the output is
    /// compared outside the sandbox). Without it, function tasks with assert tests.
    #[arg(long)]
    program: bool,
    /// Seconds each sandbox run may take.
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    time_limit: u64,
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    decoding: DecodingArgs,
    #[command(flatten)]
    dirs: DirArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum StyleArg {
    Oss,
    Evol,
}

struct Interrupt;

impl Observer for Interrupt {
    fn cancelled(&self) -> bool {
        interrupt::requested()
    }
}

pub(crate) fn run_synth(args: SynthArgs) -> anyhow::Result<ExitCode> {
    if args.count == 0 {
        bail!("`--count 0`: nothing to synthesise; give at least 1");
    }
    let settings = args.model.settings(args.dirs.data_dir.clone())?;
    let cwd = std::env::current_dir().context("cannot read the working directory")?;
    let dirs = crucible_core::data::data_dirs(&settings, &cwd);
    let references = crucible_core::curate::benchmark_references(&dirs).context(
        "synth decontaminates its output against every benchmark and needs their files (see `crucible data list`, or set --data-dir / CRUCIBLE_DATA)",
    )?;
    if args.samples == 0 {
        bail!("`--samples 0`: no answer to keep; give at least 1");
    }
    let gen_params = args.decoding.params(args.samples)?;
    interrupt::install();
    let mut generator = backend::open_generator(&settings, &mut output::pull_progress())?;
    let executor = strategy_tools::executor(&settings)?;
    let limits = crucible_core::exec::Limits::new(
        std::time::Duration::from_secs(args.time_limit.clamp(1, 600)),
        default_limits().memory_bytes,
    );
    let params = SynthParams {
        corpus: args.corpus,
        out: args.out,
        count: args.count,
        seed: args.decoding.seed,
        style: match args.style {
            StyleArg::Oss => Style::Oss,
            StyleArg::Evol => Style::Evol,
        },
        default_licence: args.licence,
        gen_params,
        max_mutants: args.mutants,
        limits,
        references,
        model: generator.info().name.clone(),
        samples: args.samples,
        repair_rounds: args.repair,
        shape: if args.program {
            TaskShape::Program
        } else {
            TaskShape::Function
        },
    };
    let mut on_outcome = |outcome: &Outcome| match outcome {
        Outcome::Kept(r) => output::status(&format!(
            "seed {:>4}: kept `{}` ({}; {} mutants, {} killed)",
            r.seed_index,
            r.task["entry_point"].as_str().unwrap_or("program"),
            r.obtained.as_ref().map_or("first_try", |o| o.how.as_str()),
            r.mutation.mutants,
            r.mutation.killed
        )),
        Outcome::Rejected(r) => output::status(&format!(
            "seed {:>4}: rejected ({})",
            r.seed_index,
            r.rejection.name()
        )),
    };
    let res = crucible_core::synth::run(
        &params,
        generator.as_mut(),
        &executor,
        &mut Interrupt,
        &mut on_outcome,
    );
    match res {
        Err(err) if err.is_cancelled() => {
            output::status(
                "stopped; finished seeds are kept: run the same command again to continue",
            );
            Ok(ExitCode::from(interrupt::EXIT_INTERRUPTED))
        }
        Err(err) => Err(err.into()),
        Ok(summary) => {
            output::data(
                &serde_json::to_string_pretty(&summary).context("cannot render the summary")?,
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Export SFT files (TRL, LLaMA-Factory, axolotl) and execution-verified preference pairs
/// (DPO, KTO) from synth and eval runs, with a dataset card
///
/// Examples:
///   crucible data export --synth synth-run --out export/
///   crucible data export --synth synth-run --eval runs/my-tasks --out export/
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub(crate) struct ExportArgs {
    /// A synth run directory (`crucible data synth --out`); repeatable.
    #[arg(long, value_name = "DIR")]
    synth: Vec<PathBuf>,
    /// An eval run directory (`crucible eval --out`); repeatable. Runs on benchmarks are left
    /// out unless --include-benchmarks.
    #[arg(long, value_name = "DIR")]
    eval: Vec<PathBuf>,
    /// Output directory: sft/, llamafactory/, axolotl/, preference/ and README.md (the
    /// dataset card).
    #[arg(long, short = 'o', value_name = "DIR")]
    out: PathBuf,
    /// Export benchmark tasks too, for uses other than training (a warning is printed and
    /// written to the card). MultiPL-E-derived data is never exported.
    #[arg(long)]
    include_benchmarks: bool,
    #[command(flatten)]
    dirs: DirArgs,
}

pub(crate) fn run_export(args: ExportArgs) -> anyhow::Result<ExitCode> {
    let settings = args.dirs.settings()?;
    let params = ExportParams {
        synth: args.synth,
        evals: args.eval,
        out: args.out,
        include_benchmarks: args.include_benchmarks,
    };
    let report = export(&params, &settings)?;
    for warning in &report.warnings {
        output::status(&format!("warning: {warning}"));
    }
    output::data(&serde_json::to_string_pretty(&report).context("cannot render the report")?);
    Ok(ExitCode::SUCCESS)
}
