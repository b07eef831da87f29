//! `crucible index` and `crucible search` on crucible-index's fixture repository: the report,
//! ranked chunks with paths and line ranges (text and JSON), incremental re-runs and bad input.

use std::path::{Path, PathBuf};
use std::process::Output;

#[cfg(feature = "embeddings")]
#[path = "support/embedding_model.rs"]
mod embedding_model;
#[cfg(feature = "embeddings")]
use embedding_model::link_embedding_model;

/// A copy of the fixture repository and a `CRUCIBLE_HOME`, both temporary.
struct Setup {
    _dir: tempfile::TempDir,
    repo: PathBuf,
    home: PathBuf,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("repo");
        copy_dir(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("../crucible-index/tests/fixtures/repo"),
            &repo,
        );
        let home = dir.path().join("home");
        Setup {
            _dir: dir,
            repo,
            home,
        }
    }

    fn crucible(&self, args: &[&str]) -> Output {
        #[allow(clippy::disallowed_methods, reason = "the test drives the real binary")]
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_crucible"))
            .args(args)
            .env("CRUCIBLE_HOME", &self.home)
            .env_remove("RUST_LOG")
            .output()
            .unwrap();
        out
    }

    fn repo(&self) -> &str {
        self.repo.to_str().unwrap()
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn ok(out: &Output) -> (String, String) {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    (stdout, stderr)
}

#[test]
fn index_then_search_prints_ranked_chunks_and_reruns_are_incremental() {
    let setup = Setup::new();
    let (_, stderr) = ok(&setup.crucible(&["index", setup.repo()]));
    assert!(stderr.contains(": 9 files, "), "{stderr}");
    assert!(stderr.contains("9 indexed"), "{stderr}");
    assert!(
        setup.home.join("index").read_dir().unwrap().count() == 1,
        "the index is under CRUCIBLE_HOME/index"
    );
    assert!(
        !setup.repo.join(".crucible").exists(),
        "nothing is written into the repository"
    );

    let (stdout, _) = ok(&setup.crucible(&[
        "search",
        "retry with backoff",
        "--repo",
        setup.repo(),
        "-k",
        "2",
    ]));
    let first = stdout.lines().next().unwrap();
    assert!(
        first.starts_with("server/retry.go:5-16  RetryWithBackoff  (function, go, score "),
        "{stdout}"
    );
    assert!(
        stdout.contains("    func RetryWithBackoff(attempts int"),
        "{stdout}"
    );

    let (stdout, _) = ok(&setup.crucible(&[
        "search",
        "parseHttpRequest",
        "--repo",
        setup.repo(),
        "--json",
        "-k",
        "3",
        "--lang",
        "python",
    ]));
    let hits: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let hits = hits.as_array().unwrap();
    assert!(!hits.is_empty() && hits.len() <= 3);
    assert_eq!(hits[0]["path"], "src/http.py");
    assert_eq!(hits[0]["start_line"], 13);
    assert_eq!(hits[0]["end_line"], 19);
    assert_eq!(hits[0]["symbol"], "RequestParser.parse_http_request");
    assert_eq!(hits[0]["context"][0], "class RequestParser:");
    assert_eq!(hits[0]["why"]["bm25"]["rank"], 1);
    // The query's parts match the snake_case name; its whole lowercased form does not.
    let matched = hits[0]["why"]["matched_terms"].as_array().unwrap();
    for part in ["parse", "http", "request"] {
        assert!(matched.contains(&part.into()), "{part}: {matched:?}");
    }
    assert!(!matched.contains(&"parsehttprequest".into()), "{matched:?}");
    assert!(hits.iter().all(|hit| hit["language"] == "python"));

    // A second run reads nothing; a change is picked up by the next search.
    let (stdout, _) = ok(&setup.crucible(&["index", setup.repo(), "--json"]));
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["files_unchanged"], 9);
    assert_eq!(report["files_indexed"], 0);
    std::fs::write(
        setup.repo.join("src/new_module.py"),
        "def freshly_added_function():\n    return 1\n",
    )
    .unwrap();
    let (stdout, _) =
        ok(&setup.crucible(&["search", "freshly added", "--repo", setup.repo(), "-k", "1"]));
    assert!(
        stdout.starts_with("src/new_module.py:1-2  freshly_added_function"),
        "{stdout}"
    );
}

#[test]
fn bad_input_gets_a_clear_error() {
    let setup = Setup::new();
    let missing = setup.repo.join("no-such-dir");
    let out = setup.crucible(&["index", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no-such-dir"), "{stderr}");

    let file = setup.repo.join("README.md");
    let out = setup.crucible(&["index", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is not a directory"), "{stderr}");

    let out = setup.crucible(&["search", "( + )", "--repo", setup.repo()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("has no word"), "{stderr}");
}

#[cfg(feature = "embeddings")]
#[test]
fn embeddings_without_the_model_say_how_to_install_it() {
    let setup = Setup::new();
    for args in [
        vec!["index", setup.repo(), "--embed"],
        vec!["search", "basket", "--repo", setup.repo(), "--embed"],
    ] {
        let out = setup.crucible(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("the embedding model (all-MiniLM-L6-v2) is not installed at"),
            "{stderr}"
        );
        assert!(
            stderr.contains("hint: install it with `scripts/embedding-model.sh`"),
            "{stderr}"
        );
    }
}

#[cfg(feature = "embeddings")]
#[test]
fn index_and_search_with_embeddings_find_by_meaning_and_embed_only_new_chunks() {
    let setup = Setup::new();
    link_embedding_model(&setup.home);
    let (stdout, _) = ok(&setup.crucible(&["index", setup.repo(), "--embed", "--json"]));
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let chunks = report["chunks"].as_u64().unwrap();
    assert!(chunks > 9, "{report}");
    assert_eq!(report["embedded"]["embedded"], chunks, "{report}");
    assert_eq!(report["embedded"]["reused"], 0, "{report}");
    // Again: every vector is kept.
    let (_, stderr) = ok(&setup.crucible(&["index", setup.repo(), "--embed"]));
    assert!(
        stderr.contains(&format!(
            "embeddings: 0 chunks embedded, {chunks} kept from before"
        )),
        "{stderr}"
    );

    // None of these words is in the cart's code; BM25 alone ranks other chunks.
    let query = "goods in a customer basket";
    let (stdout, _) = ok(&setup.crucible(&["search", query, "--repo", setup.repo(), "-k", "3"]));
    assert!(!stdout.contains("web/cart.js"), "{stdout}");
    let (stdout, _) = ok(&setup.crucible(&[
        "search",
        query,
        "--repo",
        setup.repo(),
        "-k",
        "3",
        "--embed",
    ]));
    let cart = stdout
        .lines()
        .find(|line| line.starts_with("web/cart.js:"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        cart.contains("; bm25 -, embedding #1 cosine 0."),
        "{stdout}"
    );
    let (stdout, _) = ok(&setup.crucible(&[
        "search",
        query,
        "--repo",
        setup.repo(),
        "-k",
        "3",
        "--embed",
        "--json",
    ]));
    let hits: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let cart = hits
        .as_array()
        .unwrap()
        .iter()
        .find(|hit| hit["path"] == "web/cart.js")
        .unwrap();
    assert_eq!(cart["why"]["embedding"]["rank"], 1, "{hits}");
    assert!(cart["why"]["bm25"].is_null(), "{hits}");

    // A new file: the next search embeds its chunk (only it) and finds it by meaning.
    std::fs::write(
        setup.repo.join("web/empty.js"),
        "export function clearAll(cart) {\n  cart.items = [];\n}\n",
    )
    .unwrap();
    let (stdout, _) = ok(&setup.crucible(&[
        "search",
        "remove every product from the basket",
        "--repo",
        setup.repo(),
        "-k",
        "3",
        "--embed",
    ]));
    let empty = stdout
        .lines()
        .find(|line| line.starts_with("web/empty.js:1-3  clearAll"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(empty.contains("embedding #1 cosine"), "{stdout}");
    let (stdout, _) = ok(&setup.crucible(&["index", setup.repo(), "--embed", "--json"]));
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["embedded"]["embedded"], 0, "{report}");
    assert_eq!(report["embedded"]["reused"], chunks + 1, "{report}");
}
