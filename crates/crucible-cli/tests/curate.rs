//! `crucible data curate`: the real binary on a small corpus, as one process, as concurrent
//! shards, killed and resumed, and driven by the Slurm example (with a stand-in `sbatch`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn data_dir() -> PathBuf {
    std::env::var_os("CRUCIBLE_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"))
}

#[allow(clippy::disallowed_methods, reason = "the test drives the real binary")]
fn command(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_crucible"));
    cmd.arg("data").arg("curate").args(args);
    cmd
}

fn curate(args: &[&str]) -> Output {
    command(args).output().unwrap()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "stderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// A Python file whose names and numbers depend on `seed`.
fn source(seed: usize, functions: usize) -> String {
    let mut text = format!("# module {seed}\nimport os\n\n");
    for f in 0..functions {
        text.push_str(&format!(
            "def f_{seed}_{f}(a_{f}, b):\n    c = a_{f} * {} + b - {}\n    return os.path.join(str(c), 'p{f}')\n\n",
            seed * 13 + f,
            f * 5 + seed
        ));
    }
    text
}

fn make_corpus(root: &Path, files: usize) -> PathBuf {
    let dir = root.join("corpus");
    for seed in 0..files {
        let path = dir.join(format!("pkg{}/m{seed:05}.py", seed % 7));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        // Every tenth file repeats an earlier one: exact duplicates across units.
        let body = if seed % 10 == 9 {
            source(seed - 9, 8)
        } else {
            source(seed, 8)
        };
        std::fs::write(path, body).unwrap();
    }
    dir
}

fn small_units(root: &Path) -> PathBuf {
    let path = root.join("curate.toml");
    std::fs::write(&path, "[input]\nunit_files = 5\n").unwrap();
    path
}

fn result_files(output: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    for sub in ["data", "rejects"] {
        for entry in std::fs::read_dir(output.join(sub)).unwrap() {
            let path = entry.unwrap().path();
            let rel = path.strip_prefix(output).unwrap().display().to_string();
            files.insert(rel, std::fs::read(&path).unwrap());
        }
    }
    files.insert(
        "summary.json".into(),
        std::fs::read(output.join("summary.json")).unwrap(),
    );
    files
}

#[test]
fn curates_a_directory_and_keeps_benchmarks_out() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = make_corpus(dir.path(), 40);
    // A HumanEval prompt and solution pasted into a file, reformatted with tabs.
    let leak = "from typing import List\n\n\ndef has_close_elements(numbers: List[float], threshold: float) -> bool:\n\t\"\"\" Check if in given list of numbers, are any two numbers closer to each other than\n\tgiven threshold.\n\t>>> has_close_elements([1.0, 2.0, 3.0], 0.5)\n\tFalse\n\t>>> has_close_elements([1.0, 2.8, 3.0, 4.0, 5.0, 2.0], 0.3)\n\tTrue\n\t\"\"\"\n\tfor idx, elem in enumerate(numbers):\n\t\tfor idx2, elem2 in enumerate(numbers):\n\t\t\tif idx != idx2:\n\t\t\t\tdistance = abs(elem - elem2)\n\t\t\t\tif distance < threshold:\n\t\t\t\t\treturn True\n\n\treturn False\n";
    std::fs::write(corpus.join("leak.py"), leak).unwrap();
    let out = dir.path().join("out");
    let data = data_dir();
    let stdout = ok(&curate(&[
        corpus.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
    ]));
    let summary: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(summary["documents_in"], 41);
    assert_eq!(summary["stages"]["exact"]["dropped"], 4);
    assert_eq!(summary["stages"]["decontam"]["dropped"], 1);
    assert_eq!(summary["documents_out"], 36);
    let rejects = std::fs::read_to_string(out.join("rejects/part-000000.jsonl")).unwrap();
    let leak_line = rejects.lines().find(|l| l.contains("leak.py")).unwrap();
    assert!(
        leak_line.contains("\"stage\":\"decontam\"") && leak_line.contains("HumanEval/0"),
        "{leak_line}"
    );
}

#[test]
fn three_shard_processes_write_what_one_process_writes() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = make_corpus(dir.path(), 60);
    let config = small_units(dir.path());
    let single = dir.path().join("single");
    let common = |out: &Path| {
        vec![
            corpus.to_str().unwrap().to_owned(),
            "-o".into(),
            out.to_str().unwrap().to_owned(),
            "--config".into(),
            config.to_str().unwrap().to_owned(),
            "--skip".into(),
            "decontam".into(),
        ]
    };
    let args = common(&single);
    ok(&curate(
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    ));
    let sharded = dir.path().join("sharded");
    let children: Vec<_> = (0..3)
        .map(|i| {
            let mut args = common(&sharded);
            args.extend([
                "--shard".into(),
                format!("{i}/3"),
                "--threads".into(),
                "1".into(),
            ]);
            command(&args.iter().map(String::as_str).collect::<Vec<_>>())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        ok(&child.wait_with_output().unwrap());
    }
    assert_eq!(result_files(&single), result_files(&sharded));
}

#[test]
fn a_killed_run_continues_where_it_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = make_corpus(dir.path(), 3000);
    let config = small_units(dir.path());
    let args = |out: &Path| {
        vec![
            corpus.to_str().unwrap().to_owned(),
            "-o".into(),
            out.to_str().unwrap().to_owned(),
            "--config".into(),
            config.to_str().unwrap().to_owned(),
            "--skip".into(),
            "decontam".into(),
            "--threads".into(),
            "1".into(),
        ]
    };
    let reference = dir.path().join("reference");
    ok(&curate(
        &args(&reference)
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    ));
    let out = dir.path().join("out");
    let mut child = command(&args(&out).iter().map(String::as_str).collect::<Vec<_>>())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let done_dir = out.join("work/prepare/done");
    let started = Instant::now();
    let markers = |dir: &Path| {
        std::fs::read_dir(dir).map_or(0, |d| {
            d.filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "json"))
            })
            .count()
        })
    };
    while markers(&done_dir) < 20 {
        assert!(started.elapsed() < Duration::from_secs(120), "no progress");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run finished before it could be killed"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let finished_before = markers(&done_dir);
    assert!(
        finished_before < 600,
        "the kill came after prepare finished ({finished_before} units)"
    );
    let out_args = args(&out);
    let rerun = curate(&out_args.iter().map(String::as_str).collect::<Vec<_>>());
    let stderr = String::from_utf8_lossy(&rerun.stderr).into_owned();
    ok(&rerun);
    let prepare = stderr
        .lines()
        .find(|l| l.starts_with("prepare"))
        .unwrap_or_default();
    let done_before: usize = prepare
        .split(',')
        .find_map(|part| part.trim().strip_suffix("done before"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no prepare line in {stderr}"));
    assert_eq!(done_before, finished_before, "{stderr}");
    assert_eq!(result_files(&reference), result_files(&out));
}

#[test]
fn bad_arguments_say_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = make_corpus(dir.path(), 3);
    let out = dir.path().join("out");
    let corpus = corpus.to_str().unwrap();
    let out = out.to_str().unwrap();
    for (args, want) in [
        (
            vec![corpus, "-o", out, "--shard", "2/2"],
            "index 2 is out of range for 2 shards",
        ),
        (vec![corpus, "-o", out, "--skip", "typos"], "no such stage"),
        (vec![corpus, "-o", out, "--stage", "dedup"], "no such step"),
        (
            vec!["/nonexistent/x", "-o", out, "--skip", "decontam"],
            "/nonexistent/x",
        ),
    ] {
        let res = curate(&args);
        assert_eq!(res.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&res.stderr);
        assert!(stderr.contains(want), "{args:?}: {stderr}");
    }
}

/// examples/curate/slurm.sh as written, with an `sbatch` on PATH that runs each array job's
/// tasks here, one after another (the order `afterok` gives): the result is the one-process one.
#[test]
fn the_slurm_example_runs_and_writes_what_one_process_writes() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = make_corpus(dir.path(), 30);
    let config = dir.path().join("curate.toml");
    std::fs::write(
        &config,
        "[input]\nunit_files = 5\n\n[decontam]\nenabled = false\n",
    )
    .unwrap();
    let single = dir.path().join("single");
    ok(&curate(&[
        corpus.to_str().unwrap(),
        "-o",
        single.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ]));
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let sbatch = bin.join("sbatch");
    std::fs::write(
        &sbatch,
        r#"#!/bin/bash
# Stand-in for sbatch --parsable --array=0-N --wrap=CMD: run tasks 0..N of CMD now.
set -euo pipefail
array='' wrap=''
for arg in "$@"; do
    case $arg in
        --array=*) array=${arg#--array=} ;;
        --wrap=*) wrap=${arg#--wrap=} ;;
    esac
done
for i in $(seq "${array%-*}" "${array#*-}"); do
    SLURM_ARRAY_TASK_ID=$i bash -c "$wrap" > /dev/null
done
echo "$$"
"#,
    )
    .unwrap();
    std::fs::set_permissions(&sbatch, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let slurmed = dir.path().join("slurmed");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/curate/slurm.sh");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    #[allow(
        clippy::disallowed_methods,
        reason = "the test runs the example script"
    )]
    let out = Command::new("bash")
        .arg(&script)
        .env("PATH", path)
        .env("CORPUS", &corpus)
        .env("OUT", &slurmed)
        .env("SHARDS", "3")
        .env("CRUCIBLE", env!("CARGO_BIN_EXE_crucible"))
        .env("CONFIG", &config)
        .output()
        .unwrap();
    let said = ok(&out);
    assert!(said.starts_with("submitted: plan "), "{said}");
    assert_eq!(result_files(&single), result_files(&slurmed));
}
