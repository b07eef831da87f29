//! Crucible's shared vocabulary: languages, tasks, decoding parameters and verdicts.
//!
//! This crate does no IO and knows nothing about models, sandboxes or benchmarks. Every other crate
//! speaks in these types, so they are kept small and stable.

mod decoding;
pub mod env;
pub mod format;
mod language;
mod task;
mod verdict;

pub use decoding::{Decoding, DecodingError, GenParams, SamplingParams};
pub use language::{Language, UnknownLanguage};
pub use task::{CallCase, Compare, IoCase, Task, TaskError, TaskKind, TestSuite};
pub use verdict::{Status, TestOutcome};
