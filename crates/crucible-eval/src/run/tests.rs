//! Run directory: append, resume after a torn write, configuration fingerprints, summaries.

use crucible_types::{Status, TestOutcome};
use serde_json::json;

use super::*;

fn sample(task: &str, idx: usize) -> SampleRecord {
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

fn result(task: &str, idx: usize, status: Status, visible: Option<Status>) -> ResultRecord {
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
