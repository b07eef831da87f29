//! Library facade: configuration, backend factory, generate and eval pipelines.
//!
//! The binary talks only to this crate; it re-exports the lower crates it needs so the CLI
//! has one door.

pub mod backend;
pub mod bench;
mod error;
pub mod evaluate;
pub mod grounding;
pub mod judging;
pub mod settings;

pub use crucible_eval as eval;
pub use crucible_exec as exec;
pub use crucible_gguf as gguf;
pub use crucible_infer as infer;
pub use crucible_model as model;
pub use crucible_strategy as strategy;
pub use crucible_types as types;

pub use error::{Error, Result};
pub use settings::{ConfigFile, Settings};
