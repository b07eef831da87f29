//! The parser: header, metadata and tensor table, read with every size the file claims checked
//! against a cap and against the bytes that remain before anything is allocated.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::io::Read;

use crate::error::{Error, Result, Section};
use crate::file::{Gguf, TensorInfo};
use crate::ggml::GgmlType;
use crate::value::{Array, Value, ValueType};

/// Caps on sizes read from untrusted files. The remaining-bytes check already bounds every
/// allocation by the file size; these caps bound it further by what real models need, so a
/// hostile multi-gigabyte file still cannot make the reader build gigantic structures.
mod limits {
    /// The GGUF specification limits keys to 65,535 bytes. Tensor names are at most 64 bytes in
    /// ggml (`GGML_MAX_NAME`); we allow the same 65,535 for them.
    pub(super) const MAX_KEY_LEN: u64 = 65_535;
    /// The longest string values in published models are chat templates and licence texts, tens
    /// of KiB. 16 MiB leaves ample room and still stops a bogus length early.
    pub(super) const MAX_STRING_LEN: u64 = 16 << 20;
    /// The longest arrays are vocabularies and BPE merge lists, below a million entries
    /// (262,144 tokens for the largest vocabularies in use).
    pub(super) const MAX_ARRAY_LEN: u64 = 16 << 20;
    /// Arrays of arrays are legal but rare and shallow; a cap on depth keeps the recursive reader
    /// from exhausting the stack.
    pub(super) const MAX_ARRAY_DEPTH: u32 = 8;
    /// Real files carry a few dozen metadata keys.
    pub(super) const MAX_METADATA_COUNT: u64 = 1 << 16;
    /// The largest mixture-of-experts files have a few thousand tensors.
    pub(super) const MAX_TENSOR_COUNT: u64 = 1 << 20;
    /// `GGML_MAX_DIMS`: ggml tensors have at most four dimensions.
    pub(super) const MAX_DIMS: u64 = 4;
}

/// `GGUF` in file order.
const MAGIC: [u8; 4] = *b"GGUF";
/// The alignment of the tensor data section when `general.alignment` is absent.
const DEFAULT_ALIGNMENT: u64 = 32;
/// Fewest bytes of one tensor info entry: name length, dimension count, type and offset.
const MIN_TENSOR_INFO_SIZE: u64 = 8 + 4 + 4 + 8;
/// Fewest bytes of one metadata entry: key length, value type and a one-byte value.
const MIN_METADATA_ENTRY_SIZE: u64 = 8 + 4 + 1;

/// Read a whole GGUF header from `reader`, which holds `len` bytes in total.
pub(crate) fn read_gguf<R: Read>(reader: R, len: u64) -> Result<Gguf> {
    let mut reader = Reader {
        inner: reader,
        pos: 0,
        len,
        section: Section::Header,
    };
    let version = reader.header()?;
    let tensor_count = reader.count("tensor count", limits::MAX_TENSOR_COUNT)?;
    let metadata_count = reader.count("metadata entry count", limits::MAX_METADATA_COUNT)?;
    reader.ensure(metadata_count.saturating_mul(MIN_METADATA_ENTRY_SIZE))?;
    let metadata = reader.metadata(metadata_count)?;
    let tensor_table_offset = reader.pos;
    reader.ensure(tensor_count.saturating_mul(MIN_TENSOR_INFO_SIZE))?;
    let mut tensors = Vec::with_capacity(usize::try_from(tensor_count).unwrap_or(0));
    for index in 0..tensor_count {
        reader.section = Section::TensorInfo { index };
        tensors.push(reader.tensor_info()?);
    }
    let alignment = alignment(&metadata)?;
    let data_offset = reader.pos.next_multiple_of(alignment);
    check_tensors(&mut tensors, alignment, data_offset, len)?;
    Ok(Gguf {
        version,
        metadata,
        tensors,
        tensor_table_offset,
        alignment,
        data_offset,
        file_size: len,
    })
}

/// A reader that knows how many bytes remain and which part of the file it is in.
struct Reader<R> {
    inner: R,
    pos: u64,
    len: u64,
    section: Section,
}

impl<R: Read> Reader<R> {
    /// Magic and version; returns the version.
    fn header(&mut self) -> Result<u32> {
        if self.len == 0 {
            return Err(Error::Empty);
        }
        let head_len = self.len.min(4) as usize;
        let mut head = [0u8; 4];
        self.fill(&mut head[..head_len])?;
        let head = &head[..head_len];
        if head != MAGIC {
            if MAGIC.starts_with(head) {
                return Err(self.truncated(4 - head.len() as u64));
            }
            return Err(self.bad_magic(head));
        }
        let version = self.u32()?;
        match version {
            2 | 3 => Ok(version),
            _ if (1..=3).contains(&version.swap_bytes()) => Err(Error::BigEndian { version }),
            _ => Err(Error::UnsupportedVersion { version }),
        }
    }

    fn metadata(&mut self, count: u64) -> Result<BTreeMap<String, Value>> {
        let mut metadata = BTreeMap::new();
        for index in 0..count {
            self.section = Section::MetadataKey { index };
            let key = self.string("key length", limits::MAX_KEY_LEN)?;
            self.section = Section::MetadataValue { key: key.clone() };
            let value_type = self.value_type()?;
            let value = self.value(value_type, 0)?;
            match metadata.entry(key) {
                Entry::Occupied(entry) => {
                    return Err(Error::DuplicateKey {
                        key: entry.key().clone(),
                    });
                }
                Entry::Vacant(entry) => entry.insert(value),
            };
        }
        Ok(metadata)
    }

    fn tensor_info(&mut self) -> Result<TensorInfo> {
        let name = self.string("tensor name length", limits::MAX_KEY_LEN)?;
        let n_dims = u64::from(self.u32()?);
        self.check_limit("tensor dimension count", n_dims, limits::MAX_DIMS)?;
        let mut shape = Vec::with_capacity(n_dims as usize);
        for _ in 0..n_dims {
            shape.push(self.u64()?);
        }
        let ggml_type = GgmlType(self.u32()?);
        let offset = self.u64()?;
        // ggml stores dimensions as `int64_t`, so larger values are corrupt even before overflow.
        let elements = shape
            .iter()
            .try_fold(1u64, |acc, &dim| {
                let dim = (dim <= i64::MAX as u64).then_some(dim)?;
                acc.checked_mul(dim)
            })
            .filter(|&elements| elements <= i64::MAX as u64);
        let Some(elements) = elements else {
            return Err(Error::BadShape { name, shape });
        };
        Ok(TensorInfo {
            name,
            shape,
            ggml_type,
            offset,
            elements,
            n_bytes: None,
        })
    }

    fn value_type(&mut self) -> Result<ValueType> {
        let type_id = self.u32()?;
        ValueType::from_id(type_id).ok_or_else(|| Error::UnknownValueType {
            type_id,
            section: self.section.clone(),
        })
    }

    fn value(&mut self, value_type: ValueType, depth: u32) -> Result<Value> {
        let value = match value_type {
            ValueType::U8 => Value::U8(self.u8()?),
            ValueType::I8 => Value::I8(self.u8()? as i8),
            ValueType::U16 => Value::U16(u16::from_le_bytes(self.bytes()?)),
            ValueType::I16 => Value::I16(i16::from_le_bytes(self.bytes()?)),
            ValueType::U32 => Value::U32(self.u32()?),
            ValueType::I32 => Value::I32(i32::from_le_bytes(self.bytes()?)),
            ValueType::U64 => Value::U64(self.u64()?),
            ValueType::I64 => Value::I64(i64::from_le_bytes(self.bytes()?)),
            ValueType::F32 => Value::F32(f32::from_le_bytes(self.bytes()?)),
            ValueType::F64 => Value::F64(f64::from_le_bytes(self.bytes()?)),
            ValueType::Bool => Value::Bool(self.bool()?),
            ValueType::String => {
                Value::String(self.string("string length", limits::MAX_STRING_LEN)?)
            }
            ValueType::Array => Value::Array(self.array(depth + 1)?),
        };
        Ok(value)
    }

    fn array(&mut self, depth: u32) -> Result<Array> {
        self.check_limit(
            "array nesting depth",
            depth.into(),
            limits::MAX_ARRAY_DEPTH.into(),
        )?;
        let element_type = self.value_type()?;
        let len = self.count("array length", limits::MAX_ARRAY_LEN)?;
        // Every element takes at least this many bytes, so a length the file cannot hold is
        // caught here, before the vector below is allocated.
        self.ensure(len * element_type.min_encoded_size())?;
        let len = len as usize;
        let array = match element_type {
            ValueType::U8 => Array::U8(self.collect(len, Self::u8)?),
            ValueType::I8 => Array::I8(self.collect(len, |r| Ok(r.u8()? as i8))?),
            ValueType::U16 => {
                Array::U16(self.collect(len, |r| Ok(u16::from_le_bytes(r.bytes()?)))?)
            }
            ValueType::I16 => {
                Array::I16(self.collect(len, |r| Ok(i16::from_le_bytes(r.bytes()?)))?)
            }
            ValueType::U32 => Array::U32(self.collect(len, Self::u32)?),
            ValueType::I32 => {
                Array::I32(self.collect(len, |r| Ok(i32::from_le_bytes(r.bytes()?)))?)
            }
            ValueType::U64 => Array::U64(self.collect(len, Self::u64)?),
            ValueType::I64 => {
                Array::I64(self.collect(len, |r| Ok(i64::from_le_bytes(r.bytes()?)))?)
            }
            ValueType::F32 => {
                Array::F32(self.collect(len, |r| Ok(f32::from_le_bytes(r.bytes()?)))?)
            }
            ValueType::F64 => {
                Array::F64(self.collect(len, |r| Ok(f64::from_le_bytes(r.bytes()?)))?)
            }
            ValueType::Bool => Array::Bool(self.collect(len, Self::bool)?),
            ValueType::String => Array::String(
                self.collect(len, |r| r.string("string length", limits::MAX_STRING_LEN))?,
            ),
            ValueType::Array => Array::Array(self.collect(len, |r| r.array(depth + 1))?),
        };
        Ok(array)
    }

    fn collect<T>(
        &mut self,
        len: usize,
        mut read_one: impl FnMut(&mut Self) -> Result<T>,
    ) -> Result<Vec<T>> {
        let mut out = Vec::with_capacity(len);
        for _ in 0..len {
            out.push(read_one(self)?);
        }
        Ok(out)
    }

    /// A length-prefixed string. Invalid UTF-8 (seen in some byte-level vocabularies) is
    /// replaced rather than rejected: metadata is for reading, not for round-tripping.
    fn string(&mut self, what: &'static str, cap: u64) -> Result<String> {
        let len = self.u64()?;
        self.check_limit(what, len, cap)?;
        self.ensure(len)?;
        let mut buf = vec![0u8; len as usize];
        self.fill(&mut buf)?;
        Ok(match String::from_utf8(buf) {
            Ok(text) => text,
            Err(err) => String::from_utf8_lossy(err.as_bytes()).into_owned(),
        })
    }

    fn bool(&mut self) -> Result<bool> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            byte => Err(Error::InvalidBool {
                byte,
                section: self.section.clone(),
            }),
        }
    }

    /// A `u64` count checked against `cap`.
    fn count(&mut self, what: &'static str, cap: u64) -> Result<u64> {
        let value = self.u64()?;
        self.check_limit(what, value, cap)?;
        Ok(value)
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.bytes::<1>()?[0])
    }

    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.bytes()?))
    }

    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.bytes()?))
    }

    fn bytes<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut buf = [0u8; N];
        self.fill(&mut buf)?;
        Ok(buf)
    }

    fn fill(&mut self, buf: &mut [u8]) -> Result<()> {
        let n = buf.len() as u64;
        self.ensure(n)?;
        self.inner.read_exact(buf).map_err(|source| {
            if source.kind() == std::io::ErrorKind::UnexpectedEof {
                // The file shrank while we read it; report it like any truncation.
                self.truncated(n)
            } else {
                Error::Read {
                    offset: self.pos,
                    source,
                }
            }
        })?;
        self.pos += n;
        Ok(())
    }

    /// Fail unless `n` more bytes remain.
    fn ensure(&self, n: u64) -> Result<()> {
        if n > self.len.saturating_sub(self.pos) {
            return Err(self.truncated(n));
        }
        Ok(())
    }

    fn truncated(&self, n: u64) -> Error {
        Error::Truncated {
            section: self.section.clone(),
            needed: self.pos.saturating_add(n),
            file_size: self.len,
        }
    }

    fn check_limit(&self, what: &'static str, value: u64, limit: u64) -> Result<()> {
        if value > limit {
            return Err(Error::LimitExceeded {
                what,
                value,
                limit,
                section: self.section.clone(),
            });
        }
        Ok(())
    }

    /// The error for a file whose first bytes are not `GGUF`, with a guess from a few more.
    fn bad_magic(&mut self, head: &[u8]) -> Error {
        let mut prefix = head.to_vec();
        let mut more = [0u8; 60];
        let available = self.len.saturating_sub(self.pos).min(more.len() as u64) as usize;
        if self.fill(&mut more[..available]).is_ok() {
            prefix.extend_from_slice(&more[..available]);
        }
        Error::BadMagic {
            found: head.escape_ascii().to_string(),
            looks_like: sniff(&prefix),
        }
    }
}

/// A guess at what a file is from its first bytes, for the bad-magic error.
fn sniff(prefix: &[u8]) -> &'static str {
    let text = String::from_utf8_lossy(prefix)
        .trim_start()
        .to_ascii_lowercase();
    let safetensors = prefix.len() >= 10 && prefix[8..10] == *b"{\"";
    if prefix.starts_with(b"PK\x03\x04") || prefix.starts_with(b"PK\x05\x06") {
        "a zip archive (a Python wheel or a PyTorch checkpoint?); a GGUF model is a single file starting with `GGUF`"
    } else if text.starts_with('<') {
        "an HTML or XML page (a download that saved an error or login page?)"
    } else if text.starts_with("version https://git-lfs") {
        "a Git LFS pointer; fetch the real file with `git lfs pull`"
    } else if prefix.starts_with(b"lmgg")
        || prefix.starts_with(b"fmgg")
        || prefix.starts_with(b"tjgg")
    {
        "a legacy GGML/GGJT model; convert it to GGUF with llama.cpp's conversion scripts"
    } else if safetensors {
        "a safetensors file; convert it to GGUF with llama.cpp's conversion scripts"
    } else if text.starts_with('{') || text.starts_with('[') {
        "JSON text (a config or an error response?)"
    } else if prefix.starts_with(b"\x1f\x8b") {
        "a gzip archive; decompress it first"
    } else if prefix.starts_with(b"\x7fELF") {
        "an executable"
    } else {
        "some other kind of file"
    }
}

/// `general.alignment`, or the default; must be a power of two.
fn alignment(metadata: &BTreeMap<String, Value>) -> Result<u64> {
    let Some(value) = metadata.get("general.alignment") else {
        return Ok(DEFAULT_ALIGNMENT);
    };
    match value.as_u64() {
        Some(alignment) if alignment.is_power_of_two() => Ok(alignment),
        Some(value) => Err(Error::BadAlignment { value }),
        None => Err(Error::BadAlignment { value: 0 }),
    }
}

/// Check every tensor against its type's block size, the alignment, and the file's length (a
/// truncated download usually has a complete header and a cut data section).
fn check_tensors(
    tensors: &mut [TensorInfo],
    alignment: u64,
    data_offset: u64,
    len: u64,
) -> Result<()> {
    let mut names = std::collections::HashSet::with_capacity(tensors.len());
    let mut last_end = data_offset;
    let mut last_name = None;
    for tensor in tensors.iter_mut() {
        tensor.n_bytes = tensor_bytes(tensor)?;
    }
    for tensor in tensors.iter() {
        if !names.insert(tensor.name.as_str()) {
            return Err(Error::DuplicateTensor {
                name: tensor.name.clone(),
            });
        }
        if tensor.offset % alignment != 0 {
            return Err(Error::Misaligned {
                name: tensor.name.clone(),
                offset: tensor.offset,
                alignment,
            });
        }
        let Some(n_bytes) = tensor.n_bytes else {
            continue;
        };
        let end = data_offset
            .saturating_add(tensor.offset)
            .saturating_add(n_bytes);
        if end > last_end {
            last_end = end;
            last_name = Some(tensor.name.as_str());
        }
    }
    if let Some(name) = last_name.filter(|_| last_end > len) {
        return Err(Error::Truncated {
            section: Section::TensorData {
                name: name.to_owned(),
            },
            needed: last_end,
            file_size: len,
        });
    }
    Ok(())
}

/// The data size of a tensor of a known type; `None` for types newer than our table.
fn tensor_bytes(tensor: &TensorInfo) -> Result<Option<u64>> {
    let Some((block, block_bytes)) = tensor.ggml_type.block() else {
        return Ok(None);
    };
    let row = tensor.shape.first().copied().unwrap_or(1);
    if row % block != 0 {
        return Err(Error::BadBlockMultiple {
            name: tensor.name.clone(),
            row_len: row,
            ggml_type: tensor.ggml_type.to_string(),
            block,
        });
    }
    // A saturated size is far beyond any file length, so it reports as truncation.
    Ok(Some((tensor.elements / block).saturating_mul(block_bytes)))
}
