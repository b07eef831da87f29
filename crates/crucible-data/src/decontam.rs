//! Decontamination: find benchmark prompts and solutions inside training documents, by exact
//! substring and by token n-gram overlap.
//!
//! ## What it does
//! - **Exact substring.** A document is contaminated when it contains a reference text (trimmed)
//!   of at least `exact_min_chars` characters verbatim. References are found through an
//!   Aho-Corasick automaton over their first [`ANCHOR_BYTES`] bytes; each anchor hit is then
//!   checked against the whole reference.
//! - **N-gram overlap.** Texts become word tokens (as for MinHash: case, punctuation and layout
//!   ignored); a document is contaminated when it contains at least `ngram_overlap` of a
//!   reference's distinct `ngram`-token n-grams. N-grams shared by more than `max_ngram_refs`
//!   reference texts (boilerplate such as `import java.util.*; ... class Solution {`) are
//!   ignored, and references with fewer than `ngram` tokens are left to the exact check.
//!
//! ## Why
//! BigCode decontaminated StarCoder's data by exact substring of the HumanEval, MBPP, APPS and
//! MultiPL-E prompts and solutions; datatrove uses 12-gram overlap. The exact check misses any
//! reformatting; the n-gram check sees through layout changes and, for prompts, through renamed
//! identifiers (their docstrings keep their words). docs/RESULTS.md measures both.
//!
//! This module knows nothing about benchmarks: callers pass [`Reference`]s (Crucible's come from
//! `crucible-eval`'s loaders, assembled in `crucible-core`).

use std::collections::{HashMap, HashSet};

use aho_corasick::AhoCorasick;
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64;

use crate::minhash::token_hashes;

/// Bytes of each reference fed to the automaton.
pub const ANCHOR_BYTES: usize = 48;

/// One benchmark text to keep out of training data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reference {
    /// Benchmark name, e.g. `humaneval`.
    pub benchmark: String,
    /// Task id, e.g. `HumanEval/0`.
    pub task_id: String,
    /// `prompt` or `solution`.
    pub field: String,
    /// The text.
    pub text: String,
    /// Whether the n-gram check uses it (derived texts, such as infilling spans cut from
    /// another benchmark's solutions, only take part in the exact check).
    #[serde(default = "yes")]
    pub ngram: bool,
}

fn yes() -> bool {
    true
}

/// Settings of the decontamination stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DecontamConfig {
    /// Run the stage.
    pub enabled: bool,
    /// Run the exact-substring check.
    pub exact: bool,
    /// Shortest reference (in characters, trimmed) the exact check uses; shorter ones match
    /// ordinary code by chance.
    pub exact_min_chars: usize,
    /// Run the n-gram check.
    pub ngram: bool,
    /// Tokens per n-gram.
    pub ngram_size: usize,
    /// Fraction of a reference's n-grams a document must contain.
    pub ngram_overlap: f64,
    /// N-grams found in more reference texts than this are boilerplate and ignored.
    pub max_ngram_refs: usize,
}

impl Default for DecontamConfig {
    fn default() -> Self {
        DecontamConfig {
            enabled: true,
            exact: true,
            exact_min_chars: 50,
            ngram: true,
            ngram_size: 12,
            ngram_overlap: 0.5,
            max_ngram_refs: 50,
        }
    }
}

/// What matched.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// `exact_substring` or `ngram_overlap`.
    pub method: &'static str,
    /// Index into the references.
    pub reference: usize,
    /// For n-grams: the fraction of the reference's n-grams found.
    pub overlap: f64,
}

/// The references, indexed for both checks.
#[derive(Debug)]
pub struct Index {
    config: DecontamConfig,
    references: Vec<Reference>,
    exact_texts: Vec<(usize, String)>,
    automaton: Option<AhoCorasick>,
    /// Anchor pattern id -> the exact texts starting with it.
    anchor_refs: Vec<Vec<usize>>,
    /// N-gram hash -> references containing it.
    ngrams: HashMap<u64, Vec<u32>>,
    /// Distinct usable n-grams per reference.
    ngram_totals: Vec<u32>,
    /// Counts for the summary: references usable by each check.
    pub usable_exact: usize,
    pub usable_ngram: usize,
}

impl Index {
    /// Index `references` for `config`.
    pub fn build(config: &DecontamConfig, references: Vec<Reference>) -> crate::Result<Self> {
        let mut exact_texts = Vec::new();
        let mut anchors: Vec<String> = Vec::new();
        let mut anchor_ids: HashMap<String, usize> = HashMap::new();
        let mut anchor_refs: Vec<Vec<usize>> = Vec::new();
        if config.exact {
            let mut seen = HashSet::new();
            for (idx, reference) in references.iter().enumerate() {
                let text = reference.text.trim();
                if text.chars().count() < config.exact_min_chars || !seen.insert(text.to_owned()) {
                    continue;
                }
                let mut cut = ANCHOR_BYTES.min(text.len());
                while !text.is_char_boundary(cut) {
                    cut -= 1;
                }
                let anchor = text[..cut].to_owned();
                let id = *anchor_ids.entry(anchor.clone()).or_insert_with(|| {
                    anchors.push(anchor);
                    anchor_refs.push(Vec::new());
                    anchors.len() - 1
                });
                anchor_refs[id].push(exact_texts.len());
                exact_texts.push((idx, text.to_owned()));
            }
        }
        let automaton = if anchors.is_empty() {
            None
        } else {
            Some(AhoCorasick::new(&anchors).map_err(|err| {
                crate::Error::Config(format!(
                    "cannot index the decontamination references: {err}"
                ))
            })?)
        };
        let (ngrams, ngram_totals) = if config.ngram {
            ngram_index(config, &references)
        } else {
            (HashMap::new(), vec![0; references.len()])
        };
        let usable_ngram = ngram_totals.iter().filter(|&&n| n > 0).count();
        Ok(Index {
            usable_exact: exact_texts.len(),
            usable_ngram,
            config: config.clone(),
            references,
            exact_texts,
            automaton,
            anchor_refs,
            ngrams,
            ngram_totals,
        })
    }

    /// The reference at `idx`.
    pub fn reference(&self, idx: usize) -> &Reference {
        &self.references[idx]
    }

    /// Number of references.
    pub fn len(&self) -> usize {
        self.references.len()
    }

    /// Whether there are no references.
    pub fn is_empty(&self) -> bool {
        self.references.is_empty()
    }

    /// The first check that finds a reference in `text`: exact first, then n-grams.
    pub fn check(&self, text: &str) -> Option<Hit> {
        self.check_exact(text).or_else(|| self.check_ngrams(text))
    }

    /// The exact-substring check alone.
    pub fn check_exact(&self, text: &str) -> Option<Hit> {
        let automaton = self.automaton.as_ref()?;
        for m in automaton.find_overlapping_iter(text) {
            for &slot in &self.anchor_refs[m.pattern().as_usize()] {
                let (reference, whole) = &self.exact_texts[slot];
                if text[m.start()..].starts_with(whole.as_str()) {
                    return Some(Hit {
                        method: "exact_substring",
                        reference: *reference,
                        overlap: 1.0,
                    });
                }
            }
        }
        None
    }

    /// The n-gram check alone.
    pub fn check_ngrams(&self, text: &str) -> Option<Hit> {
        if self.ngrams.is_empty() {
            return None;
        }
        let tokens = token_hashes(text);
        let mut seen: HashSet<u64> = HashSet::new();
        let mut counts: HashMap<u32, u32> = HashMap::new();
        for window in tokens.windows(self.config.ngram_size) {
            let gram = ngram_hash(window);
            if let Some(refs) = self.ngrams.get(&gram)
                && seen.insert(gram)
            {
                for &reference in refs {
                    *counts.entry(reference).or_insert(0) += 1;
                }
            }
        }
        let mut best: Option<Hit> = None;
        for (reference, found) in counts {
            let total = self.ngram_totals[reference as usize];
            let overlap = f64::from(found) / f64::from(total.max(1));
            let better = best.as_ref().is_none_or(|b| {
                overlap > b.overlap || (overlap == b.overlap && (reference as usize) < b.reference)
            });
            if overlap >= self.config.ngram_overlap && better {
                best = Some(Hit {
                    method: "ngram_overlap",
                    reference: reference as usize,
                    overlap,
                });
            }
        }
        best
    }
}

fn ngram_index(
    config: &DecontamConfig,
    references: &[Reference],
) -> (HashMap<u64, Vec<u32>>, Vec<u32>) {
    let mut index: HashMap<u64, Vec<u32>> = HashMap::new();
    let mut per_ref: Vec<HashSet<u64>> = Vec::with_capacity(references.len());
    let mut seen_texts: HashSet<&str> = HashSet::new();
    for (idx, reference) in references.iter().enumerate() {
        let mut grams = HashSet::new();
        if reference.ngram && seen_texts.insert(reference.text.trim()) {
            let tokens = token_hashes(&reference.text);
            for window in tokens.windows(config.ngram_size.max(1)) {
                grams.insert(ngram_hash(window));
            }
            for &gram in &grams {
                index.entry(gram).or_default().push(idx as u32);
            }
        }
        per_ref.push(grams);
    }
    let common: HashSet<u64> = index
        .iter()
        .filter(|(_, refs)| refs.len() > config.max_ngram_refs)
        .map(|(gram, _)| *gram)
        .collect();
    index.retain(|gram, _| !common.contains(gram));
    let totals = per_ref
        .iter()
        .map(|grams| grams.iter().filter(|g| !common.contains(*g)).count() as u32)
        .collect();
    (index, totals)
}

fn ngram_hash(tokens: &[u64]) -> u64 {
    let mut bytes = Vec::with_capacity(tokens.len() * 8);
    for token in tokens {
        bytes.extend_from_slice(&token.to_le_bytes());
    }
    xxh3_64(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(field: &str, text: &str) -> Reference {
        Reference {
            benchmark: "humaneval".into(),
            task_id: "HumanEval/0".into(),
            field: field.into(),
            text: text.into(),
            ngram: true,
        }
    }

    const PROMPT: &str = "def has_close_elements(numbers, threshold):\n    \"\"\" Check if in given list of numbers, are any two numbers closer to each other than\n    given threshold.\n    \"\"\"\n";

    #[test]
    fn exact_finds_verbatim_copies_only() {
        let index = Index::build(
            &DecontamConfig::default(),
            vec![reference("prompt", PROMPT)],
        )
        .unwrap();
        let doc = format!("import os\n{PROMPT}    return False\n");
        assert_eq!(
            index.check_exact(&doc).map(|h| h.method),
            Some("exact_substring")
        );
        let reformatted = doc.replace("    ", "\t");
        assert_eq!(index.check_exact(&reformatted), None);
        assert_eq!(
            index.check_ngrams(&reformatted).map(|h| h.method),
            Some("ngram_overlap")
        );
        assert_eq!(index.check("def unrelated(x):\n    return x * 2\n"), None);
    }

    #[test]
    fn short_references_are_left_out_of_the_exact_check() {
        let index = Index::build(
            &DecontamConfig::default(),
            vec![reference("solution", "return x")],
        )
        .unwrap();
        assert_eq!(index.usable_exact, 0);
        assert_eq!(index.check("return x"), None);
    }

    #[test]
    fn boilerplate_ngrams_are_ignored() {
        let config = DecontamConfig {
            max_ngram_refs: 1,
            ngram_size: 3,
            ..DecontamConfig::default()
        };
        let refs = vec![
            reference("prompt", "import java util class Solution alpha beta gamma"),
            reference(
                "prompt",
                "import java util class Solution delta epsilon zeta",
            ),
        ];
        let index = Index::build(&config, refs).unwrap();
        assert_eq!(
            index.check_ngrams("import java util class Solution public static"),
            None
        );
        assert!(index.check_ngrams("Solution alpha beta gamma").is_some());
    }
}
