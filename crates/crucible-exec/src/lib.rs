//! Sandboxed execution of untrusted programs with limits and structured verdicts.
//!
//! [`Executor::run`] takes an [`ExecRequest`] (language, source, tests, limits) and returns an
//! [`ExecReport`]: the verdict, per-test outcomes, compile and run times, peak memory and the
//! first failure's details; [`ExecReport::render_feedback`] turns it into compact text for a
//! repair prompt. [`ExecPool`] runs many requests concurrently with bounded parallelism.
//!
//! Every compiler and program runs in fresh namespaces under cgroup limits and a seccomp
//! filter (see the README's "Sandbox" section); Python runs in warm sandboxed workers whose
//! tests are driven from a separate process; appended tests of the other languages run in a
//! driver in its own sandbox that calls the program through proxies ([`test_placement`] says
//! when they cannot), and need an unforgeable proof of completion to pass (see the `harness`
//! module). [`Executor::run_package_tests`] runs a package's own pytest suite over a copy of
//! its tree, the judge of function-level completion.

mod compare;
mod error;
mod executor;
mod harness;
mod limits;
mod package_tests;
mod pool;
mod python;
mod report;
mod runner;
pub mod sandbox;
mod toolchain;

pub use error::{Error, Result};
pub use executor::{ExecConfig, ExecRequest, Executor, default_limits};
pub use harness::split::{TestPlacement, test_placement};
pub use limits::{CpuPriority, Limits};
pub use package_tests::{PackageTestReport, PackageTestRequest, TestResult};
pub use pool::{ExecPool, Ticket};
pub use report::{ExecReport, Failure};
pub use runner::LangOptions;
pub use sandbox::Isolation;
