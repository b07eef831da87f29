//! How large `generate_many`'s slots are, and who gets the KV memory they do not take.
//!
//! A slot (one KV stream) is made as large as the requests so far need, at least
//! [`MIN_SLOT_CELLS`], not the most a request may need ([`LlamaConfig::slot_cells`], a server's
//! context length): a typical request (a prompt of a few hundred tokens and its answer) uses a
//! small part of a 4,096-cell slot, and llama.cpp keeps every cell of every stream resident. The
//! memory the slots leave unused goes to the prompt cache instead ([`cache_budget`]), so the
//! process takes no more memory than with full-size slots and keeps many more finished prompts.
//!
//! When a request needs longer slots while others are in flight, the slots grow in place
//! ([`LlamaGenerator::grow_slots`]): every slot's cells are saved (llama.cpp's per-sequence
//! state), the context is made again with the longer slots and the cells are restored, so the
//! sequences in flight go on where they were instead of the new request waiting for them all to
//! finish. The prompt cache then shrinks to its smaller budget.
//!
//! [`LlamaConfig::slot_cells`]: crate::LlamaConfig::slot_cells

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::{LlamaStateSeqFlags, SeqState};

use crucible_infer::Error;

use super::{Active, RELEASED};
use crate::{Layout, LlamaGenerator, MAX_MODEL_DRAFT, backend_error, draft_streams};

/// Smallest slot: room for a typical benchmark prompt beside the answer.
pub(super) const MIN_SLOT_CELLS: usize = 2048;

/// llama.cpp pads each KV stream to a multiple of this many cells.
const STREAM_PAD: usize = 256;

/// The cells each slot is made with for a request needing `need` cells: `need`, at least
/// [`MIN_SLOT_CELLS`] (or `most`, the most any request may need, when that is smaller).
pub(super) fn slot_cells(need: usize, most: Option<usize>) -> usize {
    let floor = most.map_or(MIN_SLOT_CELLS, |most| most.min(MIN_SLOT_CELLS));
    need.max(floor)
}

/// The prompt cache's budget beside `slots` slots of `cells` cells each: the configured `base`,
/// plus the KV memory the slots leave unused against slots of `most` cells (the size a request
/// may need at most; `None`: nothing is left over), less the `taken` bytes something else
/// holds out of that memory. `cell_bytes` is one cell's KV size. A `base` of 0 turns the cache
/// off, whatever the slots leave.
pub(super) fn cache_budget(
    base: usize,
    slots: usize,
    cells: usize,
    most: Option<usize>,
    cell_bytes: usize,
    taken: usize,
) -> usize {
    if base == 0 {
        return 0;
    }
    let most = most.map_or(0, |most| most.next_multiple_of(STREAM_PAD));
    let unused = slots.saturating_mul(most.saturating_sub(cells));
    base.saturating_add(unused.saturating_mul(cell_bytes).saturating_sub(taken))
}

/// Bytes one KV cell of `model` takes: keys and values of every layer, in F16 (the default
/// cache type) or, in batch-invariant mode, Q8_0 (34 bytes a block of 32).
pub(super) fn kv_cell_bytes(model: &LlamaModel, batch_invariant: bool) -> usize {
    let head_dim = model.n_embd().max(0) as usize / model.n_head().max(1) as usize;
    let elements = 2 * model.n_layer() as usize * model.n_head_kv() as usize * head_dim;
    if batch_invariant {
        elements.div_ceil(32) * 34
    } else {
        elements * 2
    }
}

impl LlamaGenerator {
    /// The prompt cache's budget beside slots laid out as `layout`.
    pub(super) fn cache_budget(&self, layout: Layout) -> usize {
        let Layout::PerSequence { seqs, cells } = layout else {
            return self.config.prompt_cache_bytes;
        };
        let cell_bytes = kv_cell_bytes(self.model, self.config.batch_invariant);
        // The flash-attention context's memory comes out of what the slots leave unused.
        let taken = if self.flash_prefill() {
            super::FlashPrefill::reserve(cell_bytes)
        } else {
            0
        };
        cache_budget(
            self.config.prompt_cache_bytes,
            seqs,
            cells,
            self.config.slot_cells,
            cell_bytes,
            taken,
        )
    }

    /// Remake the context with the longer slots of `need` while `active` requests are in flight:
    /// the cells of every slot in use (and of its draft-model stream) are saved, the context is
    /// made anew and they are restored at the same slots and positions. Returns the new layout.
    pub(super) fn grow_slots(&mut self, need: Layout, active: &[Active]) -> Result<Layout, Error> {
        let in_use: Vec<i32> = active
            .iter()
            .flat_map(|request| request.slots.iter().copied())
            .filter(|&slot| slot != RELEASED)
            .collect();
        let session = self
            .session
            .as_ref()
            .expect("a context exists while requests run");
        let target = save_slots(&session.ctx, &in_use)?;
        let draft = match draft_streams(&mut self.draft, self.config.speculate) {
            Some(ctx) => Some(save_slots(ctx, &in_use)?),
            None => None,
        };
        let layout = self.session(need)?.layout;
        let session = self.session.as_mut().expect("the context was just made");
        restore_slots(&mut session.ctx, target)?;
        let Layout::PerSequence { seqs, cells } = layout else {
            unreachable!("generate_many lays its slots out per sequence");
        };
        let draft_need = Layout::PerSequence {
            seqs,
            cells: cells + MAX_MODEL_DRAFT + 1,
        };
        if let Some(ctx) = self.draft_context(draft_need)?
            && let Some(states) = draft
        {
            restore_slots(ctx, states)?;
        }
        tracing::debug!(?layout, slots = in_use.len(), "grew the slots in place");
        Ok(layout)
    }
}

/// Give the memory of freed blocks back to the system. The prompt cache's entries are a few MiB
/// each, which glibc serves from its heaps and keeps there when they are freed; after the
/// cache shrinks for longer slots, that memory would stay with the process beside them.
pub(super) fn return_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[expect(
        unsafe_code,
        reason = "malloc_trim takes no pointers; it only walks glibc's free lists"
    )]
    // SAFETY: malloc_trim has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Serve every block of 1 MiB or more with its own mapping, returned to the system when it is
/// freed. glibc does so for blocks over a threshold that it raises to the size of each such
/// block freed, so once the prompt cache has evicted an entry (a few MiB), later entries come
/// from its heaps, where freed memory can stay with the process beside the entries that
/// replaced it (docs/PERFORMANCE.md, "Serving", measures a server's peak after its cache
/// turned over). A fixed threshold turns that adjustment off, for the whole process; called
/// when `generate_many` makes a prompt cache.
pub(super) fn map_large_blocks() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            #[expect(
                unsafe_code,
                reason = "mallopt takes no pointers; it sets one of glibc's allocation parameters"
            )]
            // SAFETY: mallopt has no preconditions; M_MMAP_THRESHOLD takes a size in bytes.
            let set = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20) };
            if set != 1 {
                tracing::debug!("glibc refused the allocation threshold");
            }
        });
    }
}

/// The cells of each of `slots` that holds any.
fn save_slots(ctx: &LlamaContext<'static>, slots: &[i32]) -> Result<Vec<(i32, SeqState)>, Error> {
    slots
        .iter()
        .filter(|&&slot| ctx.kv_cache_seq_pos_max(slot) >= 0)
        .map(|&slot| {
            ctx.state_seq_get(slot, LlamaStateSeqFlags::empty())
                .map(|state| (slot, state))
                .map_err(|err| backend_error(format!("could not save slot {slot}'s cells: {err}")))
        })
        .collect()
}

/// Put saved cells back into their slots.
fn restore_slots(
    ctx: &mut LlamaContext<'static>,
    saved: Vec<(i32, SeqState)>,
) -> Result<(), Error> {
    for (slot, state) in saved {
        ctx.state_seq_set(&state, slot).map_err(|err| {
            backend_error(format!("could not restore slot {slot}'s cells: {err}"))
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_holds_what_its_request_needs_and_at_least_the_floor() {
        assert_eq!(slot_cells(200, Some(4096)), MIN_SLOT_CELLS);
        assert_eq!(slot_cells(3000, Some(4096)), 3000);
        assert_eq!(slot_cells(200, None), MIN_SLOT_CELLS);
        // A context shorter than the floor: slots of the context's length.
        assert_eq!(slot_cells(200, Some(1024)), 1024);
    }

    #[test]
    fn the_cache_gets_the_memory_the_slots_leave_unused() {
        // Eight slots of 2,048 cells against 4,096: 8 x 2,048 cells of 12 KiB, 192 MiB.
        assert_eq!(
            cache_budget(16 << 20, 8, 2048, Some(4096), 12 << 10, 0),
            (16 << 20) + (192 << 20)
        );
        // Full-size slots, or no most size: the configured budget alone.
        assert_eq!(
            cache_budget(16 << 20, 8, 4096, Some(4096), 12 << 10, 0),
            16 << 20
        );
        assert_eq!(cache_budget(16 << 20, 8, 2048, None, 12 << 10, 0), 16 << 20);
        // Memory taken out of what the slots leave, never out of the configured budget.
        assert_eq!(
            cache_budget(16 << 20, 8, 2048, Some(4096), 12 << 10, 72 << 20),
            (16 << 20) + (120 << 20)
        );
        assert_eq!(
            cache_budget(16 << 20, 8, 4096, Some(4096), 12 << 10, 72 << 20),
            16 << 20
        );
        // The most size counts as llama.cpp pads it (4,000 cells take 4,096).
        assert_eq!(
            cache_budget(1, 1, 2048, Some(4000), 1, 0),
            cache_budget(1, 1, 2048, Some(4096), 1, 0)
        );
        // No cache asked for: none, whatever the slots leave.
        assert_eq!(cache_budget(0, 8, 2048, Some(4096), 12 << 10, 0), 0);
    }
}
