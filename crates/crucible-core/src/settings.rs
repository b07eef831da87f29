//! Settings: one tree, layered CLI > `CRUCIBLE_*` environment > `./crucible.toml` >
//! `$XDG_CONFIG_HOME/crucible/config.toml` > built-in defaults.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crucible_infer::{FlashAttention, Speculate};
use crucible_model::Weights;
use crucible_types::env as vars;
use serde::Deserialize;

use crate::Error;

/// The configuration file's contents; every field optional. Also used for CLI overrides.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Model spec: a known name, a GGUF path, or `hf:ORG/REPO/FILE.gguf`; with `endpoint`, the
    /// server's model id.
    pub model: Option<String>,
    /// The OpenAI base URL of a server (vLLM, llama-server, Ollama), e.g.
    /// `http://localhost:8000/v1`; when set, generation goes to that server.
    pub endpoint: Option<String>,
    /// Inference threads (default: the number of physical cores).
    pub threads: Option<usize>,
    /// Maximum tokens per sequence, prompt included (default: 8192, capped by the model).
    pub context_length: Option<usize>,
    /// Benchmark data directory (in a file, relative to the file's directory).
    pub data_dir: Option<PathBuf>,
    /// Weights to run a local model with: `widen` (Q5_0 tensors re-encoded as Q8_0) or
    /// `as-is`. Default: widen for `crucible eval`, as-is otherwise.
    pub weights: Option<Weights>,
    /// With an endpoint: seconds the server may stay silent during a request (default: 600).
    pub request_timeout: Option<u64>,
    /// With an endpoint: most requests in flight at once (default: 4).
    pub parallel_requests: Option<usize>,
    /// Speculative decoding of a local model: `off`, `lookup` (prompt lookup, the default) or
    /// `draft`. Greedy output equals `off`'s token for token only with `batch_invariant`.
    pub speculate: Option<Speculate>,
    /// A smaller local model with the same vocabulary that drafts for the model (a known name,
    /// a GGUF path, or `hf:...`); setting it makes `draft` the default of `speculate`.
    pub draft_model: Option<String>,
    /// Batch-invariant arithmetic for a local model: a position's logits are the same bits
    /// alone or in a batch, so greedy output is the same with and without speculation and
    /// alone or beside other requests, at a cost in speed (default: false).
    pub batch_invariant: Option<bool>,
}

impl ConfigFile {
    /// Fill the fields `self` leaves unset from `lower`.
    pub fn combine(self, lower: ConfigFile) -> ConfigFile {
        ConfigFile {
            model: self.model.or(lower.model),
            endpoint: self.endpoint.or(lower.endpoint),
            threads: self.threads.or(lower.threads),
            context_length: self.context_length.or(lower.context_length),
            data_dir: self.data_dir.or(lower.data_dir),
            weights: self.weights.or(lower.weights),
            request_timeout: self.request_timeout.or(lower.request_timeout),
            parallel_requests: self.parallel_requests.or(lower.parallel_requests),
            speculate: self.speculate.or(lower.speculate),
            draft_model: self.draft_model.or(lower.draft_model),
            batch_invariant: self.batch_invariant.or(lower.batch_invariant),
        }
    }

    /// Parse a configuration file.
    pub fn load(path: &Path) -> Result<ConfigFile, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_owned(),
            source,
        })?;
        let mut file: ConfigFile = toml::from_str(&text).map_err(|err| Error::Config {
            path: path.to_owned(),
            message: err.to_string(),
        })?;
        if let (Some(dir), Some(base)) = (&file.data_dir, path.parent())
            && dir.is_relative()
        {
            file.data_dir = Some(base.join(dir));
        }
        Ok(file)
    }
}

/// Resolved settings for one run.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// `CRUCIBLE_HOME`: models, data and caches.
    pub home: PathBuf,
    /// Model spec; `None` means the default model (with an endpoint: the server's only model).
    pub model: Option<String>,
    /// An OpenAI-compatible server to use instead of the local backend.
    pub endpoint: Option<String>,
    pub threads: usize,
    pub context_length: usize,
    /// The benchmark data directory chosen by `--data-dir`, `CRUCIBLE_DATA` or `data_dir` in a
    /// config file; `None`: found from the working directory ([`crate::data::data_dirs`]).
    pub data_dir: Option<PathBuf>,
    /// How a local model's weights are encoded for llama.cpp; `None`: the command's default.
    pub weights: Option<Weights>,
    /// With an endpoint: how long the server may stay silent; `None`: the HTTP backend's default.
    pub request_timeout: Option<Duration>,
    /// With an endpoint: most requests in flight; `None`: the HTTP backend's default.
    pub parallel_requests: Option<usize>,
    /// The configuration files that were read, highest priority first.
    pub sources: Vec<PathBuf>,
    /// A GGUF LoRA adapter applied to a local model at load (`--lora FILE[:SCALE]`).
    pub lora: Option<LoraSpec>,
    /// Speculative decoding of a local model (`--speculate`, `speculate` in crucible.toml).
    pub speculate: Speculate,
    /// The draft model's spec (`--draft-model`, `draft_model` in crucible.toml); used when
    /// `speculate` is `draft`.
    pub draft_model: Option<String>,
    /// Batch-invariant arithmetic of a local model (`--batch-invariant`, `batch_invariant` in
    /// crucible.toml): greedy output identical with and without speculation, and alone or
    /// batched, at a cost in speed.
    pub batch_invariant: bool,
    /// Host memory, in MiB, for the KV cells of finished requests that a later prompt sharing
    /// their prefix reuses (`crucible serve --prompt-cache-mib`); `None`: the backend's default.
    pub prompt_cache_mib: Option<usize>,
    /// Flash attention in a local model's contexts: llama.cpp's choice unless a command picks
    /// otherwise (`crucible lsp` turns it off: it is slower for one request decoding over an
    /// editor's long context on a CPU; docs/PERFORMANCE.md). Off is refused with
    /// `batch_invariant`.
    pub flash_attention: FlashAttention,
    /// Reuse the cached cells of text a prompt shares with the previous one after a change in
    /// its middle, moved to their new positions (`crucible lsp`: a keystroke before the text
    /// after the cursor evaluates only the changed tokens). An approximation, as
    /// llama-server's `--cache-reuse`; off for every other command.
    pub kv_shift: bool,
}

/// A LoRA adapter file and its scale.
#[derive(Debug, Clone, PartialEq)]
pub struct LoraSpec {
    pub path: PathBuf,
    pub scale: f32,
}

impl LoraSpec {
    /// Parse `FILE` or `FILE:SCALE` (scale 1.0 when not given). The file must exist and be a
    /// GGUF LoRA adapter (`general.type` = `adapter`).
    pub fn parse(spec: &str) -> Result<LoraSpec, Error> {
        let bad = |problem: String| Error::Setting {
            name: "--lora",
            problem,
        };
        let (path, scale) = match spec.rsplit_once(':') {
            Some((path, scale)) if !path.is_empty() && scale.parse::<f32>().is_ok() => {
                (path, scale.parse::<f32>().unwrap_or(1.0))
            }
            _ => (spec, 1.0),
        };
        if !scale.is_finite() {
            return Err(bad(format!("the scale in `{spec}` is not a finite number")));
        }
        let path = PathBuf::from(path);
        let gguf = crucible_gguf::load_gguf(&path).map_err(|err| {
            bad(format!(
                "`{}` is not a readable GGUF file ({err}); give a LoRA adapter in GGUF form as FILE or FILE:SCALE",
                path.display()
            ))
        })?;
        let kind = gguf.get_str("general.type").unwrap_or("model");
        let adapter = gguf.get_str("adapter.type").unwrap_or("");
        if kind != "adapter" || adapter != "lora" {
            return Err(bad(format!(
                "`{}` is a GGUF {kind}, not a LoRA adapter (general.type `adapter`, adapter.type `lora`); llama.cpp's convert_lora_to_gguf.py makes one from a PEFT adapter",
                path.display()
            )));
        }
        Ok(LoraSpec { path, scale })
    }
}

/// The default per-sequence context: enough for long prompts and answers, small enough to keep
/// the KV cache of many parallel samples in memory.
pub const DEFAULT_CONTEXT_LENGTH: usize = 8192;

impl Settings {
    /// Resolve settings from the process environment, config files and `cli` overrides.
    pub fn resolve(cli: ConfigFile) -> Result<Settings, Error> {
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        Settings::resolve_with(cli, &cwd, &|key| std::env::var_os(key))
    }

    /// Like [`Settings::resolve`] with an explicit working directory and environment.
    pub fn resolve_with(
        cli: ConfigFile,
        cwd: &Path,
        env: &dyn Fn(&str) -> Option<OsString>,
    ) -> Result<Settings, Error> {
        let get = |key: &str| {
            env(key)
                .filter(|v| !v.is_empty())
                .map(|v| v.to_string_lossy().into_owned())
        };
        let parse_usize = |key: &'static str| -> Result<Option<usize>, Error> {
            get(key)
                .map(|v| {
                    v.parse::<usize>().map_err(|_| Error::Env {
                        var: key,
                        value: v.clone(),
                        expected: "a whole number",
                    })
                })
                .transpose()
        };
        let from_env = ConfigFile {
            model: get(vars::CRUCIBLE_MODEL),
            endpoint: get(vars::CRUCIBLE_ENDPOINT),
            threads: parse_usize(vars::CRUCIBLE_THREADS)?,
            context_length: None,
            data_dir: get(vars::CRUCIBLE_DATA).map(PathBuf::from),
            weights: None,
            request_timeout: None,
            parallel_requests: None,
            speculate: None,
            draft_model: None,
            batch_invariant: None,
        };
        let mut sources = Vec::new();
        let project_file = cwd.join("crucible.toml");
        let project = if project_file.is_file() {
            sources.push(project_file.clone());
            ConfigFile::load(&project_file)?
        } else {
            ConfigFile::default()
        };
        let user_file = match get(vars::CRUCIBLE_CONFIG) {
            Some(explicit) => Some(PathBuf::from(explicit)),
            None => get(vars::XDG_CONFIG_HOME)
                .map(PathBuf::from)
                .or_else(|| get(vars::HOME).map(|h| PathBuf::from(h).join(".config")))
                .map(|dir| dir.join("crucible/config.toml"))
                .filter(|path| path.is_file()),
        };
        let user = match &user_file {
            Some(path) => {
                sources.push(path.clone());
                ConfigFile::load(path)?
            }
            None => ConfigFile::default(),
        };
        let merged = cli.combine(from_env).combine(project).combine(user);
        let home = crucible_model::env::crucible_home(|key| env(key))?;
        let threads = merged.threads.unwrap_or_else(num_cpus::get_physical);
        if threads == 0 {
            return Err(Error::Setting {
                name: "threads",
                problem: "must be at least 1".into(),
            });
        }
        let context_length = merged.context_length.unwrap_or(DEFAULT_CONTEXT_LENGTH);
        if context_length < 64 {
            return Err(Error::Setting {
                name: "context_length",
                problem: format!("{context_length} is too small; use at least 64 tokens"),
            });
        }
        if merged.request_timeout == Some(0) {
            return Err(Error::Setting {
                name: "request_timeout",
                problem: "must be at least 1 second".into(),
            });
        }
        if merged.parallel_requests == Some(0) {
            return Err(Error::Setting {
                name: "parallel_requests",
                problem: "must be at least 1".into(),
            });
        }
        // A draft model makes drafting the default; `off` or `lookup` still turn it off.
        let speculate = match (merged.speculate, &merged.draft_model) {
            (Some(speculate), _) => speculate,
            (None, Some(_)) => Speculate::Draft,
            (None, None) => Speculate::default(),
        };
        if speculate == Speculate::Draft && merged.draft_model.is_none() {
            return Err(Error::Setting {
                name: "speculate",
                problem: "is `draft`, but no draft model is set; give one with `--draft-model` (or `draft_model` in crucible.toml), e.g. `--draft-model qwen2.5-coder-0.5b-instruct` for the 1.5B, or use `--speculate lookup`".into(),
            });
        }
        let batch_invariant = merged.batch_invariant.unwrap_or(false);
        if batch_invariant && merged.endpoint.is_some() {
            return Err(Error::Setting {
                name: "batch_invariant",
                problem: "applies to a local model's arithmetic, and an endpoint is set; a server decides its own (drop `--batch-invariant` or `batch_invariant` in crucible.toml, or the endpoint)".into(),
            });
        }
        Ok(Settings {
            home,
            model: merged.model,
            endpoint: merged.endpoint,
            threads,
            context_length,
            data_dir: merged.data_dir,
            weights: merged.weights,
            request_timeout: merged.request_timeout.map(Duration::from_secs),
            parallel_requests: merged.parallel_requests,
            sources,
            lora: None,
            speculate,
            draft_model: merged.draft_model,
            batch_invariant,
            prompt_cache_mib: None,
            flash_attention: FlashAttention::Auto,
            kv_shift: false,
        })
    }

    /// These settings for an editor's completions (`crucible lsp`): one request at a time,
    /// each decoding a few tokens over a long context, where llama.cpp's flash-attention kernel
    /// is the slower one on a CPU. `choice` is the command's `--flash-attention`; without it,
    /// flash attention is off, unless batch-invariant mode needs it. Off with batch-invariant
    /// mode is an error.
    ///
    /// KV shifting is on, unless batch-invariant mode is (`Settings::kv_shift`). Speculation
    /// stays as set (lookup by default): it drafts from the last completion too, which the
    /// user may be typing along. Without flash attention a verified draft's logits differ from
    /// one-token steps' more, so greedy text can differ from plain greedy decoding's near ties
    /// (`crucible-infer-llama`'s `tests/speculative.rs` saw it); an editor's completions, with
    /// moved cells, are approximate anyway.
    pub fn for_editor(self, choice: Option<FlashAttention>) -> Result<Settings, Error> {
        let mut settings = self.without_flash_attention(choice)?;
        // Batch-invariant mode promises exact evaluation, which moved cells are not.
        settings.kv_shift = !settings.batch_invariant;
        Ok(settings)
    }

    /// Flash attention as `choice` says, else off, unless batch-invariant mode needs it: on a
    /// CPU llama.cpp's plain attention decodes faster (`crucible lsp`, `crucible serve`;
    /// docs/PERFORMANCE.md). Off with batch-invariant mode is an error.
    pub fn without_flash_attention(
        mut self,
        choice: Option<FlashAttention>,
    ) -> Result<Settings, Error> {
        self.flash_attention = match (choice, self.batch_invariant) {
            (Some(FlashAttention::Off), true) => {
                return Err(Error::Setting {
                    name: "flash_attention",
                    problem: "is off, and batch-invariant mode attends with flash attention; drop `--flash-attention off` or `--batch-invariant`".into(),
                });
            }
            (Some(choice), _) => choice,
            (None, true) => FlashAttention::Auto,
            (None, false) => FlashAttention::Off,
        };
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn the_hint_for_a_bad_file_names_every_key_the_file_accepts() {
        let message = toml::from_str::<ConfigFile>("modle = \"x\"\n")
            .unwrap_err()
            .to_string();
        let expected = message
            .split_once("expected one of")
            .unwrap_or_else(|| panic!("serde lists the fields: {message}"))
            .1;
        let hint = Error::Config {
            path: "crucible.toml".into(),
            message: message.clone(),
        }
        .hint()
        .unwrap();
        let keys: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        assert!(keys.len() >= 11, "{message}");
        for key in keys {
            assert!(
                hint.contains(&format!("`{key}`")),
                "the hint leaves out `{key}`: {hint}"
            );
        }
    }

    fn resolve(cli: ConfigFile, cwd: &Path, vars: &[(&str, &str)]) -> Result<Settings, Error> {
        let map: HashMap<String, OsString> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect();
        Settings::resolve_with(cli, cwd, &|key| map.get(key).cloned())
    }

    #[test]
    fn layers_apply_in_order() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("crucible.toml"),
            "model = \"from-project\"\nthreads = 3\ncontext_length = 4096\nweights = \"as-is\"\n",
        )
        .unwrap();
        let home = dir.path().join("home");
        let home = home.to_str().unwrap();
        let settings = resolve(
            ConfigFile::default(),
            dir.path(),
            &[("CRUCIBLE_HOME", home)],
        )
        .unwrap();
        assert_eq!(settings.model.as_deref(), Some("from-project"));
        assert_eq!(settings.threads, 3);
        assert_eq!(settings.context_length, 4096);
        assert_eq!(settings.weights, Some(Weights::AsIs));
        let settings = resolve(
            ConfigFile::default(),
            dir.path(),
            &[("CRUCIBLE_HOME", home), ("CRUCIBLE_THREADS", "1")],
        )
        .unwrap();
        assert_eq!(settings.threads, 1);
        let cli = ConfigFile {
            threads: Some(2),
            ..ConfigFile::default()
        };
        let settings = resolve(
            cli,
            dir.path(),
            &[("CRUCIBLE_HOME", home), ("CRUCIBLE_THREADS", "1")],
        )
        .unwrap();
        assert_eq!(settings.threads, 2);
        assert_eq!(settings.home, PathBuf::from(home));
    }

    #[test]
    fn the_endpoint_layers_like_the_model() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("crucible.toml"),
            "endpoint = \"http://gpu:8000/v1\"\nmodel = \"Qwen/Qwen2.5-Coder-7B-Instruct\"\n",
        )
        .unwrap();
        let vars = [("CRUCIBLE_HOME", "/tmp/x")];
        let settings = resolve(ConfigFile::default(), dir.path(), &vars).unwrap();
        assert_eq!(settings.endpoint.as_deref(), Some("http://gpu:8000/v1"));
        assert_eq!(
            settings.model.as_deref(),
            Some("Qwen/Qwen2.5-Coder-7B-Instruct")
        );
        let vars = [
            ("CRUCIBLE_HOME", "/tmp/x"),
            ("CRUCIBLE_ENDPOINT", "http://localhost:11434/v1"),
        ];
        let settings = resolve(ConfigFile::default(), dir.path(), &vars).unwrap();
        assert_eq!(
            settings.endpoint.as_deref(),
            Some("http://localhost:11434/v1")
        );
        let cli = ConfigFile {
            endpoint: Some("http://localhost:8080".into()),
            ..ConfigFile::default()
        };
        let settings = resolve(cli, dir.path(), &vars).unwrap();
        assert_eq!(settings.endpoint.as_deref(), Some("http://localhost:8080"));
        let empty = tempfile::tempdir().unwrap();
        let settings = resolve(
            ConfigFile::default(),
            empty.path(),
            &[("CRUCIBLE_HOME", "/tmp/x")],
        )
        .unwrap();
        assert_eq!(settings.endpoint, None);
    }

    #[test]
    fn flash_attention_is_off_and_kv_shift_on_for_the_editor_unless_told() {
        let dir = tempfile::tempdir().unwrap();
        let vars = [("CRUCIBLE_HOME", "/tmp/x")];
        let settings = resolve(ConfigFile::default(), dir.path(), &vars).unwrap();
        assert_eq!(settings.flash_attention, FlashAttention::Auto);
        let editor = |settings: &Settings, choice| {
            settings
                .clone()
                .for_editor(choice)
                .map(|settings| settings.flash_attention)
        };
        assert_eq!(editor(&settings, None).unwrap(), FlashAttention::Off);
        assert_eq!(
            editor(&settings, Some(FlashAttention::Auto)).unwrap(),
            FlashAttention::Auto
        );
        assert_eq!(
            editor(&settings, Some(FlashAttention::Off)).unwrap(),
            FlashAttention::Off
        );
        // Batch-invariant mode keeps its flash attention, and refuses to go without it.
        let invariant = resolve(
            ConfigFile {
                batch_invariant: Some(true),
                ..ConfigFile::default()
            },
            dir.path(),
            &vars,
        )
        .unwrap();
        assert_eq!(editor(&invariant, None).unwrap(), FlashAttention::Auto);
        assert_eq!(
            editor(&invariant, Some(FlashAttention::Auto)).unwrap(),
            FlashAttention::Auto
        );
        let err = editor(&invariant, Some(FlashAttention::Off)).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Setting {
                    name: "flash_attention",
                    ..
                }
            ),
            "{err:?}"
        );
        // The editor speculates as told, with or without flash attention.
        assert_eq!(settings.speculate, Speculate::Lookup);
        let editor_settings = settings.clone().for_editor(None).unwrap();
        assert_eq!(editor_settings.speculate, Speculate::Lookup);
        // The editor moves cached cells, except in batch-invariant mode; no other command does.
        assert!(!settings.kv_shift);
        assert!(editor_settings.kv_shift);
        assert!(!invariant.clone().for_editor(None).unwrap().kv_shift);
        assert_eq!(
            Settings {
                flash_attention: FlashAttention::Auto,
                kv_shift: false,
                ..editor_settings
            },
            settings
        );
        let with_flash = settings
            .clone()
            .for_editor(Some(FlashAttention::Auto))
            .unwrap();
        assert_eq!(
            with_flash,
            Settings {
                kv_shift: true,
                ..settings.clone()
            }
        );
        assert_eq!(
            invariant.clone().for_editor(None).unwrap().speculate,
            Speculate::Lookup
        );
    }

    #[test]
    fn speculation_is_lookup_unless_the_file_or_the_flag_says_otherwise() {
        let dir = tempfile::tempdir().unwrap();
        let vars = [("CRUCIBLE_HOME", "/tmp/x")];
        let settings = resolve(ConfigFile::default(), dir.path(), &vars).unwrap();
        assert_eq!(settings.speculate, Speculate::Lookup);
        std::fs::write(dir.path().join("crucible.toml"), "speculate = \"off\"\n").unwrap();
        let settings = resolve(ConfigFile::default(), dir.path(), &vars).unwrap();
        assert_eq!(settings.speculate, Speculate::Off);
        let cli = ConfigFile {
            speculate: Some(Speculate::Lookup),
            ..ConfigFile::default()
        };
        assert_eq!(
            resolve(cli, dir.path(), &vars).unwrap().speculate,
            Speculate::Lookup
        );
        std::fs::write(dir.path().join("crucible.toml"), "speculate = \"maybe\"\n").unwrap();
        let err = resolve(ConfigFile::default(), dir.path(), &vars)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("crucible.toml") && err.contains("maybe"),
            "{err}"
        );
    }

    #[test]
    fn a_draft_model_makes_draft_the_default_and_draft_needs_one() {
        let dir = tempfile::tempdir().unwrap();
        let vars = [("CRUCIBLE_HOME", "/tmp/x")];
        std::fs::write(
            dir.path().join("crucible.toml"),
            "draft_model = \"qwen2.5-coder-0.5b-instruct\"\n",
        )
        .unwrap();
        let settings = resolve(ConfigFile::default(), dir.path(), &vars).unwrap();
        assert_eq!(settings.speculate, Speculate::Draft);
        assert_eq!(
            settings.draft_model.as_deref(),
            Some("qwen2.5-coder-0.5b-instruct")
        );
        // `off` on the command line still wins over the file's draft model.
        let cli = ConfigFile {
            speculate: Some(Speculate::Off),
            ..ConfigFile::default()
        };
        assert_eq!(
            resolve(cli, dir.path(), &vars).unwrap().speculate,
            Speculate::Off
        );
        std::fs::write(dir.path().join("crucible.toml"), "speculate = \"draft\"\n").unwrap();
        let err = resolve(ConfigFile::default(), dir.path(), &vars)
            .unwrap_err()
            .to_string();
        assert!(err.contains("--draft-model"), "{err}");
    }

    #[test]
    fn batch_invariance_is_off_unless_asked_for_and_refused_with_an_endpoint() {
        let dir = tempfile::tempdir().unwrap();
        let vars = [("CRUCIBLE_HOME", "/tmp/x")];
        let settings = resolve(ConfigFile::default(), dir.path(), &vars).unwrap();
        assert!(!settings.batch_invariant);
        std::fs::write(dir.path().join("crucible.toml"), "batch_invariant = true\n").unwrap();
        let settings = resolve(ConfigFile::default(), dir.path(), &vars).unwrap();
        assert!(settings.batch_invariant);
        let cli = ConfigFile {
            endpoint: Some("http://localhost:8080/v1".into()),
            ..ConfigFile::default()
        };
        let err = resolve(cli, dir.path(), &vars).unwrap_err().to_string();
        assert!(err.contains("batch_invariant"), "{err}");
    }

    #[test]
    fn bad_values_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let err = resolve(
            ConfigFile::default(),
            dir.path(),
            &[("CRUCIBLE_HOME", "/tmp/x"), ("CRUCIBLE_THREADS", "many")],
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable `CRUCIBLE_THREADS` is `many`, expected a whole number"
        );
        std::fs::write(dir.path().join("crucible.toml"), "modle = \"x\"\n").unwrap();
        let err = resolve(
            ConfigFile::default(),
            dir.path(),
            &[("CRUCIBLE_HOME", "/tmp/x")],
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("crucible.toml") && err.contains("unknown field `modle`"),
            "{err}"
        );
    }

    #[test]
    fn server_request_settings_layer_and_zero_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("crucible.toml"),
            "request_timeout = 1800\nparallel_requests = 16\n",
        )
        .unwrap();
        let vars = [("CRUCIBLE_HOME", "/tmp/x")];
        let settings = resolve(ConfigFile::default(), dir.path(), &vars).unwrap();
        assert_eq!(settings.request_timeout, Some(Duration::from_secs(1800)));
        assert_eq!(settings.parallel_requests, Some(16));
        let cli = ConfigFile {
            parallel_requests: Some(2),
            ..ConfigFile::default()
        };
        let settings = resolve(cli, dir.path(), &vars).unwrap();
        assert_eq!(settings.parallel_requests, Some(2));
        assert_eq!(settings.request_timeout, Some(Duration::from_secs(1800)));
        for (cli, name) in [
            (
                ConfigFile {
                    parallel_requests: Some(0),
                    ..ConfigFile::default()
                },
                "parallel_requests",
            ),
            (
                ConfigFile {
                    request_timeout: Some(0),
                    ..ConfigFile::default()
                },
                "request_timeout",
            ),
        ] {
            let err = resolve(cli, dir.path(), &vars).unwrap_err().to_string();
            assert!(err.contains(name) && err.contains("at least 1"), "{err}");
        }
    }

    #[test]
    fn the_data_directory_layers_and_a_file_s_is_relative_to_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("crucible.toml"),
            "data_dir = \"bench-data\"\n",
        )
        .unwrap();
        let home = [("CRUCIBLE_HOME", "/tmp/x")];
        let settings = resolve(ConfigFile::default(), dir.path(), &home).unwrap();
        assert_eq!(settings.data_dir, Some(dir.path().join("bench-data")));
        let with_env = [("CRUCIBLE_HOME", "/tmp/x"), ("CRUCIBLE_DATA", "/env/data")];
        let settings = resolve(ConfigFile::default(), dir.path(), &with_env).unwrap();
        assert_eq!(settings.data_dir, Some(PathBuf::from("/env/data")));
        let cli = ConfigFile {
            data_dir: Some(PathBuf::from("/cli/data")),
            ..ConfigFile::default()
        };
        let settings = resolve(cli, dir.path(), &with_env).unwrap();
        assert_eq!(settings.data_dir, Some(PathBuf::from("/cli/data")));
        // And it is where benchmarks are looked for first.
        let dirs = crate::data::data_dirs(&settings, dir.path());
        assert_eq!(dirs.primary, Some(PathBuf::from("/cli/data")));
        assert_eq!(dirs.pulled, Some(PathBuf::from("/tmp/x/data")));
    }
}
