//! Decontamination catch rates: plant HumanEval and MBPP prompts and solutions in files of
//! ordinary code (verbatim, reformatted, with renamed identifiers) and count what each method
//! (exact substring, n-gram overlap) catches; then count what they flag in a clean corpus.
//!
//! Usage: `cargo run --release -p crucible-core --example decontam_plants -- DATA_DIR [CORPUS.jsonl]`

#![allow(clippy::print_stdout, reason = "an example that prints its figures")]

use std::io::BufRead;

use crucible_core::curate::benchmark_references;
use crucible_core::curation::decontam::{DecontamConfig, Index, Reference};
use crucible_core::eval::DataDirs;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let data = args
        .next()
        .ok_or("usage: decontam_plants DATA_DIR [CORPUS.jsonl]")?;
    let corpus = args.next();
    let dirs = DataDirs::resolve(Some(data.as_ref()), None, &std::env::current_dir()?, None);
    let references = benchmark_references(&dirs)?;
    let exact = Index::build(
        &DecontamConfig {
            ngram: false,
            ..DecontamConfig::default()
        },
        references.clone(),
    )?;
    let ngram = Index::build(
        &DecontamConfig {
            exact: false,
            ..DecontamConfig::default()
        },
        references.clone(),
    )?;
    println!(
        "references: {} ({} usable by exact, {} by n-grams)",
        references.len(),
        exact.usable_exact,
        ngram.usable_ngram
    );
    let filler_before = "import os\nimport sys\n\n\ndef helper(path):\n    with open(path) as handle:\n        return handle.read().split()\n\n\n";
    let filler_after = "\n\nif __name__ == \"__main__\":\n    print(helper(sys.argv[1]))\n";
    for benchmark in ["humaneval", "mbpp"] {
        let plants = plants(&references, benchmark);
        for (variant, make) in [
            ("verbatim", (|s: &str| s.to_owned()) as fn(&str) -> String),
            ("reformatted", reformat),
            ("renamed", rename),
        ] {
            for part in ["prompt", "solution", "prompt+solution"] {
                let docs: Vec<String> = plants
                    .iter()
                    .filter_map(|p| {
                        p.get(part)
                            .map(|text| format!("{filler_before}{}{filler_after}", make(text)))
                    })
                    .collect();
                let caught = |index: &Index, exact_method: bool| {
                    docs.iter()
                        .filter(|d| {
                            if exact_method {
                                index.check_exact(d).is_some()
                            } else {
                                index.check_ngrams(d).is_some()
                            }
                        })
                        .count()
                };
                let (e, g) = (caught(&exact, true), caught(&ngram, false));
                let either = docs
                    .iter()
                    .filter(|d| exact.check_exact(d).is_some() || ngram.check_ngrams(d).is_some())
                    .count();
                println!(
                    "{benchmark:9} {variant:11} {part:15} n={:4}  exact {:5.1}%  ngram {:5.1}%  either {:5.1}%",
                    docs.len(),
                    pct(e, docs.len()),
                    pct(g, docs.len()),
                    pct(either, docs.len())
                );
            }
        }
    }
    if let Some(corpus) = corpus {
        let reader = std::io::BufReader::new(std::fs::File::open(&corpus)?);
        let (mut n, mut e, mut g) = (0usize, 0usize, 0usize);
        for line in reader.lines() {
            let value: serde_json::Value = serde_json::from_str(&line?)?;
            let text = value
                .get("content")
                .or_else(|| value.get("text"))
                .and_then(|v| v.as_str())
                .unwrap_or_default();
            n += 1;
            if let Some(hit) = exact.check_exact(text) {
                e += 1;
                let r = exact.reference(hit.reference);
                println!(
                    "corpus exact hit: {} -> {} {} {}",
                    value["id"], r.benchmark, r.task_id, r.field
                );
            }
            if let Some(hit) = ngram.check_ngrams(text) {
                g += 1;
                let r = ngram.reference(hit.reference);
                println!(
                    "corpus ngram hit: {} -> {} {} {} ({:.2})",
                    value["id"], r.benchmark, r.task_id, r.field, hit.overlap
                );
            }
        }
        println!(
            "clean corpus: {n} documents flagged: exact {e} ({:.3}%), ngram {g} ({:.3}%)",
            pct(e, n),
            pct(g, n)
        );
    }
    Ok(())
}

fn pct(part: usize, whole: usize) -> f64 {
    100.0 * part as f64 / whole.max(1) as f64
}

/// Per task: `prompt`, `solution`, and `prompt+solution` (a HumanEval solution continues its
/// prompt; an MBPP solution stands alone after its description as a comment).
fn plants(
    references: &[Reference],
    benchmark: &str,
) -> Vec<std::collections::HashMap<&'static str, String>> {
    let mut by_task: std::collections::BTreeMap<
        &str,
        std::collections::HashMap<&'static str, String>,
    > = Default::default();
    for r in references.iter().filter(|r| r.benchmark == benchmark) {
        let entry = by_task.entry(r.task_id.as_str()).or_default();
        let field = if r.field == "prompt" {
            "prompt"
        } else {
            "solution"
        };
        entry.insert(field, r.text.clone());
    }
    by_task
        .into_values()
        .filter(|t| t.contains_key("prompt") && t.contains_key("solution"))
        .map(|mut t| {
            let joined = if benchmark == "humaneval" {
                format!("{}{}", t["prompt"], t["solution"])
            } else {
                format!("# {}\n{}", t["prompt"], t["solution"])
            };
            t.insert("prompt+solution", joined);
            t
        })
        .collect()
}

/// Same tokens, other layout: 4-space indents become 2, spaces after commas go, blank lines go.
fn reformat(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let indent = line.len() - line.trim_start().len();
        out.push_str(&" ".repeat(indent / 2));
        out.push_str(&line.trim_start().replace(", ", ","));
        out.push('\n');
    }
    out
}

/// Rename the functions a text defines and their parameters (`def name(a, b)`), everywhere.
fn rename(text: &str) -> String {
    let mut names: Vec<String> = Vec::new();
    for line in text.lines() {
        let Some(rest) = line.trim_start().strip_prefix("def ") else {
            continue;
        };
        let Some((name, params)) = rest.split_once('(') else {
            continue;
        };
        names.push(name.trim().to_owned());
        let params = params.split(')').next().unwrap_or_default();
        for param in params.split(',') {
            let param = param
                .split([':', '='])
                .next()
                .unwrap_or_default()
                .trim()
                .trim_start_matches('*');
            if !param.is_empty() && param != "self" {
                names.push(param.to_owned());
            }
        }
    }
    let mut out = text.to_owned();
    for (idx, name) in names.iter().enumerate() {
        out = replace_word(&out, name, &format!("v{idx}_renamed"));
    }
    out
}

fn replace_word(text: &str, word: &str, with: &str) -> String {
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find(word) {
        let before_ok = rest[..pos].chars().next_back().is_none_or(|c| !is_word(c));
        let after_ok = rest[pos + word.len()..]
            .chars()
            .next()
            .is_none_or(|c| !is_word(c));
        out.push_str(&rest[..pos]);
        out.push_str(if before_ok && after_ok { with } else { word });
        rest = &rest[pos + word.len()..];
    }
    out.push_str(rest);
    out
}
