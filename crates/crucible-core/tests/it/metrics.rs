//! `--metric` through `crucible score`'s pipeline: samples compared with the references given in the samples file, per-sample lines, the summary and the report; perplexity and the judge added later through a scorer and a scripted judge, appended as computed and not recomputed on a re-run; a sample with two result lines correlates by the first, as the summary counts it.

use std::path::Path;
use std::sync::Arc;

use crucible_core::infer::{
    Error as InferError, GenRequest, Generation, Generator, ModelInfo, Observer, ScoreError,
    ScoredText, ScriptedGenerator, Silent, TextScorer, WindowRule,
};
use crucible_core::metrics::{
    GivenReferences, Metric, MetricModels, MetricParams, MetricRequest, NamedModel, measure_run,
    run_metrics,
};
use crucible_core::score::{ScoreParams, run_score};
use crucible_core::{ConfigFile, Error, Settings};

use super::{Fixture, TASKS, fixture, params};

pub(crate) fn settings() -> Settings {
    Settings::resolve_with(ConfigFile::default(), Path::new("/nonexistent"), &|key| {
        (key == "CRUCIBLE_HOME").then(|| std::ffi::OsString::from("/nonexistent/home"))
    })
    .unwrap()
}

fn score_params(samples: &Path, out: &Path, metrics: &[Metric]) -> ScoreParams {
    ScoreParams {
        samples: samples.to_owned(),
        out: out.to_owned(),
        ks: vec![1],
        judge: params(out, 0).judge,
        force: false,
        allow_missing: false,
        metrics: Some(MetricRequest {
            params: MetricParams::new(metrics.to_vec()),
            scorer: settings(),
            judge: settings(),
        }),
    }
}

const DOUBLE: &str = "n = int(input())\nprint(2 * n)\n";
const SQUARE: &str = "n = int(input())\nprint(n * n)\n";

fn line(task_id: &str, code: &str, reference: Option<&str>) -> String {
    let mut value = serde_json::json!({"task_id": task_id, "solution": code});
    if let Some(reference) = reference {
        value["reference"] = reference.into();
    }
    value.to_string()
}

pub(crate) fn metric_lines(out: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(out.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Every token has probability 1/4: perplexity 4.
struct Quarter {
    calls: usize,
}

impl TextScorer for Quarter {
    fn score_text(&mut self, text: &str, rule: WindowRule) -> Result<ScoredText, ScoreError> {
        self.calls += 1;
        let tokens = text.split_whitespace().count() + 1;
        Ok(ScoredText {
            tokens,
            logprobs: vec![0.25f64.ln(); tokens - 1],
            windows: 1,
            rule,
        })
    }
}

/// A local model as the metrics see it: it generates (the judge) and scores texts (perplexity).
struct Local {
    generator: ScriptedGenerator,
    scorer: Quarter,
}

impl Generator for Local {
    fn info(&self) -> &ModelInfo {
        self.generator.info()
    }

    fn generate(
        &mut self,
        request: &GenRequest,
        observer: &mut dyn Observer,
    ) -> Result<Generation, InferError> {
        self.generator.generate(request, observer)
    }

    fn as_scorer(&mut self) -> Option<&mut dyn TextScorer> {
        Some(&mut self.scorer)
    }
}

#[test]
fn scored_samples_are_compared_with_their_references_and_model_scores_are_kept() {
    let Fixture {
        dir,
        home,
        bench,
        out,
        ..
    } = fixture(TASKS);
    let samples = dir.path().join("samples.jsonl");
    // `double` is right and equals its reference; `square` is wrong and differs from it.
    std::fs::write(
        &samples,
        [
            line("double", DOUBLE, Some(DOUBLE)),
            line("square", "n = int(input())\nprint(n + n)\n", Some(SQUARE)),
        ]
        .join("\n"),
    )
    .unwrap();
    let metrics = [Metric::Bleu, Metric::ExactMatch, Metric::EditSimilarity];
    let outcome = run_score(
        bench.clone(),
        &home,
        &score_params(&samples, &out, &metrics),
        Arc::new(|_| {}),
    )
    .unwrap();
    assert_eq!(outcome.summary.pass_at_k["pass@1"], 0.5);
    let lines = metric_lines(&out);
    assert_eq!(lines.len(), 2, "{lines:?}");
    let by_task = |id: &str| lines.iter().find(|l| l["task_id"] == id).unwrap().clone();
    assert_eq!(by_task("double")["exact_match"], true);
    assert_eq!(by_task("square")["exact_match"], false);
    assert!((by_task("double")["bleu"].as_f64().unwrap() - 100.0).abs() < 1e-9);
    assert!(by_task("square")["bleu"].as_f64().unwrap() < 100.0);
    // Corpus scores and the correlations reach summary.json, the table and report.html.
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let corpus = &summary["metrics"]["corpus"][0];
    assert_eq!(corpus["exact_match"], 0.5);
    assert!(
        corpus["bleu"]["signature"]
            .as_str()
            .unwrap()
            .contains("tok:13a"),
        "{corpus}"
    );
    let exact = summary["metrics"]["correlations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["score"] == "exact_match")
        .unwrap();
    assert_eq!(exact["auroc"], 1.0, "exact match separates the two here");
    assert!(
        outcome.table.contains("metrics (python, 2 samples)"),
        "{}",
        outcome.table
    );
    let report = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(report.contains("<svg"), "the report plots the correlations");

    // Perplexity and the judge, added to the finished run: appended as computed.
    let mut scorer = Quarter { calls: 0 };
    let mut judge = ScriptedGenerator::from_fn(|_, _| Some("Looks right.\nScore: 4".into()));
    let models = MetricModels {
        scorer: Some(NamedModel {
            model: &mut scorer,
            name: "quarter".into(),
        }),
        judge: Some(NamedModel {
            model: &mut judge,
            name: "scripted".into(),
        }),
        judge_scores: false,
    };
    let given: GivenReferences = [
        (("double".to_string(), 0), vec![DOUBLE.to_string()]),
        (("square".to_string(), 0), vec![SQUARE.to_string()]),
    ]
    .into_iter()
    .collect();
    let all = MetricParams::new(vec![Metric::Perplexity, Metric::Judge]);
    let events = Arc::new(|_| {}) as crucible_core::evaluate::EventSink;
    let outcome = run_metrics(&out, &bench, &given, &all, models, &events, &mut Silent).unwrap();
    assert_eq!(scorer.calls, 2, "one reference per task");
    assert_eq!(judge.requests.len(), 4, "two aspects per sample");
    let lines = metric_lines(&out);
    assert_eq!(lines.len(), 2, "one merged line per sample: {lines:?}");
    for line in &lines {
        assert_eq!(line["judge_model"], "scripted");
        assert_eq!(line["judge"]["functional_correctness"]["score"], 4.0);
        assert!((line["reference_perplexity"]["perplexity"].as_f64().unwrap() - 4.0).abs() < 1e-9);
        assert!(
            line.get("exact_match").is_some(),
            "the earlier metrics stay: {line}"
        );
    }
    let agreement = outcome.summary.report.judge_agreement.as_ref().unwrap();
    assert_eq!((agreement.true_positive, agreement.false_positive), (1, 1));
    assert!(
        outcome.table.contains("judged by scripted"),
        "{}",
        outcome.table
    );

    // Again with the same models: nothing is recomputed (a judge with no answers left).
    let mut scorer = Quarter { calls: 0 };
    let mut exhausted = ScriptedGenerator::new(Vec::<String>::new());
    let models = MetricModels {
        scorer: Some(NamedModel {
            model: &mut scorer,
            name: "quarter".into(),
        }),
        judge: Some(NamedModel {
            model: &mut exhausted,
            name: "scripted".into(),
        }),
        judge_scores: false,
    };
    run_metrics(&out, &bench, &given, &all, models, &events, &mut Silent).unwrap();
    assert_eq!(scorer.calls, 0);
    assert!(exhausted.requests.is_empty());
}

#[test]
fn a_sample_without_a_reference_is_refused_before_judging() {
    let Fixture {
        dir,
        home,
        bench,
        out,
        ..
    } = fixture(TASKS);
    let samples = dir.path().join("samples.jsonl");
    std::fs::write(
        &samples,
        [
            line("double", DOUBLE, Some(DOUBLE)),
            line("square", SQUARE, None),
        ]
        .join("\n"),
    )
    .unwrap();
    let err = run_score(
        bench,
        &home,
        &score_params(&samples, &out, &[Metric::CodeBleu]),
        Arc::new(|_| {}),
    )
    .unwrap_err();
    assert!(
        matches!(err, Error::NoReference { ref task_id, .. } if task_id == "square"),
        "{err:?}"
    );
    assert!(err.hint().unwrap().contains("`reference`"));
    assert!(!out.join("results.jsonl").exists(), "nothing was judged");
}

#[test]
fn a_sample_judged_twice_has_the_verdict_the_summary_counts() {
    let Fixture {
        dir,
        home,
        bench,
        out,
        ..
    } = fixture(TASKS);
    let samples = dir.path().join("samples.jsonl");
    std::fs::write(
        &samples,
        [
            line("double", DOUBLE, Some(DOUBLE)),
            line("square", "n = int(input())\nprint(n + n)\n", Some(SQUARE)),
        ]
        .join("\n"),
    )
    .unwrap();
    let params = score_params(&samples, &out, &[Metric::ExactMatch]);
    run_score(bench.clone(), &home, &params, Arc::new(|_| {})).unwrap();
    // A second, failing result line for the passing sample (as a run killed between a verdict
    // and its record can leave): the summary counts the first, and so must the metrics.
    let results_path = out.join("results.jsonl");
    let text = std::fs::read_to_string(&results_path).unwrap();
    let results: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let failed_status =
        results.iter().find(|r| r["task_id"] == "square").unwrap()["status"].clone();
    let mut again = results
        .iter()
        .find(|r| r["task_id"] == "double")
        .unwrap()
        .clone();
    assert_ne!(again["status"], failed_status);
    again["status"] = failed_status;
    std::fs::write(&results_path, format!("{text}{again}\n")).unwrap();

    let outcome = run_score(bench, &home, &params, Arc::new(|_| {})).unwrap();
    assert_eq!(outcome.summary.duplicate_results, 1);
    assert_eq!(outcome.summary.pass_at_k["pass@1"], 0.5);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let exact = summary["metrics"]["correlations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["score"] == "exact_match")
        .unwrap_or_else(|| panic!("{summary}"))
        .clone();
    assert_eq!(exact["samples"], 2, "{exact}");
    assert_eq!(
        exact["passed"], 1,
        "the first verdict of `double` counts: {exact}"
    );
    assert_eq!(exact["auroc"], 1.0, "{exact}");
}

/// `crucible eval --metric ppl,judge` lends the run's model: the references are scored and the
/// samples judged with its weights, and no model is opened (the settings name none that could
/// be: opening one would fail). A lent model that cannot score a text is a clear error.
#[test]
fn the_runs_model_scores_and_judges_without_a_second_load() {
    let Fixture {
        dir,
        home,
        bench,
        out,
        ..
    } = fixture(TASKS);
    let samples = dir.path().join("samples.jsonl");
    std::fs::write(
        &samples,
        [
            line("double", DOUBLE, Some(DOUBLE)),
            line("square", SQUARE, Some(SQUARE)),
        ]
        .join("\n"),
    )
    .unwrap();
    run_score(
        bench.clone(),
        &home,
        &score_params(&samples, &out, &[Metric::ExactMatch]),
        Arc::new(|_| {}),
    )
    .unwrap();
    let given: GivenReferences = [
        (("double".to_string(), 0), vec![DOUBLE.to_string()]),
        (("square".to_string(), 0), vec![SQUARE.to_string()]),
    ]
    .into_iter()
    .collect();
    let request = MetricRequest {
        params: MetricParams::new(vec![Metric::Perplexity, Metric::Judge]),
        scorer: settings(),
        judge: settings(),
    };
    let events = Arc::new(|_| {}) as crucible_core::evaluate::EventSink;

    let mut plain = ScriptedGenerator::new(Vec::<String>::new());
    let err = measure_run(
        &out,
        &bench,
        &given,
        &request,
        Some(&mut plain),
        &events,
        &mut Silent,
    )
    .expect_err("a model that cannot score is refused");
    assert!(matches!(err, Error::ModelCannotScore { .. }), "{err:?}");
    assert!(err.hint().unwrap().contains("leave out `ppl`"));

    let mut local = Local {
        generator: ScriptedGenerator::from_fn(|_, _| Some("Fine.\nScore: 3".into())),
        scorer: Quarter { calls: 0 },
    };
    let name = local.info().name.clone();
    let outcome = measure_run(
        &out,
        &bench,
        &given,
        &request,
        Some(&mut local),
        &events,
        &mut Silent,
    )
    .unwrap();
    assert_eq!(
        local.scorer.calls, 2,
        "one reference per task, scored by the lent model"
    );
    assert_eq!(
        local.generator.requests.len(),
        4,
        "two aspects per sample, judged by it"
    );
    for line in &metric_lines(&out) {
        assert_eq!(line["perplexity_model"], name.as_str());
        assert_eq!(line["judge_model"], name.as_str());
        assert!((line["reference_perplexity"]["perplexity"].as_f64().unwrap() - 4.0).abs() < 1e-9);
    }
    assert!(outcome.summary.report.judge_agreement.is_some());
}
