//! Flag groups shared by several subcommands: model selection and decoding.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};

use crucible_core::eval::TimeLimitPolicy;
use crucible_core::eval::judge::JudgeParams;
use crucible_core::infer::prompt::PromptMode;
use crucible_core::infer::{FlashAttention, Speculate};
use crucible_core::metrics::{Metric, MetricParams, MetricRequest};
use crucible_core::model::Weights;
use crucible_core::types::{Decoding, GenParams, SamplingParams};
use crucible_core::{ConfigFile, Settings};

/// Which model to run and how.
#[derive(Debug, Clone, Args)]
pub(crate) struct ModelArgs {
    /// Model: a known name (see `crucible model list`), a path to a GGUF file, or
    /// `hf:ORG/REPO[@REVISION]/FILE.gguf`. Default: `qwen2.5-coder-0.5b-instruct`.
    /// With --endpoint: the server's model id (default: the server's only model).
    #[arg(long, short = 'm', value_name = "SPEC")]
    pub(crate) model: Option<String>,
    /// Generate with the OpenAI-compatible server (vLLM, llama-server, Ollama) at this base URL
    /// instead of a local model, e.g. `http://localhost:8000/v1`. Default: CRUCIBLE_ENDPOINT,
    /// or `endpoint` in crucible.toml. An API key, if the server wants one, is read from
    /// CRUCIBLE_API_KEY or OPENAI_API_KEY.
    #[arg(long, value_name = "URL")]
    pub(crate) endpoint: Option<String>,
    /// Threads for inference. Default: the number of physical cores.
    #[arg(long, value_name = "N")]
    pub(crate) threads: Option<usize>,
    /// Maximum tokens per sequence, prompt included. Default: 8192 (capped by the model).
    #[arg(long = "ctx", value_name = "TOKENS")]
    pub(crate) context_length: Option<usize>,
    /// Weights of a local model: `widen` re-encodes Q5_0 tensors as Q8_0 (the same numbers;
    /// llama.cpp's CPU kernels for Q8_0 are 1.1-1.2x faster; the copy is cached under
    /// CRUCIBLE_HOME and needs 30% more memory), `as-is` runs the file unchanged. Default:
    /// `weights` in crucible.toml, else widen for `eval` and as-is for other commands.
    #[arg(long, value_name = "HOW")]
    pub(crate) weights: Option<WeightsArg>,
    /// With --endpoint: seconds the server may stay silent (before its answer starts, or
    /// between two pieces of it) before the request counts as failed. Default:
    /// `request_timeout` in crucible.toml, else 600.
    #[arg(long, value_name = "SECONDS")]
    pub(crate) request_timeout: Option<u64>,
    /// With --endpoint: most requests sent to the server at once (samples and tasks decoded
    /// together become concurrent requests). Default: `parallel_requests` in crucible.toml,
    /// else 4.
    #[arg(long, value_name = "N")]
    pub(crate) parallel_requests: Option<usize>,
    /// A LoRA adapter in GGUF form applied to the local model at load, without merging, with
    /// its scale (default 1.0), e.g. `--lora adapter.gguf:0.5`. A run records the adapter's
    /// sha256 and scale, so a resumed run with another adapter is refused.
    #[arg(long, value_name = "FILE[:SCALE]")]
    pub(crate) lora: Option<String>,
    /// Speculative decoding of a local model: `lookup` drafts tokens by matching the text so far
    /// against the prompt and verifies them in one batch (greedy and sampled decoding; beam
    /// search decodes plainly), `draft` drafts them with --draft-model (beam search is refused),
    /// `off` decodes one token per step. Greedy output is identical token for token to `off`'s
    /// only with --batch-invariant; without it, verified drafts' logits differ slightly from
    /// one-token steps', and the output can differ where the top two tokens nearly tie
    /// (sampled output keeps its distribution either way). Default: `speculate` in
    /// crucible.toml, else draft when a draft model is set, else lookup.
    #[arg(long, value_name = "MODE")]
    pub(crate) speculate: Option<SpeculateArg>,
    /// A smaller model with the same vocabulary that drafts tokens for the model, checked at
    /// load (a known name, a GGUF path or `hf:...`), e.g. `qwen2.5-coder-0.5b-instruct` for the
    /// 1.5B. Implies `--speculate draft` unless --speculate says otherwise. Default:
    /// `draft_model` in crucible.toml.
    #[arg(long, value_name = "SPEC")]
    pub(crate) draft_model: Option<String>,
    /// Batch-invariant arithmetic for a local model: llama.cpp's kernels that sum in a different
    /// order for different batch sizes are turned off (weight repacking and the tiled matrix
    /// product) and attention runs as flash attention over a Q8_0 KV cache, so a token's
    /// logits are the same bits whether computed alone or in a batch. Then, and only then,
    /// greedy output is identical token for token with and without --speculate, and a request
    /// decoded beside others gives what it gives alone; without it they can differ where the top
    /// two tokens nearly tie. Slower (docs/PERFORMANCE.md), and its output can differ from the
    /// default mode's. `--batch-invariant=false` turns it off where crucible.toml turns it on.
    /// Default: `batch_invariant` in crucible.toml, else off.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub(crate) batch_invariant: Option<bool>,
}

/// `--speculate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum SpeculateArg {
    /// One token per decode step.
    Off,
    /// Prompt lookup: drafts from the prompt and the text so far.
    Lookup,
    /// A draft model (--draft-model) drafts.
    Draft,
}

impl From<SpeculateArg> for Speculate {
    fn from(arg: SpeculateArg) -> Speculate {
        match arg {
            SpeculateArg::Off => Speculate::Off,
            SpeculateArg::Lookup => Speculate::Lookup,
            SpeculateArg::Draft => Speculate::Draft,
        }
    }
}

/// `--weights`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum WeightsArg {
    /// Q5_0 tensors re-encoded, losslessly, as Q8_0.
    Widen,
    /// The file unchanged.
    AsIs,
}

impl From<WeightsArg> for Weights {
    fn from(arg: WeightsArg) -> Weights {
        match arg {
            WeightsArg::Widen => Weights::Widen,
            WeightsArg::AsIs => Weights::AsIs,
        }
    }
}

/// Settings from the environment and config files alone (commands without model flags).
pub(crate) fn default_settings() -> anyhow::Result<Settings> {
    Settings::resolve(ConfigFile::default()).context("could not resolve settings")
}

impl ModelArgs {
    /// Settings with these flags layered over the environment and config files.
    pub(crate) fn settings(&self, data_dir: Option<PathBuf>) -> anyhow::Result<Settings> {
        let cli = ConfigFile {
            model: self.model.clone(),
            endpoint: self.endpoint.clone(),
            threads: self.threads,
            context_length: self.context_length,
            data_dir,
            weights: self.weights.map(Weights::from),
            request_timeout: self.request_timeout,
            parallel_requests: self.parallel_requests,
            speculate: self.speculate.map(Speculate::from),
            draft_model: self.draft_model.clone(),
            batch_invariant: self.batch_invariant,
        };
        let mut settings = Settings::resolve(cli).context("could not resolve settings")?;
        if let Some(lora) = &self.lora {
            if settings.endpoint.is_some() {
                bail!(
                    "--lora applies an adapter to a local model; with --endpoint, load the adapter in the server instead (vLLM: --enable-lora, llama-server: --lora)"
                );
            }
            settings.lora = Some(crucible_core::LoraSpec::parse(lora)?);
        }
        Ok(settings)
    }
}

/// `--k`, shared by `eval` and `score`.
#[derive(Debug, Clone, Args)]
pub(crate) struct KArgs {
    /// The k of pass@k, comma-separated, each at least 1 (pass@k needs at least k samples per
    /// task: larger k are not reported).
    #[arg(
        long,
        value_name = "K,..",
        value_delimiter = ',',
        default_value = "1,10,100",
        value_parser = parse_k
    )]
    pub(crate) k: Vec<u64>,
}

/// One k of pass@k: a whole number of at least 1.
fn parse_k(given: &str) -> Result<u64, String> {
    match given.trim().parse::<u64>() {
        Ok(0) => Err("pass@0 means nothing: give k of 1 or more, e.g. --k 1,10".into()),
        Ok(k) => Ok(k),
        Err(_) => Err(format!(
            "`{given}` is not a whole number: give k of 1 or more, e.g. --k 1,10"
        )),
    }
}

/// A count that must be at least 1 (`--limit`, `--n`): 0 is a usage error (exit 2), caught by
/// clap before anything loads.
pub(crate) fn parse_count(given: &str) -> Result<usize, String> {
    match given.trim().parse::<usize>() {
        Ok(0) => Err("0 selects nothing: give 1 or more".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("`{given}` is not a whole number: give 1 or more")),
    }
}

impl KArgs {
    /// A warning for each k the user asked for that `n` samples per task cannot give (the
    /// default list is quiet: its larger k are for larger runs).
    pub(crate) fn warnings(&self, n: u64) -> Vec<String> {
        if self.k == [1, 10, 100] {
            return Vec::new();
        }
        self.k
            .iter()
            .filter(|&&k| k > n)
            .map(|k| {
                format!(
                    "warning: pass@{k} needs at least {k} samples per task; with --n {n} it is not reported (raise --n to {k} or more)"
                )
            })
            .collect()
    }
}

/// How the model is prompted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ModeArg {
    /// Chat turns with the model's chat template; the answer is prefilled with a code fence.
    Chat,
    /// Plain text continuation of the task's code (or of a comment describing it).
    Completion,
}

impl From<ModeArg> for PromptMode {
    fn from(mode: ModeArg) -> PromptMode {
        match mode {
            ModeArg::Chat => PromptMode::Chat,
            ModeArg::Completion => PromptMode::Completion,
        }
    }
}

/// Decoding flags (survey eq. 13-14).
///
/// Greedy decoding is the default. Giving `--temperature` (> 0), `--top-k`, `--top-p`,
/// `--min-p`, or `--n` above 1 switches to sampling; `--beam` switches to beam search.
#[derive(Debug, Clone, Args)]
pub(crate) struct DecodingArgs {
    /// Sampling temperature; 0 means greedy. Default when sampling: 0.8.
    #[arg(long, value_name = "T")]
    pub(crate) temperature: Option<f32>,
    /// Keep only the K most likely tokens (0 = off).
    #[arg(long, value_name = "K")]
    pub(crate) top_k: Option<usize>,
    /// Nucleus sampling: keep the most likely tokens up to mass P. Default when sampling: 0.95.
    #[arg(long, value_name = "P")]
    pub(crate) top_p: Option<f32>,
    /// Drop tokens less likely than P times the best one (0 = off).
    #[arg(long, value_name = "P")]
    pub(crate) min_p: Option<f32>,
    /// Beam search with W beams.
    #[arg(long, value_name = "W", conflicts_with_all = ["temperature", "top_k", "top_p", "min_p"])]
    pub(crate) beam: Option<usize>,
    /// Beam search length normalisation: scores are divided by length^A.
    #[arg(long, value_name = "A", default_value_t = 1.0, requires = "beam")]
    pub(crate) length_penalty: f32,
    /// Random seed; the same seed reproduces the same samples.
    #[arg(long, default_value_t = 0)]
    pub(crate) seed: u64,
    /// Maximum new tokens per sample.
    #[arg(long, value_name = "N", default_value_t = 768)]
    pub(crate) max_new_tokens: usize,
    /// Stop generating a sample when this text appears (repeatable).
    #[arg(long, value_name = "TEXT")]
    pub(crate) stop: Vec<String>,
    /// How the model is prompted.
    #[arg(long, value_enum, default_value_t = ModeArg::Chat)]
    pub(crate) mode: ModeArg,
}

impl DecodingArgs {
    /// Turn the flags into parameters for `n` samples.
    pub(crate) fn params(&self, n: usize) -> anyhow::Result<GenParams> {
        let sampling_requested = self.temperature.is_some_and(|t| t > 0.0)
            || self.top_k.is_some()
            || self.top_p.is_some()
            || self.min_p.is_some()
            || n > 1;
        if self.temperature == Some(0.0) && n > 1 {
            anyhow::bail!(
                "temperature 0 is greedy decoding, which gives one answer, but --n {n} asks for {n}\n\nhint: use a temperature above 0 to sample, or --beam {n}"
            );
        }
        let decoding = if let Some(width) = self.beam {
            Decoding::Beam {
                width,
                length_penalty: self.length_penalty,
            }
        } else if sampling_requested && self.temperature != Some(0.0) {
            Decoding::Sample(SamplingParams {
                temperature: self.temperature.unwrap_or(0.8),
                top_k: self.top_k.unwrap_or(0),
                top_p: self.top_p.unwrap_or(0.95),
                min_p: self.min_p.unwrap_or(0.0),
            })
        } else {
            Decoding::Greedy
        };
        let params = GenParams {
            decoding,
            seed: self.seed,
            max_new_tokens: self.max_new_tokens,
            stop: self.stop.clone(),
            n,
        };
        params.validate()?;
        Ok(params)
    }
}

/// How programs are judged: flags shared by `crucible eval` and `crucible score`.
#[derive(Debug, Args)]
pub(crate) struct JudgeArgs {
    /// Smallest per-task CPU time limit, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 3.0)]
    time_limit: f64,
    /// Multiple of the reference solution's CPU time allowed (EvalPlus rule).
    #[arg(long, value_name = "X", default_value_t = 4.0)]
    time_factor: f64,
    /// Memory limit per run in MiB.
    #[arg(long, value_name = "MB", default_value_t = 1024)]
    memory_limit: u64,
    /// Programs judged at once.
    #[arg(long, short = 'j', value_name = "N", default_value_t = 2)]
    jobs: usize,
    /// Also run the visible tests (for n@k with the visible-test filter).
    #[arg(long)]
    visible: bool,
    /// Run programs without the sandbox (results then say `"sandboxed": false`).
    #[arg(long)]
    no_sandbox: bool,
}

impl JudgeArgs {
    /// The judging parameters; `idle_priority` when a model decodes at the same time.
    pub(crate) fn params(&self, idle_priority: bool) -> anyhow::Result<JudgeParams> {
        Ok(JudgeParams {
            policy: time_limit_policy(self.time_limit, self.time_factor)?,
            memory_bytes: self.memory_limit.saturating_mul(1 << 20),
            jobs: self.jobs.max(1),
            visible: self.visible,
            sandboxed: !self.no_sandbox,
            idle_priority,
        })
    }
}

/// The EvalPlus time-limit rule from `--time-limit` and `--time-factor`.
fn time_limit_policy(time_limit: f64, time_factor: f64) -> anyhow::Result<TimeLimitPolicy> {
    if !(time_limit.is_finite() && time_limit > 0.0 && time_limit <= 600.0) {
        bail!("--time-limit must be between 0 and 600 seconds (got {time_limit})");
    }
    if !(time_factor.is_finite() && time_factor >= 1.0) {
        bail!("--time-factor must be at least 1 (got {time_factor})");
    }
    Ok(TimeLimitPolicy {
        minimum: Duration::from_secs_f64(time_limit),
        factor: time_factor,
    })
}

/// `--metric` and the judge's model: flags shared by `crucible eval` and `crucible score`.
#[derive(Debug, Args)]
pub(crate) struct MetricArgs {
    /// Also compare each sample with its reference (the samples file's `reference`, else the
    /// task's reference solution), comma-separated: bleu, codebleu, em (exact match), es (edit
    /// similarity), idmatch (identifier match), ppl (perplexity of the reference under the
    /// model: a local one), judge (an LLM grades each sample, ICE-Score style). Per-sample
    /// scores go to metrics.jsonl; corpus scores, and how well each metric predicts the
    /// verdicts, to metrics.json, summary.json, the table and report.html (docs/METRICS.md).
    #[arg(long, value_name = "M,..")]
    metric: Option<String>,
    /// The judge of `--metric judge`: a known name, a GGUF file or an hf: spec, or with
    /// --judge-endpoint the server's model id. Default: the run's model.
    #[arg(long, value_name = "SPEC")]
    judge_model: Option<String>,
    /// Judge with the OpenAI-compatible server at this base URL. Default: the run's endpoint
    /// when --judge-model is not given, else a local model.
    #[arg(long, value_name = "URL")]
    judge_endpoint: Option<String>,
    /// Judge requests decoded together.
    #[arg(long, value_name = "N", default_value_t = 16)]
    judge_batch: usize,
    /// Most new tokens of each of the judge's answers (reasoning and a grade).
    #[arg(long, value_name = "N", default_value_t = crucible_core::metrics::DEFAULT_JUDGE_TOKENS)]
    judge_max_tokens: usize,
}

impl MetricArgs {
    /// The metrics asked for, with the run's model settings (`run`): the model perplexity is
    /// measured under, and the judge's unless `--judge-model`/`--judge-endpoint` say otherwise.
    pub(crate) fn request(&self, run: &Settings) -> anyhow::Result<Option<MetricRequest>> {
        let Some(list) = &self.metric else {
            if self.judge_model.is_some() || self.judge_endpoint.is_some() {
                bail!("--judge-model and --judge-endpoint are for `--metric judge`");
            }
            return Ok(None);
        };
        let metrics = Metric::parse_list(list)?;
        let judging = metrics.contains(&Metric::Judge);
        if !judging && (self.judge_model.is_some() || self.judge_endpoint.is_some()) {
            bail!(
                "--judge-model and --judge-endpoint are for `--metric judge`, which `--metric {list}` leaves out"
            );
        }
        if self.judge_batch == 0 {
            bail!("--judge-batch must be at least 1");
        }
        if self.judge_max_tokens == 0 {
            bail!("--judge-max-tokens must be at least 1");
        }
        let mut judge = run.clone();
        if self.judge_model.is_some() || self.judge_endpoint.is_some() {
            judge.model = self.judge_model.clone();
            judge.endpoint = self.judge_endpoint.clone();
        }
        let mut params = MetricParams::new(metrics);
        params.judge_batch = self.judge_batch;
        params.judge.max_new_tokens = self.judge_max_tokens;
        Ok(Some(MetricRequest {
            params,
            scorer: run.clone(),
            judge,
        }))
    }

    /// Whether the metrics asked for need a model (perplexity or the judge).
    pub(crate) fn need_model(&self) -> bool {
        self.metric.as_deref().is_some_and(|list| {
            Metric::parse_list(list).is_ok_and(|metrics| metrics.iter().any(|m| m.needs_model()))
        })
    }
}

/// `--flash-attention` (`crucible lsp`, `crucible serve`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum FlashAttentionArg {
    /// llama.cpp's choice: flash attention where the device supports it, a CPU included.
    Auto,
    /// Plain attention.
    Off,
}

impl From<FlashAttentionArg> for FlashAttention {
    fn from(arg: FlashAttentionArg) -> FlashAttention {
        match arg {
            FlashAttentionArg::Auto => FlashAttention::Auto,
            FlashAttentionArg::Off => FlashAttention::Off,
        }
    }
}
