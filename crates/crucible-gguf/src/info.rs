//! Facts derived from the metadata: architecture, size, quantisation, context, chat template.

use std::collections::BTreeMap;

use crate::file::Gguf;
use crate::ggml::{FileType, GgmlType};

/// What a model is, as far as its GGUF metadata says. Every field but the counts is optional
/// because writers omit keys.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ModelInfo {
    /// `general.name`.
    pub name: Option<String>,
    /// `general.architecture`.
    pub architecture: Option<String>,
    /// Sum of the element counts of all tensors.
    pub parameter_count: u64,
    /// Number of tensors.
    pub tensor_count: usize,
    /// `general.file_type`: the quantisation recipe, such as `Q4_K_M`.
    pub file_type: Option<FileType>,
    /// The tensor type holding the most elements, such as `Q4_K` in a `Q4_K_M` file.
    pub dominant_tensor_type: Option<GgmlType>,
    /// `<arch>.context_length`: the context the model was trained for, in tokens.
    pub context_length: Option<u64>,
    /// `<arch>.embedding_length`.
    pub embedding_length: Option<u64>,
    /// `<arch>.block_count`: the number of layers.
    pub block_count: Option<u64>,
    /// `<arch>.attention.head_count`.
    pub head_count: Option<u64>,
    /// `<arch>.attention.head_count_kv`.
    pub head_count_kv: Option<u64>,
    /// `<arch>.vocab_size`, else the length of `tokenizer.ggml.tokens`.
    pub vocab_size: Option<u64>,
    /// `tokenizer.chat_template`: a Jinja template.
    pub chat_template: Option<String>,
    /// `tokenizer.ggml.bos_token_id`.
    pub bos_token_id: Option<u64>,
    /// `tokenizer.ggml.eos_token_id`.
    pub eos_token_id: Option<u64>,
    /// GGUF format version.
    pub gguf_version: u32,
    /// The size of the file in bytes.
    pub file_size: u64,
}

impl ModelInfo {
    pub(crate) fn from_gguf(gguf: &Gguf) -> ModelInfo {
        let file_type = gguf
            .get_u64("general.file_type")
            .and_then(|id| u32::try_from(id).ok())
            .map(FileType);
        let vocab_size = gguf.arch_u64("vocab_size").or_else(|| {
            let tokens = gguf.get("tokenizer.ggml.tokens")?.as_array()?;
            Some(tokens.len() as u64)
        });
        ModelInfo {
            name: gguf.get_str("general.name").map(str::to_owned),
            architecture: gguf.architecture().map(str::to_owned),
            parameter_count: gguf.parameter_count(),
            tensor_count: gguf.tensors.len(),
            file_type,
            dominant_tensor_type: dominant_tensor_type(gguf),
            context_length: gguf.arch_u64("context_length"),
            embedding_length: gguf.arch_u64("embedding_length"),
            block_count: gguf.arch_u64("block_count"),
            head_count: gguf.arch_u64("attention.head_count"),
            head_count_kv: gguf.arch_u64("attention.head_count_kv"),
            vocab_size,
            chat_template: gguf.get_str("tokenizer.chat_template").map(str::to_owned),
            bos_token_id: gguf.get_u64("tokenizer.ggml.bos_token_id"),
            eos_token_id: gguf.get_u64("tokenizer.ggml.eos_token_id"),
            gguf_version: gguf.version,
            file_size: gguf.file_size,
        }
    }

    /// The quantisation to show: the file type's name (`Q4_K_M`) when the file declares a known
    /// one, else the dominant tensor type (`Q4_K`).
    pub fn quantization(&self) -> Option<String> {
        let declared = self
            .file_type
            .filter(|file_type| file_type.name().is_some());
        match (declared, self.dominant_tensor_type) {
            (Some(file_type), _) => Some(file_type.to_string()),
            (None, Some(tensor_type)) => Some(tensor_type.to_string()),
            (None, None) => None,
        }
    }
}

/// The tensor type with the most elements; ties go to the lower type id.
fn dominant_tensor_type(gguf: &Gguf) -> Option<GgmlType> {
    let mut elements_by_type: BTreeMap<GgmlType, u64> = BTreeMap::new();
    for tensor in &gguf.tensors {
        let total = elements_by_type.entry(tensor.ggml_type).or_default();
        *total = total.saturating_add(tensor.elements);
    }
    elements_by_type
        .into_iter()
        .rev()
        .max_by_key(|(_, elements)| *elements)
        .map(|(ggml_type, _)| ggml_type)
}

/// A count for humans: `494.0M`, `1.5B`, `7.2K`.
pub fn human_count(count: u64) -> String {
    const UNITS: [(u64, &str); 4] = [
        (1_000_000_000_000, "T"),
        (1_000_000_000, "B"),
        (1_000_000, "M"),
        (1_000, "K"),
    ];
    for (scale, unit) in UNITS {
        if count >= scale {
            return format!("{:.1}{unit}", count as f64 / scale as f64);
        }
    }
    count.to_string()
}

/// A byte size for humans, in binary units: `468.6 MiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}
