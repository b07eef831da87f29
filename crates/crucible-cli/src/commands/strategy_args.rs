//! Strategy flags shared by `crucible generate` and `crucible eval`.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crucible_core::generate::{DEFAULT_STRATEGY, strategy_name};
use crucible_core::strategy::{Budget, Strategy};
use crucible_core::types::Task;

use super::common::DecodingArgs;

/// Strategy flags of `crucible generate`.
#[derive(Debug, Args)]
pub(crate) struct StrategyArgs {
    /// Strategy: plain, repair, rerank, reflexion, agent, rerank+repair (docs/STRATEGIES.md).
    /// Default: rerank+repair when the task shows examples or tests, else one plain answer.
    #[arg(long, value_name = "NAME")]
    strategy: Option<String>,
    /// Show every attempt (prompt, code, verdict, feedback) on stderr after the run; with
    /// `--trace=FILE`, save the whole outcome with its trace as JSON instead.
    #[arg(
        long,
        value_name = "FILE",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "-"
    )]
    trace: Option<PathBuf>,
    /// Rounds of repair, reflection or revision. Default: the strategy's.
    #[arg(long, value_name = "R")]
    rounds: Option<usize>,
    /// Programs sampled together for reranking. Default: the strategy's.
    #[arg(long, value_name = "N")]
    samples: Option<usize>,
    /// Model-written tests to keep. Default: the strategy's.
    #[arg(long, value_name = "M")]
    model_tests: Option<usize>,
    /// The old name of --model-tests (`--tests` is a test file in `crucible exec`).
    #[arg(
        long = "tests",
        value_name = "M",
        hide = true,
        conflicts_with = "model_tests"
    )]
    tests_deprecated: Option<usize>,
    /// Programs asked for per repair, retry or revision round: 1 is greedy (and a round that
    /// gives back a program already tried ends the loop); more are sampled together. Default: 1.
    #[arg(long, value_name = "N")]
    repairs: Option<usize>,
    /// Before each repair, ask the model to explain its failing code (Self-Debugging).
    #[arg(long)]
    explain: bool,
    /// Budget: most model calls.
    #[arg(long, value_name = "N", default_value_t = 12)]
    budget_calls: u32,
    /// Budget: most generated tokens over all calls.
    #[arg(long, value_name = "N", default_value_t = 16_000)]
    budget_tokens: u64,
    /// Budget: most program runs in the sandbox.
    #[arg(long, value_name = "N", default_value_t = 200)]
    budget_execs: u32,
    /// Budget: most seconds of wall time.
    #[arg(long, value_name = "SECONDS", default_value_t = 1800.0)]
    budget_seconds: f64,
}

impl StrategyArgs {
    /// Whether `--strategy` was given.
    pub(crate) fn named(&self) -> bool {
        self.strategy.is_some()
    }

    /// For `crucible generate`: the named strategy, else the default when the task shows tests
    /// and one answer is asked for; `None` means a plain `solve` with `--n` candidates. With
    /// `n` above 1 a strategy samples `n` programs together.
    pub(crate) fn for_task(
        &self,
        task: &Task,
        n: usize,
        decoding: &DecodingArgs,
        verify: bool,
    ) -> anyhow::Result<Option<Strategy>> {
        let named = self
            .strategy
            .as_deref()
            .or(verify.then_some(DEFAULT_STRATEGY));
        let Some(name) = strategy_name(task, n, named) else {
            return Ok(None);
        };
        let mut strategy = self.build(name, decoding)?;
        if n > 1 && self.samples.is_none() {
            strategy.params.samples = n;
            strategy.validate()?;
        }
        Ok(Some(strategy))
    }

    /// For `crucible eval`: the named strategy, if one was named.
    pub(crate) fn named_strategy(
        &self,
        decoding: &DecodingArgs,
    ) -> anyhow::Result<Option<Strategy>> {
        self.strategy
            .as_deref()
            .map(|name| self.build(name, decoding))
            .transpose()
    }

    /// Where `--trace` asks the trace to go: `-` for stderr.
    pub(crate) fn trace(&self) -> Option<&std::path::Path> {
        self.trace.as_deref()
    }

    /// The preset `name` with the decoding flags and the strategy knobs applied.
    fn build(&self, name: &str, decoding: &DecodingArgs) -> anyhow::Result<Strategy> {
        let mut strategy = Strategy::preset(name, decoding.seed)?;
        let params = &mut strategy.params;
        params.mode = decoding.mode.into();
        params.max_new_tokens = decoding.max_new_tokens;
        if let Some(temperature) = decoding.temperature.filter(|t| *t > 0.0) {
            params.sampling.temperature = temperature;
        }
        if let Some(top_p) = decoding.top_p {
            params.sampling.top_p = top_p;
        }
        if let Some(top_k) = decoding.top_k {
            params.sampling.top_k = top_k;
        }
        if let Some(min_p) = decoding.min_p {
            params.sampling.min_p = min_p;
        }
        if let Some(samples) = self.samples {
            params.samples = samples;
        }
        if let Some(rounds) = self.rounds {
            params.rounds = rounds;
        }
        if self.tests_deprecated.is_some() {
            crate::output::status(
                "warning: `--tests N` is now `--model-tests N` (`--tests` names a test file in `crucible exec`); the old name will go",
            );
        }
        if let Some(tests) = self.model_tests.or(self.tests_deprecated) {
            params.tests = tests;
        }
        if let Some(repairs) = self.repairs {
            params.repairs = repairs;
        }
        params.explain |= self.explain;
        strategy.validate()?;
        Ok(strategy)
    }

    /// The budget of one strategy run.
    pub(crate) fn budget(&self) -> anyhow::Result<Budget> {
        let wall_time = Duration::try_from_secs_f64(self.budget_seconds).map_err(|_| {
            anyhow::anyhow!(
                "--budget-seconds must be a number of seconds above 0 (got {})",
                self.budget_seconds
            )
        })?;
        let budget = Budget {
            model_calls: self.budget_calls,
            tokens: self.budget_tokens,
            executions: self.budget_execs,
            wall_time,
        };
        budget.validate()?;
        Ok(budget)
    }
}
