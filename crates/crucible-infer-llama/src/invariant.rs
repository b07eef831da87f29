//! Batch-invariant mode (`LlamaConfig::batch_invariant`): llama.cpp set up so that a position's
//! logits are the same bits whether computed in a one-token step or inside a batch of any size,
//! which makes greedy speculation give exactly plain greedy decoding's tokens (issue 21).
//!
//! With its defaults, llama.cpp's CPU backend picks kernels by batch size, and their sums run in
//! different orders (docs/PERFORMANCE.md, "Speculative decoding"):
//! - weights in an "extra buffer type" are repacked at load (Q4_K into rows of eight on AVX2),
//!   and multiplied by a matrix-vector kernel for fewer than four tokens and a matrix-matrix one
//!   from four on;
//! - other K-quant weights (Q6_K on x86) take the tiled matrix product (`ggml-cpu/tiled`) from
//!   eight tokens on, and the dot-product loop below that;
//! - attention over an F16 cache splits the cache between threads for one token and tiles the
//!   queries for many.
//!
//! The mode turns each off: the model is loaded without extra buffer types (the weights stay as
//! the file has them), the tiled product is switched off (`GGML_CPU_TILED_MM=0`, which ggml reads
//! once per process), and attention runs as flash attention over a Q8_0 cache, for which ggml
//! has only the kernel that walks each query row alone. What stays batch-dependent sums the same
//! way for every batch size on this CPU: the dot-product loop, and llamafile's Q8_0/Q5_0 products
//! from two tokens on. The `exact` integration test checks the bits for batches of 1 to 16.

use std::ffi::CString;
use std::path::Path;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, Ordering};

use llama_cpp_2::context::params::{KvCacheType, LlamaContextParams};
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::model::params::LlamaModelParams;

use crucible_infer::Error;
use crucible_types::env::GGML_CPU_TILED_MM;

use crate::backend_error;

/// Whether a model was loaded in this process without the mode, while ggml's tiled product was
/// still on: ggml may then have read its switch already, and turning it off would be too late.
static LOADED_WITHOUT: AtomicBool = AtomicBool::new(false);

/// Load the GGUF at `path`, batch-invariantly or with llama.cpp's defaults.
pub(crate) fn load_model(
    backend: &LlamaBackend,
    path: &Path,
    batch_invariant: bool,
) -> Result<LlamaModel, String> {
    if !batch_invariant {
        if !tiled_off() {
            LOADED_WITHOUT.store(true, Ordering::Relaxed);
        }
        return LlamaModel::load_from_file(backend, path, &LlamaModelParams::default())
            .map_err(|err| err.to_string());
    }
    let path = path
        .to_str()
        .and_then(|path| CString::new(path).ok())
        .ok_or_else(|| "the path is not valid UTF-8 without NUL bytes".to_owned())?;
    load_without_repacking(&path)
}

/// llama.cpp's default model parameters but `use_extra_bufts`, which llama-cpp-2 0.1.160 does
/// not expose: the model is loaded through the raw API and handed to llama-cpp-2 as its own.
#[expect(
    unsafe_code,
    reason = "llama-cpp-2 has no setter for use_extra_bufts: the raw llama.cpp loader"
)]
fn load_without_repacking(path: &CString) -> Result<LlamaModel, String> {
    // SAFETY: `llama_model_default_params` only fills a struct; `path` is a NUL-terminated
    // string that outlives the call, and the backend is initialised (the caller holds it).
    let raw = unsafe {
        let mut params = llama_cpp_sys_2::llama_model_default_params();
        params.use_extra_bufts = false;
        llama_cpp_sys_2::llama_model_load_from_file(path.as_ptr(), params)
    };
    let raw = NonNull::new(raw).ok_or_else(|| "llama.cpp could not load it".to_owned())?;
    // SAFETY: `LlamaModel` is `#[repr(transparent)]` over llama-cpp-2's `Ptr`, itself
    // `#[repr(transparent)]` over `NonNull<llama_model>` (llama-cpp-2 is pinned to =0.1.160 in
    // the workspace; a new version must be checked again). The pointer is a model just loaded
    // and owned by nobody else, as `LlamaModel::load_from_file` makes it; its `Drop` frees it.
    Ok(unsafe { std::mem::transmute::<NonNull<llama_cpp_sys_2::llama_model>, LlamaModel>(raw) })
}

/// Whether ggml's tiled matrix product is switched off in this process's environment.
fn tiled_off() -> bool {
    std::env::var_os(GGML_CPU_TILED_MM).is_some_and(|value| value == "0")
}

/// Switch ggml's tiled matrix product off for this process, before any matrix product of a
/// batch-invariant model. ggml reads `GGML_CPU_TILED_MM` once, at its first product of the
/// process: a process that loaded a model without the mode first may have read it, so the mode
/// is refused there unless the variable was set to 0 from the start.
#[expect(
    unsafe_code,
    reason = "ggml's switch is an environment variable read in C"
)]
pub(crate) fn switch_off_tiled_products() -> Result<(), Error> {
    if tiled_off() {
        return Ok(());
    }
    if LOADED_WITHOUT.load(Ordering::Relaxed) {
        return Err(backend_error(format!(
            "batch-invariant mode needs llama.cpp's tiled matrix product off, which it reads once per process, and a model without the mode was loaded before; load the batch-invariant model first, or start the process with `{GGML_CPU_TILED_MM}=0`"
        )));
    }
    // SAFETY: `set_var` is unsound while another thread reads or writes the environment. It
    // runs once per process, when the first batch-invariant model loads, before any llama.cpp
    // computation; Crucible's commands load their model before they start worker threads.
    // Processes that cannot promise that set the variable themselves and skip this.
    unsafe { std::env::set_var(GGML_CPU_TILED_MM, "0") };
    tracing::debug!("switched llama.cpp's tiled matrix product off (batch-invariant mode)");
    Ok(())
}

/// Context parameters of batch-invariant mode: flash attention over a Q8_0 KV cache.
pub(crate) fn context_params(params: LlamaContextParams) -> LlamaContextParams {
    params
        .with_flash_attention_policy(llama_cpp_sys_2::LLAMA_FLASH_ATTN_TYPE_ENABLED)
        .with_type_k(KvCacheType::Q8_0)
        .with_type_v(KvCacheType::Q8_0)
}
