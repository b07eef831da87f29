//! `crucible data`: the benchmark list, `show`, the data directory from `crucible.toml`, and
//! `pull` from a rows API served on loopback by the test.

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
    assert_eq!(
        task["visible"]["code"],
        "assert truncate_number(3.5) == 0.5\n"
    );
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
    let out = crucible_in(scratch.path(), &home, &hub_only, &["data", "pull", "mbpp"]);
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
    assert!(stderr.contains("pulled humaneval: 2 tasks"), "{stderr}");
    assert!(home.join("data/humaneval/HumanEval.jsonl.gz").is_file());

    let out = crucible_in(scratch.path(), &home, &[], &["data", "pull", "apps"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("fetches `humaneval` and `mbpp`"),
        "{stderr}"
    );
}
