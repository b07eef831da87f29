//! The pipelines of crucible-core end to end with a scripted generator, judged in the sandbox:
//! `evaluate` (resume, strategies, reference timings), `model_output` (whatever a model writes
//! ends as a verdict and the run finishes), `score` (samples of other tools, appended as
//! judged and resumed) and `metrics` (`--metric`: the similarity metrics, the references'
//! perplexity and the judge, kept across re-runs).

mod evaluate;
mod metrics;
mod model_output;
mod repobench_functions;
mod score;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crucible_core::eval::judge::JudgeParams;
use crucible_core::eval::{BenchmarkName, DataDirs, LoadParams, TimeLimitPolicy, load_benchmark};
use crucible_core::evaluate::{EvalParams, ModelFacts, StrategyRun, run_eval};
use crucible_core::infer::prompt::PromptMode;
use crucible_core::infer::{ScriptedGenerator, Silent, SolveParams};
use crucible_core::strategy::{Budget, Strategy};
use crucible_core::types::{Decoding, GenParams, Language};

/// Two stdin/stdout tasks; the hidden examples differ from the visible ones.
pub(crate) const TASKS: &str = r#"{"id": "double", "description": "Print twice the integer on stdin.", "examples": [{"input": "2\n", "output": "4\n"}], "hidden_examples": [{"input": "21\n", "output": "42\n"}], "language": "python"}
{"id": "square", "description": "Print the square of the integer on stdin.", "examples": [{"input": "2\n", "output": "4\n"}], "hidden_examples": [{"input": "5\n", "output": "25\n"}], "language": "python"}
"#;

pub(crate) fn params(out: &std::path::Path, seed: u64) -> EvalParams {
    EvalParams {
        out: out.to_owned(),
        n: 1,
        ks: vec![1],
        solve: SolveParams {
            mode: PromptMode::Chat,
            params: GenParams {
                decoding: Decoding::Greedy,
                seed,
                max_new_tokens: 64,
                stop: vec![],
                n: 1,
            },
        },
        max_batch: 4,
        judge: JudgeParams {
            policy: TimeLimitPolicy {
                minimum: Duration::from_secs(3),
                factor: 4.0,
            },
            memory_bytes: 512 << 20,
            jobs: 2,
            visible: true,
            sandboxed: true,
            idle_priority: false,
        },
        strategy: None,
        force: false,
        metrics: None,
    }
}

/// The repair strategy with a small budget, `tasks_in_flight` tasks at once.
pub(crate) fn repair(tasks_in_flight: usize) -> Option<StrategyRun> {
    Some(StrategyRun {
        strategy: Strategy::preset("repair", 0).unwrap(),
        tasks_in_flight,
        budget: Budget {
            model_calls: 4,
            tokens: 4_000,
            executions: 16,
            wall_time: Duration::from_secs(120),
        },
    })
}

/// `run_eval` with no one listening to events or progress.
pub(crate) fn quiet_eval(
    generator: &mut ScriptedGenerator,
    model: &ModelFacts,
    bench: &crucible_core::eval::Benchmark,
    home: &std::path::Path,
    params: &EvalParams,
) -> crucible_core::Result<crucible_core::evaluate::EvalOutcome> {
    run_eval(
        generator,
        model,
        bench,
        home,
        params,
        Arc::new(|_| {}),
        &mut Silent,
    )
}

/// A scratch directory with `tasks` as a task-file benchmark, its `CRUCIBLE_HOME`, a scripted
/// model's facts and the run directory to use.
pub(crate) struct Fixture {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) home: std::path::PathBuf,
    pub(crate) bench: crucible_core::eval::Benchmark,
    pub(crate) model: ModelFacts,
    pub(crate) out: std::path::PathBuf,
}

pub(crate) fn fixture(tasks_text: &str) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let tasks = dir.path().join("tasks.jsonl");
    std::fs::write(&tasks, tasks_text).unwrap();
    let home = dir.path().join("home");
    let dirs = DataDirs::resolve(None, None, dir.path(), Some(&home));
    let name = BenchmarkName::parse(tasks.to_str().unwrap()).unwrap();
    let bench = load_benchmark(
        &name,
        &LoadParams {
            dirs: &dirs,
            language: None,
        },
    )
    .unwrap();
    let model = scripted_model();
    let out = dir.path().join("run");
    Fixture {
        dir,
        home,
        bench,
        model,
        out,
    }
}

/// A scratch directory with the first task of a shipped benchmark that `keep` accepts, read
/// from the benchmark data (`CRUCIBLE_DATA`, else the `shared/data` folder found from this
/// crate, as the CLI finds it). Missing data fails the test, naming what is missing.
pub(crate) fn shipped_fixture(
    name: BenchmarkName,
    language: Option<Language>,
    keep: impl Fn(&crucible_core::eval::BenchmarkTask) -> bool,
) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let env_data = std::env::var_os("CRUCIBLE_DATA").map(PathBuf::from);
    let dirs = DataDirs::resolve(
        None,
        env_data.as_deref(),
        Path::new(env!("CARGO_MANIFEST_DIR")),
        Some(&home),
    );
    let mut bench = load_benchmark(
        &name,
        &LoadParams {
            dirs: &dirs,
            language,
        },
    )
    .unwrap_or_else(|err| panic!("the benchmark data is needed ({err}); set CRUCIBLE_DATA"));
    let first = bench
        .tasks
        .iter()
        .position(keep)
        .unwrap_or_else(|| panic!("no task of `{name}` fits the test"));
    bench.tasks = vec![bench.tasks.swap_remove(first)];
    let out = dir.path().join("run");
    Fixture {
        dir,
        home,
        bench,
        model: scripted_model(),
        out,
    }
}

/// The facts of the scripted model.
pub(crate) fn scripted_model() -> ModelFacts {
    ModelFacts::File {
        name: "scripted".into(),
        path: "scripted".into(),
        sha256: "0".repeat(64),
        widened: false,
        lora: None,
        batch_invariant: false,
    }
}

/// The result lines of a run directory.
pub(crate) fn results(out: &Path) -> Vec<serde_json::Value> {
    read_lines(&out.join("results.jsonl"))
}

/// The JSON lines of a file.
pub(crate) fn read_lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()))
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}
