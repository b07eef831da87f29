//! The repository-index benchmark (`bench/index/run.sh` drives it): a cold index of a large
//! tree (MB/s, files/s, peak RSS), updates with nothing changed and after one file changes
//! (whole-tree walk and named path), and BM25 query latency p50/p95 over a fixed query set.
//!
//! `cargo bench -p crucible-index --bench index -- TREE INDEX_DIR [CHANGED_FILE]`
//! TREE is indexed into INDEX_DIR (emptied first); CHANGED_FILE (relative to TREE, default: the
//! first indexed `.rs` file) is appended to, so TREE must be a copy. Prints one JSON object.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a benchmark program"
)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crucible_index::{Filters, Index, IndexParams, SkipReason};

/// Short queries, as people type them: words and identifiers.
const QUERIES: &[&str] = &[
    "parse http request",
    "HashMap insert entry",
    "serialize struct field",
    "read_to_string",
    "TcpStream connect timeout",
    "utf8 decode error",
    "thread spawn join handle",
    "Arc Mutex lock",
    "base64 encode",
    "compile regex",
    "poll future waker",
    "impl Iterator for",
    "from_str_radix",
    "block_on runtime",
    "sha256 digest update",
    "json value get",
    "BufReader lines",
    "retry with backoff",
    "deserialize_any visitor",
    "unsafe transmute pointer",
];

/// A code window, as iterative retrieval sends (RepoCoder: the last lines before the cursor).
const CODE_QUERY: &str = r#"    pub fn read_frame(&mut self) -> io::Result<Option<Frame>> {
        loop {
            if let Some(frame) = self.parse_frame()? {
                return Ok(Some(frame));
            }
            let n = self.stream.read_buf(&mut self.buffer)?;
            if n == 0 {
                if self.buffer.is_empty() {
                    return Ok(None);
                } else {
                    return Err(io::Error::new(io::ErrorKind::ConnectionReset, "connection reset by peer"));
                }
            }
        }
    }"#;

/// Times each query is run (after one warm-up round).
const ROUNDS: usize = 5;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let (Some(tree), Some(index_dir)) = (args.first(), args.get(1)) else {
        eprintln!(
            "usage: cargo bench -p crucible-index --bench index -- TREE INDEX_DIR [CHANGED_FILE]"
        );
        std::process::exit(2);
    };
    let tree = PathBuf::from(tree);
    let index_dir = PathBuf::from(index_dir);
    if index_dir.exists() {
        std::fs::remove_dir_all(&index_dir).expect("empty the index directory");
    }

    let mut index = Index::open(&tree, &index_dir, IndexParams::default()).expect("open");
    let cold = index.update().expect("cold index");
    let peak_rss_cold = peak_rss_kib();
    let cold_seconds = cold.elapsed.as_secs_f64();
    let stats = index.stats();

    let unchanged = index.update().expect("update with nothing changed");

    let changed = args
        .get(2)
        .cloned()
        .unwrap_or_else(|| first_rust_file(&tree, &index));
    let changed_path = tree.join(&changed);
    append(&changed_path, "\nfn bench_marker_one() {}\n");
    let walk_update = index.update().expect("update after one change");
    append(&changed_path, "\nfn bench_marker_two() {}\n");
    let path_update = index
        .update_paths(std::slice::from_ref(&changed_path))
        .expect("update of the one path");
    assert_eq!(walk_update.files_indexed, 1, "{walk_update:?}");
    assert_eq!(path_update.files_indexed, 1, "{path_update:?}");
    let found = index
        .search("bench_marker_two", 1, &Filters::default())
        .expect("search");
    assert_eq!(
        found.first().map(|hit| hit.path.as_str()),
        Some(changed.as_str())
    );

    let short = latencies(&index, QUERIES);
    let long = latencies(&index, &[CODE_QUERY]);
    let index_bytes = dir_size(&index_dir);

    let skipped_by_reason = {
        let mut counts = std::collections::BTreeMap::<&str, usize>::new();
        for skip in &cold.skipped {
            let key = match skip.reason {
                SkipReason::TooLarge { .. } => "too large",
                SkipReason::Binary => "binary",
                SkipReason::LongLine { .. } => "long line",
                SkipReason::Generated { .. } => "generated",
                SkipReason::Vendored { .. } => "vendored",
                SkipReason::DataFile { .. } => "data file",
                SkipReason::Unreadable { .. } => "unreadable",
            };
            *counts.entry(key).or_default() += 1;
        }
        counts
    };
    println!(
        "{{\n  \"tree\": \"{}\",\n  \"files_indexed\": {},\n  \"files_without_grammar\": {},\n  \"files_skipped\": {},\n  \"skipped_by_reason\": {:?},\n  \"files_with_notes\": {},\n  \"bytes_indexed\": {},\n  \"chunks\": {},\n  \"cold_seconds\": {:.3},\n  \"mb_per_second\": {:.2},\n  \"files_per_second\": {:.1},\n  \"peak_rss_mib\": {:.1},\n  \"index_mib\": {:.1},\n  \"update_nothing_changed_ms\": {:.1},\n  \"update_one_file_walk_ms\": {:.1},\n  \"update_one_file_path_ms\": {:.1},\n  \"changed_file\": \"{}\",\n  \"query_short_p50_ms\": {:.2},\n  \"query_short_p95_ms\": {:.2},\n  \"query_short_max_ms\": {:.2},\n  \"query_code_window_p50_ms\": {:.2},\n  \"query_code_window_p95_ms\": {:.2},\n  \"queries_timed\": {}\n}}",
        tree.display(),
        cold.files_indexed,
        cold.files_without_grammar,
        cold.skipped.len(),
        skipped_by_reason,
        cold.notes.len(),
        cold.bytes_indexed,
        stats.chunks,
        cold_seconds,
        cold.bytes_indexed as f64 / 1e6 / cold_seconds,
        cold.files_indexed as f64 / cold_seconds,
        peak_rss_cold as f64 / 1024.0,
        index_bytes as f64 / (1 << 20) as f64,
        ms(unchanged.elapsed),
        ms(walk_update.elapsed),
        ms(path_update.elapsed),
        changed,
        percentile(&short, 0.50),
        percentile(&short, 0.95),
        percentile(&short, 1.0),
        percentile(&long, 0.50),
        percentile(&long, 0.95),
        short.len() + long.len(),
    );
}

/// Milliseconds of each run of each query (`ROUNDS` rounds after a warm-up), sorted.
fn latencies(index: &Index, queries: &[&str]) -> Vec<f64> {
    let filters = Filters::default();
    for query in queries {
        index.search(query, 10, &filters).expect("warm-up search");
    }
    let mut times = Vec::new();
    for _ in 0..ROUNDS {
        for query in queries {
            let started = Instant::now();
            let hits = index.search(query, 10, &filters).expect("search");
            times.push(ms(started.elapsed()));
            std::hint::black_box(hits);
        }
    }
    times.sort_by(f64::total_cmp);
    times
}

/// The nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn append(path: &Path, text: &str) {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .expect("open the changed file");
    file.write_all(text.as_bytes()).expect("append");
}

fn first_rust_file(tree: &Path, index: &Index) -> String {
    let hits = index
        .search(
            "fn new",
            1,
            &Filters {
                languages: vec!["rust".into()],
                ..Filters::default()
            },
        )
        .expect("a search for a Rust file");
    let hit = hits
        .first()
        .unwrap_or_else(|| panic!("no Rust file in {}", tree.display()));
    hit.path.clone()
}

/// Peak resident set of this process (VmHWM), KiB.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn dir_size(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let meta = entry.metadata().expect("metadata");
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                total += meta.len();
            }
        }
    }
    total
}
