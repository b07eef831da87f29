//! The judging side of a run: the sandboxed executor for `CRUCIBLE_HOME`, each task's limits,
//! and a pool that judges samples concurrently while generation goes on.
//!
//! A judgement never fails for the sample's sake: a run that could not happen is tried once
//! more, then recorded as a verdict ([`super::verdicts`]). Only the machine's setup (a missing
//! toolchain) ends a judgement with an error.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use crucible_exec::{
    CpuPriority, ExecConfig, ExecPool, ExecReport, ExecRequest, Executor, Isolation, Limits, Ticket,
};
use crucible_types::Language;
use serde::Serialize;

use super::limits::{TaskLimits, TimeLimitPolicy};
use super::verdicts::{failed_report, judge_requests, result_from_reports};
use crate::run::{ResultRecord, SampleRecord};
use crate::task::{Benchmark, BenchmarkTask};
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

/// An executor for `CRUCIBLE_HOME` (`home`), with the compile cache in `cache/exec`.
pub fn executor(home: &Path, sandboxed: bool, idle_priority: bool) -> Result<Executor> {
    let mut config = ExecConfig::new(&home.join("cache/exec"));
    if !sandboxed {
        config.isolation = Isolation::None;
    }
    if idle_priority {
        config.priority = CpuPriority::Idle;
    }
    Executor::new(&config).map_err(|err| Error::Executor(Box::new(err)))
}

/// The executor for [`Judging`], made on a thread of its own while the caller does other
/// work (reads samples, opens the run directory): making it runs the sandbox probe, and for a
/// Python benchmark it starts one warm Python worker per job, whose interpreters boot
/// meanwhile instead of when the first programs are judged.
#[derive(Debug)]
pub struct StartingExecutor(std::thread::JoinHandle<Result<Executor>>);

impl StartingExecutor {
    pub fn start(home: &Path, params: &JudgeParams, language: Language) -> StartingExecutor {
        let (home, params) = (home.to_owned(), params.clone());
        StartingExecutor(std::thread::spawn(move || {
            let executor = executor(&home, params.sandboxed, params.idle_priority)?;
            if language == Language::Python {
                // Benchmark tests are the judge's own: the workers that run them.
                executor.warm_python(params.jobs.max(1), true);
            }
            Ok(executor)
        }))
    }

    pub fn join(self) -> Result<Arc<Executor>> {
        match self.0.join() {
            Ok(executor) => executor.map(Arc::new),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

/// A pool over the sandboxed executor, with each task's limits.
pub struct Judging {
    pool: Arc<ExecPool>,
    executor: Arc<Executor>,
    limits: TaskLimits,
    params: JudgeParams,
}

impl std::fmt::Debug for Judging {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Judging")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

/// One run of a judgement: queued on the pool, or decided without running.
enum Run {
    Queued {
        /// Kept to run again once if the first run could not happen.
        request: ExecRequest,
        ticket: Ticket,
    },
    Decided(ExecReport),
}

/// A judgement in flight: the base (and visible) runs are queued; the costly EvalPlus plus run
/// is queued only once the base run passes, since a base failure decides the plus verdict too.
pub struct Pending {
    sample: SampleRecord,
    base: Run,
    /// `None`: the benchmark has no plus tier; `Some(None)`: it has, but the verdict is decided.
    plus: Option<Option<ExecRequest>>,
    visible: Option<Run>,
    pool: Arc<ExecPool>,
}

/// A judgement whose base verdict is in; the plus run, if any, may still be running.
pub struct BaseJudged {
    sample: SampleRecord,
    base: ExecReport,
    visible: Option<ExecReport>,
    /// `None`: the benchmark has no plus tier; `Some(None)`: base failed, so plus is not run.
    plus: Option<Option<Run>>,
    pool: Arc<ExecPool>,
}

impl Judging {
    /// Start the executor and compute every task's limits. Reference solutions not yet timed on
    /// this machine are measured once and cached in `home/cache/reference-times/`; `progress`
    /// hears about it.
    pub fn new(
        home: &Path,
        bench: &Benchmark,
        params: JudgeParams,
        progress: &mut dyn FnMut(&str),
    ) -> Result<Judging> {
        let executor = Arc::new(executor(home, params.sandboxed, params.idle_priority)?);
        Judging::with_executor(executor, bench, home, params, progress)
    }

    /// [`Judging::new`] on an executor made already ([`StartingExecutor`]).
    pub fn with_executor(
        executor: Arc<Executor>,
        bench: &Benchmark,
        home: &Path,
        params: JudgeParams,
        progress: &mut dyn FnMut(&str),
    ) -> Result<Judging> {
        let limits = TaskLimits::measure(
            &executor,
            bench,
            home,
            params.policy,
            params.memory_bytes,
            progress,
        )?;
        Ok(Judging {
            pool: Arc::new(ExecPool::new(Arc::clone(&executor), params.jobs.max(1))),
            executor,
            limits,
            params,
        })
    }

    /// The executor (strategies run visible tests with it).
    pub fn executor(&self) -> &Arc<Executor> {
        &self.executor
    }

    /// Per-task time limits in milliseconds, for the summary.
    pub fn time_limits_ms(&self) -> BTreeMap<String, u64> {
        self.limits.cpu_ms()
    }

    /// The parameters judging runs with.
    pub fn params(&self) -> &JudgeParams {
        &self.params
    }

    /// The limits a task's programs run under.
    pub fn limits(&self, task_id: &str) -> Limits {
        self.limits.limits(task_id)
    }

    /// Queue `sample` of `task` for judging. A program that cannot be assembled is a
    /// `judge_error`, decided here.
    pub fn submit(&self, task: &BenchmarkTask, sample: SampleRecord) -> Pending {
        let limits = self.limits(&task.task.id);
        let requests = match judge_requests(task, &sample, limits, self.params.visible) {
            Ok(requests) => requests,
            Err(err) => {
                let message = format!("the judge could not assemble this program: {err}");
                let report = failed_report(crucible_types::Status::JudgeError, message);
                return self.decided(task, sample, report);
            }
        };
        let queue = |request: ExecRequest| Run::Queued {
            ticket: self.pool.submit(request.clone()),
            request,
        };
        Pending {
            base: queue(requests.base),
            plus: task.hidden.plus.as_ref().map(|_| requests.plus),
            visible: requests.visible.map(queue),
            pool: Arc::clone(&self.pool),
            sample,
        }
    }

    /// A judgement whose verdict is known without running anything (say, a strategy run that
    /// ended without a program because the judge failed): `report` stands for every tier.
    pub fn decided(
        &self,
        task: &BenchmarkTask,
        sample: SampleRecord,
        report: ExecReport,
    ) -> Pending {
        Pending {
            sample,
            base: Run::Decided(report),
            plus: task.hidden.plus.as_ref().map(|_| None),
            visible: None,
            pool: Arc::clone(&self.pool),
        }
    }
}

impl Run {
    /// The report of this run, by the judging rule ([`super::settle`]): a run that could not
    /// happen is queued once more; if it fails again, its failure becomes the report, unless
    /// the machine's setup is at fault.
    fn wait(self, pool: &ExecPool, task_id: &str) -> Result<ExecReport> {
        let (request, ticket) = match self {
            Run::Decided(report) => return Ok(report),
            Run::Queued { request, ticket } => (request, ticket),
        };
        super::settle(ticket.wait(), task_id, || pool.submit(request).wait())
    }
}

impl Pending {
    /// Wait for all verdicts and combine them into the result line.
    pub fn wait(self) -> Result<ResultRecord> {
        self.wait_base()?.wait()
    }

    /// Wait for the base and visible verdicts; queue the plus run if the base run passed.
    pub fn wait_base(self) -> Result<BaseJudged> {
        let task_id = self.sample.task_id.as_str();
        let base = self.base.wait(&self.pool, task_id)?;
        let visible = match self.visible {
            Some(run) => Some(run.wait(&self.pool, task_id)?),
            None => None,
        };
        let pool = self.pool;
        let plus = self.plus.map(|request| {
            request
                .filter(|_| base.status.is_pass())
                .map(|request| Run::Queued {
                    ticket: pool.submit(request.clone()),
                    request,
                })
        });
        Ok(BaseJudged {
            sample: self.sample,
            base,
            visible,
            plus,
            pool,
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
            Some(Some(run)) => Some(Some(run.wait(&self.pool, &self.sample.task_id)?)),
        };
        Ok(result_from_reports(
            &self.sample,
            &self.base,
            plus.as_ref().map(Option::as_ref),
            self.visible.as_ref(),
        ))
    }

    /// The sample being judged.
    pub fn sample(&self) -> &SampleRecord {
        &self.sample
    }
}
