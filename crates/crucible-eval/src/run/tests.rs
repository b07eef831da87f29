//! Run directory: append, resume after a torn write, locks, a full disk, configuration
//! fingerprints, summaries and their counting rules.

use std::io::Write as _;

use crucible_types::{Status, TestOutcome};
use serde_json::json;

use super::*;

pub(crate) fn sample(task: &str, idx: usize) -> SampleRecord {
    SampleRecord {
        task_id: task.into(),
        sample_idx: idx,
        completion: "    return 1\n".into(),
        solution: Solution::Continuation("    return 1\n".into()),
        tokens: Some(TokenCounts {
            prompt: 10,
            completion: 5,
        }),
        gen_ms: Some(7),
    }
}

pub(crate) fn result(
    task: &str,
    idx: usize,
    status: Status,
    visible: Option<Status>,
) -> ResultRecord {
    let outcome = |status| TestOutcome {
        name: "t".into(),
        status,
        detail: None,
    };
    ResultRecord {
        task_id: task.into(),
        sample_idx: idx,
        status,
        tests: vec![outcome(status), outcome(Status::Passed)],
        plus: None,
        visible,
        in_process_tests: false,
        timings: Timings::default(),
        tokens: Some(TokenCounts {
            prompt: 10,
            completion: 5,
        }),
        feedback: None,
        written_unix_ms: None,
    }
}

#[test]
fn resume_after_torn_write() {
    let tmp = tempfile::tempdir().unwrap();
    let config = json!({"model": "m", "n": 2});
    {
        let (mut run, state) = RunDir::open(tmp.path(), &config, false).unwrap();
        assert_eq!(state, ResumeState::default());
        run.append_sample(&sample("a", 0)).unwrap();
        run.append_sample(&sample("a", 1)).unwrap();
        run.append_result(&result("a", 0, Status::Passed, None))
            .unwrap();
    }
    // kill -9 in the middle of writing a line.
    let samples = tmp.path().join(SAMPLES_FILE);
    let mut text = std::fs::read_to_string(&samples).unwrap();
    text.push_str("{\"task_id\": \"b\", \"sam");
    std::fs::write(&samples, text).unwrap();
    let (mut run, state) = RunDir::open(tmp.path(), &config, false).unwrap();
    assert_eq!(state.samples.len(), 2);
    assert_eq!(state.torn_lines, 1);
    assert_eq!(
        state.done().into_iter().collect::<Vec<_>>(),
        vec![("a".to_owned(), 0)]
    );
    assert_eq!(state.unjudged().len(), 1);
    run.append_sample(&sample("b", 0)).unwrap();
    let (records, torn) = read_records::<SampleRecord>(&samples).unwrap();
    assert_eq!((records.len(), torn), (3, 0));
}

#[test]
fn malformed_middle_line_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join(RESULTS_FILE);
    std::fs::write(&path, "not json\n{}\n").unwrap();
    let err = read_records::<ResultRecord>(&path).unwrap_err().to_string();
    assert!(
        err.ends_with("line 1: expected ident at line 1 column 2"),
        "{err}"
    );
}

#[test]
fn changed_configuration_refuses_unless_forced() {
    let tmp = tempfile::tempdir().unwrap();
    RunDir::open(tmp.path(), &json!({"b": 1, "a": [1, 2]}), false).unwrap();
    // Key order does not matter.
    RunDir::open(tmp.path(), &json!({"a": [1, 2], "b": 1}), false).unwrap();
    let err = RunDir::open(tmp.path(), &json!({"a": [1, 3], "b": 1}), false).unwrap_err();
    assert!(matches!(err, Error::ConfigMismatch { .. }), "{err}");
    assert!(err.to_string().contains("changed: a;"), "{err}");
    RunDir::open(tmp.path(), &json!({"a": [1, 3], "b": 1}), true).unwrap();
    let stored: StoredConfig =
        serde_json::from_str(&std::fs::read_to_string(tmp.path().join(CONFIG_FILE)).unwrap())
            .unwrap();
    assert_eq!(stored.previous.len(), 1);
}

#[test]
fn a_run_written_with_durations_as_objects_still_resumes() {
    use crate::judge::TimeLimitPolicy;
    let tmp = tempfile::tempdir().unwrap();
    // A run directory written before durations were seconds.
    let old = json!({"command": "score", "time_limit_policy": {"factor": 4.0, "minimum": {"secs": 3, "nanos": 0}}});
    drop(RunDir::open(tmp.path(), &old, false).unwrap());
    let policy = TimeLimitPolicy {
        minimum: std::time::Duration::from_secs(3),
        factor: 4.0,
    };
    let new = json!({"command": "score", "time_limit_policy": policy});
    assert_eq!(new["time_limit_policy"]["minimum_s"], json!(3.0));
    drop(RunDir::open(tmp.path(), &new, false).unwrap());
    // The old shape still deserialises; another minimum is still a change.
    let read: TimeLimitPolicy = serde_json::from_value(old["time_limit_policy"].clone()).unwrap();
    assert_eq!(read, policy);
    let other = json!({"command": "score", "time_limit_policy": {"factor": 4.0, "minimum_s": 5.0}});
    let err = RunDir::open(tmp.path(), &other, false).unwrap_err();
    assert!(matches!(err, Error::ConfigMismatch { .. }), "{err}");
}

#[test]
fn a_refused_configuration_names_what_changed() {
    let tmp = tempfile::tempdir().unwrap();
    let model = json!({"name": "m", "sha256": "0"});
    RunDir::open(
        tmp.path(),
        &json!({"model": model, "n": 1, "seed": 0}),
        false,
    )
    .unwrap();
    let widened = json!({"name": "m", "sha256": "0", "weights": "q5_0 widened to q8_0"});
    let err = RunDir::open(
        tmp.path(),
        &json!({"model": widened, "n": 2, "seed": 0}),
        false,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("changed: model.weights, n;"), "{err}");
    assert!(err.contains("`--weights as-is`"), "{err}");
}

#[test]
fn summary_numbers() {
    let results = vec![
        result("a", 0, Status::Passed, Some(Status::Passed)),
        result("a", 1, Status::WrongAnswer, Some(Status::WrongAnswer)),
        result("b", 0, Status::Timeout, Some(Status::Passed)),
        result("b", 1, Status::WrongAnswer, Some(Status::WrongAnswer)),
    ];
    let params = SummaryParams {
        benchmark: "humaneval".into(),
        language: "python".into(),
        task_ids: vec!["a".into(), "b".into()],
        ks: vec![1, 2, 10],
        n_at_k: vec![(1, 2)],
        hidden_tests: true,
        model_sha256: None,
        wall_time_s: Some(1.5),
        config: json!({}),
        time_limits: json!({}),
        missing: None,
        test_counts: Default::default(),
    };
    let summary = summarize(&results, &params);
    assert_eq!(summary.pass_at_k.get("pass@1"), Some(&0.25));
    assert_eq!(summary.pass_at_k.get("pass@2"), Some(&0.5));
    assert_eq!(summary.pass_at_k.get("pass@10"), None);
    // Task a: the visible filter picks the correct sample; task b: it picks a wrong one.
    assert_eq!(summary.n_at_k.get("1@2"), Some(&0.5));
    assert_eq!(summary.verdicts.get("wrong_answer"), Some(&2));
    assert_eq!(summary.tokens_completion, 20);
    // Sample fractions: a: 1.0 and 0.5; b: 0.5 and 0.5.
    assert_eq!(summary.test_case_average, Some(0.625));
    // Where the suite says how many tests a task has, that is the denominator: task b has 4,
    // of which its samples passed 1 each (0.25 and 0.25).
    let counted = SummaryParams {
        test_counts: [("b".to_string(), 4)].into_iter().collect(),
        ..params.clone()
    };
    assert_eq!(
        summarize(&results, &counted).test_case_average,
        Some((0.75 + 0.25) / 2.0)
    );
    let json = serde_json::to_value(&summary).unwrap();
    assert_eq!(json["pass@1"], 0.25);

    // A task that shows no tests has no visible verdicts: its samples are not filtered (one of
    // two chosen at random: 1@2 = 0.5 for task c), and the others still are.
    let mut with_unfiltered = results.clone();
    with_unfiltered.push(result("c", 0, Status::Passed, None));
    with_unfiltered.push(result("c", 1, Status::WrongAnswer, None));
    let three = SummaryParams {
        task_ids: vec!["a".into(), "b".into(), "c".into()],
        ..params.clone()
    };
    let summary = summarize(&with_unfiltered, &three);
    assert_eq!(summary.n_at_k.get("1@2"), Some(&0.5));
    // Without visible judging at all there is no filter and no n@k.
    let unjudged: Vec<ResultRecord> = with_unfiltered
        .into_iter()
        .map(|r| ResultRecord { visible: None, ..r })
        .collect();
    assert!(summarize(&unjudged, &three).n_at_k.is_empty());
}

#[test]
fn wall_time_adds_up_over_resumed_sessions() {
    let tmp = tempfile::tempdir().unwrap();
    let config = json!({"model": "m"});
    let now = unix_ms();
    // Two earlier sessions: the first wrote results until 10 s after it started, the second was
    // killed before it wrote any.
    let sessions: String = [now - 100_000, now - 50_000]
        .iter()
        .map(|t| format!("{{\"started_unix_ms\":{t}}}\n"))
        .collect();
    std::fs::write(tmp.path().join(SESSIONS_FILE), sessions).unwrap();
    let stamped = |at: u64| ResultRecord {
        written_unix_ms: Some(at),
        ..result("a", 0, Status::Passed, None)
    };
    let results = vec![stamped(now - 95_000), stamped(now - 90_000)];
    let (mut run, _) = RunDir::open(tmp.path(), &config, false).unwrap();
    let wall = run.wall_time_s(&results).unwrap();
    assert!((10.0..15.0).contains(&wall), "{wall}");
    // This session's own results are stamped when written and count up to now.
    run.append_result(&result("b", 0, Status::Passed, None))
        .unwrap();
    let (written, _) = read_records::<ResultRecord>(&tmp.path().join(RESULTS_FILE)).unwrap();
    assert!(written[0].written_unix_ms.is_some_and(|t| t >= now));
    let (sessions, _) = read_records::<Session>(&tmp.path().join(SESSIONS_FILE)).unwrap();
    assert_eq!(sessions.len(), 3);
}

#[test]
fn every_k_above_one_gets_its_one_at_k() {
    assert_eq!(n_at_k_pairs(&[1]), vec![(1, 10), (10, 100)]);
    assert_eq!(
        n_at_k_pairs(&[1, 3, 10, 100]),
        vec![(1, 3), (1, 10), (1, 100), (10, 100)]
    );
}

#[test]
fn every_jsonl_file_is_repaired_before_it_is_appended_to() {
    let tmp = tempfile::tempdir().unwrap();
    let config = json!({"model": "m"});
    {
        let (mut run, _) = RunDir::open(tmp.path(), &config, false).unwrap();
        run.append_trace(&json!({"sample_idx": 0})).unwrap();
    }
    // kill -9 while writing a session and a trace: torn lines.
    let sessions = tmp.path().join(SESSIONS_FILE);
    let traces = tmp.path().join(TRACES_FILE);
    let append = |path: &Path, text: &str| {
        let mut file = std::fs::OpenOptions::new().append(true).open(path).unwrap();
        file.write_all(text.as_bytes()).unwrap();
    };
    append(&sessions, "{\"started_unix_ms\":17");
    append(&traces, "{\"sample_idx\": 1, \"outcome\": {\"co");
    let (mut run, state) = RunDir::open(tmp.path(), &config, false).unwrap();
    assert_eq!(state.torn_lines, 2);
    run.append_trace(&json!({"sample_idx": 1})).unwrap();
    // Every line is whole, and each torn one is gone.
    let (traces_read, torn) = read_records::<serde_json::Value>(&traces).unwrap();
    assert_eq!(torn, 0);
    assert_eq!(
        traces_read,
        [json!({"sample_idx": 0}), json!({"sample_idx": 1})]
    );
    let (sessions_read, torn) = read_records::<Session>(&sessions).unwrap();
    assert_eq!((sessions_read.len(), torn), (2, 0));
    drop(run);

    // A whole record whose newline was not written is kept and finished.
    append(&traces, "{\"sample_idx\": 2}");
    let (mut run, state) = RunDir::open(tmp.path(), &config, false).unwrap();
    assert_eq!(state.torn_lines, 0);
    run.append_trace(&json!({"sample_idx": 3})).unwrap();
    let (traces_read, _) = read_records::<serde_json::Value>(&traces).unwrap();
    assert_eq!(traces_read.len(), 4);
}

#[test]
fn a_tail_longer_than_a_read_block_is_found() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("t.jsonl");
    let long = "x".repeat(200_000);
    std::fs::write(&path, format!("{{\"a\": 1}}\n{{\"b\": \"{long}")).unwrap();
    assert_eq!(files::repair_tail(&path).unwrap(), 1);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"a\": 1}\n");
    std::fs::write(&path, format!("{{\"b\": \"{long}\"}}")).unwrap();
    assert_eq!(files::repair_tail(&path).unwrap(), 0);
    assert!(std::fs::read_to_string(&path).unwrap().ends_with("\"}\n"));
    assert_eq!(
        files::repair_tail(&tmp.path().join("none.jsonl")).unwrap(),
        0
    );
}

#[test]
fn a_second_open_is_refused_with_the_holders_pid_until_the_first_closes() {
    let tmp = tempfile::tempdir().unwrap();
    let config = json!({"model": "m"});
    let (first, _) = RunDir::open(tmp.path(), &config, false).unwrap();
    // flock locks belong to an open file, so a second open in the same process is refused as
    // one from another process would be; `--force` does not get past it.
    for force in [false, true] {
        let err = RunDir::open(tmp.path(), &config, force).unwrap_err();
        let pid = std::process::id();
        assert!(
            matches!(err, Error::Locked { pid: Some(p), .. } if p == pid),
            "{err}"
        );
        assert_eq!(
            err.to_string(),
            format!(
                "the run directory `{}` is in use by another process (PID {pid}); wait for it to finish, stop it (`kill {pid}`), or write to another directory",
                tmp.path().display()
            )
        );
    }
    drop(first);
    let (_again, _) = RunDir::open(tmp.path(), &config, false).unwrap();
    // The lock file names the holder.
    let holder = std::fs::read_to_string(tmp.path().join(LOCK_FILE)).unwrap();
    assert_eq!(holder, format!("{}\n", std::process::id()));
}

#[test]
fn a_lock_file_without_a_pid_is_not_named() {
    let err = Error::Locked {
        dir: "runs/x".into(),
        pid: None,
    };
    assert_eq!(
        err.to_string(),
        "the run directory `runs/x` is in use by another process (its PID is not recorded yet); wait for it to finish or write to another directory"
    );
}

#[test]
fn duplicates_in_the_files_are_read_once_and_counted() {
    let tmp = tempfile::tempdir().unwrap();
    let config = json!({"model": "m"});
    {
        let (mut run, _) = RunDir::open(tmp.path(), &config, false).unwrap();
        run.append_sample(&sample("a", 0)).unwrap();
        run.append_sample(&sample("a", 0)).unwrap();
        run.append_sample(&sample("a", 1)).unwrap();
        run.append_result(&result("a", 0, Status::Passed, None))
            .unwrap();
        run.append_result(&result("a", 0, Status::WrongAnswer, None))
            .unwrap();
    }
    let (_run, state) = RunDir::open(tmp.path(), &config, false).unwrap();
    assert_eq!((state.samples.len(), state.results.len()), (2, 1));
    assert_eq!(state.duplicates, 2);
    // The first record wins.
    assert_eq!(state.results[0].status, Status::Passed);
    let unjudged: Vec<usize> = state.unjudged().iter().map(|s| s.sample_idx).collect();
    assert_eq!(unjudged, [1]);
}

fn params(task_ids: &[&str], ks: &[u64]) -> SummaryParams {
    SummaryParams {
        benchmark: "humaneval".into(),
        language: "python".into(),
        task_ids: task_ids.iter().map(|id| (*id).to_owned()).collect(),
        ks: ks.to_vec(),
        n_at_k: vec![(1, 2)],
        hidden_tests: true,
        model_sha256: None,
        wall_time_s: None,
        config: json!({}),
        time_limits: json!({}),
        missing: None,
        test_counts: Default::default(),
    }
}

#[test]
fn a_duplicated_sample_counts_once_everywhere() {
    let results = vec![
        result("a", 0, Status::Passed, Some(Status::Passed)),
        result("a", 1, Status::WrongAnswer, Some(Status::WrongAnswer)),
        // The same sample judged again (and differently): left out.
        result("a", 1, Status::Passed, Some(Status::Passed)),
        result("a", 1, Status::Passed, Some(Status::Passed)),
        // A task outside the run: left out.
        result("z", 0, Status::Passed, None),
    ];
    let summary = summarize(&results, &params(&["a"], &[1, 2]));
    assert_eq!(summary.samples, 2);
    assert_eq!(summary.duplicate_results, 2);
    assert_eq!(summary.verdicts.get("passed"), Some(&1));
    assert_eq!(summary.verdicts.get("wrong_answer"), Some(&1));
    assert_eq!(summary.pass_at_k.get("pass@1"), Some(&0.5));
    assert_eq!(summary.n_at_k.get("1@2"), Some(&1.0));
    // Sample 0: 2 of 2 tests; sample 1: 1 of 2.
    assert_eq!(summary.test_case_average, Some(0.75));
    assert_eq!(summary.tokens_completion, 10);
    assert_eq!(
        summary.per_task[0].statuses,
        [Status::Passed, Status::WrongAnswer]
    );
    let table = crate::report::render_table(&summary);
    assert!(
        table.contains("duplicate results  2 (each sample counted once)"),
        "{table}"
    );
}

#[test]
fn samples_judged_with_in_process_tests_are_counted_apart() {
    let mut results = vec![
        result("a", 0, Status::Passed, None),
        result("a", 1, Status::Passed, None),
        result("a", 2, Status::WrongAnswer, None),
        result("b", 0, Status::Passed, None),
    ];
    for r in &mut results[1..3] {
        r.in_process_tests = true;
    }
    let summary = summarize(&results, &params(&["a", "b"], &[1]));
    assert_eq!(
        (summary.in_process_tests, summary.in_process_passed),
        (2, 1)
    );
    let table = crate::report::render_table(&summary);
    assert!(
        table.contains("in-process tests   2 sample(s), 1 passed"),
        "{table}"
    );
    let none = summarize(&results[3..], &params(&["b"], &[1]));
    assert_eq!((none.in_process_tests, none.in_process_passed), (0, 0));
    assert!(!crate::report::render_table(&none).contains("in-process"));
    let json = serde_json::to_string(&none).unwrap();
    assert!(!json.contains("in_process"), "{json}");
}

#[test]
fn samples_that_ran_no_test_count_as_zero_of_the_tasks_tests() {
    let ran = |idx, passed: usize, failed: usize| {
        let outcome = |status| TestOutcome {
            name: "t".into(),
            status,
            detail: None,
        };
        let mut tests: Vec<TestOutcome> = (0..passed).map(|_| outcome(Status::Passed)).collect();
        tests.extend((0..failed).map(|_| outcome(Status::WrongAnswer)));
        let status = if failed == 0 {
            Status::Passed
        } else {
            Status::WrongAnswer
        };
        ResultRecord {
            tests,
            ..result("a", idx, status, None)
        }
    };
    let never_ran = |task: &str, idx, status| ResultRecord {
        tests: Vec::new(),
        ..result(task, idx, status, None)
    };
    let results = vec![
        // Task a has 4 tests: one sample passed them all, one stopped at its first failure after
        // one pass (1 of 4, not 1 of 2), one did not compile (0 of 4).
        ran(0, 4, 0),
        ran(1, 1, 1),
        never_ran("a", 2, Status::CompileError),
        // Task b: no sample reported a test; the passing one scores 1, the crash 0.
        never_ran("b", 0, Status::Passed),
        never_ran("b", 1, Status::RuntimeError),
    ];
    let summary = summarize(&results, &params(&["a", "b"], &[1]));
    let a = (1.0 + 0.25 + 0.0) / 3.0;
    let b = 0.5;
    let average = summary.test_case_average.unwrap();
    assert!((average - (a + b) / 2.0).abs() < 1e-12, "{average}");
}

#[test]
fn tasks_missing_from_a_scored_file_count_as_failed_or_are_left_out() {
    let results = vec![
        result("a", 0, Status::Passed, Some(Status::Passed)),
        result("a", 1, Status::Passed, Some(Status::Passed)),
        result("c", 0, Status::WrongAnswer, Some(Status::WrongAnswer)),
        result("c", 1, Status::Passed, Some(Status::Passed)),
    ];
    let params = params(&["a", "b", "c"], &[1, 2]);
    let missing = |policy| MissingTasks {
        task_ids: vec!["b".into()],
        policy,
    };

    let with = |policy| SummaryParams {
        missing: Some(missing(policy)),
        ..params.clone()
    };
    let failed = summarize(&results, &with(MissingPolicy::CountedAsFailed));
    assert_eq!(failed.tasks, 3);
    assert_eq!(failed.min_samples_per_task, 2);
    assert_eq!(failed.pass_at_k.get("pass@1"), Some(&(1.5 / 3.0)));
    assert_eq!(failed.pass_at_k.get("pass@2"), Some(&(2.0 / 3.0)));
    assert_eq!(failed.n_at_k.get("1@2"), Some(&(2.0 / 3.0)));
    assert_eq!(failed.test_case_average, Some((1.0 + 0.75) / 3.0));
    assert!(failed.per_task[1].missing && failed.per_task[1].samples == 0);
    assert_eq!(
        failed.missing.as_ref().map(|m| m.policy),
        Some(MissingPolicy::CountedAsFailed)
    );
    let table = crate::report::render_table(&failed);
    assert!(
        table.contains("missing tasks      1 (counted as failed)"),
        "{table}"
    );
    let json = serde_json::to_value(&failed).unwrap();
    assert_eq!(
        json["missing"],
        json!({"task_ids": ["b"], "policy": "counted_as_failed"})
    );
    assert_eq!(json["per_task"][1]["missing"], true);

    let left_out = summarize(&results, &with(MissingPolicy::LeftOut));
    assert_eq!(left_out.tasks, 2);
    assert_eq!(left_out.pass_at_k.get("pass@1"), Some(&0.75));
    assert!(left_out.per_task.iter().all(|t| t.task_id != "b"));
    let table = crate::report::render_table(&left_out);
    assert!(
        table.contains("missing tasks      1 (left out: --allow-missing)"),
        "{table}"
    );

    // Without a declaration a task without results is an unfinished one: no pass@k yet.
    let unfinished = summarize(&results, &params);
    assert!(unfinished.pass_at_k.is_empty());
    assert!(unfinished.missing.is_none());
}

#[test]
fn a_failed_write_names_the_file_and_leaves_whole_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut run, _) = RunDir::open(tmp.path(), &json!({"model": "m"}), false).unwrap();
    run.append_result(&result("a", 0, Status::Passed, None))
        .unwrap();
    // An injected write error: the results now go to /dev/full.
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full exists on Linux");
    run.results.replace_file_for_test(full);
    let err = run
        .append_result(&result("a", 1, Status::Passed, None))
        .unwrap_err();
    let path = tmp.path().join(RESULTS_FILE);
    assert!(
        matches!(&err, Error::DiskFull { path: p, .. } if *p == path),
        "{err}"
    );
    assert!(
        err.to_string().starts_with(&format!(
            "the disk is full: cannot write `{}`; free some space",
            path.display()
        )),
        "{err}"
    );
    drop(run);
    let (results, torn) = read_records::<ResultRecord>(&path).unwrap();
    assert_eq!((results.len(), torn), (1, 0));
}

/// A full disk under a live run directory: a small tmpfs in a mount namespace private to one
/// thread (so nothing is mounted for the rest of the machine), filled by appending results.
/// Needs root (CAP_SYS_ADMIN), as the CI runs the suite.
#[test]
fn a_full_disk_is_a_clear_error_and_loses_nothing() {
    std::thread::spawn(fill_a_small_disk)
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
}

fn fill_a_small_disk() {
    let outer = tempfile::tempdir().unwrap();
    let disk = outer.path().join("disk");
    std::fs::create_dir(&disk).unwrap();
    mount_private_tmpfs(&disk, "size=64k").unwrap_or_else(|err| {
        panic!(
            "this test mounts a 64 KiB tmpfs in a mount namespace of its own and needs root (CAP_SYS_ADMIN): {err}; run the suite as root (scripts/test.sh in CI does)"
        )
    });
    // Room to free once the disk is full.
    let ballast = disk.join("ballast");
    std::fs::write(&ballast, vec![0u8; 16 * 1024]).unwrap();
    let dir = disk.join("run");
    let config = json!({"model": "m"});
    let (mut run, _) = RunDir::open(&dir, &config, false).unwrap();
    let summary = summarize(&[], &params(&["a"], &[1]));
    run.write_summary(&summary).unwrap();
    let summary_before = std::fs::read(dir.join(SUMMARY_FILE)).unwrap();
    let mut written = 0;
    let err = loop {
        let mut record = result("a", written, Status::Passed, None);
        record.feedback = Some("x".repeat(300));
        match run.append_result(&record) {
            Ok(()) => written += 1,
            Err(err) => break err,
        }
        assert!(written < 10_000, "a 64 KiB disk never filled");
    };
    let results_path = dir.join(RESULTS_FILE);
    assert!(
        matches!(&err, Error::DiskFull { path, .. } if *path == results_path),
        "{err}"
    );
    assert!(written > 10, "{written}");
    // The summary cannot be replaced either; the old one stays whole and no temporary is left.
    let err = run.write_summary(&summary).unwrap_err();
    assert!(matches!(err, Error::DiskFull { .. }), "{err}");
    assert_eq!(
        std::fs::read(dir.join(SUMMARY_FILE)).unwrap(),
        summary_before
    );
    assert!(!dir.join("summary.tmp").exists());
    drop(run);
    // Every result written before the disk filled is there, whole; the torn one is gone.
    let text = std::fs::read_to_string(&results_path).unwrap();
    assert!(text.ends_with('\n'));
    let (results, torn) = read_records::<ResultRecord>(&results_path).unwrap();
    assert_eq!((results.len(), torn), (written, 0));
    // With space again, the run resumes from them.
    std::fs::remove_file(&ballast).unwrap();
    let (mut run, state) = RunDir::open(&dir, &config, false).unwrap();
    assert_eq!(state.results.len(), written);
    run.append_result(&result("a", written, Status::Passed, None))
        .unwrap();
    drop(run);
    let (results, _) = read_records::<ResultRecord>(&results_path).unwrap();
    assert_eq!(results.len(), written + 1);
}

/// Give the calling thread a mount namespace of its own (no mount propagates out of it) and
/// mount a tmpfs with `options` on `dir` there. The namespace ends with the thread.
#[expect(unsafe_code, reason = "unshare(2) and mount(2) through libc")]
fn mount_private_tmpfs(dir: &Path, options: &str) -> std::io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt as _;
    let check = |ret: libc::c_int, what: &str| {
        if ret == 0 {
            Ok(())
        } else {
            let err = std::io::Error::last_os_error();
            Err(std::io::Error::new(err.kind(), format!("{what}: {err}")))
        }
    };
    let target = CString::new(dir.as_os_str().as_bytes()).expect("no NUL in a temporary path");
    let options = CString::new(options).expect("no NUL in the options");
    // SAFETY: plain system calls on NUL-terminated strings that outlive them; CLONE_NEWNS
    // affects this thread only.
    unsafe {
        check(libc::unshare(libc::CLONE_NEWNS), "unshare(CLONE_NEWNS)")?;
        check(
            libc::mount(
                std::ptr::null(),
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ),
            "making / private",
        )?;
        check(
            libc::mount(
                c"tmpfs".as_ptr(),
                target.as_ptr(),
                c"tmpfs".as_ptr(),
                0,
                options.as_ptr().cast(),
            ),
            "mount tmpfs",
        )
    }
}
