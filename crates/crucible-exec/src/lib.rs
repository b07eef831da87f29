//! Sandboxed execution of untrusted programs with limits and structured verdicts.

mod error;
mod limits;
pub mod sandbox;

pub use error::{Error, Result};
pub use limits::{CpuPriority, Limits};
