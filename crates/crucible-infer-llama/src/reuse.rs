//! Which cells of a previous prompt a new prompt can keep, when text was typed in its middle.
//!
//! An editor's completion prompt is the repository context, the text before the cursor, then
//! the text after it (fill-in-the-middle). A keystroke changes the text just before the cursor,
//! so the prompts of two keystrokes share a long prefix and a long tail, with a few changed
//! tokens between them. Keeping only the shared prefix re-evaluates the whole tail at every
//! keystroke (about 40 tokens for 256 bytes after the cursor). Moving the tail's cells to their
//! new positions instead (llama.cpp shifts their rotary positions) evaluates only the changed
//! tokens and a few after them, much as llama-server's `--cache-reuse` moves the chunks that
//! llama.vim rotates.
//!
//! The moved cells were computed attending to the old text, not the new one: an approximation,
//! so moving is opt-in ([`crate::LlamaConfig::kv_shift`]), and never used by batch-invariant
//! mode or anything that must match a cold evaluation exactly.

use llama_cpp_2::token::LlamaToken;

use crate::many::{MIN_REUSE, reusable};

/// Tokens of the shared tail right after the change that are evaluated again rather than
/// moved. With none, the fill-in-the-middle marker after the cursor kept the old text's view:
/// in `tests/kv_shift.rs` the greedy answer after typing " +" was the answer to the text
/// before it; with 4 or more re-evaluated (4, 16, 32 and 64 were tried) it was the cold
/// request's, typing and deleting alike.
pub(crate) const EVALUATED_AFTER_CHANGE: usize = 8;

/// How a new prompt reuses the cells of the previous one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Plan {
    /// Leading prompt tokens whose cells are kept where they are.
    pub(crate) prefix: usize,
    /// Cells moved to later (or earlier) positions: the tail the two prompts share.
    pub(crate) moved: Option<Moved>,
}

/// A run of `len` cells at positions `from..from + len` that serves the new prompt's tokens
/// at `to..to + len`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Moved {
    pub(crate) from: usize,
    pub(crate) to: usize,
    pub(crate) len: usize,
}

impl Moved {
    /// How far the cells move (negative: text was deleted).
    pub(crate) fn delta(self) -> i32 {
        self.to as i32 - self.from as i32
    }
}

impl Plan {
    /// Prompt tokens whose cells are reused, kept or moved.
    pub(crate) fn reused(self) -> usize {
        self.prefix + self.moved.map_or(0, |moved| moved.len)
    }
}

/// How `prompt` can reuse the cells of `held`, whose first `held_prompt` tokens were the
/// previous prompt (the rest, its answer, is never moved). The shared prefix is kept by the
/// rule of [`reusable`]; with `shift`, the longest tail the two prompts share after it (short
/// of each prompt's last token, which is always evaluated: its logits are the answer's start),
/// but its first [`EVALUATED_AFTER_CHANGE`] tokens, is moved when that leaves at least
/// [`MIN_REUSE`] tokens.
pub(crate) fn plan(
    held: &[LlamaToken],
    held_prompt: usize,
    prompt: &[LlamaToken],
    shift: bool,
) -> Plan {
    let prefix = reusable(held, prompt);
    let mut plan = Plan {
        prefix,
        moved: None,
    };
    if !shift || prefix < MIN_REUSE {
        return plan;
    }
    // The tails end before each prompt's last token.
    let old_end = held_prompt.min(held.len()).saturating_sub(1);
    let new_end = prompt.len().saturating_sub(1);
    if old_end <= prefix || new_end <= prefix {
        return plan;
    }
    let len = held[prefix..old_end]
        .iter()
        .rev()
        .zip(prompt[prefix..new_end].iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    // The first tokens after the change are evaluated again: they summarize the text just
    // before them, which is what changed.
    let len = len.saturating_sub(EVALUATED_AFTER_CHANGE);
    if len >= MIN_REUSE {
        plan.moved = Some(Moved {
            from: old_end - len,
            to: new_end - len,
            len,
        });
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(ids: impl IntoIterator<Item = i32>) -> Vec<LlamaToken> {
        ids.into_iter().map(LlamaToken).collect()
    }

    /// A prompt: `head` shared tokens, then `middle`, then 30 tail tokens, then an end token.
    fn prompt(head: i32, middle: &[i32]) -> Vec<LlamaToken> {
        let mut ids: Vec<i32> = (0..head).collect();
        ids.extend_from_slice(middle);
        ids.extend(1000..1030);
        ids.push(9999);
        tokens(ids)
    }

    #[test]
    fn a_typed_token_moves_the_tail_after_it() {
        let old = prompt(40, &[500]);
        let new = prompt(40, &[500, 501]);
        let plan = plan(&old, old.len(), &new, true);
        assert_eq!(plan.prefix, 41);
        let moved = plan.moved.expect("the 30-token tail is moved");
        let skip = EVALUATED_AFTER_CHANGE;
        assert_eq!(
            moved,
            Moved {
                from: 41 + skip,
                to: 42 + skip,
                len: 30 - skip
            }
        );
        assert_eq!(moved.delta(), 1);
        // Everything but the new token, the tail's first tokens and the last one is reused.
        assert_eq!(plan.reused(), new.len() - 2 - skip);
    }

    #[test]
    fn a_changed_token_is_evaluated_and_a_deleted_one_moves_the_tail_back() {
        let old = prompt(40, &[500, 501]);
        let changed = prompt(40, &[500, 777]);
        let plan_changed = plan(&old, old.len(), &changed, true);
        assert_eq!(plan_changed.prefix, 41);
        let skip = EVALUATED_AFTER_CHANGE;
        assert_eq!(
            plan_changed.moved,
            Some(Moved {
                from: 42 + skip,
                to: 42 + skip,
                len: 30 - skip
            })
        );
        let deleted = prompt(40, &[500]);
        let plan_deleted = plan(&old, old.len(), &deleted, true);
        let moved = plan_deleted.moved.expect("the tail moves back");
        assert_eq!(
            (moved.from, moved.to, moved.delta()),
            (42 + skip, 41 + skip, -1)
        );
    }

    #[test]
    fn the_previous_answer_is_never_part_of_the_tail() {
        let old = prompt(40, &[500]);
        let mut held = old.clone();
        // The answer's tokens follow the old prompt in the cells.
        held.extend(tokens(1000..1030));
        let new = prompt(40, &[500, 501]);
        let moved = plan(&held, old.len(), &new, true).moved.unwrap();
        assert_eq!(
            moved.from,
            41 + EVALUATED_AFTER_CHANGE,
            "the tail is found before the old prompt's end"
        );
    }

    #[test]
    fn without_shift_or_with_a_short_tail_only_the_prefix_is_kept() {
        let old = prompt(40, &[500]);
        let new = prompt(40, &[500, 501]);
        assert_eq!(
            plan(&old, old.len(), &new, false),
            Plan {
                prefix: 41,
                moved: None
            }
        );
        // A tail that leaves fewer than MIN_REUSE to move is evaluated again.
        let short = 1000..1000 + (MIN_REUSE + EVALUATED_AFTER_CHANGE - 1) as i32;
        let short_old = tokens((0..40).chain([500]).chain(short.clone()).chain([9999]));
        let short_new = tokens((0..40).chain([500, 501]).chain(short).chain([9999]));
        assert_eq!(
            plan(&short_old, short_old.len(), &short_new, true).moved,
            None
        );
        // A prompt that shares too short a prefix starts over.
        let other = prompt(5, &[600]);
        assert_eq!(plan(&old, old.len(), &other, true).moved, None);
    }

    #[test]
    fn an_identical_prompt_keeps_all_but_its_last_token() {
        let old = prompt(40, &[500]);
        let plan = plan(&old, old.len(), &old, true);
        assert_eq!(plan.prefix, old.len() - 1);
        assert_eq!(plan.moved, None);
    }
}
