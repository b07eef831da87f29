//! Parsing samples made by other tools, for `crucible score` (judging them is [`crate::judge`]'s).
//!
//! Sample files are JSON Lines in OpenAI human-eval's format (`task_id`, `completion`: text that
//! continues the prompt) or EvalPlus's (`task_id`, `solution`: the whole program), or a
//! `samples.jsonl` written by `crucible eval` (its `solution` is an object with `form` and `code`),
//! so a run can be scored again, e.g. on the HumanEval+ tests. Optional fields: `sample_idx` or
//! `completion_id` (an explicit index), `language`, and `reference` (a string, or a list of
//! strings: the references similarity metrics compare the sample with, instead of the task's
//! own reference solution). Every problem in the file is reported, with its line number;
//! nothing is skipped.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

use crucible_types::Language;
use serde_json::Value;

use crate::run::{SampleRecord, TokenCounts};

mod formats;
use crate::task::{Benchmark, Solution};
pub use formats::{ACCEPTED, SamplesFormat, SamplesInput, read_samples};

/// Problems in a samples file (all of them, one per entry).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid samples file `{}`:\n{}", path.display(), render(problems))]
pub struct SamplesError {
    pub path: PathBuf,
    pub problems: Vec<SampleProblem>,
}

/// One problem, at a line (0: the file as a whole).
#[derive(Debug, Clone, PartialEq)]
pub struct SampleProblem {
    pub line: usize,
    pub message: String,
}

/// Most problems listed before the rest are summarised (a wrong file can have thousands).
const MAX_LISTED: usize = 20;

fn render(problems: &[SampleProblem]) -> String {
    let mut lines: Vec<String> = problems
        .iter()
        .take(MAX_LISTED)
        .map(ToString::to_string)
        .collect();
    if problems.len() > MAX_LISTED {
        lines.push(format!(
            "... and {} more problems",
            problems.len() - MAX_LISTED
        ));
    }
    lines.join("\n")
}

impl fmt::Display for SampleProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            f.write_str(&self.message)
        } else {
            write!(f, "line {}: {}", self.line, self.message)
        }
    }
}

/// Parse a samples file against `bench`. Sample indices are the explicit ones when given, else
/// assigned per task in file order.
pub fn parse_samples(
    path: &Path,
    text: &str,
    bench: &Benchmark,
) -> Result<Vec<SampleRecord>, SamplesError> {
    parse_samples_with_references(path, text, bench).map(|parsed| parsed.samples)
}

/// A samples file's samples and the references given with them.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedSamples {
    pub samples: Vec<SampleRecord>,
    /// `reference` of each sample that has one, by `(task_id, sample_idx)`.
    pub references: BTreeMap<(String, usize), Vec<String>>,
}

/// [`parse_samples`], with the samples' `reference` fields.
pub fn parse_samples_with_references(
    path: &Path,
    text: &str,
    bench: &Benchmark,
) -> Result<ParsedSamples, SamplesError> {
    let mut problems = Vec::new();
    let mut samples = Vec::new();
    let mut references = BTreeMap::new();
    let mut next_idx: HashMap<String, usize> = HashMap::new();
    let mut seen: HashMap<(String, usize), usize> = HashMap::new();
    let mut seen_text: HashMap<(String, String), usize> = HashMap::new();
    for (idx, raw) in text.lines().enumerate() {
        let line = idx + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let mut problem = |message: String| problems.push(SampleProblem { line, message });
        let record = match parse_line(raw, bench) {
            Ok(record) => record,
            Err(message) => {
                problem(message);
                continue;
            }
        };
        let same_text = seen_text.get(&(record.task_id.clone(), record.code.clone()));
        if let Some(first) = same_text.filter(|_| record.index.is_none()) {
            problem(format!(
                "duplicate sample: same task `{}` and code as line {first} (add `sample_idx` to keep intentional duplicates)",
                record.task_id
            ));
            continue;
        }
        seen_text.insert((record.task_id.clone(), record.code.clone()), line);
        let counter = next_idx.entry(record.task_id.clone()).or_insert(0);
        let sample_idx = record.index.unwrap_or(*counter);
        *counter = (*counter).max(sample_idx + 1);
        if let Some(first) = seen.insert((record.task_id.clone(), sample_idx), line) {
            problem(format!(
                "duplicate sample {sample_idx} of task `{}` (first on line {first})",
                record.task_id
            ));
            continue;
        }
        let task = bench.task(&record.task_id).expect("checked in parse_line");
        let solution = match record.solution {
            Some(solution) => solution,
            None => task.solution_of(&record.code),
        };
        if let Some(given) = record.references {
            references.insert((record.task_id.clone(), sample_idx), given);
        }
        samples.push(SampleRecord {
            task_id: record.task_id,
            sample_idx,
            completion: record.code,
            solution,
            tokens: record.tokens,
            gen_ms: record.gen_ms,
        });
    }
    if samples.is_empty() && problems.is_empty() {
        problems.push(SampleProblem {
            line: 0,
            message: "the file has no samples".into(),
        });
    } else if samples.is_empty() {
        problems.push(SampleProblem {
            line: 0,
            message: format!("no line is a sample; accepted shapes: {ACCEPTED}"),
        });
    }
    if problems.is_empty() {
        Ok(ParsedSamples {
            samples,
            references,
        })
    } else {
        Err(SamplesError {
            path: path.to_path_buf(),
            problems,
        })
    }
}

/// The tasks of `bench` that no sample covers, in benchmark order: `crucible score` reports
/// them and counts them as failed unless told to leave them out (see
/// [`MissingTasks`](crate::run::MissingTasks)).
pub fn missing_tasks(bench: &Benchmark, samples: &[SampleRecord]) -> Vec<String> {
    let covered: std::collections::BTreeSet<&str> =
        samples.iter().map(|s| s.task_id.as_str()).collect();
    bench
        .tasks
        .iter()
        .map(|t| &t.task.id)
        .filter(|id| !covered.contains(id.as_str()))
        .cloned()
        .collect()
}

/// What a `solution` field may be.
const BAD_SOLUTION: &str = "field `solution` must be a string (EvalPlus) or an object with `form` \
     (\"full\" or \"continuation\") and `code` (a crucible eval sample)";

struct RawSample {
    task_id: String,
    code: String,
    /// Known from the record (EvalPlus's `solution`, or a Crucible sample); otherwise the code is
    /// a human-eval `completion`, whose form is inferred from the task.
    solution: Option<Solution>,
    index: Option<usize>,
    /// Kept from a crucible eval sample, so a rescored run still reports its generation cost.
    tokens: Option<TokenCounts>,
    gen_ms: Option<u64>,
    /// `reference`: references for the similarity metrics.
    references: Option<Vec<String>>,
}

/// What a `reference` field may be.
const BAD_REFERENCE: &str =
    "field `reference` must be a string or a list of strings (the reference solutions)";

fn parse_line(raw: &str, bench: &Benchmark) -> Result<RawSample, String> {
    let value: Value = serde_json::from_str(raw).map_err(|err| format!("not valid JSON: {err}"))?;
    let Value::Object(object) = value else {
        return Err("expected a JSON object".into());
    };
    let task_id = match object.get("task_id") {
        Some(Value::String(id)) => id.clone(),
        Some(_) => return Err("field `task_id` must be a string".into()),
        None => return Err("missing field `task_id`".into()),
    };
    let (code, solution) = match (object.get("solution"), object.get("completion")) {
        (Some(Value::String(code)), _) => (code.clone(), Some(Solution::Full(code.clone()))),
        (Some(value @ Value::Object(_)), _) => {
            let solution: Solution =
                serde_json::from_value(value.clone()).map_err(|_| BAD_SOLUTION.to_owned())?;
            (solution.code().to_owned(), Some(solution))
        }
        (None | Some(Value::Null), Some(Value::String(code))) => (code.clone(), None),
        (Some(_), _) => return Err(BAD_SOLUTION.into()),
        (_, Some(_)) => return Err("field `completion` must be a string".into()),
        (None, None) => {
            return Err(
                "missing field: a sample needs `completion` (human-eval) or `solution` (EvalPlus)"
                    .into(),
            );
        }
    };
    if let Some(Value::String(name)) = object.get("language") {
        let given =
            Language::from_alias(name).ok_or_else(|| format!("unknown language `{name}`"))?;
        if given != bench.language {
            return Err(format!(
                "sample language `{given}` does not match the benchmark's `{}` (use --lang {given} if the benchmark has it)",
                bench.language
            ));
        }
    }
    let index = match object
        .get("sample_idx")
        .or_else(|| object.get("completion_id"))
    {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => Some(
            n.as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .ok_or("`sample_idx` must be a non-negative integer")?,
        ),
        Some(_) => return Err("`sample_idx` must be a non-negative integer".into()),
    };
    let references = match object.get("reference") {
        None | Some(Value::Null) => None,
        Some(Value::String(reference)) => Some(vec![reference.clone()]),
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .map(|item| item.as_str().map(str::to_owned))
                .collect::<Option<Vec<String>>>()
                .ok_or(BAD_REFERENCE)?,
        ),
        Some(_) => return Err(BAD_REFERENCE.into()),
    };
    if bench.task(&task_id).is_none() {
        return Err(unknown_task_message(&task_id, bench));
    }
    Ok(RawSample {
        task_id,
        code,
        solution,
        index,
        tokens: object
            .get("tokens")
            .and_then(|t| serde_json::from_value(t.clone()).ok()),
        gen_ms: object.get("gen_ms").and_then(Value::as_u64),
        references,
    })
}

fn unknown_task_message(task_id: &str, bench: &Benchmark) -> String {
    let prefix = task_id.split('/').next().unwrap_or("");
    let other_language = ["CPP", "Go", "Java", "JavaScript", "Python", "Rust"]
        .iter()
        .find(|p| **p == prefix)
        .and_then(|p| Language::from_alias(if *p == "CPP" { "cpp" } else { p }))
        .filter(|lang| *lang != bench.language && bench.name == crate::BenchmarkName::HumanEvalX);
    match other_language {
        Some(lang) => format!(
            "unknown task id `{task_id}` in `{}` ({}); it looks like a {lang} task: use --lang {lang}",
            bench.name, bench.language
        ),
        None => format!("unknown task id `{task_id}` in benchmark `{}`", bench.name),
    }
}

#[cfg(test)]
mod tests {
    use crucible_types::{Task, TaskKind, TestSuite};

    use super::*;
    use crate::task::{BenchmarkTask, Harness, HiddenTests};
    use crate::{BenchmarkName, DataDirs, LoadParams, load_benchmark};

    const TASKS: &str = r#"{"id": "a", "description": "Print 1.", "examples": [{"input": "", "output": "1\n"}], "language": "python"}
{"id": "b", "description": "Print 2.", "examples": [{"input": "", "output": "2\n"}], "language": "python"}
{"id": "c", "description": "Print 3.", "examples": [{"input": "", "output": "3\n"}], "language": "python"}"#;

    fn bench() -> Benchmark {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tasks.jsonl");
        std::fs::write(&path, TASKS).unwrap();
        let dirs = DataDirs::resolve(None, None, dir.path(), None);
        let params = LoadParams {
            dirs: &dirs,
            language: None,
        };
        load_benchmark(&BenchmarkName::TaskFile(path), &params).unwrap()
    }

    /// Parse `lines` as a samples file: the `(task, index)` of each sample, or the problems.
    fn check(lines: &[&str], expect: std::result::Result<&[(&str, usize)], &[&str]>) {
        let bench = bench();
        let parsed = parse_samples(Path::new("s.jsonl"), &lines.join("\n"), &bench);
        match (parsed, expect) {
            (Ok(samples), Ok(expected)) => {
                let got: Vec<(&str, usize)> = samples
                    .iter()
                    .map(|s| (s.task_id.as_str(), s.sample_idx))
                    .collect();
                assert_eq!(got, expected);
            }
            (Err(err), Err(expected)) => {
                let got: Vec<String> = err.problems.iter().map(ToString::to_string).collect();
                assert_eq!(got, expected);
            }
            (got, expected) => panic!("got {got:?}, expected {expected:?}"),
        }
    }

    fn humaneval_bench() -> Benchmark {
        let task = BenchmarkTask {
            task: Task {
                id: "HumanEval/0".into(),
                language: Language::Python,
                kind: TaskKind::Function {
                    prompt: "def f(x):\n".into(),
                    entry_point: "f".into(),
                },
                visible: TestSuite::None,
            },
            hidden: HiddenTests::ready(TestSuite::None),
            reference: None,
            harness: Harness::HumanEval,
        };
        Benchmark {
            name: BenchmarkName::HumanEval,
            language: Language::Python,
            tasks: vec![task],
            rejects: vec![],
        }
    }

    #[test]
    fn indices_are_explicit_or_assigned_in_file_order() {
        check(
            &[
                r#"{"task_id": "a", "solution": "print(1)"}"#,
                r#"{"task_id": "a", "solution": "print(0)"}"#,
                r#"{"task_id": "b", "solution": "print(2)", "sample_idx": 3}"#,
                r#"{"task_id": "b", "solution": "print(1)"}"#,
            ],
            Ok(&[("a", 0), ("a", 1), ("b", 3), ("b", 4)]),
        );
    }

    #[test]
    fn duplicate_sample_indices_are_refused_with_both_lines() {
        check(
            &[
                r#"{"task_id": "a", "solution": "print(1)", "sample_idx": 0}"#,
                r#"{"task_id": "a", "solution": "print(2)", "sample_idx": 0}"#,
                r#"{"task_id": "b", "solution": "print(2)"}"#,
                r#"{"task_id": "b", "solution": "print(1)", "completion_id": 0}"#,
                r#"{"task_id": "c", "solution": "print(3)"}"#,
                r#"{"task_id": "c", "solution": "print(3)"}"#,
            ],
            Err(&[
                "line 2: duplicate sample 0 of task `a` (first on line 1)",
                "line 4: duplicate sample 0 of task `b` (first on line 3)",
                "line 6: duplicate sample: same task `c` and code as line 5 (add `sample_idx` to keep intentional duplicates)",
            ]),
        );
    }

    #[test]
    fn tasks_without_samples_are_missing_in_benchmark_order() {
        let bench = bench();
        let text = [
            r#"{"task_id": "c", "solution": "print(3)"}"#,
            r#"{"task_id": "c", "solution": "print(4)"}"#,
        ]
        .join("\n");
        let samples = parse_samples(Path::new("s.jsonl"), &text, &bench).unwrap();
        assert_eq!(missing_tasks(&bench, &samples), ["a", "b"]);
    }

    #[test]
    fn references_given_with_samples_are_kept_by_sample() {
        let text = r#"{"task_id": "HumanEval/0", "completion": "    return x\n", "reference": "def f(x):\n    return x\n"}
{"task_id": "HumanEval/0", "completion": "    return 1\n", "reference": ["a", "b"]}
{"task_id": "HumanEval/0", "completion": "    return 2\n"}
"#;
        let parsed =
            parse_samples_with_references(Path::new("s.jsonl"), text, &humaneval_bench()).unwrap();
        assert_eq!(parsed.samples.len(), 3);
        let key = |idx: usize| ("HumanEval/0".to_string(), idx);
        assert_eq!(
            parsed.references.get(&key(0)),
            Some(&vec!["def f(x):\n    return x\n".to_string()])
        );
        assert_eq!(
            parsed.references.get(&key(1)),
            Some(&vec!["a".to_string(), "b".to_string()])
        );
        assert_eq!(parsed.references.get(&key(2)), None);
    }

    #[test]
    fn a_malformed_reference_is_reported_with_its_line() {
        let text = "{\"task_id\": \"HumanEval/0\", \"completion\": \"x\", \"reference\": 3}\n{\"task_id\": \"HumanEval/0\", \"completion\": \"y\", \"reference\": [\"a\", 1]}\n";
        let err = parse_samples_with_references(Path::new("s.jsonl"), text, &humaneval_bench())
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "invalid samples file `s.jsonl`:\nline 1: {BAD_REFERENCE}\nline 2: {BAD_REFERENCE}\nno line is a sample; accepted shapes: {ACCEPTED}"
            )
        );
    }

    /// Read `path` with [`read_samples`] against the three-task bench: the format and the
    /// `(task, index, code)` of each sample.
    fn read(path: &Path) -> (SamplesFormat, Vec<(String, usize, String)>) {
        let bench = bench();
        let input = read_samples(path, &bench).unwrap();
        let samples = parse_samples(path, &input.text, &bench).unwrap();
        let got = samples
            .into_iter()
            .map(|s| (s.task_id, s.sample_idx, s.completion))
            .collect();
        (input.format, got)
    }

    #[test]
    fn other_tools_shapes_are_detected_and_read() {
        let dir = tempfile::tempdir().unwrap();
        let owned = |t: &str, i: usize, c: &str| (t.to_owned(), i, c.to_owned());

        // bigcode generations.json: lists in task order (here only the first two tasks).
        let bigcode = dir.path().join("generations.json");
        std::fs::write(&bigcode, r#"[["print(1)", "print(0)"], ["print(2)"]]"#).unwrap();
        let (format, got) = read(&bigcode);
        assert_eq!(
            format,
            SamplesFormat::Bigcode {
                tasks: 2,
                gzipped: false
            }
        );
        assert_eq!(
            got,
            [
                owned("a", 0, "print(1)"),
                owned("a", 1, "print(0)"),
                owned("b", 0, "print(2)")
            ]
        );

        // 500 lists are bigcode's `mbpp`: the error names the benchmark that fits.
        let lists = format!("[{}]", vec![r#"["pass"]"#; 500].join(","));
        std::fs::write(&bigcode, lists).unwrap();
        let err = read_samples(&bigcode, &bench()).unwrap_err().to_string();
        assert!(
            err.contains("score it with `--benchmark mbpp-test`"),
            "{err}"
        );

        // Gzipped JSON Lines.
        let gz = dir.path().join("s.jsonl.gz");
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(
            &mut encoder,
            b"{\"task_id\": \"c\", \"solution\": \"print(3)\"}\n",
        )
        .unwrap();
        std::fs::write(&gz, encoder.finish().unwrap()).unwrap();
        let (format, got) = read(&gz);
        assert_eq!(format, SamplesFormat::JsonLines { gzipped: true });
        assert_eq!(got, [owned("c", 0, "print(3)")]);

        // LiveCodeBench output.
        let lcb = dir.path().join("lcb.json");
        std::fs::write(
            &lcb,
            r#"[{"question_id": "b", "code_list": ["print(2)", "print(5)"]}]"#,
        )
        .unwrap();
        let (format, got) = read(&lcb);
        assert_eq!(format, SamplesFormat::LiveCodeBench { tasks: 1 });
        assert_eq!(got, [owned("b", 0, "print(2)"), owned("b", 1, "print(5)")]);

        // An EvalPlus directory: `<task id>/<n>.py`, other files ignored.
        let samples = dir.path().join("samples");
        std::fs::create_dir_all(samples.join("a")).unwrap();
        std::fs::create_dir_all(samples.join("c")).unwrap();
        std::fs::write(samples.join("a/1.py"), "print(1)").unwrap();
        std::fs::write(samples.join("a/0.py"), "print(0)").unwrap();
        std::fs::write(samples.join("c/0.py"), "print(3)").unwrap();
        std::fs::write(samples.join("c/notes.txt"), "not a sample").unwrap();
        let (format, got) = read(&samples);
        assert_eq!(format, SamplesFormat::EvalPlusDir { tasks: 2 });
        assert_eq!(
            got,
            [
                owned("a", 0, "print(0)"),
                owned("a", 1, "print(1)"),
                owned("c", 0, "print(3)")
            ]
        );
    }

    #[test]
    fn shapes_that_do_not_fit_name_the_accepted_ones() {
        let dir = tempfile::tempdir().unwrap();
        let bench = bench();
        let error = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            read_samples(&path, &bench).unwrap_err().to_string()
        };
        // More task lists than the benchmark has tasks: another benchmark's generations.
        let err = error("g.json", r#"[["x"], ["x"], ["x"], ["x"]]"#);
        assert!(err.contains("4 task lists but"), "{err}");
        let err = error("odd.json", "[1, 2]");
        assert!(err.contains(ACCEPTED), "{err}");
        let err = error("odd.txt", "print(1)");
        assert!(err.contains(ACCEPTED), "{err}");
        // A folder that is no task of the benchmark.
        let samples = dir.path().join("samples");
        std::fs::create_dir_all(samples.join("HumanEval_0")).unwrap();
        let err = read_samples(&samples, &bench).unwrap_err().to_string();
        assert!(err.contains("folder `HumanEval_0` is no task"), "{err}");
    }
}
