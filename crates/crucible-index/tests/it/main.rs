//! Integration tests of crucible-index: a fixture repository indexed, searched, changed and
//! broken in the ways the issue lists.

use std::path::{Path, PathBuf};

use crucible_index::{Error, FileNote, Filters, Index, IndexParams, SkipReason, UpdateReport};

#[cfg(feature = "embed")]
mod embed_model;

/// A copy of `tests/fixtures/repo` in a temporary directory, made a git repository (an empty
/// `.git`) with a `.gitignore`, so the test can change it.
struct Repo {
    _dir: tempfile::TempDir,
    root: PathBuf,
    index_dir: PathBuf,
}

impl Repo {
    fn new() -> Repo {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("repo");
        copy_dir(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/repo"),
            &root,
        );
        std::fs::create_dir(root.join(".git")).unwrap();
        std::fs::write(root.join(".gitignore"), "build/\n").unwrap();
        let index_dir = dir.path().join("index");
        Repo {
            _dir: dir,
            root,
            index_dir,
        }
    }

    fn open(&self) -> Index {
        Index::open(&self.root, &self.index_dir, IndexParams::default()).unwrap()
    }

    fn write(&self, relative: &str, bytes: &[u8]) {
        let path = self.root.join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
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

/// `path:start-end symbol` of the top `k` hits.
fn top(index: &Index, query: &str, k: usize, filters: &Filters) -> Vec<String> {
    index
        .search(query, k, filters)
        .unwrap()
        .iter()
        .map(|hit| {
            format!(
                "{}:{}-{} {}",
                hit.path,
                hit.start_line,
                hit.end_line,
                hit.symbol.as_deref().unwrap_or("-")
            )
        })
        .collect()
}

#[test]
fn indexes_a_repository_and_finds_definitions_by_identifier_parts() {
    let repo = Repo::new();
    let mut index = repo.open();
    let report = index.update().unwrap();
    assert_eq!(report.files_seen, 9, "{report:?}");
    assert_eq!(report.files_indexed, 9);
    assert_eq!(report.files_without_grammar, 1, "README.md");
    assert!(report.skipped.is_empty(), "{:?}", report.skipped);
    assert!(report.notes.is_empty(), "{:?}", report.notes);
    assert_eq!(index.stats().files, 9);

    // Words of a camelCase or snake_case name find it, and so does the name itself.
    let none = Filters::default();
    assert_eq!(
        top(&index, "http request parse", 1, &none),
        ["src/http.py:13-19 RequestParser.parse_http_request"]
    );
    assert_eq!(
        top(&index, "parseHttpRequest", 1, &none),
        ["src/http.py:13-19 RequestParser.parse_http_request"]
    );
    assert_eq!(
        top(&index, "retry backoff", 1, &none),
        ["server/retry.go:5-16 RetryWithBackoff"]
    );
    assert_eq!(
        top(&index, "adler32", 1, &none),
        ["native/checksum.c:4-12 adler32_checksum"]
    );
    assert_eq!(
        top(&index, "overwrite oldest push", 1, &none)[0]
            .split(':')
            .next(),
        Some("src/ring.rs")
    );
    assert_eq!(
        top(&index, "deployment checklist", 1, &none),
        ["README.md:1-4 -"]
    );

    // A method chunk carries its class's header; the hit says why it matched.
    let hit = &index.search("dispatchRequest", 1, &none).unwrap()[0];
    assert_eq!(hit.path, "server/Router.java");
    assert_eq!(hit.kind, "function");
    assert_eq!(hit.symbol.as_deref(), Some("Router.dispatchRequest"));
    assert_eq!(hit.context, ["public class Router"]);
    assert_eq!((hit.start_line, hit.end_line), (13, 20));
    // Letters followed by digits stay one part (`determinant2x2`, like `utf8` or `sha256`).
    let hit = &index.search("determinant2x2", 1, &none).unwrap()[0];
    assert_eq!(hit.path, "native/matrix.cpp");
    assert_eq!(hit.symbol.as_deref(), Some("linalg.Matrix.determinant2x2"));
    assert_eq!(hit.why.matched_terms, ["determinant2x2"], "{:?}", hit.why);
    assert_eq!(hit.why.bm25.unwrap().rank, 1);
    assert!(hit.score > 0.0);
}

#[test]
fn filters_by_language_path_and_excluded_file() {
    let repo = Repo::new();
    let mut index = repo.open();
    index.update().unwrap();
    let query = "request path handler";
    let all = top(&index, query, 10, &Filters::default());
    assert!(
        all.iter().any(|hit| hit.starts_with("src/http.py")),
        "{all:?}"
    );
    assert!(
        all.iter().any(|hit| hit.starts_with("server/Router.java")),
        "{all:?}"
    );
    let java = Filters {
        languages: vec!["java".into()],
        ..Filters::default()
    };
    let hits = top(&index, query, 10, &java);
    assert!(!hits.is_empty());
    assert!(
        hits.iter().all(|hit| hit.starts_with("server/Router.java")),
        "{hits:?}"
    );
    let under_src = Filters {
        path_prefix: Some("src/".into()),
        ..Filters::default()
    };
    let hits = top(&index, query, 10, &under_src);
    assert!(!hits.is_empty());
    assert!(hits.iter().all(|hit| hit.starts_with("src/")), "{hits:?}");
    let excluded = Filters {
        exclude_paths: vec!["src/http.py".into()],
        ..Filters::default()
    };
    let hits = top(&index, query, 10, &excluded);
    assert!(
        !hits.iter().any(|hit| hit.starts_with("src/http.py")),
        "{hits:?}"
    );
    assert!(matches!(
        index.search("+ - ( )", 5, &Filters::default()),
        Err(Error::EmptyQuery { .. })
    ));
}

#[test]
fn updates_read_only_what_changed() {
    let repo = Repo::new();
    let mut index = repo.open();
    index.update().unwrap();

    // Nothing changed: nothing is read.
    let report = index.update().unwrap();
    assert_eq!(
        (
            report.files_unchanged,
            report.files_indexed,
            report.files_touched
        ),
        (9, 0, 0)
    );

    // Rewritten with the same content (new mtime): read and hashed, not re-indexed.
    let text = std::fs::read(repo.root.join("web/cart.js")).unwrap();
    bump_mtime(&repo.root.join("web/cart.js"), &text);
    let report = index.update().unwrap();
    assert_eq!(
        (report.files_touched, report.files_indexed),
        (1, 0),
        "{report:?}"
    );

    // Changed: re-indexed, the old chunks gone and the new ones found.
    repo.write(
        "src/ring.rs",
        b"/// Drains every item.\npub fn drain_everything_now() -> usize {\n    0\n}\n",
    );
    let report = index.update().unwrap();
    assert_eq!(report.files_indexed, 1, "{report:?}");
    assert_eq!(
        top(&index, "drain everything", 1, &Filters::default()),
        ["src/ring.rs:1-4 drain_everything_now"]
    );
    assert!(
        top(&index, "push_overwrite", 5, &Filters::default())
            .iter()
            .all(|hit| !hit.starts_with("src/ring.rs"))
    );

    // Added and deleted files; ignored ones stay out.
    repo.write("src/extra.py", b"def brand_new_helper():\n    return 42\n");
    repo.write("build/out.py", b"def built_artifact():\n    return 0\n");
    std::fs::remove_file(repo.root.join("server/retry.go")).unwrap();
    let report = index.update().unwrap();
    assert_eq!(
        (report.files_indexed, report.files_removed),
        (1, 1),
        "{report:?}"
    );
    assert_eq!(
        top(&index, "brand new helper", 1, &Filters::default()).len(),
        1
    );
    assert!(top(&index, "built artifact", 5, &Filters::default()).is_empty());
    assert!(top(&index, "RetryWithBackoff", 5, &Filters::default()).is_empty());

    // A reopened index remembers all of it.
    drop(index);
    let mut index = repo.open();
    let report = index.update().unwrap();
    assert_eq!(
        (
            report.files_indexed,
            report.files_removed,
            report.files_unchanged
        ),
        (0, 0, 9)
    );
    assert_eq!(
        top(&index, "brand new helper", 1, &Filters::default()).len(),
        1
    );
}

#[test]
fn updating_named_paths_handles_changes_and_deletions() {
    let repo = Repo::new();
    let mut index = repo.open();
    index.update().unwrap();
    // The generation is what a completion's cached context is keyed by: an update that
    // changes nothing keeps it, one that re-indexes a file moves it.
    let generation = index.generation();
    index
        .update_paths(&[PathBuf::from("web/debounce.ts")])
        .unwrap();
    index.update().unwrap();
    assert_eq!(index.generation(), generation);
    repo.write(
        "web/debounce.ts",
        b"export function throttleCalls(): void {}\n",
    );
    std::fs::remove_file(repo.root.join("native/checksum.c")).unwrap();
    repo.write("build/ignored.py", b"def ignored_output():\n    pass\n");
    let report = index
        .update_paths(&[
            PathBuf::from("web/debounce.ts"),
            repo.root.join("native/checksum.c"),
            PathBuf::from("build/ignored.py"),
            PathBuf::from("/elsewhere/file.rs"),
        ])
        .unwrap();
    assert_eq!(
        (report.files_indexed, report.files_removed),
        (1, 1),
        "{report:?}"
    );
    assert_ne!(index.generation(), generation);
    assert_eq!(
        top(&index, "throttle calls", 1, &Filters::default()).len(),
        1
    );
    assert!(top(&index, "adler32", 5, &Filters::default()).is_empty());
    assert!(top(&index, "ignored output", 5, &Filters::default()).is_empty());
}

#[test]
fn many_named_path_updates_stay_searchable_and_keep_few_segments() {
    // An editor saving as it goes: every save a named-path update of one file, plus a file
    // added and one deleted along the way.
    let repo = Repo::new();
    let mut index = repo.open();
    index.update().unwrap();
    let chunks = index.stats().chunks;
    for save in 0..20 {
        repo.write(
            "src/ring.rs",
            format!("pub fn saved_version_{save}() -> usize {{\n    {save}\n}}\n").as_bytes(),
        );
        let report = index.update_paths(&[PathBuf::from("src/ring.rs")]).unwrap();
        assert_eq!(report.files_indexed, 1, "{report:?}");
        let symbols = symbols_found(&index, "saved version");
        assert_eq!(symbols, [format!("saved_version_{save}")]);
        // Each update writes a segment; the small ones are merged, so the count stays low.
        let segments = index.stats().segments;
        assert!(segments < 8, "{segments} segments after save {save}");
    }
    repo.write("src/added.rs", b"pub fn freshly_added_function() {}\n");
    std::fs::remove_file(repo.root.join("web/cart.js")).unwrap();
    let report = index
        .update_paths(&[PathBuf::from("src/added.rs"), PathBuf::from("web/cart.js")])
        .unwrap();
    assert_eq!(
        (report.files_indexed, report.files_removed),
        (1, 1),
        "{report:?}"
    );
    assert_eq!(
        top(&index, "freshly added function", 1, &Filters::default()),
        ["src/added.rs:1-1 freshly_added_function"]
    );
    assert!(
        top(&index, "ShoppingCart", 10, &Filters::default())
            .iter()
            .all(|hit| !hit.starts_with("web/cart.js"))
    );
    assert!(index.stats().chunks < chunks + 5, "{:?}", index.stats());

    // A reopened index holds the last state, and a whole-tree update finds nothing to do.
    drop(index);
    let mut index = repo.open();
    let report = index.update().unwrap();
    assert_eq!((report.files_indexed, report.files_removed), (0, 0));
    assert_eq!(symbols_found(&index, "saved version"), ["saved_version_19"]);
}

/// The symbols of every hit for `query` whose symbol starts with `saved_version_`.
fn symbols_found(index: &Index, query: &str) -> Vec<String> {
    index
        .search(query, 50, &Filters::default())
        .unwrap()
        .into_iter()
        .filter_map(|hit| hit.symbol)
        .filter(|symbol| symbol.starts_with("saved_version_"))
        .collect()
}

#[test]
fn bad_files_are_skipped_or_noted_and_the_rest_is_indexed() {
    let repo = Repo::new();
    repo.write("assets/logo.bin.rs", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR");
    repo.write("data/huge.py", &vec![b'#'; 2 << 20]);
    repo.write(
        "src/latin1.py",
        b"# caf\xe9\ndef latin_name():\n    return 'caf\xe9'\n",
    );
    repo.write(
        "src/broken.py",
        b"def fine_function(a):\n    return a\n\ndef broken(:\n    pass\n",
    );
    repo.write(
        "src/min.js",
        format!("var a=\"{}\";\n", "x".repeat(5000)).as_bytes(),
    );
    repo.write(
        "gen/api.go",
        b"// Code generated by protoc. DO NOT EDIT.\npackage api\n",
    );
    repo.write("notes.xyz", b"an unknown language: windowed quartzite\n");
    let mut index = repo.open();
    let report = index.update().unwrap();
    let reasons = |report: &UpdateReport| -> Vec<(String, String)> {
        report
            .skipped
            .iter()
            .map(|skip| (skip.relative.clone(), kind(&skip.reason).to_string()))
            .collect()
    };
    assert_eq!(
        reasons(&report),
        [
            ("assets/logo.bin.rs".to_string(), "binary".to_string()),
            ("data/huge.py".to_string(), "too large".to_string()),
            ("gen/api.go".to_string(), "generated".to_string()),
            ("src/min.js".to_string(), "long line".to_string()),
        ]
    );
    let notes: Vec<(String, &FileNote)> =
        report.notes.iter().map(|(p, n)| (p.clone(), n)).collect();
    assert!(
        notes.contains(&(
            "src/latin1.py".into(),
            &FileNote::InvalidUtf8 { at_byte: 5 }
        )),
        "{notes:?}"
    );
    assert!(
        notes
            .iter()
            .any(|(path, note)| path == "src/broken.py"
                && matches!(note, FileNote::ParseErrors { .. })),
        "{notes:?}"
    );
    assert_eq!(
        report.files_indexed,
        9 + 3,
        "the fixture, latin1.py, broken.py, notes.xyz"
    );
    let none = Filters::default();
    assert_eq!(top(&index, "latin name", 1, &none).len(), 1);
    assert_eq!(top(&index, "fine function", 1, &none).len(), 1);
    assert_eq!(top(&index, "quartzite", 1, &none), ["notes.xyz:1-1 -"]);
    let hit = &index.search("latin name", 1, &none).unwrap()[0];
    assert!(hit.text.contains('\u{FFFD}'), "{}", hit.text);

    // Skipped files are remembered and not read again while unchanged.
    let report = index.update().unwrap();
    assert_eq!(report.files_indexed + report.files_touched, 0, "{report:?}");
}

#[test]
fn an_index_of_an_older_format_is_rebuilt() {
    let repo = Repo::new();
    let mut index = repo.open();
    index.update().unwrap();
    drop(index);
    let manifest = repo.index_dir.join("manifest.json");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let older = text.replacen(
        &format!("\"format\":{}", crucible_index::FORMAT_VERSION),
        "\"format\":0",
        1,
    );
    assert_ne!(text, older, "the manifest names its format");
    std::fs::write(&manifest, older).unwrap();
    let mut index = repo.open();
    assert_eq!(index.stats().chunks, 0, "the old index was cleared");
    let report = index.update().unwrap();
    assert_eq!(report.files_indexed, 9);
    assert_eq!(top(&index, "adler32", 1, &Filters::default()).len(), 1);
}

#[test]
fn a_corrupt_index_is_rebuilt_and_another_repositorys_is_refused() {
    let repo = Repo::new();
    let mut index = repo.open();
    index.update().unwrap();
    drop(index);
    // Damage tantivy's metadata: the index cannot be opened, so it is rebuilt.
    std::fs::write(repo.index_dir.join("tantivy/meta.json"), "{").unwrap();
    let mut index = repo.open();
    assert_eq!(index.update().unwrap().files_indexed, 9);
    drop(index);

    let other = tempfile::tempdir().unwrap();
    let err = Index::open(other.path(), &repo.index_dir, IndexParams::default()).unwrap_err();
    assert!(matches!(err, Error::OtherRepository { .. }), "{err}");
    assert!(err.to_string().contains("belongs to"), "{err}");
}

#[test]
fn a_root_that_is_not_a_directory_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file.rs");
    std::fs::write(&file, "fn f() {}").unwrap();
    let err = Index::open(&file, &dir.path().join("index"), IndexParams::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "cannot index `{}`: it is not a directory",
            file.canonicalize().unwrap().display()
        )
    );
    let err = Index::open(
        &dir.path().join("missing"),
        &dir.path().join("index"),
        IndexParams::default(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("cannot be read"), "{err}");
}

fn kind(reason: &SkipReason) -> &'static str {
    match reason {
        SkipReason::TooLarge { .. } => "too large",
        SkipReason::Binary => "binary",
        SkipReason::LongLine { .. } => "long line",
        SkipReason::Generated { .. } => "generated",
        SkipReason::Vendored { .. } => "vendored",
        SkipReason::DataFile { .. } => "data",
        SkipReason::Unreadable { .. } => "unreadable",
    }
}

/// Rewrite a file with `bytes` and make sure its mtime moves (filesystems with coarse clocks).
fn bump_mtime(path: &Path, bytes: &[u8]) {
    let before = std::fs::metadata(path).unwrap().modified().unwrap();
    std::fs::write(path, bytes).unwrap();
    let file = std::fs::File::options().write(true).open(path).unwrap();
    file.set_modified(before + std::time::Duration::from_secs(2))
        .unwrap();
}
