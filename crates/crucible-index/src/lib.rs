//! Repository index: walk a repository, chunk its files by syntax, index the chunks for BM25
//! (tantivy, with a code tokenizer) and optionally for embeddings, search them and pack the hits
//! into a token budget.
//!
//! ```no_run
//! use crucible_index::{Filters, Index, IndexParams};
//! let mut index = Index::open(
//!     std::path::Path::new("my-repo"),
//!     std::path::Path::new("/tmp/my-repo.index"),
//!     IndexParams::default(),
//! )?;
//! let report = index.update()?; // only new and changed files are read
//! for hit in index.search("parse http request", 10, &Filters::default())? {
//!     println!("{}:{}-{} {:.2}", hit.path, hit.start_line, hit.end_line, hit.score);
//! }
//! # Ok::<(), crucible_index::Error>(())
//! ```
//!
//! The pieces, each usable alone:
//! - [`walk`]: which files to read (`.gitignore` as ripgrep applies it; binary, huge,
//!   generated, vendored and long-line files skipped with a reason).
//! - [`chunk`]: functions, classes and methods with their enclosing signatures, through
//!   crucible-syntax's grammars; line windows for other text and for unparsable code.
//! - [`tokenize`]: identifiers indexed whole and by their `camelCase` / `snake_case` parts.
//! - [`Index`]: the on-disk index, updated incrementally (mtime and size, then a content hash;
//!   deleted files removed; an index of another format version rebuilt with a warning).
//! - [`imports`]: the names a file imports (tree-sitter), for cross-file definitions.
//! - [`fuse`]: reciprocal rank fusion of BM25 and embedding rankings.
//! - [`pack`]: fill a token budget with hits and record why each went in or stayed out.
//! - `embed` (feature `embed`): a sentence-embedding BERT (all-MiniLM-L6-v2) through candle.

#![warn(missing_docs)]

pub mod chunk;
mod directory;
#[cfg(feature = "embed")]
pub mod embed;
mod error;
pub mod fuse;
pub mod imports;
mod index;
mod manifest;
pub mod pack;
mod search;
pub mod tokenize;
#[cfg(feature = "embed")]
mod vectors;
pub mod walk;

pub use chunk::{Chunk, ChunkKind, ChunkParams, ParseOutcome};
pub use error::{Error, Result};
pub use index::{FileNote, Index, IndexParams, IndexStats, UpdatePhases, UpdateReport};
pub use search::{Filters, Hit, LONG_QUERY_TERMS, MAX_QUERY_TERMS, Ranked, Why};
#[cfg(feature = "embed")]
pub use vectors::EmbedReport;
pub use walk::{SkipReason, Skipped, WalkParams};

/// The version of the on-disk format. An index of another version is rebuilt on open.
///
/// Bump it whenever the schema, the tokenizer, the chunker or the manifest change what an
/// index holds.
pub const FORMAT_VERSION: u32 = 1;
