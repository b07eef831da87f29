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
use crucible_data::mutate::{MutantKind, mutants};
use crucible_data::synth::{
    ParseRejection, Provenance, Seed, SynthTask, draw_seeds, evol_prompt, oss_instruct_prompt,
    parse_answer,
};
use crucible_eval::run::{Appender, read_records, write_atomic};
use crucible_exec::{ExecRequest, Executor, LangOptions, Limits};
use crucible_infer::{GenRequest, Generator, Message, Observer, Prompt};
use crucible_strategy::{Assembly, StandardAssembly};
use crucible_types::{GenParams, Language, Status, Task, TaskKind, TestSuite};

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
    /// Wall seconds of this invocation's seeds, and records (that passed their tests) per hour.
    pub seconds_now: f64,
    pub records_per_hour_now: Option<f64>,
}

/// The fields of the config that must match on resume.
fn config_value(params: &SynthParams) -> Value {
    json!({
        "version": 1,
        "corpus": params.corpus.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
        "seed": params.seed,
        "style": params.style,
        "default_licence": params.default_licence,
        "decoding": format!("{:?}", params.gen_params.decoding),
        "max_new_tokens": params.gen_params.max_new_tokens,
        "max_mutants": params.max_mutants,
        "model": params.model,
    })
}

fn io_err(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source,
    }
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
                let differs: Vec<String> = want
                    .as_object()
                    .into_iter()
                    .flatten()
                    .filter(|(k, v)| have.get(k.as_str()) != Some(v))
                    .map(|(k, v)| {
                        format!(
                            "{k}: {} now, {} before",
                            v,
                            have.get(k.as_str()).unwrap_or(&Value::Null)
                        )
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

/// Run `code` for `task` against the task's tests in the sandbox.
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
    };
    executor.run(&request).map_err(|source| {
        Error::Eval(crucible_eval::Error::Exec {
            task_id: task.id.clone(),
            source: Box::new(source),
        })
    })
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
        let (system, user) = match evol {
            Some((problem, solution)) => evol_prompt(problem, solution),
            None => oss_instruct_prompt(seed),
        };
        let mut gen_params = params.gen_params.clone();
        gen_params.n = 1;
        gen_params.seed = params.seed.wrapping_add(seed.index as u64);
        let request = GenRequest {
            prompt: Prompt::Chat {
                messages: vec![Message::system(system), Message::user(user)],
                prefill: String::new(),
            },
            params: gen_params,
        };
        let t0 = Instant::now();
        let generated = generator.generate(&request, observer);
        let gen_ms = t0.elapsed().as_millis() as u64;
        let reject = |rejection, answer: String, parsed: Option<(&Value, &str)>| RejectedSample {
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
        };
        let answer = match generated {
            Ok(generation) => generation
                .completions
                .into_iter()
                .next()
                .map(|c| c.text)
                .unwrap_or_default(),
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
                );
                rejected_out.append(&sample)?;
                generated_now += 1;
                on_outcome(&Outcome::Rejected(Box::new(sample)));
                continue;
            }
            Err(err) => return Err(err.into()),
        };
        generated_now += 1;
        let parsed = match parse_answer(&answer) {
            Ok(parsed) => parsed,
            Err(reason) => {
                let sample = reject(Rejection::Parse { reason }, answer, None);
                rejected_out.append(&sample)?;
                on_outcome(&Outcome::Rejected(Box::new(sample)));
                continue;
            }
        };
        let (line, task) = task_of(&id, &parsed);
        let t1 = Instant::now();
        let report = run_tests(executor, &task, &parsed.solution, params.limits)?;
        if report.status != Status::Passed {
            let sample = reject(
                Rejection::Tests {
                    status: report.status,
                    feedback: Some(report.render_feedback(2000)),
                },
                answer,
                Some((&line, &parsed.solution)),
            );
            rejected_out.append(&sample)?;
            on_outcome(&Outcome::Rejected(Box::new(sample)));
            continue;
        }
        let mutation = score_mutants(executor, &task, &parsed.solution, params)?;
        let record = SynthRecord {
            id: id.clone(),
            seed_index: seed.index,
            style: params.style,
            task: line,
            problem: parsed.problem,
            solution: parsed.solution,
            tests: parsed.tests,
            mutation,
            provenance: seed.provenance.clone(),
            seed_snippet: seed.snippet.clone(),
            model: params.model.clone(),
            gen_ms,
            exec_ms: t1.elapsed().as_millis() as u64,
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
