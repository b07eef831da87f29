//! Tests of `MetricSet`: what is scored, what is checked, and the judge's agreement with execution.

use super::*;

fn sample<'a>(
    prediction: &'a str,
    references: &'a [&'a str],
    language: &'a str,
    passed: bool,
) -> Sample<'a> {
    Sample {
        passed: Some(passed),
        ..Sample::new(prediction, references, language)
    }
}

fn graded(functional_correctness: Option<f64>) -> JudgeResult {
    let verdict = |score: Option<f64>| match score {
        Some(score) => JudgeVerdict::Scored {
            score,
            reasoning: format!("Score: {score}"),
            asked: false,
        },
        None => JudgeVerdict::Unparsed {
            raw: "no idea".to_string(),
            reason: "no score".to_string(),
        },
    };
    JudgeResult {
        usefulness: verdict(Some(2.0)),
        functional_correctness: verdict(functional_correctness),
    }
}

#[test]
fn scores_samples_corpus_and_correlations() {
    let reference = ["def add(a, b):\n    return a + b\n"];
    let samples = [
        sample(
            "def add(a, b):\n    return a + b\n",
            &reference,
            "python",
            true,
        ),
        sample("def add(x, y):\n    return x + y\n", &reference, "py", true),
        sample(
            "def add(a, b):\n    return a - b\n",
            &reference,
            "python",
            false,
        ),
        sample("", &reference, "python", false),
    ];
    let cheap: Vec<Metric> = Metric::ALL
        .into_iter()
        .filter(|m| !m.needs_model())
        .collect();
    let report = MetricSet::new(&cheap).score(&samples).unwrap();
    assert_eq!(report.samples.len(), 4);
    assert_eq!(report.samples[0].exact_match, Some(true));
    assert_eq!(report.samples[3].exact_match, Some(false));
    assert_eq!(report.corpus.len(), 1);
    assert_eq!(report.corpus[0].language, "python");
    assert_eq!(report.corpus[0].exact_match, Some(0.25));
    // bleu, the codebleu total and its four parts, em, both edit similarities, identifier F1.
    let names: Vec<&str> = report
        .correlations
        .iter()
        .map(|c| c.score.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "bleu",
            "codebleu",
            "codebleu_ngram",
            "codebleu_weighted_ngram",
            "codebleu_syntax",
            "codebleu_dataflow",
            "exact_match",
            "edit_similarity",
            "edit_similarity_levenshtein",
            "identifier_f1"
        ]
    );
    let codebleu = &report.correlations[1];
    assert_eq!((codebleu.samples, codebleu.passed), (4, 2));
    // The two passing samples score above both failing ones except the `a - b` near-copy.
    assert!(codebleu.auroc.unwrap() >= 0.75, "{codebleu:?}");
    assert!(report.correlations_plus.is_empty());
    assert!(report.judge_agreement.is_none());
    let json = serde_json::to_value(&report).unwrap();
    assert!(json["samples"][0]["codebleu"]["codebleu"].as_f64().unwrap() > 0.99);
    assert!(
        json["corpus"][0]["bleu"]["signature"]
            .as_str()
            .unwrap()
            .contains("tok:13a")
    );
    // What is written can be read back.
    let back: MetricSetReport = serde_json::from_value(json).unwrap();
    assert_eq!(back, report);
}

#[test]
fn per_sample_codebleu_and_corpus_come_from_one_pass() {
    let reference = ["int f(int a) { return a + 1; }"];
    let samples = [
        sample("int f(int a) { return a + 1; }", &reference, "cpp", true),
        sample("int f(int b) { return b * 2; }", &reference, "cpp", false),
    ];
    let report = MetricSet::new(&[Metric::CodeBleu]).score(&samples).unwrap();
    let mut scorer = CodeBleu::new(SyntaxLanguage::Cpp, CodeBleuParams::paper()).unwrap();
    for (sample, scores) in samples.iter().zip(&report.samples) {
        let alone = scorer.score_pair(sample.prediction, reference[0]).unwrap();
        assert_eq!(scores.codebleu.as_ref(), Some(&alone));
    }
    let corpus = scorer
        .score_corpus(
            &[samples[0].prediction, samples[1].prediction],
            &[reference.to_vec(), reference.to_vec()],
        )
        .unwrap();
    assert_eq!(report.corpus[0].codebleu.as_ref(), Some(&corpus));
}

#[test]
fn model_scores_are_carried_and_correlated() {
    let reference = ["def f():\n    return 1\n"];
    let likely = Perplexity {
        tokens: 10,
        mean_logprob: -0.5,
        perplexity: (0.5f64).exp(),
    };
    let unlikely = Perplexity {
        tokens: 30,
        mean_logprob: -1.5,
        perplexity: (1.5f64).exp(),
    };
    let judged = [
        graded(Some(4.0)),
        graded(Some(1.0)),
        graded(Some(3.0)),
        graded(None),
    ];
    let verdicts = [true, false, false, true];
    let perplexities = [likely, unlikely, unlikely, likely];
    let samples: Vec<Sample<'_>> = (0..4)
        .map(|i| Sample {
            passed: Some(verdicts[i]),
            passed_plus: Some(verdicts[i] && i == 0),
            reference_perplexity: Some(perplexities[i]),
            judge: Some(&judged[i]),
            ..Sample::new("def f():\n    return 1\n", &reference, "python")
        })
        .collect();
    let report = MetricSet::new(&[Metric::Perplexity, Metric::Judge])
        .score(&samples)
        .unwrap();
    assert_eq!(report.samples[1].reference_perplexity, Some(unlikely));
    assert_eq!(report.samples[0].judge.as_ref(), Some(&judged[0]));
    // Token-weighted: (2 * 10 * -0.5 + 2 * 30 * -1.5) / 80 = -1.25.
    let corpus = report.corpus[0].reference_perplexity.unwrap();
    assert_eq!(corpus.tokens, 80);
    assert!((corpus.mean_logprob + 1.25).abs() < 1e-12);
    let judge = report.corpus[0].judge.as_ref().unwrap();
    assert_eq!((judge.scored, judge.unparsed, judge.failed), (7, 1, 0));
    assert_eq!(judge.functional_correctness, Some(8.0 / 3.0));
    let names: Vec<&str> = report
        .correlations
        .iter()
        .map(|c| c.score.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "reference_logprob",
            "judge_usefulness",
            "judge_functional_correctness"
        ]
    );
    // The likely references are exactly the passing samples' ones.
    assert_eq!(report.correlations[0].auroc, Some(1.0));
    // Every usefulness grade is 2: no correlation is defined, and the report says why.
    assert_eq!(report.correlations[1].auroc, Some(0.5));
    assert!(report.correlations[1].point_biserial.is_none());
    assert!(report.correlations[1].undefined.is_some());
    // Functional correctness: 3 samples graded (4: pass, 1: fail, 3: fail).
    assert_eq!(report.correlations[2].samples, 3);
    assert_eq!(report.correlations[2].auroc, Some(1.0));
    assert_eq!(report.correlations_plus.len(), 3);
    assert_eq!(report.correlations_plus[0].passed, 1);
    // Judge at >= 3 against execution: 4/pass agree, 1/fail agree, 3/fail disagree.
    let agreement = report.judge_agreement.unwrap();
    assert_eq!(
        (
            agreement.samples,
            agreement.ungraded,
            agreement.true_positive,
            agreement.false_positive,
            agreement.true_negative,
            agreement.false_negative
        ),
        (3, 1, 1, 1, 1, 0)
    );
    assert_eq!(agreement.accuracy, Some(2.0 / 3.0));
    // p_o = 2/3; judge says yes 2/3, execution 1/3: p_e = 2/9 + 2/9 = 4/9; kappa = (2/9)/(5/9).
    assert!((agreement.cohen_kappa.unwrap() - 0.4).abs() < 1e-12);
}

#[test]
fn metric_names_and_lists() {
    assert_eq!(
        Metric::parse_list("bleu,codebleu,em,es,idmatch,ppl,judge").unwrap(),
        Metric::ALL
    );
    assert_eq!(
        Metric::parse_list("Exact-Match, bleu,bleu").unwrap(),
        [Metric::Bleu, Metric::ExactMatch]
    );
    let err = Metric::parse_list("bleu,rouge").unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown metric `rouge`; supported: bleu, codebleu, em (exact_match), es (edit_similarity), idmatch (identifier_match), ppl (perplexity), judge"
    );
    assert!(Metric::parse_list("bleu,,codebleu").is_err());
    assert!(Metric::Perplexity.needs_model() && !Metric::Bleu.needs_model());
}

#[test]
fn bad_input_is_a_clear_error() {
    let set = MetricSet::new(&[Metric::CodeBleu]);
    assert!(matches!(set.score(&[]), Err(Error::EmptyCorpus)));
    let err = set.score(&[sample("x", &[], "python", true)]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "sample 0 has no reference; every prediction needs a non-empty reference"
    );
    let err = set
        .score(&[sample("x", &["y"], "cobol", true)])
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("no grammar for language `cobol`; supported: python"),
        "{err}"
    );
    let err = set.score(&[sample("x", &["y"], "ts", true)]).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("codebleu has no rules for language `typescript`; supported: python, c"),
        "{err}"
    );
    // TypeScript is fine for metrics that need no CodeBLEU rules.
    let report = MetricSet::new(&[Metric::ExactMatch])
        .score(&[sample("let x = 1;", &["let x = 1; // one"], "ts", true)])
        .unwrap();
    assert_eq!(report.samples[0].exact_match, Some(true));
    // A prediction that does not parse is scored, and the fact is counted.
    let report = set
        .score(&[sample(
            "def f(:\n    return",
            &["def f():\n    return 1\n"],
            "python",
            false,
        )])
        .unwrap();
    let corpus = report.corpus[0].codebleu.as_ref().unwrap();
    assert_eq!(corpus.predictions_with_syntax_errors, 1);
    assert_eq!(corpus.references_with_syntax_errors, 0);
}
