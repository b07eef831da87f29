//! `crucible eval`: generate samples for a benchmark's tasks, judge them in the sandbox while
//! generation goes on, and score them. Resumable: samples and results are appended and flushed
//! one by one, and a re-run with the same output directory continues where it stopped.
//!
//! [`run_eval`] opens the run directory and the judging pool and hands them, with the event
//! sink, to a [`Recorder`]; the samples come from plain decoding ([`plain`]) or from strategy
//! runs ([`strategy`]). With metrics asked for ([`EvalParams::metrics`]), every task must have a
//! reference solution (checked first), and the metrics are computed once all is judged
//! ([`crate::metrics`]).

mod infill;
mod model;
mod plain;
mod strategy;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::json;

use crucible_eval::judge::{JudgeParams, Judging};
use crucible_eval::run::{ResumeState, RunDir, Summary, SummaryParams};
use crucible_eval::{Benchmark, report};
use crucible_infer::{Generator, Observer, SolveParams};
use crucible_strategy::{Budget, Strategy};

pub use crate::recorder::{EventSink, RunEvent};
pub use model::ModelFacts;

use crate::metrics::{self, GivenReferences, MetricRequest};
use crate::recorder::{Recorder, RecorderSetup, resume_counts, summary_params, write_summary};
use crate::{Error, Result};

/// Everything that defines a run (besides the model, which the caller loads).
#[derive(Debug, Clone)]
pub struct EvalParams {
    /// Where samples, results, the summary and the report go.
    pub out: PathBuf,
    /// Samples per task.
    pub n: usize,
    /// The k of pass@k.
    pub ks: Vec<u64>,
    /// Prompt mode and decoding (its `n` is the batch size of one request).
    pub solve: SolveParams,
    /// Most sequences decoded together in one request.
    pub max_batch: usize,
    pub judge: JudgeParams,
    /// Run a strategy per sample instead of plain decoding (`solve` is then unused).
    pub strategy: Option<StrategyRun>,
    /// Reuse an output directory made with another configuration.
    pub force: bool,
    /// Similarity metrics, perplexity and the judge (`--metric`), computed after judging.
    /// Not part of the run's configuration: they can be added to a finished run.
    pub metrics: Option<MetricRequest>,
}

/// A strategy evaluated like a model: each sample is the final program of one run of the
/// strategy on the task's visible part, seeded with the strategy's seed plus the sample index.
#[derive(Debug, Clone)]
pub struct StrategyRun {
    pub strategy: Strategy,
    /// The budget of each run (each sample).
    pub budget: Budget,
    /// Tasks whose strategies run at once, each on a thread of its own, their model calls
    /// decoded together (up to `max_batch` sequences). 1 runs the tasks one after another.
    pub tasks_in_flight: usize,
}

/// Where each strategy run's trace is appended (one JSON object per sample).
pub use crucible_eval::run::TRACES_FILE;

/// The end of a run.
#[derive(Debug, Clone, Serialize)]
pub struct EvalOutcome {
    pub summary: Summary,
    /// The summary as a terminal table.
    pub table: String,
    pub out: PathBuf,
    /// True when the run was stopped early (Ctrl-C); the summary covers what was done.
    pub interrupted: bool,
    /// Samples not generated because their requests failed (a server still busy after the
    /// backend's retries, say): not verdicts, just missing; re-running the command retries
    /// them.
    pub missing_samples: usize,
}

/// Run an evaluation of `generator` on `bench`, with `home` as `CRUCIBLE_HOME` (the executor's
/// compile cache and the reference timings).
pub fn run_eval(
    generator: &mut dyn Generator,
    model: &ModelFacts,
    bench: &Benchmark,
    home: &Path,
    params: &EvalParams,
    events: EventSink,
    observer: &mut dyn Observer,
) -> Result<EvalOutcome> {
    if let Some(request) = &params.metrics {
        metrics::check_benchmark(bench, &request.params)?;
        request.check_models()?;
    }
    infill::check_fim(generator, bench, params.strategy.is_some())?;
    let config = run_config(model, bench, params);
    let (run_dir, state) = RunDir::open(&params.out, &config, params.force)?;
    if state.torn_lines > 0 {
        events(RunEvent::Note(format!(
            "resuming: dropped {} torn line(s) left by an interrupted run",
            state.torn_lines
        )));
    }
    let judging = Judging::new(home, bench, params.judge.clone(), &mut |msg| {
        events(RunEvent::Note(msg.to_owned()))
    })?;
    let summary_params = SummaryParams {
        model_sha256: model.sha256(),
        ..summary_params(bench, &params.ks, config, &judging)
    };
    let expected: BTreeMap<String, usize> = bench
        .tasks
        .iter()
        .map(|t| (t.task.id.clone(), params.n))
        .collect();
    let (done_tasks, judged, passed) = resume_counts(bench, &state, &expected);
    let have: BTreeSet<(String, usize)> = state
        .samples
        .iter()
        .map(|s| (s.task_id.clone(), s.sample_idx))
        .collect();
    let to_generate = bench
        .tasks
        .iter()
        .map(|t| missing_indices(&have, &t.task.id, params.n).len())
        .sum();
    let to_judge = unjudged_of(bench, &state);
    let setup = RecorderSetup {
        run_dir,
        events: events.clone(),
        expected,
        summary: summary_params.clone(),
    };
    let recorder = Recorder::start(setup, &state, &judging);
    recorder.event(RunEvent::Started {
        tasks: bench.tasks.len(),
        done_tasks,
        to_generate,
        to_judge,
        judged,
        passed,
    });
    // Samples generated earlier but never judged (killed mid-run) go first.
    let mut missing_samples = 0;
    let generated = recorder.judge_unjudged(bench, &state).and_then(|()| {
        generate(
            generator,
            bench,
            &have,
            params,
            &recorder,
            observer,
            &mut missing_samples,
        )
    });
    // The collector's failure, if any, is the cause of the generating side's.
    let run_dir = recorder.finish()?;
    let interrupted = generated?;
    let mut summary = write_summary(&run_dir, &summary_params)?;
    let mut table = report::render_table(&summary);
    match &params.metrics {
        Some(_) if interrupted => events(RunEvent::Note(
            "metrics not computed: the run was interrupted".into(),
        )),
        Some(request) => {
            let outcome = metrics::measure_run(
                &params.out,
                bench,
                &GivenReferences::new(),
                request,
                Some(generator),
                &events,
                observer,
            )?;
            crate::score::push_section(&mut table, &outcome.table);
            summary.metrics = Some(outcome.summary_json());
        }
        None => {}
    }
    Ok(EvalOutcome {
        table,
        summary,
        out: params.out.clone(),
        interrupted,
        missing_samples,
    })
}

/// Make the missing samples: by strategy runs, by batched plain decoding, or one request after
/// another for beam search (which decodes one request at a time). Returns whether the run was
/// interrupted; `missing` counts the samples whose requests failed.
fn generate(
    generator: &mut dyn Generator,
    bench: &Benchmark,
    have: &BTreeSet<(String, usize)>,
    params: &EvalParams,
    recorder: &Recorder<'_>,
    observer: &mut dyn Observer,
    missing: &mut usize,
) -> Result<bool> {
    let beam = matches!(
        params.solve.params.decoding,
        crucible_types::Decoding::Beam { .. }
    );
    match &params.strategy {
        Some(run) => strategy::run_strategies(
            generator, bench, have, params, run, recorder, observer, missing,
        ),
        None if beam => {
            plain::generate_one_by_one(generator, bench, have, params, recorder, observer, missing)
        }
        None => {
            plain::generate_batched(generator, bench, have, params, recorder, observer, missing)
        }
    }
}

/// Samples stored but not judged, of the benchmark's tasks.
fn unjudged_of(bench: &Benchmark, state: &ResumeState) -> usize {
    state
        .unjudged()
        .iter()
        .filter(|s| bench.task(&s.task_id).is_some())
        .count()
}

/// The configuration stored with the run; a different one refuses to mix with old samples.
fn run_config(model: &ModelFacts, bench: &Benchmark, params: &EvalParams) -> serde_json::Value {
    json!({
        "command": "eval",
        "benchmark": bench.name.to_string(),
        "language": bench.language.name(),
        "tasks": bench.tasks.iter().map(|t| t.task.id.as_str()).collect::<Vec<_>>(),
        "model": model.config(),
        "n": params.n,
        "mode": params.solve.mode,
        "decoding": params.solve.params.decoding,
        "seed": params.solve.params.seed,
        "max_new_tokens": params.solve.params.max_new_tokens,
        "stop": params.solve.params.stop,
        "max_batch": params.max_batch,
        "time_limit_policy": params.judge.policy,
        "memory_limit_bytes": params.judge.memory_bytes,
        "visible": params.judge.visible,
        "sandboxed": params.judge.sandboxed,
        "strategy": params.strategy.as_ref().map(|run| json!({
            "strategy": run.strategy,
            "budget": run.budget,
        })),
    })
}

/// Sample indices of `task_id` below `n` that have no stored sample.
fn missing_indices(have: &BTreeSet<(String, usize)>, task_id: &str, n: usize) -> Vec<usize> {
    (0..n)
        .filter(|idx| !have.contains(&(task_id.to_owned(), *idx)))
        .collect()
}

/// Whether an error is the run being interrupted rather than failing.
fn is_cancelled(err: &Error) -> bool {
    matches!(
        err,
        Error::Infer(crucible_infer::Error::Cancelled)
            | Error::Strategy(crucible_strategy::Error::Cancelled)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_indices_are_those_without_samples() {
        let have: BTreeSet<(String, usize)> = [
            ("a".to_string(), 0),
            ("a".to_string(), 2),
            ("b".to_string(), 1),
        ]
        .into_iter()
        .collect();
        assert_eq!(missing_indices(&have, "a", 4), vec![1, 3]);
        assert_eq!(missing_indices(&have, "c", 2), vec![0, 1]);
        assert!(missing_indices(&have, "a", 1).is_empty());
    }
}
