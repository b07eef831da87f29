//! Defensive reader of GGUF model file metadata (header, key/values, tensor table).
//!
//! GGUF is llama.cpp's single-file model format: a header (magic `GGUF`, version, counts),
//! typed key/value metadata, a tensor table, then aligned tensor data. This crate reads
//! everything but the tensor data, in pure Rust, and derives the facts a user asks about
//! ([`ModelInfo`]: architecture, parameters, quantisation, context length, chat template).
//!
//! Files are untrusted input. Every size the file claims is checked against a cap and against
//! the bytes that remain before anything is allocated, and every failure is an [`Error`] that
//! names the problem: not GGUF at all (with a guess at what it is), truncated, an unsupported
//! version, a directory, a missing path.
//!
//! Two writers: [`widen_q5_0`] rewrites a file with its Q5_0 tensors re-encoded, losslessly, as
//! Q8_0, whose CPU kernels are faster; [`write_gguf`] writes a small file from scratch (F32
//! tensors; LoRA adapters for tests).
//!
//! ```no_run
//! let gguf = crucible_gguf::load_gguf(std::path::Path::new("model.gguf"))?;
//! let info = gguf.model_info();
//! println!("{:?} with {} parameters", info.architecture, info.parameter_count);
//! # Ok::<(), crucible_gguf::Error>(())
//! ```

#![warn(missing_docs)]

mod error;
mod file;
mod ggml;
mod info;
mod reader;
mod value;
mod widen;
mod write;

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

pub use error::{Error, Result, Section};
pub use file::{Gguf, TensorInfo};
pub use ggml::{FileType, GgmlType};
pub use info::{ModelInfo, human_bytes, human_count};
pub use value::{Array, Value, ValueType};
pub use widen::{Q5_0, Q8_0, Widened, q5_0_block_to_q8_0, q5_0_tensors, widen_q5_0};
pub use write::{F32Tensor, MetaValue, write_gguf};

/// Read the header of the GGUF file at `path`.
///
/// Only the header is read (for a 0.5B model, about 6 MB of a 470 MB file), but the tensor
/// table is checked against the file's length, so a cut-off download is reported as truncated.
pub fn load_gguf(path: &Path) -> Result<Gguf> {
    let metadata = std::fs::metadata(path).map_err(|source| io_error(path, source))?;
    if metadata.is_dir() {
        return Err(Error::IsDirectory {
            path: path.to_owned(),
        });
    }
    let file = File::open(path).map_err(|source| io_error(path, source))?;
    let reader = BufReader::with_capacity(1 << 16, file);
    reader::read_gguf(reader, metadata.len()).map_err(|err| match err {
        Error::Read { source, .. } => io_error(path, source),
        err => Error::Invalid {
            path: path.to_owned(),
            source: Box::new(err),
        },
    })
}

/// Parse a GGUF header from bytes in memory (the whole file, or at least all of it up to the
/// end of the tensor data, which is checked against `bytes.len()`).
pub fn parse_gguf(bytes: &[u8]) -> Result<Gguf> {
    reader::read_gguf(bytes, bytes.len() as u64)
}

/// Read a GGUF header from any reader that holds `len` bytes in total.
pub fn read_gguf<R: std::io::Read>(reader: R, len: u64) -> Result<Gguf> {
    reader::read_gguf(reader, len)
}

fn io_error(path: &Path, source: std::io::Error) -> Error {
    if source.kind() == std::io::ErrorKind::NotFound {
        Error::NotFound {
            path: path.to_owned(),
        }
    } else {
        Error::Io {
            path: path.to_owned(),
            source,
        }
    }
}

#[cfg(test)]
mod tests;
