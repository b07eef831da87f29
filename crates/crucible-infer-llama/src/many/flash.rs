//! Prompts evaluated with flash attention beside slots that attend plainly.
//!
//! On a CPU, llama.cpp's plain attention decodes faster than its flash attention (a step of the
//! 0.5B takes 9% less), and evaluates a prompt more slowly (5-9%: it multiplies out and
//! normalizes a batch's whole score matrix, which flash attention works through in tiles).
//! A context's attention is fixed when it is made, and so is its KV cache's layout: plain
//! attention stores a layer's values by dimension, flash attention by cell.
//!
//! So when the slots attend plainly and no sequence is decoding (a request arriving at an idle
//! server), a request's prompt is evaluated in a second context, one sequence wide, with flash
//! attention; its cells are then copied into the request's slot, values re-laid out
//! ([`crate::kv_state`]), and its sequences decode there. Cells the prompt cache gave the slot
//! go the other way first. A request admitted while others decode is evaluated in chunks beside
//! their steps, in the slots' context, as before; so is a prompt longer than the second
//! context. If anything in the move fails, the request's prompt is evaluated in its slot, and
//! so are all later ones.
//!
//! The single-request path (`generate`, which `crucible lsp` uses) does the same with a long
//! enough prompt ([`prefill_single`]): its kept cells go to the second context, the rest of the
//! prompt but its last token is evaluated there, and the cells come back.

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::model::{LlamaLoraAdapter, LlamaModel};
use llama_cpp_2::token::LlamaToken;
use llama_cpp_2::{LlamaStateSeqFlags, SeqState};

use crucible_infer::{Error, Feed, FlashAttention};

use super::FirstLogits;
use super::cache::PromptCache;
use super::request::Active;
use crate::decode::eval_tokens;
use crate::kv_state::{Values, relayout};
use crate::{Layout, LlamaConfig, LlamaGenerator, can_shift, ensure_context};

/// Fewest prompt tokens left to evaluate that go to the flash-attention context, and the fewest
/// it evaluates at once when there are more: llama.cpp's CPU flash attention works in tiles of
/// 64 query rows, and attends row by row, more slowly than plain attention, below that (the
/// last 13 tokens of a 1,009-token prompt took 310 ms).
const MIN_TOKENS: usize = 64;

/// Cells of the flash-attention context, so the longest prompt evaluated there: 24 MiB of the
/// 0.5B model's KV memory. Made, the context added 35 MiB to a serving process (its compute
/// buffer the rest; docs/PERFORMANCE.md, "Serving").
pub(super) const CELLS: usize = 2048;

impl LlamaGenerator {
    /// Whether prompts may go to a flash-attention context: the slots attend plainly (outside
    /// batch-invariant mode, which attends with flash attention), the model's cells hold
    /// nothing but rotary positions of one kind, and no move has failed.
    pub(crate) fn flash_prefill(&self) -> bool {
        self.config.flash_attention == FlashAttention::Off
            && !self.config.batch_invariant
            && !self.flash.failed
            && can_shift(self.model)
    }

    /// With no sequence decoding and no prompt in the flash-attention context, send there the
    /// prompt of the first request (by slot) being evaluated that is long enough to gain and
    /// short enough to fit, with the cells its slot holds.
    pub(super) fn begin_flash(&mut self, active: &mut [Active], cache: &mut PromptCache<SeqState>) {
        if !self.flash_prefill() || active.iter().any(|r| r.flash.is_some()) {
            return;
        }
        let Some(request) = active
            .iter_mut()
            .filter(|r| {
                r.prefilling()
                    && r.prompt.len() - r.evaluated >= MIN_TOKENS
                    && r.prompt.len() <= CELLS
            })
            .min_by_key(|r| r.slots[0])
        else {
            return;
        };
        let lora = self
            .lora
            .as_mut()
            .map(|(adapter, scale)| (&mut **adapter, *scale));
        let prefill = match flash_context(&mut self.flash, self.model, &self.config, lora) {
            Ok(ctx) => ctx,
            Err(err) => return self.flash.give_up(&err),
        };
        let slots = &self
            .session
            .as_ref()
            .expect("a context exists while requests run")
            .ctx;
        let moved = cells_to_prefill(
            slots,
            request.slots[0],
            request.evaluated,
            prefill,
            Some(cache),
        );
        match moved {
            Ok(()) => request.flash = Some(request.evaluated),
            Err(err) => self.flash.give_up(&err),
        }
    }

    /// Evaluate the next chunk of the prompt in the flash-attention context: within `budget`
    /// (and the batch), in equal chunks of at least [`MIN_TOKENS`]. Once the whole prompt is
    /// evaluated, its cells go to the request's slot and its sequences start. Returns how many
    /// tokens it evaluated.
    pub(super) fn flash_step(
        &mut self,
        active: &mut [Active],
        budget: usize,
        cache: &mut PromptCache<SeqState>,
        feed: &mut dyn Feed,
    ) -> Result<usize, Error> {
        let Some(request) = active.iter_mut().find(|r| r.flash.is_some()) else {
            return Ok(0);
        };
        let done = request.flash.expect("found by it");
        if !request.prefilling() || budget == 0 {
            // Cancelled (its slot is freed with the finished ones'), or no room in this step.
            request.flash = request.prefilling().then_some(done);
            return Ok(0);
        }
        let prefill = &mut self
            .flash
            .session
            .as_mut()
            .expect("a prompt is in the flash-attention context")
            .ctx;
        let len = request.prompt.len();
        let chunk = equal_chunk(len - done, budget, self.config.batch_size);
        let end = len.min(done + chunk);
        let last = end == len;
        let started = std::time::Instant::now();
        let row = match eval_tokens(prefill, &request.prompt[..end], done, chunk, &[0], last) {
            Ok(row) => row,
            Err(err) => {
                // The slot still holds what it held: the prompt goes on from there.
                request.flash = None;
                self.flash.give_up(&err);
                return Ok(0);
            }
        };
        let eval_ms = crate::millis(started);
        if !last {
            request.flash = Some(end);
            return Ok(end - done);
        }
        let logits = prefill.get_logits_ith(row).to_vec();
        let session = self
            .session
            .as_mut()
            .expect("a context exists while requests run");
        let slot = request.slots[0];
        request.flash = None;
        if let Err(err) = cells_to_slot(prefill, session, slot, Some(cache)) {
            let _ = session
                .ctx
                .clear_kv_cache_seq(Some(slot as u32), None, None);
            request.evaluated = 0;
            self.flash.give_up(&err);
            return Ok(end - done);
        }
        tracing::trace!(
            last_chunk = end - done,
            eval_ms,
            move_ms = crate::millis(started) - eval_ms,
            "prompt evaluated with flash attention"
        );
        request.evaluated = len;
        self.flash.prompts += 1;
        self.start(request, FirstLogits::Given(&logits), feed)?;
        Ok(end - done)
    }
}

/// The flash-attention context and what became of it.
#[derive(Default)]
pub(crate) struct FlashPrefill {
    session: Option<crate::Session>,
    /// Prompts whose cells were moved into a slot.
    pub(crate) prompts: usize,
    /// A move failed: prompts are evaluated in their slots from then on.
    pub(crate) failed: bool,
}

impl FlashPrefill {
    fn give_up(&mut self, err: &dyn std::fmt::Display) {
        tracing::warn!(
            "prompts are evaluated with plain attention from now on; moving cells evaluated with flash attention failed: {err}"
        );
        self.failed = true;
    }

    /// Memory the prompt cache gives up for the context, in bytes, for cells of `cell_bytes`:
    /// twice its KV cells. The context once made takes 35 MiB of the 48 this is for the 0.5B
    /// model; the rest is margin for what else evaluating a long prompt there touches. The
    /// buffer a prompt's cells move through is made room for in the cache itself, as they move
    /// (`move_cells`).
    pub(super) fn reserve(cell_bytes: usize) -> usize {
        2 * CELLS * cell_bytes
    }
}

/// Tokens of the next chunk of `left` evaluated in the flash-attention context: equal chunks
/// within `budget` (so the last is not a short one), at least [`MIN_TOKENS`] while there are
/// that many, at most a batch.
fn equal_chunk(left: usize, budget: usize, batch_size: usize) -> usize {
    left.div_ceil(left.div_ceil(budget.max(1)))
        .max(MIN_TOKENS.min(left))
        .min(batch_size.max(1))
}

/// The single-request path's prompt (`generate`, so `crucible lsp`'s completions) in the
/// flash-attention context: when [`LlamaGenerator::flash_prefill`] allows it, `prompt` fits the
/// context and at least [`MIN_TOKENS`] of it are left to evaluate past the `held` tokens whose
/// cells sequence 0 of `session` holds, those cells go to the context, the rest of the prompt
/// but its last token is evaluated there, and the cells come back to sequence 0 (the last
/// token is evaluated with the first step, for its logits). Returns how many prompt tokens
/// sequence 0 holds then. If anything fails, later prompts are evaluated in the session's own
/// context, and this one from where the failure left it.
pub(crate) fn prefill_single(
    flash: &mut FlashPrefill,
    model: &'static LlamaModel,
    config: &LlamaConfig,
    lora: Option<(&mut LlamaLoraAdapter, f32)>,
    session: &mut crate::Session,
    prompt: &[LlamaToken],
    held: usize,
) -> usize {
    let end = prompt.len().saturating_sub(1);
    if end > CELLS || end.saturating_sub(held) < MIN_TOKENS {
        return held;
    }
    let started = std::time::Instant::now();
    let result = flash_context(flash, model, config, lora)
        .map_err(|err| (err.to_string(), false))
        .and_then(|prefill| prefill_and_move(prefill, session, &prompt[..end], held, config));
    match result {
        Ok(()) => {
            tracing::debug!(
                evaluated = end - held,
                ms = crate::millis(started),
                "single request: prompt evaluated with flash attention"
            );
            flash.prompts += 1;
            end
        }
        Err((err, cleared)) => {
            flash.give_up(&err);
            if cleared {
                session.forget();
                0
            } else {
                held
            }
        }
    }
}

/// Move sequence 0's `held` cells of `session` to `prefill`, evaluate `tokens[held..]` there
/// and move all the cells back. An error says whether sequence 0's cells were cleared by then.
fn prefill_and_move(
    prefill: &mut LlamaContext<'static>,
    session: &mut crate::Session,
    tokens: &[LlamaToken],
    held: usize,
    config: &LlamaConfig,
) -> Result<(), (String, bool)> {
    cells_to_prefill(&session.ctx, 0, held, prefill, None).map_err(|err| (err, false))?;
    let chunk = equal_chunk(tokens.len() - held, config.batch_size, config.batch_size);
    eval_tokens(prefill, tokens, held, chunk, &[0], false)
        .map_err(|err| (err.to_string(), false))?;
    cells_to_slot(prefill, session, 0, None).map_err(|err| (err, true))
}

/// Clear the flash-attention context `prefill` and move there the cells of sequence `seq` of
/// `slots`, which holds `held` of them (none to move when 0).
fn cells_to_prefill(
    slots: &LlamaContext<'static>,
    seq: i32,
    held: usize,
    prefill: &mut LlamaContext<'static>,
    cache: Option<&mut PromptCache<SeqState>>,
) -> Result<(), String> {
    prefill
        .clear_kv_cache_seq(Some(0), None, None)
        .map_err(|err| format!("could not clear the flash-attention context: {err}"))?;
    if held == 0 {
        return Ok(());
    }
    move_cells(slots, seq, prefill, 0, Values::ByCell, 1, cache)
}

/// Clear `slot` of `session` and move the flash-attention context's cells into it, laid out
/// as the session's KV streams are. On an error the slot may be cleared.
fn cells_to_slot(
    prefill: &LlamaContext<'static>,
    session: &mut crate::Session,
    slot: i32,
    cache: Option<&mut PromptCache<SeqState>>,
) -> Result<(), String> {
    let streams = match session.layout {
        Layout::PerSequence { seqs, .. } => seqs,
        Layout::Unified { .. } => 1,
    };
    session
        .ctx
        .clear_kv_cache_seq(Some(slot as u32), None, None)
        .map_err(|err| format!("could not clear a slot: {err}"))?;
    move_cells(
        prefill,
        0,
        &mut session.ctx,
        slot,
        Values::ByDimension,
        streams as u32,
        cache,
    )
}

/// The flash-attention context, made (with `lora`, if any) the first time: one sequence of
/// [`CELLS`], otherwise as `config` says.
fn flash_context<'f>(
    flash: &'f mut FlashPrefill,
    model: &'static LlamaModel,
    config: &LlamaConfig,
    lora: Option<(&mut LlamaLoraAdapter, f32)>,
) -> Result<&'f mut LlamaContext<'static>, Error> {
    let config = LlamaConfig {
        flash_attention: FlashAttention::Auto,
        ..config.clone()
    };
    let need = Layout::Unified {
        n_ctx: CELLS,
        n_seq: 1,
    };
    let session = ensure_context(&mut flash.session, model, need, &config, lora)?;
    Ok(&mut session.ctx)
}

/// Copy sequence `from_seq`'s cells in `from` to `to_seq` (empty) in `to`, whose values are laid
/// out as `values` in `streams` KV streams. The cells pass through one buffer, re-laid out in
/// place; the prompt cache, if any, makes room for it first (see [`FlashPrefill::reserve`]).
fn move_cells(
    from: &LlamaContext<'static>,
    from_seq: i32,
    to: &mut LlamaContext<'static>,
    to_seq: i32,
    values: Values,
    streams: u32,
    cache: Option<&mut PromptCache<SeqState>>,
) -> Result<(), String> {
    if let Some(cache) = cache {
        cache.make_room(from.state_seq_get_size_ext(from_seq, LlamaStateSeqFlags::empty()));
    }
    let mut state = raw_state(from, from_seq)?;
    relayout(&mut state, values, streams).map_err(|err| err.to_string())?;
    #[expect(
        unsafe_code,
        reason = "llama-cpp-2 takes a state only as bytes it wrote itself; these are such bytes re-laid out"
    )]
    // SAFETY: `state` is a sequence state llama.cpp wrote, with its value bytes moved by
    // `relayout`, which read and checked every field it moved against the layout llama.cpp
    // writes; llama.cpp checks the layer count, types and sizes again as it reads, and reads no
    // further than the slice's length.
    let restored =
        unsafe { to.state_seq_set_data_ext(&state, to_seq, LlamaStateSeqFlags::empty()) };
    if restored {
        Ok(())
    } else {
        Err("llama.cpp refused the re-laid-out cells".to_string())
    }
}

/// Sequence `seq`'s serialized cells, as bytes.
fn raw_state(ctx: &LlamaContext<'static>, seq: i32) -> Result<Vec<u8>, String> {
    let flags = LlamaStateSeqFlags::empty();
    let size = ctx.state_seq_get_size_ext(seq, flags);
    let mut bytes = vec![0u8; size];
    #[expect(
        unsafe_code,
        reason = "llama-cpp-2 hands a state's bytes out only through a raw pointer"
    )]
    // SAFETY: `bytes` holds the `size` bytes llama.cpp just said this sequence's state takes,
    // and nothing changes the context in between.
    let written = unsafe { ctx.state_seq_get_data_ext(bytes.as_mut_ptr(), seq, flags) };
    if written == size {
        Ok(bytes)
    } else {
        Err(format!("a state of {size} bytes was written as {written}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch_invariance::common;
    use crucible_infer::{GenRequest, Generator, Prompt, Silent};

    /// The largest difference between two logit vectors.
    fn max_diff(a: &[f32], b: &[f32]) -> f32 {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
    }

    fn argmax(logits: &[f32]) -> usize {
        (0..logits.len())
            .max_by(|&i, &j| logits[i].total_cmp(&logits[j]))
            .unwrap()
    }

    /// Cells evaluated with flash attention and moved into a slot that attends plainly give the
    /// next token the logits the slot's own evaluation gives, up to the two attentions'
    /// rounding; moved back, they are the same bytes.
    #[test]
    fn cells_evaluated_with_flash_attention_serve_a_plain_slot() {
        let config = LlamaConfig {
            flash_attention: FlashAttention::Off,
            ..common::config(1024)
        };
        let mut generator =
            LlamaGenerator::load(&common::default_model(), "test", config.clone()).unwrap();
        let prompt = generator.tokenize(&common::humaneval_prompts(3)[2]);
        let n = prompt.len();
        let mut with_next = prompt.clone();
        with_next.push(generator.tokenize("    return")[0]);
        let alone = &with_next[n..];
        let slots = &mut generator
            .session(Layout::PerSequence {
                seqs: 3,
                cells: 1024,
            })
            .unwrap()
            .ctx;
        // The slots' own evaluation of the prompt in slot 2, then the next token.
        eval_tokens(slots, &prompt, 0, 512, &[2], false).unwrap();
        let row = eval_tokens(slots, &with_next, n, 512, &[2], true).unwrap();
        let plain = slots.get_logits_ith(row).to_vec();
        // The next token with no prompt before it, in slot 1: what cells that say nothing give.
        let row = eval_tokens(slots, alone, 0, 512, &[1], true).unwrap();
        let without = slots.get_logits_ith(row).to_vec();

        let prefill = flash_context(&mut generator.flash, generator.model, &config, None).unwrap();
        eval_tokens(prefill, &prompt, 0, 512, &[0], false).unwrap();
        let evaluated = raw_state(prefill, 0).unwrap();
        let slots = &mut generator.session.as_mut().unwrap().ctx;
        move_cells(prefill, 0, slots, 0, Values::ByDimension, 3, None).unwrap();
        let mut back = raw_state(slots, 0).unwrap();
        relayout(&mut back, Values::ByCell, 1).unwrap();
        assert!(back == evaluated, "the moved cells changed");
        let row = eval_tokens(slots, &with_next, n, 512, &[0], true).unwrap();
        let moved = slots.get_logits_ith(row).to_vec();

        // Measured: 0.30 apart moved, 17.4 with no prompt.
        let diff = max_diff(&moved, &plain);
        assert_eq!(argmax(&moved), argmax(&plain));
        assert!(diff < 1.0, "moved cells' logits differ by {diff}");
        let unprompted = max_diff(&without, &plain);
        assert!(
            unprompted > 2.0,
            "the prompt moved the logits by {unprompted} only"
        );
    }

    /// Through `generate_many`: requests that arrive with nothing decoding (one slot, so one at
    /// a time) have their prompts evaluated with flash attention, those sharing a cached prefix
    /// included, and decode what the slots' own evaluation decodes, up to near ties.
    #[test]
    fn requests_at_an_idle_slot_are_evaluated_with_flash_attention() {
        let config = LlamaConfig {
            flash_attention: FlashAttention::Off,
            ..common::config(1024)
        };
        let mut generator = LlamaGenerator::load(&common::default_model(), "test", config).unwrap();
        let mut prompts = common::humaneval_prompts(3);
        // The first prompt again with a test after it: its prefix comes from the prompt cache.
        prompts.push(format!(
            "{}    pass\n\n\ndef check(candidate):\n    assert candidate([1.0, 2.0, 3.9, 4.0, 5.0, 2.2], 0.3) == True\n    assert candidate([1.0, 2.0, 5.9, 4.0, 5.0], 0.95) == True\n    assert candidate([1.0, 2.0, 5.9, 4.0, 5.0], 0.8) == False\n    assert candidate([1.0, 2.0, 3.0, 4.0, 5.0, 2.0], 0.1) == True\n\n\ndef ",
            prompts[0]
        ));
        let requests: Vec<GenRequest> = prompts
            .into_iter()
            .map(|text| GenRequest {
                prompt: Prompt::Text { text },
                params: common::greedy(24),
            })
            .collect();
        let flashed = common::many(&mut generator, &requests, 1);
        assert_eq!(generator.flash.prompts, requests.len());
        assert!(!generator.flash.failed);
        assert!(
            generator.reused_prompt_tokens > 0,
            "a prefix came from the prompt cache"
        );
        generator.flash.failed = true;
        let plain = common::many(&mut generator, &requests, 1);
        assert_eq!(generator.flash.prompts, requests.len());
        // The two attentions round differently, so greedy text can part at a near tie (the
        // last request's `print("All tests passed.")` against `passed!"`, in its second line);
        // cells moved wrongly would not give the same first line.
        for (f, p) in flashed.iter().zip(&plain) {
            let (f, p) = (&f.completions[0].text, &p.completions[0].text);
            let first_line = |text: &str| text.lines().next().unwrap_or_default().to_owned();
            assert!(f.len() > 20, "{f:?}");
            assert_eq!(first_line(f), first_line(p), "{f:?} against {p:?}");
        }
    }

    #[test]
    fn single_requests_are_evaluated_with_flash_attention_from_the_cells_they_keep() {
        // As `crucible lsp` loads the model: plain attention, cells moved after an edit.
        let config = LlamaConfig {
            flash_attention: FlashAttention::Off,
            kv_shift: true,
            ..common::config(2048)
        };
        let mut generator = LlamaGenerator::load(&common::default_model(), "test", config).unwrap();
        let first = common::humaneval_prompts(1).remove(0);
        // The first prompt with tests after it: it keeps the first's cells and evaluates the
        // rest, more than 64 tokens, with flash attention.
        let second = format!(
            "{first}    pass\n\n\ndef check(candidate):\n    assert candidate([1.0, 2.0, 3.9, 4.0, 5.0, 2.2], 0.3) == True\n    assert candidate([1.0, 2.0, 5.9, 4.0, 5.0], 0.95) == True\n    assert candidate([1.0, 2.0, 5.9, 4.0, 5.0], 0.8) == False\n    assert candidate([1.0, 2.0, 3.0, 4.0, 5.0, 2.0], 0.1) == True\n\n\ndef "
        );
        let run = |generator: &mut LlamaGenerator, text: &str| {
            let request = GenRequest {
                prompt: Prompt::Text {
                    text: text.to_owned(),
                },
                params: common::greedy(24),
            };
            generator
                .generate(&request, &mut Silent)
                .unwrap()
                .completions[0]
                .text
                .clone()
        };
        let flashed = [run(&mut generator, &first), {
            let reused = generator.reused_prompt_tokens;
            let text = run(&mut generator, &second);
            assert!(
                generator.reused_prompt_tokens > reused,
                "the second request kept the first's cells"
            );
            text
        }];
        assert_eq!(generator.flash.prompts, 2);
        assert!(!generator.flash.failed);
        // The same requests with plain attention, from a fresh context.
        generator.flash.failed = true;
        generator.session = None;
        let plain = [run(&mut generator, &first), run(&mut generator, &second)];
        assert_eq!(generator.flash.prompts, 2);
        let first_line = |text: &str| text.lines().next().unwrap_or_default().to_owned();
        for (f, p) in flashed.iter().zip(&plain) {
            assert!(f.len() > 20, "{f:?}");
            assert_eq!(first_line(f), first_line(p), "{f:?} against {p:?}");
        }
    }
}
