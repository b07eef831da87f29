//! BLEU, CodeXGLUE's smoothed BLEU, fuzz ratio, identifier match and the correlation statistics against vectors derived from the reference implementations.

use crucible_metrics::bleu::{Bleu, BleuParams, Smoothing, Tokenizer, codexglue_smoothed_bleu};
use crucible_metrics::{correlation, similarity};
use crucible_syntax::SyntaxLanguage;
use serde_json::Value;

use crate::vectors;

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect()
}

fn numbers(value: &Value) -> Vec<f64> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect()
}

fn params(case: &Value, effective_order: bool) -> BleuParams {
    let value = case["smooth_value"].as_f64();
    BleuParams {
        tokenizer: match case["tokenize"].as_str().unwrap() {
            "13a" => Tokenizer::Mteval13a,
            "none" => Tokenizer::None,
            other => panic!("tokenizer {other}"),
        },
        smoothing: match case["smooth"].as_str().unwrap() {
            "exp" => Smoothing::Exp,
            "floor" => Smoothing::Floor(value.unwrap()),
            "add-k" => Smoothing::AddK(value.unwrap()),
            "none" => Smoothing::None,
            other => panic!("smoothing {other}"),
        },
        lowercase: case["lowercase"].as_bool().unwrap(),
        effective_order,
    }
}

/// The score as sacrebleu prints it: `BLEU = 45.68 ...` (two decimals).
fn printed(text: &str) -> &str {
    text.split_whitespace().nth(2).unwrap()
}

#[test]
fn bleu_matches_sacrebleu_corpus_and_sentence_scores() {
    let all = vectors::load_json("reference_vectors.json");
    let cases = all["bleu"].as_array().unwrap();
    assert!(cases.len() >= 80, "{} cases", cases.len());
    let inputs = [
        "text",
        "code",
        "short_and_empty",
        "numbers_and_entities",
        "no_match",
    ];
    for case in cases {
        let name = case["case"].as_str().unwrap();
        assert!(inputs.contains(&name));
        let (hyps, refs) = bleu_inputs(name);
        let hyp_refs: Vec<&str> = hyps.iter().map(String::as_str).collect();
        let ref_lists: Vec<Vec<&str>> = (0..hyps.len())
            .map(|i| refs.iter().map(|r| r[i].as_str()).collect())
            .collect();
        let corpus = Bleu::new(params(case, false))
            .corpus(&hyp_refs, &ref_lists)
            .unwrap();
        let want = case["corpus"].as_f64().unwrap();
        assert!(
            (corpus.score - want).abs() < 1e-9,
            "{name} {case}: {} vs {want}",
            corpus.score
        );
        assert_eq!(
            format!("{:.2}", corpus.score),
            printed(case["corpus_printed"].as_str().unwrap())
        );
        assert_eq!(
            corpus.hyp_len,
            case["sys_len"].as_u64().unwrap() as usize,
            "{name} {case}"
        );
        assert_eq!(
            corpus.ref_len,
            case["ref_len"].as_u64().unwrap() as usize,
            "{name} {case}"
        );
        for (index, sentence) in case["sentences"].as_array().unwrap().iter().enumerate() {
            let got = Bleu::new(params(case, true))
                .sentence(hyp_refs[index], &ref_lists[index])
                .unwrap();
            let want = sentence["score"].as_f64().unwrap();
            assert!(
                (got.score - want).abs() < 1e-9,
                "{name} sentence {index} {case}: {} vs {want}",
                got.score
            );
            assert_eq!(
                format!("{:.2}", got.score),
                printed(sentence["printed"].as_str().unwrap())
            );
        }
    }
}

/// The BLEU inputs of a case, as derive_misc.py wrote them (hypotheses, reference streams).
fn bleu_inputs(name: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let all = vectors::load_json("reference_vectors.json");
    let inputs = &all["bleu_inputs"][name];
    let hyps = strings(&inputs["hyps"])
        .into_iter()
        .map(str::to_string)
        .collect();
    let refs = inputs["refs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|stream| strings(stream).into_iter().map(str::to_string).collect())
        .collect();
    (hyps, refs)
}

#[test]
fn codexglue_smoothed_bleu_matches_its_vectors() {
    let all = vectors::load_json("reference_vectors.json");
    for case in all["codexglue"].as_array().unwrap() {
        let refs = strings(&case["refs"]);
        let got = codexglue_smoothed_bleu(case["hyp"].as_str().unwrap(), &refs).unwrap();
        let want = case["bleu"].as_f64().unwrap();
        assert!((got - want).abs() < 1e-12, "{case}: {got} vs {want}");
    }
}

#[test]
fn fuzz_ratio_matches_fuzzywuzzy() {
    let all = vectors::load_json("reference_vectors.json");
    for case in all["fuzz_ratio"].as_array().unwrap() {
        let got = similarity::fuzz_ratio(case["a"].as_str().unwrap(), case["b"].as_str().unwrap());
        assert_eq!(got, case["ratio"].as_f64().unwrap(), "{case}");
    }
}

#[test]
fn identifier_match_matches_crosscodeeval() {
    let all = vectors::load_json("reference_vectors.json");
    for case in all["identifiers"].as_array().unwrap() {
        let prediction = case["prediction"].as_str().unwrap();
        let target = case["target"].as_str().unwrap();
        assert_eq!(
            similarity::identifiers(SyntaxLanguage::Python, prediction),
            strings(&case["pred_ids"]),
            "{case}"
        );
        let got = similarity::identifier_match(SyntaxLanguage::Python, prediction, target);
        assert_eq!(got.exact, case["em"].as_u64().unwrap() == 1, "{case}");
        for (value, key) in [
            (got.precision, "precision"),
            (got.recall, "recall"),
            (got.f1, "f1"),
        ] {
            assert!(
                (value - case[key].as_f64().unwrap()).abs() < 1e-12,
                "{key} {case}"
            );
        }
    }
}

#[test]
fn correlations_match_scipy() {
    let all = vectors::load_json("reference_vectors.json");
    for case in all["correlation"]["binary"].as_array().unwrap() {
        let scores = numbers(&case["scores"]);
        let passed: Vec<bool> = numbers(&case["labels"]).iter().map(|l| *l == 1.0).collect();
        let r = correlation::point_biserial(&scores, &passed).unwrap();
        assert!(
            (r - case["point_biserial"].as_f64().unwrap()).abs() < 1e-12,
            "{case}"
        );
        let auc = correlation::auroc(&scores, &passed).unwrap();
        assert!(
            (auc - case["auroc"].as_f64().unwrap()).abs() < 1e-12,
            "{case}"
        );
    }
    for case in all["correlation"]["kendall"].as_array().unwrap() {
        let tau = correlation::kendall_tau_b(&numbers(&case["x"]), &numbers(&case["y"])).unwrap();
        assert!(
            (tau - case["tau_b"].as_f64().unwrap()).abs() < 1e-12,
            "{case}"
        );
    }
}
