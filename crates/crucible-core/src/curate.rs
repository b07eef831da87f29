//! Curation's link to the benchmarks: every prompt and reference solution Crucible ships,
//! loaded through `crucible-eval`'s loaders, as decontamination references for
//! `crucible-data`'s pipeline.

use crucible_data::decontam::Reference;
use crucible_eval::{BenchmarkName, DataDirs, LoadParams, load_benchmark};
use crucible_types::{Language, TaskKind};

/// Benchmarks whose prompts are the same in every language they accept (stdin/stdout problem
/// statements): loaded once, in their default language.
fn one_language(name: &BenchmarkName) -> bool {
    matches!(name, BenchmarkName::Apps | BenchmarkName::CodeNet)
}

/// The prompts and reference solutions of every named benchmark (every HumanEval-X language)
/// and of HumanEval-infilling. A missing benchmark file is an error: decontamination against
/// part of the benchmarks would pass contaminated data as clean.
pub fn benchmark_references(dirs: &DataDirs) -> crate::Result<Vec<Reference>> {
    let mut references = Vec::new();
    for name in BenchmarkName::ALL {
        if name == BenchmarkName::MbppTest {
            // Its tasks are mbpp-full's, whose references are taken whole.
            continue;
        }
        if matches!(name, BenchmarkName::HumanEvalInfilling(_)) {
            // Cut from HumanEval's prompts and solutions: taken below, for the exact check.
            continue;
        }
        let info = name.info().expect("named benchmarks have info");
        let languages: Vec<Language> = if one_language(&name) {
            vec![info.languages[0]]
        } else {
            info.languages.to_vec()
        };
        for language in languages {
            let bench = load_benchmark(
                &name,
                &LoadParams {
                    dirs,
                    language: Some(language),
                },
            )?;
            let label = if info.languages.len() > 1 && !one_language(&name) {
                format!("{}-{}", name.as_str(), language.name())
            } else {
                name.as_str().to_owned()
            };
            for task in &bench.tasks {
                let prompt = match &task.task.kind {
                    TaskKind::Function { prompt, .. } => prompt,
                    TaskKind::Program { description } | TaskKind::Freeform { description } => {
                        description
                    }
                };
                references.push(reference(&label, &task.task.id, "prompt", prompt, true));
                if let Some(solution) = &task.reference {
                    references.push(reference(
                        &label,
                        &task.task.id,
                        "solution",
                        solution.code(),
                        true,
                    ));
                }
            }
        }
    }
    let (records, _rejects) = crucible_eval::load::infilling::load_infilling(dirs)?;
    for record in records {
        // Infilling texts are cut from HumanEval's prompts and solutions, which the n-gram check
        // already has whole; they take part in the exact check only.
        for (field, text) in [
            ("prompt", &record.prompt),
            ("suffix", &record.suffix),
            ("solution", &record.canonical_solution),
        ] {
            references.push(reference(
                "humaneval-infilling",
                &record.task_id,
                field,
                text,
                false,
            ));
        }
    }
    Ok(references)
}

fn reference(benchmark: &str, task_id: &str, field: &str, text: &str, ngram: bool) -> Reference {
    Reference {
        benchmark: benchmark.to_owned(),
        task_id: task_id.to_owned(),
        field: field.to_owned(),
        text: text.to_owned(),
        ngram,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_benchmark_gives_references() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let dirs = DataDirs::resolve(None, None, root, None);
        assert!(
            dirs.primary.is_some(),
            "the shared benchmark data must be beside the checkout"
        );
        let refs = benchmark_references(&dirs).unwrap();
        let benchmarks: std::collections::BTreeSet<&str> =
            refs.iter().map(|r| r.benchmark.as_str()).collect();
        for want in [
            "humaneval",
            "humaneval-plus",
            "mbpp",
            "mbpp-full",
            "mbpp-plus",
            "humaneval-x-cpp",
            "humaneval-x-go",
            "humaneval-x-java",
            "humaneval-x-javascript",
            "humaneval-x-python",
            "humaneval-x-rust",
            "humaneval-rs",
            "mbpp-rs",
            "apps",
            "codenet",
            "humaneval-infilling",
        ] {
            assert!(
                benchmarks.contains(want),
                "{want} missing from {benchmarks:?}"
            );
        }
        let he0 = refs
            .iter()
            .find(|r| {
                r.benchmark == "humaneval" && r.task_id == "HumanEval/0" && r.field == "solution"
            })
            .unwrap();
        assert!(
            he0.text.contains("for idx, elem in enumerate(numbers)"),
            "{}",
            he0.text
        );
    }
}
