//! The repository-index benchmark (`bench/index/run.sh` drives it): a cold index of a large
//! tree (MB/s, files/s, peak RSS), updates with nothing changed and after one file changes
//! (whole-tree walk and named path), and BM25 query latency p50/p95 over a fixed query set.
//!
//! `cargo bench -p crucible-index --bench index -- TREE INDEX_DIR [CHANGED_FILE] [--keep-index]`
//! TREE is indexed into INDEX_DIR (emptied first, unless `--keep-index`); CHANGED_FILE (relative
//! to TREE, default: the first indexed `.rs` file) is appended to, so TREE must be a copy.
//! Prints one JSON object: wall times with each update's phases, and the process's CPU time
//! for the named-path updates and the queries (the machine is shared, so wall time carries
//! scheduling delays that CPU time does not).
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

/// One-file updates timed after the first of each kind.
const UPDATES: usize = 5;

fn main() {
    let mut args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    // `--keep-index`: start from the index already in INDEX_DIR (an update of an existing index
    // instead of a cold one), so the update and query figures can be repeated without the
    // minutes a cold index of a large tree takes.
    let keep_index = args.iter().any(|a| a == "--keep-index");
    args.retain(|a| a != "--keep-index");
    let (Some(tree), Some(index_dir)) = (args.first(), args.get(1)) else {
        eprintln!(
            "usage: cargo bench -p crucible-index --bench index -- TREE INDEX_DIR [CHANGED_FILE] [--keep-index]"
        );
        std::process::exit(2);
    };
    let tree = PathBuf::from(tree);
    let index_dir = PathBuf::from(index_dir);
    if index_dir.exists() && !keep_index {
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
    append(&changed_path, "\nfn bench_marker_walk() {}\n");
    let walk_update = index.update().expect("update after one change");
    assert_eq!(walk_update.files_indexed, 1, "{walk_update:?}");
    // Named-path updates, as an editor's save sends them: the first, then UPDATES more, each
    // checked by a search for the function it added.
    let mut path_updates = Vec::new();
    let mut path_cpu_ms = Vec::new();
    for round in 0..=UPDATES {
        let marker = format!("bench_marker_path_{round}");
        append(&changed_path, &format!("\nfn {marker}() {{}}\n"));
        let cpu_before = cpu_ms();
        let update = index
            .update_paths(std::slice::from_ref(&changed_path))
            .expect("update of the one path");
        path_cpu_ms.push(cpu_ms() - cpu_before);
        assert_eq!(update.files_indexed, 1, "{update:?}");
        let found = index
            .search(&marker, 1, &Filters::default())
            .expect("search");
        assert_eq!(
            found.first().map(|hit| hit.path.as_str()),
            Some(changed.as_str())
        );
        path_updates.push(update);
    }
    let after = index.stats();

    let cpu_before = cpu_ms();
    let short = latencies(&index, QUERIES);
    let short_cpu_ms = (cpu_ms() - cpu_before) / short.len() as f64;
    let long = latencies(&index, &[CODE_QUERY]);
    let index_bytes = dir_size(&index_dir);

    let mut skipped_by_reason = std::collections::BTreeMap::<&str, usize>::new();
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
        *skipped_by_reason.entry(key).or_default() += 1;
    }
    let timed: Vec<f64> = path_updates[1..].iter().map(|u| ms(u.elapsed)).collect();
    let report = serde_json::json!({
        "tree": tree.display().to_string(),
        "cold": !keep_index,
        "files_indexed": cold.files_indexed,
        "files_without_grammar": cold.files_without_grammar,
        "files_skipped": cold.skipped.len(),
        "skipped_by_reason": skipped_by_reason,
        "files_with_notes": cold.notes.len(),
        "bytes_indexed": cold.bytes_indexed,
        "chunks": stats.chunks,
        "segments_after_cold": stats.segments,
        "segments_after_updates": after.segments,
        "cold_seconds": round(cold_seconds, 3),
        "cold_phases_ms": phases(&cold),
        "mb_per_second": round(cold.bytes_indexed as f64 / 1e6 / cold_seconds, 2),
        "files_per_second": round(cold.files_indexed as f64 / cold_seconds, 1),
        "peak_rss_mib": round(peak_rss_cold as f64 / 1024.0, 1),
        "index_mib": round(index_bytes as f64 / (1 << 20) as f64, 1),
        "update_nothing_changed_ms": round(ms(unchanged.elapsed), 1),
        "update_one_file_walk_ms": round(ms(walk_update.elapsed), 1),
        "update_one_file_walk_phases_ms": phases(&walk_update),
        "update_one_file_path_first_ms": round(ms(path_updates[0].elapsed), 1),
        "update_one_file_path_first_phases_ms": phases(&path_updates[0]),
        "update_one_file_path_ms": timed.iter().map(|t| round(*t, 1)).collect::<Vec<_>>(),
        "update_one_file_path_median_ms": round(median(&timed), 1),
        "update_one_file_path_phases_ms": path_updates[1..].iter().map(phases).collect::<Vec<_>>(),
        "update_one_file_path_cpu_ms": path_cpu_ms[1..].iter().map(|t| round(*t, 1)).collect::<Vec<_>>(),
        "update_one_file_path_cpu_median_ms": round(median(&path_cpu_ms[1..]), 1),
        "query_short_cpu_mean_ms": round(short_cpu_ms, 2),
        "changed_file": changed,
        "query_short_p50_ms": round(percentile(&short, 0.50), 2),
        "query_short_p95_ms": round(percentile(&short, 0.95), 2),
        "query_short_max_ms": round(percentile(&short, 1.0), 2),
        "query_code_window_p50_ms": round(percentile(&long, 0.50), 2),
        "query_code_window_p95_ms": round(percentile(&long, 0.95), 2),
        "queries_timed": short.len() + long.len(),
    });
    println!(
        "{}",
        serde_json::to_string_pretty(&report).expect("a JSON value prints")
    );
}

/// CPU time of this process so far (user and system, every thread, ended ones included), ms.
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

/// An update's phases in milliseconds.
fn phases(update: &crucible_index::UpdateReport) -> serde_json::Value {
    let phases = &update.phases;
    serde_json::json!({
        "walk": round(ms(phases.walk), 1),
        "index_files": round(ms(phases.index_files), 1),
        "commit": round(ms(phases.commit), 1),
        "manifest": round(ms(phases.manifest), 1),
        "reload": round(ms(phases.reload), 1),
    })
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    percentile(&sorted, 0.5)
}

fn round(value: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (value * scale).round() / scale
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
