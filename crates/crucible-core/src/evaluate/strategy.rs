//! Strategy runs for `crucible eval --strategy`: each sample is the final program of one run of
//! the strategy on the task's visible part. Tasks run `tasks_in_flight` at a time on threads of
//! their own, their model calls decoded together by [`crucible_infer::share`]; each run's trace
//! and sample are stored, and the sample queued for judging, as soon as the run ends.
//!
//! A run whose model call failed (the backend gave up on a request: a server still busy after
//! its retries, a broken connection) is not a verdict: its sample stays missing, a note says
//! why, the other runs go on, and re-running the command runs just the missing samples, as
//! plain decoding does.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use serde_json::json;

use crucible_eval::judge::{FailureKind, failed_report, failure_kind};
use crucible_eval::run::{SampleRecord, TokenCounts};
use crucible_eval::{Benchmark, BenchmarkTask, Solution};
use crucible_infer::{Generator, Observer};
use crucible_strategy::{Quiet, Tools};
use crucible_types::Status;

use super::{EvalParams, StrategyRun, is_cancelled, missing_indices};
use crate::Result;
use crate::recorder::{Recorder, RunEvent};
use crate::strategy_tools::BenchmarkAssembly;

/// The strategy runs of every task with missing samples. Returns whether the run was
/// interrupted; `missing` counts the samples whose model calls failed. The first other failure
/// (storing a sample, a judge that cannot start) stops the other threads at their next model
/// call.
#[allow(clippy::too_many_arguments)]
pub(super) fn run_strategies(
    generator: &mut dyn Generator,
    bench: &Benchmark,
    have: &BTreeSet<(String, usize)>,
    params: &EvalParams,
    run: &StrategyRun,
    recorder: &Recorder<'_>,
    observer: &mut dyn Observer,
    missing: &mut usize,
) -> Result<bool> {
    let not_generated = AtomicUsize::new(0);
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
                        let (mut generator, queue, failed, not_generated) =
                            (shared.clone(), &queue, &failed, &not_generated);
                        scope.spawn(move || -> Result<()> {
                            loop {
                                if failed.load(Ordering::Relaxed) {
                                    return Ok(());
                                }
                                let next = queue
                                    .lock()
                                    .expect("the task queue lock is never poisoned")
                                    .next();
                                let Some((task, wanted)) = next else {
                                    return Ok(());
                                };
                                let mut halt = Halt(failed);
                                let done = run_strategy(
                                    &mut generator,
                                    task,
                                    &wanted,
                                    run,
                                    recorder,
                                    &mut halt,
                                    not_generated,
                                );
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
    *missing += not_generated.into_inner();
    let mut interrupted = false;
    // A thread's own error comes first: the generator's may only echo it (cancelled by `Halt`).
    for end in ends {
        match end {
            Ok(()) => {}
            Err(err) if is_cancelled(&err) => interrupted = true,
            Err(err) => return Err(err),
        }
    }
    match served {
        Ok(()) => {}
        Err(crucible_infer::Error::Cancelled) => interrupted = true,
        Err(err) => return Err(err.into()),
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
/// the task's visible part and a [`BenchmarkAssembly`] that holds no hidden test. Each run's
/// trace and sample are stored when it ends. A run the judge failed in the middle of (a program
/// of the strategy's that could not be run) is a `judge_error` sample with the cause. A run
/// whose model call failed leaves its sample missing, with a note, and adds one to
/// `not_generated`.
fn run_strategy(
    generator: &mut dyn Generator,
    task: &BenchmarkTask,
    wanted: &[usize],
    run: &StrategyRun,
    recorder: &Recorder<'_>,
    observer: &mut dyn Observer,
    not_generated: &AtomicUsize,
) -> Result<()> {
    let assembly = BenchmarkAssembly::new(task);
    for &sample_idx in wanted {
        let mut strategy = run.strategy.clone();
        strategy.params.seed = strategy.params.seed.wrapping_add(sample_idx as u64);
        let mut progress = Quiet(&mut *observer);
        let ran = crucible_strategy::run(
            &strategy,
            Tools {
                generator: &mut *generator,
                executor: recorder.judging().executor(),
                assembly: &assembly,
                progress: &mut progress,
            },
            &task.task,
            &run.budget,
        );
        let outcome = match ran {
            Ok(outcome) => outcome,
            Err(crucible_strategy::Error::Infer(err))
                if !matches!(err, crucible_infer::Error::Cancelled) =>
            {
                not_generated.fetch_add(1, Ordering::Relaxed);
                recorder.event(RunEvent::Note(format!(
                    "task {} sample {sample_idx}: not generated, left missing (re-run the same command to retry it): {err}",
                    task.task.id
                )));
                continue;
            }
            Err(crucible_strategy::Error::Exec(err))
                if failure_kind(&err) != FailureKind::Setup =>
            {
                let message = format!("the strategy run stopped: {err}");
                let trace =
                    json!({"task_id": task.task.id, "sample_idx": sample_idx, "error": message});
                recorder.append_trace(&trace)?;
                let sample = SampleRecord {
                    task_id: task.task.id.clone(),
                    sample_idx,
                    completion: String::new(),
                    solution: Solution::Full(String::new()),
                    tokens: None,
                    gen_ms: None,
                };
                let report = failed_report(Status::JudgeError, message);
                recorder.record_decided(task, sample, report)?;
                continue;
            }
            Err(err) => return Err(err.into()),
        };
        recorder.append_trace(&json!({"sample_idx": sample_idx, "outcome": outcome}))?;
        let code = outcome.code.clone().unwrap_or_default();
        let sample = SampleRecord {
            task_id: task.task.id.clone(),
            sample_idx,
            solution: task.solution_of(&code),
            completion: code,
            tokens: Some(TokenCounts {
                prompt: outcome.usage.prompt_tokens,
                completion: outcome.usage.tokens,
            }),
            gen_ms: Some((outcome.usage.seconds * 1000.0).round() as u64),
        };
        recorder.event(RunEvent::Generated {
            task_id: task.task.id.clone(),
            samples: 1,
            tokens: outcome.usage.tokens as usize,
        });
        recorder.record(task, sample)?;
    }
    Ok(())
}
