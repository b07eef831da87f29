//! What syncing a run directory costs, behind docs/PERFORMANCE.md's "Run directories" figures.
//!
//! `cargo bench -p crucible-eval --bench append_bench [-- LINES [DIR]]`
//!
//! Appends LINES result lines (default 2000; each about 700 bytes, like a judged sample with
//! ten test outcomes and feedback) to a run directory under DIR (default: the system's
//! temporary directory; give a directory on the disk whose cost you want) four ways:
//! written but never synced, `fdatasync` after every line, and `RunDir::append_result` with its
//! cadence (a sync when 500 ms have passed or 64 lines wait), both as fast as it can (a
//! `crucible score` burst) and paced one line every 20 ms (judging as it comes; the time of the
//! appends only). Then the cost of `RunDir::write_summary` (sync the appends, write, sync, rename,
//! sync the directory). Prints microseconds per line: median, mean and the slowest 1%.
#![expect(clippy::print_stdout, reason = "a benchmark report")]

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crucible_eval::run::{
    ResultRecord, RunDir, Summary, SummaryParams, Timings, TokenCounts, summarize,
};
use crucible_types::{Status, TestOutcome};
use serde_json::json;

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let lines: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(2000);
    let base: PathBuf = args.next().map_or_else(std::env::temp_dir, PathBuf::from);
    let scratch = tempfile::tempdir_in(&base).expect("a scratch directory under DIR");
    let record = record(0);
    let line_bytes = serde_json::to_string(&record).unwrap().len() + 1;
    println!(
        "{lines} result lines of {line_bytes} bytes in {}; microseconds per line",
        base.display()
    );
    println!("| appends | median | mean | p99 | total |");
    println!("|---|---:|---:|---:|---:|");

    let mut file = append_to(&scratch.path().join("plain.jsonl"));
    report(
        "written, never synced",
        &time_each(lines, |i| plain(&mut file, i, false)),
    );
    let mut file = append_to(&scratch.path().join("every.jsonl"));
    report(
        "`fdatasync` after every line",
        &time_each(lines, |i| plain(&mut file, i, true)),
    );

    let (mut run, _) = RunDir::open(&scratch.path().join("burst"), &json!({}), false).unwrap();
    report(
        "`RunDir`, as fast as it can",
        &time_each(lines, |i| run.append_result(&record_at(i)).unwrap()),
    );
    drop(run);
    let (mut run, _) = RunDir::open(&scratch.path().join("paced"), &json!({}), false).unwrap();
    let paced: Vec<f64> = (0..lines.min(500))
        .map(|i| {
            std::thread::sleep(Duration::from_millis(20));
            let start = Instant::now();
            run.append_result(&record_at(i)).unwrap();
            start.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    report("`RunDir`, one line every 20 ms", &paced);

    let summary = summary();
    let writes = time_each(50, |_| run.write_summary(&summary).unwrap());
    report("`write_summary` (per call)", &writes);
}

/// Time `f` for each of `n` lines, in microseconds.
fn time_each(n: usize, mut f: impl FnMut(usize)) -> Vec<f64> {
    (0..n)
        .map(|i| {
            let start = Instant::now();
            f(i);
            start.elapsed().as_secs_f64() * 1e6
        })
        .collect()
}

fn report(what: &str, micros: &[f64]) {
    let mut sorted = micros.to_vec();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    let mean = sorted.iter().sum::<f64>() / sorted.len() as f64;
    let p99 = sorted[(sorted.len() * 99 / 100).min(sorted.len() - 1)];
    let total_ms = sorted.iter().sum::<f64>() / 1000.0;
    println!("| {what} | {median:.0} | {mean:.0} | {p99:.0} | {total_ms:.0} ms |");
}

fn append_to(path: &Path) -> File {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap()
}

/// A plain append of line `i`, as `RunDir` writes it, optionally synced.
fn plain(file: &mut File, i: usize, sync: bool) {
    let mut line = serde_json::to_string(&record_at(i)).unwrap();
    line.push('\n');
    file.write_all(line.as_bytes()).unwrap();
    if sync {
        file.sync_data().unwrap();
    }
}

fn record_at(i: usize) -> ResultRecord {
    let mut record = record(i);
    record.sample_idx = i;
    record
}

fn record(i: usize) -> ResultRecord {
    let tests = (0..10)
        .map(|t| TestOutcome {
            name: format!("assert candidate({t}) == {}", t * 2),
            status: if t == 9 {
                Status::WrongAnswer
            } else {
                Status::Passed
            },
            detail: None,
        })
        .collect();
    ResultRecord {
        task_id: format!("HumanEval/{}", i % 164),
        sample_idx: i,
        status: Status::WrongAnswer,
        tests,
        plus: None,
        visible: Some(Status::Passed),
        in_process_tests: false,
        timings: Timings {
            gen_ms: Some(1200),
            compile_ms: 0,
            run_ms: 35,
            cpu_ms: 30,
        },
        tokens: Some(TokenCounts {
            prompt: 180,
            completion: 95,
        }),
        feedback: Some("verdict: wrong_answer\nassert candidate(9) == 18: got 17\n".repeat(4)),
        written_unix_ms: None,
    }
}

fn summary() -> Summary {
    let results: Vec<ResultRecord> = (0..164).map(record_at).collect();
    let params = SummaryParams {
        benchmark: "humaneval".into(),
        language: "python".into(),
        task_ids: (0..164).map(|i| format!("HumanEval/{i}")).collect(),
        ks: vec![1],
        n_at_k: vec![],
        hidden_tests: true,
        model_sha256: None,
        wall_time_s: None,
        config: json!({}),
        time_limits: json!({}),
        missing: None,
        test_counts: Default::default(),
    };
    summarize(&results, &params)
}
