//! BLEU as sacrebleu computes it, and CodeXGLUE's smoothed sentence BLEU.
//!
//! [`Bleu`] reproduces sacrebleu (2.x): the `13a` tokeniser (mteval-v13a's rules) or none,
//! optional lowercasing, n-grams up to 4 clipped by the most generous reference, the closest
//! reference length (the shorter on a tie), and the smoothing methods `exp` (sacrebleu's
//! default, mteval's "smooth the first zero precision by 1/2, the next by 1/4, ..."), `floor`
//! (a zero precision becomes `value/total`, default 0.1), `add-k` (k added to numerator and
//! denominator of orders 2 to 4, default 1) and `none`. Scores are on sacrebleu's 0-100 scale.
//! [`BleuScore::signature`] names what was used, in sacrebleu's format, so a number can be
//! compared with another only when the signatures match.
//!
//! Sentence BLEU uses the effective order by default (orders with no n-gram in the hypothesis
//! are left out of the mean), as sacrebleu's `sentence_bleu` does.
//!
//! [`codexglue_smoothed_bleu`] is the smoothed BLEU-4 of CodeXGLUE's code-to-text evaluator
//! (Lin and Och 2004, add-one smoothing on orders 2 to 4): text lowercased, split into words
//! and single punctuation characters, then tokenised again by mteval's rules; brevity penalty
//! `min(0, 1 - (r + 1)/(c + 1))` in log space with the shortest reference; the corpus score is
//! the mean of the sentence scores. On a 0-1 scale (CodeXGLUE prints it times 100).

use rustc_hash::FxHashMap as HashMap;

use serde::{Deserialize, Serialize};

use crate::Error;

/// How text is split into tokens before counting n-grams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tokenizer {
    /// mteval-v13a's rules (sacrebleu's default): punctuation split off, `.`/`,` kept inside numbers.
    Mteval13a,
    /// Whitespace only (sacrebleu's `none`).
    None,
}

impl Tokenizer {
    /// The name in sacrebleu's signature.
    pub fn name(self) -> &'static str {
        match self {
            Tokenizer::Mteval13a => "13a",
            Tokenizer::None => "none",
        }
    }

    /// The tokens of `line`.
    pub fn tokenize(self, line: &str) -> Vec<String> {
        match self {
            Tokenizer::None => line.split_whitespace().map(str::to_string).collect(),
            Tokenizer::Mteval13a => tokenize_13a(line),
        }
    }
}

/// How zero n-gram matches are smoothed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "method", content = "value")]
pub enum Smoothing {
    /// No smoothing: a zero precision makes the score 0.
    None,
    /// mteval's exponential smoothing (sacrebleu's default).
    Exp,
    /// A zero precision becomes `value / total` (sacrebleu default 0.1).
    Floor(f64),
    /// `k` added to the counts of orders 2 to 4 (sacrebleu default 1).
    AddK(f64),
}

impl Smoothing {
    fn signature(self) -> String {
        match self {
            Smoothing::None => "none".to_string(),
            Smoothing::Exp => "exp".to_string(),
            Smoothing::Floor(value) => format!("floor[{value:.2}]"),
            Smoothing::AddK(value) => format!("add-k[{value}]"),
        }
    }
}

/// BLEU's knobs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BleuParams {
    /// The tokeniser.
    pub tokenizer: Tokenizer,
    /// The smoothing.
    pub smoothing: Smoothing,
    /// Lowercase hypothesis and references first.
    pub lowercase: bool,
    /// Leave out of the mean the orders the hypothesis has no n-gram of.
    pub effective_order: bool,
}

impl BleuParams {
    /// sacrebleu's `corpus_bleu` defaults: 13a, exp smoothing, case-sensitive.
    pub fn corpus() -> BleuParams {
        BleuParams {
            tokenizer: Tokenizer::Mteval13a,
            smoothing: Smoothing::Exp,
            lowercase: false,
            effective_order: false,
        }
    }

    /// sacrebleu's `sentence_bleu` defaults: as [`BleuParams::corpus`] with the effective order.
    pub fn sentence() -> BleuParams {
        BleuParams {
            effective_order: true,
            ..BleuParams::corpus()
        }
    }
}

/// A BLEU score with what it was computed from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BleuScore {
    /// BLEU, 0-100.
    pub score: f64,
    /// Modified n-gram precisions, 0-100, orders 1 to 4.
    pub precisions: [f64; 4],
    /// Brevity penalty.
    pub brevity_penalty: f64,
    /// Hypothesis length over reference length.
    pub length_ratio: f64,
    /// Hypothesis tokens.
    pub hyp_len: usize,
    /// Effective reference tokens.
    pub ref_len: usize,
    /// sacrebleu-style signature, e.g. `nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp`.
    pub signature: String,
}

/// n-gram statistics summed over a corpus.
#[derive(Debug, Clone, Default)]
struct Stats {
    correct: [f64; 4],
    total: [f64; 4],
    hyp_len: usize,
    ref_len: usize,
}

/// A BLEU scorer with fixed parameters.
#[derive(Debug, Clone, Copy)]
pub struct Bleu {
    params: BleuParams,
}

impl Bleu {
    /// A scorer with `params`.
    pub fn new(params: BleuParams) -> Bleu {
        Bleu { params }
    }

    /// Corpus BLEU: `hypotheses[i]` against `references[i]` (one or more references each).
    pub fn corpus(
        &self,
        hypotheses: &[&str],
        references: &[Vec<&str>],
    ) -> Result<BleuScore, Error> {
        crate::check_corpus(hypotheses.len(), references.len())?;
        let mut stats = Stats::default();
        let mut nrefs = 0;
        for (index, (hypothesis, refs)) in hypotheses.iter().zip(references).enumerate() {
            if refs.is_empty() {
                return Err(Error::MissingReference { index: Some(index) });
            }
            nrefs = nrefs.max(refs.len());
            self.add_sentence(&mut stats, hypothesis, refs);
        }
        Ok(self.score(&stats, nrefs))
    }

    /// Sentence BLEU of one hypothesis against its references.
    pub fn sentence(&self, hypothesis: &str, references: &[&str]) -> Result<BleuScore, Error> {
        if references.is_empty() {
            return Err(Error::MissingReference { index: None });
        }
        let mut stats = Stats::default();
        self.add_sentence(&mut stats, hypothesis, references);
        Ok(self.score(&stats, references.len()))
    }

    fn prepare(&self, text: &str) -> Vec<String> {
        let text = if self.params.lowercase {
            text.to_lowercase()
        } else {
            text.to_string()
        };
        self.params.tokenizer.tokenize(text.trim())
    }

    fn add_sentence(&self, stats: &mut Stats, hypothesis: &str, references: &[&str]) {
        let hyp = self.prepare(hypothesis);
        let refs: Vec<Vec<String>> = references
            .iter()
            .map(|reference| self.prepare(reference))
            .collect();
        let mut max_ref: HashMap<&[String], usize> = HashMap::default();
        for reference in &refs {
            for (gram, count) in ngram_counts(reference) {
                let entry = max_ref.entry(gram).or_insert(0);
                *entry = (*entry).max(count);
            }
        }
        for (gram, count) in ngram_counts(&hyp) {
            let order = gram.len() - 1;
            stats.total[order] += count as f64;
            stats.correct[order] += count.min(max_ref.get(gram).copied().unwrap_or(0)) as f64;
        }
        stats.hyp_len += hyp.len();
        stats.ref_len += refs
            .iter()
            .map(Vec::len)
            .min_by_key(|len| (len.abs_diff(hyp.len()), *len))
            .unwrap_or(0);
    }

    fn score(&self, stats: &Stats, nrefs: usize) -> BleuScore {
        let params = self.params;
        let mut correct = stats.correct;
        let mut total = stats.total;
        let brevity_penalty = if stats.hyp_len < stats.ref_len {
            if stats.hyp_len > 0 {
                (1.0 - stats.ref_len as f64 / stats.hyp_len as f64).exp()
            } else {
                0.0
            }
        } else {
            1.0
        };
        let mut precisions = [0.0; 4];
        // sacrebleu stops early when nothing matches at any order (its issue #141): the
        // score and every precision are 0, whatever the smoothing.
        let nothing_matches = correct.iter().all(|c| *c == 0.0);
        let mut effective_order = 4;
        let mut smooth_mteval = 1.0;
        for order in 0..4 {
            if nothing_matches {
                break;
            }
            if let Smoothing::AddK(k) = params.smoothing
                && order > 0
            {
                correct[order] += k;
                total[order] += k;
            }
            if total[order] == 0.0 {
                break;
            }
            if params.effective_order {
                effective_order = order + 1;
            }
            if correct[order] == 0.0 {
                match params.smoothing {
                    Smoothing::Exp => {
                        smooth_mteval *= 2.0;
                        precisions[order] = 100.0 / (smooth_mteval * total[order]);
                    }
                    Smoothing::Floor(value) => precisions[order] = 100.0 * value / total[order],
                    Smoothing::None | Smoothing::AddK(_) => {}
                }
            } else {
                precisions[order] = 100.0 * correct[order] / total[order];
            }
        }
        let score = if stats.hyp_len == 0 || nothing_matches {
            0.0
        } else {
            let log_sum: f64 = precisions[..effective_order]
                .iter()
                .map(|precision| {
                    if *precision == 0.0 {
                        -9_999_999_999.0
                    } else {
                        precision.ln()
                    }
                })
                .sum();
            brevity_penalty * (log_sum / effective_order as f64).exp()
        };
        let length_ratio = if stats.ref_len > 0 {
            stats.hyp_len as f64 / stats.ref_len as f64
        } else {
            0.0
        };
        BleuScore {
            score,
            precisions,
            brevity_penalty,
            length_ratio,
            hyp_len: stats.hyp_len,
            ref_len: stats.ref_len,
            signature: format!(
                "nrefs:{nrefs}|case:{}|eff:{}|tok:{}|smooth:{}|impl:crucible-metrics",
                if params.lowercase { "lc" } else { "mixed" },
                if params.effective_order { "yes" } else { "no" },
                params.tokenizer.name(),
                params.smoothing.signature()
            ),
        }
    }
}

fn ngram_counts(tokens: &[String]) -> HashMap<&[String], usize> {
    let mut counts = HashMap::default();
    for n in 1..=4 {
        if tokens.len() < n {
            break;
        }
        for gram in tokens.windows(n) {
            *counts.entry(gram).or_insert(0) += 1;
        }
    }
    counts
}

/// mteval-v13a's punctuation class: `{|}~`, `[\]^_` and backquote, space to `&`, `(` to `+`,
/// `:` to `@`, and `/`.
fn is_13a_punctuation(c: char) -> bool {
    matches!(c, '{'..='~' | '['..='`' | ' '..='&' | '('..='+' | ':'..='@' | '/')
}

/// mteval's language-dependent rules, each a left-to-right, non-overlapping substitution.
fn mteval_rules(text: &str) -> String {
    // 1. Punctuation (the class above) gets spaces around it.
    let mut step = String::with_capacity(text.len() * 2);
    for c in text.chars() {
        if is_13a_punctuation(c) {
            step.push(' ');
            step.push(c);
            step.push(' ');
        } else {
            step.push(c);
        }
    }
    // 2. `([^0-9])([\.,])` -> `\1 \2 `: period and comma unless preceded by a digit.
    let step = substitute_pairs(
        &step,
        |a, b| !a.is_ascii_digit() && matches!(b, '.' | ','),
        |a, b, out| {
            out.push(a);
            out.push(' ');
            out.push(b);
            out.push(' ');
        },
    );
    // 3. `([\.,])([^0-9])` -> ` \1 \2`: unless followed by a digit.
    let step = substitute_pairs(
        &step,
        |a, b| matches!(a, '.' | ',') && !b.is_ascii_digit(),
        |a, b, out| {
            out.push(' ');
            out.push(a);
            out.push(' ');
            out.push(b);
        },
    );
    // 4. `([0-9])(-)` -> `\1 \2 `: a dash after a digit.
    substitute_pairs(
        &step,
        |a, b| a.is_ascii_digit() && b == '-',
        |a, b, out| {
            out.push(a);
            out.push(' ');
            out.push(b);
            out.push(' ');
        },
    )
}

/// A regex substitution of a two-character pattern, scanning left to right without overlaps.
fn substitute_pairs(
    text: &str,
    matches: impl Fn(char, char) -> bool,
    replace: impl Fn(char, char, &mut String),
) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len() + 16);
    let mut at = 0;
    while at < chars.len() {
        if at + 1 < chars.len() && matches(chars[at], chars[at + 1]) {
            replace(chars[at], chars[at + 1], &mut out);
            at += 2;
        } else {
            out.push(chars[at]);
            at += 1;
        }
    }
    out
}

fn tokenize_13a(line: &str) -> Vec<String> {
    let mut text = line
        .replace("<skipped>", "")
        .replace("-\n", "")
        .replace('\n', " ");
    if text.contains('&') {
        text = text
            .replace("&quot;", "\"")
            .replace("&amp;", "&")
            .replace("&lt;", "<")
            .replace("&gt;", ">");
    }
    let text = mteval_rules(&format!(" {text} "));
    text.split_whitespace().map(str::to_string).collect()
}

/// CodeXGLUE's smoothed BLEU-4 of one hypothesis against its references, 0-1.
pub fn codexglue_smoothed_bleu(hypothesis: &str, references: &[&str]) -> Result<f64, Error> {
    if references.is_empty() {
        return Err(Error::MissingReference { index: None });
    }
    let normalize = |text: &str| codexglue_tokens(&split_puncts(&text.trim().to_lowercase()));
    let hyp = normalize(hypothesis);
    let refs: Vec<Vec<String>> = references
        .iter()
        .map(|reference| normalize(reference))
        .collect();
    let mut max_ref: HashMap<&[String], usize> = HashMap::default();
    for reference in &refs {
        for (gram, count) in ngram_counts(reference) {
            let entry = max_ref.entry(gram).or_insert(0);
            *entry = (*entry).max(count);
        }
    }
    let mut correct = [0usize; 4];
    for (gram, count) in ngram_counts(&hyp) {
        correct[gram.len() - 1] += count.min(max_ref.get(gram).copied().unwrap_or(0));
    }
    let tiny = f64::MIN_POSITIVE;
    let mut log_bleu = 0.0;
    for (order, correct) in correct.iter().enumerate() {
        let guess = hyp.len().saturating_sub(order) as f64;
        let add = if order > 0 { 1.0 } else { 0.0 };
        log_bleu += (*correct as f64 + add + tiny).ln() - (guess + add + tiny).ln();
    }
    log_bleu /= 4.0;
    let shortest = refs.iter().map(Vec::len).min().unwrap_or(0) as f64;
    let brevity = f64::min(0.0, 1.0 - (shortest + 1.0) / (hyp.len() as f64 + 1.0));
    Ok((log_bleu + brevity).exp())
}

/// Corpus smoothed BLEU as CodeXGLUE reports it: the mean of the sentence scores, 0-1.
pub fn codexglue_smoothed_bleu_corpus(
    hypotheses: &[&str],
    references: &[Vec<&str>],
) -> Result<f64, Error> {
    crate::check_corpus(hypotheses.len(), references.len())?;
    let mut sum = 0.0;
    for (hypothesis, refs) in hypotheses.iter().zip(references) {
        sum += codexglue_smoothed_bleu(hypothesis, refs)?;
    }
    Ok(sum / hypotheses.len() as f64)
}

/// `' '.join(re.findall(r"[\w]+|[^\s\w]", line))`: words and single punctuation characters.
fn split_puncts(line: &str) -> String {
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    let mut tokens: Vec<String> = Vec::new();
    let mut word = String::new();
    for c in line.chars() {
        if is_word(c) {
            word.push(c);
            continue;
        }
        if !word.is_empty() {
            tokens.push(std::mem::take(&mut word));
        }
        if !crate::pytext::is_space(c) {
            tokens.push(c.to_string());
        }
    }
    if !word.is_empty() {
        tokens.push(word);
    }
    tokens.join(" ")
}

/// The evaluator's `normalize`: mteval's rules after unescaping, on lowercased text.
fn codexglue_tokens(text: &str) -> Vec<String> {
    let text = text
        .replace("<skipped>", "")
        .replace("-\n", "")
        .replace('\n', " ");
    let text = text
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    let text = mteval_rules(&format!(" {} ", text.to_lowercase()));
    text.split_whitespace().map(str::to_string).collect()
}

#[cfg(test)]
mod tests;
