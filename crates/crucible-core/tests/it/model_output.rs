//! Whatever a model writes ends as a verdict and the run finishes (issue 16, section 3): an
//! empty answer on APPS and CodeNet program tasks, a NUL byte, a judge that cannot run one
//! sample's program, and a collector that fails.

use crucible_core::eval::{BenchmarkName, BenchmarkTask};
use crucible_core::infer::ScriptedGenerator;
use crucible_core::types::TaskKind;

use super::{Fixture, TASKS, fixture, params, quiet_eval, results, shipped_fixture};

fn is_program(task: &BenchmarkTask) -> bool {
    matches!(task.task.kind, TaskKind::Program { .. })
}

#[test]
fn an_empty_answer_on_apps_and_codenet_is_a_failed_verdict_and_the_run_finishes() {
    for name in [BenchmarkName::Apps, BenchmarkName::CodeNet] {
        let Fixture {
            dir: _dir,
            home,
            bench,
            model,
            out,
        } = shipped_fixture(name.clone(), None, is_program);
        // The answer closes the prefilled code fence at once: no code at all.
        let mut generator = ScriptedGenerator::new(["```"]);
        let outcome = quiet_eval(&mut generator, &model, &bench, &home, &params(&out, 0))
            .unwrap_or_else(|err| panic!("{name}: the run failed: {err}"));
        assert!(!outcome.interrupted);
        let lines = results(&out);
        assert_eq!(lines.len(), 1, "{name}: {lines:?}");
        assert_eq!(lines[0]["status"], "compile_error", "{name}: {lines:?}");
        let feedback = lines[0]["feedback"].as_str().unwrap_or_default();
        assert!(
            feedback.contains("the program is empty"),
            "{name}: {feedback}"
        );
        assert_eq!(outcome.summary.verdicts["compile_error"], 1, "{name}");
        assert_eq!(outcome.summary.pass_at_k["pass@1"], 0.0, "{name}");

        // A re-run finds the sample done: a judged sample is never judged again.
        let mut exhausted = ScriptedGenerator::new(Vec::<String>::new());
        quiet_eval(&mut exhausted, &model, &bench, &home, &params(&out, 0)).unwrap();
        assert!(exhausted.requests.is_empty());
        assert_eq!(results(&out).len(), 1, "{name}");
    }
}

#[test]
fn a_nul_byte_is_a_compile_error_and_the_other_tasks_are_judged() {
    let Fixture {
        dir: _dir,
        home,
        bench,
        model,
        out,
    } = fixture(TASKS);
    let mut generator = ScriptedGenerator::new([
        "n = int(input())\nprint(2 * n)\0\n```",
        "n = int(input())\nprint(n * n)\n```",
    ]);
    let outcome = quiet_eval(&mut generator, &model, &bench, &home, &params(&out, 0)).unwrap();
    let lines = results(&out);
    let status = |task: &str| {
        lines
            .iter()
            .find(|r| r["task_id"] == task)
            .unwrap_or_else(|| panic!("no result for {task}: {lines:?}"))
    };
    assert_eq!(status("double")["status"], "compile_error", "{lines:?}");
    let feedback = status("double")["feedback"].as_str().unwrap_or_default();
    assert!(feedback.contains("contains a NUL byte"), "{feedback}");
    assert_eq!(status("square")["status"], "passed", "{lines:?}");
    assert_eq!(outcome.summary.pass_at_k["pass@1"], 0.5);
}

/// Two C++ function tasks; the second's hidden tests have no `main`, which the executor's C++
/// harness refuses: a failure of the judge on that one sample, not of the model.
const CPP_TASKS: &str = r##"{"id": "judged", "prompt": "#include <cassert>\nint twice(int x) {\n", "entry_point": "twice", "language": "cpp", "hidden_tests": "int main() { assert(twice(2) == 4); }\n"}
{"id": "unjudgeable", "prompt": "#include <cassert>\nint twice(int x) {\n", "entry_point": "twice", "language": "cpp", "hidden_tests": "// these tests lost their main function\n"}
"##;

#[test]
fn an_executor_error_on_one_sample_is_a_judge_error_and_the_run_finishes() {
    let Fixture {
        dir: _dir,
        home,
        bench,
        model,
        out,
    } = fixture(CPP_TASKS);
    let answer = "    return 2 * x;\n}\n```";
    let mut generator = ScriptedGenerator::new([answer, answer]);
    let outcome = quiet_eval(&mut generator, &model, &bench, &home, &params(&out, 0)).unwrap();
    assert!(!outcome.interrupted);
    let lines = results(&out);
    assert_eq!(lines.len(), 2, "{lines:?}");
    let by_task = |task: &str| lines.iter().find(|r| r["task_id"] == task).unwrap();
    assert_eq!(by_task("judged")["status"], "passed", "{lines:?}");
    let failed = by_task("unjudgeable");
    assert_eq!(failed["status"], "judge_error", "{lines:?}");
    let feedback = failed["feedback"].as_str().unwrap_or_default();
    assert!(
        feedback.contains("the judge could not run this program") && feedback.contains("main"),
        "{feedback}"
    );
    // Counted as a failure, and shown: in the summary, the table and the report.
    assert_eq!(outcome.summary.pass_at_k["pass@1"], 0.5);
    assert_eq!(outcome.summary.verdicts["judge_error"], 1);
    assert!(outcome.table.contains("judge_error"), "{}", outcome.table);
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("judge_error"), "the report names the verdict");

    // Resume never retries it: the judge_error is a verdict like any other.
    let mut exhausted = ScriptedGenerator::new(Vec::<String>::new());
    let again = quiet_eval(&mut exhausted, &model, &bench, &home, &params(&out, 0)).unwrap();
    assert!(exhausted.requests.is_empty());
    assert_eq!(results(&out).len(), 2);
    assert_eq!(again.summary.verdicts["judge_error"], 1);
}

#[test]
fn a_failing_collector_is_an_error_with_its_cause_not_a_panic() {
    let Fixture {
        dir: _dir,
        home,
        bench,
        model,
        out,
    } = fixture(TASKS);
    // `summary.json` cannot be written (a directory with a file in it stands in its place), as
    // on a full disk: the collector fails when the first task is complete.
    std::fs::create_dir_all(out.join("summary.json/occupied")).unwrap();
    let mut generator = ScriptedGenerator::new([
        "n = int(input())\nprint(2 * n)\n```",
        "n = int(input())\nprint(n * n)\n```",
    ]);
    let err = quiet_eval(&mut generator, &model, &bench, &home, &params(&out, 0))
        .expect_err("the summary cannot be written");
    let message = format!("{err}");
    assert!(message.contains("summary.json"), "{message}");
    // What was judged before the failure is kept.
    assert!(!results(&out).is_empty());
}
