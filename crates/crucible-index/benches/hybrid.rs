//! The embedding benchmark (`bench/embeddings/run.sh` drives it; feature `embed`): a cold BM25
//! index of a tree, then its chunks embedded (chunks/s), a second embedding pass with nothing
//! new, query latency p50/p95 of BM25 and of hybrid search (BM25 and embeddings fused) over a
//! fixed query set and a code window, and the top hits of both for the first queries.
//!
//! `cargo bench -p crucible-index --features embed --bench hybrid -- TREE INDEX_DIR MODEL_DIR`
//! TREE is indexed into INDEX_DIR (emptied first); MODEL_DIR holds all-MiniLM-L6-v2 as
//! `scripts/embedding-model.sh` installs it. Prints one JSON object.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a benchmark program"
)]

use std::path::Path;
use std::time::{Duration, Instant};

use crucible_index::embed::Embedder;
use crucible_index::{Filters, Hit, Index, IndexParams};

/// Queries as people type them, words rather than identifiers, for a Python HTTP library
/// (the sdists of bench/embeddings/run.sh), then a few about anything.
const QUERIES: &[&str] = &[
    "follow redirects",
    "set a timeout on the request",
    "basic authentication with username and password",
    "parse the query string of a url",
    "stream the response body in chunks",
    "retry a request when the connection fails",
    "decode the response as json",
    "send files with a multipart form",
    "proxy configuration from environment variables",
    "cookies kept between requests",
    "close the connection pool",
    "verify the server's TLS certificate",
];

/// A code window, as completion sends (the lines before a cursor).
const CODE_QUERY: &str = r#"    def send(self, request, *, stream=False, auth=None, follow_redirects=None):
        if self._state == ClientState.CLOSED:
            raise RuntimeError("Cannot send a request, as the client has been closed.")
        self._state = ClientState.OPENED
        follow_redirects = (
            self.follow_redirects
            if isinstance(follow_redirects, UseClientDefault)
            else follow_redirects
        )
        auth = self._build_request_auth(request, auth)
        response = self._send_handling_auth("#;

/// Times each query is run (after one warm-up round).
const ROUNDS: usize = 5;

/// Hits kept per query (repository context asks for 24).
const K: usize = 10;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let (Some(tree), Some(index_dir), Some(model_dir)) = (args.first(), args.get(1), args.get(2))
    else {
        eprintln!("usage: hybrid TREE INDEX_DIR MODEL_DIR");
        std::process::exit(2);
    };
    let (tree, index_dir, model_dir) =
        (Path::new(tree), Path::new(index_dir), Path::new(model_dir));
    if index_dir.exists() {
        std::fs::remove_dir_all(index_dir).expect("the index directory is removed");
    }
    let started = Instant::now();
    let embedder = Embedder::load(model_dir).expect("the model loads");
    let load = started.elapsed();

    let mut index = Index::open(tree, index_dir, IndexParams::default()).expect("index opens");
    let cpu = cpu_ms();
    let started = Instant::now();
    let cold = index.update().expect("cold index");
    let bm25_wall = started.elapsed();
    let bm25_cpu = cpu_ms() - cpu;
    let chunks = index.stats().chunks;

    let cpu = cpu_ms();
    let started = Instant::now();
    let embedded = index
        .embed_chunks(&embedder, &mut |_, _| {})
        .expect("embedding");
    let embed_wall = started.elapsed();
    let embed_cpu = cpu_ms() - cpu;
    let started = Instant::now();
    let again = index
        .embed_chunks(&embedder, &mut |_, _| {})
        .expect("embedding again");
    let again_wall = started.elapsed();

    let bm25 = latencies(QUERIES, &|query| {
        index.search(query, K, &Filters::default()).expect("bm25")
    });
    let hybrid = latencies(QUERIES, &|query| {
        index
            .search_hybrid(query, K, &Filters::default(), &embedder)
            .expect("hybrid")
    });
    let code_bm25 = latencies(&[CODE_QUERY], &|query| {
        index.search(query, 24, &Filters::default()).expect("bm25")
    });
    let code_hybrid = latencies(&[CODE_QUERY], &|query| {
        index
            .search_hybrid(query, 24, &Filters::default(), &embedder)
            .expect("hybrid")
    });
    let cpu = cpu_ms();
    for query in QUERIES {
        std::hint::black_box(embedder.embed_query(query).expect("query embedding"));
    }
    let embed_query_cpu = (cpu_ms() - cpu) / QUERIES.len() as f64;

    let examples: Vec<serde_json::Value> = QUERIES
        .iter()
        .map(|query| {
            let top = |hits: Vec<Hit>| -> Vec<String> {
                hits.iter()
                    .take(5)
                    .map(|hit| {
                        let mut line = format!(
                            "{}:{}-{} {}",
                            hit.path,
                            hit.start_line,
                            hit.end_line,
                            hit.symbol.as_deref().unwrap_or("-")
                        );
                        if let Some(embedding) = hit.why.embedding {
                            line.push_str(&format!(
                                " [emb #{} cos {:.3}; bm25 {}]",
                                embedding.rank,
                                embedding.score,
                                hit.why
                                    .bm25
                                    .map_or_else(|| "-".into(), |b| format!("#{}", b.rank))
                            ));
                        }
                        line
                    })
                    .collect()
            };
            serde_json::json!({
                "query": query,
                "bm25": top(index.search(query, 5, &Filters::default()).expect("bm25")),
                "hybrid": top(index.search_hybrid(query, 5, &Filters::default(), &embedder).expect("hybrid")),
            })
        })
        .collect();

    let report = serde_json::json!({
        "tree": tree,
        "files": index.stats().files,
        "chunks": chunks,
        "bytes_indexed": cold.bytes_indexed,
        "model_load_ms": round(ms(load), 1),
        "bm25_index_s": round(bm25_wall.as_secs_f64(), 2),
        "bm25_index_cpu_s": round(bm25_cpu / 1e3, 2),
        "embed_s": round(embed_wall.as_secs_f64(), 2),
        "embed_cpu_s": round(embed_cpu / 1e3, 2),
        "embedded": embedded.embedded,
        "embed_chunks_per_s": round(embedded.embedded as f64 / embed_wall.as_secs_f64(), 1),
        "embed_again_ms": round(ms(again_wall), 1),
        "embed_again_embedded": again.embedded,
        "vectors_bytes": std::fs::metadata(index_dir.join("vectors.bin")).map(|m| m.len()).unwrap_or(0),
        "query_bm25_p50_ms": round(percentile(&bm25, 0.50), 2),
        "query_bm25_p95_ms": round(percentile(&bm25, 0.95), 2),
        "query_hybrid_p50_ms": round(percentile(&hybrid, 0.50), 2),
        "query_hybrid_p95_ms": round(percentile(&hybrid, 0.95), 2),
        "query_embed_cpu_mean_ms": round(embed_query_cpu, 2),
        "code_window_bm25_p50_ms": round(percentile(&code_bm25, 0.50), 2),
        "code_window_hybrid_p50_ms": round(percentile(&code_hybrid, 0.50), 2),
        "code_window_hybrid_p95_ms": round(percentile(&code_hybrid, 0.95), 2),
        "examples": examples,
    });
    println!(
        "{}",
        serde_json::to_string_pretty(&report).expect("a JSON value prints")
    );
}

/// Milliseconds of each run of each query (`ROUNDS` rounds after a warm-up), sorted.
fn latencies(queries: &[&str], search: &dyn Fn(&str) -> Vec<Hit>) -> Vec<f64> {
    for query in queries {
        std::hint::black_box(search(query));
    }
    let mut times = Vec::new();
    for _ in 0..ROUNDS {
        for query in queries {
            let started = Instant::now();
            std::hint::black_box(search(query));
            times.push(ms(started.elapsed()));
        }
    }
    times.sort_by(f64::total_cmp);
    times
}

/// CPU time of this process so far (user and system, every thread), ms.
#[expect(unsafe_code, reason = "getrusage(2) is the process's CPU time")]
fn cpu_ms() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (seconds(usage.ru_utime) + seconds(usage.ru_stime)) * 1000.0
}

/// The nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn round(value: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (value * scale).round() / scale
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
