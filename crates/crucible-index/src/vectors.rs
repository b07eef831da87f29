//! Embedding vectors of an index's chunks (feature `embed`), keyed by chunk content id so an
//! update embeds only new chunks; hybrid search fuses their cosine ranking with BM25 by
//! reciprocal rank fusion.

use std::collections::{HashMap, HashSet};
use std::io::{BufWriter, Write};
use std::path::Path;

use tantivy::collector::TopDocs;
use tantivy::query::TermQuery;
use tantivy::schema::{IndexRecordOption, Value};
use tantivy::{DocAddress, TantivyDocument, Term};

use crate::embed::{Embedder, cosine};
use crate::fuse::{RRF_K, reciprocal_rank_fusion};
use crate::search::{VECTORS_FILE, query_terms};
use crate::{Error, Filters, Hit, Index, Ranked, Result};

const MAGIC: &[u8; 8] = b"CRVEC01\n";

/// Chunks embedded per model call.
const BATCH: usize = 16;

/// What [`Index::embed_chunks`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EmbedReport {
    /// Chunks embedded now.
    pub embedded: usize,
    /// Chunks whose vector was kept from before.
    pub reused: usize,
    /// Vectors dropped because their chunk left the index.
    pub dropped: usize,
}

/// The vectors, in memory.
#[derive(Debug, Default)]
pub(crate) struct Vectors {
    dim: usize,
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
        let corrupt = || Error::Io {
            action: "read",
            path: path.clone(),
            source: std::io::Error::other(
                "not a vectors file of this version; run `crucible index --embed` again after deleting it",
            ),
        };
        if bytes.len() < 16 || &bytes[..8] != MAGIC {
            return Err(corrupt());
        }
        let dim = u32::from_le_bytes(bytes[8..12].try_into().map_err(|_| corrupt())?) as usize;
        let record = 8 + 4 * dim;
        let body = &bytes[16..];
        if dim == 0 || body.len() % record != 0 {
            return Err(corrupt());
        }
        let mut by_id = HashMap::with_capacity(body.len() / record);
        for entry in body.chunks_exact(record) {
            let id = u64::from_le_bytes(entry[..8].try_into().map_err(|_| corrupt())?);
            let vector = entry[8..]
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            by_id.insert(id, vector);
        }
        Ok(Vectors { dim, by_id })
    }

    fn save(&self, dir: &Path) -> Result<()> {
        let path = dir.join(VECTORS_FILE);
        let temporary = dir.join(format!("{VECTORS_FILE}.tmp"));
        let write = || -> std::io::Result<()> {
            let mut out = BufWriter::new(std::fs::File::create(&temporary)?);
            out.write_all(MAGIC)?;
            out.write_all(&u32::try_from(self.dim).unwrap_or(0).to_le_bytes())?;
            out.write_all(&[0; 4])?;
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

    pub(crate) fn len(&self) -> usize {
        self.by_id.len()
    }
}

impl Index {
    /// Embed every chunk of the index that has no vector yet, drop vectors of chunks that are
    /// gone, and save them. Chunks are embedded as `path`, symbol, signatures and text.
    pub fn embed_chunks(&mut self, embedder: &Embedder) -> Result<EmbedReport> {
        let mut vectors = Vectors::load(&self.dir)?;
        if vectors.dim != embedder.dim() {
            vectors = Vectors {
                dim: embedder.dim(),
                by_id: HashMap::new(),
            };
        }
        let searcher = self.reader.searcher();
        let mut live = HashSet::new();
        let mut todo: Vec<(u64, String)> = Vec::new();
        for segment in searcher.segment_readers() {
            let store = segment
                .get_store_reader(64)
                .map_err(Error::tantivy(&self.dir))?;
            for doc_id in segment.doc_ids_alive() {
                let doc: TantivyDocument = store.get(doc_id).map_err(Error::tantivy(&self.dir))?;
                let id = doc
                    .get_first(self.fields.chunk_id)
                    .and_then(|v| v.as_u64())
                    .unwrap_or(0);
                live.insert(id);
                if vectors.by_id.contains_key(&id) {
                    continue;
                }
                let text = |field| {
                    doc.get_first(field)
                        .and_then(|v| v.as_str())
                        .unwrap_or("")
                        .to_string()
                };
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
        let before = vectors.by_id.len();
        vectors.by_id.retain(|id, _| live.contains(id));
        let mut report = EmbedReport {
            dropped: before - vectors.by_id.len(),
            reused: vectors.by_id.len(),
            ..EmbedReport::default()
        };
        for batch in todo.chunks(BATCH) {
            let texts: Vec<&str> = batch.iter().map(|(_, text)| text.as_str()).collect();
            let embedded = embedder.embed(&texts)?;
            for ((id, _), vector) in batch.iter().zip(embedded) {
                vectors.by_id.insert(*id, vector);
            }
            report.embedded += batch.len();
        }
        vectors.save(&self.dir)?;
        Ok(report)
    }

    /// Chunks with a stored vector.
    pub fn embedded_chunks(&self) -> Result<usize> {
        Ok(Vectors::load(&self.dir)?.len())
    }

    /// The `k` best chunks by BM25 and embeddings together, fused by reciprocal rank fusion
    /// (k = 60) over each ranking's top `max(4k, 50)`. Each hit's `why` holds its place in both.
    pub fn search_hybrid(
        &self,
        query: &str,
        k: usize,
        filters: &Filters,
        embedder: &Embedder,
    ) -> Result<Vec<Hit>> {
        let terms = query_terms(query);
        let depth = (4 * k).max(50);
        let searcher = self.reader.searcher();
        let bm25 = if terms.is_empty() {
            Vec::new()
        } else {
            self.bm25(&searcher, &terms, depth, filters)?
        };
        let query_vector = embedder.embed(&[query])?.pop().unwrap_or_default();
        let vectors = Vectors::load(&self.dir)?;
        let mut by_cosine: Vec<(u64, f32)> = vectors
            .by_id
            .iter()
            .map(|(id, vector)| (*id, cosine(&query_vector, vector)))
            .collect();
        by_cosine.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        // Keep the best vectors whose chunks pass the filters.
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
