//! Where each shipped benchmark's tests run: split from the program (the program receives
//! inputs only) or inside the program's process, with the reason, per benchmark and language.
//!
//! Every task is classified through `crucible_exec::test_placement`, the decision the executor
//! makes before it runs anything, on the program the reference solution gives (MultiPL-E ships
//! none: there the prompt's signature with a placeholder body). The table below is the one in
//! docs/BENCHMARKS.md; the fallback reasons are listed in crates/crucible-exec/README.md.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use crucible_eval::{BenchmarkName, LoadParams, Solution, TestTier, assemble, load_benchmark};
use crucible_exec::{Limits, TestPlacement, test_placement};
use crucible_types::Language;

use super::data_dirs;

/// `benchmark language: split/total`, then one line per task that runs in-process.
fn classify(name: BenchmarkName, language: Option<Language>) -> String {
    let dirs = data_dirs();
    let bench = load_benchmark(
        &name,
        &LoadParams {
            dirs: &dirs,
            language,
        },
    )
    .unwrap();
    let placeholder = match bench.language {
        Language::Rust => "    todo!()\n",
        _ => "",
    };
    let mut split = 0;
    let mut in_process: BTreeMap<String, String> = BTreeMap::new();
    for task in &bench.tasks {
        let solution = task
            .reference
            .clone()
            .unwrap_or_else(|| Solution::Continuation(placeholder.into()));
        let program = assemble(task, &solution, TestTier::Hidden).unwrap();
        let request = program.to_request(Limits::new(Duration::from_secs(1), 256 << 20));
        match test_placement(&request).unwrap() {
            TestPlacement::Separate => split += 1,
            TestPlacement::InProcess { reason } => {
                in_process.insert(task.task.id.clone(), reason);
            }
        }
    }
    let mut out = format!(
        "{name} {}: {split}/{} split\n",
        bench.language,
        bench.tasks.len()
    );
    for (id, reason) in in_process {
        let _ = writeln!(out, "  {id}: {reason}");
    }
    out
}

#[track_caller]
fn check(name: BenchmarkName, language: Option<Language>, expected: &str) {
    let got = classify(name, language);
    assert_eq!(got, expected, "\n{got}");
}

#[test]
fn python_benchmarks_are_split() {
    check(
        BenchmarkName::HumanEval,
        None,
        "humaneval python: 164/164 split\n",
    );
    check(
        BenchmarkName::HumanEvalPlus,
        None,
        "humaneval-plus python: 164/164 split\n",
    );
    check(BenchmarkName::Mbpp, None, "mbpp python: 427/427 split\n");
    check(
        BenchmarkName::MbppFull,
        None,
        "mbpp-full python: 974/974 split\n",
    );
    check(
        BenchmarkName::MbppTest,
        None,
        "mbpp-test python: 500/500 split\n",
    );
    check(
        BenchmarkName::MbppPlus,
        None,
        "mbpp-plus python: 399/399 split\n",
    );
}

#[test]
fn humaneval_x_cpp() {
    check(
        BenchmarkName::HumanEvalX,
        Some(Language::Cpp),
        "humaneval-x cpp: 162/164 split\n  \
         CPP/137: `compare_one` returns `boost::any`: its calls cannot be sent to another process\n  \
         CPP/22: `filter_integers` takes `list_any`: its calls cannot be sent to another process\n",
    );
}

#[test]
fn humaneval_x_rust() {
    check(
        BenchmarkName::HumanEvalX,
        Some(Language::Rust),
        "humaneval-x rust: 162/164 split\n  \
         Rust/137: the tests use the program's `RtnType`, which is not a function\n  \
         Rust/22: `filter_integers` takes `Vec<Box<dyn Any>>`: its calls cannot be sent to another process\n",
    );
}

#[test]
fn humaneval_x_javascript() {
    check(
        BenchmarkName::HumanEvalX,
        Some(Language::JavaScript),
        "humaneval-x javascript: 164/164 split\n",
    );
}

#[test]
fn humaneval_x_go() {
    check(
        BenchmarkName::HumanEvalX,
        Some(Language::Go),
        "humaneval-x go: 151/164 split\n  \
         Go/103: `RoundedAvg` returns `interface{}`: its calls cannot be sent to another process\n  \
         Go/112: `ReverseDelete` returns `[2]interface{}`: its calls cannot be sent to another process\n  \
         Go/12: `Longest` returns `interface{}`: its calls cannot be sent to another process\n  \
         Go/125: `SplitWords` returns `interface{}`: its calls cannot be sent to another process\n  \
         Go/128: `ProdSigns` returns `interface{}`: its calls cannot be sent to another process\n  \
         Go/136: `LargestSmallestIntegers` returns `[2]interface{}`: its calls cannot be sent to another process\n  \
         Go/137: `CompareOne` takes `interface{}`: its calls cannot be sent to another process\n  \
         Go/162: `StringToMd5` returns `interface{}`: its calls cannot be sent to another process\n  \
         Go/22: `FilterIntegers` takes `[]interface{}`: its calls cannot be sent to another process\n  \
         Go/71: `TriangleArea` returns `interface{}`: its calls cannot be sent to another process\n  \
         Go/90: `NextSmallest` returns `interface{}`: its calls cannot be sent to another process\n  \
         Go/92: `AnyInt` takes `interface{}`: its calls cannot be sent to another process\n  \
         Go/95: `CheckDictCase` takes `map[interface{}]interface{}`: its calls cannot be sent to another process\n",
    );
}

#[test]
fn humaneval_x_java() {
    check(
        BenchmarkName::HumanEvalX,
        Some(Language::Java),
        "humaneval-x java: 156/164 split\n  \
         Java/103: `Solution.roundedAvg` returns `Object`: its calls cannot be sent to another process\n  \
         Java/112: `Solution.reverseDelete` returns `List<Object>`: its calls cannot be sent to another process\n  \
         Java/125: `Solution.splitWords` returns `Object`: its calls cannot be sent to another process\n  \
         Java/137: `Solution.compareOne` returns `Optional<Object>`: its calls cannot be sent to another process\n  \
         Java/151: `Solution.doubleTheDifference` takes `List<Object>`: its calls cannot be sent to another process\n  \
         Java/22: `Solution.filterIntergers` takes `List<Object>`: its calls cannot be sent to another process\n  \
         Java/92: `Solution.anyInt` takes `Object`: its calls cannot be sent to another process\n  \
         Java/95: `Solution.checkDictCase` takes `Map<Object, Object>`: its calls cannot be sent to another process\n",
    );
}

#[test]
fn humaneval_x_python() {
    check(
        BenchmarkName::HumanEvalX,
        Some(Language::Python),
        "humaneval-x python: 164/164 split\n",
    );
}

#[test]
fn multipl_e_rust() {
    let got = classify(BenchmarkName::HumanEvalRs, None) + &classify(BenchmarkName::MbppRs, None);
    assert_eq!(
        got,
        "humaneval-rs rust: 156/156 split\n\
         mbpp-rs rust: 354/354 split\n",
        "\n{got}"
    );
}

#[test]
fn stdin_stdout_benchmarks_are_compared_outside() {
    let got = classify(BenchmarkName::Apps, None) + &classify(BenchmarkName::CodeNet, None);
    assert_eq!(
        got,
        "apps cpp: 49/49 split\n\
         codenet cpp: 3816/3816 split\n",
        "\n{got}"
    );
}
