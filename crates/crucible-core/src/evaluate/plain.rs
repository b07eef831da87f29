//! Plain decoding for `crucible eval`: each task's missing samples are planned as requests of
//! at most `max_batch` sequences, decoded together with other tasks' through
//! [`Generator::generate_many`] (continuous batching), or one request after another for beam
//! search. Each finished request's samples are stored and queued for judging at once.
//!
//! A request that fails (the backend gave up on it: a server still busy after its retries, a
//! broken connection) is not a verdict: its samples stay missing, a note says why, the other
//! tasks go on, and re-running the command asks for just the missing samples. Only an
//! interruption or a failure to store samples stops the run.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::ControlFlow;
use std::time::Instant;

use crucible_eval::run::{SampleRecord, TokenCounts};
use crucible_eval::{Benchmark, BenchmarkTask};
use crucible_infer::{
    Candidates, Feed, FimTokens, GenRequest, Generation, Generator, Observer, SolveParams,
};

use super::infill::Prepared;
use super::{EvalParams, is_cancelled, missing_indices};
use crate::recorder::{Recorder, RunEvent};
use crate::{Error, Result};

/// Decode every task's missing samples together, up to `max_batch` sequences at once. Returns
/// whether the run was interrupted; `missing` counts the samples whose requests failed.
pub(super) fn generate_batched(
    generator: &mut dyn Generator,
    bench: &Benchmark,
    have: &BTreeSet<(String, usize)>,
    params: &EvalParams,
    recorder: &Recorder<'_>,
    observer: &mut dyn Observer,
    missing: &mut usize,
) -> Result<bool> {
    let fim = generator.fim_tokens();
    let mut feed = SampleFeed::new(bench, have, params, recorder, fim);
    let served = generator.generate_many(&mut feed, params.max_batch.max(1), observer);
    *missing += feed.missing;
    match (feed.error, served) {
        (Some(err), _) if is_cancelled(&err) => Ok(true),
        (Some(err), _) => Err(err),
        (None, Ok(())) => Ok(false),
        (None, Err(crucible_infer::Error::Cancelled)) => Ok(true),
        (None, Err(err)) => Err(err.into()),
    }
}

/// Generate each task's missing samples one request after another (beam search). Returns
/// whether the run was interrupted; `missing` counts the samples whose requests failed.
pub(super) fn generate_one_by_one(
    generator: &mut dyn Generator,
    bench: &Benchmark,
    have: &BTreeSet<(String, usize)>,
    params: &EvalParams,
    recorder: &Recorder<'_>,
    observer: &mut dyn Observer,
    missing: &mut usize,
) -> Result<bool> {
    let fim = generator.fim_tokens();
    for task in &bench.tasks {
        let wanted = missing_indices(have, &task.task.id, params.n);
        for batch in plan_batches(&wanted, params) {
            let prepared = Prepared::new(task, &batch.solve, fim.as_ref());
            let started = Instant::now();
            let out = match generator.generate(prepared.request(), observer) {
                Ok(generation) => prepared.candidates(generation, started.elapsed().as_secs_f64()),
                Err(crucible_infer::Error::Cancelled) => return Ok(true),
                Err(err) => {
                    *missing += not_generated(task, &batch, &err, recorder);
                    continue;
                }
            };
            record_samples(task, batch.records(task, out), recorder)?;
        }
    }
    Ok(false)
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
                solution: task.solution_of(&candidate.code),
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

/// Tell that a request failed and its samples stay missing; returns how many.
fn not_generated(
    task: &BenchmarkTask,
    batch: &SampleBatch,
    err: &crucible_infer::Error,
    recorder: &Recorder<'_>,
) -> usize {
    let samples = batch.keep.len();
    recorder.event(RunEvent::Note(format!(
        "task {}: {samples} sample(s) not generated, left missing (re-run the same command to retry them): {err}",
        task.task.id
    )));
    samples
}

/// Store a task's new samples and queue them for judging.
fn record_samples(
    task: &BenchmarkTask,
    samples: Vec<SampleRecord>,
    recorder: &Recorder<'_>,
) -> Result<()> {
    let tokens = samples
        .iter()
        .map(|sample| sample.tokens.map_or(0, |c| c.completion as usize))
        .sum();
    recorder.event(RunEvent::Generated {
        task_id: task.task.id.clone(),
        samples: samples.len(),
        tokens,
    });
    for sample in samples {
        recorder.record(task, sample)?;
    }
    Ok(())
}

/// The requests of a plain-decoding eval for [`Generator::generate_many`]: each task's batches
/// in benchmark order, built when the generator has room; finished ones are stored and judged
/// at once. A request that fails leaves its samples missing; a failure to store samples stops
/// the run.
struct SampleFeed<'a> {
    pending: std::vec::IntoIter<(&'a BenchmarkTask, SampleBatch)>,
    in_flight: BTreeMap<usize, (&'a BenchmarkTask, SampleBatch, Prepared, Instant)>,
    /// The model's fill-in-the-middle tokens, for infilling tasks.
    fim: Option<FimTokens>,
    given: usize,
    recorder: &'a Recorder<'a>,
    error: Option<Error>,
    /// Samples whose requests failed.
    missing: usize,
}

impl<'a> SampleFeed<'a> {
    fn new(
        bench: &'a Benchmark,
        have: &BTreeSet<(String, usize)>,
        params: &EvalParams,
        recorder: &'a Recorder<'a>,
        fim: Option<FimTokens>,
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
            fim,
            given: 0,
            recorder,
            error: None,
            missing: 0,
        }
    }
}

impl Feed for SampleFeed<'_> {
    fn next_request(&mut self, _wait: bool) -> Option<GenRequest> {
        let (task, batch) = self.pending.next()?;
        let prepared = Prepared::new(task, &batch.solve, self.fim.as_ref());
        let request = prepared.request().clone();
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
        let generation = match result {
            Ok(generation) => generation,
            Err(crucible_infer::Error::Cancelled) => {
                self.error = Some(Error::Infer(crucible_infer::Error::Cancelled));
                return ControlFlow::Break(());
            }
            Err(err) => {
                self.missing += not_generated(task, &batch, &err, self.recorder);
                return ControlFlow::Continue(());
            }
        };
        let out = prepared.candidates(generation, started.elapsed().as_secs_f64());
        let stored = record_samples(task, batch.records(task, out), self.recorder);
        match stored {
            Ok(()) => ControlFlow::Continue(()),
            Err(err) => {
                self.error = Some(err);
                ControlFlow::Break(())
            }
        }
    }
}
