//! `crucible data export`: training files from verified programs. SFT examples and
//! execution-verified preference pairs are mined from synth runs (`synth.jsonl`: kept records,
//! their killed mutants as rejected programs) and eval run directories (passing and failing
//! samples of the same task, and with a strategy the programs its runs tried and dropped after
//! they failed the task's own tests), written in the layouts of `crucible_data::export`, with a
//! dataset card. Benchmark tasks stay out unless asked for; MultiPL-E-derived data never goes
//! out (its licence forbids training).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use crucible_data::export::{
    AXOLOTL_SNIPPET, Conversation, ConversationFormat, PrefFormat, PrefPair, SftExample, SftFormat,
    llamafactory_dataset_info,
};
use crucible_eval::run::{ResultRecord, SampleRecord, read_records, write_atomic};
use crucible_eval::{BenchmarkName, Solution};
use crucible_infer::{Prompt, Role};
use crucible_strategy::{Outcome, Stage, TestSource, Trace};
use crucible_types::{Status, TaskKind};

use crate::synth::SynthRecord;
use crate::{Error, Result, Settings};

/// Preference pairs taken per task (eval runs) or per record (synth mutants) at most.
const PAIRS_PER_TASK: usize = 4;

/// What to export.
#[derive(Debug, Clone)]
pub struct ExportParams {
    /// Synth run directories (`crucible data synth --out`).
    pub synth: Vec<PathBuf>,
    /// Eval run directories (`crucible eval --out`).
    pub evals: Vec<PathBuf>,
    pub out: PathBuf,
    /// Export benchmark tasks too (never for training: they would leak into it).
    pub include_benchmarks: bool,
}

/// One input and what it gave.
#[derive(Debug, Clone, Serialize)]
pub struct SourceReport {
    pub path: String,
    pub kind: &'static str,
    /// The benchmark or task file an eval run was made on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub benchmark: Option<String>,
    pub sft_examples: usize,
    pub pairs: usize,
    /// Multi-turn repair conversations (a failing program, its failure report, the fix).
    pub repair_conversations: usize,
    /// Of `pairs`, those whose rejected program is one a strategy run tried and dropped
    /// (eval runs with a strategy: `traces.jsonl`).
    pub trace_pairs: usize,
    /// Why nothing was taken, when nothing was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub excluded: Option<String>,
    pub licences: BTreeMap<String, usize>,
    /// For synth runs: the run's summary (filter pass rate, curation drops, kill rates).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<Value>,
}

/// What was written.
#[derive(Debug, Clone, Serialize)]
pub struct ExportReport {
    pub out: PathBuf,
    pub sft_examples: usize,
    pub pairs: usize,
    pub repair_conversations: usize,
    pub files: Vec<String>,
    pub sources: Vec<SourceReport>,
    /// Things a person should know (benchmarks included on request).
    pub warnings: Vec<String>,
}

fn is_multipl_e(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    lower.contains("multipl-e") || lower.contains("multiple-e") || lower.contains("multipl_e")
}

fn forbidden(source: &Path, what: String) -> Error {
    Error::Setting {
        name: "export source",
        problem: format!(
            "`{}` holds MultiPL-E-derived data ({what}); MultiPL-E's licence (BSD-3 with a no-ML-training clause) forbids training on it, so it can never be exported: drop this source",
            source.display()
        ),
    }
}

fn fenced(language: &str, code: &str) -> String {
    format!("```{language}\n{}\n```", code.trim_end())
}

fn read_json(path: &Path) -> Result<Option<Value>> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| Error::MalformedFile {
                path: path.to_path_buf(),
                message: e.to_string(),
            }),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// The repair conversation of a strategy trace that ended in `final_code`: the repair call
/// that wrote it, its prompt's turns (the task, the failing program, the failure report the
/// strategy showed, which comes from the task's visible tests only), then the fixed program.
/// `None` unless `final_code` came from a repair and passed the visible tests.
fn repair_conversation(
    id: String,
    trace: &Trace,
    final_code: &str,
    language: &str,
) -> Option<Conversation> {
    let (attempt, _) = trace.attempts.iter().find_map(|attempt| {
        (attempt.stage == Stage::Repair)
            .then(|| {
                attempt.outputs.iter().find(|o| {
                    o.code.as_deref() == Some(final_code)
                        && o.verdicts
                            .iter()
                            .any(|v| v.tests == TestSource::Visible && v.status.is_pass())
                })
            })
            .flatten()
            .map(|o| (attempt, o))
    })?;
    let Prompt::Chat { messages, .. } = &attempt.prompt else {
        return None;
    };
    let mut system = None;
    let mut turns = Vec::new();
    for m in messages {
        match m.role {
            Role::System if turns.is_empty() => system = Some(m.content.clone()),
            Role::System => return None,
            Role::User => turns.push((true, m.content.clone())),
            Role::Assistant => turns.push((false, m.content.clone())),
        }
    }
    turns.push((false, fenced(language, final_code)));
    let alternates = turns
        .iter()
        .enumerate()
        .all(|(i, (user, _))| *user == (i % 2 == 0));
    // At least the task, a failing program, its report and the fix.
    (alternates && turns.len() >= 4).then_some(Conversation { id, system, turns })
}

fn from_synth(
    dir: &Path,
    sft: &mut Vec<SftExample>,
    pairs: &mut Vec<PrefPair>,
    conversations: &mut Vec<Conversation>,
) -> Result<SourceReport> {
    let path = dir.join("synth.jsonl");
    if !path.is_file() {
        return Err(Error::Setting {
            name: "--synth",
            problem: format!(
                "`{}` has no synth.jsonl; give the --out directory of a finished `crucible data synth` run",
                dir.display()
            ),
        });
    }
    let (records, _) = read_records::<SynthRecord>(&path)?;
    let mut report = SourceReport {
        path: dir.display().to_string(),
        kind: "synth",
        benchmark: None,
        sft_examples: 0,
        pairs: 0,
        repair_conversations: 0,
        trace_pairs: 0,
        excluded: None,
        licences: BTreeMap::new(),
        summary: read_json(&dir.join("summary.json"))?,
    };
    for r in &records {
        let p = &r.provenance;
        for text in [&p.licence, &p.source, &p.corpus_file, &p.doc_id] {
            if is_multipl_e(text) {
                return Err(forbidden(dir, format!("record {} from `{text}`", r.id)));
            }
        }
        *report.licences.entry(p.licence.clone()).or_insert(0) += 1;
        let chosen = fenced("python", &r.solution);
        sft.push(SftExample {
            id: r.id.clone(),
            instruction: r.problem.clone(),
            response: chosen.clone(),
        });
        report.sft_examples += 1;
        if let Some(trace) = &r.repair_trace
            && let Some(c) =
                repair_conversation(format!("{}/repair", r.id), trace, &r.solution, "python")
        {
            conversations.push(c);
            report.repair_conversations += 1;
        }
        for mutant in r.mutation.killed_mutants.iter().take(PAIRS_PER_TASK) {
            pairs.push(PrefPair {
                id: format!("{}/mutant-{}", r.id, mutant.line),
                prompt: r.problem.clone(),
                chosen: chosen.clone(),
                rejected: fenced("python", &mutant.source),
            });
            report.pairs += 1;
        }
    }
    Ok(report)
}

fn from_eval(
    dir: &Path,
    params: &ExportParams,
    settings: &Settings,
    sft: &mut Vec<SftExample>,
    pairs: &mut Vec<PrefPair>,
    conversations: &mut Vec<Conversation>,
    warnings: &mut Vec<String>,
) -> Result<SourceReport> {
    let config_path = dir.join(crucible_eval::run::CONFIG_FILE);
    let Some(stored) = read_json(&config_path)? else {
        return Err(Error::Setting {
            name: "--eval",
            problem: format!(
                "`{}` has no config.json; give the --out directory of a `crucible eval` run",
                dir.display()
            ),
        });
    };
    let config = &stored["config"];
    let benchmark = config["benchmark"].as_str().unwrap_or_default().to_owned();
    let language = config["language"].as_str().map(str::to_owned);
    let mut report = SourceReport {
        path: dir.display().to_string(),
        kind: "eval",
        benchmark: Some(benchmark.clone()),
        sft_examples: 0,
        pairs: 0,
        repair_conversations: 0,
        trace_pairs: 0,
        excluded: None,
        licences: BTreeMap::new(),
        summary: None,
    };
    let name = BenchmarkName::parse(&benchmark)?;
    if matches!(name, BenchmarkName::HumanEvalRs | BenchmarkName::MbppRs)
        || is_multipl_e(&benchmark)
    {
        return Err(forbidden(dir, format!("an eval run on `{benchmark}`")));
    }
    let named = !matches!(name, BenchmarkName::TaskFile(_));
    if named && !params.include_benchmarks {
        report.excluded = Some(format!(
            "benchmark `{benchmark}`: benchmark tasks are left out so they cannot leak into training data (--include-benchmarks for other uses)"
        ));
        return Ok(report);
    }
    if named {
        warnings.push(format!(
            "`{}` is an eval run on the benchmark `{benchmark}`: its tasks are exported because of --include-benchmarks; never train on them",
            dir.display()
        ));
    }
    let bench = crate::data::load(settings, &benchmark, language.as_deref())?;
    let licence = if named {
        format!("benchmark {benchmark} (see its SOURCE.md)")
    } else {
        "the task file's".to_owned()
    };
    let (samples, _) = read_records::<SampleRecord>(&dir.join("samples.jsonl"))?;
    let traces = Traces::read(dir)?;
    let (results, _) = read_records::<ResultRecord>(&dir.join("results.jsonl"))?;
    let mut status: BTreeMap<(String, usize), Status> = BTreeMap::new();
    for r in results {
        status.entry((r.task_id, r.sample_idx)).or_insert(r.status);
    }
    let mut by_task: BTreeMap<&str, (Vec<&SampleRecord>, Vec<&SampleRecord>)> = BTreeMap::new();
    for s in &samples {
        match status.get(&(s.task_id.clone(), s.sample_idx)) {
            Some(Status::Passed) => by_task.entry(&s.task_id).or_default().0.push(s),
            // A judge failure says nothing about the program.
            Some(Status::JudgeError) | None => {}
            Some(_) => by_task.entry(&s.task_id).or_default().1.push(s),
        }
    }
    for (task_id, (passed, failed)) in by_task {
        let Some(task) = bench.task(task_id) else {
            continue;
        };
        let lang = task.task.language.name();
        let (instruction, prefix) = match &task.task.kind {
            TaskKind::Function { prompt, .. } => (
                format!(
                    "Complete the following {lang} function.\n\n{}",
                    fenced(lang, prompt)
                ),
                prompt.as_str(),
            ),
            TaskKind::Program { description } | TaskKind::Freeform { description } => (
                format!(
                    "{description}\n\nWrite a complete {lang} program that reads standard input and writes standard output."
                ),
                "",
            ),
        };
        let program = |solution: &Solution| match solution {
            Solution::Full(code) => fenced(lang, code),
            Solution::Continuation(code) => fenced(lang, &format!("{prefix}{code}")),
        };
        let Some(first) = passed.first() else {
            continue;
        };
        sft.push(SftExample {
            id: format!("{task_id}/{}", first.sample_idx),
            instruction: instruction.clone(),
            response: program(&first.solution),
        });
        report.sft_examples += 1;
        *report.licences.entry(licence.clone()).or_insert(0) += 1;
        // Strategy runs whose returned program (which passed the hidden tests too) was a repair.
        for good in &passed {
            if let Some(c) = traces.repair_conversation(task_id, good.sample_idx, lang) {
                conversations.push(c);
                report.repair_conversations += 1;
                break;
            }
        }
        let mut rejected_seen: BTreeSet<String> = BTreeSet::new();
        for (j, bad) in failed.iter().take(PAIRS_PER_TASK).enumerate() {
            let good = passed[j % passed.len()];
            let rejected = program(&bad.solution);
            rejected_seen.insert(rejected.clone());
            pairs.push(PrefPair {
                id: format!("{task_id}/{}-{}", good.sample_idx, bad.sample_idx),
                prompt: instruction.clone(),
                chosen: program(&good.solution),
                rejected,
            });
            report.pairs += 1;
        }
        // Strategy runs: the programs a run tried and dropped because they failed the task's
        // own tests, against the program it returned, which passed the hidden ones.
        let mut room = PAIRS_PER_TASK.saturating_sub(failed.len());
        for good in &passed {
            for (attempt, seq, code) in traces.failed_attempts(task_id, good.sample_idx) {
                if room == 0 {
                    break;
                }
                let rejected = program(&task.solution_of(code));
                if rejected == program(&good.solution) || !rejected_seen.insert(rejected.clone()) {
                    continue;
                }
                pairs.push(PrefPair {
                    id: format!("{task_id}/{}-attempt{attempt}.{seq}", good.sample_idx),
                    prompt: instruction.clone(),
                    chosen: program(&good.solution),
                    rejected,
                });
                report.pairs += 1;
                report.trace_pairs += 1;
                room -= 1;
            }
        }
    }
    Ok(report)
}

/// The strategy outcomes of an eval run (`traces.jsonl`), by `(task, sample)`.
struct Traces(BTreeMap<(String, usize), Outcome>);

impl Traces {
    /// Read `dir`'s traces; a run without strategy has none. Lines that are not an outcome
    /// (a run that stopped with an error) are skipped: they hold no program.
    fn read(dir: &Path) -> Result<Traces> {
        let path = dir.join(crucible_eval::run::TRACES_FILE);
        if !path.is_file() {
            return Ok(Traces(BTreeMap::new()));
        }
        let (lines, _) = read_records::<Value>(&path)?;
        let mut outcomes = BTreeMap::new();
        for line in lines {
            let Some(sample_idx) = line["sample_idx"].as_u64() else {
                continue;
            };
            let Ok(outcome) = serde_json::from_value::<Outcome>(line["outcome"].clone()) else {
                continue;
            };
            outcomes
                .entry((outcome.task_id.clone(), sample_idx as usize))
                .or_insert(outcome);
        }
        Ok(Traces(outcomes))
    }

    /// The repair conversation of the run that made sample `sample_idx` of `task_id`, when its
    /// returned program came from a repair round and passed the visible tests.
    fn repair_conversation(
        &self,
        task_id: &str,
        sample_idx: usize,
        language: &str,
    ) -> Option<Conversation> {
        let outcome = self.0.get(&(task_id.to_owned(), sample_idx))?;
        let code = outcome.code.as_deref()?;
        repair_conversation(
            format!("{task_id}/{sample_idx}/repair"),
            &outcome.trace,
            code,
            language,
        )
    }

    /// The programs `(attempt, sequence, code)` of the run that made sample `sample_idx` of
    /// `task_id` which failed the task's own tests or crashed when run alone (never a failure
    /// on model-written tests: those tests may be the wrong ones), the returned one excepted.
    fn failed_attempts(
        &self,
        task_id: &str,
        sample_idx: usize,
    ) -> impl Iterator<Item = (usize, usize, &str)> {
        let outcome = self.0.get(&(task_id.to_owned(), sample_idx));
        outcome.into_iter().flat_map(|outcome| {
            outcome
                .trace
                .attempts
                .iter()
                .filter(|attempt| attempt.stage.writes_code())
                .flat_map(move |attempt| {
                    attempt
                        .outputs
                        .iter()
                        .enumerate()
                        .filter_map(move |(seq, output)| {
                            let place = (attempt.index, seq + 1);
                            let failed = output.verdicts.iter().any(|v| {
                                matches!(v.tests, TestSource::Visible | TestSource::CleanRun)
                                    && !v.status.is_pass()
                                    && v.status != Status::JudgeError
                            });
                            let code = output.code.as_deref()?;
                            (failed && outcome.chosen != Some(place))
                                .then_some((place.0, place.1, code))
                        })
                })
        })
    }
}

fn write_jsonl(path: &Path, rows: impl Iterator<Item = Value>) -> Result<()> {
    let mut text = String::new();
    for row in rows {
        text.push_str(&row.to_string());
        text.push('\n');
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|source| Error::Io {
            path: parent.to_path_buf(),
            source,
        })?;
    }
    Ok(write_atomic(path, &text)?)
}

/// Export every source's examples and pairs to `params.out`.
pub fn export(params: &ExportParams, settings: &Settings) -> Result<ExportReport> {
    if params.synth.is_empty() && params.evals.is_empty() {
        return Err(Error::Setting {
            name: "sources",
            problem:
                "nothing to export; give --synth DIR (a synth run) and/or --eval DIR (an eval run)"
                    .into(),
        });
    }
    let mut sft = Vec::new();
    let mut pairs = Vec::new();
    let mut conversations = Vec::new();
    let mut warnings = Vec::new();
    let mut sources = Vec::new();
    for dir in &params.synth {
        sources.push(from_synth(dir, &mut sft, &mut pairs, &mut conversations)?);
    }
    for dir in &params.evals {
        sources.push(from_eval(
            dir,
            params,
            settings,
            &mut sft,
            &mut pairs,
            &mut conversations,
            &mut warnings,
        )?);
    }
    std::fs::create_dir_all(&params.out).map_err(|source| Error::Io {
        path: params.out.clone(),
        source,
    })?;
    let mut files = Vec::new();
    for format in SftFormat::ALL {
        write_jsonl(
            &params.out.join(format.file()),
            sft.iter().map(|e| format.row(e)),
        )?;
        files.push(format.file().to_owned());
    }
    for format in PrefFormat::ALL {
        write_jsonl(
            &params.out.join(format.file()),
            pairs.iter().flat_map(|p| format.rows(p)),
        )?;
        files.push(format.file().to_owned());
    }
    for format in ConversationFormat::ALL {
        write_jsonl(
            &params.out.join(format.file()),
            conversations.iter().map(|c| format.row(c)),
        )?;
        files.push(format.file().to_owned());
    }
    let info = params.out.join("llamafactory/dataset_info.json");
    write_atomic(
        &info,
        &serde_json::to_string_pretty(&llamafactory_dataset_info(true)).expect("json"),
    )?;
    files.push("llamafactory/dataset_info.json".into());
    write_atomic(&params.out.join("axolotl/config.yml"), AXOLOTL_SNIPPET)?;
    files.push("axolotl/config.yml".into());
    let report = ExportReport {
        out: params.out.clone(),
        sft_examples: sft.len(),
        pairs: pairs.len(),
        repair_conversations: conversations.len(),
        files,
        sources,
        warnings,
    };
    write_atomic(&params.out.join("README.md"), &card(&report))?;
    Ok(report)
}

/// The dataset card: counts, sources, licences, filters and the decontamination report.
fn card(report: &ExportReport) -> String {
    let mut out = String::new();
    out.push_str("# Dataset card\n\nExported by `crucible data export`. Every program in it was run in Crucible's sandbox against its task's tests: SFT answers and preference `chosen` programs pass them, `rejected` programs fail them (same prompt).\n\n");
    out.push_str(&format!(
        "## Counts\n\n- SFT examples: {}\n- preference pairs: {} (KTO: {} rows)\n- multi-turn repair conversations: {}\n\n",
        report.sft_examples,
        report.pairs,
        report.pairs * 2,
        report.repair_conversations
    ));
    out.push_str("## Files\n\n");
    for f in &report.files {
        out.push_str(&format!("- `{f}`\n"));
    }
    out.push_str("\nLLaMA-Factory: point `dataset_dir` at `llamafactory/` (datasets `crucible_alpaca`, `crucible_sharegpt`, `crucible_sharegpt_repair`, `crucible_dpo`). axolotl: `axolotl/config.yml` holds the `datasets:` entry.\n\n");
    out.push_str("## Sources\n\n| source | kind | benchmark | SFT | pairs | note |\n| --- | --- | --- | --- | --- | --- |\n");
    for s in &report.sources {
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} | {} |\n",
            s.path,
            s.kind,
            s.benchmark.as_deref().unwrap_or("-"),
            s.sft_examples,
            s.pairs,
            s.excluded.as_deref().unwrap_or("")
        ));
    }
    let mut licences: BTreeMap<&str, usize> = BTreeMap::new();
    for s in &report.sources {
        for (l, n) in &s.licences {
            *licences.entry(l).or_insert(0) += n;
        }
    }
    out.push_str("\n## Licences\n\nOf the SFT examples' seeds or tasks (a synth record carries its seed document's licence; `unknown` when the corpus named none):\n\n");
    for (l, n) in &licences {
        out.push_str(&format!("- {l}: {n}\n"));
    }
    out.push_str("\nMultiPL-E-derived data is never exported (its licence forbids training).\n\n");
    out.push_str("## Filters\n\n- synth records: the model's solution passes its own tests in the sandbox (failures are counted below, not exported); then exact and MinHash near deduplication and decontamination against every benchmark Crucible ships (the `crucible data curate` pipeline); preference pairs pair the passing solution with mutants of it that its tests kill; a record whose solution was repaired (`--repair`) gives a multi-turn conversation: the task, the failing program, the failure report of the record's own tests, the fixed program.\n- eval runs: SFT from a sample that passed the task's tests, pairs of a passing and a failing sample of the same task (judge errors are left out); runs on benchmarks are left out unless `--include-benchmarks`; a strategy run whose returned program (passing the task's tests) came from a repair round gives a multi-turn conversation whose failure report is the one the strategy saw, of the visible tests only.\n\n");
    out.push_str("## Decontamination and synthesis report\n\n");
    for s in report.sources.iter().filter(|s| s.summary.is_some()) {
        let sum = s.summary.as_ref().expect("filtered");
        out.push_str(&format!("`{}`:\n\n", s.path));
        for key in [
            "seeds",
            "passed_tests",
            "rejected",
            "filter_pass_rate",
            "kept",
            "mutant_kill_rate",
            "mean_record_kill_rate",
            "obtained",
            "tests_cannot_fail",
            "kill_rate_by_operator",
        ] {
            // Runs made before a field existed do not have it.
            if !sum[key].is_null() {
                out.push_str(&format!("- {key}: {}\n", sum[key]));
            }
        }
        out.push_str(&format!("- rejections: {}\n", sum["rejections"]));
        out.push_str(&format!(
            "- curation drops (stage:reason, including decontamination): {}\n\n",
            sum["curation_drops"]
        ));
    }
    if !report.warnings.is_empty() {
        out.push_str("## Warnings\n\n");
        for w in &report.warnings {
            out.push_str(&format!("- {w}\n"));
        }
    }
    out
}
