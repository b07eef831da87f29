//! Function-level repository tasks end to end: built from a package whose pytest suite runs in
//! the sandbox, evaluated with scripted bodies and judged by the package's tests, with no test
//! reaching the prompt.

use std::path::Path;
use std::sync::Arc;

use crucible_core::eval::judge::package::package_limits;
use crucible_core::infer::{FimTokens, Prompt, ScriptedGenerator};
use crucible_core::repobench::Setting;
use crucible_core::repobench::eval::{ContextMode, EvalParams, evaluate, summarize};
use crucible_core::repobench::functions::{CONTEXT_DIR, FunctionParams, build_functions};

const OPS: &str = "\
\"\"\"Small operations.\"\"\"


def add_all(xs):
    \"\"\"The sum of `xs`.\"\"\"
    total = 0
    for x in xs:
        total += x
    return total


def never_tested(a):
    b = a + 1
    c = b * 2
    return c
";

const TESTS: &str = "\
from mini.ops import add_all


def test_add_all():
    assert add_all([1, 2, 3]) == 6


def test_add_all_empty():
    assert add_all([]) == 0
";

fn package(dir: &Path) -> std::path::PathBuf {
    let root = dir.join("mini-1.0");
    std::fs::create_dir_all(root.join("mini")).unwrap();
    std::fs::create_dir_all(root.join("tests")).unwrap();
    std::fs::write(root.join("mini/__init__.py"), "").unwrap();
    std::fs::write(root.join("mini/ops.py"), OPS).unwrap();
    std::fs::write(
        root.join("mini/use.py"),
        "from .ops import add_all\n\n\ndef total_of(rows):\n    return add_all(rows)\n",
    )
    .unwrap();
    std::fs::write(root.join("tests/test_ops.py"), TESTS).unwrap();
    root
}

#[test]
fn function_tasks_are_built_from_the_tests_that_notice_a_removal_and_judged_by_them() {
    let dir = tempfile::tempdir().unwrap();
    let root = package(dir.path());
    let home = dir.path().join("home");
    let executor =
        Arc::new(crucible_core::eval::judge::executor(&home, true, false).expect("sandbox"));
    let out = dir.path().join("rb");
    let (tasks, sources) = build_functions(
        &FunctionParams {
            from: vec![root.clone()],
            out: out.clone(),
            seed: 0,
            tasks: 5,
            prefix_bytes: 12_000,
            executor: &executor,
            limits: package_limits(),
        },
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(sources[0].baseline_passed, 2);
    assert_eq!(sources[0].tried, 2, "add_all and never_tested");
    assert_eq!(tasks.len(), 1, "no test notices never_tested: {tasks:?}");
    let task = &tasks[0];
    assert_eq!(task.setting, Setting::Function);
    assert_eq!(task.symbol.as_deref(), Some("add_all"));
    assert_eq!(
        task.gold,
        "    total = 0\n    for x in xs:\n        total += x\n    return total\n"
    );
    assert!(task.prefix.ends_with("    \"\"\"The sum of `xs`.\"\"\"\n"));
    assert!(task.suffix.starts_with("\n\ndef never_tested"));
    let judge = task.judge.as_ref().unwrap();
    assert_eq!(
        judge.tests,
        [
            "tests/test_ops.py::test_add_all",
            "tests/test_ops.py::test_add_all_empty"
        ]
    );
    // What retrieval reads has no tests.
    assert_eq!(task.repo_root, out.join(CONTEXT_DIR).join("mini-1.0"));
    assert!(task.repo_root.join("mini/use.py").is_file());
    assert!(!task.repo_root.join("tests").exists());

    let run = dir.path().join("run");
    let params = |mode| EvalParams {
        run_dir: run.clone(),
        mode,
        budget_tokens: 4096,
        max_new_tokens: 16,
        max_body_tokens: 64,
        embeddings: None,
        executor: Some(executor.clone()),
    };
    // A right body that goes on past the function (cut at the dedent), then a wrong one.
    let mut right = ScriptedGenerator::new(["    return sum(xs)\n\n\ndef extra():\n    pass\n"])
        .with_fim(FimTokens::qwen());
    let results = evaluate(&mut right, &tasks, &params(ContextMode::Bm25), &mut |_| {}).unwrap();
    let verdict = results[0].verdict.as_ref().unwrap();
    assert!(verdict.passed, "{verdict:?}");
    assert_eq!(results[0].prediction, "    return sum(xs)\n");
    for request in &right.requests {
        let Prompt::Fill { infill, .. } = &request.prompt else {
            panic!("a fill prompt");
        };
        assert!(infill.suffix.contains("def never_tested"));
        assert!(!infill.extra.is_empty(), "retrieval found mini/use.py");
        for file in &infill.extra {
            assert!(!file.filename.contains("test"), "{}", file.filename);
            assert!(!file.text.contains("test_add_all"), "{}", file.text);
        }
    }
    let mut wrong = ScriptedGenerator::new(["    return 0\n"]).with_fim(FimTokens::qwen());
    let results = evaluate(
        &mut wrong,
        &tasks,
        &params(ContextMode::InFile),
        &mut |_| {},
    )
    .unwrap();
    let verdict = results[0].verdict.as_ref().unwrap();
    assert!(!verdict.passed);
    assert_eq!((verdict.tests, verdict.tests_passed), (2, 1));
    assert_eq!(
        verdict.first_failure.as_deref(),
        Some("tests/test_ops.py::test_add_all failed")
    );
    let rows = summarize(&run).unwrap();
    let rate = |mode| {
        rows.iter()
            .find(|r| r.mode == mode && r.setting == Setting::Function)
            .and_then(|r| r.pass_rate)
    };
    assert_eq!(rate(ContextMode::InFile), Some(0.0));
    assert_eq!(rate(ContextMode::Bm25), Some(100.0));
    let bm25 = rows.iter().find(|r| r.mode == ContextMode::Bm25).unwrap();
    assert_eq!(
        bm25.against_in_file.map(|p| (p.gained, p.lost)),
        Some((1, 0))
    );
    // The host's package is untouched by the runs.
    assert_eq!(
        std::fs::read_to_string(root.join("mini/ops.py")).unwrap(),
        OPS
    );
}
