//! `--metric` of `crucible eval` and `crucible score`: the similarity metrics, the references' perplexity and the LLM judge over a run directory's samples, against each task's reference solution (or the references the samples file gives), with how well each predicts the execution verdict.
//!
//! [`run_metrics`] runs after the samples are judged. It reads the run directory's samples
//! and verdicts, computes what `metrics.jsonl` does not hold yet (perplexity and the judge
//! through a model, appended sample by sample so a killed run keeps them; the similarity
//! metrics, cheap and deterministic, every time), then writes `metrics.jsonl` (one line per
//! sample), `metrics.json`, and the metrics sections of `summary.json` and `report.html`.
//! Metrics computed by an earlier invocation stay in the report, so metrics can be added to a
//! run one at a time. [`check_benchmark`] and [`check_samples`] catch bad input before
//! anything is generated or judged.

mod compare;
mod store;

use std::collections::{BTreeMap, BTreeSet};
use std::ops::ControlFlow;
use std::path::Path;

use crucible_eval::run::{RESULTS_FILE, ResultRecord, SAMPLES_FILE, SampleRecord, read_records};
use crucible_eval::{Benchmark, BenchmarkTask, report};
use crucible_infer::{Generator, Observer, TextScorer};
use crucible_metrics::judge::{JudgeInput, JudgeParams, JudgeResult, judge_many};
use crucible_metrics::perplexity::{Perplexity, WindowRule, perplexity_of};
use crucible_metrics::{MetricSet, Sample};
use crucible_types::TaskKind;

pub use compare::{CompareOutcome, CompareParams, compare_runs};
pub use crucible_metrics::Metric;
pub use crucible_metrics::comparison::Comparison;
pub use store::{
    METRICS_FILE, METRICS_SUMMARY_FILE, MetricRecord, MetricsSummary, load_run_summary,
    load_summary,
};

pub(crate) use store::view;

use crate::recorder::{EventSink, RunEvent};
use crate::{Error, Result, Settings};

/// References given with the samples, by `(task_id, sample_idx)`.
pub type GivenReferences = BTreeMap<(String, usize), Vec<String>>;

/// What a metrics run computes and how.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricParams {
    /// The metrics asked for (deduplicated, in report order).
    pub metrics: Vec<Metric>,
    /// The judge's decoding.
    pub judge: JudgeParams,
    /// Judge requests decoded together.
    pub judge_batch: usize,
    /// How a reference longer than the window is read for perplexity.
    pub window: WindowRule,
}

/// The perplexity window: references are read whole when they fit (they nearly always do);
/// a longer one slides by half a window, so every token keeps 1,024 tokens of context.
pub const DEFAULT_WINDOW: WindowRule = WindowRule::Sliding {
    window: 2048,
    stride: 1024,
};

/// The judge's room for reasoning and a grade.
pub const DEFAULT_JUDGE_TOKENS: usize = 384;

impl MetricParams {
    /// `metrics` with the default judge (greedy, seed 0, 384 new tokens, 16 requests at once)
    /// and perplexity window.
    pub fn new(metrics: Vec<Metric>) -> MetricParams {
        MetricParams {
            metrics,
            judge: JudgeParams {
                seed: 0,
                max_new_tokens: DEFAULT_JUDGE_TOKENS,
            },
            judge_batch: 16,
            window: DEFAULT_WINDOW,
        }
    }

    fn wants(&self, metric: Metric) -> bool {
        self.metrics.contains(&metric)
    }
}

/// A model a metric runs on, with the name reports give it.
pub struct NamedModel<'a, M: ?Sized> {
    pub model: &'a mut M,
    pub name: String,
}

/// The models the metrics that need one run on.
#[derive(Default)]
pub struct MetricModels<'a> {
    /// Scores the references (`--metric ppl`): a local model.
    pub scorer: Option<NamedModel<'a, dyn TextScorer + 'a>>,
    /// Grades the samples (`--metric judge`).
    pub judge: Option<NamedModel<'a, dyn Generator + 'a>>,
    /// The judge's model also scores the references, through [`Generator::as_scorer`]
    /// (`scorer` is then unused): one model, loaded once, does both.
    pub judge_scores: bool,
}

/// `--metric` of a `crucible eval` or `crucible score` run: what to compute, and the settings
/// the models that compute perplexity and the judge's grades are opened with.
#[derive(Debug, Clone)]
pub struct MetricRequest {
    pub params: MetricParams,
    /// The model the references' perplexity is measured under: the run's model (a local one).
    pub scorer: Settings,
    /// The judge: `--judge-model` or `--judge-endpoint`, else the run's model.
    pub judge: Settings,
}

impl MetricRequest {
    /// Check what can be checked before anything is generated or judged: perplexity needs the
    /// logits of a local model, which a server does not return.
    pub fn check_models(&self) -> Result<()> {
        match &self.scorer.endpoint {
            Some(endpoint) if self.params.wants(Metric::Perplexity) => {
                Err(Error::PerplexityNeedsLocalModel {
                    endpoint: endpoint.clone(),
                })
            }
            _ => Ok(()),
        }
    }

    /// Open the models the metrics asked for need (none for the similarity metrics alone).
    /// `run` is the run's model when the caller has it loaded (`crucible eval`): perplexity,
    /// and the judge unless `--judge-model`/`--judge-endpoint` name another, then use its
    /// weights instead of loading them again. Without it, the run's model is loaded once for
    /// both.
    pub fn open_models<'a>(
        &self,
        run: Option<&'a mut (dyn Generator + 'a)>,
    ) -> Result<OpenModels<'a>> {
        self.check_models()?;
        let scores = self.params.wants(Metric::Perplexity);
        let judges = self.params.wants(Metric::Judge);
        let judge_is_run = judges && self.judge == self.scorer;
        let mut progress = |event: &crucible_model::PullEvent<'_>| {
            if !matches!(event, crucible_model::PullEvent::Bytes { .. }) {
                tracing::info!("{event:?}");
            }
        };
        let run = match run {
            Some(model) => Some(Held::Borrowed(model)),
            None if scores || judge_is_run => Some(Held::Owned(crate::backend::open_generator(
                &self.scorer,
                &mut progress,
            )?)),
            None => None,
        };
        let judge = match judges && !judge_is_run {
            true => Some(crate::backend::open_generator(&self.judge, &mut progress)?),
            false => None,
        };
        Ok(OpenModels {
            run,
            judge,
            scores,
            judge_is_run,
        })
    }
}

/// A model the caller lent, or one opened for the metrics.
enum Held<'a> {
    Borrowed(&'a mut (dyn Generator + 'a)),
    Owned(Box<dyn Generator>),
}

/// The models a metrics run opened or was lent ([`MetricRequest::open_models`]).
pub struct OpenModels<'a> {
    /// The run's model: scores the references, and judges when `judge_is_run`.
    run: Option<Held<'a>>,
    /// A judge other than the run's model.
    judge: Option<Box<dyn Generator>>,
    scores: bool,
    judge_is_run: bool,
}

impl OpenModels<'_> {
    /// The models, borrowed for [`run_metrics`]. Perplexity asked of a model that cannot score
    /// a given text (a server) is an error.
    pub fn models(&mut self) -> Result<MetricModels<'_>> {
        let mut models = MetricModels::default();
        let run: Option<&mut dyn Generator> = match self.run.as_mut() {
            Some(Held::Borrowed(model)) => Some(&mut **model),
            Some(Held::Owned(model)) => Some(model.as_mut()),
            None => None,
        };
        if let Some(run) = run {
            let name = run.info().name.clone();
            if self.judge_is_run {
                if self.scores && run.as_scorer().is_none() {
                    return Err(Error::ModelCannotScore { model: name });
                }
                models.judge_scores = self.scores;
                models.judge = Some(NamedModel { model: run, name });
            } else if self.scores {
                let model = run.as_scorer().ok_or_else(|| Error::ModelCannotScore {
                    model: name.clone(),
                })?;
                models.scorer = Some(NamedModel { model, name });
            }
        }
        if let Some(judge) = self.judge.as_mut() {
            let name = judge.info().name.clone();
            models.judge = Some(NamedModel {
                model: judge.as_mut(),
                name,
            });
        }
        Ok(models)
    }
}

/// Compute the metrics of the finished run in `dir` with the models `request` needs: what
/// `crucible eval --metric` and `crucible score --metric` do after judging. `run` is the run's
/// model when it is loaded already (see [`MetricRequest::open_models`]).
pub fn measure_run(
    dir: &Path,
    bench: &Benchmark,
    given: &GivenReferences,
    request: &MetricRequest,
    run: Option<&mut dyn Generator>,
    events: &EventSink,
    observer: &mut dyn Observer,
) -> Result<MetricsOutcome> {
    let mut models = request.open_models(run)?;
    run_metrics(
        dir,
        bench,
        given,
        &request.params,
        models.models()?,
        events,
        observer,
    )
}

/// The end of a metrics run.
#[derive(Debug, Clone)]
pub struct MetricsOutcome {
    pub summary: MetricsSummary,
    /// The metrics as terminal lines.
    pub table: String,
}

impl MetricsOutcome {
    /// The metrics as `summary.json` holds them (under `metrics`).
    pub fn summary_json(&self) -> serde_json::Value {
        serde_json::to_value(&self.summary).expect("the metrics summary serialises")
    }
}

/// Check, before anything is generated, that every task of `bench` has a reference solution
/// and that the benchmark's language has what the metrics need.
pub fn check_benchmark(bench: &Benchmark, params: &MetricParams) -> Result<()> {
    check_language(bench, params)?;
    match bench.tasks.iter().find(|t| t.reference.is_none()) {
        Some(task) => Err(Error::NoReference {
            task_id: task.task.id.clone(),
            benchmark: bench.name.to_string(),
        }),
        None => Ok(()),
    }
}

/// Check, before anything is judged, that every sample has a reference: one given with it, or
/// its task's.
pub fn check_samples(
    bench: &Benchmark,
    samples: &[SampleRecord],
    given: &GivenReferences,
    params: &MetricParams,
) -> Result<()> {
    check_language(bench, params)?;
    for sample in samples {
        let key = (sample.task_id.clone(), sample.sample_idx);
        let has_task_reference = bench
            .task(&sample.task_id)
            .is_some_and(|t| t.reference.is_some());
        if !given.contains_key(&key) && !has_task_reference {
            return Err(Error::NoReference {
                task_id: sample.task_id.clone(),
                benchmark: bench.name.to_string(),
            });
        }
    }
    Ok(())
}

fn check_language(bench: &Benchmark, params: &MetricParams) -> Result<()> {
    MetricSet::new(&params.metrics).check_language(bench.language.name())?;
    Ok(())
}

/// Compute the metrics of the run directory `dir` (see the module docs). `given` holds
/// references that replace the tasks' own.
pub fn run_metrics(
    dir: &Path,
    bench: &Benchmark,
    given: &GivenReferences,
    params: &MetricParams,
    mut models: MetricModels<'_>,
    events: &EventSink,
    observer: &mut dyn Observer,
) -> Result<MetricsOutcome> {
    let run = RunSamples::load(dir, bench, given)?;
    let mut stored = store::load_records(dir)?;
    let mut appender = store::Appender::open(dir)?;
    if params.wants(Metric::Perplexity) {
        let (model, name): (&mut dyn TextScorer, String) = match (
            models.judge_scores,
            models.judge.as_mut(),
            models.scorer.as_mut(),
        ) {
            (true, Some(judge), _) => {
                let name = judge.name.clone();
                match judge.model.as_scorer() {
                    Some(model) => (model, name),
                    None => return Err(Error::ModelCannotScore { model: name }),
                }
            }
            (false, _, Some(scorer)) => (&mut *scorer.model, scorer.name.clone()),
            _ => {
                return Err(Error::MetricNeedsModel {
                    metric: "perplexity",
                });
            }
        };
        add_perplexity(
            &run,
            &mut stored,
            &mut NamedModel { model, name },
            params.window,
            &mut appender,
            events,
        )?;
    }
    if params.wants(Metric::Judge) {
        let Some(judge) = models.judge.as_mut() else {
            return Err(Error::MetricNeedsModel { metric: "judge" });
        };
        add_judge(
            &run,
            &mut stored,
            judge,
            params,
            &mut appender,
            events,
            observer,
        )?;
    }
    // Metrics stored earlier stay in the report.
    let mut metrics: BTreeSet<Metric> = params.metrics.iter().copied().collect();
    for record in stored.values() {
        metrics.extend(stored_metrics(record));
    }
    let metrics: Vec<Metric> = metrics.into_iter().collect();
    let references = run.reference_strs();
    let samples = run.samples(&references, &stored);
    let mut report = MetricSet::new(&metrics).score(&samples)?;
    let records: Vec<MetricRecord> = run
        .entries
        .iter()
        .zip(&report.samples)
        .map(|(entry, scores)| {
            let earlier = stored.get(&entry.key).cloned().unwrap_or_default();
            MetricRecord {
                task_id: entry.key.0.clone(),
                sample_idx: entry.key.1,
                scores: scores.clone(),
                perplexity_model: scores.reference_perplexity.and(earlier.perplexity_model),
                judge_model: scores.judge.as_ref().and(earlier.judge_model),
            }
        })
        .collect();
    store::write_records(dir, &records)?;
    let models_of = |get: fn(&MetricRecord) -> Option<&String>| -> Option<String> {
        let names: BTreeSet<&String> = records.iter().filter_map(get).collect();
        (!names.is_empty()).then(|| {
            names
                .into_iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(" and ")
        })
    };
    let perplexity_model = models_of(|r| r.perplexity_model.as_ref());
    let judge_model = models_of(|r| r.judge_model.as_ref());
    report.samples.clear();
    let summary = MetricsSummary {
        samples: records.len(),
        perplexity_window: perplexity_model.as_ref().map(|_| params.window),
        judge_params: judge_model.as_ref().map(|_| params.judge),
        perplexity_model,
        judge_model,
        report,
    };
    store::write_summary(dir, &summary)?;
    let table = refresh_summary(dir)?;
    Ok(MetricsOutcome { summary, table })
}

/// Put the metrics into `summary.json` and `report.html` of a finished run; returns the
/// metrics' terminal lines.
fn refresh_summary(dir: &Path) -> Result<String> {
    let mut summary = load_run_summary(dir)?;
    let view = view(dir, summary.samples)?;
    summary.metrics = view.json;
    let (results, _) = read_records::<ResultRecord>(&dir.join(RESULTS_FILE))?;
    let (samples, _) = read_records::<SampleRecord>(&dir.join(SAMPLES_FILE))?;
    let task_ids: BTreeSet<&str> = summary
        .per_task
        .iter()
        .map(|t| t.task_id.as_str())
        .collect();
    let results: Vec<ResultRecord> = results
        .into_iter()
        .filter(|r| task_ids.contains(r.task_id.as_str()))
        .collect();
    let mut text = serde_json::to_string_pretty(&summary).expect("summaries serialise");
    text.push('\n');
    crucible_eval::run::write_atomic(&dir.join(crucible_eval::run::SUMMARY_FILE), &text)?;
    let (traces, started_unix_ms) = crucible_eval::run::load_report_context(dir)?;
    crucible_eval::run::write_atomic(
        &dir.join(crucible_eval::run::REPORT_FILE),
        &report::render_html_with(
            &summary,
            &results,
            &samples,
            &report::ReportExtras {
                sections: &view.html,
                traces: &traces,
                started_unix_ms,
                written_unix_ms: Some(crucible_eval::run::now_unix_ms()),
            },
        ),
    )?;
    Ok(view.table)
}

/// The metrics a stored record has scores of.
fn stored_metrics(record: &MetricRecord) -> impl Iterator<Item = Metric> + '_ {
    let scores = &record.scores;
    [
        (Metric::Bleu, scores.bleu.is_some()),
        (Metric::CodeBleu, scores.codebleu.is_some()),
        (Metric::ExactMatch, scores.exact_match.is_some()),
        (Metric::EditSimilarity, scores.edit_similarity.is_some()),
        (Metric::IdentifierMatch, scores.identifier_match.is_some()),
        (Metric::Perplexity, scores.reference_perplexity.is_some()),
        (Metric::Judge, scores.judge.is_some()),
    ]
    .into_iter()
    .filter_map(|(metric, present)| present.then_some(metric))
}

/// One sample of the run, ready to score.
struct Entry {
    key: (String, usize),
    /// The sample as a whole program.
    prediction: String,
    references: Vec<String>,
    passed: Option<bool>,
    passed_plus: Option<bool>,
    /// The task's problem statement, for the judge.
    problem: String,
}

/// The samples of a run directory that belong to the benchmark's tasks, in file order.
struct RunSamples {
    entries: Vec<Entry>,
    language: String,
}

impl RunSamples {
    fn load(dir: &Path, bench: &Benchmark, given: &GivenReferences) -> Result<RunSamples> {
        let (samples, _) = read_records::<SampleRecord>(&dir.join(SAMPLES_FILE))?;
        let (results, _) = read_records::<ResultRecord>(&dir.join(RESULTS_FILE))?;
        // The first verdict written for a sample, the one the summary counts
        // (`crucible_eval::run::summarize` leaves later duplicates out).
        let mut verdicts: BTreeMap<(String, usize), &ResultRecord> = BTreeMap::new();
        for result in &results {
            verdicts
                .entry((result.task_id.clone(), result.sample_idx))
                .or_insert(result);
        }
        let mut seen = BTreeSet::new();
        let mut entries = Vec::new();
        for sample in samples {
            let key = (sample.task_id.clone(), sample.sample_idx);
            let Some(task) = bench.task(&sample.task_id) else {
                continue; // another selection of the benchmark's tasks
            };
            if !seen.insert(key.clone()) {
                continue;
            }
            let references = match given.get(&key) {
                Some(references) => references.clone(),
                None => vec![
                    task.reference_compared_text()
                        .ok_or_else(|| Error::NoReference {
                            task_id: sample.task_id.clone(),
                            benchmark: bench.name.to_string(),
                        })?,
                ],
            };
            let verdict = verdicts.get(&key);
            entries.push(Entry {
                prediction: task.compared_text(&sample.solution),
                references,
                passed: verdict.map(|r| r.status.is_pass()),
                passed_plus: verdict
                    .and_then(|r| r.plus_status())
                    .map(crucible_types::Status::is_pass),
                problem: problem_text(task).to_owned(),
                key,
            });
        }
        if entries.is_empty() {
            return Err(Error::NothingToMeasure {
                dir: dir.to_path_buf(),
            });
        }
        Ok(RunSamples {
            entries,
            language: bench.language.name().to_owned(),
        })
    }

    /// Each entry's references as `&str`s, for [`RunSamples::samples`].
    fn reference_strs(&self) -> Vec<Vec<&str>> {
        self.entries
            .iter()
            .map(|entry| entry.references.iter().map(String::as_str).collect())
            .collect()
    }

    /// The samples for [`MetricSet::score`], with the stored model scores.
    fn samples<'a>(
        &'a self,
        references: &'a [Vec<&'a str>],
        stored: &'a BTreeMap<(String, usize), MetricRecord>,
    ) -> Vec<Sample<'a>> {
        self.entries
            .iter()
            .zip(references)
            .map(|(entry, references)| {
                let record = stored.get(&entry.key);
                Sample {
                    passed: entry.passed,
                    passed_plus: entry.passed_plus,
                    reference_perplexity: record.and_then(|r| r.scores.reference_perplexity),
                    judge: record.and_then(|r| r.scores.judge.as_ref()),
                    ..Sample::new(&entry.prediction, references, &self.language)
                }
            })
            .collect()
    }
}

/// A task's problem statement: a function task's prompt, a program task's description.
fn problem_text(task: &BenchmarkTask) -> &str {
    match &task.task.kind {
        TaskKind::Function { prompt, .. } => prompt,
        TaskKind::Program { description } | TaskKind::Freeform { description } => description,
    }
}

/// Score each distinct reference the samples lack a perplexity for (under this model), and
/// append the scores sample by sample.
fn add_perplexity(
    run: &RunSamples,
    stored: &mut BTreeMap<(String, usize), MetricRecord>,
    scorer: &mut NamedModel<'_, dyn TextScorer + '_>,
    window: WindowRule,
    appender: &mut store::Appender,
    events: &EventSink,
) -> Result<()> {
    let current = |record: Option<&MetricRecord>| {
        record.is_some_and(|r| {
            r.scores.reference_perplexity.is_some()
                && r.perplexity_model.as_deref() == Some(scorer.name.as_str())
        })
    };
    let todo: Vec<&Entry> = run
        .entries
        .iter()
        .filter(|e| !current(stored.get(&e.key)))
        .collect();
    if todo.is_empty() {
        return Ok(());
    }
    events(RunEvent::Note(format!(
        "scoring the references of {} samples under {}",
        todo.len(),
        scorer.name
    )));
    let mut known: BTreeMap<&str, Perplexity> = BTreeMap::new();
    for entry in todo {
        let reference = entry.references[0].as_str();
        let perplexity = match known.get(reference) {
            Some(perplexity) => *perplexity,
            None => {
                let (perplexity, _) = perplexity_of(&mut *scorer.model, reference, window)
                    .map_err(|source| Error::Perplexity {
                        task_id: entry.key.0.clone(),
                        source,
                    })?;
                known.insert(reference, perplexity);
                perplexity
            }
        };
        let record = MetricRecord {
            task_id: entry.key.0.clone(),
            sample_idx: entry.key.1,
            scores: crucible_metrics::SampleScores {
                reference_perplexity: Some(perplexity),
                ..Default::default()
            },
            perplexity_model: Some(scorer.name.clone()),
            judge_model: None,
        };
        appender.append(&record)?;
        let merged = match stored.remove(&entry.key) {
            Some(earlier) => earlier.merge(record),
            None => record,
        };
        stored.insert(entry.key.clone(), merged);
    }
    Ok(())
}

/// Judge the samples that have no grades from this judge yet, their requests decoded
/// together, appending each sample's grades as they come in.
fn add_judge(
    run: &RunSamples,
    stored: &mut BTreeMap<(String, usize), MetricRecord>,
    judge: &mut NamedModel<'_, dyn Generator + '_>,
    params: &MetricParams,
    appender: &mut store::Appender,
    events: &EventSink,
    observer: &mut dyn Observer,
) -> Result<()> {
    let current = |record: Option<&MetricRecord>| {
        record.is_some_and(|r| {
            r.scores.judge.is_some() && r.judge_model.as_deref() == Some(judge.name.as_str())
        })
    };
    let todo: Vec<&Entry> = run
        .entries
        .iter()
        .filter(|e| !current(stored.get(&e.key)))
        .collect();
    if todo.is_empty() {
        return Ok(());
    }
    events(RunEvent::Note(format!(
        "judging {} samples with {}",
        todo.len(),
        judge.name
    )));
    let inputs: Vec<JudgeInput<'_>> = todo
        .iter()
        .map(|entry| JudgeInput {
            problem: &entry.problem,
            code: &entry.prediction,
            reference: Some(&entry.references[0]),
            language: &run.language,
        })
        .collect();
    let mut failure = None;
    let mut judged = 0;
    let name = judge.name.clone();
    judge_many(
        &mut *judge.model,
        &inputs,
        params.judge,
        params.judge_batch,
        &mut |index, result: JudgeResult| {
            let entry = todo[index];
            let record = MetricRecord {
                task_id: entry.key.0.clone(),
                sample_idx: entry.key.1,
                scores: crucible_metrics::SampleScores {
                    judge: Some(result),
                    ..Default::default()
                },
                perplexity_model: None,
                judge_model: Some(name.clone()),
            };
            if let Err(err) = appender.append(&record) {
                failure = Some(err);
                return ControlFlow::Break(());
            }
            let merged = match stored.remove(&entry.key) {
                Some(earlier) => earlier.merge(record),
                None => record,
            };
            stored.insert(entry.key.clone(), merged);
            judged += 1;
            if judged % 10 == 0 || judged == todo.len() {
                events(RunEvent::Note(format!(
                    "{judged}/{} samples judged by the model",
                    todo.len()
                )));
            }
            ControlFlow::Continue(())
        },
        observer,
    )?;
    match failure {
        Some(err) => Err(err),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests;
