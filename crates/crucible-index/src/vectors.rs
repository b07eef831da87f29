//! Embedding vectors of an index's chunks (feature `embed`), keyed by chunk content id so an
//! update embeds only new chunks; hybrid search fuses their cosine ranking with BM25 by
//! reciprocal rank fusion.
//!
//! The vectors live in one file beside tantivy's (`vectors.bin`: a header with the dimension
//! and the model's fingerprint, then `(chunk id, vector)` records), loaded once per open index
//! and replaced whole by write-then-rename when an update changes them. Vectors of another
//! model are dropped and the chunks embedded again.

use std::collections::{HashMap, HashSet};
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;

use tantivy::collector::TopDocs;
use tantivy::query::TermQuery;
use tantivy::schema::{IndexRecordOption, Value};
use tantivy::{DocAddress, TantivyDocument, Term};

use crate::embed::{Embedder, cosine};
use crate::fuse::{RRF_K, reciprocal_rank_fusion};
use crate::search::{VECTORS_FILE, query_terms};
use crate::{Error, Filters, Hit, Index, Ranked, Result};

const MAGIC: &[u8; 8] = b"CRVEC02\n";
/// Magic, dimension (u32), reserved (u32), model fingerprint (u64).
const HEADER_BYTES: usize = 24;

/// Chunks embedded per model call. Chunks are sorted by length first, so a batch pads little;
/// larger batches gained nothing on two cores.
const BATCH: usize = 16;

/// What [`Index::embed_chunks`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EmbedReport {
    /// Chunks embedded now.
    pub embedded: usize,
    /// Chunks whose vector was kept from before.
    pub reused: usize,
    /// Vectors dropped because their chunk left the index (or another model made them).
    pub dropped: usize,
    /// Time spent embedding.
    pub elapsed: std::time::Duration,
    /// Chunks still without a vector: the embedding was stopped before them
    /// ([`Index::embed_chunks_until`]).
    pub remaining: usize,
}

/// A chunk to embed: its content id and the text the model reads.
type ToEmbed = (u64, String);

/// The chunks an embedding was stopped before, sorted as it embeds them, and the ids of the
/// chunks that were live then: what the next call continues with, instead of reading every
/// chunk without a vector again, while the index's generation and the model stay the same.
#[derive(Debug)]
pub(crate) struct Unembedded {
    generation: u64,
    fingerprint: u64,
    live: HashSet<u64>,
    todo: Vec<ToEmbed>,
}

/// The vectors, in memory.
#[derive(Debug, Default, Clone)]
pub(crate) struct Vectors {
    dim: usize,
    fingerprint: u64,
    by_id: HashMap<u64, Vec<f32>>,
}

impl Vectors {
    pub(crate) fn load(dir: &Path) -> Result<Vectors> {
        let path = dir.join(VECTORS_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vectors::default()),
            Err(err) => return Err(Error::io("read", &path)(err)),
        };
        let Some(vectors) = Vectors::parse(&bytes) else {
            // A cache: one of another version or a torn one is rebuilt by the next embedding.
            tracing::warn!(
                "`{}` is not a vectors file of this version; the chunks will be embedded again",
                path.display()
            );
            return Ok(Vectors::default());
        };
        Ok(vectors)
    }

    fn parse(bytes: &[u8]) -> Option<Vectors> {
        if bytes.len() < HEADER_BYTES || &bytes[..8] != MAGIC {
            return None;
        }
        let dim = u32::from_le_bytes(bytes[8..12].try_into().ok()?) as usize;
        let fingerprint = u64::from_le_bytes(bytes[16..24].try_into().ok()?);
        let record = 8 + 4 * dim;
        let body = &bytes[HEADER_BYTES..];
        if dim == 0 || !body.len().is_multiple_of(record) {
            return None;
        }
        let mut by_id = HashMap::with_capacity(body.len() / record);
        for entry in body.chunks_exact(record) {
            let id = u64::from_le_bytes(entry[..8].try_into().ok()?);
            let vector = entry[8..]
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            by_id.insert(id, vector);
        }
        Some(Vectors {
            dim,
            fingerprint,
            by_id,
        })
    }

    fn save(&self, dir: &Path) -> Result<()> {
        let path = dir.join(VECTORS_FILE);
        let temporary = dir.join(format!("{VECTORS_FILE}.tmp"));
        let write = || -> std::io::Result<()> {
            let mut out = BufWriter::new(std::fs::File::create(&temporary)?);
            out.write_all(MAGIC)?;
            out.write_all(&u32::try_from(self.dim).unwrap_or(0).to_le_bytes())?;
            out.write_all(&[0; 4])?;
            out.write_all(&self.fingerprint.to_le_bytes())?;
            let mut ids: Vec<&u64> = self.by_id.keys().collect();
            ids.sort();
            for id in ids {
                out.write_all(&id.to_le_bytes())?;
                for value in &self.by_id[id] {
                    out.write_all(&value.to_le_bytes())?;
                }
            }
            out.flush()
        };
        write().map_err(Error::io("write", &temporary))?;
        std::fs::rename(&temporary, &path).map_err(Error::io("replace", &path))
    }
}

impl Index {
    /// The vectors, loaded from the index directory the first time they are needed.
    fn vectors(&self) -> Result<Arc<Vectors>> {
        let mut cached = self
            .vectors
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if let Some(vectors) = &*cached {
            return Ok(vectors.clone());
        }
        let vectors = Arc::new(Vectors::load(&self.dir)?);
        *cached = Some(vectors.clone());
        Ok(vectors)
    }

    /// Embed every chunk of the index that has no vector yet, drop the vectors of chunks that
    /// are gone, and save them. Chunks are embedded as their path, symbol, signatures and text.
    /// `progress` is told (chunks embedded, chunks to embed) after each batch.
    pub fn embed_chunks(
        &mut self,
        embedder: &Embedder,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<EmbedReport> {
        self.embed_chunks_until(embedder, BATCH, progress, &mut || false)
    }

    /// [`Index::embed_chunks`] `batch` chunks at a time, asking `stop` before each batch: once
    /// it says stop, the vectors made so far are saved and the other chunks are left for a
    /// later call (counted in `remaining`). A program that must stay responsive (a language
    /// server embedding while the user types) embeds this way between its requests.
    pub fn embed_chunks_until(
        &mut self,
        embedder: &Embedder,
        batch: usize,
        progress: &mut dyn FnMut(usize, usize),
        stop: &mut dyn FnMut() -> bool,
    ) -> Result<EmbedReport> {
        let started = std::time::Instant::now();
        let mut vectors = Vectors::clone(&*self.vectors()?);
        let mut report = EmbedReport::default();
        if vectors.dim != embedder.dim() || vectors.fingerprint != embedder.fingerprint() {
            report.dropped = vectors.by_id.len();
            vectors = Vectors {
                dim: embedder.dim(),
                fingerprint: embedder.fingerprint(),
                by_id: HashMap::new(),
            };
        }
        let (live, mut todo) = match self.unembedded.take() {
            Some(left)
                if left.generation == self.generation
                    && left.fingerprint == vectors.fingerprint =>
            {
                (left.live, left.todo)
            }
            _ => {
                let (live, mut todo) = self.chunks_without_vectors(&vectors)?;
                // Similar lengths together: each batch is padded to its longest text.
                todo.sort_by_key(|(id, text)| (text.len(), *id));
                (live, todo)
            }
        };
        let before = vectors.by_id.len();
        vectors.by_id.retain(|id, _| live.contains(id));
        report.dropped += before - vectors.by_id.len();
        report.reused = vectors.by_id.len();
        for batch in todo.chunks(batch.max(1)) {
            if stop() {
                report.remaining = todo.len() - report.embedded;
                break;
            }
            let texts: Vec<&str> = batch.iter().map(|(_, text)| text.as_str()).collect();
            let embedded = embedder.embed(&texts)?;
            for ((id, _), vector) in batch.iter().zip(embedded) {
                vectors.by_id.insert(*id, vector);
            }
            report.embedded += batch.len();
            progress(report.embedded, todo.len());
        }
        if report.embedded + report.dropped > 0 {
            vectors.save(&self.dir)?;
            *self
                .vectors
                .lock()
                .unwrap_or_else(|poison| poison.into_inner()) = Some(Arc::new(vectors));
            // What a hybrid search finds has changed.
            self.generation = crate::index::next_generation();
        }
        if report.remaining > 0 {
            todo.drain(..report.embedded);
            self.unembedded = Some(Unembedded {
                generation: self.generation,
                fingerprint: embedder.fingerprint(),
                live,
                todo,
            });
        }
        report.elapsed = started.elapsed();
        Ok(report)
    }

    /// The ids of the live chunks, and the id and text to embed of each one without a vector
    /// (ids come from the fast field; only the chunks to embed are read from the store).
    fn chunks_without_vectors(&self, vectors: &Vectors) -> Result<(HashSet<u64>, Vec<ToEmbed>)> {
        let searcher = self.reader.searcher();
        let mut live = HashSet::new();
        let mut todo = Vec::new();
        for segment in searcher.segment_readers() {
            let ids = segment
                .fast_fields()
                .u64("chunk_id")
                .map_err(Error::tantivy(&self.dir))?;
            let mut store = None;
            for doc_id in segment.doc_ids_alive() {
                let id = ids.first(doc_id).unwrap_or(0);
                live.insert(id);
                if vectors.by_id.contains_key(&id) {
                    continue;
                }
                let store = match &mut store {
                    Some(store) => store,
                    None => store.insert(
                        segment
                            .get_store_reader(64)
                            .map_err(Error::io("read the document store in", &self.dir))?,
                    ),
                };
                let doc: TantivyDocument = store.get(doc_id).map_err(Error::tantivy(&self.dir))?;
                let text = |field| doc.get_first(field).and_then(|v| v.as_str()).unwrap_or("");
                let input = format!(
                    "{}\n{}\n{}\n{}",
                    text(self.fields.path),
                    text(self.fields.symbol),
                    text(self.fields.context),
                    text(self.fields.body)
                );
                todo.push((id, input));
            }
        }
        Ok((live, todo))
    }

    /// Chunks with a stored vector.
    pub fn embedded_chunks(&self) -> Result<usize> {
        Ok(self.vectors()?.by_id.len())
    }

    /// The `k` best chunks by BM25 and embeddings together, fused by reciprocal rank fusion
    /// (k = 60) over each ranking's top `k` (Elasticsearch's default window). Each hit's `why`
    /// holds its place in both. A query without code terms is ranked by embeddings alone.
    ///
    /// A deeper window hurts in a repository: with each ranking's top 50 of a few hundred
    /// chunks, nearly every chunk is in both, and any chunk in both (BM25 matching only `the`
    /// and `of`, the embedding ranking it 26th) outranks one that only one ranking puts first;
    /// on the fixture repository, "goods in a customer basket" then left the shopping cart,
    /// the embedding's first, out of the top 3.
    pub fn search_hybrid(
        &self,
        query: &str,
        k: usize,
        filters: &Filters,
        embedder: &Embedder,
    ) -> Result<Vec<Hit>> {
        let terms = query_terms(query);
        let depth = k;
        let searcher = self.reader.searcher();
        let bm25 = if terms.is_empty() {
            Vec::new()
        } else {
            self.bm25(&searcher, &terms, depth, filters)?
        };
        let query_vector = embedder.embed_query(query)?;
        let vectors = self.vectors()?;
        let comparable = vectors.fingerprint == embedder.fingerprint();
        let mut by_cosine: Vec<(u64, f32)> = if comparable {
            vectors
                .by_id
                .iter()
                .map(|(id, vector)| (*id, cosine(&query_vector, vector)))
                .collect()
        } else {
            Vec::new()
        };
        by_cosine.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        // The best vectors whose chunks are live and pass the filters.
        let mut embedded: Vec<(DocAddress, f32)> = Vec::new();
        for (id, similarity) in by_cosine {
            if embedded.len() >= depth {
                break;
            }
            if let Some(address) = self.find_chunk(&searcher, id, filters)? {
                embedded.push((address, similarity));
            }
        }
        let bm25_order: Vec<DocAddress> = bm25.iter().map(|(_, address)| *address).collect();
        let embed_order: Vec<DocAddress> = embedded.iter().map(|(address, _)| *address).collect();
        let fused = reciprocal_rank_fusion(&[bm25_order, embed_order], RRF_K);
        let mut hits = Vec::with_capacity(k);
        for (address, score) in fused.into_iter().take(k) {
            let mut hit = self.hit(&searcher, address, &terms)?;
            hit.score = score;
            hit.why.bm25 = bm25
                .iter()
                .position(|(_, a)| *a == address)
                .map(|at| Ranked {
                    rank: at + 1,
                    score: bm25[at].0,
                });
            hit.why.embedding = embedded
                .iter()
                .position(|(a, _)| *a == address)
                .map(|at| Ranked {
                    rank: at + 1,
                    score: embedded[at].1,
                });
            hits.push(hit);
        }
        Ok(hits)
    }

    /// The live chunk with content id `id` that passes `filters`, if any.
    fn find_chunk(
        &self,
        searcher: &tantivy::Searcher,
        id: u64,
        filters: &Filters,
    ) -> Result<Option<DocAddress>> {
        let term = Term::from_field_u64(self.fields.chunk_id, id);
        let query = self.filtered(
            Box::new(TermQuery::new(term, IndexRecordOption::Basic)),
            filters,
        )?;
        let found = searcher
            .search(&*query, &TopDocs::with_limit(1).order_by_score())
            .map_err(Error::tantivy(&self.dir))?;
        Ok(found.first().map(|(_, address)| *address))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_survive_a_save_and_a_load() {
        let dir = tempfile::tempdir().unwrap();
        let vectors = Vectors {
            dim: 2,
            fingerprint: 7,
            by_id: HashMap::from([(1, vec![0.6, 0.8]), (9, vec![1.0, 0.0])]),
        };
        vectors.save(dir.path()).unwrap();
        let loaded = Vectors::load(dir.path()).unwrap();
        assert_eq!(loaded.dim, 2);
        assert_eq!(loaded.fingerprint, 7);
        assert_eq!(loaded.by_id, vectors.by_id);
    }

    #[test]
    fn a_torn_or_foreign_vectors_file_loads_as_none() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Vectors::load(dir.path()).unwrap().by_id.len(), 0, "missing");
        let vectors = Vectors {
            dim: 2,
            fingerprint: 7,
            by_id: HashMap::from([(1, vec![0.6, 0.8])]),
        };
        vectors.save(dir.path()).unwrap();
        let path = dir.path().join(VECTORS_FILE);
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
        assert_eq!(Vectors::load(dir.path()).unwrap().by_id.len(), 0, "torn");
        std::fs::write(&path, b"CRVEC01\n\x02\0\0\0\0\0\0\0").unwrap();
        assert_eq!(Vectors::load(dir.path()).unwrap().by_id.len(), 0, "old");
    }
}
