//! Unit tests of the metrics pipeline's pieces: merging stored records and the checks made before anything runs.

use crucible_metrics::SampleScores;
use crucible_metrics::judge::{JudgeResult, JudgeVerdict};
use crucible_metrics::perplexity::Perplexity;

use super::*;

fn record(scores: SampleScores) -> MetricRecord {
    MetricRecord {
        task_id: "t".into(),
        sample_idx: 0,
        scores,
        perplexity_model: None,
        judge_model: None,
    }
}

fn graded(score: f64) -> JudgeResult {
    let verdict = JudgeVerdict::Scored {
        score,
        reasoning: format!("Score: {score}"),
        asked: false,
    };
    JudgeResult {
        usefulness: verdict.clone(),
        functional_correctness: verdict,
    }
}

#[test]
fn later_lines_of_a_sample_win_and_keep_their_model() {
    let earlier = MetricRecord {
        judge_model: Some("old judge".into()),
        ..record(SampleScores {
            bleu: Some(10.0),
            exact_match: Some(false),
            judge: Some(graded(1.0)),
            ..SampleScores::default()
        })
    };
    let ppl = Perplexity {
        tokens: 3,
        mean_logprob: -1.0,
        perplexity: std::f64::consts::E,
    };
    let later = MetricRecord {
        perplexity_model: Some("scorer".into()),
        judge_model: Some("new judge".into()),
        ..record(SampleScores {
            bleu: Some(20.0),
            reference_perplexity: Some(ppl),
            judge: Some(graded(4.0)),
            ..SampleScores::default()
        })
    };
    let merged = earlier.merge(later);
    assert_eq!(merged.scores.bleu, Some(20.0));
    assert_eq!(
        merged.scores.exact_match,
        Some(false),
        "kept from the earlier line"
    );
    assert_eq!(merged.scores.reference_perplexity, Some(ppl));
    assert_eq!(merged.scores.judge, Some(graded(4.0)));
    assert_eq!(merged.judge_model.as_deref(), Some("new judge"));
    assert_eq!(merged.perplexity_model.as_deref(), Some("scorer"));
    // A line without a judge leaves the earlier judge and its model.
    let bleu_only = record(SampleScores {
        bleu: Some(30.0),
        ..SampleScores::default()
    });
    let again = merged.merge(bleu_only);
    assert_eq!(again.judge_model.as_deref(), Some("new judge"));
    assert_eq!(again.scores.judge, Some(graded(4.0)));
}

fn settings(endpoint: Option<&str>) -> Settings {
    let mut settings = Settings::resolve_with(
        crate::ConfigFile::default(),
        Path::new("/nonexistent"),
        &|key| (key == "CRUCIBLE_HOME").then(|| std::ffi::OsString::from("/nonexistent/home")),
    )
    .unwrap();
    settings.endpoint = endpoint.map(str::to_owned);
    settings
}

#[test]
fn perplexity_through_an_endpoint_is_refused_before_anything_runs() {
    let request = MetricRequest {
        params: MetricParams::new(vec![Metric::Bleu, Metric::Perplexity]),
        scorer: settings(Some("http://127.0.0.1:9/v1")),
        judge: settings(None),
    };
    let err = request.check_models().unwrap_err();
    assert!(
        matches!(err, Error::PerplexityNeedsLocalModel { ref endpoint } if endpoint == "http://127.0.0.1:9/v1"),
        "{err:?}"
    );
    assert!(err.hint().unwrap().contains("leave out `ppl`"));
    // The similarity metrics and the judge are fine with a server.
    let request = MetricRequest {
        params: MetricParams::new(vec![Metric::Bleu, Metric::Judge]),
        ..request
    };
    request.check_models().unwrap();
}
