//! `crucible data curate`: clean a corpus for training (dedup, filters, PII, decontamination),
//! as one process or as one shard of many.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};

use crucible_core::curation::pipeline::{self, Job, RunParams, Shard, StageName};
use crucible_core::curation::{CurateConfig, Format};

use super::data::DirArgs;
use crate::{interrupt, output};

/// Curate a corpus for training: exact and MinHash near dedup, quality filters, PII
/// redaction, decontamination against every benchmark; sharded and resumable
///
/// Examples:
///   crucible data curate ~/src --output curated/
///   crucible data curate corpus.jsonl data/*.parquet -o curated/ --format parquet --shard 0/4
///   crucible data curate ~/src -o curated/ --skip near --config curate.toml
///
/// Re-running the same command continues where it stopped (docs/CURATION.md).
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub(crate) struct CurateArgs {
    /// Inputs: directories of source files (walked like git, .gitignore respected), `.jsonl`,
    /// `.jsonl.gz` and `.parquet` files.
    #[arg(required = true, value_name = "INPUT")]
    inputs: Vec<PathBuf>,
    /// Output directory: `data/` (kept documents), `rejects/` (every dropped or changed one,
    /// with stage and reason), `summary.json`, and `work/` (what a re-run resumes from).
    #[arg(long, short = 'o', value_name = "DIR")]
    output: PathBuf,
    /// Curation settings (TOML, one section per stage; see docs/CURATION.md).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Output format (default: the config's, else jsonl).
    #[arg(long, value_enum)]
    format: Option<FormatArg>,
    /// Stages to skip, comma-separated: language, quality, decontam, pii, exact, near.
    #[arg(long, value_delimiter = ',', value_name = "STAGE")]
    skip: Vec<String>,
    /// Run only this step: plan, prepare, buckets, clusters, filter or summary (for schedulers
    /// that run each step as its own array job). Default: every step in order.
    #[arg(long, value_name = "STEP")]
    stage: Option<String>,
    /// This process's share of every step: I/N runs the items j with j % N == I. Shards of
    /// one step must agree on N.
    #[arg(long, default_value = "0/1", value_name = "I/N")]
    shard: String,
    /// Worker threads in this process (default: the available cores).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// Accept a shard count that differs from the one a step was started with (only after
    /// every process of the old count has stopped).
    #[arg(long)]
    reshard: bool,
    #[command(flatten)]
    dirs: DirArgs,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum FormatArg {
    Jsonl,
    Parquet,
}

pub(crate) fn run(args: CurateArgs) -> anyhow::Result<ExitCode> {
    let mut config = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read `{}`", path.display()))?;
            CurateConfig::from_toml(&text).with_context(|| format!("in `{}`", path.display()))?
        }
        None => CurateConfig::default(),
    };
    if let Some(format) = args.format {
        config.output.format = match format {
            FormatArg::Jsonl => Format::Jsonl,
            FormatArg::Parquet => Format::Parquet,
        };
    }
    for stage in &args.skip {
        match stage.trim() {
            "language" => config.language.enabled = false,
            "quality" => config.quality.enabled = false,
            "decontam" => config.decontam.enabled = false,
            "pii" => config.pii.enabled = false,
            "exact" => config.exact.enabled = false,
            "near" => config.near.enabled = false,
            other => bail!(
                "`--skip {other}`: no such stage; stages that can be skipped: language, quality, decontam, pii, exact, near"
            ),
        }
    }
    let stage = match args.stage.as_deref() {
        None | Some("all") => None,
        Some(name) => Some(StageName::parse(name).with_context(|| {
            format!("`--stage {name}`: no such step; steps: plan, prepare, buckets, clusters, filter, summary")
        })?),
    };
    let shard = Shard::parse(&args.shard)?;
    let references = if config.decontam.enabled {
        let settings = args.dirs.settings()?;
        let cwd = std::env::current_dir().context("cannot read the working directory")?;
        let dirs = crucible_core::data::data_dirs(&settings, &cwd);
        crucible_core::curate::benchmark_references(&dirs).context(
            "decontamination needs every benchmark's files (see `crucible data list`); or pass --skip decontam",
        )?
    } else {
        Vec::new()
    };
    let job = Job {
        config,
        inputs: args.inputs,
        output: args.output,
        references,
    };
    interrupt::install();
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let params = RunParams {
        shard,
        stage,
        threads,
        reshard: args.reshard,
        should_stop: &interrupt::requested,
        poll: Duration::from_millis(500),
        limits: pipeline::Limits::default(),
    };
    let res = pipeline::run(job, &params);
    if matches!(res, Err(crucible_core::curation::Error::Stopped)) {
        output::status("stopped; finished items are kept: run the same command again to continue");
        return Ok(ExitCode::from(interrupt::EXIT_INTERRUPTED));
    }
    let report = res?;
    for stage in &report.stages {
        output::status(&format!(
            "{:<9} {:>6} items, {:>6} run now, {:>6} done before, {:>8.1} s",
            stage.stage.as_str(),
            stage.items,
            stage.ran,
            stage.already_done,
            stage.seconds
        ));
    }
    if let Some(summary) = &report.summary {
        let finished_here = report.stages.iter().any(|s| s.stage == StageName::Summary);
        if finished_here {
            output::data(
                &serde_json::to_string_pretty(summary).context("cannot render the summary")?,
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
