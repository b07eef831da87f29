//! Library facade: configuration, backend factory, and the pipelines behind the commands
//! (`eval`, `score`, `metrics`, `data`, `bench`, `repo_index`, `repo_context`, `complete`, `curate`,
//! `synth`, `export`).
//!
//! The binary talks only to this crate; it re-exports the lower crates it needs so the CLI
//! has one door. Judging itself lives in `crucible_eval::judge`.

pub mod backend;
pub mod bench;
pub mod complete;
pub mod curate;
pub mod data;
mod error;
pub mod evaluate;
pub mod export;
pub mod generate;
pub mod implement;
pub mod metrics;
pub mod recorder;
pub mod repo_context;
pub mod repo_index;
pub mod repobench;
pub mod score;
pub mod settings;
pub mod stopwatch;
pub mod strategy_tools;
pub mod synth;

pub use crucible_data as curation;
pub use crucible_eval as eval;
pub use crucible_exec as exec;
pub use crucible_gguf as gguf;
pub use crucible_index as index;
pub use crucible_infer as infer;
pub use crucible_model as model;
pub use crucible_strategy as strategy;
pub use crucible_types as types;

pub use error::{Error, Result};
pub use settings::{ConfigFile, LoraSpec, Settings};
