//! Every loader yields the documented number of tasks from the shipped files, and rejects are
//! explained.

use crucible_eval::{BenchmarkName, LoadParams, load_benchmark};
use crucible_types::{Language, TestSuite};

use super::data_dirs;

fn load(name: &BenchmarkName, language: Option<Language>) -> crucible_eval::Benchmark {
    let dirs = data_dirs();
    load_benchmark(
        name,
        &LoadParams {
            dirs: &dirs,
            language,
        },
    )
    .unwrap()
}

#[test]
fn counts_match_the_documentation() {
    for name in BenchmarkName::ALL {
        let info = name.info().unwrap();
        let bench = load(&name, None);
        assert_eq!(
            bench.tasks.len(),
            info.tasks,
            "{name}: rejects {:?}",
            &bench.rejects[..bench.rejects.len().min(3)]
        );
        for task in &bench.tasks {
            task.task.validate().unwrap();
        }
    }
}

#[test]
fn humaneval_x_every_language() {
    for language in [
        Language::Cpp,
        Language::Go,
        Language::Java,
        Language::JavaScript,
        Language::Python,
        Language::Rust,
    ] {
        let bench = load(&BenchmarkName::HumanEvalX, Some(language));
        assert_eq!(bench.tasks.len(), 164, "{language}");
        assert!(bench.rejects.is_empty(), "{language}: {:?}", bench.rejects);
        let with_visible = bench
            .tasks
            .iter()
            .filter(|t| !t.task.visible.is_empty())
            .count();
        let expect = match language {
            Language::Rust => 0,
            Language::Python | Language::JavaScript => 157,
            _ => 158,
        };
        assert_eq!(with_visible, expect, "{language}");
    }
}

#[test]
fn rejects_are_explained() {
    let apps = load(&BenchmarkName::Apps, None);
    let call_based = apps
        .rejects
        .iter()
        .filter(|r| r.reason.starts_with("call-based"))
        .count();
    let duplicates = apps
        .rejects
        .iter()
        .filter(|r| r.reason.starts_with("duplicate task id"))
        .count();
    assert_eq!((call_based, duplicates, apps.rejects.len()), (98, 3, 101));
    let codenet = load(&BenchmarkName::CodeNet, None);
    assert_eq!(codenet.rejects.len(), 3999 - 3816);
    for name in [
        BenchmarkName::HumanEval,
        BenchmarkName::HumanEvalPlus,
        BenchmarkName::Mbpp,
        BenchmarkName::MbppFull,
        BenchmarkName::MbppTest,
        BenchmarkName::MbppPlus,
        BenchmarkName::HumanEvalRs,
        BenchmarkName::MbppRs,
    ] {
        assert!(load(&name, None).rejects.is_empty(), "{name}");
    }
}

#[test]
fn humaneval_visible_examples() {
    let bench = load(&BenchmarkName::HumanEval, None);
    let with_examples = bench
        .tasks
        .iter()
        .filter(|t| t.task.has_visible_tests())
        .count();
    let asserts: usize = bench
        .tasks
        .iter()
        .map(|t| match &t.task.visible {
            TestSuite::Code { code } => code.lines().filter(|l| l.starts_with("assert")).count(),
            _ => 0,
        })
        .sum();
    assert_eq!((with_examples, asserts), (151, 429));
    let first = bench.task("HumanEval/0").unwrap();
    assert_eq!(
        first.task.visible,
        TestSuite::Code {
            code: "assert has_close_elements([1.0, 2.0, 3.0], 0.5) == False\nassert has_close_elements([1.0, 2.8, 3.0, 4.0, 5.0, 2.0], 0.3) == True\n".into()
        }
    );
}

#[test]
fn mbpp_test_is_full_mbpp_s_ids_11_to_510() {
    let bench = load(&BenchmarkName::MbppTest, None);
    let ids: Vec<&str> = bench.tasks.iter().map(|t| t.task.id.as_str()).collect();
    assert_eq!(ids.len(), 500);
    assert_eq!((ids[0], ids[499]), ("Mbpp/11", "Mbpp/510"));
    let full = load(&BenchmarkName::MbppFull, None);
    let same = full
        .tasks
        .iter()
        .find(|t| t.task.id == "Mbpp/11")
        .expect("full MBPP has task 11");
    assert_eq!(same.task.kind, bench.tasks[0].task.kind);
}
