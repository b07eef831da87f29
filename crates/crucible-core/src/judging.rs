//! Judging samples on a benchmark's hidden tests in the sandbox: the executor, per-task time
//! limits from cached reference timings (the EvalPlus rule), and the pool that runs judgements
//! concurrently. Shared by `crucible eval` and `crucible score`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crucible_eval::run::{ResultRecord, SampleRecord};
use crucible_eval::score::{judge_requests, result_from_reports};
use crucible_eval::{Benchmark, BenchmarkTask, ReferenceTimes, TimeLimitPolicy, measure_reference};
use crucible_exec::{
    CpuPriority, ExecConfig, ExecPool, ExecReport, ExecRequest, Executor, Isolation, Limits, Ticket,
};

use crate::{Error, Result};

/// How samples are judged.
#[derive(Debug, Clone, Serialize)]
pub struct JudgeParams {
    /// Per-task CPU time limit: max(minimum, factor x reference CPU time).
    pub policy: TimeLimitPolicy,
    /// Memory limit per run.
    pub memory_bytes: u64,
    /// Programs judged at once.
    pub jobs: usize,
    /// Also run the visible tests (for n@k with the visible-test filter).
    pub visible: bool,
    /// `false` runs without the sandbox (only on explicit request; reports say so).
    pub sandboxed: bool,
    /// Run judged programs at idle CPU priority, so they never slow down decoding.
    pub idle_priority: bool,
}

/// An executor for `CRUCIBLE_HOME`, with the compile cache in `cache/exec`.
pub fn executor(home: &Path, sandboxed: bool, idle_priority: bool) -> Result<Executor> {
    let mut config = ExecConfig::new(&home.join("cache/exec"));
    if !sandboxed {
        config.isolation = Isolation::None;
    }
    if idle_priority {
        config.priority = CpuPriority::Idle;
    }
    Executor::new(&config).map_err(|err| Error::Exec(Box::new(err)))
}

/// The judging side of a run: a pool over the sandboxed executor and each task's time limit.
pub struct Judging {
    pool: Arc<ExecPool>,
    executor: Arc<Executor>,
    time_limits: BTreeMap<String, Duration>,
    params: JudgeParams,
}

impl std::fmt::Debug for Judging {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Judging")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

/// A judgement in flight: the base (and visible) runs are queued; the costly EvalPlus plus run
/// is queued only once the base run passes, since a base failure decides the plus verdict too.
pub struct Pending {
    sample: SampleRecord,
    base: Ticket,
    plus: Option<ExecRequest>,
    visible: Option<Ticket>,
    pool: Arc<ExecPool>,
}

/// A judgement whose base verdict is in; the plus run, if any, may still be running.
pub struct BaseJudged {
    sample: SampleRecord,
    base: ExecReport,
    visible: Option<ExecReport>,
    /// `None`: the benchmark has no plus tier; `Some(None)`: base failed, so plus is not run.
    plus: Option<Option<Ticket>>,
}

impl Judging {
    /// Start the executor and compute every task's time limit. Reference solutions not yet
    /// timed on this machine are measured once and cached in
    /// `CRUCIBLE_HOME/cache/reference-times/`; `progress` hears about it.
    pub fn new(
        home: &Path,
        bench: &Benchmark,
        params: JudgeParams,
        progress: &mut dyn FnMut(&str),
    ) -> Result<Judging> {
        let executor = Arc::new(executor(home, params.sandboxed, params.idle_priority)?);
        let times = reference_times(&executor, bench, home, params.memory_bytes, progress)?;
        let time_limits = bench
            .tasks
            .iter()
            .map(|task| {
                let limit = params.policy.limit(times.get(&task.task.id));
                (task.task.id.clone(), limit)
            })
            .collect();
        Ok(Judging {
            pool: Arc::new(ExecPool::new(Arc::clone(&executor), params.jobs.max(1))),
            executor,
            time_limits,
            params,
        })
    }

    /// The executor (strategies run visible tests with it).
    pub fn executor(&self) -> &Arc<Executor> {
        &self.executor
    }

    /// Per-task time limits in milliseconds, for the summary.
    pub fn time_limits_ms(&self) -> BTreeMap<String, u64> {
        self.time_limits
            .iter()
            .map(|(id, limit)| (id.clone(), limit.as_millis() as u64))
            .collect()
    }

    /// The limits a task's programs run under.
    pub fn limits(&self, task_id: &str) -> Limits {
        let cpu = self
            .time_limits
            .get(task_id)
            .copied()
            .unwrap_or(self.params.policy.minimum);
        Limits::new(cpu, self.params.memory_bytes)
    }

    /// Queue `sample` of `task` for judging.
    pub fn submit(&self, task: &BenchmarkTask, sample: SampleRecord) -> Result<Pending> {
        let requests = judge_requests(
            task,
            &sample,
            self.limits(&task.task.id),
            self.params.visible,
        )?;
        Ok(Pending {
            base: self.pool.submit(requests.base),
            plus: requests.plus,
            visible: requests.visible.map(|r| self.pool.submit(r)),
            pool: Arc::clone(&self.pool),
            sample,
        })
    }
}

impl Pending {
    /// Wait for all verdicts and combine them into the result line.
    pub fn wait(self) -> Result<ResultRecord> {
        self.wait_base()?.wait()
    }

    /// Wait for the base and visible verdicts; queue the plus run if the base run passed.
    pub fn wait_base(self) -> Result<BaseJudged> {
        let context = judge_error(&self.sample);
        let base = self.base.wait().map_err(context)?;
        let visible = self
            .visible
            .map(Ticket::wait)
            .transpose()
            .map_err(judge_error(&self.sample))?;
        let pool = self.pool;
        let plus = self
            .plus
            .map(|request| base.status.is_pass().then(|| pool.submit(request)));
        Ok(BaseJudged {
            sample: self.sample,
            base,
            visible,
            plus,
        })
    }

    /// The sample being judged.
    pub fn sample(&self) -> &SampleRecord {
        &self.sample
    }
}

impl BaseJudged {
    /// Wait for the plus verdict (if one runs) and combine everything into the result line.
    pub fn wait(self) -> Result<ResultRecord> {
        let plus = match self.plus {
            None => None,
            Some(None) => Some(None),
            Some(Some(ticket)) => Some(Some(ticket.wait().map_err(judge_error(&self.sample))?)),
        };
        Ok(result_from_reports(
            &self.sample,
            &self.base,
            plus.as_ref().map(Option::as_ref),
            self.visible.as_ref(),
        ))
    }
}

/// Names the sample in an executor error.
fn judge_error(sample: &SampleRecord) -> impl Fn(crucible_exec::Error) -> Error + '_ {
    move |err| Error::Judge {
        task_id: sample.task_id.clone(),
        source: Box::new(err),
    }
}

/// Where reference timings of a benchmark are cached.
fn reference_times_path(home: &Path, bench: &Benchmark) -> PathBuf {
    home.join("cache/reference-times").join(format!(
        "{}-{}.json",
        bench.name.as_str(),
        bench.language.name()
    ))
}

/// Reference CPU times for the benchmark's tasks, measured once per machine and cached.
fn reference_times(
    executor: &Executor,
    bench: &Benchmark,
    home: &Path,
    memory: u64,
    progress: &mut dyn FnMut(&str),
) -> Result<ReferenceTimes> {
    let path = reference_times_path(home, bench);
    let mut times = ReferenceTimes::load(&path)?.unwrap_or_else(|| ReferenceTimes {
        benchmark: format!("{}-{}", bench.name.as_str(), bench.language.name()),
        cpu_ms: BTreeMap::new(),
        failed: BTreeMap::new(),
    });
    let missing: Vec<_> = bench
        .tasks
        .iter()
        .filter(|t| {
            t.reference.is_some()
                && !times.cpu_ms.contains_key(&t.task.id)
                && !times.failed.contains_key(&t.task.id)
        })
        .collect();
    if missing.is_empty() {
        let failed = bench
            .tasks
            .iter()
            .filter(|t| times.failed.contains_key(&t.task.id))
            .count();
        if failed > 0 {
            tracing::info!(
                "{failed} reference solutions failed their own tests when timed (listed in {}; delete it to time them again); those tasks get the minimum time limit",
                path.display()
            );
        }
        return Ok(times);
    }
    progress(&format!(
        "measuring {} reference solutions for time limits (once per machine)",
        missing.len()
    ));
    let generous = Limits::new(Duration::from_secs(60), memory);
    for task in missing {
        match measure_reference(executor, task, generous) {
            Ok(Some(time)) => {
                times
                    .cpu_ms
                    .insert(task.task.id.clone(), time.as_millis() as u64);
            }
            Ok(None) => {}
            Err(err) => {
                tracing::warn!("{err}; the task gets the minimum time limit");
                times.failed.insert(task.task.id.clone(), err.to_string());
            }
        }
    }
    times.save(&path)?;
    Ok(times)
}
