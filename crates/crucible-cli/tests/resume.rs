//! Run directories that survive a crash, end to end: `crucible eval` killed with SIGKILL at
//! random moments and resumed, many times, ends with exactly the files of an uninterrupted
//! run; and a second eval on a directory in use is refused with the holder's PID, until the
//! holder is killed.
//!
//! The model is the in-process mock server of `crucible-infer-http`, answering each task's
//! request with fixed programs (some right, some wrong, some that do not compile or crash), so
//! no model is needed; the programs are judged in the real sandbox.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use crucible_infer_http::mock::{
    MockServer, Received, Reply, chat_delta, chat_finish, usage_event,
};

/// Tasks of the benchmark, and samples of each.
const TASKS: usize = 8;
const SAMPLES: usize = 4;

/// Kills of the torture test.
const KILLS: usize = 30;
/// Kills in one run directory at most before a run there is let finish.
const KILLS_PER_DIR: usize = 8;

/// The task file: task `t{k}` reads n and prints n + k.
fn write_tasks(dir: &Path) -> PathBuf {
    let path = dir.join("tasks.jsonl");
    let lines: Vec<String> = (0..TASKS)
        .map(|k| {
            json!({
                "id": format!("t{k}"),
                "description": format!("Read an integer n from standard input and print n + {k} (task t{k})."),
                "examples": [{"input": "1\n", "output": format!("{}\n", 1 + k)}],
                "hidden_examples": [
                    {"input": "20\n", "output": format!("{}\n", 20 + k)},
                    {"input": "-7\n", "output": format!("{}\n", k as i64 - 7)},
                ],
                "language": "python",
            })
            .to_string()
        })
        .collect();
    std::fs::write(&path, lines.join("\n")).unwrap();
    path
}

/// The program the server gives as choice `choice` of task `k`: right, wrong, not Python, or
/// crashing, in a fixed pattern.
fn program(k: usize, choice: usize) -> String {
    match (k + choice) % 5 {
        0 => format!("print(int(input()) + {k})"),
        1 => format!("print(int(input()) + {})", k + 1),
        2 => "print(int(input()) +".to_owned(),
        3 => "print(1 // 0)".to_owned(),
        _ => format!("n = int(input())\nprint(n + {k})"),
    }
}

/// Answer a chat request with `n` choices for the task its prompt names, after `delay` (so
/// that kills land during generation too).
fn answer(request: &Received, delay: Duration) -> Reply {
    std::thread::sleep(delay);
    let body = request.json();
    let prompt = body["messages"].to_string();
    let Some(k) = (0..TASKS).find(|k| prompt.contains(&format!("(task t{k})"))) else {
        return Reply::error(400, "no task named in the prompt");
    };
    let n = body["n"].as_u64().unwrap_or(1) as usize;
    let mut events = Vec::new();
    for choice in 0..n {
        events.push(chat_delta(choice, &program(k, choice)));
        events.push(chat_finish(choice, "stop"));
    }
    events.push(usage_event(40, 8 * n));
    Reply::events(events)
}

/// A scratch directory with the task file; also the runs' `CRUCIBLE_HOME`.
struct Scratch {
    dir: tempfile::TempDir,
    tasks: PathBuf,
}

impl Scratch {
    fn new() -> Scratch {
        let dir = tempfile::tempdir().unwrap();
        let tasks = write_tasks(dir.path());
        Scratch { dir, tasks }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `crucible eval` of the task file into `out`, not yet started.
    fn eval(&self, endpoint: &str, out: &Path) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_crucible"));
        command
            .args([
                "eval",
                "--benchmark",
                self.tasks.to_str().unwrap(),
                "--endpoint",
                endpoint,
                "--n",
                &SAMPLES.to_string(),
                "--temperature",
                "0.8",
                "--k",
                "1,2",
                "--out",
                out.to_str().unwrap(),
            ])
            .current_dir(self.path())
            .env("NO_COLOR", "1")
            .env("CRUCIBLE_HOME", self.path().join("home"))
            .env("XDG_CONFIG_HOME", self.path().join("config"))
            .env_remove("CRUCIBLE_MODEL")
            .env_remove("CRUCIBLE_ENDPOINT")
            .env_remove("CRUCIBLE_CONFIG")
            .env_remove("CRUCIBLE_API_KEY")
            .env_remove("OPENAI_API_KEY")
            .stdin(Stdio::null());
        command
    }
}

fn succeeded(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "eval failed ({}): {stderr}",
        out.status
    );
    stderr
}

/// The lines of a JSON Lines file: every one whole and valid.
fn lines(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()));
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "{} ends in a torn line",
        path.display()
    );
    text.lines()
        .enumerate()
        .map(|(i, line)| {
            serde_json::from_str(line)
                .unwrap_or_else(|err| panic!("{} line {}: {err}: {line}", path.display(), i + 1))
        })
        .collect()
}

/// What a finished run directory must hold, independent of how many sessions made it.
#[derive(Debug, PartialEq)]
struct RunFiles {
    /// (task, sample index, status, per-test statuses), sorted.
    results: Vec<(String, u64, String, Vec<String>)>,
    /// (task, sample index, completion), sorted.
    samples: Vec<(String, u64, String)>,
    /// `summary.json` without the wall time.
    summary: Value,
}

fn run_files(out: &Path) -> RunFiles {
    let key = |v: &Value| {
        (
            v["task_id"].as_str().unwrap().to_owned(),
            v["sample_idx"].as_u64().unwrap(),
        )
    };
    let mut results: Vec<(String, u64, String, Vec<String>)> = lines(&out.join("results.jsonl"))
        .iter()
        .map(|r| {
            let (task, idx) = key(r);
            let tests = r["tests"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["status"].as_str().unwrap().to_owned())
                .collect();
            (task, idx, r["status"].as_str().unwrap().to_owned(), tests)
        })
        .collect();
    results.sort();
    let mut samples: Vec<(String, u64, String)> = lines(&out.join("samples.jsonl"))
        .iter()
        .map(|s| {
            let (task, idx) = key(s);
            (task, idx, s["completion"].as_str().unwrap().to_owned())
        })
        .collect();
    samples.sort();
    for (what, keys) in [
        (
            "results",
            results
                .iter()
                .map(|r| (r.0.clone(), r.1))
                .collect::<Vec<_>>(),
        ),
        (
            "samples",
            samples.iter().map(|s| (s.0.clone(), s.1)).collect(),
        ),
    ] {
        let mut unique = keys.clone();
        unique.dedup();
        assert_eq!(
            unique.len(),
            keys.len(),
            "duplicate {what} in {}",
            out.display()
        );
    }
    // Every session record is whole too.
    lines(&out.join("sessions.jsonl"));
    let mut summary: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    summary.as_object_mut().unwrap().remove("wall_time_s");
    RunFiles {
        results,
        samples,
        summary,
    }
}

/// Wait for a child at most `limit`; `None` if it is still running.
fn wait_for(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn an_eval_killed_at_random_moments_resumes_to_the_uninterrupted_result() {
    let server = MockServer::serving("coder", |request| {
        answer(request, Duration::from_millis(150))
    });
    let endpoint = server.endpoint();
    let scratch = Scratch::new();

    // The uninterrupted run: the reference, and how long a whole run takes.
    let reference_dir = scratch.path().join("reference");
    let started = Instant::now();
    succeeded(&scratch.eval(&endpoint, &reference_dir).output().unwrap());
    let whole = started.elapsed();
    let reference = run_files(&reference_dir);
    assert_eq!(reference.results.len(), TASKS * SAMPLES);
    let statuses: std::collections::BTreeSet<&str> =
        reference.results.iter().map(|r| r.2.as_str()).collect();
    assert!(
        statuses.len() >= 3,
        "too few kinds of verdict: {statuses:?}"
    );

    // Kill runs at random moments of a run's length, resuming each time; when a run finishes
    // before its kill, check it and start the next directory. After KILLS_PER_DIR kills in one
    // directory the next run there goes to its end unkilled: on a loaded machine a resumed
    // run's start-up alone can outlast every random moment, and the point is to compare
    // finished, killed-and-resumed runs with the reference.
    let seed: u64 = std::env::var("CRUCIBLE_TORTURE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(16);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let limit_ms = (whole.as_millis() as u64 * 6 / 5).max(50);
    let mut kills = 0;
    let mut kills_here = 0;
    let mut cycle = 0;
    let mut out = scratch.path().join("cycle-0");
    let log = scratch.path().join("eval.log");
    for attempt in 0.. {
        assert!(
            attempt < 20 * KILLS,
            "only {kills} kills in {attempt} attempts (seed {seed})"
        );
        if kills == KILLS {
            break;
        }
        let mut child = scratch
            .eval(&endpoint, &out)
            .stdout(Stdio::null())
            .stderr(File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let delay = Duration::from_millis(rng.gen_range(0..=limit_ms));
        let waited = if kills_here < KILLS_PER_DIR {
            wait_for(&mut child, delay)
        } else {
            // A resumed run has less to do than a whole one; one that does not end within many
            // whole runs' time hangs.
            let status = wait_for(&mut child, whole * 20 + Duration::from_secs(60));
            if status.is_none() {
                child.kill().unwrap();
                child.wait().unwrap();
                panic!("a resumed run did not finish (seed {seed}, after {kills} kills)");
            }
            status
        };
        match waited {
            Some(status) => {
                let stderr = std::fs::read_to_string(&log).unwrap_or_default();
                assert!(
                    status.success(),
                    "a resumed run failed ({status}, seed {seed}, after {kills} kills): {stderr}"
                );
                assert_eq!(
                    run_files(&out),
                    reference,
                    "cycle {cycle} differs from the uninterrupted run (seed {seed})"
                );
                kills_here = 0;
                cycle += 1;
                out = scratch.path().join(format!("cycle-{cycle}"));
            }
            None => {
                child.kill().unwrap();
                child.wait().unwrap();
                kills += 1;
                kills_here += 1;
            }
        }
    }
    // The last directory, resumed to its end.
    succeeded(&scratch.eval(&endpoint, &out).output().unwrap());
    assert_eq!(
        run_files(&out),
        reference,
        "the last cycle differs from the uninterrupted run (seed {seed})"
    );
}

#[test]
fn a_second_eval_is_locked_out_until_the_first_is_killed() {
    // While `stalled`, the server never answers, so the first eval holds its directory.
    let stalled = Arc::new(AtomicBool::new(true));
    let server = {
        let stalled = Arc::clone(&stalled);
        MockServer::serving("coder", move |request| {
            if stalled.load(Ordering::Relaxed) {
                Reply::Silence
            } else {
                answer(request, Duration::ZERO)
            }
        })
    };
    let endpoint = server.endpoint();
    let scratch = Scratch::new();
    let out = scratch.path().join("run");
    let mut first = scratch
        .eval(&endpoint, &out)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = first.id();
    let lock = out.join("run.lock");
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::fs::read_to_string(&lock).ok() != Some(format!("{pid}\n")) {
        assert!(
            Instant::now() < deadline,
            "the first eval never took the lock"
        );
        assert!(
            first.try_wait().unwrap().is_none(),
            "the first eval ended early"
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    let second = scratch.eval(&endpoint, &out).output().unwrap();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "the run directory `{}` is in use by another process (PID {pid}); wait for it to finish, stop it (`kill {pid}`), or write to another directory",
            out.display()
        )),
        "{stderr}"
    );

    // A holder killed outright leaves its PID in the file but not the lock.
    first.kill().unwrap();
    first.wait().unwrap();
    stalled.store(false, Ordering::Relaxed);
    let third = succeeded(&scratch.eval(&endpoint, &out).output().unwrap());
    assert!(!third.contains("in use"), "{third}");
    assert_eq!(
        lines(&out.join("results.jsonl")).len(),
        TASKS * SAMPLES,
        "{third}"
    );
}
