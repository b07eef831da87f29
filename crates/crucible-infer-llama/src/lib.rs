//! In-process llama.cpp backend (through the `llama-cpp-2` crate).
//!
//! One [`LlamaGenerator`] owns one loaded GGUF model. A request for `n` sequences evaluates the
//! prompt once, with every prompt token tagged as belonging to all `n` sequences, so the prompt's
//! KV cache cells are shared; the sequences are then decoded together, one token each per batch.
//! On a CPU that is the lever: decode of one sequence is memory-bound, and a batch of `n` reads
//! the weights once for `n` tokens.
//!
//! A request's first sequence leaves its cells in the context, and the next request keeps those
//! of the prefix it shares with them (by the rule of `generate_many`'s prompt cache) and
//! evaluates only the rest: an editor's next completion re-reads the text from its cursor on,
//! or with [`LlamaConfig::kv_shift`] only the tokens that changed (`reuse.rs`).

#[cfg(test)]
mod batch_invariance;
// The tests' shared helpers (`tests/common`, which `batch_invariance` includes) name this crate.
#[cfg(test)]
extern crate self as crucible_infer_llama;
mod beam;
mod decode;
mod draft;
mod invariant;
mod kv_state;
mod many;
pub use many::DEFAULT_PROMPT_CACHE_BYTES;
mod reuse;
mod score;

use std::num::NonZeroU32;
use std::path::Path;
use std::sync::OnceLock;
use std::time::Instant;

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::model::{LlamaLoraAdapter, LlamaModel};
use llama_cpp_2::token::LlamaToken;

use crucible_infer::{
    ChatTemplate, DraftCost, DraftPrior, Error, FimTokens, FlashAttention, GenRequest, Generation,
    Generator, ModelInfo, Observer, Prompt, Speculate,
};
use crucible_types::{Decoding, GenParams};

/// How to run the model.
#[derive(Debug, Clone)]
pub struct LlamaConfig {
    /// Threads for decoding and prompt evaluation.
    pub threads: usize,
    /// Upper bound on tokens per sequence (prompt + answer); `None` uses the model's training
    /// context.
    pub context_length: Option<usize>,
    /// Tokens per llama.cpp batch during prompt evaluation.
    pub batch_size: usize,
    /// The most KV cells a slot of `generate_many` may need (a server sets its context length).
    /// Slots start as long as the first requests need (at least 2,048 cells) and grow in place
    /// when a longer one comes, the requests in flight keeping their cells; the KV memory they
    /// leave unused against slots of this size goes to the prompt cache. `None`: the slots
    /// leave nothing to the cache.
    pub slot_cells: Option<usize>,
    /// A LoRA adapter (GGUF) applied at load, with its scale; every context gets it.
    pub lora: Option<LoraAdapter>,
    /// Speculative decoding: off, prompt lookup, or a draft model (greedy and sampled
    /// requests; beam search decodes plainly, and is refused with a draft model).
    pub speculate: Speculate,
    /// A smaller GGUF model with the same vocabulary that drafts for this one; needed by
    /// [`Speculate::Draft`], checked at load (same token texts, fewer parameters).
    pub draft_model: Option<std::path::PathBuf>,
    /// Batch-invariant arithmetic: a position's logits are the same bits whether computed alone
    /// or in a batch of any size, so greedy speculation gives exactly plain greedy decoding's
    /// tokens, and a request decoded inside `generate_many` exactly what it gives alone. Costs
    /// prompt evaluation and decoding speed (docs/PERFORMANCE.md); applies to the draft model
    /// too. llama.cpp's kernels that pick their arithmetic by batch size are turned off: weight
    /// repacking, the tiled matrix product (for the whole process), and attention other than
    /// flash attention over a Q8_0 KV cache.
    pub batch_invariant: bool,
    /// Flash attention or plain attention, in every context of the model (and the draft
    /// model's). [`FlashAttention::Auto`] is llama.cpp's choice, flash attention on a CPU;
    /// [`FlashAttention::Off`] suits one request decoding over a long context, as an editor's
    /// completions do (`crucible lsp`), where it is faster on a CPU, but a verified draft's or a
    /// resumed prompt's logits then differ more from one-token steps', so greedy speculation and
    /// prefix reuse give plain greedy decoding's text less often (docs/PERFORMANCE.md). Batch
    /// invariance needs flash attention: `Off` with `batch_invariant` is refused at load. With
    /// `Off`, `generate_many` still evaluates a prompt admitted while nothing decodes with flash
    /// attention, in a context of its own (`many/flash.rs`).
    pub flash_attention: FlashAttention,
    /// What a drafted token costs, which decides when speculation drafts; `None`: the cost
    /// measured on a CPU ([`DraftCost::lookup`], [`DraftCost::model`]). A cost of 0 drafts
    /// whenever a draft is found (tests use it to exercise verification).
    pub draft_cost: Option<DraftCost>,
    /// Host memory, in bytes, that `generate_many` may keep finished requests' KV cells in, so
    /// a prompt sharing a prefix with one of them evaluates only the rest (0: no prompt cache),
    /// beside the KV memory the slots leave unused (see `slot_cells`).
    /// [`DEFAULT_PROMPT_CACHE_BYTES`] unless a server is told otherwise.
    pub prompt_cache_bytes: usize,
    /// Let a request of the single-request path (`generate`) keep the cells of the text its
    /// prompt shares with the previous prompt after a change in the middle, moved to their new
    /// positions, not only those of the shared prefix: a keystroke before an editor's
    /// text-after-the-cursor then evaluates only the changed tokens. The moved cells were
    /// computed against the old text, so the answer can differ from a cold request's (as
    /// llama-server's `--cache-reuse`); off unless asked (`crucible lsp` asks). Refused with
    /// `batch_invariant`, and ignored by a model whose positions cannot be shifted.
    pub kv_shift: bool,
}

/// Longest prompt-lookup draft verified in one step.
pub const MAX_DRAFT: usize = 10;

/// Longest draft-model draft: each drafted token costs a draft-model step whether it is
/// accepted or not, so drafts stay shorter than prompt lookup's.
pub const MAX_MODEL_DRAFT: usize = 6;

/// A LoRA adapter file and the scale it is applied with (1.0: as trained).
#[derive(Debug, Clone, PartialEq)]
pub struct LoraAdapter {
    pub path: std::path::PathBuf,
    pub scale: f32,
}

/// A GGUF model loaded in this process.
pub struct LlamaGenerator {
    model: &'static LlamaModel,
    template: ChatTemplate,
    info: ModelInfo,
    config: LlamaConfig,
    session: Option<Session>,
    fim: Option<FimTokens>,
    /// Texts of the control and user-defined tokens: in a chat message they stay plain text.
    specials: Vec<String>,
    /// Prompt tokens whose cells were reused instead of evaluated, since the model loaded.
    reused_prompt_tokens: usize,
    /// The LoRA adapter (leaked with the model it belongs to) and its scale.
    lora: Option<(&'static mut LlamaLoraAdapter, f32)>,
    /// The draft model, when one was given.
    draft: Option<DraftModel>,
    /// What the drafts of the sequences decoded so far said: where a new sequence's draft
    /// length starts.
    draft_prior: DraftPrior,
    /// `generate_many`'s flash-attention context for prompts, when its slots attend plainly.
    flash: many::FlashPrefill,
}

/// A loaded draft model and its context (made like the target's, without a LoRA adapter).
struct DraftModel {
    model: &'static LlamaModel,
    session: Option<Session>,
}

/// The draft model's context when requests draft with it (`speculate` is
/// [`Speculate::Draft`]) and it has been made.
fn draft_streams(
    draft: &mut Option<DraftModel>,
    speculate: Speculate,
) -> Option<&mut LlamaContext<'static>> {
    if speculate != Speculate::Draft {
        return None;
    }
    draft
        .as_mut()
        .and_then(|draft| draft.session.as_mut())
        .map(|session| &mut session.ctx)
}

impl std::fmt::Debug for LlamaGenerator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlamaGenerator")
            .field("info", &self.info)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// A llama.cpp context and the capacity it was made with. Contexts are reused across requests
/// and only rebuilt when a request needs more cells or sequences, or another layout.
struct Session {
    ctx: LlamaContext<'static>,
    layout: Layout,
    /// The tokens whose cells sequence 0 holds, at positions 0.. (empty: none known). The
    /// single-request path leaves its sequence's cells in the context, so the next request
    /// evaluates only what follows the prefix it shares with them (an editor's next
    /// completion); everything else that uses the context clears it and this.
    held: Vec<LlamaToken>,
    /// How many of `held` were the prompt (the rest is the answer).
    held_prompt: usize,
    /// Every token sequence 0 chose for the last request (`held` lacks the last one, never
    /// fed): prompt lookup drafts from it for the next request that reuses these cells.
    answer: Vec<LlamaToken>,
}

impl Session {
    /// Make sequence 0's cells serve `prompt` as far as they can, and drop every other cell:
    /// keep those of the longest prefix it shares with the cells held (by the prompt cache's
    /// rule, [`many::reusable`]: at least [`many::MIN_REUSE`] tokens, never the prompt's last
    /// one), and with `shift`, also move those of the text both prompts share after a change
    /// to their new positions and evaluate the changed tokens between (`reuse.rs`).
    fn prepare(
        &mut self,
        prompt: &[LlamaToken],
        shift: bool,
        batch_size: usize,
    ) -> Result<Prepared, Error> {
        let n_seq = match self.layout {
            Layout::Unified { n_seq, .. } => n_seq,
            Layout::PerSequence { .. } => 0,
        };
        // Moving needs a second sequence to park the moved cells on while the changed tokens
        // are evaluated (llama.cpp takes a sequence's tokens only after its last cell).
        let plan = reuse::plan(&self.held, self.held_prompt, prompt, shift && n_seq >= 2);
        let ctx = &mut self.ctx;
        // Other sequences' cells past the shared prompt hold their own answers: they go whole.
        let mut kept = plan.prefix >= many::MIN_REUSE
            && n_seq > 0
            && (1..n_seq as u32).all(|seq| ctx.clear_kv_cache_seq(Some(seq), None, None).is_ok());
        kept &= match plan.moved {
            None => matches!(
                ctx.clear_kv_cache_seq(Some(0), Some(plan.prefix as u32), None),
                Ok(true)
            ),
            Some(moved) => {
                let (from, end) = (moved.from as u32, (moved.from + moved.len) as u32);
                matches!(
                    ctx.clear_kv_cache_seq(Some(0), Some(plan.prefix as u32), Some(from)),
                    Ok(true)
                ) && matches!(ctx.clear_kv_cache_seq(Some(0), Some(end), None), Ok(true))
            }
        };
        if !kept {
            self.forget();
            return Ok(Prepared::default());
        }
        let Some(moved) = plan.moved else {
            self.held.truncate(plan.prefix);
            self.held_prompt = self.held_prompt.min(plan.prefix);
            return Ok(Prepared {
                held: plan.prefix,
                reused: plan.prefix,
                moved: false,
            });
        };
        if let Err(err) = self.shift(prompt, plan.prefix, moved, batch_size) {
            self.forget();
            return Err(err);
        }
        self.held = prompt[..moved.to + moved.len].to_vec();
        self.held_prompt = self.held.len();
        Ok(Prepared {
            held: self.held.len(),
            reused: plan.reused(),
            moved: true,
        })
    }

    /// Move sequence 0's cells `moved.from..` to `moved.to..` and evaluate `prompt[prefix..
    /// moved.to]` between the kept prefix and them: sequence 0 then holds `prompt[..moved.to +
    /// moved.len]`. Its other cells are gone already.
    fn shift(
        &mut self,
        prompt: &[LlamaToken],
        prefix: usize,
        moved: reuse::Moved,
        batch_size: usize,
    ) -> Result<(), Error> {
        let ctx = &mut self.ctx;
        let (to, end) = (moved.to as u32, (moved.to + moved.len) as u32);
        let cells_err = |err| backend_error(format!("could not move KV cells: {err}"));
        if moved.delta() != 0 {
            ctx.kv_cache_seq_add(
                0,
                Some(moved.from as u32),
                Some((moved.from + moved.len) as u32),
                moved.delta(),
            )
            .map_err(cells_err)?;
        }
        if moved.to > prefix {
            // Park the moved cells on sequence 1, evaluate the changed tokens right after the
            // prefix, and give the moved cells back.
            ctx.copy_kv_cache_seq(0, 1, Some(to), Some(end))
                .map_err(cells_err)?;
            ctx.clear_kv_cache_seq(Some(0), Some(to), Some(end))
                .map_err(cells_err)?;
            decode::eval_tokens(ctx, &prompt[..moved.to], prefix, batch_size, &[0], false)?;
            ctx.copy_kv_cache_seq(1, 0, Some(to), Some(end))
                .map_err(cells_err)?;
            ctx.clear_kv_cache_seq(Some(1), None, None)
                .map_err(cells_err)?;
        }
        Ok(())
    }

    /// Clear the cache: the next request evaluates its whole prompt.
    fn forget(&mut self) {
        self.ctx.clear_kv_cache();
        self.held.clear();
        self.held_prompt = 0;
        self.answer.clear();
    }
}

/// What [`Session::prepare`] left in sequence 0 for a prompt.
#[derive(Debug, Default, Clone, Copy)]
struct Prepared {
    /// How many leading prompt tokens have cells (0: the cache was cleared).
    held: usize,
    /// How many of them were reused rather than evaluated.
    reused: usize,
    /// Whether cells were moved to new positions (llama.cpp rotates their keys at the next
    /// evaluation, so until then their saved state is not what it will be).
    moved: bool,
}

/// How a context's KV cache is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// One cache of `n_ctx` cells shared by up to `n_seq` sequences: cells can belong to several
    /// sequences, so n samples share their prompt's cells. Attention spans every used cell.
    Unified { n_ctx: usize, n_seq: usize },
    /// One cache of `cells` per sequence (llama.cpp's KV streams): unrelated prompts decoded
    /// together each attend over their own cells only. Sharing a prompt copies its cells.
    PerSequence { seqs: usize, cells: usize },
}

impl Layout {
    /// Whether a context made with `self` serves requests that need `need`.
    fn serves(self, need: Layout) -> bool {
        match (self, need) {
            (
                Layout::Unified { n_ctx, n_seq },
                Layout::Unified {
                    n_ctx: want_ctx,
                    n_seq: want_seq,
                },
            ) => n_ctx >= want_ctx && n_seq >= want_seq,
            (Layout::PerSequence { seqs, cells }, Layout::PerSequence { seqs: s, cells: c }) => {
                seqs == s && cells >= c
            }
            _ => false,
        }
    }
}

const BACKEND: &str = "llama.cpp";

fn backend_error(message: impl std::fmt::Display) -> Error {
    Error::Backend {
        backend: BACKEND,
        message: message.to_string(),
    }
}

/// The process-wide llama.cpp backend; llama.cpp allows only one initialisation.
fn backend() -> Result<&'static LlamaBackend, Error> {
    static BACKEND_CELL: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();
    BACKEND_CELL
        .get_or_init(|| {
            llama_cpp_2::send_logs_to_tracing(llama_cpp_2::LogOptions::default());
            LlamaBackend::init().map_err(|err| err.to_string())
        })
        .as_ref()
        .map_err(backend_error)
}

impl LlamaGenerator {
    /// Load the GGUF file at `path`. `name` is how reports refer to the model. The caller should
    /// have validated the file (see `crucible-gguf`); llama.cpp's own checks are the last line.
    pub fn load(path: &Path, name: &str, config: LlamaConfig) -> Result<LlamaGenerator, Error> {
        check_attention(&config)?;
        let backend = backend()?;
        let started = Instant::now();
        if config.batch_invariant {
            invariant::switch_off_tiled_products()?;
        }
        let mut model = invariant::load_model(backend, path, config.batch_invariant)
            .map_err(|err| backend_error(format!("could not load `{}`: {err}", path.display())))?;
        let lora = match &config.lora {
            Some(lora) => {
                let adapter = model.lora_adapter_init(&lora.path).map_err(|err| {
                    backend_error(format!(
                        "could not apply the LoRA adapter `{}` to `{}` ({err}); it must be a GGUF LoRA made for this model's architecture and sizes (llama.cpp's convert_lora_to_gguf.py writes one)",
                        lora.path.display(),
                        path.display()
                    ))
                })?;
                Some((Box::leak(Box::new(adapter)), lora.scale))
            }
            None => None,
        };
        // The model lives as long as the process: contexts borrow it, and a generator is made
        // once per run. Leaking it gives contexts a `'static` borrow without self-reference.
        let draft = match &config.draft_model {
            Some(draft_path) => {
                let draft = invariant::load_model(backend, draft_path, config.batch_invariant)
                    .map_err(|err| {
                        backend_error(format!(
                            "could not load the draft model `{}`: {err}",
                            draft_path.display()
                        ))
                    })?;
                draft::check_pair(
                    &model,
                    &path.display().to_string(),
                    &draft,
                    &draft_path.display().to_string(),
                )?;
                Some(DraftModel {
                    model: Box::leak(Box::new(draft)),
                    session: None,
                })
            }
            None if config.speculate == Speculate::Draft => {
                return Err(backend_error(
                    "draft-model speculation needs a draft model: give one with `--draft-model`, or use `--speculate lookup` or `off`",
                ));
            }
            None => None,
        };
        let model: &'static LlamaModel = Box::leak(Box::new(model));
        let template = chat_template(model)?;
        let fim = fim_tokens(model);
        let specials = special_texts(model);
        let train_ctx = model.n_ctx_train() as usize;
        let context_length = config.context_length.unwrap_or(train_ctx).min(train_ctx);
        let mut config = config;
        if config.kv_shift && !can_shift(model) {
            tracing::warn!(
                model = name,
                "this model's cached cells cannot be moved to other positions: KV shifting is off"
            );
            config.kv_shift = false;
        }
        tracing::info!(
            model = name,
            seconds = started.elapsed().as_secs_f64(),
            context_length,
            threads = config.threads,
            fim = fim.is_some(),
            draft = draft.is_some(),
            batch_invariant = config.batch_invariant,
            flash_attention = %config.flash_attention,
            kv_shift = config.kv_shift,
            "loaded model"
        );
        Ok(LlamaGenerator {
            model,
            template,
            info: ModelInfo {
                name: name.to_owned(),
                source: path.display().to_string(),
                context_length,
            },
            config,
            session: None,
            fim,
            specials,
            reused_prompt_tokens: 0,
            lora,
            draft,
            draft_prior: DraftPrior::default(),
            flash: many::FlashPrefill::default(),
        })
    }

    /// Turn speculative decoding on or off for the requests that follow (the model stays
    /// loaded). Draft-model speculation needs a draft model given at load.
    pub fn set_speculate(&mut self, speculate: Speculate) -> Result<(), Error> {
        if speculate == Speculate::Draft && self.draft.is_none() {
            return Err(backend_error(
                "draft-model speculation needs a draft model, and none was loaded with this model",
            ));
        }
        self.config.speculate = speculate;
        Ok(())
    }

    /// Prompt tokens that were not evaluated, over the generator's life (the measure of KV
    /// reuse between consecutive requests): `generate_many` copied their cells from its prompt
    /// cache, or `generate` found them left in the context by the request before.
    pub fn reused_prompt_tokens(&self) -> usize {
        self.reused_prompt_tokens
    }

    /// Render a prompt to the exact text the model sees.
    pub fn render(&self, prompt: &Prompt) -> Result<String, Error> {
        match prompt {
            Prompt::Text { text } => Ok(text.clone()),
            Prompt::Fill { tokens, infill } => Ok(crucible_infer::fim_prompt(tokens, infill)),
            Prompt::Chat { messages, prefill } => {
                let mut text = self.template.render(messages, true)?;
                text.push_str(prefill);
                Ok(text)
            }
        }
    }

    /// Tokenize text the way prompts are tokenized (special tokens parsed, BOS if the model
    /// wants one).
    pub fn tokenize(&self, text: &str) -> Vec<LlamaToken> {
        let vocab = self.model.vocab();
        vocab.tokenize(text.as_bytes(), vocab.should_add_bos(), true)
    }

    /// A request's prompt as tokens. Raw text is tokenized with special-token parsing, as a
    /// completion prompt is; a chat is rendered in guarded pieces, so that special-token text
    /// written inside a message is tokenized as the plain text it is; a fill prompt gets its
    /// FIM tokens as tokens and its files' text tokenized as plain text.
    pub fn prompt_tokens(&self, prompt: &Prompt) -> Result<Vec<LlamaToken>, Error> {
        let (messages, prefill) = match prompt {
            Prompt::Chat { messages, prefill } => (messages, prefill),
            Prompt::Fill { tokens, infill } => return self.fill_tokens(tokens, infill),
            Prompt::Text { .. } => return Ok(self.tokenize(&self.render(prompt)?)),
        };
        let mut pieces = self
            .template
            .render_guarded(messages, true, &self.specials)?;
        match pieces.last_mut() {
            Some(last) if !last.literal => last.text.push_str(prefill),
            _ => pieces.push(crucible_infer::PromptPiece {
                text: prefill.clone(),
                literal: false,
            }),
        }
        let vocab = self.model.vocab();
        let mut tokens = Vec::new();
        for (i, piece) in pieces.iter().enumerate() {
            let bos = i == 0 && vocab.should_add_bos();
            tokens.extend(vocab.tokenize(piece.text.as_bytes(), bos, !piece.literal));
        }
        Ok(tokens)
    }

    /// The tokens of a fill-in-the-middle prompt: each control token's text must be one token
    /// of this model (it is for the tokens [`Generator::fim_tokens`] reports); the text between
    /// them is tokenized without special-token parsing.
    fn fill_tokens(
        &self,
        fim: &FimTokens,
        infill: &crucible_infer::Infill,
    ) -> Result<Vec<LlamaToken>, Error> {
        use crucible_infer::FimPiece;
        let vocab = self.model.vocab();
        let mut tokens = Vec::new();
        if vocab.should_add_bos() {
            tokens.push(vocab.bos());
        }
        for piece in crucible_infer::fim_pieces(fim, infill) {
            match piece {
                FimPiece::Token(text) => match vocab.tokenize(text.as_bytes(), false, true)[..] {
                    [token] => tokens.push(token),
                    _ => {
                        return Err(backend_error(format!(
                            "the fill-in-the-middle token `{text}` is not one token of the model `{}`; fill prompts must use the model's own FIM tokens",
                            self.info.name
                        )));
                    }
                },
                FimPiece::Text(text) => {
                    tokens.extend(vocab.tokenize(text.as_bytes(), false, false));
                }
            }
        }
        Ok(tokens)
    }

    /// Make sure the context can hold `need`; rebuild it if not. The KV cache is cleared.
    fn session(&mut self, need: Layout) -> Result<&mut Session, Error> {
        ensure_session(
            &mut self.session,
            self.model,
            need,
            &self.config,
            self.lora
                .as_mut()
                .map(|(adapter, scale)| (&mut **adapter, *scale)),
        )
    }
}

/// Refuse plain attention in batch-invariant mode, whose identity rests on flash attention
/// (`invariant.rs`).
fn check_attention(config: &LlamaConfig) -> Result<(), Error> {
    if config.batch_invariant && config.flash_attention == FlashAttention::Off {
        return Err(backend_error(
            "batch-invariant mode attends with flash attention over a Q8_0 cache, and flash attention is off; turn one of them off",
        ));
    }
    if config.batch_invariant && config.kv_shift {
        return Err(backend_error(
            "batch-invariant mode evaluates every prompt exactly, and KV shifting reuses cells computed against other text; turn one of them off",
        ));
    }
    Ok(())
}

/// Whether llama.cpp can move `model`'s cached cells to other positions: rotary positions of a
/// single kind (llama.cpp aborts the process on a shift it cannot apply, so anything else is
/// taken as no).
fn can_shift(model: &LlamaModel) -> bool {
    use llama_cpp_2::model::RopeType;
    let plain_rope = matches!(model.rope_type(), Some(RopeType::Norm | RopeType::NeoX));
    let arch = model
        .meta_val_str("general.architecture")
        .unwrap_or_default();
    // Step-3.5 has rotary dimensions per layer, which llama.cpp's shift does not handle.
    plain_rope && !arch.starts_with("step35")
}

/// llama.cpp's flash-attention setting for a context outside batch-invariant mode.
fn flash_attention_policy(choice: FlashAttention) -> llama_cpp_sys_2::llama_flash_attn_type {
    match choice {
        FlashAttention::Auto => llama_cpp_sys_2::LLAMA_FLASH_ATTN_TYPE_AUTO,
        FlashAttention::Off => llama_cpp_sys_2::LLAMA_FLASH_ATTN_TYPE_DISABLED,
    }
}

/// Make sure `session` holds a context of `model` that can hold `need`; rebuild it if not
/// (with the LoRA adapter, if any). The KV cache is cleared.
fn ensure_session<'s>(
    session: &'s mut Option<Session>,
    model: &'static LlamaModel,
    need: Layout,
    config: &LlamaConfig,
    lora: Option<(&mut LlamaLoraAdapter, f32)>,
) -> Result<&'s mut Session, Error> {
    let session = ensure_context(session, model, need, config, lora)?;
    session.forget();
    Ok(session)
}

/// [`ensure_session`] without clearing the cache of a context that serves `need` (a rebuilt
/// one is empty).
fn ensure_context<'s>(
    session: &'s mut Option<Session>,
    model: &'static LlamaModel,
    need: Layout,
    config: &LlamaConfig,
    lora: Option<(&mut LlamaLoraAdapter, f32)>,
) -> Result<&'s mut Session, Error> {
    let fits = session.as_ref().is_some_and(|s| s.layout.serves(need));
    if !fits {
        // Round up so that small variations between requests reuse the context.
        let (layout, n_ctx, n_seq, unified) = match need {
            Layout::Unified { n_ctx, n_seq } => {
                let n_ctx = n_ctx.next_multiple_of(1024);
                let n_seq = n_seq.next_power_of_two();
                (Layout::Unified { n_ctx, n_seq }, n_ctx, n_seq, true)
            }
            Layout::PerSequence { seqs, cells } => {
                // llama.cpp pads each stream to a multiple of 256 cells.
                let cells = cells.next_multiple_of(256);
                (
                    Layout::PerSequence { seqs, cells },
                    seqs * cells,
                    seqs,
                    false,
                )
            }
        };
        *session = None;
        let threads = i32::try_from(config.threads.max(1)).unwrap_or(1);
        let params = LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(n_ctx as u32))
            .with_n_batch(config.batch_size as u32)
            .with_n_ubatch(config.batch_size as u32)
            .with_n_seq_max(n_seq as u32)
            .with_kv_unified(unified)
            .with_n_threads(threads)
            .with_n_threads_batch(threads);
        let params = if config.batch_invariant {
            invariant::context_params(params)
        } else {
            params.with_flash_attention_policy(flash_attention_policy(config.flash_attention))
        };
        let mut ctx = model
            .new_context(backend()?, params)
            .map_err(|err| backend_error(format!("could not create a context: {err}")))?;
        if let Some((adapter, scale)) = lora {
            ctx.lora_adapter_set(adapter, scale)
                .map_err(|err| backend_error(format!("could not set the LoRA adapter: {err}")))?;
        }
        tracing::debug!(?layout, "created llama.cpp context");
        *session = Some(Session {
            ctx,
            layout,
            held: Vec::new(),
            held_prompt: 0,
            answer: Vec::new(),
        });
    }
    Ok(session.as_mut().expect("the session was just ensured"))
}

impl Generator for LlamaGenerator {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn generate(
        &mut self,
        request: &GenRequest,
        observer: &mut dyn Observer,
    ) -> Result<Generation, Error> {
        let params = &request.params;
        params.validate()?;
        let started = Instant::now();
        let prompt = self.prompt_tokens(&request.prompt)?;
        tracing::debug!(
            tokens = prompt.len(),
            ms = millis(started),
            "prompt tokenized"
        );
        self.run_tokens(&prompt, params, observer, false)
    }

    fn generate_many(
        &mut self,
        feed: &mut dyn crucible_infer::Feed,
        max_sequences: usize,
        observer: &mut dyn Observer,
    ) -> Result<(), Error> {
        self.run_many(feed, max_sequences, observer)
    }

    fn fim_tokens(&self) -> Option<FimTokens> {
        self.fim.clone()
    }

    fn as_scorer(&mut self) -> Option<&mut dyn crucible_infer::TextScorer> {
        Some(self)
    }
}

impl LlamaGenerator {
    /// Throughput probe in the manner of `llama-bench`: evaluate a prompt of exactly
    /// `prompt_len` tokens (filler code), then generate exactly `params.max_new_tokens` tokens
    /// for each of `params.n` sequences, ignoring end-of-generation tokens.
    pub fn bench_run(
        &mut self,
        prompt_len: usize,
        params: &GenParams,
    ) -> Result<Generation, Error> {
        let filler = "def fibonacci(n: int) -> int:\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n\n";
        let mut text = String::new();
        let mut tokens = Vec::new();
        while tokens.len() < prompt_len.max(1) {
            text.push_str(filler);
            tokens = self.tokenize(&text);
        }
        tokens.truncate(prompt_len.max(1));
        // A benchmark measures a cold prompt: nothing of an earlier run's cells is reused.
        if let Some(session) = &mut self.session {
            session.forget();
        }
        self.run_tokens(&tokens, params, &mut crucible_infer::Silent, true)
    }

    /// The longest draft for a request decoded with `params`: 0 when speculation is off or the
    /// request uses beam search.
    pub(crate) fn max_draft(&self, params: &GenParams) -> usize {
        match (self.config.speculate, params.decoding) {
            (Speculate::Off, _) | (_, Decoding::Beam { .. }) => 0,
            (Speculate::Draft, _) => MAX_MODEL_DRAFT,
            (Speculate::Lookup, _) => MAX_DRAFT,
        }
    }

    /// What a drafted token costs: its verification, and with a draft model one of its steps
    /// (the ratio of the two models' weight bytes, since a decode step reads every weight).
    pub(crate) fn draft_cost(&self) -> DraftCost {
        if let Some(cost) = self.config.draft_cost {
            return cost;
        }
        match &self.draft {
            // A decode step reads every weight once, so its time follows the weights' bytes;
            // the parameter count would miss the quantization (the 0.5B's file is 0.32 of the
            // 1.5B's parameters but 0.44 of its bytes, as its measured step time is).
            Some(draft) if self.drafts_with_model() => {
                DraftCost::model(draft.model.size() as f32 / self.model.size().max(1) as f32)
            }
            _ => DraftCost::lookup(),
        }
    }

    /// Whether requests draft with the draft model.
    pub(crate) fn drafts_with_model(&self) -> bool {
        self.config.speculate == Speculate::Draft && self.draft.is_some()
    }

    /// The draft model's context, made or grown to hold `need` (its KV cache cleared); `None`
    /// when requests do not draft with a model.
    fn draft_context(&mut self, need: Layout) -> Result<Option<&mut LlamaContext<'static>>, Error> {
        if !self.drafts_with_model() {
            return Ok(None);
        }
        let Some(draft) = self.draft.as_mut() else {
            return Ok(None);
        };
        let session = ensure_session(&mut draft.session, draft.model, need, &self.config, None)?;
        Ok(Some(&mut session.ctx))
    }

    /// A prompt this model can take with room for `params.max_new_tokens` after it.
    fn check_prompt(&self, prompt: &[LlamaToken], params: &GenParams) -> Result<(), Error> {
        if prompt.is_empty() {
            return Err(backend_error("the prompt tokenized to nothing"));
        }
        let context = self.info.context_length;
        if prompt.len() + params.max_new_tokens > context {
            return Err(Error::PromptTooLong {
                prompt_tokens: prompt.len(),
                context,
                max_new_tokens: params.max_new_tokens,
            });
        }
        Ok(())
    }

    fn run_tokens(
        &mut self,
        prompt: &[LlamaToken],
        params: &GenParams,
        observer: &mut dyn Observer,
        ignore_eos: bool,
    ) -> Result<Generation, Error> {
        params.validate()?;
        self.check_prompt(prompt, params)?;
        let (streams, cells) = match params.decoding {
            Decoding::Beam { width, .. } => {
                (2 * width, prompt.len() + 2 * width * params.max_new_tokens)
            }
            _ => (params.n, prompt.len() + params.n * params.max_new_tokens),
        };
        let max_draft = self.max_draft(params);
        let draft_cost = self.draft_cost();
        if let Decoding::Beam { .. } = params.decoding
            && self.drafts_with_model()
        {
            return Err(backend_error(
                "beam search cannot use draft-model speculation; use `--speculate off` or `lookup` with beam search (it then decodes plainly), or sample or decode greedily",
            ));
        }
        let need = Layout::Unified {
            n_ctx: cells,
            // KV shifting parks moved cells on a second sequence (`Session::shift`).
            n_seq: if self.config.kv_shift {
                streams.max(2)
            } else {
                streams
            },
        };
        // The draft context is taken out while the target's is borrowed, and put back after.
        let mut draft = self.draft.take();
        let draft_ctx = match draft.as_mut() {
            Some(draft) if self.config.speculate == Speculate::Draft => {
                let need = Layout::Unified {
                    n_ctx: cells + streams * (MAX_MODEL_DRAFT + 1),
                    n_seq: streams,
                };
                Some(ensure_session(
                    &mut draft.session,
                    draft.model,
                    need,
                    &self.config,
                    None,
                ))
            }
            _ => None,
        };
        let result = match draft_ctx.transpose() {
            Err(err) => Err(err),
            Ok(draft_session) => self.decode_tokens(
                need,
                prompt,
                params,
                observer,
                ignore_eos,
                (max_draft, draft_cost),
                draft_session.map(|session| &mut session.ctx),
            ),
        };
        self.draft = draft;
        result
    }

    #[expect(clippy::too_many_arguments, reason = "one request's decoding inputs")]
    fn decode_tokens(
        &mut self,
        need: Layout,
        prompt: &[LlamaToken],
        params: &GenParams,
        observer: &mut dyn Observer,
        ignore_eos: bool,
        (max_draft, draft_cost): (usize, DraftCost),
        draft_ctx: Option<&mut LlamaContext<'static>>,
    ) -> Result<Generation, Error> {
        let job = decode::Job {
            model: self.model,
            prompt,
            params,
            batch_size: self.config.batch_size,
            ignore_eos,
            max_draft,
            draft_cost,
        };
        if let Decoding::Beam {
            width,
            length_penalty,
        } = params.decoding
        {
            // Beam search moves hypotheses between sequences: it starts from an empty cache
            // and leaves nothing known behind.
            let session = self.session(need)?;
            return beam::run(&mut session.ctx, &job, width, length_penalty, observer);
        }
        let flash = self.flash_prefill();
        let session = ensure_context(
            &mut self.session,
            self.model,
            need,
            &self.config,
            self.lora
                .as_mut()
                .map(|(adapter, scale)| (&mut **adapter, *scale)),
        )?;
        let Prepared {
            held,
            reused,
            moved,
        } = session.prepare(prompt, self.config.kv_shift, self.config.batch_size)?;
        self.reused_prompt_tokens += reused;
        tracing::debug!(prompt = prompt.len(), reused, held, "single request");
        // The last answer is a likely draft for a prompt that continues the last one's text.
        let recall = if held > 0 {
            std::mem::take(&mut session.answer)
        } else {
            Vec::new()
        };
        // The prompt's time includes its evaluation with flash attention, if any.
        let started = Instant::now();
        let held = if flash && !moved {
            many::prefill_single(
                &mut self.flash,
                self.model,
                &self.config,
                self.lora
                    .as_mut()
                    .map(|(adapter, scale)| (&mut **adapter, *scale)),
                session,
                prompt,
                held,
            )
        } else {
            held
        };
        let flash_ms = millis(started);
        let result = decode::run(
            &mut session.ctx,
            draft_ctx,
            &job,
            held,
            &recall,
            &mut self.draft_prior,
            observer,
        );
        // What sequence 0's cells now hold: the prompt and the tokens it fed (all it chose but
        // the last), as far as its cells reach (a failed or cancelled run may have fed some
        // generated tokens, or not the whole prompt).
        let mut held = prompt.to_vec();
        session.answer.clear();
        if let Ok((generation, chosen)) = &result {
            if let Some(stats) = generation.speculation {
                tracing::debug!(
                    drafted = stats.drafted,
                    accepted = stats.accepted,
                    recalled = recall.len(),
                    "single request drafts"
                );
            }
            held.extend_from_slice(&chosen[..chosen.len().saturating_sub(1)]);
            session.answer.clone_from(chosen);
        }
        let cells = usize::try_from(session.ctx.kv_cache_seq_pos_max(0) + 1).unwrap_or(0);
        held.truncate(cells);
        session.held_prompt = prompt.len().min(held.len());
        session.held = held;
        result.map(|(generation, _)| Generation {
            prompt_ms: generation.prompt_ms + flash_ms,
            ..generation
        })
    }
}

fn chat_template(model: &LlamaModel) -> Result<ChatTemplate, Error> {
    let vocab = model.vocab();
    let piece = |token: LlamaToken| {
        String::from_utf8_lossy(&vocab.token_to_piece(token, true, None)).into_owned()
    };
    match model.meta_val_str("tokenizer.chat_template") {
        Ok(source) => ChatTemplate::new(&source, &piece(vocab.bos()), &piece(vocab.eos())),
        Err(_) => {
            tracing::warn!("the model has no chat template; using ChatML");
            Ok(ChatTemplate::chatml())
        }
    }
}

/// The model's fill-in-the-middle tokens, from the vocabulary's FIM entries (llama.cpp finds
/// them by the GGUF's token ids or, for older files, by their well-known texts). Each is given
/// as its text, and only when that text tokenizes back to the one token, so a prompt built from
/// the texts carries the tokens themselves.
fn fim_tokens(model: &LlamaModel) -> Option<FimTokens> {
    let vocab = model.vocab();
    let text = |token: LlamaToken| -> Option<String> {
        if token.0 < 0 {
            return None;
        }
        let piece = String::from_utf8_lossy(&vocab.token_to_piece(token, true, None)).into_owned();
        let back = vocab.tokenize(piece.as_bytes(), false, true);
        (back == [token]).then_some(piece)
    };
    Some(FimTokens {
        prefix: text(vocab.fim_pre())?,
        suffix: text(vocab.fim_suf())?,
        middle: text(vocab.fim_mid())?,
        repo_name: text(vocab.fim_rep()),
        file_sep: text(vocab.fim_sep()),
    })
}

/// The texts of the model's control and user-defined tokens (`<|im_end|>`, `<|fim_prefix|>`,
/// ...), which special-token parsing would turn into those tokens.
fn special_texts(model: &LlamaModel) -> Vec<String> {
    use llama_cpp_2::token_type::LlamaTokenAttr;
    let vocab = model.vocab();
    let mut texts: Vec<String> = vocab
        .tokens()
        .filter(|&token| {
            let attr = vocab.attr(token);
            attr.contains(LlamaTokenAttr::Control) || attr.contains(LlamaTokenAttr::UserDefined)
        })
        .map(|token| String::from_utf8_lossy(&vocab.token_to_piece(token, true, None)).into_owned())
        .filter(|text| !text.is_empty())
        .collect();
    texts.sort();
    texts.dedup();
    texts
}

/// Time since `start` in milliseconds.
fn millis(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(batch_invariant: bool, flash_attention: FlashAttention) -> LlamaConfig {
        LlamaConfig {
            threads: 2,
            context_length: Some(2048),
            batch_size: 512,
            slot_cells: None,
            lora: None,
            speculate: Speculate::Off,
            draft_model: None,
            batch_invariant,
            flash_attention,
            draft_cost: None,
            prompt_cache_bytes: DEFAULT_PROMPT_CACHE_BYTES,
            kv_shift: false,
        }
    }

    #[test]
    fn flash_attention_choices_map_to_llama_cpp_policies() {
        assert_eq!(
            flash_attention_policy(FlashAttention::Auto),
            llama_cpp_sys_2::LLAMA_FLASH_ATTN_TYPE_AUTO
        );
        assert_eq!(
            flash_attention_policy(FlashAttention::Off),
            llama_cpp_sys_2::LLAMA_FLASH_ATTN_TYPE_DISABLED
        );
        // Auto is what llama.cpp's own defaults ask for: a context made with it is a context
        // made as before the choice existed.
        assert_eq!(
            LlamaContextParams::default().flash_attention_policy(),
            flash_attention_policy(FlashAttention::Auto)
        );
    }

    #[test]
    fn plain_attention_is_refused_in_batch_invariant_mode_only() {
        assert!(check_attention(&config(false, FlashAttention::Auto)).is_ok());
        assert!(check_attention(&config(false, FlashAttention::Off)).is_ok());
        assert!(check_attention(&config(true, FlashAttention::Auto)).is_ok());
        let err = check_attention(&config(true, FlashAttention::Off)).unwrap_err();
        assert!(err.to_string().contains("flash attention is off"), "{err}");
    }

    #[test]
    fn kv_shift_is_refused_in_batch_invariant_mode_only() {
        let shifting = |batch_invariant| LlamaConfig {
            kv_shift: true,
            ..config(batch_invariant, FlashAttention::Auto)
        };
        assert!(check_attention(&shifting(false)).is_ok());
        let err = check_attention(&shifting(true)).unwrap_err();
        assert!(err.to_string().contains("KV shifting"), "{err}");
    }

    #[test]
    fn batch_invariant_contexts_keep_flash_attention_over_a_q8_0_cache() {
        let params = invariant::context_params(LlamaContextParams::default());
        assert_eq!(
            params.flash_attention_policy(),
            llama_cpp_sys_2::LLAMA_FLASH_ATTN_TYPE_ENABLED
        );
    }
}
