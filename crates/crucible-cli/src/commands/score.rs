//! `crucible score`: the flags of `crucible_core::score`, which judges samples made by other
//! tools in the sandbox and writes the same outputs as `crucible eval`, and its progress lines.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use clap::Args;

use crucible_core::eval::Benchmark;
use crucible_core::evaluate::RunEvent;
use crucible_core::score::{ScoreParams, default_out, run_score};

use super::GlobalArgs;
use super::common::{JudgeArgs, KArgs, MetricArgs, ModelArgs};
use super::data::{self, DirArgs};
use crate::output;

/// Score samples made by other tools (human-eval, EvalPlus, bigcode, LiveCodeBench) in the sandbox
///
/// Samples are JSON Lines with `task_id` and either `completion` (OpenAI human-eval: text that
/// continues the prompt) or `solution` (EvalPlus: the whole program); optional `sample_idx`
/// and `language`; gzipped or not. Also read, and named when detected: an EvalPlus samples
/// directory (`<task_id with / replaced by _>/<n>.py`), a bigcode-evaluation-harness
/// `generations.json` (a list per task, in the benchmark's task order), LiveCodeBench output
/// (`question_id`, `code_list`) and a JSON array of sample records.
///
/// Per-task time limits follow EvalPlus: max(--time-limit, --time-factor x the reference
/// solution's CPU time on this machine), measured once and cached. Tasks of the
/// benchmark that the file has no sample for count as failed unless --allow-missing.
///
/// Each verdict is appended as it is judged: re-running the same command continues an
/// interrupted run. A run directory made from another samples file or with other judging
/// options is refused unless --force.
///
/// With --metric, each sample is also compared with its reference: the samples file's
/// `reference` (a string or a list of strings), else the task's reference solution. Model
/// flags (--model, --endpoint, ...) choose the model of `--metric ppl` and, unless
/// --judge-model is given, of `--metric judge`. Re-running with other metrics adds them.
///
/// Examples:
///   crucible score --benchmark humaneval samples.jsonl --out runs/he
///   crucible score --benchmark humaneval-x --lang cpp samples.jsonl --k 1,10
///   crucible score --benchmark humaneval samples.jsonl --metric bleu,codebleu,em,es,ppl
///   crucible score --benchmark humaneval-plus evalplus_samples/
///   crucible score --benchmark humaneval generations.json
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub(crate) struct ScoreArgs {
    /// Benchmark name (see `crucible data list`) or a task file.
    #[arg(long, short = 'b', value_name = "NAME")]
    benchmark: String,
    /// The samples file (or an EvalPlus samples directory).
    samples: PathBuf,
    /// Language of the benchmark (HumanEval-X, APPS, CodeNet).
    #[arg(long, short = 'l', value_name = "LANG")]
    lang: Option<String>,
    /// Run directory for samples.jsonl, results.jsonl, summary.json and report.html.
    /// Default: `<SAMPLES>.score` next to the samples file.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    #[command(flatten)]
    ks: KArgs,
    /// Reuse a run directory made with a different configuration.
    #[arg(long)]
    force: bool,
    /// Print the summary as one JSON object (the shape of summary.json) instead of a table.
    #[arg(long)]
    json: bool,
    /// Leave the benchmark's tasks that the file has no sample for out of the scores (the
    /// summary says how many) instead of counting them as failed.
    #[arg(long)]
    allow_missing: bool,
    #[command(flatten)]
    judge: JudgeArgs,
    #[command(flatten)]
    metrics: MetricArgs,
    #[command(flatten)]
    dirs: DirArgs,
    #[command(flatten)]
    model: ModelArgs,
}

impl ScoreArgs {
    /// Whether the run loads a model (`--metric ppl` or `judge`).
    pub(crate) fn runs_model(&self) -> bool {
        self.metrics.need_model()
    }
}

pub(crate) fn run(args: ScoreArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let settings = args.model.settings(args.dirs.data_dir.clone())?;
    let uses_model = args.model.model.is_some() || args.model.endpoint.is_some();
    if uses_model && !args.metrics.need_model() {
        anyhow::bail!(
            "--model and --endpoint choose the model of `--metric ppl` or `--metric judge`; `crucible score` runs no model otherwise"
        );
    }
    let metrics = args.metrics.request(&settings)?;
    let bench = data::load(&settings, &args.benchmark, args.lang.as_deref())?;
    warn_rejects(&bench, global);
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| default_out(&args.samples));
    let params = ScoreParams {
        samples: args.samples.clone(),
        out: out.clone(),
        ks: args.ks.k.clone(),
        // Nothing decodes meanwhile: programs run at normal priority.
        judge: args.judge.params(false)?,
        force: args.force,
        allow_missing: args.allow_missing,
        metrics,
    };
    let outcome = run_score(bench, &settings.home, &params, progress(out, global.quiet))?;
    if args.json {
        // The same object as summary.json (durations in seconds).
        output::data(&serde_json::to_string(&outcome.summary)?);
    } else {
        output::data(outcome.table.trim_end());
    }
    Ok(ExitCode::SUCCESS)
}

/// Status lines: what is to do, then every 50 verdicts and the last.
fn progress(out: PathBuf, quiet: bool) -> crucible_core::evaluate::EventSink {
    let total = AtomicUsize::new(0);
    let judged = AtomicUsize::new(0);
    Arc::new(move |event| {
        if quiet {
            return;
        }
        match event {
            RunEvent::Started {
                tasks,
                to_judge,
                judged: earlier,
                ..
            } => {
                total.store(to_judge, Ordering::Relaxed);
                output::status(&format!(
                    "scoring {to_judge} samples of {tasks} tasks ({earlier} already done) in {}",
                    out.display()
                ));
            }
            RunEvent::Judged { .. } => {
                let done = judged.fetch_add(1, Ordering::Relaxed) + 1;
                let total = total.load(Ordering::Relaxed);
                if done.is_multiple_of(50) || done == total {
                    output::status(&format!("{done}/{total} samples judged"));
                }
            }
            RunEvent::Note(note) => output::status(&note),
            RunEvent::Generated { .. } => {}
        }
    })
}

fn warn_rejects(bench: &Benchmark, global: &GlobalArgs) {
    if bench.rejects.is_empty() || global.quiet {
        return;
    }
    let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
    for reject in &bench.rejects {
        *reasons.entry(reject.reason.as_str()).or_insert(0) += 1;
    }
    for (reason, count) in reasons {
        output::status(&format!(
            "note: {count} record(s) of `{}` not used: {reason}",
            bench.name
        ));
    }
}
