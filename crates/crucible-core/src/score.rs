//! `crucible score`: judge samples made by other tools (OpenAI human-eval or EvalPlus format, or
//! a `samples.jsonl` of `crucible eval`) on a benchmark's hidden tests, into the same run
//! directory, summary and report as `crucible eval`.
//!
//! Every verdict is appended as it is judged, so a killed run loses at most those in flight;
//! re-running the same command judges only what has no verdict yet. The samples file (by its
//! checksum) and the judging options are the run's configuration: another file or other options
//! are refused in the same directory, as `crucible eval` refuses another model.
//!
//! Tasks of the benchmark the file has no sample for are named in a note and count as failed
//! in every number, or with [`ScoreParams::allow_missing`] are left out of them; the summary
//! says which (`crucible_eval::run::MissingTasks`).
//!
//! With metrics asked for ([`ScoreParams::metrics`]), the samples are also compared with their
//! references (given in the samples file, else the task's reference solution) once judged
//! ([`crate::metrics`]); missing references are an error before anything is judged.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::json;

use crucible_eval::judge::{JudgeParams, Judging, StartingExecutor};
use crucible_eval::run::{
    MissingPolicy, MissingTasks, RunDir, Summary, SummaryParams, fingerprint,
};
use crucible_eval::score::{missing_tasks, parse_samples_with_references, read_samples};
use crucible_eval::{Benchmark, report};

use crate::Result;
use crate::metrics::{self, MetricRequest};
use crate::recorder::{
    EventSink, Recorder, RecorderSetup, RunEvent, resume_counts, summary_params, write_summary,
};

/// What a scoring run needs besides the benchmark.
#[derive(Debug, Clone)]
pub struct ScoreParams {
    /// The samples file.
    pub samples: PathBuf,
    /// The run directory ([`default_out`] is the CLI's default).
    pub out: PathBuf,
    /// The k of pass@k.
    pub ks: Vec<u64>,
    pub judge: JudgeParams,
    /// Reuse a run directory made with another configuration.
    pub force: bool,
    /// Leave the benchmark's tasks that the file has no sample for out of the scores instead
    /// of counting them as failed.
    pub allow_missing: bool,
    /// Similarity metrics, perplexity and the judge (`--metric`), computed after judging.
    pub metrics: Option<MetricRequest>,
}

/// The end of a scoring run.
#[derive(Debug, Clone)]
pub struct ScoreOutcome {
    pub summary: Summary,
    /// The summary as a terminal table.
    pub table: String,
    pub out: PathBuf,
}

/// The default run directory: `<SAMPLES>.score` beside the samples file.
pub fn default_out(samples: &Path) -> PathBuf {
    let mut name = samples
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".score");
    samples.with_file_name(name)
}

/// Judge the samples in `params.samples` on `bench` (only the tasks the file covers are
/// judged; the others count as failed unless `params.allow_missing`), with `home` as
/// `CRUCIBLE_HOME` (the executor's compile cache and the reference timings).
pub fn run_score(
    mut bench: Benchmark,
    home: &Path,
    params: &ScoreParams,
    events: EventSink,
) -> Result<ScoreOutcome> {
    // The sandbox and the Python workers start first; they are ready by the time the samples
    // are read and the run directory is open.
    let starting = StartingExecutor::start(home, &params.judge, bench.language);
    let input = read_samples(&params.samples, &bench)?;
    events(RunEvent::Note(format!("samples: {}", input.format)));
    let text = input.text;
    let parsed = parse_samples_with_references(&params.samples, &text, &bench)?;
    let (samples, given) = (parsed.samples, parsed.references);
    if let Some(request) = &params.metrics {
        metrics::check_samples(&bench, &samples, &given, &request.params)?;
        request.check_models()?;
    }
    let config = json!({
        "command": "score",
        "benchmark": bench.name.to_string(),
        "language": bench.language.name(),
        "samples_file": fingerprint(&serde_json::Value::String(text)),
        "time_limit_policy": params.judge.policy,
        "memory_limit_mb": params.judge.memory_bytes >> 20,
        "visible": params.judge.visible,
    });
    let (run_dir, state) = RunDir::open(&params.out, &config, params.force)?;
    if state.torn_lines > 0 {
        events(RunEvent::Note(format!(
            "resuming: dropped {} torn line(s) from an interrupted run",
            state.torn_lines
        )));
    }
    let all_task_ids: Vec<String> = bench.tasks.iter().map(|t| t.task.id.clone()).collect();
    let missing = MissingTasks {
        task_ids: missing_tasks(&bench, &samples),
        policy: if params.allow_missing {
            MissingPolicy::LeftOut
        } else {
            MissingPolicy::CountedAsFailed
        },
    };
    if let Some(note) = missing_note(&missing, &bench.name.to_string()) {
        events(RunEvent::Note(note));
    }
    // Judge only the tasks the samples cover, in benchmark order.
    let mut expected: BTreeMap<String, usize> = BTreeMap::new();
    for sample in &samples {
        *expected.entry(sample.task_id.clone()).or_insert(0) += 1;
    }
    bench.tasks.retain(|t| expected.contains_key(&t.task.id));

    let judging = Judging::with_executor(
        starting.join()?,
        &bench,
        home,
        params.judge.clone(),
        &mut |msg| events(RunEvent::Note(msg.to_owned())),
    )?;
    let summary_params = SummaryParams {
        task_ids: all_task_ids,
        missing: (!missing.task_ids.is_empty()).then_some(missing),
        ..summary_params(&bench, &params.ks, config, &judging)
    };
    let (done_tasks, judged, passed) = resume_counts(&bench, &state, &expected);
    let done = state.done();
    let stored: BTreeSet<(String, usize)> = state
        .samples
        .iter()
        .map(|s| (s.task_id.clone(), s.sample_idx))
        .collect();
    let todo: Vec<_> = samples
        .into_iter()
        .filter(|s| !done.contains(&(s.task_id.clone(), s.sample_idx)))
        .collect();
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
        to_generate: 0,
        to_judge: todo.len(),
        judged,
        passed,
    });
    // Every base (and visible) run is queued at once; a sample's plus run when its base passes.
    let queued = todo.into_iter().try_for_each(|sample| {
        let task = bench
            .task(&sample.task_id)
            .expect("samples were checked against the benchmark");
        if stored.contains(&(sample.task_id.clone(), sample.sample_idx)) {
            recorder.judge(task, sample)
        } else {
            recorder.record(task, sample)
        }
    });
    // The collector's failure, if any, is the cause of the queueing side's.
    let run_dir = recorder.finish()?;
    queued?;
    let mut summary = write_summary(&run_dir, &summary_params)?;
    let mut table = report::render_table(&summary);
    if let Some(request) = &params.metrics {
        let outcome = metrics::measure_run(
            &params.out,
            &bench,
            &given,
            request,
            None,
            &events,
            &mut crucible_infer::Silent,
        )?;
        push_section(&mut table, &outcome.table);
        summary.metrics = Some(outcome.summary_json());
    }
    Ok(ScoreOutcome {
        table,
        summary,
        out: params.out.clone(),
    })
}

/// The note naming the tasks the samples file has no sample for (the first five), and how they
/// are counted; `None` when there are none.
fn missing_note(missing: &MissingTasks, benchmark: &str) -> Option<String> {
    let count = missing.task_ids.len();
    if count == 0 {
        return None;
    }
    let mut listed = missing.task_ids[..count.min(5)].join(", ");
    if count > 5 {
        listed.push_str(&format!(", ... ({} more)", count - 5));
    }
    let counted = match missing.policy {
        MissingPolicy::CountedAsFailed => {
            "counted as failed; pass --allow-missing to leave them out"
        }
        MissingPolicy::LeftOut => "left out of the scores (--allow-missing)",
    };
    Some(format!(
        "note: the samples file has no sample of {count} task(s) of `{benchmark}` ({listed}): {counted}"
    ))
}

/// Append a section of terminal lines to a table, a blank line between them.
pub(crate) fn push_section(table: &mut String, section: &str) {
    if section.is_empty() {
        return;
    }
    if !table.is_empty() && !table.ends_with('\n') {
        table.push('\n');
    }
    table.push('\n');
    table.push_str(section);
}
