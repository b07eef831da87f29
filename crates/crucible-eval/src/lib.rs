//! Benchmarks (loaders, visible/hidden split), pass@k metrics, results and reports.
//!
//! The flow of an evaluation:
//!
//! ```no_run
//! use std::time::Duration;
//! use crucible_eval::run::{ResultRecord, RunDir, SampleRecord, SummaryParams, summarize};
//! use crucible_eval::score::{judge_requests, result_from_reports};
//! use crucible_eval::{BenchmarkName, DataDirs, LoadParams, Solution, load_benchmark, report};
//! use crucible_exec::{ExecConfig, Executor, Limits};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dirs = DataDirs::resolve(None, None, &std::env::current_dir()?, None);
//! let bench = load_benchmark(&BenchmarkName::HumanEval, &LoadParams { dirs: &dirs, language: None })?;
//! let executor = Executor::new(&ExecConfig::new("/tmp/exec-cache".as_ref()))?;
//! let config = serde_json::json!({"model": "m.gguf", "n": 1});
//! let (mut run, state) = RunDir::open("runs/he".as_ref(), &config, false)?;
//! for task in &bench.tasks {
//!     // Generation sees only `task.task` (prompt and visible tests).
//!     let text = String::from("    return 0\n"); // the model's answer
//!     let sample = SampleRecord {
//!         task_id: task.task.id.clone(),
//!         sample_idx: 0,
//!         solution: Solution::infer(&task.task, &text),
//!         completion: text,
//!         tokens: None,
//!         gen_ms: None,
//!     };
//!     if state.done().contains(&(sample.task_id.clone(), 0)) {
//!         continue;
//!     }
//!     run.append_sample(&sample)?;
//!     let limits = Limits::new(Duration::from_secs(3), 1 << 30);
//!     let requests = judge_requests(task, &sample, limits, true)?;
//!     let base = executor.run(&requests.base)?;
//!     let plus = match requests.plus { Some(r) if base.status.is_pass() => Some(Some(executor.run(&r)?)), Some(_) => Some(None), None => None };
//!     let visible = requests.visible.map(|r| executor.run(&r)).transpose()?;
//!     let result = result_from_reports(&sample, &base, plus.as_ref().map(|p| p.as_ref()), visible.as_ref());
//!     run.append_result(&result)?;
//! }
//! let (results, _) = crucible_eval::run::read_records::<ResultRecord>(&run.path().join("results.jsonl"))?;
//! # let params: SummaryParams = todo!();
//! let summary = summarize(&results, &params);
//! run.write_summary(&summary)?;
//! # let samples = vec![];
//! run.write_report(&report::render_html(&summary, &results, &samples))?;
//! print!("{}", report::render_table(&summary));
//! # Ok(()) }
//! ```

mod assemble;
mod benchmark;
pub mod doctest;
mod error;
pub mod fetch;
mod judge;
pub mod load;
pub mod metrics;
mod pyjson;
mod pylit;
pub mod report;
pub mod run;
pub mod score;
mod task;

pub use assemble::{JudgeProgram, assemble};
pub use benchmark::{BenchmarkInfo, BenchmarkName, DataDirs, ENV_DATA};
pub use error::{Error, Result};
pub use judge::{ReferenceTimes, TimeLimitPolicy, measure_reference, run_judge};
pub use load::{LoadParams, load_benchmark};
pub use task::{
    Benchmark, BenchmarkTask, Harness, HiddenTests, HumanEvalXParts, Reject, Solution, TestTier,
};
