//! Loading the committed vectors that bench/metrics/derive.sh derived from the reference implementations.

use std::path::PathBuf;

/// The path of a file under `tests/vectors`.
pub(crate) fn path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors")
        .join(name)
}

/// A JSON vector file; a missing file fails the test (the vectors are committed).
pub(crate) fn load_json(name: &str) -> serde_json::Value {
    let path = path(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("{}: {err}; run bench/metrics/derive.sh", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

/// A JSON Lines vector file.
pub(crate) fn load_jsonl(name: &str) -> Vec<serde_json::Value> {
    let path = path(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("{}: {err}; run bench/metrics/derive.sh", path.display()));
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
        })
        .collect()
}
