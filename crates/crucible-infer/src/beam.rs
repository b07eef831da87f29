//! Beam search (survey eq. 14) over any model that can extend a set of hypotheses.
//!
//! The search keeps `width` live hypotheses. At each step every live hypothesis proposes its
//! `2 * width` best next tokens; the best `width` extensions that do not end the sequence stay
//! live, and those that end it are scored as `logprob / length ^ length_penalty` and kept as
//! finished. The search stops when no live hypothesis can still beat the worst of `width`
//! finished ones, when every hypothesis has ended, or at the token limit.

use crate::sampler::{TokenId, log_softmax};

/// What beam search needs from a model.
pub trait BeamModel {
    /// The error a model step can fail with.
    type Error;

    /// Logits for the next token of live hypothesis `beam` (after the last `advance`, or of
    /// the prompt when no step has been taken; then only beam 0 exists).
    fn logits(&self, beam: usize) -> &[f32];

    /// Replace the live set: new hypothesis `i` continues old hypothesis `parents[i]` with
    /// `tokens[i]`. After this call `logits(i)` refers to the new hypothesis.
    fn advance(&mut self, parents: &[usize], tokens: &[TokenId]) -> Result<(), Self::Error>;

    /// Whether `token` ends a sequence (end of generation).
    fn is_end(&self, token: TokenId) -> bool;

    /// Whether the generated `tokens` already contain a stop sequence.
    fn hits_stop(&self, tokens: &[TokenId]) -> bool;
}

/// Search settings.
#[derive(Debug, Clone, Copy)]
pub struct BeamParams {
    pub width: usize,
    pub length_penalty: f32,
    pub max_new_tokens: usize,
}

/// A finished hypothesis.
#[derive(Debug, Clone, PartialEq)]
pub struct Hypothesis {
    /// Generated tokens, without the end token.
    pub tokens: Vec<TokenId>,
    /// Sum of token log-probabilities (the end token included when there was one).
    pub logprob: f64,
    /// `logprob / len ^ length_penalty`, the ranking key.
    pub score: f64,
    /// Whether the model ended it (end token or stop sequence) rather than the token limit.
    pub ended: bool,
}

/// Run beam search; return up to `width` hypotheses, best first.
pub fn beam_search<M: BeamModel>(
    model: &mut M,
    params: BeamParams,
) -> Result<Vec<Hypothesis>, M::Error> {
    let width = params.width.max(1);
    let mut live = vec![Live {
        tokens: Vec::new(),
        logprob: 0.0,
    }];
    let mut finished: Vec<Hypothesis> = Vec::new();
    let mut logprobs = Vec::new();
    for step in 0..params.max_new_tokens {
        let mut proposals = Vec::with_capacity(live.len() * 2 * width);
        for (beam, hyp) in live.iter().enumerate() {
            log_softmax(model.logits(beam), &mut logprobs);
            for (token, lp) in top_n(&logprobs, 2 * width) {
                proposals.push((hyp.logprob + f64::from(lp), beam, token));
            }
        }
        proposals.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        let mut next = Vec::with_capacity(width);
        let mut parents = Vec::with_capacity(width);
        let mut tokens = Vec::with_capacity(width);
        for (logprob, parent, token) in proposals {
            if next.len() == width {
                break;
            }
            // A token the model rules out (probability 0) is never a hypothesis.
            if !logprob.is_finite() {
                continue;
            }
            let mut seq = live[parent].tokens.clone();
            if model.is_end(token) {
                finished.push(finish(seq, logprob, params.length_penalty, true));
                continue;
            }
            seq.push(token);
            if model.hits_stop(&seq) {
                finished.push(finish(seq, logprob, params.length_penalty, true));
                continue;
            }
            next.push(Live {
                tokens: seq,
                logprob,
            });
            parents.push(parent);
            tokens.push(token);
        }
        finished.sort_by(|a, b| b.score.total_cmp(&a.score));
        finished.truncate(width);
        let last_step = step + 1 == params.max_new_tokens;
        if next.is_empty() || done(&finished, &next, width, params.length_penalty) {
            live = next;
            break;
        }
        live = next;
        if last_step {
            break;
        }
        model.advance(&parents, &tokens)?;
    }
    // Hypotheses cut by the token limit compete with the finished ones.
    for hyp in live {
        finished.push(finish(
            hyp.tokens,
            hyp.logprob,
            params.length_penalty,
            false,
        ));
    }
    finished.sort_by(|a, b| b.score.total_cmp(&a.score));
    finished.truncate(width);
    Ok(finished)
}

#[derive(Debug)]
struct Live {
    tokens: Vec<TokenId>,
    logprob: f64,
}

fn finish(tokens: Vec<TokenId>, logprob: f64, length_penalty: f32, ended: bool) -> Hypothesis {
    let len = tokens.len().max(1) as f64;
    Hypothesis {
        score: logprob / len.powf(f64::from(length_penalty)),
        tokens,
        logprob,
        ended,
    }
}

/// Whether more steps cannot improve the finished set. Log-probabilities only fall as a
/// hypothesis grows, so with a non-negative length penalty a live hypothesis's best possible
/// final score is bounded by its current log-probability over the longest length it could
/// reach; we use its current length, the usual heuristic, which is exact for penalty 0.
fn done(finished: &[Hypothesis], live: &[Live], width: usize, length_penalty: f32) -> bool {
    if finished.len() < width {
        return false;
    }
    let worst = finished.last().map_or(f64::NEG_INFINITY, |h| h.score);
    live.iter().all(|hyp| {
        let len = (hyp.tokens.len().max(1)) as f64;
        hyp.logprob / len.powf(f64::from(length_penalty)) <= worst
    })
}

/// The `n` largest entries as (index, value), largest first, lowest index first among ties.
fn top_n(values: &[f32], n: usize) -> Vec<(TokenId, f32)> {
    let mut idx: Vec<(TokenId, f32)> = values
        .iter()
        .enumerate()
        .map(|(i, &v)| (i as TokenId, v))
        .collect();
    let order = |a: &(TokenId, f32), b: &(TokenId, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
    if n < idx.len() {
        idx.select_nth_unstable_by(n - 1, order);
        idx.truncate(n);
    }
    idx.sort_unstable_by(order);
    idx
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// A toy language model: next-token probabilities keyed by the generated prefix.
    /// Token 0 is the end token. Unlisted prefixes end with certainty.
    struct Toy {
        table: HashMap<Vec<TokenId>, Vec<f32>>,
        live: Vec<Vec<TokenId>>,
        logits: Vec<Vec<f32>>,
        advances: usize,
    }

    impl Toy {
        fn new(entries: &[(&[TokenId], &[f32])]) -> Toy {
            let table = entries
                .iter()
                .map(|(prefix, probs)| (prefix.to_vec(), probs.iter().map(|p| p.ln()).collect()))
                .collect();
            let mut toy = Toy {
                table,
                live: vec![vec![]],
                logits: vec![],
                advances: 0,
            };
            toy.refresh();
            toy
        }

        fn refresh(&mut self) {
            let end_only = vec![0.0, f32::NEG_INFINITY, f32::NEG_INFINITY, f32::NEG_INFINITY];
            self.logits = self
                .live
                .iter()
                .map(|p| {
                    self.table
                        .get(p)
                        .cloned()
                        .unwrap_or_else(|| end_only.clone())
                })
                .collect();
        }
    }

    impl BeamModel for Toy {
        type Error = ();
        fn logits(&self, beam: usize) -> &[f32] {
            &self.logits[beam]
        }
        fn advance(&mut self, parents: &[usize], tokens: &[TokenId]) -> Result<(), ()> {
            self.live = parents
                .iter()
                .zip(tokens)
                .map(|(&p, &t)| {
                    let mut seq = self.live[p].clone();
                    seq.push(t);
                    seq
                })
                .collect();
            self.advances += 1;
            self.refresh();
            Ok(())
        }
        fn is_end(&self, token: TokenId) -> bool {
            token == 0
        }
        fn hits_stop(&self, tokens: &[TokenId]) -> bool {
            tokens.ends_with(&[3, 3])
        }
    }

    /// Greedy takes token 1 (0.6) and then faces a flat continuation; beam search finds the
    /// sequence 2,2 whose joint probability 0.4 * 0.9 = 0.36 beats 0.6 * 0.5 = 0.30.
    fn garden_path() -> Toy {
        Toy::new(&[
            (&[], &[0.0, 0.6, 0.4, 0.0]),
            (&[1], &[0.0, 0.5, 0.5, 0.0]),
            (&[2], &[0.0, 0.05, 0.9, 0.05]),
            (&[1, 1], &[1.0, 0.0, 0.0, 0.0]),
            (&[1, 2], &[1.0, 0.0, 0.0, 0.0]),
            (&[2, 2], &[1.0, 0.0, 0.0, 0.0]),
        ])
    }

    fn params(width: usize, length_penalty: f32) -> BeamParams {
        BeamParams {
            width,
            length_penalty,
            max_new_tokens: 10,
        }
    }

    #[test]
    fn width_one_is_greedy() {
        let best = beam_search(&mut garden_path(), params(1, 0.0)).unwrap();
        assert_eq!(best[0].tokens, vec![1, 1]);
        assert!((best[0].logprob - (0.6f64 * 0.5).ln()).abs() < 1e-5);
    }

    #[test]
    fn wider_beam_finds_the_better_sequence() {
        let best = beam_search(&mut garden_path(), params(2, 0.0)).unwrap();
        assert_eq!(best[0].tokens, vec![2, 2]);
        assert!((best[0].logprob - (0.4f64 * 0.9).ln()).abs() < 1e-5);
        assert!(best[0].ended);
        assert_eq!(best.len(), 2);
        assert!(best[0].score >= best[1].score);
    }

    /// Ending at once has probability 0.45; the only long alternative, three tokens, has
    /// 0.55 * 0.9 * 0.9 = 0.4455. Raw log-probability prefers the empty sequence; dividing by
    /// the length (penalty 1) prefers the long one.
    fn short_or_long() -> Toy {
        Toy::new(&[
            (&[], &[0.45, 0.55, 0.0, 0.0]),
            (&[1], &[0.1, 0.9, 0.0, 0.0]),
            (&[1, 1], &[0.1, 0.9, 0.0, 0.0]),
            (&[1, 1, 1], &[1.0, 0.0, 0.0, 0.0]),
        ])
    }

    #[test]
    fn length_normalisation_prefers_longer_when_penalised() {
        let raw = beam_search(&mut short_or_long(), params(2, 0.0)).unwrap();
        assert_eq!(raw[0].tokens, Vec::<TokenId>::new());
        let normalised = beam_search(&mut short_or_long(), params(2, 1.0)).unwrap();
        assert_eq!(normalised[0].tokens, vec![1, 1, 1]);
        assert!((normalised[0].score - (0.4455f64).ln() / 3.0).abs() < 1e-5);
    }

    #[test]
    fn stop_sequences_end_hypotheses() {
        let mut toy = Toy::new(&[(&[], &[0.0, 0.0, 0.0, 1.0]), (&[3], &[0.0, 0.0, 0.0, 1.0])]);
        let best = beam_search(&mut toy, params(1, 0.0)).unwrap();
        assert_eq!(best[0].tokens, vec![3, 3]);
        assert!(best[0].ended);
    }

    #[test]
    fn token_limit_returns_unfinished_hypotheses() {
        let mut toy = Toy::new(&[(&[], &[0.0, 1.0, 0.0, 0.0]), (&[1], &[0.0, 1.0, 0.0, 0.0])]);
        let best = beam_search(
            &mut toy,
            BeamParams {
                width: 2,
                length_penalty: 0.0,
                max_new_tokens: 2,
            },
        )
        .unwrap();
        assert_eq!(best[0].tokens, vec![1, 1]);
        assert!(!best[0].ended);
        // Two steps need one advance: the first token comes from the prompt's logits.
        assert_eq!(toy.advances, 1);
    }
}
