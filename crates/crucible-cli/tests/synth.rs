//! `crucible data synth` and `crucible data export` end to end with a scripted model (the
//! in-process mock OpenAI-compatible server): a passing record is kept with its provenance and
//! mutant kill rate, a failing one becomes a rejected sample, garbage becomes a recorded
//! rejection, a benchmark solution is removed by decontamination, a resumed run asks only for
//! new seeds; the export writes every layout, and the SFT and DPO files load with Hugging Face
//! `datasets` (installed into a venv under the target directory, as the server's `openai`
//! test does; the test fails, never skips, when it cannot be).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;

use crucible_infer_http::mock::{MockServer, Reply};

fn data_dir() -> PathBuf {
    std::env::var_os("CRUCIBLE_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"))
}

fn crucible(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_crucible"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("CRUCIBLE_HOME", dir.join("home"))
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .env("CRUCIBLE_DATA", data_dir())
        .env_remove("CRUCIBLE_MODEL")
        .env_remove("CRUCIBLE_ENDPOINT")
        .env_remove("CRUCIBLE_CONFIG")
        .stdin(Stdio::null())
        .output()
        .expect("the crucible binary runs")
}

fn ok(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|err| {
        panic!(
            "stdout is not JSON ({err}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Good answers: distinct functions whose solutions pass their tests.
const GOOD: [&str; 3] = [
    "[Problem]\nWrite `clamp(x, lo, hi)` that limits x to the range [lo, hi].\n\n[Solution]\n```python\ndef clamp(x, lo, hi):\n    if x < lo:\n        return lo\n    if x > hi:\n        return hi\n    return x\n```\n\n[Tests]\n```python\nassert clamp(5, 0, 10) == 5\nassert clamp(-3, 0, 10) == 0\nassert clamp(42, 0, 10) == 10\n```\n",
    "[Problem]\nGiven a list of words, return the longest one (the first on ties); an empty list gives an empty string.\n\n[Solution]\n```python\ndef longest_word(words):\n    best = \"\"\n    for w in words:\n        if len(w) > len(best):\n            best = w\n    return best\n```\n\n[Tests]\n```python\nassert longest_word([\"a\", \"abc\", \"ab\"]) == \"abc\"\nassert longest_word([]) == \"\"\nassert longest_word([\"xy\", \"zw\"]) == \"xy\"\n```\n",
    "[Problem]\nCount the even numbers in a list of integers and return how many there are.\n\n[Solution]\n```python\ndef count_even(values):\n    total = 0\n    for v in values:\n        if v % 2 == 0:\n            total += 1\n    return total\n```\n\n[Tests]\n```python\nassert count_even([1, 2, 3, 4]) == 2\nassert count_even([]) == 0\nassert count_even([7, 9]) == 0\n```\n",
];

/// A solution that fails its own tests.
const FAILING: &str = "[Problem]\nReturn the square of n.\n\n[Solution]\n```python\ndef square(n):\n    return n * 2\n```\n\n[Tests]\n```python\nassert square(3) == 9\n```\n";

/// HumanEval/0's prompt and solution, verbatim: decontamination must drop it.
const CONTAMINATED: &str = "[Problem]\nCheck if in given list of numbers, are any two numbers closer to each other than given threshold.\n\n[Solution]\n```python\ndef has_close_elements(numbers, threshold):\n    for idx, elem in enumerate(numbers):\n        for idx2, elem2 in enumerate(numbers):\n            if idx != idx2:\n                distance = abs(elem - elem2)\n                if distance < threshold:\n                    return True\n\n    return False\n```\n\n[Tests]\n```python\nassert has_close_elements([1.0, 2.0, 3.0], 0.5) == False\nassert has_close_elements([1.0, 2.8, 3.0, 4.0, 5.0, 2.0], 0.3) == True\n```\n";

/// The corpus: one document per kind of answer, each line carrying its marker.
fn corpus(dir: &Path) -> PathBuf {
    let path = dir.join("corpus.jsonl");
    let mut text = String::new();
    for (i, marker) in ["GOODMARK", "FAILMARK", "JUNKMARK", "BENCHMARK0"]
        .iter()
        .enumerate()
    {
        let body: String = (0..30).map(|n| format!("{marker}_{n} = {n}\n")).collect();
        let doc = serde_json::json!({
            "id": format!("doc{i}"), "source": format!("repo/file{i}.py"),
            "language": "python", "text": body, "metadata": {"license": "MIT"}
        });
        text.push_str(&doc.to_string());
        text.push('\n');
    }
    std::fs::write(&path, text).unwrap();
    path
}

fn server() -> MockServer {
    let good = Arc::new(AtomicUsize::new(0));
    MockServer::serving("scripted", move |request| {
        let body = request.json().to_string();
        let answer = if body.contains("GOODMARK") {
            GOOD[good.fetch_add(1, Ordering::SeqCst) % GOOD.len()]
        } else if body.contains("FAILMARK") {
            FAILING
        } else if body.contains("BENCHMARK0") {
            CONTAMINATED
        } else {
            "I am not sure what you mean. Here is a poem instead."
        };
        Reply::chat(&[answer], "stop", Some((100, 50)))
    })
}

fn synth(dir: &Path, server: &MockServer, corpus: &Path, count: &str) -> Value {
    ok(&crucible(
        dir,
        &[
            "data",
            "synth",
            corpus.to_str().unwrap(),
            "--out",
            "run",
            "--count",
            count,
            "--endpoint",
            &server.endpoint(),
            "--model",
            "scripted",
            "--mutants",
            "4",
        ],
    ))
}

#[test]
fn synth_keeps_verified_records_rejects_the_rest_resumes_and_exports() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let corpus = corpus(dir);
    let server = server();

    let first = synth(dir, &server, &corpus, "6");
    assert_eq!(first["seeds"], 6);
    assert_eq!(server.posts().len(), 6);
    // Twice as many seeds: only the new ones are generated.
    let summary = synth(dir, &server, &corpus, "12");
    assert_eq!(
        server.posts().len(),
        12,
        "a resumed run asked again for done seeds"
    );
    assert_eq!(summary["seeds"], 12);
    assert_eq!(summary["generated_now"], 6);
    assert_eq!(summary["done_before"], 6);

    let run = dir.join("run");
    let records = lines(&run.join("records.jsonl"));
    let rejected = lines(&run.join("rejected.jsonl"));
    assert_eq!(records.len() + rejected.len(), 12);
    let mut indices: Vec<u64> = records
        .iter()
        .chain(&rejected)
        .map(|r| r["seed_index"].as_u64().unwrap())
        .collect();
    indices.sort_unstable();
    assert_eq!(
        indices,
        (0..12).collect::<Vec<u64>>(),
        "each seed exactly once"
    );

    // Every kind of seed came up (the draw is fixed by the seed, so this is deterministic).
    let snippet_has = |r: &Value, m: &str| {
        let snippet = r["seed_snippet"].as_str().map(str::to_owned);
        snippet.unwrap_or_default().contains(m)
    };
    assert!(records.iter().all(|r| {
        let s = r["seed_snippet"].as_str().unwrap();
        s.contains("GOODMARK") || s.contains("BENCHMARK0")
    }));
    assert!(records.iter().any(|r| snippet_has(r, "GOODMARK")));
    for r in &records {
        assert_eq!(r["provenance"]["licence"], "MIT");
        assert!(
            r["provenance"]["source"]
                .as_str()
                .unwrap()
                .starts_with("repo/file")
        );
        assert_eq!(r["task"]["language"], "python");
        let m = &r["mutation"];
        assert!((1..=4).contains(&m["mutants"].as_u64().unwrap()), "{m}");
        assert!(m["killed"].as_u64().unwrap() > 0, "{m}");
        assert!(m["kill_rate"].as_f64().unwrap() > 0.0);
    }
    let reasons: Vec<&str> = rejected
        .iter()
        .map(|r| r["rejection"]["stage"].as_str().unwrap())
        .collect();
    assert!(reasons.contains(&"tests"), "{reasons:?}");
    assert!(reasons.contains(&"parse"), "{reasons:?}");
    for r in &rejected {
        match r["rejection"]["stage"].as_str().unwrap() {
            "tests" => {
                assert_eq!(r["rejection"]["status"], "wrong_answer", "{r}");
                assert_eq!(r["solution"], "def square(n):\n    return n * 2");
            }
            "parse" => {
                assert_eq!(r["rejection"]["reason"], "missing_code_blocks");
                assert!(r["answer"].as_str().unwrap().contains("poem"));
            }
            other => panic!("unexpected rejection {other}: {r}"),
        }
    }

    // Curation: duplicates and the benchmark solution are gone from synth.jsonl.
    let kept = lines(&run.join("synth.jsonl"));
    assert_eq!(summary["kept"], kept.len());
    assert!(kept.len() >= 2 && kept.len() <= 3, "{}", kept.len());
    assert!(kept.iter().all(|r| snippet_has(r, "GOODMARK")));
    let drops = summary["curation_drops"].as_object().unwrap();
    let dropped: u64 = drops.values().map(|v| v.as_u64().unwrap()).sum();
    assert_eq!(dropped as usize + kept.len(), records.len(), "{drops:?}");
    if records.iter().any(|r| snippet_has(r, "BENCHMARK0")) {
        assert!(
            drops.keys().any(|k| k.starts_with("decontam:")),
            "{drops:?}"
        );
    }
    assert!(summary["mutant_kill_rate"].as_f64().unwrap() > 0.0);
    let rate = summary["filter_pass_rate"].as_f64().unwrap();
    assert!((rate - records.len() as f64 / 12.0).abs() < 1e-9);

    // Export.
    let report = ok(&crucible(
        dir,
        &["data", "export", "--synth", "run", "--out", "export"],
    ));
    assert_eq!(report["sft_examples"], kept.len());
    let pairs = report["pairs"].as_u64().unwrap();
    assert!(pairs > 0);
    let out = dir.join("export");
    let messages = lines(&out.join("sft/trl_messages.jsonl"));
    assert_eq!(messages.len(), kept.len());
    assert_eq!(messages[0]["messages"][1]["role"], "assistant");
    let dpo = lines(&out.join("preference/dpo.jsonl"));
    assert_eq!(dpo.len() as u64, pairs);
    assert_ne!(dpo[0]["chosen"], dpo[0]["rejected"]);
    assert_eq!(
        lines(&out.join("preference/kto.jsonl")).len() as u64,
        2 * pairs
    );
    for file in [
        "sft/trl_prompt_completion.jsonl",
        "llamafactory/alpaca.jsonl",
        "llamafactory/sharegpt.jsonl",
        "axolotl/chat_template.jsonl",
        "llamafactory/dpo_alpaca.jsonl",
    ] {
        assert!(!lines(&out.join(file)).is_empty(), "{file}");
    }
    let info: Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("llamafactory/dataset_info.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(info["crucible_alpaca"]["file_name"], "alpaca.jsonl");
    let card = std::fs::read_to_string(out.join("README.md")).unwrap();
    assert!(card.contains("- MIT: "), "{card}");
    assert!(card.contains("curation drops"), "{card}");

    load_with_hf_datasets(&out, false);
}

/// A venv with `datasets` installed; its python. Made once per test binary: tests run as
/// threads, and two making it at once (`venv --clear`) wiped each other's install.
fn venv_python() -> PathBuf {
    static PYTHON: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    PYTHON.get_or_init(make_venv).clone()
}

fn make_venv() -> PathBuf {
    const DATASETS: &str = "datasets>=2.19,<5";
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("datasets-venv");
    let python = venv.join("bin/python");
    let marker = venv.join(".datasets-installed");
    if marker.is_file() {
        return python;
    }
    let made = Command::new("python3")
        .args(["-m", "venv", "--clear"])
        .arg(&venv)
        .status();
    match made {
        Ok(status) if status.success() => {}
        Ok(status) => panic!(
            "`python3 -m venv` failed ({status}); install python3-venv (scripts/setup.sh does)"
        ),
        Err(err) => panic!("python3 is missing ({err}); install it (scripts/setup.sh does)"),
    }
    let installed = Command::new(&python)
        .args(["-m", "pip", "install", "--quiet", DATASETS])
        .status()
        .expect("the venv's python runs");
    assert!(
        installed.success(),
        "`pip install '{DATASETS}'` failed ({installed}); the first run needs the package index (scripts/setup.sh installs it ahead)"
    );
    std::fs::write(&marker, DATASETS).unwrap();
    python
}

/// Load the exported files with `datasets`; `repairs`: the export has repair conversations,
/// which must load too.
fn load_with_hf_datasets(out: &Path, repairs: bool) {
    let python = venv_python();
    let script = r#"
import sys
from datasets import load_dataset
out = sys.argv[1]
sft = load_dataset("json", data_files=f"{out}/sft/trl_messages.jsonl", split="train")
assert set(sft.column_names) == {"messages"}, sft.column_names
assert sft[0]["messages"][0]["role"] == "user"
dpo = load_dataset("json", data_files=f"{out}/preference/dpo.jsonl", split="train")
assert set(dpo.column_names) == {"prompt", "chosen", "rejected"}, dpo.column_names
kto = load_dataset("json", data_files=f"{out}/preference/kto.jsonl", split="train")
assert set(kto.column_names) == {"prompt", "completion", "label"}, kto.column_names
import os
rep = f"{out}/sft/trl_repair_messages.jsonl"
if sys.argv[2] == "1":
    conv = load_dataset("json", data_files=rep, split="train")
    assert set(conv.column_names) == {"messages"}, conv.column_names
    roles = [m["role"] for m in conv[0]["messages"]]
    assert roles[-4:] == ["user", "assistant", "user", "assistant"], roles
    share = load_dataset("json", data_files=f"{out}/llamafactory/sharegpt_repair.jsonl", split="train")
    assert set(share.column_names) == {"conversations", "system"}, share.column_names
    print(f"repair={len(conv)}")
else:
    assert os.path.getsize(rep) == 0, "repair conversations the test did not expect"
print(f"sft={len(sft)} dpo={len(dpo)} kto={len(kto)}")
"#;
    let run = Command::new(&python)
        .arg("-c")
        .arg(script)
        .arg(out)
        .arg(if repairs { "1" } else { "0" })
        .env("HF_DATASETS_CACHE", out.join("hf-cache"))
        .env("HF_HUB_OFFLINE", "1")
        .output()
        .expect("the venv's python runs");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "loading with `datasets` failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(stdout.contains("sft="), "{stdout}");
}

#[test]
fn multipl_e_derived_data_is_never_exported_and_benchmarks_stay_out() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // A synth run whose seed came from MultiPL-E.
    let run = dir.join("run");
    std::fs::create_dir_all(&run).unwrap();
    let record = serde_json::json!({
        "id": "synth-0-0", "seed_index": 0, "style": "oss",
        "task": {"id": "synth-0-0"}, "problem": "p", "solution": "def f():\n    return 1",
        "tests": "assert f() == 1",
        "mutation": {"mutants": 0, "killed": 0, "kill_rate": null, "killed_mutants": [], "survived": []},
        "provenance": {"doc_id": "x", "source": "multipl-e-rust/HumanEval_rs.jsonl:3",
            "corpus_file": "c.jsonl", "corpus_line": 1, "first_line": 1, "lines": 1, "licence": "MIT"},
        "seed_snippet": "x", "model": "m", "gen_ms": 1, "exec_ms": 1
    });
    std::fs::write(run.join("synth.jsonl"), format!("{record}\n")).unwrap();
    let out = crucible(
        dir,
        &["data", "export", "--synth", "run", "--out", "export"],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("MultiPL-E") && stderr.contains("licence"),
        "{stderr}"
    );
    assert!(!dir.join("export").exists(), "nothing may be written");

    // An eval run on a MultiPL-E benchmark: refused even with --include-benchmarks.
    let eval = dir.join("eval-rs");
    std::fs::create_dir_all(&eval).unwrap();
    std::fs::write(
        eval.join("config.json"),
        r#"{"fingerprint": "x", "config": {"benchmark": "humaneval-rs", "language": "rust"}}"#,
    )
    .unwrap();
    let out = crucible(
        dir,
        &[
            "data",
            "export",
            "--eval",
            "eval-rs",
            "--include-benchmarks",
            "--out",
            "export",
        ],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("MultiPL-E"));

    // An eval run on HumanEval: left out by default, with the reason in the report.
    let eval = dir.join("eval-he");
    std::fs::create_dir_all(&eval).unwrap();
    std::fs::write(
        eval.join("config.json"),
        r#"{"fingerprint": "x", "config": {"benchmark": "humaneval", "language": "python"}}"#,
    )
    .unwrap();
    std::fs::write(
        eval.join("samples.jsonl"),
        r#"{"task_id":"HumanEval/0","sample_idx":0,"completion":"x","solution":{"form":"full","code":"def has_close_elements(n, t):\n    return False"}}"#.to_owned() + "\n",
    )
    .unwrap();
    std::fs::write(
        eval.join("results.jsonl"),
        r#"{"task_id":"HumanEval/0","sample_idx":0,"status":"passed","tests":[],"timings":{"compile_ms":0,"run_ms":0,"cpu_ms":0}}"#.to_owned() + "\n",
    )
    .unwrap();
    let report = ok(&crucible(
        dir,
        &["data", "export", "--eval", "eval-he", "--out", "export"],
    ));
    assert_eq!(report["sft_examples"], 0);
    let why = report["sources"][0]["excluded"].as_str().unwrap();
    assert!(why.contains("benchmark"), "{why}");
    // With the flag: exported, with a warning on stderr and in the card.
    let out = crucible(
        dir,
        &[
            "data",
            "export",
            "--eval",
            "eval-he",
            "--include-benchmarks",
            "--out",
            "export2",
        ],
    );
    let report = ok(&out);
    assert_eq!(report["sft_examples"], 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("never train on them"));
    let card = std::fs::read_to_string(dir.join("export2/README.md")).unwrap();
    assert!(card.contains("never train on them"), "{card}");
}

/// An eval run with a strategy on a task file: the program the run tried first failed the
/// task's example and was repaired; the export pairs the returned program (which passed the
/// hidden examples) with the dropped one, from `traces.jsonl`.
#[test]
fn a_strategy_s_dropped_program_becomes_the_rejected_side_of_a_pair() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let tasks = dir.join("tasks.jsonl");
    std::fs::write(
        &tasks,
        r#"{"id": "sum", "description": "Read two integers and print their sum.", "examples": [{"input": "3 5\n", "output": "8\n"}], "hidden_examples": [{"input": "1 1\n", "output": "2\n"}, {"input": "-4 9\n", "output": "5\n"}]}"#
            .to_owned()
            + "\n",
    )
    .unwrap();
    const WRONG: &str = "a, b = map(int, input().split())\nprint(a * b)";
    const RIGHT: &str = "a, b = map(int, input().split())\nprint(a + b)";
    let calls = Arc::new(AtomicUsize::new(0));
    let server = MockServer::serving("scripted", move |_| {
        let program = if calls.fetch_add(1, Ordering::SeqCst) == 0 {
            WRONG
        } else {
            RIGHT
        };
        Reply::chat(
            &[&format!("```python\n{program}\n```")],
            "stop",
            Some((40, 12)),
        )
    });
    let endpoint = server.endpoint();
    let eval = crucible(
        dir,
        &[
            "eval",
            "--benchmark",
            tasks.to_str().unwrap(),
            "--lang",
            "python",
            "--strategy",
            "repair",
            "--rounds",
            "1",
            "--endpoint",
            &endpoint,
            "--model",
            "scripted",
            "--out",
            "eval-run",
        ],
    );
    assert!(
        eval.status.success(),
        "{}",
        String::from_utf8_lossy(&eval.stderr)
    );
    let report = ok(&crucible(
        dir,
        &["data", "export", "--eval", "eval-run", "--out", "export"],
    ));
    assert_eq!(report["sft_examples"], 1, "{report}");
    assert_eq!(report["pairs"], 1, "{report}");
    assert_eq!(report["sources"][0]["trace_pairs"], 1, "{report}");
    let pairs = lines(&dir.join("export/preference/dpo.jsonl"));
    assert_eq!(pairs.len(), 1);
    let pair = pairs[0].to_string();
    assert!(
        pairs[0]["chosen"].to_string().contains("print(a + b)")
            && pairs[0]["rejected"].to_string().contains("print(a * b)"),
        "{pair}"
    );
    // The repair as a conversation: the failing program, the report of the visible example
    // the strategy saw (never the hidden ones), the fixed program.
    assert_eq!(report["repair_conversations"], 1, "{report}");
    let conv = lines(&dir.join("export/sft/trl_repair_messages.jsonl"));
    assert_eq!(conv.len(), 1);
    let m: Vec<(String, String)> = conv[0]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["role"].as_str().unwrap().to_owned(),
                x["content"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let n = m.len();
    assert!(n >= 4, "{m:?}");
    assert_eq!(m[n - 4].0, "user");
    assert!(m[n - 4].1.contains("Read two integers"), "{m:?}");
    assert_eq!(m[n - 3].0, "assistant");
    assert!(m[n - 3].1.contains("print(a * b)"), "{m:?}");
    assert_eq!(m[n - 2].0, "user");
    assert!(
        m[n - 2].1.contains("15"),
        "the report shows the wrong output: {m:?}"
    );
    for hidden in ["-4 9", "1 1\n"] {
        assert!(
            m.iter().all(|(_, c)| !c.contains(hidden)),
            "a hidden example leaked: {m:?}"
        );
    }
    assert_eq!(m[n - 1].0, "assistant");
    assert!(m[n - 1].1.contains("print(a + b)"), "{m:?}");
    let share = lines(&dir.join("export/llamafactory/sharegpt_repair.jsonl"));
    assert_eq!(share[0]["conversations"].as_array().unwrap().len() % 2, 0);
}

/// A reply with one choice per answer (a server answering `n`).
fn choices(answers: &[&str]) -> Reply {
    let mut events = Vec::new();
    for (i, a) in answers.iter().enumerate() {
        events.push(crucible_infer_http::mock::chat_delta(i, a));
        events.push(crucible_infer_http::mock::chat_finish(i, "stop"));
    }
    events.push(crucible_infer_http::mock::usage_event(
        100,
        50 * answers.len(),
    ));
    Reply::events(events)
}

/// Three answers for the AGREE seed: the first is a wrong solution with tests that only it
/// passes; the other two are right, with different tests each one's solution passes.
const AGREE: [&str; 3] = [
    "[Problem]\nReturn the larger of two integers.\n\n[Solution]\n```python\ndef bigger(a, b):\n    return a\n```\n\n[Tests]\n```python\nassert bigger(3, 1) == 3\nassert bigger(1, 4) == 1\n```\n",
    "[Problem]\nReturn the larger of two integers.\n\n[Solution]\n```python\ndef bigger(a, b):\n    return a if a > b else b\n```\n\n[Tests]\n```python\nassert bigger(3, 1) == 3\nassert bigger(1, 4) == 4\n```\n",
    "[Problem]\nReturn the larger of two integers.\n\n[Solution]\n```python\ndef bigger(a, b):\n    return max(a, b)\n```\n\n[Tests]\n```python\nassert bigger(2, 9) == 9\nassert bigger(7, 7) == 7\n```\n",
];

/// Tests that cannot fail: they pass on a function that returns None.
const VACUOUS: &str = "[Problem]\nReturn the list of words of a sentence.\n\n[Solution]\n```python\ndef words(s):\n    return s.split()\n```\n\n[Tests]\n```python\nassert words('a b') != 1\nassert str(words('')) != 'x'\n```\n";

/// The repair of FAILING's solution.
const FIXED: &str = "```python\ndef square(n):\n    return n * n\n```";

fn options_corpus(dir: &Path) -> PathBuf {
    let path = dir.join("corpus.jsonl");
    let mut text = String::new();
    for (i, marker) in ["AGREEMARK", "FAILMARK", "VACUMARK"].iter().enumerate() {
        let body: String = (0..30).map(|n| format!("{marker}_{n} = {n}\n")).collect();
        let doc = serde_json::json!({
            "id": format!("doc{i}"), "source": format!("repo/file{i}.py"),
            "language": "python", "text": body, "metadata": {"license": "MIT"}
        });
        text.push_str(&doc.to_string());
        text.push('\n');
    }
    std::fs::write(&path, text).unwrap();
    path
}

/// `--samples 3 --repair 1`: the first answer is asked for greedily and the other two sampled; a
/// seed whose first answer is wrong is kept from the answer its
/// tests agree with; a failing solution is repaired on its sandbox report (and the repair
/// becomes a multi-turn conversation in the export); tests that pass on the trivial program are
/// flagged; the summary counts how records were obtained and the kill rate per operator.
#[test]
fn samples_agreement_repair_and_vacuous_tests() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let corpus = options_corpus(dir);
    let asked = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = asked.clone();
    let server = MockServer::serving("scripted", move |request| {
        let body = request.json().to_string();
        let n = request.json()["n"].as_u64().unwrap_or(1) as usize;
        if body.contains("Running the code on the tests gives") {
            assert!(body.contains("square"), "{body}");
            return choices(&[FIXED]);
        }
        // The script's first answer for the greedy request, the others for the sampled one.
        let greedy = request.json()["temperature"].as_f64() == Some(0.0);
        log.lock().unwrap().push((greedy, n));
        let answers: Vec<&str> = if body.contains("AGREEMARK") {
            AGREE.to_vec()
        } else if body.contains("FAILMARK") {
            vec![FAILING; 3]
        } else {
            vec![VACUOUS; 3]
        };
        let from = usize::from(!greedy);
        choices(&answers[from..(from + n).min(3)])
    });
    let out = ok(&crucible(
        dir,
        &[
            "data",
            "synth",
            corpus.to_str().unwrap(),
            "--out",
            "run",
            "--count",
            "9",
            "--endpoint",
            &server.endpoint(),
            "--model",
            "scripted",
            "--samples",
            "3",
            "--repair",
            "1",
            "--mutants",
            "8",
        ],
    ));
    let records = lines(&dir.join("run/records.jsonl"));
    assert_eq!(out["seeds"], 9);
    assert_eq!(out["rejected"], 0, "{out}");
    // Per seed, one greedy answer and then two sampled ones.
    let asked = asked.lock().unwrap().clone();
    assert_eq!(asked.len(), 18, "{asked:?}");
    for pair in asked.chunks(2) {
        assert_eq!(pair, [(true, 1), (false, 2)], "{asked:?}");
    }
    let marker = |r: &Value, m: &str| r["seed_snippet"].as_str().unwrap().contains(m);
    let mut seen = std::collections::BTreeSet::new();
    for r in &records {
        let how = &r["obtained"];
        if marker(r, "AGREEMARK") {
            seen.insert("agree");
            assert_eq!(how["how"], "chosen_among", "{r}");
            assert_eq!(how["parsed"], 3);
            assert_eq!(how["passing"], 3);
            assert_eq!(how["agreeing"], 2, "{r}");
            assert!(
                !r["solution"].as_str().unwrap().contains("return a\n"),
                "{r}"
            );
            assert!(
                !r["solution"].as_str().unwrap().ends_with("return a"),
                "{r}"
            );
            assert_eq!(r["tests_cannot_fail"], false);
        } else if marker(r, "FAILMARK") {
            seen.insert("repair");
            assert_eq!(how["how"], "after_repairs", "{r}");
            assert_eq!(how["repairs"], 1);
            assert_eq!(r["solution"], "def square(n):\n    return n * n");
            let trace = &r["repair_trace"]["attempts"];
            assert_eq!(trace.as_array().unwrap().len(), 2, "{r}");
            assert_eq!(trace[1]["stage"], "repair");
        } else {
            seen.insert("vacuous");
            assert!(marker(r, "VACUMARK"));
            assert_eq!(r["tests_cannot_fail"], true, "{r}");
        }
    }
    assert_eq!(seen.len(), 3, "every kind of seed came up: {seen:?}");
    let obtained = out["obtained"].as_object().unwrap();
    let total: u64 = obtained.values().map(|v| v.as_u64().unwrap()).sum();
    assert_eq!(total, out["kept"].as_u64().unwrap(), "{out}");
    assert!(obtained["after_repairs"].as_u64().unwrap() >= 1, "{out}");
    assert!(out["tests_cannot_fail"].as_u64().unwrap() >= 1, "{out}");
    let ops = out["kill_rate_by_operator"].as_object().unwrap();
    assert!(ops.contains_key("return_boundary"), "{out}");
    let op_mutants: u64 = ops.values().map(|v| v["mutants"].as_u64().unwrap()).sum();
    assert_eq!(op_mutants, out["mutants"].as_u64().unwrap(), "{out}");

    // The repaired record's conversation: task, failing program, its report, the fix.
    let report = ok(&crucible(
        dir,
        &["data", "export", "--synth", "run", "--out", "export"],
    ));
    assert!(
        report["repair_conversations"].as_u64().unwrap() >= 1,
        "{report}"
    );
    let conv = lines(&dir.join("export/sft/trl_repair_messages.jsonl"));
    let m = conv[0]["messages"].as_array().unwrap();
    let roles: Vec<&str> = m.iter().map(|x| x["role"].as_str().unwrap()).collect();
    assert_eq!(
        &roles[roles.len() - 4..],
        ["user", "assistant", "user", "assistant"]
    );
    let n = m.len();
    assert!(m[n - 3]["content"].as_str().unwrap().contains("n * 2"));
    assert!(
        m[n - 2]["content"]
            .as_str()
            .unwrap()
            .contains("Running the code")
    );
    assert!(m[n - 1]["content"].as_str().unwrap().contains("n * n"));
    let share = lines(&dir.join("export/llamafactory/sharegpt_repair.jsonl"));
    assert_eq!(share.len(), conv.len());
    load_with_hf_datasets(&dir.join("export"), true);
}

/// `--program`: the model writes a stdin/stdout problem, a program and examples; the program
/// is judged on the examples as program benchmarks are, and a program whose output differs
/// from its examples is rejected.
#[test]
fn program_tasks_are_judged_on_their_examples() {
    const SUM: &str = "[Problem]\nRead two integers on one line and print their sum.\n\n[Solution]\n```python\na, b = map(int, input().split())\nprint(a + b)\n```\n\n[Examples]\nInput:\n```\n3 5\n```\nOutput:\n```\n8\n```\nInput:\n```\n10 -2\n```\nOutput:\n```\n8\n```\n";
    const WRONG: &str = "[Problem]\nRead an integer n and print n squared.\n\n[Solution]\n```python\nn = int(input())\nprint(n * 2)\n```\n\n[Examples]\nInput:\n```\n3\n```\nOutput:\n```\n9\n```\n";
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let corpus = corpus(dir);
    let server = MockServer::serving("scripted", move |request| {
        let body = request.json().to_string();
        assert!(body.contains("standard input"), "{body}");
        let answer = if body.contains("FAILMARK") {
            WRONG
        } else {
            SUM
        };
        Reply::chat(&[answer], "stop", Some((100, 50)))
    });
    let out = ok(&crucible(
        dir,
        &[
            "data",
            "synth",
            corpus.to_str().unwrap(),
            "--out",
            "run",
            "--count",
            "6",
            "--endpoint",
            &server.endpoint(),
            "--model",
            "scripted",
            "--program",
        ],
    ));
    let records = lines(&dir.join("run/records.jsonl"));
    let rejected = lines(&dir.join("run/rejected.jsonl"));
    assert_eq!(records.len() + rejected.len(), 6);
    assert!(!records.is_empty() && !rejected.is_empty(), "{out}");
    for r in &records {
        assert_eq!(r["task"]["examples"][0]["input"], "3 5\n", "{r}");
        assert_eq!(r["task"]["examples"][1]["output"], "8\n");
        assert!(r["task"]["description"].as_str().unwrap().contains("sum"));
        assert!(r["mutation"]["killed"].as_u64().unwrap() > 0, "{r}");
        assert_eq!(r["tests_cannot_fail"], false);
    }
    for r in &rejected {
        assert_eq!(r["rejection"]["stage"], "tests", "{r}");
        assert_eq!(r["rejection"]["status"], "wrong_answer", "{r}");
    }
    // Resuming with other settings is refused, naming the difference.
    let again = crucible(
        dir,
        &[
            "data",
            "synth",
            corpus.to_str().unwrap(),
            "--out",
            "run",
            "--count",
            "6",
            "--endpoint",
            &server.endpoint(),
            "--model",
            "scripted",
        ],
    );
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("shape"));
}
