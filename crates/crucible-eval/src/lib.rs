//! Benchmarks (loaders, visible/hidden split), pass@k metrics, results and reports.
//!
//! The flow of an evaluation:
//!
//! ```no_run
//! use std::time::Duration;
//! use crucible_eval::judge::{JudgeParams, Judging, TimeLimitPolicy};
//! use crucible_eval::run::{ResultRecord, RunDir, SampleRecord, SummaryParams, summarize};
//! use crucible_eval::{BenchmarkName, DataDirs, LoadParams, Solution, load_benchmark, report};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dirs = DataDirs::resolve(None, None, &std::env::current_dir()?, None);
//! let bench = load_benchmark(&BenchmarkName::HumanEval, &LoadParams { dirs: &dirs, language: None })?;
//! let params = JudgeParams {
//!     policy: TimeLimitPolicy { minimum: Duration::from_secs(3), factor: 4.0 },
//!     memory_bytes: 1 << 30,
//!     jobs: 2,
//!     visible: false,
//!     sandboxed: true,
//!     idle_priority: false,
//! };
//! // Starts the sandboxed executor and times the reference solutions (once per machine).
//! let judging = Judging::new("/tmp/crucible-home".as_ref(), &bench, params, &mut |_| {})?;
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
//!     // Whatever the sample holds, this is a verdict (a judge failure is `judge_error`).
//!     let result = judging.submit(task, sample).wait()?;
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

mod benchmark;
pub mod catalog;
pub mod codenet;
pub mod compare;
pub mod doctest;
mod error;
pub mod fetch;
pub mod judge;
pub mod load;
pub mod metrics;
pub mod peer_results;
mod pyjson;
mod pylit;
pub mod report;
pub mod run;
pub mod score;
pub mod stats;
mod task;

pub use benchmark::{BenchmarkInfo, BenchmarkName, DataDirs, InfillSplit};
pub use error::{Error, Result};
pub use judge::{
    JudgeProgram, ReferenceTimes, TimeLimitPolicy, assemble, measure_reference, run_judge,
};
pub use load::{LoadParams, load_benchmark};
pub use task::{
    Benchmark, BenchmarkTask, Harness, HiddenTests, HumanEvalXParts, Reject, Solution, TestTier,
};
