//! A parsed GGUF file: version, metadata and tensor table, with typed lookups.

use std::collections::BTreeMap;

use crate::ggml::GgmlType;
use crate::info::ModelInfo;
use crate::value::Value;

/// The header of a GGUF file: everything but the tensor data itself.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Gguf {
    /// Format version (2 or 3).
    pub version: u32,
    /// Every metadata entry, by key.
    pub metadata: BTreeMap<String, Value>,
    /// The tensor table in file order.
    pub tensors: Vec<TensorInfo>,
    /// Where the tensor table starts (right after the metadata), in bytes from the start of the
    /// file: everything before it is the header and the metadata.
    pub tensor_table_offset: u64,
    /// Alignment of the data section and of each tensor's offset, in bytes.
    pub alignment: u64,
    /// Where the tensor data section starts, in bytes from the start of the file.
    pub data_offset: u64,
    /// The size of the file (or byte stream) that was read.
    pub file_size: u64,
}

/// One entry of the tensor table.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TensorInfo {
    /// Tensor name, such as `blk.0.attn_q.weight`.
    pub name: String,
    /// Dimensions, innermost first (ggml order).
    pub shape: Vec<u64>,
    /// Element type.
    pub ggml_type: GgmlType,
    /// Offset of the data from the start of the data section.
    pub offset: u64,
    /// Number of elements: the product of `shape`.
    pub elements: u64,
    /// Size of the data in bytes, when the type is known to this reader.
    pub n_bytes: Option<u64>,
}

impl Gguf {
    /// The value stored under `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.metadata.get(key)
    }

    /// The string stored under `key`, if it is a string.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key)?.as_str()
    }

    /// The non-negative integer stored under `key`, whatever its width.
    pub fn get_u64(&self, key: &str) -> Option<u64> {
        self.get(key)?.as_u64()
    }

    /// `general.architecture`, such as `llama` or `qwen2`.
    pub fn architecture(&self) -> Option<&str> {
        self.get_str("general.architecture")
    }

    /// The value of an architecture-scoped key: `arch_u64("context_length")` reads
    /// `qwen2.context_length` in a `qwen2` file.
    pub fn arch_u64(&self, suffix: &str) -> Option<u64> {
        let key = format!("{}.{suffix}", self.architecture()?);
        match self.get(&key)? {
            // Some architectures store per-layer values (e.g. head counts); report the largest.
            Value::Array(array) => (0..array.len())
                .filter_map(|index| array.get(index)?.as_u64())
                .max(),
            value => value.as_u64(),
        }
    }

    /// The number of parameters: the sum of the element counts of all tensors.
    pub fn parameter_count(&self) -> u64 {
        self.tensors
            .iter()
            .fold(0u64, |sum, tensor| sum.saturating_add(tensor.elements))
    }

    /// The facts about the model most people want, derived from the metadata.
    pub fn model_info(&self) -> ModelInfo {
        ModelInfo::from_gguf(self)
    }
}
