//! `crucible lsp`: the language server on stdin and stdout (see crates/crucible-lsp).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;

use crucible_core::backend;
use crucible_core::infer::{FimTokens, FlashAttention, Generator, ScriptedGenerator};
use crucible_core::repo_context::DEFAULT_BUDGET_TOKENS;
use crucible_core::repo_index::EmbeddingModel;
use crucible_core::settings::Settings;
use crucible_lsp::{GeneratorFactory, LspConfig};

use super::GlobalArgs;
use super::common::{FlashAttentionArg, ModelArgs};

/// A language server on stdin/stdout: completions with repository context, and a code
/// action that implements a function from its docstring and verifies it
///
/// Examples:
///   crucible lsp
///   crucible lsp --repo ~/src/project --max-new-tokens 32
///
/// Editor setup (Neovim, Helix, VS Code, Emacs): docs/EDITORS.md.
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub(crate) struct LspArgs {
    /// The repository to draw context from. Default: the workspace root the editor names.
    #[arg(long, value_name = "PATH")]
    repo: Option<PathBuf>,
    /// No repository context (completions see the current file only).
    #[arg(long, conflicts_with = "repo")]
    no_context: bool,
    /// Tokens of repository context at most (estimated at three bytes a token).
    #[arg(long, value_name = "TOKENS", default_value_t = DEFAULT_BUDGET_TOKENS)]
    repo_budget: usize,
    /// Rank repository context by BM25 and sentence embeddings fused (reciprocal rank
    /// fusion), as `crucible generate --repo --embed` does. The index embeds its chunks between
    /// requests (completions use BM25 until every chunk has a vector) and a saved file's new
    /// chunks with its update. Needs the model that `scripts/embedding-model.sh` installs.
    #[arg(long, conflicts_with = "no_context")]
    embed: bool,
    /// Tokens a completion writes at most.
    #[arg(long, value_name = "N", default_value_t = 64)]
    max_new_tokens: usize,
    /// Milliseconds a completion request waits for a newer one before it starts, when it
    /// follows the one before by less than that (a request after a pause starts at once).
    #[arg(long, value_name = "MS", default_value_t = 60)]
    debounce_ms: u64,
    /// Flash attention in a local model's contexts. `off` is faster for an editor's
    /// completions on a CPU (docs/PERFORMANCE.md); `auto` leaves it to llama.cpp, as the other
    /// commands do. Default: off, or auto with --batch-invariant, which needs flash attention.
    #[arg(long, value_name = "CHOICE")]
    flash_attention: Option<FlashAttentionArg>,
    /// Evaluate the text after the cursor again at every keystroke, instead of moving its
    /// cached cells to their new positions. Moving is faster (a keystroke evaluates only the
    /// tokens that changed) and approximate: the moved cells were computed against the text
    /// before the keystroke, as with llama-server's --cache-reuse (docs/PERFORMANCE.md).
    #[arg(long)]
    no_kv_shift: bool,
    /// Testing only: answer from this JSON array of strings, in order, repeating the last,
    /// instead of a model (the model has Qwen2.5-Coder's FIM tokens). For checking editor
    /// integration without loading a model.
    #[arg(long, value_name = "FILE", hide = true)]
    scripted_answers: Option<PathBuf>,
    #[command(flatten)]
    model: ModelArgs,
}

pub(crate) fn run(args: LspArgs, _global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let settings = args
        .model
        .settings(None)?
        .for_editor(args.flash_attention.map(FlashAttention::from))
        .context("could not resolve settings")?;
    let settings = Settings {
        kv_shift: settings.kv_shift && !args.no_kv_shift,
        ..settings
    };
    if args.embed {
        // The server would only log a missing model to the editor's log and complete without
        // context: say so here, before the editor starts waiting.
        EmbeddingModel::check_installed(&settings.home)?;
    }
    let factory: GeneratorFactory = match &args.scripted_answers {
        Some(path) => scripted(path)?,
        None => {
            let settings = settings.clone();
            Box::new(move || {
                // Model download progress has no terminal here: stderr is the editor's log.
                backend::open_generator(&settings, &mut |_| {})
            })
        }
    };
    let config = LspConfig {
        repo: args.repo.clone(),
        index_dir: None,
        no_context: args.no_context,
        budget_tokens: args.repo_budget,
        embeddings: args.embed,
        max_new_tokens: args.max_new_tokens,
        debounce: Duration::from_millis(args.debounce_ms),
        ..LspConfig::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("could not start the async runtime")?;
    let ended = runtime.block_on(crucible_lsp::serve_stdio(config, settings, factory));
    // tokio reads stdin on a blocking thread that cannot be interrupted: dropping the runtime
    // would wait for it, i.e. for the client to close stdin, and the protocol wants the
    // server gone as soon as `exit` arrives.
    runtime.shutdown_background();
    Ok(ExitCode::from(ended.exit_code()))
}

fn scripted(path: &std::path::Path) -> anyhow::Result<GeneratorFactory> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("could not read --scripted-answers `{}`", path.display()))?;
    let answers: Vec<String> = serde_json::from_str(&text).with_context(|| {
        format!(
            "--scripted-answers `{}` must be a JSON array of strings",
            path.display()
        )
    })?;
    if answers.is_empty() {
        bail!("--scripted-answers `{}` has no answers", path.display());
    }
    Ok(Box::new(move || {
        let mut next = 0;
        let generator = ScriptedGenerator::from_fn(move |_, _| {
            let answer = answers[next.min(answers.len() - 1)].clone();
            next += 1;
            Some(answer)
        })
        .with_fim(FimTokens::qwen());
        Ok(Box::new(generator) as Box<dyn Generator>)
    }))
}
