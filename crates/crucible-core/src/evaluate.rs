//! `crucible eval`: generate samples for a benchmark's tasks, judge them in the sandbox while
//! generation goes on, and score them. Resumable: samples and results are appended and flushed
//! one by one, and a re-run with the same output directory continues where it stopped.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::json;

use crucible_eval::run::{
    RESULTS_FILE, ResultRecord, RunDir, SampleRecord, Summary, SummaryParams, TokenCounts,
    n_at_k_pairs, read_records, summarize,
};
use crucible_eval::{Benchmark, BenchmarkTask, Solution, report};
use crucible_infer::{
    Candidates, Feed, GenRequest, Generation, Generator, Observer, SolveParams, SolveRequest, solve,
};
use crucible_strategy::{Budget, Quiet, Strategy, Tools};
use crucible_types::Status;

use crate::grounding::BenchmarkAssembly;
use crate::judging::{JudgeParams, Judging, Pending};
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

/// What the pipeline reports while it runs.
#[derive(Debug, Clone)]
pub enum EvalEvent {
    /// The run starts: tasks in all, tasks already complete, samples to generate, and the
    /// samples already judged by earlier sessions (and how many of them passed).
    Started {
        tasks: usize,
        done_tasks: usize,
        to_generate: usize,
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

/// Receives events; called from the generating thread and the judging thread.
pub type EventSink = Arc<dyn Fn(EvalEvent) + Send + Sync>;

/// The end of a run.
#[derive(Debug, Clone, Serialize)]
pub struct EvalOutcome {
    pub summary: Summary,
    /// The summary as a terminal table.
    pub table: String,
    pub out: PathBuf,
    /// True when the run was stopped early (Ctrl-C); the summary covers what was done.
    pub interrupted: bool,
}

/// Facts about the model for the configuration and summary: what a resumed run must match.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ModelFacts {
    /// A GGUF file run in this process, identified by its checksum.
    File {
        name: String,
        path: PathBuf,
        sha256: String,
        /// Whether its Q5_0 tensors ran re-encoded as Q8_0 (`--weights widen`).
        widened: bool,
    },
    /// A model behind an OpenAI-compatible server, identified by the endpoint and the server's
    /// model id (the server's weights cannot be checked from here).
    Server { name: String, endpoint: String },
}

impl ModelFacts {
    /// Facts for a resolved model. Known models were verified against their pinned checksum
    /// when installed; other files are hashed here (about a second per 500 MB).
    pub fn of(resolved: &crucible_model::ResolvedModel, widened: bool) -> Result<ModelFacts> {
        let sha256 = match &resolved.spec {
            crucible_model::ModelSpec::Known(known) => known.sha256.to_owned(),
            _ => sha256_file(&resolved.path)?,
        };
        Ok(ModelFacts::File {
            name: resolved.name.clone(),
            path: resolved.path.clone(),
            sha256,
            widened,
        })
    }

    /// The model's name for reports: the known name, the file, or the server's model id.
    pub fn name(&self) -> &str {
        match self {
            ModelFacts::File { name, .. } | ModelFacts::Server { name, .. } => name,
        }
    }

    /// The run configuration's `model` entry. For a file run as it is, it is the same as before
    /// servers and widened weights were supported, so older run directories still resume.
    fn config(&self) -> serde_json::Value {
        match self {
            ModelFacts::File {
                name,
                sha256,
                widened: true,
                ..
            } => json!({"name": name, "sha256": sha256, "weights": "q5_0 widened to q8_0"}),
            ModelFacts::File { name, sha256, .. } => json!({"name": name, "sha256": sha256}),
            ModelFacts::Server { name, endpoint } => json!({"name": name, "endpoint": endpoint}),
        }
    }

    fn sha256(&self) -> Option<String> {
        match self {
            ModelFacts::File { sha256, .. } => Some(sha256.clone()),
            ModelFacts::Server { .. } => None,
        }
    }
}

fn sha256_file(path: &Path) -> Result<String> {
    use sha2::Digest;
    use std::io::Read;
    let io_err = |source| Error::Io {
        path: path.to_owned(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io_err)?;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let read = file.read(&mut buf).map_err(io_err)?;
        if read == 0 {
            break;
        }
        hasher.update(&buf[..read]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Run an evaluation of `generator` on `bench`.
pub fn run_eval(
    generator: &mut dyn Generator,
    model: &ModelFacts,
    bench: &Benchmark,
    home: &Path,
    params: &EvalParams,
    events: EventSink,
    observer: &mut dyn Observer,
) -> Result<EvalOutcome> {
    let config = run_config(model, bench, params);
    let (run_dir, state) = RunDir::open(&params.out, &config, params.force)?;
    if state.torn_lines > 0 {
        events(EvalEvent::Note(format!(
            "resuming: dropped {} torn line(s) left by an interrupted run",
            state.torn_lines
        )));
    }
    let judging = Judging::new(home, bench, params.judge.clone(), &mut |msg| {
        events(EvalEvent::Note(msg.to_owned()))
    })?;
    let summary_params = SummaryParams {
        benchmark: bench.name.to_string(),
        language: bench.language.name().to_owned(),
        task_ids: bench.tasks.iter().map(|t| t.task.id.clone()).collect(),
        ks: params.ks.clone(),
        n_at_k: n_at_k_pairs(&params.ks),
        hidden_tests: bench.name.info().is_none_or(|info| info.hidden_tests),
        model_sha256: model.sha256(),
        wall_time_s: None,
        config,
        time_limits: json!({"policy": params.judge.policy, "per_task_ms": judging.time_limits_ms()}),
    };
    let have: BTreeSet<(String, usize)> = state
        .samples
        .iter()
        .map(|s| (s.task_id.clone(), s.sample_idx))
        .collect();
    let judged = state.done();
    let per_task_judged = count_per_task(judged.iter().map(|(id, _)| id.as_str()));
    let done_tasks = bench
        .tasks
        .iter()
        .filter(|t| {
            per_task_judged
                .get(t.task.id.as_str())
                .copied()
                .unwrap_or(0)
                >= params.n
        })
        .count();
    let to_generate = bench
        .tasks
        .iter()
        .map(|t| missing_indices(&have, &t.task.id, params.n).len())
        .sum();
    let earlier: Vec<&ResultRecord> = state
        .results
        .iter()
        .filter(|r| bench.task(&r.task_id).is_some())
        .collect();
    events(EvalEvent::Started {
        tasks: bench.tasks.len(),
        done_tasks,
        to_generate,
        judged: earlier.len(),
        passed: earlier.iter().filter(|r| r.status.is_pass()).count(),
    });

    let run_dir = Arc::new(Mutex::new(run_dir));
    let (tx, rx) = mpsc::channel::<Pending>();
    let collector = spawn_collector(
        rx,
        Arc::clone(&run_dir),
        Arc::clone(&events),
        params.n,
        &state,
        summary_params.clone(),
    );

    // Samples generated earlier but never judged (killed mid-run) go first.
    for sample in state.unjudged() {
        if let Some(task) = bench.task(&sample.task_id) {
            tx.send(judging.submit(task, sample.clone())?)
                .expect("the collector outlives the sender");
        }
    }
    let mut interrupted = false;
    // Plain decoding batches tasks together, strategies run several tasks at once and share the
    // generator, beam search goes one task at a time.
    let beam = matches!(
        params.solve.params.decoding,
        crucible_types::Decoding::Beam { .. }
    );
    if let Some(run) = &params.strategy {
        let tools = StrategyTools {
            run_dir: &run_dir,
            judging: &judging,
            tx: &tx,
            events: &events,
        };
        interrupted = run_strategies(generator, bench, &have, params, run, &tools, observer)?;
    } else if !beam {
        let mut feed = SampleFeed::new(bench, &have, params, &judging, &run_dir, &tx, &events);
        match generator.generate_many(&mut feed, params.max_batch.max(1), observer) {
            Ok(()) => {}
            Err(crucible_infer::Error::Cancelled) => interrupted = true,
            Err(err) => return Err(err.into()),
        }
        if let Some(err) = feed.error {
            return Err(err);
        }
    } else {
        for task in &bench.tasks {
            let missing = missing_indices(&have, &task.task.id, params.n);
            if missing.is_empty() {
                continue;
            }
            let samples = match generate_samples(generator, task, &missing, params, observer) {
                Ok(samples) => samples,
                Err(err) if is_cancelled(&err) => {
                    interrupted = true;
                    break;
                }
                Err(err) => return Err(err),
            };
            record_samples(task, samples, &run_dir, &judging, &tx, &events)?;
        }
    }
    drop(tx);
    let collected = collector
        .join()
        .expect("the collector thread does not panic");
    collected?;

    let run_dir = Arc::try_unwrap(run_dir)
        .map_err(|_| ())
        .expect("the collector has finished")
        .into_inner()
        .expect("the run directory lock is never poisoned");
    let summary = write_summary(&run_dir, &summary_params)?;
    Ok(EvalOutcome {
        table: report::render_table(&summary),
        summary,
        out: params.out.clone(),
        interrupted,
    })
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

fn count_per_task<'a>(ids: impl Iterator<Item = &'a str>) -> BTreeMap<&'a str, usize> {
    let mut counts = BTreeMap::new();
    for id in ids {
        *counts.entry(id).or_insert(0) += 1;
    }
    counts
}

/// Sample indices of `task_id` below `n` that have no stored sample.
fn missing_indices(have: &BTreeSet<(String, usize)>, task_id: &str, n: usize) -> Vec<usize> {
    (0..n)
        .filter(|idx| !have.contains(&(task_id.to_owned(), *idx)))
        .collect()
}

/// The batches (requests) that make a task's missing samples. Samples are made in batches of
/// at most `max_batch` sequences; batch `b` (samples `b * max_batch ..`) is seeded with
/// `seed + b`, so a sample's text depends on the seed, its index and the batch size only, and a
/// resumed run regenerates exactly the samples that are missing.
fn plan_batches(missing: &[usize], params: &EvalParams) -> Vec<SampleBatch> {
    let batch = params.max_batch.max(1).min(params.n.max(1));
    let batches: BTreeSet<usize> = missing.iter().map(|idx| idx / batch).collect();
    batches
        .into_iter()
        .map(|b| {
            let first = b * batch;
            let size = batch.min(params.n - first);
            let mut solve = params.solve.clone();
            solve.params.n = size;
            solve.params.seed = params.solve.params.seed.wrapping_add(b as u64);
            SampleBatch {
                first,
                solve,
                keep: missing
                    .iter()
                    .copied()
                    .filter(|idx| (first..first + size).contains(idx))
                    .collect(),
            }
        })
        .collect()
}

/// One request's worth of a task's samples.
struct SampleBatch {
    /// The sample index of its first sequence.
    first: usize,
    solve: SolveParams,
    /// The sample indices of this batch to keep (those missing).
    keep: Vec<usize>,
}

impl SampleBatch {
    /// The records of the samples this batch was asked for.
    fn records(&self, task: &BenchmarkTask, out: Candidates) -> Vec<SampleRecord> {
        let share_ms = (out.seconds * 1000.0 / out.candidates.len().max(1) as f64).round() as u64;
        out.candidates
            .into_iter()
            .enumerate()
            .map(|(offset, candidate)| (self.first + offset, candidate))
            .filter(|(sample_idx, _)| self.keep.contains(sample_idx))
            .map(|(sample_idx, candidate)| SampleRecord {
                task_id: task.task.id.clone(),
                sample_idx,
                solution: Solution::infer(&task.task, &candidate.code),
                completion: candidate.answer,
                tokens: Some(TokenCounts {
                    prompt: out.prompt_tokens as u64,
                    completion: candidate.tokens as u64,
                }),
                gen_ms: Some(share_ms),
            })
            .collect()
    }
}

/// Generate the samples with the given indices, one request after another (beam search).
fn generate_samples(
    generator: &mut dyn Generator,
    task: &BenchmarkTask,
    missing: &[usize],
    params: &EvalParams,
    observer: &mut dyn Observer,
) -> Result<Vec<SampleRecord>> {
    let mut samples = Vec::with_capacity(missing.len());
    for batch in plan_batches(missing, params) {
        let out = solve(generator, &task.task, &[], &batch.solve, observer)?;
        samples.extend(batch.records(task, out));
    }
    Ok(samples)
}

/// Store a task's new samples and hand them to the judges.
fn record_samples(
    task: &BenchmarkTask,
    samples: Vec<SampleRecord>,
    run_dir: &Mutex<RunDir>,
    judging: &Judging,
    tx: &mpsc::Sender<Pending>,
    events: &EventSink,
) -> Result<()> {
    let tokens = samples
        .iter()
        .map(|sample| sample.tokens.map_or(0, |c| c.completion as usize))
        .sum();
    events(EvalEvent::Generated {
        task_id: task.task.id.clone(),
        samples: samples.len(),
        tokens,
    });
    for sample in samples {
        run_dir
            .lock()
            .expect("the run directory lock is never poisoned")
            .append_sample(&sample)?;
        tx.send(judging.submit(task, sample)?)
            .expect("the collector outlives the sender");
    }
    Ok(())
}

/// The requests of a plain-decoding eval for [`Generator::generate_many`]: each task's batches
/// in benchmark order, built when the generator has room; finished ones are stored and judged
/// at once. The first error (a request's own, or storing its samples) stops the run.
struct SampleFeed<'a> {
    pending: std::vec::IntoIter<(&'a BenchmarkTask, SampleBatch)>,
    in_flight: BTreeMap<usize, (&'a BenchmarkTask, SampleBatch, SolveRequest, Instant)>,
    given: usize,
    run_dir: &'a Mutex<RunDir>,
    judging: &'a Judging,
    tx: &'a mpsc::Sender<Pending>,
    events: &'a EventSink,
    error: Option<Error>,
}

impl<'a> SampleFeed<'a> {
    fn new(
        bench: &'a Benchmark,
        have: &BTreeSet<(String, usize)>,
        params: &EvalParams,
        judging: &'a Judging,
        run_dir: &'a Mutex<RunDir>,
        tx: &'a mpsc::Sender<Pending>,
        events: &'a EventSink,
    ) -> SampleFeed<'a> {
        let work: Vec<(&BenchmarkTask, SampleBatch)> = bench
            .tasks
            .iter()
            .flat_map(|task| {
                let missing = missing_indices(have, &task.task.id, params.n);
                plan_batches(&missing, params)
                    .into_iter()
                    .map(move |batch| (task, batch))
            })
            .collect();
        SampleFeed {
            pending: work.into_iter(),
            in_flight: BTreeMap::new(),
            given: 0,
            run_dir,
            judging,
            tx,
            events,
            error: None,
        }
    }
}

impl Feed for SampleFeed<'_> {
    fn next_request(&mut self, _wait: bool) -> Option<GenRequest> {
        let (task, batch) = self.pending.next()?;
        let prepared = SolveRequest::new(&task.task, &[], &batch.solve);
        let request = prepared.request.clone();
        self.in_flight
            .insert(self.given, (task, batch, prepared, Instant::now()));
        self.given += 1;
        Some(request)
    }

    fn finished(
        &mut self,
        id: usize,
        result: std::result::Result<Generation, crucible_infer::Error>,
    ) -> ControlFlow<()> {
        let (task, batch, prepared, started) = self
            .in_flight
            .remove(&id)
            .expect("the generator reports only requests it was given");
        let stored = result.map_err(Error::from).and_then(|generation| {
            let out = prepared.candidates(generation, started.elapsed().as_secs_f64());
            let samples = batch.records(task, out);
            record_samples(
                task,
                samples,
                self.run_dir,
                self.judging,
                self.tx,
                self.events,
            )
        });
        match stored {
            Ok(()) => ControlFlow::Continue(()),
            Err(err) => {
                self.error = Some(err);
                ControlFlow::Break(())
            }
        }
    }
}

/// What strategy runs share within an eval.
struct StrategyTools<'a> {
    /// Where each run's trace and samples are appended.
    run_dir: &'a Mutex<RunDir>,
    /// Judges the final programs on the hidden tests; strategies' visible-test runs queue on its
    /// executor, the same sandbox.
    judging: &'a Judging,
    tx: &'a mpsc::Sender<Pending>,
    events: &'a EventSink,
}

/// Whether an error is the run being interrupted rather than failing.
fn is_cancelled(err: &Error) -> bool {
    matches!(
        err,
        Error::Infer(crucible_infer::Error::Cancelled)
            | Error::Strategy(crucible_strategy::Error::Cancelled)
    )
}

/// The strategy runs of every task with missing samples, `run.tasks_in_flight` tasks at a time
/// on threads of their own, their model calls decoded together by [`crucible_infer::share`];
/// each task's samples are stored and judged as soon as its runs end. Returns whether the run
/// was interrupted. The first failure stops the other threads at their next model call.
fn run_strategies(
    generator: &mut dyn Generator,
    bench: &Benchmark,
    have: &BTreeSet<(String, usize)>,
    params: &EvalParams,
    run: &StrategyRun,
    tools: &StrategyTools<'_>,
    observer: &mut dyn Observer,
) -> Result<bool> {
    let work: Vec<(&BenchmarkTask, Vec<usize>)> = bench
        .tasks
        .iter()
        .map(|task| (task, missing_indices(have, &task.task.id, params.n)))
        .filter(|(_, missing)| !missing.is_empty())
        .collect();
    let threads = run.tasks_in_flight.clamp(1, work.len().max(1));
    let queue = Mutex::new(work.into_iter());
    let failed = AtomicBool::new(false);
    let (ends, served) =
        crucible_infer::share(generator, params.max_batch.max(1), observer, |shared| {
            std::thread::scope(|scope| {
                let workers: Vec<_> = (0..threads)
                    .map(|_| {
                        let (mut generator, queue, failed) = (shared.clone(), &queue, &failed);
                        scope.spawn(move || -> Result<()> {
                            loop {
                                if failed.load(Ordering::Relaxed) {
                                    return Ok(());
                                }
                                let next = queue
                                    .lock()
                                    .expect("the task queue lock is never poisoned")
                                    .next();
                                let Some((task, missing)) = next else {
                                    return Ok(());
                                };
                                let mut halt = Halt(failed);
                                let done = run_strategy(
                                    &mut generator,
                                    task,
                                    &missing,
                                    run,
                                    tools,
                                    &mut halt,
                                )
                                .and_then(|samples| {
                                    record_samples(
                                        task,
                                        samples,
                                        tools.run_dir,
                                        tools.judging,
                                        tools.tx,
                                        tools.events,
                                    )
                                });
                                if let Err(err) = done {
                                    failed.store(true, Ordering::Relaxed);
                                    return Err(err);
                                }
                            }
                        })
                    })
                    .collect();
                // The workers hold the only handles now: the generator stops when they end.
                drop(shared);
                workers
                    .into_iter()
                    .map(|worker| match worker.join() {
                        Ok(end) => end,
                        Err(panic) => std::panic::resume_unwind(panic),
                    })
                    .collect::<Vec<_>>()
            })
        });
    let mut interrupted = false;
    match served {
        Ok(()) => {}
        Err(crucible_infer::Error::Cancelled) => interrupted = true,
        Err(err) => return Err(err.into()),
    }
    for end in ends {
        match end {
            Ok(()) => {}
            Err(err) if is_cancelled(&err) => interrupted = true,
            Err(err) => return Err(err),
        }
    }
    Ok(interrupted)
}

/// The observer of a strategy thread: cancelled once another thread has failed.
struct Halt<'a>(&'a AtomicBool);

impl Observer for Halt<'_> {
    fn cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// One strategy run per missing sample index; sample `i` is seeded `seed + i`. The strategy sees
/// the task's visible part and a [`BenchmarkAssembly`] that holds no hidden test.
fn run_strategy(
    generator: &mut dyn Generator,
    task: &BenchmarkTask,
    missing: &[usize],
    run: &StrategyRun,
    tools: &StrategyTools<'_>,
    observer: &mut dyn Observer,
) -> Result<Vec<SampleRecord>> {
    let assembly = BenchmarkAssembly::new(task);
    let mut samples = Vec::with_capacity(missing.len());
    for &sample_idx in missing {
        let mut strategy = run.strategy.clone();
        strategy.params.seed = strategy.params.seed.wrapping_add(sample_idx as u64);
        let mut progress = Quiet(&mut *observer);
        let outcome = crucible_strategy::run(
            &strategy,
            Tools {
                generator: &mut *generator,
                executor: tools.judging.executor(),
                assembly: &assembly,
                progress: &mut progress,
            },
            &task.task,
            &run.budget,
        )?;
        tools
            .run_dir
            .lock()
            .expect("the run directory lock is never poisoned")
            .append_trace(&json!({"sample_idx": sample_idx, "outcome": outcome}))?;
        let code = outcome.code.clone().unwrap_or_default();
        samples.push(SampleRecord {
            task_id: task.task.id.clone(),
            sample_idx,
            solution: Solution::infer(&task.task, &code),
            completion: code,
            tokens: Some(TokenCounts {
                prompt: outcome.usage.prompt_tokens,
                completion: outcome.usage.tokens,
            }),
            gen_ms: Some((outcome.usage.seconds * 1000.0).round() as u64),
        });
    }
    Ok(samples)
}

/// How often, at most, a running evaluation rewrites `summary.json` and `report.html` (when a
/// task's last sample is judged; the first time at the first such task), so that a run killed
/// outright still leaves a current report.
const SUMMARY_EVERY: Duration = Duration::from_secs(60);

/// Summarise every result in the run directory into `summary.json` and `report.html`.
fn write_summary(run_dir: &RunDir, params: &SummaryParams) -> Result<Summary> {
    let out = run_dir.path();
    let (results, _) = read_records::<ResultRecord>(&out.join(RESULTS_FILE))?;
    let (samples, _) = read_records::<SampleRecord>(&out.join(crucible_eval::run::SAMPLES_FILE))?;
    let params = SummaryParams {
        wall_time_s: Some(run_dir.wall_time_s(&results)?),
        ..params.clone()
    };
    let summary = summarize(&results, &params);
    run_dir.write_summary(&summary)?;
    run_dir.write_report(&report::render_html(&summary, &results, &samples))?;
    Ok(summary)
}

/// The thread that waits for verdicts in submission order, appends them to `results.jsonl`,
/// reports them, and keeps the summary current (see [`SUMMARY_EVERY`]).
fn spawn_collector(
    rx: mpsc::Receiver<Pending>,
    run_dir: Arc<Mutex<RunDir>>,
    events: EventSink,
    n: usize,
    state: &crucible_eval::run::ResumeState,
    summary_params: SummaryParams,
) -> std::thread::JoinHandle<Result<()>> {
    let mut judged: BTreeMap<String, usize> = BTreeMap::new();
    for (task_id, _) in state.done() {
        *judged.entry(task_id).or_insert(0) += 1;
    }
    std::thread::spawn(move || {
        let mut last_summary: Option<Instant> = None;
        for pending in rx {
            let result = pending.wait()?;
            let mut run_dir = run_dir
                .lock()
                .expect("the run directory lock is never poisoned");
            run_dir.append_result(&result)?;
            let count = judged.entry(result.task_id.clone()).or_insert(0);
            *count += 1;
            let task_complete = *count >= n;
            if task_complete && last_summary.is_none_or(|at| at.elapsed() >= SUMMARY_EVERY) {
                write_summary(&run_dir, &summary_params)?;
                last_summary = Some(Instant::now());
            }
            drop(run_dir);
            events(EvalEvent::Judged {
                task_id: result.task_id.clone(),
                sample_idx: result.sample_idx,
                status: result.status,
                task_complete,
            });
        }
        Ok(())
    })
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
