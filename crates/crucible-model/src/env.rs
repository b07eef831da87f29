//! The environment variables this crate's callers read, and the only code here that reads them.
//!
//! The rest of the crate takes paths and parameters explicitly; call these at the edge (the CLI,
//! a server's startup) and pass the results down.

use std::ffi::OsString;
use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::hf::HfParams;
use crate::pip::PipFetcher;

// Their names and meanings are listed with every other variable in `crucible_types::env`:
// `CRUCIBLE_HOME` (root of models, data and caches), `CRUCIBLE_PYTHON` (the Python that runs
// `-m pip download`), `CRUCIBLE_PIP_FIND_LINKS` (wheels to install from, offline), `HF_ENDPOINT`
// (the hub `hf:` references come from; default [`crate::hf::DEFAULT_HF_ENDPOINT`]) and
// `HF_TOKEN` (sent as `Authorization: Bearer` to the hub).
pub use crucible_types::env::{
    CRUCIBLE_HOME, CRUCIBLE_PIP_FIND_LINKS, CRUCIBLE_PYTHON, HF_ENDPOINT, HF_TOKEN,
};
use crucible_types::env::{HOME, XDG_DATA_HOME};

/// `CRUCIBLE_HOME` from the process environment.
pub fn crucible_home_from_env() -> Result<PathBuf> {
    crucible_home(|key| std::env::var_os(key))
}

/// `CRUCIBLE_HOME` from any lookup (for tests): the variable, else `$XDG_DATA_HOME/crucible`,
/// else `$HOME/.local/share/crucible`. Empty values count as unset, as the XDG spec asks.
pub fn crucible_home(lookup: impl Fn(&str) -> Option<OsString>) -> Result<PathBuf> {
    let get = |key: &str| {
        lookup(key)
            .filter(|value| !value.is_empty())
            .map(PathBuf::from)
    };
    if let Some(home) = get(CRUCIBLE_HOME) {
        return Ok(home);
    }
    if let Some(data) = get(XDG_DATA_HOME) {
        return Ok(data.join("crucible"));
    }
    let home = get(HOME).ok_or(Error::NoHome)?;
    Ok(home.join(".local/share/crucible"))
}

/// Hub endpoint and token from `HF_ENDPOINT` and `HF_TOKEN`.
pub fn hf_params_from_env() -> HfParams {
    let get = |key: &str| std::env::var(key).ok().filter(|value| !value.is_empty());
    HfParams {
        endpoint: get(HF_ENDPOINT).unwrap_or_else(|| crate::hf::DEFAULT_HF_ENDPOINT.to_owned()),
        token: get(HF_TOKEN),
    }
}

/// The pip runner configured by `CRUCIBLE_PYTHON` and `CRUCIBLE_PIP_FIND_LINKS`.
pub fn pip_fetcher_from_env() -> PipFetcher {
    let python = std::env::var_os(CRUCIBLE_PYTHON)
        .filter(|value| !value.is_empty())
        .unwrap_or_else(|| "python3".into());
    let find_links = std::env::var_os(CRUCIBLE_PIP_FIND_LINKS)
        .filter(|value| !value.is_empty())
        .map(PathBuf::from);
    PipFetcher { python, find_links }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn home_with(vars: &[(&str, &str)]) -> Result<PathBuf> {
        crucible_home(|key| {
            vars.iter()
                .find(|(name, _)| *name == key)
                .map(|(_, value)| OsString::from(value))
        })
    }

    #[test]
    fn home_follows_crucible_home_then_xdg_then_home() {
        let all = [
            ("CRUCIBLE_HOME", "/c"),
            ("XDG_DATA_HOME", "/x"),
            ("HOME", "/h"),
        ];
        assert_eq!(home_with(&all).unwrap(), PathBuf::from("/c"));
        assert_eq!(home_with(&all[1..]).unwrap(), PathBuf::from("/x/crucible"));
        assert_eq!(
            home_with(&all[2..]).unwrap(),
            PathBuf::from("/h/.local/share/crucible")
        );
        let empty = [("CRUCIBLE_HOME", ""), ("XDG_DATA_HOME", ""), ("HOME", "/h")];
        assert_eq!(
            home_with(&empty).unwrap(),
            PathBuf::from("/h/.local/share/crucible")
        );
        assert!(matches!(home_with(&[]), Err(Error::NoHome)));
    }
}
