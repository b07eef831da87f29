//! Drafts for a step of `generate_many`: one length for every live sequence, since llama.cpp
//! decodes separate KV streams together only when each carries the same number of tokens.

use llama_cpp_2::context::LlamaContext;

use crucible_infer::Error;
use crucible_infer::sampler::TokenId;

use super::Active;
use crate::decode::draft_cap;
use crate::{MAX_DRAFT, draft};

/// Draft for every live sequence of a step (`rows`, in slot order) into `drafts[row]`, and
/// return the one draft length they all use (0: a plain step). llama.cpp decodes separate KV
/// streams together only when each carries the same number of tokens, so shorter drafts are
/// padded with their sequence's last token repeated (a guess like any other: verified, and
/// usually rejected). A step speculates only when real drafts fill at least half of it, and
/// within the token budget of [`draft_cap`]. With `draft_ctx`, the draft model drafts (each
/// sequence in the KV stream of its slot), else prompt lookup.
pub(super) fn draft_step(
    active: &mut [Active],
    rows: &[(i32, usize, usize)],
    drafts: &mut Vec<Vec<TokenId>>,
    draft_ctx: Option<&mut LlamaContext<'static>>,
) -> Result<usize, Error> {
    drafts.resize_with(rows.len(), Vec::new);
    let cap = draft_cap(rows.len(), MAX_DRAFT);
    match draft_ctx {
        Some(draft_ctx) if cap > 0 => {
            let mut outs: Vec<Option<&mut Vec<TokenId>>> = drafts.iter_mut().map(Some).collect();
            let mut wants = Vec::with_capacity(rows.len());
            for (a, request) in active.iter_mut().enumerate() {
                let max_draft = request.max_draft;
                for (s, seq) in request.seqs.iter_mut().enumerate() {
                    let Some(row) = rows.iter().position(|&(_, ra, rs)| (ra, rs) == (a, s)) else {
                        continue;
                    };
                    let out = outs[row].take().expect("each row once");
                    out.clear();
                    let want = if max_draft > 0 {
                        seq.want(cap.min(max_draft), rows.len())
                    } else {
                        0
                    };
                    if want > 0 {
                        wants.push(seq.model_want(rows[row].0, want, out));
                    }
                }
            }
            draft::draft(draft_ctx, &mut wants)?;
        }
        _ => {
            for (row, &(_, a, s)) in rows.iter().enumerate() {
                let request = &mut active[a];
                let draft = &mut drafts[row];
                draft.clear();
                if cap > 0 && request.max_draft > 0 {
                    request.seqs[s].draft(cap.min(request.max_draft), rows.len(), draft);
                }
            }
        }
    }
    let longest = drafts.iter().map(Vec::len).max().unwrap_or(0);
    let real: usize = drafts.iter().map(Vec::len).sum();
    if longest == 0 || 2 * real < rows.len() * longest {
        return Ok(0);
    }
    for (row, &(_, a, s)) in rows.iter().enumerate() {
        let last = active[a].seqs[s]
            .next
            .expect("only live sequences have rows")
            .0 as TokenId;
        let draft = &mut drafts[row];
        let pad = draft.last().copied().unwrap_or(last);
        draft.resize(longest, pad);
    }
    Ok(longest)
}
