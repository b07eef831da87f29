//! `crucible data`: the benchmark list, `show`, the data directory from `crucible.toml`, and
//! `pull` from a rows API, every benchmark's public home and a hub mirror served on loopback by
//! the test (with checksum failures and cut-off downloads), or from a local copy; installed
//! data is found from any directory.

#[allow(dead_code)]
#[path = "support/public_homes.rs"]
mod public_homes;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crucible_core::eval::catalog::{self, Checked};
use crucible_core::eval::fetch;
use public_homes::Serve;

/// [`public_homes::serve_data`] of the shared data folder.
fn serve_data(how: Serve) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    public_homes::serve_data(&data_dir(), how)
}

fn data_dir() -> PathBuf {
    std::env::var_os("CRUCIBLE_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"))
}

fn crucible(args: &[&str]) -> Output {
    #[allow(clippy::disallowed_methods, reason = "the test drives the real binary")]
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_crucible"))
        .arg("data")
        .args(args)
        .arg("--data-dir")
        .arg(data_dir())
        .output()
        .unwrap();
    out
}

#[test]
fn list_shows_every_benchmark() {
    let out = crucible(&["list"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for expect in [
        "humaneval 164",
        "mbpp-plus 399",
        "apps 49 (101 records not used)",
        "codenet 3816 (183 records not used)",
        "humaneval-infilling-single-line 1033",
        "humaneval-infilling-random-span-light 164",
    ] {
        assert!(
            listed(&stdout).any(|row| row.starts_with(&format!("{expect} "))),
            "missing `{expect}` in:\n{stdout}"
        );
    }
}

/// The rows of `crucible data list` with the columns' padding taken out.
fn listed(stdout: &str) -> impl Iterator<Item = String> + '_ {
    stdout
        .lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
}

#[test]
fn show_prints_only_the_visible_task() {
    let out = crucible(&["show", "humaneval", "HumanEval/2"]);
    let task: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // A task-file record: the visible tests under `tests`, no hidden ones.
    assert_eq!(task["tests"], "assert truncate_number(3.5) == 0.5\n");
    assert_eq!(task["entry_point"], "truncate_number");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("check(candidate)"));
    let missing = crucible(&["show", "humaneval", "HumanEval/999"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("no task `HumanEval/999` in `humaneval`")
    );
}

/// `crucible ARGS` run in `cwd`, with `CRUCIBLE_HOME` at `home` and the variables given; the
/// data and rows variables of the caller's environment are removed.
fn crucible_in(cwd: &Path, home: &Path, vars: &[(&str, &str)], args: &[&str]) -> Output {
    #[allow(clippy::disallowed_methods, reason = "the test drives the real binary")]
    let mut command = Command::new(env!("CARGO_BIN_EXE_crucible"));
    command
        .args(args)
        .current_dir(cwd)
        .env("CRUCIBLE_HOME", home)
        .env_remove("CRUCIBLE_DATA")
        .env_remove("CRUCIBLE_ROWS_ENDPOINT")
        .env_remove("CRUCIBLE_ROWS_TOKEN")
        .env("XDG_CONFIG_HOME", cwd.join("no-user-config"));
    for (key, value) in vars {
        command.env(key, value);
    }
    command.output().unwrap()
}

#[test]
fn data_dir_in_crucible_toml_is_where_benchmarks_are_read() {
    let scratch = tempfile::tempdir().unwrap();
    let data = std::fs::canonicalize(data_dir()).unwrap();
    std::fs::write(
        scratch.path().join("crucible.toml"),
        format!("data_dir = {:?}\n", data.to_str().unwrap()),
    )
    .unwrap();
    let home = scratch.path().join("home");
    let out = crucible_in(scratch.path(), &home, &[], &["data", "list"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("data directory: {}", data.display())),
        "{stdout}"
    );
    assert!(
        listed(&stdout).any(|row| row.starts_with("humaneval 164 ")),
        "{stdout}"
    );
}

/// Serve one rows page of two HumanEval-shaped tasks to the first request.
fn serve_rows() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let Ok((stream, _)) = listener.accept() else {
            return;
        };
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap() > 2 {
            line.clear();
        }
        let rows: Vec<_> = (0..2)
            .map(|n| {
                serde_json::json!({"row_idx": n, "row": {
                    "task_id": format!("HumanEval/{n}"),
                    "prompt": format!("def f{n}(x):\n    \"\"\"\n    >>> f{n}(1)\n    1\n    \"\"\"\n"),
                    "canonical_solution": "    return x\n",
                    "test": "def check(candidate):\n    assert candidate(2) == 2\n",
                    "entry_point": format!("f{n}"),
                }})
            })
            .collect();
        let body = serde_json::json!({"rows": rows, "num_rows_total": 2}).to_string();
        let mut stream = reader.into_inner();
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(body.as_bytes()).unwrap();
    });
    format!("http://{addr}")
}

#[test]
fn pull_reads_the_rows_api_from_its_own_variable_not_the_hub_s() {
    let scratch = tempfile::tempdir().unwrap();
    let home = scratch.path().join("home");
    // The hub's variable alone says nothing about where rows come from.
    let hub_only = [("HF_ENDPOINT", "http://127.0.0.1:9")];
    let out = crucible_in(
        scratch.path(),
        &home,
        &hub_only,
        &["data", "pull", "mbpp", "--from", "rows"],
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("set `CRUCIBLE_ROWS_ENDPOINT`"), "{stderr}");

    let endpoint = serve_rows();
    let vars = [
        ("CRUCIBLE_ROWS_ENDPOINT", endpoint.as_str()),
        ("HF_ENDPOINT", "http://127.0.0.1:9"),
    ];
    let out = crucible_in(
        scratch.path(),
        &home,
        &vars,
        &["data", "pull", "humaneval", "--from", "rows"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("pulled humaneval: 1 file(s) installed (humaneval 2 tasks)"),
        "{stderr}"
    );
    assert!(home.join("data/humaneval/HumanEval.jsonl.gz").is_file());

    // The mirror needs its repository variable; the error names it and the alternatives.
    let out = crucible_in(
        scratch.path(),
        &home,
        &[],
        &["data", "pull", "apps", "--from", "mirror"],
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("needs `CRUCIBLE_DATA_REPO`") && stderr.contains("--from-dir"),
        "{stderr}"
    );
}

/// Files under `dir`, recursively (relative paths, sorted).
fn files_under(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(next) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&next) else {
            continue;
        };
        for entry in entries.map(Result::unwrap) {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                found.push(path.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    found.sort();
    found
}

#[test]
fn pull_gets_every_benchmark_from_its_public_home_with_checksums() {
    let scratch = tempfile::tempdir().unwrap();
    let home = scratch.path().join("home");
    let (server, asked) = serve_data(Serve::Faithful);
    let vars = [("CRUCIBLE_GITHUB_RAW", server.as_str())];
    // Everything but HumanEval (a wheel, fetched with pip), with no mirror configured.
    let sets = [
        "humaneval-plus",
        "mbpp",
        "mbpp-plus",
        "humaneval-x",
        "multipl-e-rust",
        "apps",
        "codenet",
        "humaneval-infilling",
    ];
    let mut args = vec!["data", "pull"];
    args.extend(sets);
    let out = crucible_in(scratch.path(), &home, &vars, &args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    for path in [
        "/evalplus/evalplus/767efcc368e0ef16568bba4ee2f1b005e849e8a6/MbppPlus.jsonl",
        "/google-research/google-research/30adf0ec5f35f9609c2f1d896005e184195d9146/mbpp/sanitized-mbpp.json",
        "/Md-Ashraful-Pramanik/MapCoder/0027da71030b441cca2bc6f95def86b9aa5c7dea/data/MBPPEval/MBPP.jsonl",
        "/Md-Ashraful-Pramanik/MapCoder/0027da71030b441cca2bc6f95def86b9aa5c7dea/data/APPS/selected150.jsonl",
        "/noahshinn/reflexion/218cf0ef1df84b05ce379dd4a8e47f17766733a0/programming_runs/benchmarks/mbpp-rs.jsonl",
        "/IBM/Project_CodeNet/55c323b527ab3d6510d55edff188bc0a0d7bc5e5/doc/problem_descriptions.tar.gz",
        "/madaan/pie-perf/8f74491065bcd5b66d3913bf31cfba0ecf4ea5f0/data/problem_list.csv",
    ] {
        assert!(
            stderr.contains(&format!("{server}{path}")),
            "{path}: {stderr}"
        );
    }
    assert!(
        !asked
            .lock()
            .unwrap()
            .iter()
            .any(|p| p.starts_with("/datasets/")),
        "the mirror is not needed"
    );
    for needle in [
        "pulled mbpp-plus: 1 file(s) installed (mbpp-plus 399 tasks)",
        "pulled apps: 1 file(s) installed (apps 49 tasks)",
        "pulled codenet: 1 file(s) installed (codenet",
    ] {
        assert!(stderr.contains(needle), "{needle}: {stderr}");
    }
    // Byte-for-byte files are the shared copies; files gzipped here hold the same content.
    let data = data_dir();
    for file in catalog::DATASETS
        .iter()
        .filter(|set| sets.contains(&set.name))
        .flat_map(|set| set.files)
    {
        let installed = std::fs::read(home.join("data").join(file.relative)).unwrap();
        let shared = std::fs::read(data.join(file.relative)).unwrap();
        match file.checked() {
            Checked::File => assert!(installed == shared, "{}", file.relative),
            Checked::Gunzipped => assert!(
                fetch::gunzip(&installed).unwrap() == fetch::gunzip(&shared).unwrap(),
                "{}",
                file.relative
            ),
        }
    }

    // A second pull finds every file in place and downloads nothing.
    let before = asked.lock().unwrap().len();
    let out = crucible_in(scratch.path(), &home, &vars, &args);
    assert!(out.status.success());
    assert_eq!(asked.lock().unwrap().len(), before);
}

#[test]
fn the_mirror_stays_an_option() {
    let scratch = tempfile::tempdir().unwrap();
    let home = scratch.path().join("home");
    let (server, asked) = serve_data(Serve::Faithful);
    let vars = [
        ("HF_ENDPOINT", server.as_str()),
        ("CRUCIBLE_DATA_REPO", "test/data"),
    ];
    let out = crucible_in(
        scratch.path(),
        &home,
        &vars,
        &["data", "pull", "apps", "--from", "mirror"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        *asked.lock().unwrap(),
        ["/datasets/test/data/resolve/main/apps-selected150/selected150.jsonl.gz"]
    );
    assert_eq!(
        std::fs::read(home.join("data/apps-selected150/selected150.jsonl.gz")).unwrap(),
        std::fs::read(data_dir().join("apps-selected150/selected150.jsonl.gz")).unwrap()
    );
}

#[test]
fn changed_bytes_are_refused_naming_the_file_the_checksums_and_the_fix() {
    let scratch = tempfile::tempdir().unwrap();
    let home = scratch.path().join("home");
    let (server, _) = serve_data(Serve::Tampered);
    let vars = [("CRUCIBLE_GITHUB_RAW", server.as_str())];
    let out = crucible_in(
        scratch.path(),
        &home,
        &vars,
        &["data", "pull", "mbpp-plus", "humaneval-plus"],
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for needle in [
        // Upstream is plain JSON: the checksum is of the content.
        "/MbppPlus.jsonl` is not the file expected for `mbpp-plus/MbppPlus.jsonl.gz`",
        "expected 08405a4e8764a4941cfe0945d25a956355a0454f364ea902c4020a44e7057973 of the uncompressed bytes",
        // A byte-for-byte file: the checksum is of the file.
        "expected 272720b90ac375502c8ed23cd791c2a93dfb22a911641a494da74a426c09f101 (",
        "nothing was installed",
        "--from-dir DIR",
    ] {
        assert!(stderr.contains(needle), "{needle}: {stderr}");
    }
    assert_eq!(files_under(&home.join("data")), Vec::<String>::new());
}

#[test]
fn an_interrupted_download_installs_nothing() {
    let scratch = tempfile::tempdir().unwrap();
    let home = scratch.path().join("home");
    let (server, _) = serve_data(Serve::CutOff);
    let vars = [("CRUCIBLE_GITHUB_RAW", server.as_str())];
    for set in ["apps", "codenet", "humaneval-plus"] {
        let out = crucible_in(scratch.path(), &home, &vars, &["data", "pull", set]);
        assert_eq!(out.status.code(), Some(1), "{set}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("download of `http://"), "{set}: {stderr}");
        assert!(!stderr.contains("panicked"), "{set}: {stderr}");
    }
    // No file, not even a partial one, under the data directory.
    assert_eq!(files_under(&home.join("data")), Vec::<String>::new());
}

#[test]
fn installed_data_is_found_from_any_directory() {
    let scratch = tempfile::tempdir().unwrap();
    let home = scratch.path().join("home");
    let elsewhere = scratch.path().join("somewhere/else");
    std::fs::create_dir_all(&elsewhere).unwrap();
    // Nothing installed: the error names the command that gets the data.
    let out = crucible_in(
        &elsewhere,
        &home,
        &[],
        &["data", "show", "mbpp-plus", "Mbpp/2"],
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("get it with `crucible data pull mbpp-plus`"),
        "{stderr}"
    );

    let data = data_dir();
    let out = crucible_in(
        &elsewhere,
        &home,
        &[],
        &[
            "data",
            "pull",
            "humaneval",
            "mbpp-plus",
            "--from-dir",
            data.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // `data show` works from there, and its output is a task file `score` and `eval` read.
    let out = crucible_in(
        &elsewhere,
        &home,
        &[],
        &["data", "show", "humaneval", "HumanEval/2", "--json"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(elsewhere.join("task.jsonl"), &out.stdout).unwrap();
    let pretty = crucible_in(
        &elsewhere,
        &home,
        &[],
        &["data", "show", "humaneval", "HumanEval/2"],
    );
    std::fs::write(elsewhere.join("task.json"), &pretty.stdout).unwrap();
    let sample = serde_json::json!({
        "task_id": "HumanEval/2",
        "completion": "    return number % 1.0\n",
    });
    std::fs::write(elsewhere.join("s.jsonl"), format!("{sample}\n")).unwrap();
    for (benchmark, expect) in [
        ("humaneval", "passed             1"),
        ("task.json", "passed             1"),
        ("task.jsonl", "passed             1"),
    ] {
        let out = crucible_in(
            &elsewhere,
            &home,
            &[],
            &[
                "score",
                "--benchmark",
                benchmark,
                "s.jsonl",
                "--allow-missing",
                "--force",
                "--out",
                &format!("run-{benchmark}"),
            ],
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{benchmark}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains(expect), "{benchmark}: {stdout}");
    }
}
