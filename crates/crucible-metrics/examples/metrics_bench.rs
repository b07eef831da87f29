//! Throughput of CodeBLEU and BLEU on a pairs file, for bench/metrics/compare.sh (prints JSON).
//!
//! Usage: metrics_bench PAIRS.jsonl LANGUAGE [ROUNDS]
//! PAIRS.jsonl holds {"prediction", "reference"} objects (bench/metrics/make_bench_pairs.py).
//! Each round scores every pair on its own (per-pair CodeBLEU with the package's rules, and
//! sacrebleu-style sentence BLEU), one thread, with a new CodeBLEU scorer: a reference that
//! several pairs share is analysed once per round, as in a run that scores several samples of
//! a task, and no round reuses another's work. The medians of the rounds are printed.

use std::time::Instant;

use crucible_metrics::bleu::{Bleu, BleuParams};
use crucible_metrics::codebleu::{CodeBleu, CodeBleuParams};
use crucible_syntax::SyntaxLanguage;

#[expect(
    clippy::print_stdout,
    reason = "a benchmark driver that prints its result"
)]
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: metrics_bench PAIRS.jsonl LANGUAGE [ROUNDS]";
    let path = args.get(1).expect(usage);
    let language =
        SyntaxLanguage::from_name(args.get(2).expect(usage)).unwrap_or_else(|err| panic!("{err}"));
    let rounds: usize = args.get(3).and_then(|r| r.parse().ok()).unwrap_or(3);
    let text = std::fs::read_to_string(path).unwrap_or_else(|err| panic!("{path}: {err}"));
    let pairs: Vec<(String, String)> = text
        .lines()
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
            (
                value["prediction"]
                    .as_str()
                    .expect("prediction")
                    .to_string(),
                value["reference"].as_str().expect("reference").to_string(),
            )
        })
        .collect();
    let bleu = Bleu::new(BleuParams::sentence());
    let mut codebleu_secs = Vec::new();
    let mut bleu_secs = Vec::new();
    let mut checksum = 0.0;
    for _ in 0..rounds {
        let started = Instant::now();
        let mut codebleu = CodeBleu::new(language, CodeBleuParams::package())
            .unwrap_or_else(|err| panic!("{err}"));
        for (prediction, reference) in &pairs {
            checksum += codebleu
                .score_pair(prediction, reference)
                .expect("score")
                .codebleu;
        }
        codebleu_secs.push(started.elapsed().as_secs_f64());
        let started = Instant::now();
        for (prediction, reference) in &pairs {
            checksum += bleu
                .sentence(prediction, &[reference])
                .expect("score")
                .score;
        }
        bleu_secs.push(started.elapsed().as_secs_f64());
    }
    let median = |mut values: Vec<f64>| {
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    let (codebleu_median, bleu_median) = (median(codebleu_secs.clone()), median(bleu_secs.clone()));
    println!(
        "{{\"impl\": \"crucible-metrics\", \"pairs\": {}, \"rounds_codebleu_s\": {codebleu_secs:?}, \"rounds_bleu_s\": {bleu_secs:?}, \"codebleu_pairs_per_s\": {}, \"bleu_pairs_per_s\": {}, \"checksum\": {checksum}}}",
        pairs.len(),
        pairs.len() as f64 / codebleu_median,
        pairs.len() as f64 / bleu_median,
    );
}
