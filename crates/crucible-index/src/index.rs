//! The on-disk index of one repository: opening (rebuilding an index of another format), the
//! tantivy schema, and incremental updates (only new and changed files are read; deleted ones
//! are removed).

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crucible_syntax::SyntaxParser;
use tantivy::indexer::{IndexWriterOptions, NoMergePolicy};
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

use crate::chunk::{self, Chunk, ChunkParams, ParseOutcome};
use crate::directory::UnsyncedDirectory;
use crate::manifest::{FileState, Loaded, Manifest};
use crate::tokenize::{CODE_TOKENIZER, CodeTokenizer};
use crate::walk::{self, SkipReason, Skipped, Walk, WalkParams, WalkedFile};
use crate::{Error, FORMAT_VERSION, Result};

/// How to index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexParams {
    /// Which files are read.
    pub walk: WalkParams,
    /// How files are cut into chunks.
    pub chunk: ChunkParams,
    /// Threads that read and chunk files (0: one per core).
    pub threads: usize,
    /// Memory tantivy's writer may buffer before it writes a segment, in bytes, for all its
    /// threads together (default 128 MiB).
    pub writer_heap_bytes: usize,
}

impl Default for IndexParams {
    fn default() -> IndexParams {
        IndexParams {
            walk: WalkParams::default(),
            chunk: ChunkParams::default(),
            threads: 0,
            writer_heap_bytes: 128 << 20,
        }
    }
}

/// An open repository index.
pub struct Index {
    pub(crate) root: PathBuf,
    pub(crate) dir: PathBuf,
    params: IndexParams,
    pub(crate) tantivy: tantivy::Index,
    pub(crate) reader: IndexReader,
    pub(crate) fields: Fields,
    manifest: Manifest,
    /// See [`Index::generation`].
    pub(crate) generation: u64,
    /// The chunks' embedding vectors, loaded when first needed (see `vectors.rs`).
    #[cfg(feature = "embed")]
    pub(crate) vectors: Mutex<Option<std::sync::Arc<crate::vectors::Vectors>>>,
    /// What an embedding stopped early left to do, for the next call while the index stays
    /// as it was (see `vectors.rs`).
    #[cfg(feature = "embed")]
    pub(crate) unembedded: Option<crate::vectors::Unembedded>,
}

/// A value no index of this process has had: [`Index::generation`].
pub(crate) fn next_generation() -> u64 {
    static GENERATIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    GENERATIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

impl std::fmt::Debug for Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Index")
            .field("root", &self.root)
            .field("dir", &self.dir)
            .field("files", &self.manifest.files.len())
            .finish_non_exhaustive()
    }
}

/// Something worth telling about one indexed file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileNote {
    /// tree-sitter recovered from a syntax error; the definitions around it were windowed.
    ParseErrors {
        /// The first error's line (1-based).
        first_error_line: usize,
    },
    /// The parser gave up; the whole file was windowed.
    ParseFailed {
        /// The parser's error.
        error: String,
    },
    /// The content is not valid UTF-8; it was indexed with U+FFFD in place of the bad bytes.
    InvalidUtf8 {
        /// Offset of the first bad byte.
        at_byte: usize,
    },
}

impl std::fmt::Display for FileNote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FileNote::ParseErrors { first_error_line } => write!(
                f,
                "syntax error at line {first_error_line}: the code around it was windowed"
            ),
            FileNote::ParseFailed { error } => {
                write!(f, "could not be parsed ({error}): windowed")
            }
            FileNote::InvalidUtf8 { at_byte } => write!(
                f,
                "invalid UTF-8 at byte {at_byte}: indexed with replacement characters"
            ),
        }
    }
}

/// What an update did.
#[derive(Debug, Default, Clone)]
pub struct UpdateReport {
    /// Files the walk found to consider (not skipped by name or size).
    pub files_seen: usize,
    /// Files whose mtime and size matched the manifest: not read.
    pub files_unchanged: usize,
    /// Files read whose content hash matched the manifest: not re-indexed.
    pub files_touched: usize,
    /// Files (new or changed) chunked and indexed.
    pub files_indexed: usize,
    /// Files removed from the index (deleted, or now skipped).
    pub files_removed: usize,
    /// Files indexed as windows because no grammar claims them.
    pub files_without_grammar: usize,
    /// Chunks written.
    pub chunks_indexed: usize,
    /// Bytes read from files that were indexed.
    pub bytes_indexed: u64,
    /// Files left out, with the reason (by name and size, or by content).
    pub skipped: Vec<Skipped>,
    /// Notes on indexed files (parse errors, invalid UTF-8), by repository-relative path.
    pub notes: Vec<(String, FileNote)>,
    /// Wall time of the update.
    pub elapsed: Duration,
    /// Where the wall time went.
    pub phases: UpdatePhases,
}

/// Wall time of each phase of an update (they add up to about [`UpdateReport::elapsed`]).
#[derive(Debug, Default, Clone, Copy)]
pub struct UpdatePhases {
    /// Walking the tree (or checking the named paths) and `stat`ing its files.
    pub walk: Duration,
    /// Reading, hashing and chunking changed files and handing their chunks to tantivy.
    pub index_files: Duration,
    /// tantivy's commit (new segment written, deletes applied, metadata saved).
    pub commit: Duration,
    /// Writing the manifest.
    pub manifest: Duration,
    /// Reloading the searcher so the next search sees the update.
    pub reload: Duration,
}

/// Size of an index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexStats {
    /// Files with chunks in the index.
    pub files: usize,
    /// Chunks in the index.
    pub chunks: u64,
    /// tantivy segments the searcher reads (each search visits every one).
    pub segments: usize,
}

/// The tantivy fields.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fields {
    /// Repository-relative path, exact (for deletes and filters).
    pub(crate) path: Field,
    /// The path's words, searchable.
    pub(crate) path_terms: Field,
    pub(crate) language: Field,
    pub(crate) kind: Field,
    /// The qualified symbol name, searchable and stored.
    pub(crate) symbol: Field,
    /// Enclosing signatures, one per line, stored.
    pub(crate) context: Field,
    /// The chunk's text, searchable and stored.
    pub(crate) body: Field,
    pub(crate) start_line: Field,
    pub(crate) end_line: Field,
    /// A content id of the chunk (path, lines and text): embeddings are keyed by it.
    pub(crate) chunk_id: Field,
}

fn schema() -> (Schema, Fields) {
    let mut builder = Schema::builder();
    let code = |stored: bool| {
        let indexing = TextFieldIndexing::default()
            .set_tokenizer(CODE_TOKENIZER)
            .set_index_option(IndexRecordOption::WithFreqs);
        let options = TextOptions::default().set_indexing_options(indexing);
        if stored {
            options.set_stored()
        } else {
            options
        }
    };
    let fields = Fields {
        path: builder.add_text_field("path", STRING | STORED),
        path_terms: builder.add_text_field("path_terms", code(false)),
        language: builder.add_text_field("language", STRING | STORED),
        kind: builder.add_text_field("kind", STRING | STORED),
        symbol: builder.add_text_field("symbol", code(true)),
        context: builder.add_text_field("context", STORED),
        body: builder.add_text_field("body", code(true)),
        start_line: builder.add_u64_field("start_line", STORED),
        end_line: builder.add_u64_field("end_line", STORED),
        chunk_id: builder.add_u64_field("chunk_id", INDEXED | STORED | FAST),
    };
    (builder.build(), fields)
}

/// Segments of at most this many chunks are small: what an update of a few files writes.
const SMALL_SEGMENT_CHUNKS: u32 = 20_000;
/// A named-path update merges the small segments into one once there are this many: merging
/// small segments takes milliseconds, and it keeps the count (which every search and every
/// reload of the searcher pays for) bounded however long an editor keeps saving.
const SMALL_SEGMENTS_MERGED: usize = 8;

/// What an update covers, which decides how it merges segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// The whole tree ([`Index::update`]): tantivy's merge policy runs, and the update waits
    /// for its merges, so they are applied rather than abandoned when the writer goes.
    Tree,
    /// Files an editor or a watcher named ([`Index::update_paths`]): no merge policy (it would
    /// start merges of large segments on the hot path), only the small segments merged, at once.
    Paths,
}

/// The marker file naming the format version, written before anything else.
const FORMAT_FILE: &str = "FORMAT";
/// tantivy's files live in this subdirectory.
const TANTIVY_DIR: &str = "tantivy";

impl Index {
    /// Open the index of `root` kept in `index_dir`, creating it if needed.
    ///
    /// An index written by another format version, or one that cannot be read, is deleted and
    /// recreated empty with a warning (the next [`Index::update`] fills it). An index of
    /// another repository is an error.
    pub fn open(root: &Path, index_dir: &Path, params: IndexParams) -> Result<Index> {
        let root = std::fs::canonicalize(root).map_err(|source| Error::Root {
            path: root.to_path_buf(),
            problem: format!("cannot be read: {source}"),
        })?;
        if !root.is_dir() {
            return Err(Error::Root {
                path: root,
                problem: "is not a directory".into(),
            });
        }
        let dir = index_dir.to_path_buf();
        std::fs::create_dir_all(&dir).map_err(Error::io("create", &dir))?;
        let manifest = match Manifest::load(&dir) {
            Loaded::Current(manifest) if manifest.root != root => {
                return Err(Error::OtherRepository {
                    index_dir: dir,
                    indexed: manifest.root,
                    requested: root,
                });
            }
            Loaded::Current(manifest) => Some(manifest),
            Loaded::Missing => {
                clear(&dir)?; // a creation that stopped half-way leaves tantivy files
                None
            }
            Loaded::Stale(why) => {
                tracing::warn!(
                    "the index at `{}` cannot be used: {why}; rebuilding it",
                    dir.display()
                );
                clear(&dir)?;
                None
            }
        };
        let opened = match manifest {
            Some(manifest) => match open_tantivy(&dir) {
                Ok((tantivy, fields)) => Some((tantivy, fields, manifest)),
                Err(err) => {
                    tracing::warn!(
                        "the index at `{}` cannot be opened ({err}); rebuilding it",
                        dir.display()
                    );
                    clear(&dir)?;
                    None
                }
            },
            None => None,
        };
        let (tantivy, fields, manifest) = match opened {
            Some(opened) => opened,
            None => create(&dir, &root)?,
        };
        let reader = tantivy
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(Error::tantivy(&dir))?;
        Ok(Index {
            root,
            dir,
            params,
            tantivy,
            reader,
            fields,
            manifest,
            generation: next_generation(),
            #[cfg(feature = "embed")]
            vectors: Mutex::new(None),
            #[cfg(feature = "embed")]
            unembedded: None,
        })
    }

    /// The version of what searches see: it changes with every update that changes the index
    /// (an update that finds nothing to do keeps it), and no two indexes of one process share
    /// a value. Anything derived from search results (a completion's repository context) may
    /// be kept while the generation is the same.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The repository root (canonical).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The index directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Files and chunks in the index.
    pub fn stats(&self) -> IndexStats {
        let files = self
            .manifest
            .files
            .values()
            .filter(|state| state.skipped.is_none() && state.chunks > 0)
            .count();
        let searcher = self.reader.searcher();
        IndexStats {
            files,
            chunks: searcher.num_docs(),
            segments: searcher.segment_readers().len(),
        }
    }

    /// Bring the index up to date with the whole repository: walk it, read files whose mtime or
    /// size changed, re-index those whose content changed, remove files that are gone.
    pub fn update(&mut self) -> Result<UpdateReport> {
        let started = Instant::now();
        let walk = walk::walk_repository(&self.root, &self.params.walk)?;
        let walked = started.elapsed();
        let on_disk: HashSet<&str> = walk.files.iter().map(|f| f.relative.as_str()).collect();
        let gone: Vec<String> = self
            .manifest
            .files
            .keys()
            .filter(|path| !on_disk.contains(path.as_str()))
            .cloned()
            .collect();
        let mut report = self.apply(&walk, &gone, Scope::Tree)?;
        report.phases.walk = walked;
        report.elapsed = started.elapsed();
        Ok(report)
    }

    /// Bring the index up to date for `paths` only (files an editor or a watcher says changed):
    /// each is re-read if it changed, indexed if new, removed if deleted or now ignored.
    /// Paths outside the repository are ignored with a debug log.
    pub fn update_paths(&mut self, paths: &[PathBuf]) -> Result<UpdateReport> {
        let started = Instant::now();
        let mut relatives = BTreeSet::new();
        for path in paths {
            let absolute = if path.is_absolute() {
                path.clone()
            } else {
                self.root.join(path)
            };
            // The file may be gone, so canonicalize its directory, not the file.
            let canonical = absolute
                .parent()
                .and_then(|parent| std::fs::canonicalize(parent).ok())
                .zip(absolute.file_name())
                .map(|(parent, name)| parent.join(name));
            match canonical.and_then(|path| walk::relative_path(&self.root, &path)) {
                Some(relative) => {
                    relatives.insert(relative);
                }
                None => tracing::debug!("`{}` is not in the repository", path.display()),
            }
        }
        let walk = walk::walk_paths(&self.root, &relatives, &self.params.walk)?;
        let walked = started.elapsed();
        let found: HashSet<&str> = walk.files.iter().map(|f| f.relative.as_str()).collect();
        let gone: Vec<String> = relatives
            .iter()
            .filter(|path| {
                !found.contains(path.as_str()) && self.manifest.files.contains_key(*path)
            })
            .cloned()
            .collect();
        let mut report = self.apply(&walk, &gone, Scope::Paths)?;
        report.phases.walk = walked;
        report.elapsed = started.elapsed();
        Ok(report)
    }

    /// Index what `walk` found that changed, and remove `gone`.
    fn apply(&mut self, walk: &Walk, gone: &[String], scope: Scope) -> Result<UpdateReport> {
        let mut report = UpdateReport {
            files_seen: walk.files.len(),
            skipped: walk.skipped.clone(),
            ..UpdateReport::default()
        };
        let todo: Vec<&WalkedFile> = walk
            .files
            .iter()
            .filter(|file| {
                let known = self.manifest.files.get(&file.relative);
                !known
                    .is_some_and(|state| state.mtime_ns == file.mtime_ns && state.size == file.size)
            })
            .collect();
        report.files_unchanged = walk.files.len() - todo.len();
        if todo.is_empty() && gone.is_empty() {
            return Ok(report);
        }
        let phase = Instant::now();
        let mut writer = self.writer(todo.len(), scope)?;
        for path in gone {
            writer.delete_term(Term::from_field_text(self.fields.path, path));
            self.manifest.files.remove(path);
            report.files_removed += 1;
        }
        let outcomes = self.index_files(&writer, &todo)?;
        for (relative, outcome) in outcomes {
            match outcome {
                Outcome::Touched(state) => {
                    report.files_touched += 1;
                    self.manifest.files.insert(relative, state);
                }
                Outcome::Indexed {
                    state,
                    notes,
                    has_grammar,
                } => {
                    report.files_indexed += 1;
                    report.chunks_indexed += state.chunks as usize;
                    report.bytes_indexed += state.size;
                    report.files_without_grammar += usize::from(!has_grammar);
                    report
                        .notes
                        .extend(notes.into_iter().map(|note| (relative.clone(), note)));
                    self.manifest.files.insert(relative, state);
                }
                Outcome::Skipped { state, reason } => {
                    let was_indexed = self
                        .manifest
                        .files
                        .get(&relative)
                        .is_some_and(|old| old.skipped.is_none());
                    report.files_removed += usize::from(was_indexed);
                    report.skipped.push(Skipped {
                        relative: relative.clone(),
                        reason,
                    });
                    match state {
                        Some(state) => self.manifest.files.insert(relative, state),
                        None => self.manifest.files.remove(&relative),
                    };
                }
            }
        }
        for skip in &report.skipped {
            tracing::debug!("skipped `{}`: {}", skip.relative, skip.reason);
        }
        report.phases.index_files = phase.elapsed();
        let phase = Instant::now();
        writer.commit().map_err(Error::tantivy(&self.dir))?;
        match scope {
            // Dropping a writer abandons the merges it started (and the next writer would
            // start them again, on the next update's clock), so wait for them.
            Scope::Tree => writer
                .wait_merging_threads()
                .map_err(Error::tantivy(&self.dir))?,
            Scope::Paths => self.merge_small_segments(&mut writer)?,
        }
        report.phases.commit = phase.elapsed();
        let phase = Instant::now();
        self.manifest.save(&self.dir)?;
        report.phases.manifest = phase.elapsed();
        let phase = Instant::now();
        self.reader.reload().map_err(Error::tantivy(&self.dir))?;
        self.generation = next_generation();
        report.phases.reload = phase.elapsed();
        report.skipped.sort_by(|a, b| a.relative.cmp(&b.relative));
        Ok(report)
    }

    /// A writer for an update that reads `files` files: no more indexing threads than files.
    fn writer(&self, files: usize, scope: Scope) -> Result<IndexWriter<TantivyDocument>> {
        let threads = worker_threads(self.params.threads).min(8).min(files.max(1));
        // tantivy wants at least 15 MB per indexing thread.
        let heap = self.params.writer_heap_bytes.max(threads * (16 << 20));
        let options = IndexWriterOptions::builder()
            .num_worker_threads(threads)
            .memory_budget_per_thread(heap / threads)
            .num_merge_threads(worker_threads(self.params.threads).min(4))
            .build();
        let writer = self
            .tantivy
            .writer_with_options(options)
            .map_err(|err| match err {
                tantivy::TantivyError::LockFailure(..) => Error::Busy {
                    index_dir: self.dir.clone(),
                },
                other => Error::Tantivy {
                    index_dir: self.dir.clone(),
                    source: other,
                },
            })?;
        if scope == Scope::Paths {
            writer.set_merge_policy(Box::new(NoMergePolicy));
        }
        Ok(writer)
    }

    /// Merge the small segments into one once there are [`SMALL_SEGMENTS_MERGED`] of them.
    fn merge_small_segments(&self, writer: &mut IndexWriter<TantivyDocument>) -> Result<()> {
        let metas = self
            .tantivy
            .searchable_segment_metas()
            .map_err(Error::tantivy(&self.dir))?;
        let small: Vec<tantivy::index::SegmentId> = metas
            .iter()
            .filter(|meta| meta.max_doc() <= SMALL_SEGMENT_CHUNKS)
            .map(|meta| meta.id())
            .collect();
        if small.len() >= SMALL_SEGMENTS_MERGED {
            writer
                .merge(&small)
                .wait()
                .map_err(Error::tantivy(&self.dir))?;
        }
        Ok(())
    }

    /// Read, check, hash and chunk `files` on worker threads, adding their chunks to `writer`.
    fn index_files(
        &self,
        writer: &IndexWriter<TantivyDocument>,
        files: &[&WalkedFile],
    ) -> Result<Vec<(String, Outcome)>> {
        let next = AtomicUsize::new(0);
        let outcomes = Mutex::new(Vec::with_capacity(files.len()));
        let failure: Mutex<Option<Error>> = Mutex::new(None);
        std::thread::scope(|scope| {
            for _ in 0..worker_threads(self.params.threads).min(files.len()) {
                scope.spawn(|| {
                    let mut parser = SyntaxParser::new();
                    loop {
                        let at = next.fetch_add(1, Ordering::Relaxed);
                        let Some(file) = files.get(at) else { break };
                        match self.index_file(writer, &mut parser, file) {
                            Ok(outcome) => lock(&outcomes).push((file.relative.clone(), outcome)),
                            Err(err) => {
                                lock(&failure).get_or_insert(err);
                                break;
                            }
                        }
                    }
                });
            }
        });
        if let Some(err) = failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
            return Err(err);
        }
        let mut outcomes = outcomes.into_inner().unwrap_or_else(|p| p.into_inner());
        outcomes.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(outcomes)
    }

    fn index_file(
        &self,
        writer: &IndexWriter<TantivyDocument>,
        parser: &mut SyntaxParser,
        file: &WalkedFile,
    ) -> Result<Outcome> {
        let path = walk::full_path(&self.root, &file.relative);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(err) => {
                writer.delete_term(Term::from_field_text(self.fields.path, &file.relative));
                return Ok(Outcome::Skipped {
                    state: None,
                    reason: SkipReason::Unreadable {
                        error: err.to_string(),
                    },
                });
            }
        };
        let hash = xxhash_rust::xxh3::xxh3_64(&bytes);
        let mut state = FileState {
            mtime_ns: file.mtime_ns,
            size: bytes.len() as u64,
            hash,
            chunks: 0,
            skipped: None,
        };
        if let Some(known) = self.manifest.files.get(&file.relative)
            && known.hash == hash
            && known.size == state.size
        {
            state.chunks = known.chunks;
            state.skipped.clone_from(&known.skipped);
            return Ok(Outcome::Touched(state));
        }
        writer.delete_term(Term::from_field_text(self.fields.path, &file.relative));
        if let Err(reason) = walk::check_content(&bytes, &self.params.walk) {
            state.skipped = Some(reason.to_string());
            return Ok(Outcome::Skipped {
                state: Some(state),
                reason,
            });
        }
        let mut notes = Vec::new();
        let text = match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(err) => {
                notes.push(FileNote::InvalidUtf8 {
                    at_byte: err.utf8_error().valid_up_to(),
                });
                String::from_utf8_lossy(err.as_bytes()).into_owned()
            }
        };
        let (chunks, language, outcome) =
            chunk::chunk_file(parser, &file.relative, &text, &self.params.chunk);
        match outcome {
            ParseOutcome::ParsedWithErrors { first_error_line } => {
                notes.push(FileNote::ParseErrors { first_error_line });
            }
            ParseOutcome::Failed { error } => notes.push(FileNote::ParseFailed { error }),
            ParseOutcome::Parsed | ParseOutcome::NoGrammar => {}
        }
        let language_name = language.map_or("text", |language| language.name());
        for chunk in &chunks {
            let doc = self.document(&file.relative, language_name, chunk);
            writer
                .add_document(doc)
                .map_err(Error::tantivy(&self.dir))?;
        }
        state.chunks = u32::try_from(chunks.len()).unwrap_or(u32::MAX);
        Ok(Outcome::Indexed {
            state,
            notes,
            has_grammar: language.is_some(),
        })
    }

    fn document(&self, relative: &str, language: &str, chunk: &Chunk) -> TantivyDocument {
        let fields = &self.fields;
        let mut doc = TantivyDocument::new();
        doc.add_text(fields.path, relative);
        doc.add_text(fields.path_terms, relative);
        doc.add_text(fields.language, language);
        doc.add_text(fields.kind, chunk.kind.name());
        if let Some(symbol) = &chunk.symbol {
            doc.add_text(fields.symbol, symbol);
        }
        if !chunk.context.is_empty() {
            doc.add_text(fields.context, chunk.context.join("\n"));
        }
        doc.add_text(fields.body, &chunk.text);
        doc.add_u64(fields.start_line, chunk.start_line as u64);
        doc.add_u64(fields.end_line, chunk.end_line as u64);
        doc.add_u64(fields.chunk_id, chunk_id(relative, chunk));
        doc
    }
}

/// What became of one file.
enum Outcome {
    /// Read; same content as before (only its mtime moved).
    Touched(FileState),
    /// Chunked and indexed.
    Indexed {
        state: FileState,
        notes: Vec<FileNote>,
        has_grammar: bool,
    },
    /// Left out; `state` records it so an unchanged skipped file is not read again.
    Skipped {
        state: Option<FileState>,
        reason: SkipReason,
    },
}

/// A chunk's content id: the same path, lines and text give the same id in every build.
pub(crate) fn chunk_id(relative: &str, chunk: &Chunk) -> u64 {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    hasher.update(relative.as_bytes());
    hasher.update(&[0]);
    hasher.update(&(chunk.start_line as u64).to_le_bytes());
    hasher.update(&(chunk.end_line as u64).to_le_bytes());
    hasher.update(chunk.text.as_bytes());
    hasher.digest()
}

fn worker_threads(requested: usize) -> usize {
    if requested == 0 {
        std::thread::available_parallelism().map_or(2, usize::from)
    } else {
        requested
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}

fn register_tokenizer(index: &tantivy::Index) {
    index
        .tokenizers()
        .register(CODE_TOKENIZER, TextAnalyzer::from(CodeTokenizer::default()));
}

fn open_tantivy(dir: &Path) -> Result<(tantivy::Index, Fields)> {
    let format = std::fs::read_to_string(dir.join(FORMAT_FILE)).unwrap_or_default();
    if format.trim() != FORMAT_VERSION.to_string() {
        return Err(Error::Io {
            action: "read the format version in",
            path: dir.join(FORMAT_FILE),
            source: std::io::Error::other(format!("found `{}`", format.trim())),
        });
    }
    let tantivy_dir = dir.join(TANTIVY_DIR);
    let directory =
        UnsyncedDirectory::open(&tantivy_dir).map_err(|err| Error::tantivy(dir)(err.into()))?;
    let index = tantivy::Index::open(directory).map_err(Error::tantivy(dir))?;
    let (expected, fields) = schema();
    if index.schema() != expected {
        return Err(Error::Tantivy {
            index_dir: dir.to_path_buf(),
            source: tantivy::TantivyError::SchemaError(
                "the schema differs from this build's".into(),
            ),
        });
    }
    register_tokenizer(&index);
    Ok((index, fields))
}

fn create(dir: &Path, root: &Path) -> Result<(tantivy::Index, Fields, Manifest)> {
    let format_path = dir.join(FORMAT_FILE);
    std::fs::write(&format_path, format!("{FORMAT_VERSION}\n"))
        .map_err(Error::io("write", &format_path))?;
    let tantivy_dir = dir.join(TANTIVY_DIR);
    std::fs::create_dir_all(&tantivy_dir).map_err(Error::io("create", &tantivy_dir))?;
    let (schema, fields) = schema();
    let directory =
        UnsyncedDirectory::open(&tantivy_dir).map_err(|err| Error::tantivy(dir)(err.into()))?;
    let index = tantivy::Index::create(directory, schema, tantivy::IndexSettings::default())
        .map_err(Error::tantivy(dir))?;
    register_tokenizer(&index);
    let manifest = Manifest::new(root);
    manifest.save(dir)?;
    Ok((index, fields, manifest))
}

/// Remove what an index directory holds (only the files this crate writes there).
fn clear(dir: &Path) -> Result<()> {
    let tantivy_dir = dir.join(TANTIVY_DIR);
    if tantivy_dir.exists() {
        std::fs::remove_dir_all(&tantivy_dir).map_err(Error::io("remove", &tantivy_dir))?;
    }
    for name in [
        FORMAT_FILE,
        crate::manifest::MANIFEST_FILE,
        crate::search::VECTORS_FILE,
    ] {
        let path = dir.join(name);
        if path.exists() {
            std::fs::remove_file(&path).map_err(Error::io("remove", &path))?;
        }
    }
    Ok(())
}
