//! Training-data curation: a streaming, sharded, resumable pipeline over source code.
//!
//! Documents come from directories of source files ([`walk`]), JSON Lines or Parquet
//! ([`input`]); stages drop or change them (language, [`quality`], [`decontam`], [`pii`], exact
//! and [`minhash`] near deduplication); kept documents go out as JSON Lines or Parquet
//! ([`output`]) and every dropped or changed one to a side file with its stage and reason
//! ([`Reject`]). [`pipeline`] runs it all as independent items over a shared directory, so one
//! process, N processes on one machine, or a Slurm or Kubernetes array job give the same bytes.
//!
//! ```no_run
//! use crucible_data::pipeline::{Job, RunParams, Shard, run};
//! # fn main() -> crucible_data::Result<()> {
//! let job = Job {
//!     config: crucible_data::CurateConfig::default(),
//!     inputs: vec!["corpus/".into()],
//!     output: "curated/".into(),
//!     references: Vec::new(), // benchmark prompts and solutions (crucible-core loads them)
//! };
//! let params = RunParams {
//!     shard: Shard::ALL,
//!     stage: None,
//!     threads: 2,
//!     reshard: false,
//!     should_stop: &|| false,
//!     poll: std::time::Duration::from_millis(500),
//!     limits: crucible_data::pipeline::Limits::default(),
//! };
//! let report = run(job, &params)?;
//! println!("{}", report.summary.unwrap());
//! # Ok(()) }
//! ```

pub mod config;
pub mod decontam;
mod doc;
mod error;
pub mod export;
pub mod input;
pub mod lang;
pub mod minhash;
pub mod mutate;
pub mod output;
pub mod pii;
pub mod pipeline;
pub mod quality;
mod records;
pub mod store;
pub mod synth;
pub mod walk;

pub use config::{CurateConfig, Format};
pub use doc::{Action, Document, Reject, Stage};
pub use error::{Error, Result};
