//! What the tests with the real default model share: where that model is installed.

use std::path::PathBuf;

/// The default model's file under `CRUCIBLE_HOME` (or its XDG default). Fails, naming the
/// command to run, when the model is not installed, rather than letting a test pass unchecked.
#[allow(dead_code, reason = "each test file uses the helpers it needs")]
pub(crate) fn default_model() -> PathBuf {
    installed_model("qwen2.5-coder-0.5b-instruct")
}

/// The file of the known model `name` under `CRUCIBLE_HOME` (or its XDG default). Fails,
/// naming the command to run, when it is not installed.
#[allow(dead_code, reason = "each test file uses the helpers it needs")]
pub(crate) fn installed_model(name: &str) -> PathBuf {
    let home = std::env::var_os("CRUCIBLE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("XDG_DATA_HOME").map(|d| PathBuf::from(d).join("crucible")))
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap()).join(".local/share/crucible")
        });
    let path = home.join(format!("models/{name}.gguf"));
    assert!(
        path.is_file(),
        "the model {name} is not installed at {}; run `crucible model pull {name}` (scripts/setup.sh does)",
        path.display()
    );
    path
}
