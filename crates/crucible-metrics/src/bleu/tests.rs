//! BLEU on fixed inputs (agreement with sacrebleu and the CodeXGLUE vectors: `tests/it`).

use super::*;

#[test]
fn tokenizer_13a_splits_punctuation_but_not_numbers() {
    assert_eq!(
        tokenize_13a("It costs 1,000.50 dollars, ok? (yes)"),
        [
            "It", "costs", "1,000.50", "dollars", ",", "ok", "?", "(", "yes", ")"
        ]
    );
    assert_eq!(
        tokenize_13a("a+b=c; x-1 3-4"),
        ["a", "+", "b", "=", "c", ";", "x-1", "3", "-", "4"]
    );
}

#[test]
fn identical_text_scores_100_and_signature_names_the_choices() {
    let bleu = Bleu::new(BleuParams::corpus());
    let score = bleu
        .corpus(
            &["the cat sat on the mat"],
            &[vec!["the cat sat on the mat"]],
        )
        .unwrap();
    assert!((score.score - 100.0).abs() < 1e-9);
    assert_eq!(
        score.signature,
        "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|impl:crucible-metrics"
    );
    let params = BleuParams {
        smoothing: Smoothing::Floor(0.1),
        tokenizer: Tokenizer::None,
        lowercase: true,
        effective_order: true,
    };
    let score = Bleu::new(params).sentence("a b", &["a b c"]).unwrap();
    assert_eq!(
        score.signature,
        "nrefs:1|case:lc|eff:yes|tok:none|smooth:floor[0.10]|impl:crucible-metrics"
    );
}

#[test]
fn bad_input_is_an_error() {
    let bleu = Bleu::new(BleuParams::corpus());
    assert!(matches!(
        bleu.corpus(&["a"], &[]),
        Err(Error::CountMismatch { .. })
    ));
    assert!(matches!(bleu.corpus(&[], &[]), Err(Error::EmptyCorpus)));
    assert!(matches!(
        bleu.corpus(&["a"], &[vec![]]),
        Err(Error::MissingReference { index: Some(0) })
    ));
    assert!(codexglue_smoothed_bleu("a", &[]).is_err());
}

#[test]
fn codexglue_bleu_is_one_for_identical_text_and_smoothed_otherwise() {
    let same = codexglue_smoothed_bleu("Return the sum.", &["return the sum ."]).unwrap();
    assert!((same - 1.0).abs() < 1e-12, "{same}");
    // No shared bigram: unsmoothed BLEU would be 0, the smoothed one is not.
    let smoothed = codexglue_smoothed_bleu("sum the values", &["values sum the"]).unwrap();
    assert!(smoothed > 0.0 && smoothed < 1.0, "{smoothed}");
}
