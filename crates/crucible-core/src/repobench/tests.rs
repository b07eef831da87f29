//! Tests of the builder: settings on tiny Python and Rust repositories, determinism, the
//! manifest, and no leakage of the gold line through retrieval.

use super::*;

const SHAPES: &str = "\"\"\"Shapes.\"\"\"\n\nclass Circle:\n    def __init__(self, r):\n        self.r = r\n\n\ndef area_of(shape):\n    return 3.14159 * shape.r * shape.r\n";

const REPORT: &str = "import os\nfrom .shapes import Circle, area_of as area\nfrom json import dumps\n\n\ndef build(radius):\n    scale = os.sep\n    c = Circle(radius)\n    total = area(c) + len(scale)\n    again = Circle(radius + 1)\n    return dumps([total, again.r])\n";

const LIB_RS: &str = "pub mod util;\npub mod report;\n";
const UTIL_RS: &str =
    "pub fn parse_line(s: &str) -> usize {\n    s.len()\n}\n\npub struct Token(pub usize);\n";
const REPORT_RS: &str = "use std::fmt::Write;\nuse crate::util::{parse_line, Token as Tok};\n\npub fn render(lines: &[&str]) -> String {\n    let mut out = String::new();\n    let total: usize = lines.iter().map(|l| parse_line(l)).sum();\n    let tok = Tok(total);\n    let again = parse_line(\"x\");\n    let _ = write!(out, \"{}\", tok.0 + again);\n    out\n}\n";

fn write_files(root: &Path, files: &[(&str, &str)]) {
    for (path, text) in files {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

/// A Python package `geo-1.0` and a Rust crate `tiny-kit-0.2.0` with known lines.
fn fixture() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let py = dir.path().join("geo-1.0");
    write_files(
        &py,
        &[
            ("geo/__init__.py", ""),
            ("geo/shapes.py", SHAPES),
            ("geo/report.py", REPORT),
        ],
    );
    std::fs::write(dir.path().join("geo-1.0.tar.gz"), b"not really gzip").unwrap();
    let rs = dir.path().join("tiny-kit-0.2.0");
    write_files(
        &rs,
        &[
            ("src/lib.rs", LIB_RS),
            ("src/util.rs", UTIL_RS),
            ("src/report.rs", REPORT_RS),
        ],
    );
    (dir, py, rs)
}

fn labels(
    language: TaskLanguage,
    text: &str,
    local: &LocalModules,
) -> Vec<(usize, Setting, Option<String>)> {
    label_lines(language, text, local)
        .into_iter()
        .map(|l| (l.index + 1, l.setting, l.symbol))
        .collect()
}

#[test]
fn python_lines_get_repobench_settings() {
    let local = LocalModules {
        python: ["geo".to_string()].into(),
        rust_crate: "geo".into(),
    };
    let got = labels(TaskLanguage::Python, REPORT, &local);
    let first = Setting::CrossFileFirst;
    let random = Setting::CrossFileRandom;
    let in_file = Setting::InFile;
    assert_eq!(
        got,
        [
            (6, in_file, None),                  // def build(radius):
            (7, in_file, None),                  // os is not the repository's
            (8, first, Some("Circle".into())),   // c = Circle(radius)
            (9, first, Some("area".into())),     // the alias is the bound name
            (10, random, Some("Circle".into())), // Circle again
            (11, in_file, None),                 // json is not the repository's
        ]
    );
}

#[test]
fn rust_lines_get_repobench_settings() {
    let local = LocalModules {
        python: BTreeSet::new(),
        rust_crate: "tiny_kit".into(),
    };
    let got = labels(TaskLanguage::Rust, REPORT_RS, &local);
    let first = Setting::CrossFileFirst;
    let random = Setting::CrossFileRandom;
    let in_file = Setting::InFile;
    assert_eq!(
        got,
        [
            (6, first, Some("parse_line".into())),
            (7, first, Some("Tok".into())),
            (8, random, Some("parse_line".into())),
            (9, in_file, None), // write! is std's; the string is not code
        ]
    );
}

#[test]
fn use_trees_and_python_imports_bind_the_right_names() {
    let local = LocalModules {
        python: ["geo".to_string()].into(),
        rust_crate: "tiny_kit".into(),
    };
    assert_eq!(
        local.rust_names("use crate::a::{b, c::{d as e, self}, f::*};"),
        ["b", "e", "c"]
    );
    assert_eq!(local.rust_names("pub(crate) use tiny_kit::x::Y;"), ["Y"]);
    assert!(local.rust_names("use std::io::Read;").is_empty());
    assert_eq!(
        local.python_names("from geo.shapes import (\n    Circle,\n    area_of as area,\n)"),
        ["Circle", "area"]
    );
    assert_eq!(local.python_names("import geo.shapes as gs, os"), ["gs"]);
    assert!(local.python_names("from os import path").is_empty());
}

#[test]
fn a_build_is_deterministic_and_records_its_sources() {
    let (_dir, py, rs) = fixture();
    let params = BuildParams {
        from: vec![py.clone(), rs.clone()],
        seed: 7,
        per_setting: 3,
        prefix_bytes: PREFIX_BYTES,
    };
    let built = build(&params).unwrap();
    let again = build(&params).unwrap();
    assert_eq!(built.tasks, again.tasks);
    assert_eq!(built.manifest, again.manifest);
    assert_eq!(built.manifest.repos.len(), 2);
    let geo = &built.manifest.repos[0];
    assert_eq!(
        (geo.name.as_str(), geo.version.as_deref()),
        ("geo", Some("1.0"))
    );
    assert_eq!(geo.files, 3);
    assert_eq!(
        geo.archive_sha256.as_deref(),
        Some(sha256_hex(b"not really gzip").as_str())
    );
    let kit = &built.manifest.repos[1];
    assert_eq!(
        (kit.name.as_str(), kit.version.as_deref()),
        ("tiny-kit", Some("0.2.0"))
    );
    assert_eq!(kit.archive, None);
    for setting in Setting::LINES {
        let n = built.tasks.iter().filter(|t| t.setting == setting).count();
        assert!(n > 0 && n <= 3, "{setting:?}: {n}");
        assert_eq!(built.manifest.tasks[setting.name()], n);
    }
    // Every task's prefix is its file up to the line, and the gold is the line.
    for task in &built.tasks {
        let text = std::fs::read_to_string(task.repo_root.join(&task.path)).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[task.line - 1], task.gold, "{}", task.id);
        assert!(text.starts_with(&task.prefix), "{}", task.id);
        assert_eq!(task.prefix.lines().count(), task.line - 1, "{}", task.id);
    }
    // Another seed picks the in-file lines in another order (there are enough of them).
    let other = build(&BuildParams { seed: 8, ..params }).unwrap();
    assert_eq!(other.manifest.repos, built.manifest.repos);
}

#[test]
fn written_tasks_read_back_and_bad_input_is_named() {
    let (dir, py, _) = fixture();
    let built = build(&BuildParams {
        from: vec![py],
        seed: 1,
        per_setting: 2,
        prefix_bytes: PREFIX_BYTES,
    })
    .unwrap();
    let out = dir.path().join("out");
    write(&built, &out).unwrap();
    assert_eq!(read_tasks(&out.join(TASKS_FILE)).unwrap(), built.tasks);
    let manifest: Manifest =
        serde_json::from_str(&std::fs::read_to_string(out.join(MANIFEST_FILE)).unwrap()).unwrap();
    assert_eq!(manifest, built.manifest);
    std::fs::write(out.join("bad.jsonl"), "{\"id\": 1}\n").unwrap();
    let err = read_tasks(&out.join("bad.jsonl")).unwrap_err().to_string();
    assert!(
        err.contains("line 1") && err.contains("crucible data repobench"),
        "{err}"
    );
    let err = build(&BuildParams {
        from: vec![dir.path().join("geo-1.0.tar.gz")],
        seed: 1,
        per_setting: 2,
        prefix_bytes: PREFIX_BYTES,
    })
    .unwrap_err()
    .to_string();
    assert!(err.contains("not a directory"), "{err}");
    assert!(
        build(&BuildParams {
            from: vec![],
            seed: 1,
            per_setting: 2,
            prefix_bytes: PREFIX_BYTES,
        })
        .is_err()
    );
}

#[test]
fn a_source_given_twice_is_read_once_and_two_of_one_name_are_refused() {
    let (dir, py, rs) = fixture();
    // The same directory, once by another path.
    let again = py.join("geo").join("..");
    let roots = source_roots(&[py.clone(), rs.clone(), again]).unwrap();
    assert_eq!(roots.len(), 2);
    let built = build(&BuildParams {
        from: vec![py.clone(), py.clone()],
        seed: 1,
        per_setting: 2,
        prefix_bytes: PREFIX_BYTES,
    })
    .unwrap();
    assert_eq!(built.manifest.repos.len(), 1);
    // Another `geo-1.0` elsewhere would give its tasks the same names.
    let other = dir.path().join("elsewhere").join("geo-1.0");
    write_files(&other, &[("geo/__init__.py", "")]);
    let err = source_roots(&[py, other]).unwrap_err().to_string();
    assert!(
        err.contains("both named `geo-1.0`") && err.contains("rename one"),
        "{err}"
    );
    assert!(source_roots(&[]).is_err());
}

#[test]
fn directory_names_give_names_and_versions() {
    assert_eq!(
        name_and_version("httpx-0.28.1"),
        ("httpx".into(), Some("0.28.1".into()))
    );
    assert_eq!(
        name_and_version("toml_edit-0.25.18+spec-1.1.0"),
        ("toml_edit".into(), Some("0.25.18+spec-1.1.0".into()))
    );
    assert_eq!(name_and_version("repo"), ("repo".into(), None));
}
