//! Benchmarks (loaders, visible/hidden split), pass@k metrics, results and reports.

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
    Benchmark, BenchmarkTask, Harness, HiddenTests, HumanEvalXParts, Judge, Reject, Solution,
};
