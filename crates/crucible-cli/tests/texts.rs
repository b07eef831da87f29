//! Snapshot tests (insta) of every subcommand's `--help` and of the error texts a new user
//! meets first, so a change to user-facing text is a reviewed diff. Nothing here loads a model:
//! each error is raised before one would be.

use std::path::Path;
use std::process::{Command, Output};

/// `crucible ARGS` in `cwd` with a clean environment: no Crucible variable of the caller's,
/// `CRUCIBLE_HOME` at `home`, a fixed terminal width.
fn crucible(cwd: &Path, home: &Path, args: &[&str]) -> Output {
    #[allow(clippy::disallowed_methods, reason = "the test drives the real binary")]
    let mut command = Command::new(env!("CARGO_BIN_EXE_crucible"));
    for var in crucible_core::types::env::ALL {
        command.env_remove(var.name);
    }
    command
        .args(args)
        .current_dir(cwd)
        .env("CRUCIBLE_HOME", home)
        .env("XDG_CONFIG_HOME", cwd.join("no-user-config"))
        .env("COLUMNS", "100")
        .env("NO_COLOR", "1");
    command.output().unwrap()
}

/// The exit code and both streams, with the scratch directory's path replaced by `[TMP]`.
fn render(out: &Output, tmp: &Path) -> String {
    let text = format!(
        "exit: {:?}\n--- stdout\n{}--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    text.replace(&tmp.display().to_string(), "[TMP]")
}

/// Every subcommand path, for `--help`.
const COMMANDS: &[&[&str]] = &[
    &[],
    &["generate"],
    &["eval"],
    &["score"],
    &["exec"],
    &["data"],
    &["data", "list"],
    &["data", "show"],
    &["data", "pull"],
    &["data", "curate"],
    &["data", "synth"],
    &["data", "export"],
    &["data", "repobench"],
    &["model"],
    &["model", "list"],
    &["model", "pull"],
    &["model", "info"],
    &["model", "rm"],
    &["bench"],
    &["bench", "inference"],
    &["compare"],
    &["serve"],
    &["index"],
    &["search"],
    &["lsp"],
    &["repobench"],
];

#[test]
fn help_of_every_subcommand() {
    let tmp = tempfile::tempdir().unwrap();
    for path in COMMANDS {
        let mut args: Vec<&str> = path.to_vec();
        args.push("--help");
        let out = crucible(tmp.path(), &tmp.path().join("home"), &args);
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        // The exit codes and examples are in every command's help.
        assert!(text.contains("130  interrupted"), "{args:?}: {text}");
        assert!(
            text.contains("\nExamples:\n  crucible "),
            "{args:?}: {text}"
        );
        let name = if path.is_empty() {
            "help-crucible".to_owned()
        } else {
            format!("help-{}", path.join("-"))
        };
        insta::assert_snapshot!(name, text);
    }
}

#[test]
fn errors_a_new_user_meets() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let dir = tmp.path();
    std::fs::write(
        dir.join("typo.json"),
        r#"{"id": "t", "description": "Print 1.", "exmaples": []}"#,
    )
    .unwrap();
    std::fs::write(dir.join("odd.json"), "[1, 2]").unwrap();
    std::fs::write(
        dir.join("good.json"),
        r#"{"id": "t", "description": "Print 1.", "examples": [{"input": "", "output": "1\n"}]}"#,
    )
    .unwrap();
    let cases: &[(&str, &[&str])] = &[
        (
            "error-missing-benchmark",
            &["data", "show", "humaneval", "HumanEval/0"],
        ),
        (
            "error-unknown-benchmark",
            &["eval", "--benchmark", "humaneval-y"],
        ),
        ("error-unknown-pull-name", &["data", "pull", "humaneval-y"]),
        (
            "error-k-zero",
            &["eval", "--benchmark", "humaneval", "--k", "0"],
        ),
        (
            "error-unknown-task-field",
            &["eval", "--benchmark", "typo.json"],
        ),
        (
            "error-samples-shape",
            &["score", "--benchmark", "good.json", "odd.json"],
        ),
        (
            "error-time-limit-before-the-model-loads",
            &["eval", "--benchmark", "good.json", "--time-limit", "700"],
        ),
        (
            "error-pull-from-missing-dir",
            &["data", "pull", "all", "--from-dir", "nowhere"],
        ),
    ];
    for (name, args) in cases {
        let out = crucible(dir, &home, args);
        insta::assert_snapshot!(*name, render(&out, dir));
    }
}
