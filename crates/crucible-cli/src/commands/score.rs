//! `crucible score`: judge samples made by other tools (OpenAI human-eval or EvalPlus format) in
//! the sandbox and write the same outputs as `crucible eval`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use crucible_core::eval::run::{RunDir, SampleRecord, SummaryParams, n_at_k_pairs, summarize};
use crucible_core::eval::score::parse_samples;
use crucible_core::eval::{Benchmark, report};
use crucible_core::judging::Judging;

use super::GlobalArgs;
use super::common::{JudgeArgs, KArgs};
use super::data::{self, DirArgs};
use crate::output;

/// Arguments of `crucible score`.
///
/// Samples are JSON Lines with `task_id` and either `completion` (OpenAI human-eval: text that
/// continues the prompt) or `solution` (EvalPlus: the whole program); optional `sample_idx`
/// and `language`. Per-task time limits follow EvalPlus: max(--time-limit, --time-factor x the
/// reference solution's CPU time on this machine), measured once and cached.
///
/// Examples:
///   crucible score --benchmark humaneval samples.jsonl --out runs/he
///   crucible score --benchmark humaneval-x --lang cpp samples.jsonl --k 1,10
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub(crate) struct ScoreArgs {
    /// Benchmark name (see `crucible data list`) or a task file.
    #[arg(long, short = 'b', value_name = "NAME")]
    benchmark: String,
    /// The samples file.
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
    #[command(flatten)]
    judge: JudgeArgs,
    #[command(flatten)]
    dirs: DirArgs,
}

pub(crate) fn run(args: ScoreArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let (name, mut bench) = data::load(&args.benchmark, args.lang.as_deref(), &args.dirs)?;
    warn_rejects(&bench, global);
    let text = std::fs::read_to_string(&args.samples)
        .with_context(|| format!("cannot read the samples file `{}`", args.samples.display()))?;
    let samples = parse_samples(&args.samples, &text, &bench)?;
    // Nothing decodes meanwhile: programs run at normal priority.
    let params = args.judge.params(false)?;
    let policy = params.policy;
    let config = serde_json::json!({
        "command": "score",
        "benchmark": name.to_string(),
        "language": bench.language.name(),
        "samples_file": crucible_core::eval::run::fingerprint(&serde_json::Value::String(text.clone())),
        "time_limit_policy": policy,
        "memory_limit_mb": params.memory_bytes >> 20,
        "visible": params.visible,
    });
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| default_out(&args.samples));
    let (mut run_dir, state) = RunDir::open(&out, &config, args.force)?;
    if state.torn_lines > 0 && !global.quiet {
        output::status(&format!(
            "resuming: dropped {} torn line(s) from an interrupted run",
            state.torn_lines
        ));
    }
    // Keep only the tasks the samples cover, in benchmark order.
    let covered: std::collections::BTreeSet<&str> =
        samples.iter().map(|s| s.task_id.as_str()).collect();
    bench.tasks.retain(|t| covered.contains(t.task.id.as_str()));

    let home =
        crucible_core::model::env::crucible_home_from_env().context("cannot find CRUCIBLE_HOME")?;
    let quiet = global.quiet;
    let judging = Judging::new(&home, &bench, params, &mut |msg| {
        if !quiet {
            output::status(msg);
        }
    })?;

    let stored: std::collections::BTreeSet<(String, usize)> = state
        .samples
        .iter()
        .map(|s| (s.task_id.clone(), s.sample_idx))
        .collect();
    for sample in &samples {
        if !stored.contains(&(sample.task_id.clone(), sample.sample_idx)) {
            run_dir.append_sample(sample)?;
        }
    }
    let done = state.done();
    let todo: Vec<&SampleRecord> = samples
        .iter()
        .filter(|s| !done.contains(&(s.task_id.clone(), s.sample_idx)))
        .collect();
    if !global.quiet {
        output::status(&format!(
            "scoring {} samples of {} tasks ({} already done) in {}",
            todo.len(),
            bench.tasks.len(),
            samples.len() - todo.len(),
            out.display()
        ));
    }
    judge_all(&judging, &bench, &todo, &mut run_dir, global)?;

    let (results, _) =
        crucible_core::eval::run::read_records(&out.join(crucible_core::eval::run::RESULTS_FILE))?;
    let results: Vec<_> = results
        .into_iter()
        .filter(|r: &crucible_core::eval::run::ResultRecord| covered.contains(r.task_id.as_str()))
        .collect();
    let params = SummaryParams {
        benchmark: name.to_string(),
        language: bench.language.name().to_owned(),
        task_ids: bench.tasks.iter().map(|t| t.task.id.clone()).collect(),
        ks: args.ks.k.clone(),
        n_at_k: n_at_k_pairs(&args.ks.k),
        hidden_tests: name.info().is_none_or(|info| info.hidden_tests),
        model_sha256: None,
        wall_time_s: Some(run_dir.wall_time_s(&results)?),
        config,
        time_limits: serde_json::json!({"policy": policy, "per_task_ms": judging.time_limits_ms()}),
    };
    let summary = summarize(&results, &params);
    run_dir.write_summary(&summary)?;
    run_dir.write_report(&report::render_html(&summary, &results, &samples))?;
    output::data(report::render_table(&summary).trim_end());
    Ok(ExitCode::SUCCESS)
}

/// Judge `todo`: every base (and visible) run is queued at once; a sample's plus run is queued
/// when its base run passes; results are appended in order.
fn judge_all(
    judging: &Judging,
    bench: &Benchmark,
    todo: &[&SampleRecord],
    run_dir: &mut RunDir,
    global: &GlobalArgs,
) -> anyhow::Result<()> {
    let mut pending = Vec::with_capacity(todo.len());
    for sample in todo {
        let task = bench
            .task(&sample.task_id)
            .expect("samples were checked against the benchmark");
        pending.push(judging.submit(task, (*sample).clone())?);
    }
    let total = pending.len();
    let mut based = Vec::with_capacity(total);
    for pending in pending {
        based.push(pending.wait_base()?);
    }
    for (judged, base) in based.into_iter().enumerate() {
        run_dir.append_result(&base.wait()?)?;
        progress(judged + 1, total, global);
    }
    Ok(())
}

fn progress(done: usize, total: usize, global: &GlobalArgs) {
    if !global.quiet && (done.is_multiple_of(50) || done == total) {
        output::status(&format!("{done}/{total} samples judged"));
    }
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

fn default_out(samples: &Path) -> PathBuf {
    let mut name = samples
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".score");
    samples.with_file_name(name)
}
