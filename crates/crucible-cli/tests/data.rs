//! `crucible data`: the benchmark list, `show`, the data directory from `crucible.toml`, and
//! `pull` from a rows API, GitHub and a hub mirror served on loopback by the test, or from a
//! local copy; installed data is found from any directory.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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
        "humaneval       164",
        "mbpp-plus       399",
        "apps            49 (101 records not used)",
        "codenet         3816 (183 records not used)",
    ] {
        assert!(stdout.contains(expect), "missing `{expect}` in:\n{stdout}");
    }
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
    assert!(stdout.contains("humaneval       164"), "{stdout}");
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

    // APPS has no public copy with these bytes: the mirror or a local copy is named.
    let out = crucible_in(scratch.path(), &home, &[], &["data", "pull", "apps"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("set `CRUCIBLE_DATA_REPO`") && stderr.contains("--from-dir"),
        "{stderr}"
    );
}

/// Serve files of the data directory on loopback in two layouts: a hub dataset's
/// (`/datasets/ORG/NAME/resolve/REV/<relative path>`) and GitHub's raw files
/// (`/ORG/REPO/COMMIT/<path>`, found here by file name). With `tamper`, every file's last byte
/// is changed. Serves until the test ends.
fn serve_data(tamper: bool) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let data = data_dir();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let mut reader = BufReader::new(stream);
            let mut request = String::new();
            reader.read_line(&mut request).unwrap();
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap() > 2 {
                line.clear();
            }
            let path = request.split_whitespace().nth(1).unwrap_or("/").to_owned();
            let file = match path.strip_prefix("/datasets/test/data/resolve/main/") {
                Some(relative) => Some(data.join(relative)),
                None => {
                    let name = path.rsplit('/').next().unwrap_or("");
                    std::fs::read_dir(&data)
                        .unwrap()
                        .filter_map(Result::ok)
                        .map(|dir| dir.path().join(name))
                        .find(|candidate| candidate.is_file())
                }
            };
            let mut stream = reader.into_inner();
            match file.and_then(|f| std::fs::read(f).ok()) {
                Some(mut body) => {
                    if tamper {
                        *body.last_mut().unwrap() ^= 1;
                    }
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    stream.write_all(head.as_bytes()).unwrap();
                    stream.write_all(&body).unwrap();
                }
                None => {
                    let head =
                        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
                    stream.write_all(head.as_bytes()).unwrap();
                }
            }
        }
    });
    format!("http://{addr}")
}

#[test]
fn pull_downloads_from_github_and_the_mirror_with_checksums() {
    let scratch = tempfile::tempdir().unwrap();
    let home = scratch.path().join("home");
    let server = serve_data(false);
    let vars = [
        ("CRUCIBLE_GITHUB_RAW", server.as_str()),
        ("HF_ENDPOINT", server.as_str()),
        ("CRUCIBLE_DATA_REPO", "test/data"),
    ];
    // humaneval-plus is on GitHub, apps only on the mirror.
    let out = crucible_in(
        scratch.path(),
        &home,
        &vars,
        &["data", "pull", "humaneval-plus", "apps"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("/evalplus/humanevalplus_release/200defce9e3429d28ca215b6dd061c0f7f31c18b/HumanEvalPlus.jsonl.gz"),
        "{stderr}"
    );
    assert!(
        stderr.contains("pulled humaneval-plus: 1 file(s) installed (humaneval-plus 164 tasks)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("pulled apps: 1 file(s) installed (apps 49 tasks)"),
        "{stderr}"
    );
    let installed = home.join("data/humaneval-plus/HumanEvalPlus.jsonl.gz");
    assert_eq!(
        std::fs::read(&installed).unwrap(),
        std::fs::read(data_dir().join("humaneval-plus/HumanEvalPlus.jsonl.gz")).unwrap()
    );

    // Changed bytes are refused, and nothing is installed.
    let bad = serve_data(true);
    let vars = [
        ("HF_ENDPOINT", bad.as_str()),
        ("CRUCIBLE_DATA_REPO", "test/data"),
    ];
    let out = crucible_in(
        scratch.path(),
        &home,
        &vars,
        &["data", "pull", "codenet", "--from", "mirror"],
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("is not the file expected: sha256"),
        "{stderr}"
    );
    assert!(!home.join("data/codenet/codenet_problems.jsonl.gz").exists());
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
