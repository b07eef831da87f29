//! The one error type of `crucible-gguf`: every way a path or a byte stream fails to be a GGUF file.

use std::fmt;
use std::path::PathBuf;

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a file could not be read as GGUF.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The path does not exist.
    #[error("`{path}` does not exist")]
    NotFound {
        /// The path given.
        path: PathBuf,
    },
    /// The path is a directory.
    #[error("`{path}` is a directory, not a GGUF file")]
    IsDirectory {
        /// The path given.
        path: PathBuf,
    },
    /// The operating system refused to open or read the file.
    #[error("cannot read `{path}`")]
    Io {
        /// The path given.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The file exists but its contents are not a valid GGUF file; `source` says why.
    #[error("`{path}` is not a valid GGUF model")]
    Invalid {
        /// The path given.
        path: PathBuf,
        /// The format error.
        #[source]
        source: Box<Error>,
    },
    /// A read from a stream failed for a reason other than its end.
    #[error("read failed at byte {offset}")]
    Read {
        /// Where the read started.
        offset: u64,
        /// What the reader said.
        #[source]
        source: std::io::Error,
    },
    /// The file has no bytes at all (often an interrupted download).
    #[error("the file is empty")]
    Empty,
    /// The first four bytes are not `GGUF`.
    #[error("not a GGUF file: it starts with `{found}`, which looks like {looks_like}")]
    BadMagic {
        /// The first bytes, escaped.
        found: String,
        /// A guess at what the file is instead.
        looks_like: &'static str,
    },
    /// The version field is one this reader does not understand.
    #[error("GGUF version {version} is not supported (this reader supports versions 2 and 3)")]
    UnsupportedVersion {
        /// The version in the header.
        version: u32,
    },
    /// The file was written on a big-endian machine.
    #[error("big-endian GGUF files are not supported (the version field reads `{version:#010x}`)")]
    BigEndian {
        /// The raw version field.
        version: u32,
    },
    /// The file ends before the structure it declares.
    #[error(
        "the file is truncated: {section} needs at least {needed} bytes but the file has {file_size}"
    )]
    Truncated {
        /// What was being read.
        section: Section,
        /// How many bytes the file would need at least to hold it.
        needed: u64,
        /// How many bytes the file has.
        file_size: u64,
    },
    /// A size in the header is beyond a sanity cap (see the `limits` in the reader).
    #[error("{what} is {value}, above the limit of {limit} ({section})")]
    LimitExceeded {
        /// Which quantity.
        what: &'static str,
        /// The value claimed by the file.
        value: u64,
        /// The cap.
        limit: u64,
        /// Where in the file.
        section: Section,
    },
    /// A metadata value type id outside the GGUF specification.
    #[error("unknown value type {type_id} in {section}")]
    UnknownValueType {
        /// The type id read.
        type_id: u32,
        /// Where in the file.
        section: Section,
    },
    /// A boolean stored as something other than 0 or 1.
    #[error("invalid boolean byte {byte} in {section}")]
    InvalidBool {
        /// The byte read.
        byte: u8,
        /// Where in the file.
        section: Section,
    },
    /// Two metadata entries share a key.
    #[error("metadata key `{key}` appears twice")]
    DuplicateKey {
        /// The repeated key.
        key: String,
    },
    /// Two tensors share a name.
    #[error("tensor `{name}` appears twice")]
    DuplicateTensor {
        /// The repeated name.
        name: String,
    },
    /// A tensor shape with a zero dimension or an element count that overflows 64 bits.
    #[error("tensor `{name}` has an invalid shape {shape:?}")]
    BadShape {
        /// The tensor name.
        name: String,
        /// The dimensions read.
        shape: Vec<u64>,
    },
    /// A tensor whose rows do not fit its type's block size.
    #[error(
        "tensor `{name}` has rows of {row_len} elements, not a multiple of the `{ggml_type}` block of {block}"
    )]
    BadBlockMultiple {
        /// The tensor name.
        name: String,
        /// Its first dimension.
        row_len: u64,
        /// Its type name.
        ggml_type: String,
        /// The type's block size in elements.
        block: u64,
    },
    /// `general.alignment` is not a power of two.
    #[error("`general.alignment` is {value}; it must be a power of two")]
    BadAlignment {
        /// The value read.
        value: u64,
    },
    /// A tensor's data offset is not aligned.
    #[error(
        "tensor `{name}` starts at offset {offset}, not a multiple of the alignment {alignment}"
    )]
    Misaligned {
        /// The tensor name.
        name: String,
        /// Its offset relative to the data section.
        offset: u64,
        /// The file's alignment.
        alignment: u64,
    },
    /// A tensor has a type this crate does not know, so its size (and a rewritten file's layout)
    /// is unknown.
    #[error("tensor `{name}` has {ggml_type}, which this version cannot rewrite")]
    UnknownTensorType {
        /// The tensor name.
        name: String,
        /// Its type.
        ggml_type: String,
    },
    /// Writing a rewritten file failed.
    #[error("write failed")]
    Write {
        /// What the writer said.
        #[source]
        source: std::io::Error,
    },
}

/// The part of a GGUF file being read when something went wrong, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Section {
    /// Magic, version and counts.
    Header,
    /// The key of metadata entry `index` (0-based).
    MetadataKey {
        /// Entry index.
        index: u64,
    },
    /// The value of the metadata entry with this key.
    MetadataValue {
        /// The entry's key.
        key: String,
    },
    /// Tensor info entry `index` (0-based).
    TensorInfo {
        /// Entry index.
        index: u64,
    },
    /// The data of the named tensor.
    TensorData {
        /// The tensor name.
        name: String,
    },
}

impl fmt::Display for Section {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Section::Header => f.write_str("the header"),
            Section::MetadataKey { index } => write!(f, "the key of metadata entry {index}"),
            Section::MetadataValue { key } => write!(f, "the value of metadata key `{key}`"),
            Section::TensorInfo { index } => write!(f, "tensor info entry {index}"),
            Section::TensorData { name } => write!(f, "the data of tensor `{name}`"),
        }
    }
}

impl Error {
    /// True when the bytes ran out: the file is cut short, as by an interrupted download.
    pub fn is_truncated(&self) -> bool {
        match self {
            Error::Truncated { .. } | Error::Empty => true,
            Error::Invalid { source, .. } => source.is_truncated(),
            _ => false,
        }
    }
}
