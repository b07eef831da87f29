//! Draft-model speculation: a smaller model with the target's vocabulary proposes the next
//! tokens of every live sequence greedily (one draft-model step per drafted token, all
//! sequences in one batch), and the target verifies them as it verifies prompt-lookup drafts.
//! The load-time checks of a draft model (same vocabulary, smaller than the target) are here.
//!
//! Each sequence has a KV stream in the draft model's own context. Its cells follow the
//! sequence's text lazily: at the next draft, the cells of drafted tokens the target rejected
//! are removed and the tokens the target took since are fed, in the same batch that yields the
//! first drafted token.
//!
//! Drafting is greedy, so the draft distribution is a point mass on the proposed token; the
//! acceptance rule of [`crucible_infer::sampler::Sampler::verify`] with that distribution keeps
//! sampled output distributed as the target's.

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;

use crucible_infer::Error;
use crucible_infer::sampler::{TokenId, greedy};

use crate::backend_error;

/// Where one sequence's cells in the draft model's context stand.
#[derive(Debug, Clone, Default)]
pub(crate) struct DraftCells {
    /// Cells `0..fed` hold the sequence's first `fed` tokens (prompt and accepted text).
    fed: usize,
    /// Tokens fed after those at the last draft: drafted, maybe rejected since.
    tail: Vec<TokenId>,
}

impl DraftCells {
    /// A sequence whose prompt (`prompt_len` tokens) is already in the draft context.
    pub(crate) fn after_prompt(prompt_len: usize) -> DraftCells {
        DraftCells {
            fed: prompt_len,
            tail: Vec::new(),
        }
    }
}

/// Most tokens of one sequence fed in the batch that drafts its first token (the rest is fed
/// before, in chunks): keeps that batch within the context's batch size for the few sequences
/// that draft together.
const CATCH_UP: usize = 64;

/// One sequence asking for a draft.
pub(crate) struct Want<'a> {
    /// Its KV stream (sequence id) in the draft context.
    pub(crate) stream: i32,
    /// Its prompt and generated tokens; the last one is the token about to be fed to the
    /// target.
    pub(crate) history: &'a [TokenId],
    /// How many tokens to draft (at least 1).
    pub(crate) want: usize,
    pub(crate) cells: &'a mut DraftCells,
    /// Where the draft goes (cleared first).
    pub(crate) out: &'a mut Vec<TokenId>,
}

/// Draft `want` tokens for each of `wants` with the draft model in `ctx`: first bring each
/// sequence's cells up to its text (dropping rejected cells), then decode greedily, every
/// sequence that still wants tokens in one batch per step.
pub(crate) fn draft(ctx: &mut LlamaContext<'static>, wants: &mut [Want<'_>]) -> Result<(), Error> {
    if wants.is_empty() {
        return Ok(());
    }
    let drop_err = |err| backend_error(format!("could not drop draft-model cells: {err}"));
    let mut catch_up = 0;
    for want in wants.iter_mut() {
        want.out.clear();
        let cells = &mut *want.cells;
        let kept = cells
            .tail
            .iter()
            .zip(&want.history[cells.fed.min(want.history.len())..])
            .take_while(|(a, b)| a == b)
            .count();
        if kept < cells.tail.len() {
            ctx.clear_kv_cache_seq(
                Some(want.stream as u32),
                Some((cells.fed + kept) as u32),
                None,
            )
            .map_err(drop_err)?;
        }
        cells.fed += kept;
        cells.tail.clear();
        debug_assert!(
            cells.fed < want.history.len(),
            "the last token is never fed"
        );
        // A sequence that did not draft for a long while (paused, or in a large batch) has
        // much to catch up: all but its last `CATCH_UP` tokens go first, in chunks.
        while want.history.len() - cells.fed > CATCH_UP {
            let end = (cells.fed + CATCH_UP).min(want.history.len() - CATCH_UP);
            let mut batch = LlamaBatch::new(end - cells.fed, 1);
            for pos in cells.fed..end {
                batch
                    .add(
                        LlamaToken(want.history[pos] as i32),
                        pos as i32,
                        &[want.stream],
                        false,
                    )
                    .map_err(backend_error)?;
            }
            decode(ctx, &mut batch)?;
            cells.fed = end;
        }
        catch_up += want.history.len() - cells.fed;
    }
    // The tokens the target took since the last draft; each sequence's last row gives its
    // first drafted token.
    let mut batch = LlamaBatch::new(catch_up.max(wants.len()), 1);
    let mut last_rows = Vec::with_capacity(wants.len());
    for want in wants.iter_mut() {
        let history = want.history;
        for pos in want.cells.fed..history.len() {
            batch
                .add(
                    LlamaToken(history[pos] as i32),
                    pos as i32,
                    &[want.stream],
                    pos + 1 == history.len(),
                )
                .map_err(backend_error)?;
        }
        want.cells.fed = history.len();
        last_rows.push(batch.n_tokens() - 1);
    }
    decode(ctx, &mut batch)?;
    for (want, &row) in wants.iter_mut().zip(&last_rows) {
        want.out.push(greedy(ctx.get_logits_ith(row)));
    }
    // Then one token per step for the sequences that want more.
    loop {
        batch.clear();
        let mut rows = Vec::new();
        for (w, want) in wants.iter_mut().enumerate() {
            if want.out.len() >= want.want {
                continue;
            }
            let token = *want.out.last().expect("the first token was drafted");
            let pos = want.history.len() + want.out.len() - 1;
            batch
                .add(LlamaToken(token as i32), pos as i32, &[want.stream], true)
                .map_err(backend_error)?;
            want.cells.tail.push(token);
            rows.push((w, batch.n_tokens() - 1));
        }
        if rows.is_empty() {
            return Ok(());
        }
        decode(ctx, &mut batch)?;
        for (w, row) in rows {
            wants[w].out.push(greedy(ctx.get_logits_ith(row)));
        }
    }
}

fn decode(ctx: &mut LlamaContext<'static>, batch: &mut LlamaBatch) -> Result<(), Error> {
    ctx.decode(batch)
        .map_err(|err| backend_error(format!("the draft model failed to decode: {err}")))
}

/// How two vocabularies differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum VocabDifference {
    Size {
        target: usize,
        draft: usize,
    },
    Token {
        id: usize,
        target: String,
        draft: String,
    },
}

/// The first difference between two vocabularies given as token texts, by id.
pub(crate) fn vocab_difference(target: &[&[u8]], draft: &[&[u8]]) -> Option<VocabDifference> {
    if target.len() != draft.len() {
        return Some(VocabDifference::Size {
            target: target.len(),
            draft: draft.len(),
        });
    }
    let id = target.iter().zip(draft).position(|(a, b)| a != b)?;
    Some(VocabDifference::Token {
        id,
        target: String::from_utf8_lossy(target[id]).into_owned(),
        draft: String::from_utf8_lossy(draft[id]).into_owned(),
    })
}

/// Refuse a draft model that cannot draft for `target`: another vocabulary (token ids would
/// mean other texts), or at least as many parameters (drafting would cost more than it saves).
pub(crate) fn check_pair(
    target: &LlamaModel,
    target_name: &str,
    draft: &LlamaModel,
    draft_name: &str,
) -> Result<(), Error> {
    let (target_vocab, draft_vocab) = (target.vocab(), draft.vocab());
    fn texts<'v>(vocab: &'v llama_cpp_2::vocab::LlamaVocab<'_>) -> Vec<&'v [u8]> {
        vocab
            .tokens()
            .map(|token| vocab.text(token).map_or(&[][..], |text| text.to_bytes()))
            .collect()
    }
    let difference = vocab_difference(&texts(&target_vocab), &texts(&draft_vocab));
    if let Some(difference) = difference {
        let what = match difference {
            VocabDifference::Size { target, draft } => {
                format!("{draft} tokens against the target's {target}")
            }
            VocabDifference::Token { id, target, draft } => {
                format!("token {id} is `{draft}` in the draft and `{target}` in the target")
            }
        };
        return Err(backend_error(format!(
            "the draft model `{draft_name}` has another vocabulary than `{target_name}` ({what}); a draft model must share the target's tokenizer, e.g. a smaller model of the same family"
        )));
    }
    let (t, d) = (target.n_params(), draft.n_params());
    if d >= t {
        return Err(backend_error(format!(
            "the draft model `{draft_name}` ({:.2}B parameters) is not smaller than `{target_name}` ({:.2}B); drafting pays only with a smaller model, e.g. the 0.5B for the 1.5B",
            d as f64 / 1e9,
            t as f64 / 1e9
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocabularies_must_match_in_size_and_every_token_text() {
        let a: [&[u8]; 3] = [b"a", b"b", b"<|end|>"];
        assert_eq!(vocab_difference(&a, &a), None);
        assert_eq!(
            vocab_difference(&a, &a[..2]),
            Some(VocabDifference::Size {
                target: 3,
                draft: 2
            })
        );
        let b: [&[u8]; 3] = [b"a", b"c", b"<|end|>"];
        assert_eq!(
            vocab_difference(&a, &b),
            Some(VocabDifference::Token {
                id: 1,
                target: "b".into(),
                draft: "c".into()
            })
        );
    }
}
