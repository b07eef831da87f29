//! `crucible bench`: throughput measurements (results go to docs/PERFORMANCE.md).

use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};

use crucible_core::bench::{InferenceBench, InferenceBenchParams, run_inference_bench};

use super::GlobalArgs;
use super::common::ModelArgs;
use crate::output;

/// Subcommands of `crucible bench`.
#[derive(Debug, Subcommand)]
pub(crate) enum BenchCommand {
    /// Prompt and decode speed, batched sampling curve and peak memory of a model
    ///
    /// Examples:
    ///   crucible bench inference
    ///   crucible bench inference -m qwen2.5-coder-1.5b-instruct --batch 1,4,16 --json
    #[command(verbatim_doc_comment)]
    Inference(InferenceArgs),
}

/// Arguments of `crucible bench inference`.
#[derive(Debug, Args)]
pub(crate) struct InferenceArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Prompt length in tokens.
    #[arg(long, default_value_t = 512)]
    prompt_tokens: usize,
    /// Tokens generated per sequence.
    #[arg(long, default_value_t = 128)]
    gen_tokens: usize,
    /// Batch sizes for the batched-sampling curve (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "1,2,4,10,20")]
    batch: Vec<usize>,
    /// Sequences generated one after another for the sequential baseline (0 = skip).
    #[arg(long, default_value_t = 10)]
    sequential: usize,
    /// Repetitions of each measurement (medians are reported).
    #[arg(long, default_value_t = 3)]
    repeats: usize,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(cmd: BenchCommand, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    match cmd {
        BenchCommand::Inference(args) => inference(args, global.quiet),
    }
}

fn inference(args: InferenceArgs, quiet: bool) -> anyhow::Result<ExitCode> {
    if args.batch.contains(&0) {
        anyhow::bail!("batch sizes must be at least 1");
    }
    let settings = args.model.settings(None)?;
    let params = InferenceBenchParams {
        prompt_tokens: args.prompt_tokens,
        gen_tokens: args.gen_tokens,
        batch_sizes: args.batch.clone(),
        sequential: args.sequential,
        repeats: args.repeats,
    };
    let bench = run_inference_bench(&settings, &params, &mut |step| {
        if !quiet {
            output::status(step);
        }
    })
    .context("inference benchmark failed")?;
    if args.json {
        output::data(&serde_json::to_string(&bench)?);
    } else {
        output::data(&render(&bench));
    }
    Ok(ExitCode::SUCCESS)
}

fn render(bench: &InferenceBench) -> String {
    let mut out = format!(
        "model {} ({} threads{}), load {:.2} s, peak RSS {:.0} MiB\nprompt processing ({} tokens): {:.1} tok/s\ngreedy decode ({} tokens): {:.1} tok/s\n\n| n | decode tok/s (all sequences) | end-to-end tok/s |\n| ---: | ---: | ---: |\n",
        bench.model,
        bench.threads,
        if bench.widened {
            ", Q5_0 weights widened to Q8_0"
        } else {
            ""
        },
        bench.load_seconds,
        bench.peak_rss_mib,
        bench.prompt_tokens,
        bench.prompt_tok_s,
        bench.gen_tokens,
        bench.decode_tok_s,
    );
    for point in &bench.batched {
        out.push_str(&format!(
            "| {} batched | {:.1} | {:.1} |\n",
            point.n, point.decode_tok_s, point.end_to_end_tok_s
        ));
    }
    if let Some(seq) = &bench.sequential {
        out.push_str(&format!(
            "| {} sequential | {:.1} | {:.1} |\n",
            seq.n, seq.decode_tok_s, seq.end_to_end_tok_s
        ));
    }
    out
}
