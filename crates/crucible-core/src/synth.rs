//! `crucible data synth`: execution-verified instruction synthesis (OSS-Instruct style). Seeds
//! drawn from a curated corpus become prompts; the model writes a problem, a solution and
//! tests; the solution runs in the sandbox against its own tests, and only passing records are
//! kept (failures are kept apart as rejected samples); kept solutions are mutated to measure
//! whether their tests catch wrong programs; the kept records then go through the curation
//! pipeline (exact and near dedup, decontamination against every benchmark) as any corpus does.
//!
//! The run directory is append-only and resumable like an eval run: `config.json`,
//! `records.jsonl` (kept), `rejected.jsonl`, then `curate/` (the pipeline's output and side
//! files), `synth.jsonl` (the final records) and `summary.json`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crucible_data::decontam::Reference;
use crucible_data::mutate::{MutantKind, mutants, trivial};
use crucible_data::synth::{
    ParseRejection, Provenance, Seed, SynthTask, draw_seeds, evol_prompt,
    oss_instruct_program_prompt, oss_instruct_prompt, parse_answer, parse_program_answer,
};
use crucible_eval::run::{Appender, read_records, write_atomic};
use crucible_exec::{ExecRequest, Executor, LangOptions, Limits};
use crucible_infer::{GenRequest, Generation, Generator, Message, Observer, Prompt};
use crucible_strategy::{
    Assembly, Budget, Given, Quiet, StandardAssembly, Strategy, Tools, Trace, agreement_scores,
    repair_given,
};
use crucible_types::{
    Compare, Decoding, GenParams, IoCase, Language, Status, Task, TaskKind, TestSuite,
};

use crate::{Error, Result};

/// Which synthesis prompt is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Style {
    /// OSS-Instruct: a problem inspired by a seed snippet of real code.
    Oss,
    /// Evol-Instruct: a harder rewrite of a record of an earlier synth run (the corpus is that
    /// run's `synth.jsonl`).
    Evol,
}

/// Which kind of task the model writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskShape {
    /// A Python function with assert tests (HumanEval style).
    Function,
    /// A Python program reading stdin and writing stdout, with input/output examples (the
    /// task-file format's program kind; judged as program benchmarks are).
    Program,
}

/// What a synth run does. Everything but `count` must match when a run is resumed.
#[derive(Debug, Clone)]
pub struct SynthParams {
    /// Curated JSON Lines (`crucible data curate` output); for [`Style::Evol`], `synth.jsonl`
    /// files of earlier runs.
    pub corpus: Vec<PathBuf>,
    pub out: PathBuf,
    /// Seeds to draw (a resumed run may ask for more).
    pub count: usize,
    /// The draw's seed (and the base of the decoding seeds).
    pub seed: u64,
    pub style: Style,
    /// The licence of corpus documents that carry none.
    pub default_licence: String,
    /// Decoding; `n` is 1 and `seed` is replaced by the run's seed plus the seed index.
    pub gen_params: GenParams,
    /// Mutants tried per kept record.
    pub max_mutants: usize,
    /// Limits of every sandbox run.
    pub limits: Limits,
    /// Benchmark prompts and solutions the output is decontaminated against.
    pub references: Vec<Reference>,
    /// The model's name, recorded in the config.
    pub model: String,
    /// Answers asked for per seed (1: one, decoded as `gen_params` says; more are sampled
    /// together and the one whose solution passes and whose tests the most samples' solutions
    /// pass is kept).
    pub samples: usize,
    /// Repair rounds (the `repair` strategy's loop on the sandbox's failure report) for a seed
    /// whose chosen solution fails its own tests; 0: none.
    pub repair_rounds: usize,
    /// Function or program tasks (`--style evol` rewrites function tasks only).
    pub shape: TaskShape,
}

/// How a kept record was obtained.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Obtained {
    /// `first_try`, `after_repairs` or `chosen_among` (samples > 1; a chosen answer that was
    /// then repaired is `after_repairs`).
    pub how: String,
    /// Answers asked for, answers that parsed, and parsed answers whose solution passed its
    /// own tests.
    pub samples: usize,
    pub parsed: usize,
    pub passing: usize,
    /// Of the parsed answers' solutions, those that pass the kept record's tests (the kept
    /// solution included).
    pub agreeing: usize,
    /// Repair rounds the kept solution needed (0: none).
    pub repairs: usize,
}

impl Obtained {
    /// Several answers parsed, but no other answer's solution passes the kept tests: tests only
    /// their own solution passes may be wrong.
    pub fn tests_suspect(&self) -> bool {
        self.parsed > 1 && self.agreeing < 2
    }
}

/// One kept record (`records.jsonl`, and after curation `synth.jsonl`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SynthRecord {
    /// `synth-<seed>-<index>`, also the task id.
    pub id: String,
    pub seed_index: usize,
    pub style: Style,
    /// The task in Crucible's task-file format (a function task with its tests).
    pub task: Value,
    pub problem: String,
    pub solution: String,
    pub tests: String,
    pub mutation: MutationScore,
    pub provenance: Provenance,
    pub seed_snippet: String,
    pub model: String,
    pub gen_ms: u64,
    pub exec_ms: u64,
    /// How the record was obtained (absent in runs before the field existed: first try).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub obtained: Option<Obtained>,
    /// The tests pass the trivial program (every function returns `None`): they cannot fail.
    #[serde(default)]
    pub tests_cannot_fail: bool,
    /// The repair strategy's trace when the solution was repaired: the failing program, the
    /// failure report the model saw (of the record's own tests), and the fixed program.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repair_trace: Option<Trace>,
}

/// How the tests fared against the solution's mutants.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct MutationScore {
    pub mutants: usize,
    pub killed: usize,
    /// `killed / mutants`; `None` when no mutant could be made.
    pub kill_rate: Option<f64>,
    /// Killed mutants (source and kind): programs that fail the tests, usable as rejected
    /// samples of preference pairs.
    pub killed_mutants: Vec<KilledMutant>,
    /// The mutants the tests did not catch (kind and line).
    pub survived: Vec<(MutantKind, usize)>,
}

/// A mutant the tests caught.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KilledMutant {
    pub kind: MutantKind,
    pub line: usize,
    pub status: Status,
    pub source: String,
}

/// Why a seed gave no record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "stage")]
pub enum Rejection {
    /// The model could not be asked (the prompt is too long for its context).
    Generation { message: String },
    /// The answer does not have the expected shape.
    Parse { reason: ParseRejection },
    /// The solution does not pass its own tests.
    Tests {
        status: Status,
        feedback: Option<String>,
    },
}

impl Rejection {
    /// A short stable name for counts.
    pub fn name(&self) -> String {
        match self {
            Rejection::Generation { .. } => "generation".into(),
            Rejection::Parse { reason } => format!("parse:{}", reason.as_str()),
            Rejection::Tests { status, .. } => format!("tests:{status}"),
        }
    }
}

/// One rejected seed (`rejected.jsonl`): kept for preference data and for the record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RejectedSample {
    pub id: String,
    pub seed_index: usize,
    pub style: Style,
    pub rejection: Rejection,
    /// The raw answer.
    pub answer: String,
    /// The parsed task, when the answer parsed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub solution: Option<String>,
    pub provenance: Provenance,
    pub model: String,
    pub gen_ms: u64,
    /// Repair rounds tried before the seed was given up (0: none).
    #[serde(default)]
    pub repairs_tried: usize,
}

/// One seed's outcome, as reported while the run goes.
#[derive(Debug, Clone)]
pub enum Outcome {
    Kept(Box<SynthRecord>),
    Rejected(Box<RejectedSample>),
}

/// What a finished run found.
#[derive(Debug, Clone, Serialize)]
pub struct SynthSummary {
    pub seeds: usize,
    pub generated_now: usize,
    pub done_before: usize,
    /// Records whose solution passed its tests (before dedup and decontamination).
    pub passed_tests: usize,
    pub rejected: usize,
    pub rejections: BTreeMap<String, usize>,
    /// `passed_tests / seeds`.
    pub filter_pass_rate: f64,
    /// Records left after curation (dedup, decontamination): `synth.jsonl`.
    pub kept: usize,
    /// Records curation dropped, by stage and reason.
    pub curation_drops: BTreeMap<String, usize>,
    pub mutants: usize,
    pub mutants_killed: usize,
    /// Killed over all mutants of the kept records.
    pub mutant_kill_rate: Option<f64>,
    /// The mean of the per-record kill rates.
    pub mean_record_kill_rate: Option<f64>,
    /// Kept records (after curation) by how they were obtained (`first_try`,
    /// `after_repairs`, `chosen_among`).
    pub obtained: BTreeMap<String, usize>,
    /// Kept records whose tests pass the trivial program (they cannot fail).
    pub tests_cannot_fail: usize,
    /// Kept records chosen among several answers whose tests no other answer's solution passes.
    pub tests_suspect: usize,
    /// Mutants and killed mutants of the kept records by operator, with the kill rate.
    pub kill_rate_by_operator: BTreeMap<String, OperatorScore>,
    /// Wall seconds of this invocation's seeds, and records (that passed their tests) per hour.
    pub seconds_now: f64,
    pub records_per_hour_now: Option<f64>,
}

/// Mutants of one operator and how many the tests killed.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct OperatorScore {
    pub mutants: usize,
    pub killed: usize,
    pub kill_rate: Option<f64>,
}

/// The fields of the config that must match on resume.
fn config_value(params: &SynthParams) -> Value {
    let mut value = json!({
        "version": 1,
        "corpus": params.corpus.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
        "seed": params.seed,
        "style": params.style,
        "default_licence": params.default_licence,
        "decoding": format!("{:?}", params.gen_params.decoding),
        "max_new_tokens": params.gen_params.max_new_tokens,
        "max_mutants": params.max_mutants,
        "model": params.model,
    });
    // Added later: present only when set, so runs made before them still resume.
    if params.samples > 1 {
        value["samples"] = json!(params.samples);
        // Runs made before the first answer was greedy drew every answer by sampling.
        if greedy_first(params) {
            value["first_answer"] = json!("greedy");
        }
    }
    if params.repair_rounds > 0 {
        value["repair_rounds"] = json!(params.repair_rounds);
    }
    if params.shape != TaskShape::Function {
        value["shape"] = json!(params.shape);
    }
    value
}

fn io_err(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Whether several sampled answers start with the greedy one. As `rerank` does, so a seed whose
/// greedy answer passes its tests is never lost to sampling: on the 0.5B model four answers all
/// drawn at temperature 0.8 kept 2 of 16 seeds where greedy alone kept 5 (docs/RESULTS.md).
fn greedy_first(params: &SynthParams) -> bool {
    params.samples > 1 && matches!(params.gen_params.decoding, Decoding::Sample(_))
}

/// One greedy answer, then `n - 1` sampled ones, as one generation.
fn generate_greedy_first(
    generator: &mut dyn Generator,
    request: &GenRequest,
    observer: &mut dyn Observer,
) -> std::result::Result<Generation, crucible_infer::Error> {
    let mut greedy = request.clone();
    greedy.params.decoding = Decoding::Greedy;
    greedy.params.n = 1;
    let mut generation = generator.generate(&greedy, observer)?;
    let mut sampled = request.clone();
    sampled.params.n = request.params.n - 1;
    let rest = generator.generate(&sampled, observer)?;
    generation.completions.extend(rest.completions);
    generation.prompt_ms += rest.prompt_ms;
    generation.decode_ms += rest.decode_ms;
    Ok(generation)
}

/// Open (or create) the run directory; a directory holding another configuration is an
/// error that names the difference.
fn open_run(params: &SynthParams) -> Result<()> {
    std::fs::create_dir_all(&params.out).map_err(|e| io_err(&params.out, e))?;
    let path = params.out.join("config.json");
    let want = config_value(params);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let have: Value = serde_json::from_str(&text).map_err(|e| Error::MalformedFile {
                path: path.clone(),
                message: e.to_string(),
            })?;
            if have != want {
                // Keys of both sides: a setting added later is absent when it has its
                // default, so a difference can be a key only one side has.
                let keys: std::collections::BTreeSet<&String> = [&want, &have]
                    .into_iter()
                    .filter_map(Value::as_object)
                    .flat_map(|o| o.keys())
                    .collect();
                let differs: Vec<String> = keys
                    .into_iter()
                    .filter(|k| want.get(k.as_str()) != have.get(k.as_str()))
                    .map(|k| {
                        let side = |v: &Value| v.get(k.as_str()).cloned().unwrap_or(Value::Null);
                        format!("{k}: {} now, {} before", side(&want), side(&have))
                    })
                    .collect();
                return Err(Error::Setting {
                    name: "--out",
                    problem: format!(
                        "`{}` holds a synth run with other settings ({}); use another --out or the same settings",
                        params.out.display(),
                        differs.join("; ")
                    ),
                });
            }
            Ok(())
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(write_atomic(
            &path,
            &serde_json::to_string_pretty(&want).expect("json"),
        )?),
        Err(err) => Err(io_err(&path, err)),
    }
}

/// Seeds for evol: the records of earlier synth runs, drawn in an order set by the seed.
fn evol_seeds(params: &SynthParams) -> Result<Vec<(Seed, String, String)>> {
    let mut records: Vec<SynthRecord> = Vec::new();
    for path in &params.corpus {
        let (mut recs, _) = read_records::<SynthRecord>(path)?;
        records.append(&mut recs);
    }
    if records.is_empty() {
        return Err(Error::Setting {
            name: "--style evol",
            problem: "the corpus holds no synth records; give the synth.jsonl of an earlier `crucible data synth` run".into(),
        });
    }
    let n = records.len();
    Ok((0..params.count)
        .map(|index| {
            let pick = crucible_data::synth::draw_index(params.seed, index, n);
            let r = &records[pick];
            let seed = Seed {
                index,
                snippet: r.problem.clone(),
                provenance: Provenance {
                    doc_id: r.id.clone(),
                    ..r.provenance.clone()
                },
            };
            (seed, r.problem.clone(), r.solution.clone())
        })
        .collect())
}

/// The task-file line (as JSON) and the [`Task`] for a parsed answer.
fn task_of(id: &str, parsed: &SynthTask) -> (Value, Task) {
    let line = json!({
        "id": id,
        "language": "python",
        "prompt": parsed.prompt,
        "entry_point": parsed.entry_point,
        "tests": parsed.tests,
    });
    let task = Task {
        id: id.to_owned(),
        language: Language::Python,
        kind: TaskKind::Function {
            prompt: parsed.prompt.clone(),
            entry_point: parsed.entry_point.clone(),
        },
        visible: TestSuite::Code {
            code: parsed.tests.clone(),
        },
    };
    (line, task)
}

/// A parsed answer of either shape, as a task.
#[derive(Debug, Clone)]
struct Parsed {
    problem: String,
    solution: String,
    /// The tests as text: assert lines, or the examples rendered as `Input:`/`Output:` blocks.
    tests: String,
    /// The task-file line (as JSON).
    line: Value,
    task: Task,
}

/// Parse `answer` as the run's shape asks.
fn parse_for(
    shape: TaskShape,
    id: &str,
    answer: &str,
) -> std::result::Result<Parsed, ParseRejection> {
    match shape {
        TaskShape::Function => {
            let parsed: SynthTask = parse_answer(answer)?;
            let (line, task) = task_of(id, &parsed);
            Ok(Parsed {
                problem: parsed.problem,
                solution: parsed.solution,
                tests: parsed.tests,
                line,
                task,
            })
        }
        TaskShape::Program => {
            let parsed = parse_program_answer(answer)?;
            let examples: Vec<Value> = parsed
                .examples
                .iter()
                .map(|(input, output)| json!({"input": input, "output": output}))
                .collect();
            let line = json!({
                "id": id,
                "language": "python",
                "description": parsed.problem,
                "examples": examples,
            });
            let tests = parsed
                .examples
                .iter()
                .map(|(i, o)| format!("Input:\n{i}Output:\n{o}"))
                .collect::<Vec<_>>()
                .join("\n");
            let task = Task {
                id: id.to_owned(),
                language: Language::Python,
                kind: TaskKind::Program {
                    description: parsed.problem.clone(),
                },
                visible: TestSuite::Io {
                    cases: parsed
                        .examples
                        .into_iter()
                        .map(|(input, output)| IoCase { input, output })
                        .collect(),
                    compare: Compare::Whitespace,
                },
            };
            Ok(Parsed {
                problem: parsed.problem,
                solution: parsed.solution,
                tests,
                line,
                task,
            })
        }
    }
}

/// Run `code` for `task` against the task's tests in the sandbox (a run the judge could not
/// make, tried twice, is a `judge_error` report; a broken setup is an error).
pub fn run_tests(
    executor: &Executor,
    task: &Task,
    code: &str,
    limits: Limits,
) -> Result<crucible_exec::ExecReport> {
    let program = StandardAssembly.program(task, code, &task.visible);
    let request = ExecRequest {
        language: task.language,
        source: program.source,
        tests: program.tests,
        entry_point: program.entry_point,
        limits,
        options: LangOptions::default(),
        fail_fast: false,
        stdin: None,
        // The tests are the model's.
        trusted_tests: false,
    };
    // A run the judge could not make is a `judge_error` report (after one more try), which
    // rejects the answer; it does not stop the run.
    Ok(crucible_eval::judge::run_with_retry(
        executor, &request, &task.id,
    )?)
}

/// One parsed answer of a seed and its run on its own tests.
struct Candidate {
    /// Its place among the answers.
    answer: usize,
    parsed: Parsed,
    report: crucible_exec::ExecReport,
}

/// A seed's parsed answers, cross-checked.
struct Candidates {
    list: Vec<Candidate>,
    parsed: usize,
    /// Parsed answers whose solution passes its own tests.
    passing: usize,
    /// Per candidate: the parsed answers' solutions that pass its tests.
    agreeing: Vec<usize>,
    /// Per candidate: its solution's dual execution agreement score on all the answers' tests
    /// (the strategy library's, as reranking computes it).
    scores: Vec<(usize, usize)>,
    /// Per candidate: whether its solution passes its own tests.
    own_pass: Vec<bool>,
}

/// Parse every answer and run each solution on its own tests; with several parsed answers,
/// also every solution on every other answer's tests. `Err` (inner) when no answer parsed: the
/// first answer's rejection.
fn judge_answers(
    executor: &Executor,
    params: &SynthParams,
    id: &str,
    answers: &[String],
) -> Result<std::result::Result<Candidates, ParseRejection>> {
    let mut list = Vec::new();
    let mut first_rejection = None;
    for (answer, text) in answers.iter().enumerate() {
        match parse_for(params.shape, id, text) {
            Ok(parsed) => {
                let report = run_tests(executor, &parsed.task, &parsed.solution, params.limits)?;
                list.push(Candidate {
                    answer,
                    parsed,
                    report,
                });
            }
            Err(reason) => {
                first_rejection.get_or_insert(reason);
            }
        }
    }
    if list.is_empty() {
        return Ok(Err(
            first_rejection.unwrap_or(ParseRejection::MissingCodeBlocks)
        ));
    }
    let n = list.len();
    // pass[i][j]: solution j passes the tests of answer i.
    let mut pass = vec![vec![false; n]; n];
    let mut behaviours: Vec<Option<Vec<String>>> = vec![Some(Vec::new()); n];
    for i in 0..n {
        for j in 0..n {
            let status = if i == j || list[i].parsed.solution == list[j].parsed.solution {
                list[i].report.status
            } else {
                run_tests(
                    executor,
                    &list[i].parsed.task,
                    &list[j].parsed.solution,
                    params.limits,
                )?
                .status
            };
            pass[i][j] = status == Status::Passed;
            if let Some(b) = behaviours[j].as_mut() {
                b.push(if pass[i][j] {
                    "ok".to_owned()
                } else {
                    status.name().to_owned()
                });
            }
        }
    }
    let own_pass: Vec<bool> = (0..n).map(|i| pass[i][i]).collect();
    Ok(Ok(Candidates {
        parsed: n,
        passing: own_pass.iter().filter(|&&p| p).count(),
        agreeing: pass
            .iter()
            .map(|row| row.iter().filter(|&&p| p).count())
            .collect(),
        scores: agreement_scores(&behaviours),
        own_pass,
        list,
    }))
}

/// The candidate to keep: among those whose solution passes its own tests, the one whose tests
/// the most solutions pass, then the best agreement score, then the earliest; when none passes,
/// the best agreement score (the one a repair starts from).
fn choose(c: &Candidates) -> usize {
    (0..c.list.len())
        .max_by_key(|&i| {
            (
                c.own_pass[i],
                if c.own_pass[i] { c.agreeing[i] } else { 0 },
                c.scores[i],
                std::cmp::Reverse(i),
            )
        })
        .unwrap_or(0)
}

/// Repair `given` on the task's own tests with the strategy library's repair loop.
fn repair(
    generator: &mut dyn Generator,
    executor: &Executor,
    observer: &mut dyn Observer,
    params: &SynthParams,
    task: &Task,
    given: Given,
) -> Result<crucible_strategy::Outcome> {
    let mut strategy = Strategy::preset("repair", params.seed)?;
    strategy.params.rounds = params.repair_rounds;
    strategy.params.max_new_tokens = params.gen_params.max_new_tokens;
    strategy.params.limits = params.limits;
    strategy.params.jobs = 1;
    let rounds = u32::try_from(params.repair_rounds).unwrap_or(u32::MAX);
    let budget = Budget {
        model_calls: rounds,
        tokens: u64::from(rounds) * params.gen_params.max_new_tokens.max(1) as u64,
        executions: rounds.saturating_add(2),
        wall_time: std::time::Duration::from_secs(3600),
    };
    let mut quiet = Quiet(observer);
    let tools = Tools {
        generator,
        executor,
        assembly: &StandardAssembly,
        progress: &mut quiet,
    };
    Ok(repair_given(&strategy, tools, task, &budget, given)?)
}

fn score_mutants(
    executor: &Executor,
    task: &Task,
    solution: &str,
    params: &SynthParams,
) -> Result<MutationScore> {
    let mut score = MutationScore::default();
    for mutant in mutants(solution, params.max_mutants) {
        let report = run_tests(executor, task, &mutant.source, params.limits)?;
        score.mutants += 1;
        if report.status == Status::Passed {
            score.survived.push((mutant.kind, mutant.line));
        } else {
            score.killed += 1;
            score.killed_mutants.push(KilledMutant {
                kind: mutant.kind,
                line: mutant.line,
                status: report.status,
                source: mutant.source,
            });
        }
    }
    score.kill_rate = (score.mutants > 0).then(|| score.killed as f64 / score.mutants as f64);
    Ok(score)
}

/// Run a synth job: every seed not done yet, then curation of the kept records. `on_outcome`
/// sees each seed's outcome; `observer` is polled for cancellation (then the run stops with
/// what it has written kept; a re-run continues).
pub fn run(
    params: &SynthParams,
    generator: &mut dyn Generator,
    executor: &Executor,
    observer: &mut dyn Observer,
    on_outcome: &mut dyn FnMut(&Outcome),
) -> Result<SynthSummary> {
    if params.style == Style::Evol && params.shape == TaskShape::Program {
        return Err(Error::Setting {
            name: "--style evol",
            problem: "evol rewrites function tasks; drop --program, or use --style oss".into(),
        });
    }
    open_run(params)?;
    let records_path = params.out.join("records.jsonl");
    let rejected_path = params.out.join("rejected.jsonl");
    let (kept_before, _) = read_records::<SynthRecord>(&records_path)?;
    let (rejected_before, _) = read_records::<RejectedSample>(&rejected_path)?;
    let done: BTreeSet<usize> = kept_before
        .iter()
        .map(|r| r.seed_index)
        .chain(rejected_before.iter().map(|r| r.seed_index))
        .collect();
    let seeds: Vec<(Seed, Option<(String, String)>)> = match params.style {
        Style::Oss => draw_seeds(
            &params.corpus,
            params.count,
            params.seed,
            &params.default_licence,
        )?
        .into_iter()
        .map(|s| (s, None))
        .collect(),
        Style::Evol => evol_seeds(params)?
            .into_iter()
            .map(|(s, p, sol)| (s, Some((p, sol))))
            .collect(),
    };
    let mut kept_out = Appender::open(&records_path)?;
    let mut rejected_out = Appender::open(&rejected_path)?;
    let started = Instant::now();
    let mut generated_now = 0;
    let mut passed_now = 0;
    for (seed, evol) in &seeds {
        if done.contains(&seed.index) {
            continue;
        }
        if observer.cancelled() {
            kept_out.sync()?;
            rejected_out.sync()?;
            return Err(Error::Infer(crucible_infer::Error::Cancelled));
        }
        let id = format!("synth-{}-{}", params.seed, seed.index);
        let (system, user) = match (evol, params.shape) {
            (Some((problem, solution)), _) => evol_prompt(problem, solution),
            (None, TaskShape::Function) => oss_instruct_prompt(seed),
            (None, TaskShape::Program) => oss_instruct_program_prompt(seed),
        };
        let mut gen_params = params.gen_params.clone();
        gen_params.n = params.samples.max(1);
        gen_params.seed = params.seed.wrapping_add(seed.index as u64);
        let prompt = Prompt::Chat {
            messages: vec![Message::system(system), Message::user(user)],
            prefill: String::new(),
        };
        let request = GenRequest {
            prompt: prompt.clone(),
            params: gen_params,
        };
        let t0 = Instant::now();
        let generated = if greedy_first(params) {
            generate_greedy_first(generator, &request, observer)
        } else {
            generator.generate(&request, observer)
        };
        let gen_ms = t0.elapsed().as_millis() as u64;
        let reject = |rejection, answer: String, parsed: Option<(&Value, &str)>, repairs_tried| {
            RejectedSample {
                id: id.clone(),
                seed_index: seed.index,
                style: params.style,
                rejection,
                answer,
                task: parsed.map(|p| p.0.clone()),
                solution: parsed.map(|p| p.1.to_owned()),
                provenance: seed.provenance.clone(),
                model: params.model.clone(),
                gen_ms,
                repairs_tried,
            }
        };
        let (answers, tokens): (Vec<String>, usize) = match generated {
            Ok(generation) => (
                generation
                    .completions
                    .iter()
                    .map(|c| c.text.clone())
                    .collect(),
                generation.generated_tokens(),
            ),
            Err(crucible_infer::Error::Cancelled) => {
                kept_out.sync()?;
                rejected_out.sync()?;
                return Err(Error::Infer(crucible_infer::Error::Cancelled));
            }
            Err(err @ crucible_infer::Error::PromptTooLong { .. }) => {
                let sample = reject(
                    Rejection::Generation {
                        message: err.to_string(),
                    },
                    String::new(),
                    None,
                    0,
                );
                rejected_out.append(&sample)?;
                generated_now += 1;
                on_outcome(&Outcome::Rejected(Box::new(sample)));
                continue;
            }
            Err(err) => return Err(err.into()),
        };
        generated_now += 1;
        let t1 = Instant::now();
        let candidates = match judge_answers(executor, params, &id, &answers)? {
            Ok(candidates) => candidates,
            Err(reason) => {
                let answer = answers.into_iter().next().unwrap_or_default();
                let sample = reject(Rejection::Parse { reason }, answer, None, 0);
                rejected_out.append(&sample)?;
                on_outcome(&Outcome::Rejected(Box::new(sample)));
                continue;
            }
        };
        let pick = choose(&candidates);
        let chosen = &candidates.list[pick];
        let mut solution = chosen.parsed.solution.clone();
        let mut report = chosen.report.clone();
        let mut repairs = 0;
        let mut repair_trace = None;
        if report.status != Status::Passed && params.repair_rounds > 0 {
            let given = Given {
                prompt: prompt.clone(),
                text: answers[chosen.answer].clone(),
                code: solution.clone(),
                tokens: tokens / answers.len().max(1),
                seconds: gen_ms as f64 / 1000.0,
            };
            let outcome = match repair(
                generator,
                executor,
                observer,
                params,
                &chosen.parsed.task,
                given,
            ) {
                Ok(outcome) => Some(outcome),
                Err(err) if err.is_cancelled() => {
                    kept_out.sync()?;
                    rejected_out.sync()?;
                    return Err(err);
                }
                // A failure report too long for the model's context ends the repair, not the run.
                Err(Error::Strategy(crucible_strategy::Error::Infer(
                    crucible_infer::Error::PromptTooLong { .. },
                ))) => None,
                Err(err) => return Err(err),
            };
            if let Some(outcome) = outcome
                && let Some(code) = outcome.code.clone()
            {
                repairs = outcome
                    .trace
                    .attempts
                    .iter()
                    .filter(|a| a.stage == crucible_strategy::Stage::Repair)
                    .count();
                if outcome.verdict.is_some_and(|v| v.status.is_pass()) && code != solution {
                    // The chosen repair, confirmed by the same run as every record.
                    report = run_tests(executor, &chosen.parsed.task, &code, params.limits)?;
                    solution = code;
                    repairs = outcome.chosen.map_or(repairs, |(attempt, _)| attempt - 1);
                }
                repair_trace = Some(outcome.trace);
            }
        }
        if report.status != Status::Passed {
            let sample = reject(
                Rejection::Tests {
                    status: report.status,
                    feedback: Some(report.render_feedback(2000)),
                },
                answers[chosen.answer].clone(),
                Some((&chosen.parsed.line, &solution)),
                repairs,
            );
            rejected_out.append(&sample)?;
            on_outcome(&Outcome::Rejected(Box::new(sample)));
            continue;
        }
        let agreeing = if solution == chosen.parsed.solution {
            candidates.agreeing[pick]
        } else {
            // The repaired solution replaces the chosen one among those that pass the tests.
            candidates.agreeing[pick] + 1
        };
        let how = if repairs > 0 {
            "after_repairs"
        } else if candidates.parsed > 1 {
            "chosen_among"
        } else {
            "first_try"
        };
        let obtained = Obtained {
            how: how.to_owned(),
            samples: answers.len(),
            parsed: candidates.parsed,
            passing: candidates.passing,
            agreeing,
            repairs,
        };
        let trivial_program = match params.shape {
            TaskShape::Function => trivial(&solution),
            // A program that prints nothing.
            TaskShape::Program => Some(trivial(&solution).unwrap_or_else(|| "pass\n".to_owned())),
        };
        let tests_cannot_fail = match trivial_program {
            Some(program) => {
                run_tests(executor, &chosen.parsed.task, &program, params.limits)?.status
                    == Status::Passed
            }
            None => false,
        };
        let mutation = score_mutants(executor, &chosen.parsed.task, &solution, params)?;
        let chosen_parsed = chosen.parsed.clone();
        let record = SynthRecord {
            id: id.clone(),
            seed_index: seed.index,
            style: params.style,
            task: chosen.parsed.line.clone(),
            problem: chosen_parsed.problem,
            solution,
            tests: chosen_parsed.tests,
            mutation,
            provenance: seed.provenance.clone(),
            seed_snippet: seed.snippet.clone(),
            model: params.model.clone(),
            gen_ms,
            exec_ms: t1.elapsed().as_millis() as u64,
            obtained: Some(obtained),
            tests_cannot_fail,
            repair_trace: repair_trace.filter(|_| repairs > 0),
        };
        kept_out.append(&record)?;
        passed_now += 1;
        on_outcome(&Outcome::Kept(Box::new(record)));
    }
    kept_out.sync()?;
    rejected_out.sync()?;
    let seconds_now = started.elapsed().as_secs_f64();
    finish(params, generated_now, passed_now, seconds_now)
}

/// Curate the kept records (dedup, decontamination: the `crucible data curate` pipeline) into
/// `synth.jsonl`, and write `summary.json`.
fn finish(
    params: &SynthParams,
    generated_now: usize,
    passed_now: usize,
    seconds_now: f64,
) -> Result<SynthSummary> {
    let records_path = params.out.join("records.jsonl");
    let (records, _) = read_records::<SynthRecord>(&records_path)?;
    let (rejected, _) = read_records::<RejectedSample>(&params.out.join("rejected.jsonl"))?;
    // Only the seeds of this count: a run resumed with a smaller --count keeps its extra
    // records on disk but reports the ones asked for.
    let records: Vec<SynthRecord> = records
        .into_iter()
        .filter(|r| r.seed_index < params.count)
        .collect();
    let rejected: Vec<RejectedSample> = rejected
        .into_iter()
        .filter(|r| r.seed_index < params.count)
        .collect();
    let (kept, curation_drops) = curate_records(params, &records)?;
    let mut synth_text = String::new();
    for record in &kept {
        synth_text.push_str(&serde_json::to_string(record).expect("json"));
        synth_text.push('\n');
    }
    write_atomic(&params.out.join("synth.jsonl"), &synth_text)?;
    let mut rejections = BTreeMap::new();
    for r in &rejected {
        *rejections.entry(r.rejection.name()).or_insert(0) += 1;
    }
    let mutants: usize = kept.iter().map(|r| r.mutation.mutants).sum();
    let killed: usize = kept.iter().map(|r| r.mutation.killed).sum();
    let rates: Vec<f64> = kept.iter().filter_map(|r| r.mutation.kill_rate).collect();
    let seeds = records.len() + rejected.len();
    let mut obtained = BTreeMap::new();
    let mut by_operator: BTreeMap<String, OperatorScore> = BTreeMap::new();
    for r in &kept {
        let how = r.obtained.as_ref().map_or("first_try", |o| o.how.as_str());
        *obtained.entry(how.to_owned()).or_insert(0) += 1;
        for m in &r.mutation.killed_mutants {
            let e = by_operator.entry(m.kind.name().to_owned()).or_default();
            e.mutants += 1;
            e.killed += 1;
        }
        for (kind, _) in &r.mutation.survived {
            by_operator
                .entry(kind.name().to_owned())
                .or_default()
                .mutants += 1;
        }
    }
    for score in by_operator.values_mut() {
        score.kill_rate = (score.mutants > 0).then(|| score.killed as f64 / score.mutants as f64);
    }
    let summary = SynthSummary {
        seeds,
        generated_now,
        done_before: seeds.saturating_sub(generated_now),
        passed_tests: records.len(),
        rejected: rejected.len(),
        rejections,
        filter_pass_rate: if seeds == 0 {
            0.0
        } else {
            records.len() as f64 / seeds as f64
        },
        kept: kept.len(),
        curation_drops,
        mutants,
        mutants_killed: killed,
        mutant_kill_rate: (mutants > 0).then(|| killed as f64 / mutants as f64),
        mean_record_kill_rate: (!rates.is_empty())
            .then(|| rates.iter().sum::<f64>() / rates.len() as f64),
        obtained,
        tests_cannot_fail: kept.iter().filter(|r| r.tests_cannot_fail).count(),
        tests_suspect: kept
            .iter()
            .filter(|r| r.obtained.as_ref().is_some_and(Obtained::tests_suspect))
            .count(),
        kill_rate_by_operator: by_operator,
        seconds_now,
        records_per_hour_now: (generated_now > 0 && seconds_now > 0.0)
            .then(|| passed_now as f64 * 3600.0 / seconds_now),
    };
    write_atomic(
        &params.out.join("summary.json"),
        &serde_json::to_string_pretty(&summary).expect("json"),
    )?;
    Ok(summary)
}

/// The records the curation pipeline keeps (exact and near dedup, decontamination; the same
/// code path as `crucible data curate`), and its drops by `stage:reason`.
fn curate_records(
    params: &SynthParams,
    records: &[SynthRecord],
) -> Result<(Vec<SynthRecord>, BTreeMap<String, usize>)> {
    use crucible_data::pipeline::{self, Job, RunParams, Shard};
    let dir = params.out.join("curate");
    // The kept records change between invocations; the pipeline's run is rebuilt each time.
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| io_err(&dir, e))?;
    }
    std::fs::create_dir_all(&dir).map_err(|e| io_err(&dir, e))?;
    let input = dir.join("input.jsonl");
    let mut text = String::new();
    for r in records {
        // The text the checks see: everything a trainer would: problem, solution and tests.
        let doc = json!({
            "id": r.id,
            "language": "python",
            "text": format!("{}\n\n{}\n\n{}\n", r.problem, r.solution, r.tests),
        });
        text.push_str(&doc.to_string());
        text.push('\n');
    }
    write_atomic(&input, &text)?;
    let mut config = crucible_data::CurateConfig::default();
    config.language.enabled = false;
    config.quality.enabled = false;
    config.pii.enabled = false;
    config.decontam.enabled = !params.references.is_empty();
    let job = Job {
        config,
        inputs: vec![input],
        output: dir.join("out"),
        references: params.references.clone(),
    };
    let run_params = RunParams {
        shard: Shard::ALL,
        stage: None,
        threads: 1,
        reshard: false,
        should_stop: &|| false,
        poll: std::time::Duration::from_millis(50),
        limits: pipeline::Limits::default(),
    };
    pipeline::run(job, &run_params)?;
    let mut keep_ids = BTreeSet::new();
    let mut drops = BTreeMap::new();
    for (sub, kept) in [("data", true), ("rejects", false)] {
        let sub_dir = dir.join("out").join(sub);
        let Ok(entries) = std::fs::read_dir(&sub_dir) else {
            continue;
        };
        let mut files: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        files.sort();
        for file in files {
            let body = std::fs::read_to_string(&file).map_err(|e| io_err(&file, e))?;
            for line in body.lines().filter(|l| !l.trim().is_empty()) {
                let v: Value = serde_json::from_str(line).map_err(|e| Error::MalformedFile {
                    path: file.clone(),
                    message: e.to_string(),
                })?;
                if kept {
                    if let Some(id) = v["id"].as_str() {
                        keep_ids.insert(id.to_owned());
                    }
                } else {
                    let key = format!(
                        "{}:{}",
                        v["stage"].as_str().unwrap_or("?"),
                        v["reason"].as_str().unwrap_or("?")
                    );
                    *drops.entry(key).or_insert(0) += 1;
                }
            }
        }
    }
    let kept = records
        .iter()
        .filter(|r| keep_ids.contains(&r.id))
        .cloned()
        .collect();
    Ok((kept, drops))
}
