//! Lossless re-encoding of Q5_0 tensors as Q8_0, for faster matrix products on CPUs.
//!
//! A Q5_0 block is 32 five-bit integers `q` and one f16 scale `d`, standing for `(q - 16) * d`.
//! Q8_0 stores 32 signed bytes and one f16 scale, standing for `q8 * d`. With the same `d` and
//! `q8 = q - 16` (always within -16..=15) every weight is the same number, bit for bit. Both
//! types multiply against activations quantised to Q8_0, so a matrix product computes the same
//! integer block sums; only the order of the float additions between blocks may differ.
//!
//! Why bother: Q4_K_M files of models whose rows are not a multiple of 256 (Qwen2.5 0.5B: 896)
//! fall back to Q5_0 for most weights, and llama.cpp's CPU kernels for Q5_0 spend their time
//! unpacking the fifth bit. Measured on a 2-core AVX2 machine (docs/PERFORMANCE.md): prompt
//! evaluation 1.2x and decoding 1.1x faster, for 30% more weight memory.

use std::io::{Read, Seek, SeekFrom, Write};

use crate::error::{Error, Result, Section};
use crate::file::Gguf;
use crate::ggml::GgmlType;

/// `GGML_TYPE_Q5_0`.
pub const Q5_0: GgmlType = GgmlType(6);
/// `GGML_TYPE_Q8_0`.
pub const Q8_0: GgmlType = GgmlType(8);

const Q5_0_BLOCK_BYTES: usize = 22;
const Q8_0_BLOCK_BYTES: usize = 34;
/// Q5_0 blocks per read: about 1.4 MB in, 2.2 MB out when widened.
const BLOCKS_PER_CHUNK: usize = 1 << 16;

/// What [`widen_q5_0`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Widened {
    /// Tensors re-encoded from Q5_0 to Q8_0.
    pub tensors: usize,
    /// Bytes of the file written.
    pub bytes: u64,
}

/// How many tensors of `gguf` are Q5_0 (what [`widen_q5_0`] would re-encode).
pub fn q5_0_tensors(gguf: &Gguf) -> usize {
    gguf.tensors
        .iter()
        .filter(|tensor| tensor.ggml_type == Q5_0)
        .count()
}

/// Write to `dst` the GGUF file `src` (whose header is `gguf`) with every Q5_0 tensor
/// re-encoded as Q8_0: the same metadata, tensors in the same order, data re-laid out at the
/// file's alignment. Fails on a tensor type this crate does not know (its size is unknown).
pub fn widen_q5_0<R: Read + Seek, W: Write>(
    gguf: &Gguf,
    src: &mut R,
    dst: &mut W,
) -> Result<Widened> {
    let mut out = Counted {
        inner: dst,
        bytes: 0,
    };
    // Header and metadata, byte for byte.
    let mut head = vec![0u8; header_len(gguf.tensor_table_offset)?];
    read_at(src, 0, &mut head)?;
    out.write(&head)?;

    // The tensor table with the new types and offsets.
    let mut layout = Vec::with_capacity(gguf.tensors.len());
    let mut next = 0u64;
    for tensor in &gguf.tensors {
        let Some(n_bytes) = tensor.n_bytes else {
            return Err(Error::UnknownTensorType {
                name: tensor.name.clone(),
                ggml_type: tensor.ggml_type.to_string(),
            });
        };
        let (ggml_type, new_bytes) = if tensor.ggml_type == Q5_0 {
            let blocks = n_bytes / Q5_0_BLOCK_BYTES as u64;
            (Q8_0, blocks * Q8_0_BLOCK_BYTES as u64)
        } else {
            (tensor.ggml_type, n_bytes)
        };
        let offset = next.next_multiple_of(gguf.alignment);
        next = offset + new_bytes;
        out.write(&(tensor.name.len() as u64).to_le_bytes())?;
        out.write(tensor.name.as_bytes())?;
        out.write(&(tensor.shape.len() as u32).to_le_bytes())?;
        for dim in &tensor.shape {
            out.write(&dim.to_le_bytes())?;
        }
        out.write(&ggml_type.0.to_le_bytes())?;
        out.write(&offset.to_le_bytes())?;
        layout.push(offset);
    }
    let data_start = out.bytes.next_multiple_of(gguf.alignment);
    out.pad_to(data_start)?;

    // The data, tensor by tensor, in chunks.
    let mut widened = 0;
    for (tensor, offset) in gguf.tensors.iter().zip(layout) {
        out.pad_to(data_start + offset)?;
        let n_bytes = tensor.n_bytes.unwrap_or(0);
        let from = gguf.data_offset + tensor.offset;
        let widen = tensor.ggml_type == Q5_0;
        widened += usize::from(widen);
        copy_tensor(src, from, n_bytes, widen, &mut out)?;
    }
    out.inner
        .flush()
        .map_err(|source| Error::Write { source })?;
    Ok(Widened {
        tensors: widened,
        bytes: out.bytes,
    })
}

/// Re-encode one Q5_0 block (f16 scale, 32 high bits, 16 bytes of low nibbles) as a Q8_0 block
/// (the same f16 scale, 32 signed bytes).
pub fn q5_0_block_to_q8_0(block: &[u8; Q5_0_BLOCK_BYTES]) -> [u8; Q8_0_BLOCK_BYTES] {
    let mut out = [0u8; Q8_0_BLOCK_BYTES];
    out[..2].copy_from_slice(&block[..2]);
    let high = u32::from_le_bytes([block[2], block[3], block[4], block[5]]);
    for (j, &byte) in block[6..].iter().enumerate() {
        // Element j is the low nibble of byte j, element j + 16 its high nibble; bit j (and
        // j + 16) of `high` is each one's fifth bit.
        let low = (byte & 0x0F) | ((((high >> j) & 1) as u8) << 4);
        let upper = (byte >> 4) | ((((high >> (j + 16)) & 1) as u8) << 4);
        out[2 + j] = (low as i8 - 16) as u8;
        out[2 + j + 16] = (upper as i8 - 16) as u8;
    }
    out
}

/// Copy `n_bytes` of tensor data from `from` to `out`, re-encoding Q5_0 blocks when `widen`.
fn copy_tensor<R: Read + Seek, W: Write>(
    src: &mut R,
    from: u64,
    n_bytes: u64,
    widen: bool,
    out: &mut Counted<'_, W>,
) -> Result<()> {
    seek(src, from)?;
    // A whole number of Q5_0 blocks, so a chunk never splits one.
    let mut input = vec![0u8; BLOCKS_PER_CHUNK * Q5_0_BLOCK_BYTES];
    let mut output = Vec::new();
    let mut left = n_bytes;
    let mut pos = from;
    while left > 0 {
        let take = left.min(input.len() as u64) as usize;
        fill(src, pos, &mut input[..take])?;
        if widen {
            output.clear();
            for block in input[..take].chunks_exact(Q5_0_BLOCK_BYTES) {
                let block: &[u8; Q5_0_BLOCK_BYTES] = block.try_into().expect("exact chunks");
                output.extend_from_slice(&q5_0_block_to_q8_0(block));
            }
            out.write(&output)?;
        } else {
            out.write(&input[..take])?;
        }
        left -= take as u64;
        pos += take as u64;
    }
    Ok(())
}

fn read_at<R: Read + Seek>(src: &mut R, offset: u64, buf: &mut [u8]) -> Result<()> {
    seek(src, offset)?;
    fill(src, offset, buf)
}

fn seek<R: Seek>(src: &mut R, offset: u64) -> Result<()> {
    src.seek(SeekFrom::Start(offset))
        .map(drop)
        .map_err(|source| Error::Read { offset, source })
}

fn fill<R: Read>(src: &mut R, offset: u64, buf: &mut [u8]) -> Result<()> {
    src.read_exact(buf)
        .map_err(|source| Error::Read { offset, source })
}

/// The header's length as a buffer size: more than the address space (only possible on a 32-bit
/// machine) is a limit of this machine, not a read error.
fn header_len(value: u64) -> Result<usize> {
    usize::try_from(value).map_err(|_| Error::LimitExceeded {
        what: "the header and metadata length",
        value,
        limit: usize::MAX as u64,
        section: Section::Header,
    })
}

/// A writer that counts what went through it, to place padding.
struct Counted<'a, W> {
    inner: &'a mut W,
    bytes: u64,
}

impl<W: Write> Counted<'_, W> {
    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.inner
            .write_all(bytes)
            .map_err(|source| Error::Write { source })?;
        self.bytes += bytes.len() as u64;
        Ok(())
    }

    /// Zero bytes up to `position` (never backwards: positions come from an increasing layout).
    fn pad_to(&mut self, position: u64) -> Result<()> {
        let zeros = [0u8; 64];
        while self.bytes < position {
            let n = (position - self.bytes).min(zeros.len() as u64) as usize;
            self.write(&zeros[..n])?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decode a Q5_0 block the way ggml's reference dequantiser does: `(q - 16)` per element.
    fn q5_0_ints(block: &[u8; Q5_0_BLOCK_BYTES]) -> [i32; 32] {
        let high = u32::from_le_bytes([block[2], block[3], block[4], block[5]]);
        let mut out = [0i32; 32];
        for j in 0..16 {
            let bit0 = (((high >> j) << 4) & 0x10) as u8;
            let bit1 = ((high >> (j + 12)) & 0x10) as u8;
            out[j] = i32::from((block[6 + j] & 0x0F) | bit0) - 16;
            out[j + 16] = i32::from((block[6 + j] >> 4) | bit1) - 16;
        }
        out
    }

    #[test]
    fn every_q5_0_value_survives_re_encoding() {
        // Blocks covering every nibble and every high bit in every position.
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        for round in 0..2_000 {
            let mut block = [0u8; Q5_0_BLOCK_BYTES];
            for byte in &mut block {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                *byte = seed as u8;
            }
            if round == 0 {
                block[2..].fill(0xFF);
            } else if round == 1 {
                block[2..].fill(0);
            }
            let widened = q5_0_block_to_q8_0(&block);
            assert_eq!(widened[..2], block[..2], "the scale is kept");
            let ints: Vec<i32> = widened[2..].iter().map(|&b| i32::from(b as i8)).collect();
            assert_eq!(ints, q5_0_ints(&block), "block {block:?}");
        }
    }

    #[test]
    fn extremes_map_to_minus_sixteen_and_fifteen() {
        let mut block = [0u8; Q5_0_BLOCK_BYTES];
        let widened = q5_0_block_to_q8_0(&block);
        assert!(widened[2..].iter().all(|&b| b as i8 == -16));
        block[2..].fill(0xFF);
        let widened = q5_0_block_to_q8_0(&block);
        assert!(widened[2..].iter().all(|&b| b as i8 == 15));
    }
}
