//! `crucible score`'s pipeline: each verdict is appended as it is judged, a re-run after a kill
//! judges only what has no verdict, and another samples file is refused in the same directory.

use std::path::Path;
use std::sync::{Arc, Mutex};

use crucible_core::evaluate::RunEvent;
use crucible_core::score::{ScoreParams, run_score};

use super::{Fixture, TASKS, fixture, params, results};

fn score_params(samples: &Path, out: &Path) -> ScoreParams {
    ScoreParams {
        samples: samples.to_owned(),
        out: out.to_owned(),
        ks: vec![1],
        judge: params(out, 0).judge,
        force: false,
        allow_missing: false,
        metrics: None,
    }
}

fn sample_line(task_id: &str, code: &str) -> String {
    serde_json::json!({"task_id": task_id, "completion": code}).to_string()
}

#[test]
fn verdicts_are_appended_as_judged_and_a_rerun_resumes() {
    let Fixture {
        dir,
        home,
        bench,
        out,
        ..
    } = fixture(TASKS);
    let samples = dir.path().join("samples.jsonl");
    std::fs::write(
        &samples,
        [
            sample_line("double", "n = int(input())\nprint(2 * n)\n"),
            sample_line("square", "n = int(input())\nprint(n + n)\n"),
        ]
        .join("\n"),
    )
    .unwrap();
    // What results.jsonl holds when each verdict is announced, and how each run started.
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = {
        let (seen, out) = (Arc::clone(&seen), out.clone());
        Arc::new(move |event: RunEvent| match event {
            RunEvent::Judged { .. } => {
                let lines = std::fs::read_to_string(out.join("results.jsonl"))
                    .unwrap()
                    .lines()
                    .count();
                seen.lock()
                    .unwrap()
                    .push(format!("judged with {lines} lines"));
            }
            started @ RunEvent::Started { .. } => {
                seen.lock().unwrap().push(format!("{started:?}"));
            }
            _ => {}
        })
    };
    let outcome = run_score(
        bench.clone(),
        &home,
        &score_params(&samples, &out),
        sink.clone(),
    )
    .unwrap();
    assert_eq!(outcome.summary.pass_at_k["pass@1"], 0.5);
    let first: Vec<String> = seen.lock().unwrap().drain(..).collect();
    assert!(first[0].contains("to_judge: 2, judged: 0"), "{first:?}");
    assert_eq!(first[1..], ["judged with 1 lines", "judged with 2 lines"]);

    // kill -9 after the first verdict: the second is gone and a line is torn.
    let kept = std::fs::read_to_string(out.join("results.jsonl")).unwrap();
    let first_line = kept.lines().next().unwrap();
    std::fs::write(
        out.join("results.jsonl"),
        format!("{first_line}\n{{\"task_id\": \"squ"),
    )
    .unwrap();
    let again = run_score(
        bench.clone(),
        &home,
        &score_params(&samples, &out),
        sink.clone(),
    )
    .unwrap();
    let second: Vec<String> = seen.lock().unwrap().drain(..).collect();
    assert!(second[0].contains("to_judge: 1, judged: 1"), "{second:?}");
    assert_eq!(second[1..], ["judged with 2 lines"]);
    assert_eq!(again.summary.pass_at_k["pass@1"], 0.5);
    assert_eq!(results(&out).len(), 2);

    // Another samples file is another configuration: refused, as eval refuses another model.
    let other = dir.path().join("other.jsonl");
    std::fs::write(&other, sample_line("double", "print(0)\n")).unwrap();
    let err = run_score(bench, &home, &score_params(&other, &out), sink).unwrap_err();
    assert!(err.to_string().contains("different configuration"), "{err}");
    assert!(err.to_string().contains("samples_file"), "{err}");
}

#[test]
fn an_empty_answer_in_a_samples_file_is_a_verdict() {
    let Fixture {
        dir,
        home,
        bench,
        out,
        ..
    } = fixture(TASKS);
    let samples = dir.path().join("samples.jsonl");
    std::fs::write(
        &samples,
        [
            sample_line("double", ""),
            sample_line("square", "n = int(input())\nprint(n * n)\n"),
        ]
        .join("\n"),
    )
    .unwrap();
    let outcome = run_score(
        bench,
        &home,
        &score_params(&samples, &out),
        Arc::new(|_| {}),
    )
    .unwrap();
    assert_eq!(outcome.summary.verdicts["compile_error"], 1);
    assert_eq!(outcome.summary.verdicts["passed"], 1);
}
