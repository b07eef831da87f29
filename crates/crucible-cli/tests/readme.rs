//! The README, followed as a new user would: every `crucible` command in its `sh` blocks is run,
//! in README order, from a fresh directory outside the checkout, with an empty `CRUCIBLE_HOME`
//! and `HOME` (so `~/src/project` is a tree the test writes). The data comes from the shared
//! data folder (`data pull all --from-dir`) and from loopback stand-ins of its public homes
//! (`data pull all`); the model is a loopback OpenAI-compatible server with scripted answers
//! (`CRUCIBLE_ENDPOINT`, and one server for each endpoint the README names), so nothing is
//! decoded; the sentence-embedding model of `--embed` is the one `scripts/setup.sh` installs,
//! linked into that `CRUCIBLE_HOME`. Files a user would bring (samples of other tools, a task file, a program to run) are
//! written first.
//!
//! [`PLANS`] says, for every README command, whether it runs as written, runs with stated edits,
//! or is skipped with a stated reason; the reasons are printed with the test's output. A README
//! command the table does not know, or a table entry the README no longer has, fails the test,
//! as does a command that fails. Then the issue's "done when" is checked on what the commands
//! made: every benchmark pulled, an evaluation judged, an EvalPlus samples directory and a
//! bigcode `generations.json` scored, two runs compared and both reports opened in headless
//! Chromium.

#[allow(dead_code)]
#[path = "../../crucible-server/tests/browser/webdriver.rs"]
mod webdriver;

#[allow(dead_code)]
#[path = "support/public_homes.rs"]
mod public_homes;

#[path = "support/embedding_model.rs"]
mod embedding_model;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Instant;

use crucible_core::eval::catalog;
use crucible_infer_http::mock::{MockServer, Received, Reply, text_delta};
use serde_json::{Value, json};

/// What the test does with one README command.
enum Plan {
    /// Run it as written.
    Run,
    /// Run it with words replaced (`{name}` in a replacement is a place named in
    /// [`Walk::place`]), for the reason given.
    Edit(&'static [(&'static str, &'static str)], &'static str),
    /// Not run, for the reason given.
    Skip(&'static str),
}

/// Three HumanEval tasks are enough to take each evaluation through generation, judging,
/// resumption and the report; the full benchmark is the same code path, only longer.
const FEW_TASKS: &str = "the scripted model answers every task alike: 3 tasks take the run through the same path as 164";
const SUBSET: (&str, &str) = ("--benchmark humaneval", "--benchmark humaneval --limit 3");

/// Every `crucible` command of the README, and what the test does with it.
const PLANS: &[(&str, Plan)] = &[
    (
        "crucible generate --lang cpp \"read two integers and print their sum\"",
        Plan::Run,
    ),
    (
        "crucible generate --task examples/tasks/sum-of-two.json --lang cpp --json",
        Plan::Edit(
            &[("examples/tasks/", "{checkout}/examples/tasks/")],
            "the example task is a file of the checkout",
        ),
    ),
    (
        "crucible generate --task examples/tasks/sum-of-two.json --strategy repair --trace",
        Plan::Edit(
            &[("examples/tasks/", "{checkout}/examples/tasks/")],
            "the example task is a file of the checkout",
        ),
    ),
    (
        "crucible generate --lang python --n 4 --temperature 0.8 \"fizzbuzz up to 100\"",
        Plan::Run,
    ),
    (
        "crucible exec --lang cpp main.cpp --stdin in.txt --expect out.txt --json",
        Plan::Run,
    ),
    (
        "crucible exec --lang python solution.py --tests tests.py --json",
        Plan::Run,
    ),
    (
        "crucible data pull all --from-dir ../shared/data",
        Plan::Edit(
            &[("../shared/data", "{shared}")],
            "the fresh directory has no shared data folder beside it",
        ),
    ),
    (
        "crucible data pull all",
        Plan::Edit(
            &[],
            "into a second, empty CRUCIBLE_HOME (in the first every file is in place already), from loopback stand-ins of the public homes (CRUCIBLE_GITHUB_RAW, CRUCIBLE_PIP_FIND_LINKS)",
        ),
    ),
    ("crucible data list", Plan::Run),
    (
        "crucible eval --benchmark humaneval",
        Plan::Edit(&[SUBSET], FEW_TASKS),
    ),
    (
        "crucible eval --benchmark humaneval-x --lang cpp --n 10 --temperature 0.8 --k 1,10",
        Plan::Edit(
            &[(
                "--benchmark humaneval-x",
                "--benchmark humaneval-x --limit 2",
            )],
            FEW_TASKS,
        ),
    ),
    (
        "crucible eval --benchmark humaneval-infilling-single-line --metric em,es",
        Plan::Skip(
            "infilling needs a local model's FIM tokens, which the loopback endpoint standing in for the model cannot have (refused with a clear error); crucible-core's tests/it/evaluate.rs runs it with a scripted FIM model",
        ),
    ),
    (
        "crucible eval --benchmark mbpp-plus --strategy rerank+repair",
        Plan::Edit(
            &[("--benchmark mbpp-plus", "--benchmark mbpp-plus --limit 2")],
            FEW_TASKS,
        ),
    ),
    (
        "crucible score --benchmark humaneval samples.jsonl",
        Plan::Run,
    ),
    (
        "crucible score --benchmark humaneval-plus evalplus_samples/",
        Plan::Run,
    ),
    (
        "crucible score --benchmark humaneval generations.json",
        Plan::Run,
    ),
    (
        "crucible eval --benchmark humaneval --metric bleu,codebleu,em,es,idmatch,ppl",
        Plan::Edit(
            &[SUBSET, (",ppl", "")],
            "the same 3 tasks as the run it adds metrics to; `ppl` needs a local model's log-probabilities (tests/eval.rs measures it with the real model)",
        ),
    ),
    (
        "crucible score --benchmark humaneval samples.jsonl --metric codebleu,judge --judge-model qwen2.5-coder-1.5b-instruct",
        Plan::Skip(
            "the judge is the local 1.5B model, not installed in a fresh home (tests/metrics.rs runs the judge on a scripted server)",
        ),
    ),
    (
        "crucible compare runs/a runs/b --html compare.html",
        Plan::Edit(
            &[("runs/a", "{greedy_run}"), ("runs/b", "{scored_run}")],
            "runs/a and runs/b are the run of `eval --benchmark humaneval` and the score of samples.jsonl",
        ),
    ),
    (
        "crucible compare runs/a evalplus/samples_eval_results.json",
        Plan::Edit(
            &[("runs/a", "{evalplus_run}")],
            "runs/a is the score of evalplus_samples/, whose verdicts EvalPlus wrote in evalplus/",
        ),
    ),
    ("crucible index ~/src/project", Plan::Run),
    (
        "crucible search \"parse http request\" --repo ~/src/project -k 5",
        Plan::Run,
    ),
    (
        "crucible search \"RingBuffer push\" --lang rust --json",
        Plan::Run,
    ),
    ("crucible index ~/src/project --embed", Plan::Run),
    (
        "crucible search \"add an item at the end\" --repo ~/src/project --embed",
        Plan::Run,
    ),
    (
        "crucible generate --repo ~/src/project --file src/report.py --task task.json",
        Plan::Run,
    ),
    (
        "crucible generate --repo . --iterative --json \"...\"",
        Plan::Run,
    ),
    (
        "crucible generate --repo ~/src/project --embed --task task.json",
        Plan::Run,
    ),
    (
        "crucible data repobench --from httpx-0.28.1 --from ~/.cargo/registry/src/*/minijinja-2.24.0 --out rb",
        Plan::Skip(
            "needs the httpx and minijinja source trees (tests/repobench.rs builds a benchmark from a small tree)",
        ),
    ),
    (
        "crucible repobench --tasks rb/tasks.jsonl --run rb-run --context iterative",
        Plan::Skip("needs the benchmark the command before builds (tests/repobench.rs runs one)"),
    ),
    (
        "crucible data repobench --from click-8.1.8 --functions 40 --out rbf",
        Plan::Skip(
            "needs click's source tree (tests/repobench.rs builds function tasks from a small package)",
        ),
    ),
    (
        "crucible lsp",
        Plan::Skip(
            "a language server for an editor, on stdio until the editor quits (tests/lsp.rs)",
        ),
    ),
    ("crucible data curate ~/src --output curated/", Plan::Run),
    (
        "crucible data curate corpus.jsonl data/*.parquet -o curated/ --format parquet --shard 0/4",
        Plan::Skip(
            "needs a user's JSON Lines and Parquet corpus (tests/curate.rs reads both, sharded)",
        ),
    ),
    (
        "crucible data synth curated/data/*.jsonl -o synth-run --count 30",
        Plan::Skip(
            "synthesis needs a model that writes instructions and solutions in its format (tests/synth.rs scripts one)",
        ),
    ),
    (
        "crucible data synth curated/data/*.jsonl -o run2 --samples 4 --repair 2",
        Plan::Skip("as the synth command before (tests/synth.rs)"),
    ),
    (
        "crucible data export --synth synth-run --eval runs/my-tasks -o export/",
        Plan::Skip("needs the synth run the skipped command makes (tests/synth.rs exports one)"),
    ),
    (
        "crucible model pull qwen2.5-coder-1.5b-instruct",
        Plan::Skip("downloads 1.1 GB of wheels (tests/model.rs pulls from local stand-in wheels)"),
    ),
    ("crucible model list --available", Plan::Run),
    (
        "crucible model pull deepseek-coder-6.7b-instruct",
        Plan::Skip(
            "downloads from the hub (tests/model.rs pulls catalogue models from a loopback hub)",
        ),
    ),
    (
        "crucible model info",
        Plan::Skip("reads the default model, not installed in a fresh home (tests/model.rs)"),
    ),
    (
        "crucible eval --benchmark humaneval --lora my-finetune.gguf:0.8",
        Plan::Skip(
            "a LoRA adapter applies to the local model (tests/model.rs loads a tiny adapter it writes)",
        ),
    ),
    (
        "crucible bench inference",
        Plan::Skip("measures the local model's decoding speed"),
    ),
    (
        "crucible eval --benchmark humaneval --speculate off",
        Plan::Skip("speculation is a setting of the local model's decoding"),
    ),
    (
        "crucible generate -m qwen2.5-coder-1.5b-instruct --draft-model qwen2.5-coder-0.5b-instruct",
        Plan::Skip("two local models, not installed in a fresh home"),
    ),
    (
        "crucible serve --port 8080",
        Plan::Skip("a server that runs until stopped (tests/serve.rs, crates/crucible-server)"),
    ),
    (
        "crucible generate --endpoint http://localhost:8000/v1 --model Qwen/Qwen2.5-Coder-7B-Instruct \"fizzbuzz up to 100\"",
        Plan::Run,
    ),
    (
        "crucible generate --endpoint http://localhost:8000/v1 --lang cpp \"read two integers and print their sum\"",
        Plan::Run,
    ),
    (
        "crucible eval --benchmark humaneval --endpoint http://localhost:8000/v1 --n 10 --temperature 0.8 --k 1,10",
        Plan::Edit(&[SUBSET], FEW_TASKS),
    ),
    (
        "crucible eval --benchmark mbpp-plus --endpoint http://localhost:8080/v1 --strategy rerank+repair",
        Plan::Edit(
            &[("--benchmark mbpp-plus", "--benchmark mbpp-plus --limit 2")],
            FEW_TASKS,
        ),
    ),
    (
        "crucible generate --endpoint http://localhost:11434/v1 --model qwen2.5-coder:7b \"parse an ISO date\"",
        Plan::Run,
    ),
    (
        "crucible serve",
        Plan::Skip("a server that runs until stopped (tests/serve.rs, crates/crucible-server)"),
    ),
    (
        "CRUCIBLE_API_KEY=secret crucible serve --host 0.0.0.0 --port 8080 --max-batch 8",
        Plan::Skip(
            "a server that runs until stopped, on every interface (crates/crucible-server tests the key)",
        ),
    ),
    (
        "crucible serve --endpoint http://gpu-box:8000/v1",
        Plan::Skip(
            "a server that runs until stopped, in front of another (crates/crucible-server)",
        ),
    ),
];

/// The places `{name}` in an edit stands for that are runs: the run directory the README
/// command made.
const RUNS_MADE_BY: &[(&str, &str)] = &[
    ("greedy_run", "crucible eval --benchmark humaneval"),
    (
        "scored_run",
        "crucible score --benchmark humaneval samples.jsonl",
    ),
    (
        "evalplus_run",
        "crucible score --benchmark humaneval-plus evalplus_samples/",
    ),
];

#[test]
#[expect(
    clippy::print_stderr,
    reason = "what became of each README command is the test's report"
)]
fn a_new_user_follows_the_readme_from_outside_the_checkout() {
    let started = Instant::now();
    let readme = std::fs::read_to_string(checkout().join("README.md")).unwrap();
    let commands = readme_commands(&readme);
    check_plans_cover(&commands);

    let mut walk = Walk::new(&commands);
    walk.write_user_files();
    let mut log = Vec::new();
    for command in &commands {
        let (_, plan) = PLANS
            .iter()
            .find(|(known, _)| *known == command.as_str())
            .unwrap();
        let line = match plan {
            Plan::Skip(reason) => format!("skipped  {command}\n         because {reason}"),
            Plan::Run => walk.run(command, &[]),
            Plan::Edit(edits, reason) => {
                let ran = walk.run(command, edits);
                format!("{ran}\n         edited because {reason}")
            }
        };
        eprintln!("{line}");
        log.push(line);
    }
    walk.check_done_when();
    let ran = log.iter().filter(|l| !l.starts_with("skipped")).count();
    eprintln!(
        "{ran} of {} README commands ran, {} skipped, in {:.1} s",
        commands.len(),
        commands.len() - ran,
        started.elapsed().as_secs_f64()
    );
}

/// The checkout (the README's directory).
fn checkout() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// The shared data folder (`CRUCIBLE_DATA`, else `../shared/data` beside the checkout).
fn shared_data() -> PathBuf {
    std::env::var_os("CRUCIBLE_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| checkout().join("../shared/data"))
        .canonicalize()
        .expect("the shared data folder (scripts/setup.sh's source) exists")
}

/// The `crucible` commands of the README's `sh` blocks, comments removed, in order.
fn readme_commands(readme: &str) -> Vec<String> {
    let mut commands = Vec::new();
    // Inside a fenced block: whether it is an `sh` block.
    let mut fence: Option<bool> = None;
    for line in readme.lines() {
        if line.starts_with("```") {
            fence = match fence {
                Some(_) => None,
                None => Some(line.trim() == "```sh"),
            };
            continue;
        }
        if fence != Some(true) {
            continue;
        }
        let command = without_comment(line).trim().to_owned();
        // Other lines (curl with a multi-line body) need not be words on their own.
        let first = command.split_whitespace().find(|w| !is_assignment(w));
        if first == Some("crucible") {
            commands.push(command);
        }
    }
    commands
}

/// Fail unless every README command has a plan and every plan a README command.
fn check_plans_cover(commands: &[String]) {
    let unplanned: Vec<&String> = commands
        .iter()
        .filter(|c| !PLANS.iter().any(|(known, _)| *known == c.as_str()))
        .collect();
    assert!(
        unplanned.is_empty(),
        "README commands this test does not know; add each to PLANS (run, edit or skip with a reason): {unplanned:#?}"
    );
    let stale: Vec<&str> = PLANS
        .iter()
        .map(|(known, _)| *known)
        .filter(|known| !commands.iter().any(|c| c.as_str() == *known))
        .collect();
    assert!(
        stale.is_empty(),
        "PLANS entries the README no longer has: {stale:#?}"
    );
}

/// `line` up to a `#` that starts a shell comment (after white space, outside quotes).
fn without_comment(line: &str) -> &str {
    let mut quote = None;
    let mut after_space = true;
    for (at, c) in line.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == '#' && after_space => return &line[..at],
            None => {}
        }
        after_space = c.is_whitespace();
    }
    line
}

/// The words of a shell command: white space separates, quotes group and are removed.
fn shell_words(command: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut quote = None;
    for c in command.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => word.get_or_insert_default().push(c),
            None if c == '"' || c == '\'' => {
                quote = Some(c);
                word.get_or_insert_default();
            }
            None if c.is_whitespace() => words.extend(word.take()),
            None => word.get_or_insert_default().push(c),
        }
    }
    assert!(quote.is_none(), "an unclosed quote in `{command}`");
    words.extend(word);
    words
}

fn is_assignment(word: &str) -> bool {
    word.split_once('=').is_some_and(|(name, _)| {
        !name.is_empty() && name.chars().all(|c| c.is_ascii_uppercase() || c == '_')
    })
}

/// The user's world: a fresh working directory, home and `CRUCIBLE_HOME`, and the servers
/// standing in for the model and the data's public homes.
struct Walk {
    _scratch: tempfile::TempDir,
    /// The working directory every command runs in.
    cwd: PathBuf,
    /// `HOME`: `~` in a command.
    home: PathBuf,
    crucible_home: PathBuf,
    /// The empty `CRUCIBLE_HOME` `data pull all` fills from the public homes' stand-ins.
    second_home: PathBuf,
    shared: PathBuf,
    /// Stand-ins of the data's public homes: GitHub's raw files and a directory of wheels.
    github_raw: String,
    wheels: PathBuf,
    /// The model: `CRUCIBLE_ENDPOINT`.
    model: MockServer,
    /// One server for each endpoint URL the README names.
    servers: BTreeMap<String, MockServer>,
    /// Run directories (with a `summary.json`) each command made.
    runs_made: BTreeMap<String, Vec<PathBuf>>,
    /// What each command wrote on stdout and stderr.
    outputs: BTreeMap<String, (String, String)>,
}

impl Walk {
    fn new(commands: &[String]) -> Walk {
        let scratch = tempfile::tempdir().unwrap();
        let root = scratch.path().canonicalize().unwrap();
        assert!(
            !root.starts_with(checkout()),
            "the scratch directory {} is inside the checkout",
            root.display()
        );
        let cwd = root.join("work");
        let home = root.join("user");
        let wheels = root.join("wheels");
        for dir in [&cwd, &home] {
            std::fs::create_dir_all(dir).unwrap();
        }
        // The embedding model of `--embed`, as scripts/setup.sh installs it into a user's home.
        embedding_model::link_embedding_model(&root.join("crucible-home"));
        let shared = shared_data();
        let (github_raw, _) = public_homes::serve_data(&shared, public_homes::Serve::Faithful);
        public_homes::write_wheels(&shared, &wheels);
        Walk {
            cwd,
            home,
            crucible_home: root.join("crucible-home"),
            second_home: root.join("second-home"),
            shared,
            github_raw,
            wheels,
            model: MockServer::serving("qwen2.5-coder-0.5b-instruct", scripted_answer),
            servers: readme_servers(commands),
            runs_made: BTreeMap::new(),
            outputs: BTreeMap::new(),
            _scratch: scratch,
        }
    }

    /// Run `command` with `edits`; panic if it fails. Returns the line for the log.
    fn run(&mut self, command: &str, edits: &[(&str, &str)]) -> String {
        let mut edited = command.to_owned();
        for (before, after) in edits {
            assert!(
                edited.contains(before),
                "`{before}` is not in `{command}`: update the edit"
            );
            edited = edited.replace(before, &self.expand(after));
        }
        let mut words = shell_words(&edited);
        let mut vars = Vec::new();
        while is_assignment(&words[0]) {
            let word = words.remove(0);
            let (name, value) = word.split_once('=').unwrap();
            vars.push((name.to_owned(), value.to_owned()));
        }
        assert_eq!(words.remove(0), "crucible");
        for word in &mut words {
            if let Some(servers) = self.servers.get(word.as_str()) {
                *word = servers.endpoint();
            } else if let Some(rest) = word.strip_prefix("~/") {
                *word = self.home.join(rest).display().to_string();
            }
        }
        let crucible_home = if command == "crucible data pull all" {
            self.second_home.clone()
        } else {
            self.crucible_home.clone()
        };
        let before = runs_under(&self.cwd);
        let clock = Instant::now();
        let out = self.crucible(&crucible_home, &vars, &words);
        let secs = clock.elapsed().as_secs_f64();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            out.status.success(),
            "README command `{command}` (run as `crucible {}`) exited with {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
            words.join(" "),
            out.status.code()
        );
        let made: Vec<PathBuf> = runs_under(&self.cwd).difference(&before).cloned().collect();
        self.runs_made.insert(command.to_owned(), made);
        self.outputs.insert(command.to_owned(), (stdout, stderr));
        format!("ran      {command}  ({secs:.1} s)")
    }

    /// `crucible ARGS` in the working directory, in the user's environment: this process's
    /// with Crucible's, the hub's and the XDG variables replaced.
    fn crucible(&self, crucible_home: &Path, vars: &[(String, String)], args: &[String]) -> Output {
        #[allow(clippy::disallowed_methods, reason = "the test drives the real binary")]
        let mut command = Command::new(env!("CARGO_BIN_EXE_crucible"));
        command
            .args(args)
            .current_dir(&self.cwd)
            .stdin(Stdio::null());
        for (name, _) in std::env::vars_os() {
            let theirs = name.to_str().is_some_and(|name| {
                ["CRUCIBLE_", "HF_", "OPENAI_", "XDG_"]
                    .iter()
                    .any(|prefix| name.starts_with(prefix))
            });
            if theirs {
                command.env_remove(&name);
            }
        }
        command
            .env("HOME", &self.home)
            .env("CRUCIBLE_HOME", crucible_home)
            .env("CRUCIBLE_ENDPOINT", self.model.endpoint())
            .env("CRUCIBLE_GITHUB_RAW", &self.github_raw)
            .env("CRUCIBLE_PIP_FIND_LINKS", &self.wheels)
            .env("NO_COLOR", "1");
        command.envs(vars.iter().map(|(name, value)| (name, value)));
        command.output().expect("the crucible binary runs")
    }

    /// `text` with `{name}` places filled in.
    fn expand(&self, text: &str) -> String {
        let mut text = text
            .replace("{checkout}", &checkout().display().to_string())
            .replace("{shared}", &self.shared.display().to_string());
        for (name, _) in RUNS_MADE_BY {
            let place = format!("{{{name}}}");
            if text.contains(&place) {
                text = text.replace(&place, &self.place(name).display().to_string());
            }
        }
        text
    }

    /// The run directory named `name` in [`RUNS_MADE_BY`].
    fn place(&self, name: &str) -> PathBuf {
        let (_, command) = RUNS_MADE_BY.iter().find(|(n, _)| *n == name).unwrap();
        let made = self
            .runs_made
            .get(*command)
            .unwrap_or_else(|| panic!("`{command}` has not run before the run it made is used"));
        assert_eq!(made.len(), 1, "`{command}` made {made:?}");
        made[0].clone()
    }

    /// What a user brings: a program and its input and expected output, a solution and its
    /// tests, other tools' samples (human-eval, EvalPlus, bigcode) and EvalPlus's verdicts on
    /// them, a task file, and a small project under `~/src`.
    fn write_user_files(&self) {
        let write = |relative: &str, text: &str| {
            let path = self.cwd.join(relative);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        write("main.cpp", CPP_SUM);
        write("in.txt", "3 5\n");
        write("out.txt", "8\n");
        write("solution.py", "def add(a, b):\n    return a + b\n");
        write(
            "tests.py",
            "assert add(1, 2) == 3\nassert add(-1, 1) == 0\n",
        );
        write("task.json", SUM_TASK);

        // human-eval: completions of two tasks, one right.
        let samples = [
            json!({"task_id": "HumanEval/0", "completion": WRONG_BODY}),
            json!({"task_id": "HumanEval/2", "completion": TRUNCATE_BODY}),
        ];
        let lines: Vec<String> = samples.iter().map(Value::to_string).collect();
        write("samples.jsonl", &(lines.join("\n") + "\n"));

        // EvalPlus: a directory of whole programs, two samples of two tasks, three right; and
        // EvalPlus's verdicts on them, in its results file.
        write(
            "evalplus_samples/HumanEval_0/0.py",
            &whole(HAS_CLOSE, HAS_CLOSE_BODY),
        );
        write(
            "evalplus_samples/HumanEval_0/1.py",
            &whole(HAS_CLOSE, WRONG_BODY),
        );
        write(
            "evalplus_samples/HumanEval_2/0.py",
            &whole(TRUNCATE, TRUNCATE_BODY),
        );
        write(
            "evalplus_samples/HumanEval_2/1.py",
            &whole(TRUNCATE, TRUNCATE_BODY),
        );
        let verdict = |pass: bool| {
            let status = if pass { "pass" } else { "fail" };
            json!({"base_status": status, "plus_status": status})
        };
        let results = json!({"date": "2024-01-01 00:00", "eval": {
            "HumanEval/0": [verdict(true), verdict(false)],
            "HumanEval/2": [verdict(true), verdict(true)],
        }});
        write("evalplus/samples_eval_results.json", &results.to_string());

        // bigcode-evaluation-harness: whole programs per task, in HumanEval's order (the first
        // three tasks: right, wrong, right).
        let generations = json!([
            [whole(HAS_CLOSE, HAS_CLOSE_BODY)],
            ["def separate_paren_groups(paren_string):\n    return []\n"],
            [whole(TRUNCATE, TRUNCATE_BODY)],
        ]);
        write("generations.json", &generations.to_string());

        // A small project for the index, search, repository context and curation.
        let project = self.home.join("src/project");
        for (relative, text) in PROJECT {
            let path = project.join(relative);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
    }

    /// The issue's "done when", on what the README's commands made.
    fn check_done_when(&self) {
        self.check_every_benchmark_pulled();
        let greedy = self.place("greedy_run");
        let summary = read_json(&greedy.join("summary.json"));
        // The scripted model answers HumanEval/0 and /2 right and /1 wrong.
        assert_eq!(summary["tasks"], 3, "{}", summary["per_task"]);
        assert_eq!(
            summary["verdicts"],
            json!({"passed": 2, "wrong_answer": 1}),
            "{}",
            summary["per_task"]
        );
        let with_metrics = &self.outputs["crucible eval --benchmark humaneval --metric bleu,codebleu,em,es,idmatch,ppl"];
        assert!(
            with_metrics.1.contains("0 samples to generate"),
            "adding metrics generated again: {}",
            with_metrics.1
        );

        let evalplus = &self.outputs["crucible score --benchmark humaneval-plus evalplus_samples/"];
        assert!(
            evalplus.1.contains("EvalPlus samples directory"),
            "the samples directory was not named: {}",
            evalplus.1
        );
        let evalplus_run = self.place("evalplus_run");
        // Three of the four samples pass, base and plus tests (the other tasks are missing).
        let summary = read_json(&evalplus_run.join("summary.json"));
        assert_eq!(
            summary["plus"]["verdicts"],
            json!({"passed": 3, "wrong_answer": 1})
        );
        let bigcode = &self.outputs["crucible score --benchmark humaneval generations.json"];
        assert!(
            bigcode
                .1
                .contains("bigcode-evaluation-harness generations.json"),
            "generations.json was not named: {}",
            bigcode.1
        );
        let bigcode_run = &self.runs_made["crucible score --benchmark humaneval generations.json"];
        let results = std::fs::read_to_string(bigcode_run[0].join("results.jsonl")).unwrap();
        let passed: BTreeSet<String> = results
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|r| r["status"] == "passed")
            .map(|r| r["task_id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            passed,
            BTreeSet::from(["HumanEval/0".to_owned(), "HumanEval/2".to_owned()])
        );

        let compared = &self.outputs["crucible compare runs/a runs/b --html compare.html"];
        assert!(compared.0.contains("McNemar"), "{}", compared.0);
        let against_evalplus =
            &self.outputs["crucible compare runs/a evalplus/samples_eval_results.json"];
        assert!(
            against_evalplus.0.contains("gained 0: none")
                && against_evalplus.0.contains("lost 0: none"),
            "EvalPlus's verdicts on the same samples differ from Crucible's: {}",
            against_evalplus.0
        );
        self.open_reports(&[greedy, self.place("scored_run")]);
    }

    /// Both pulls installed every data set of the catalogue, and every benchmark loads.
    fn check_every_benchmark_pulled(&self) {
        let (_, from_homes) = &self.outputs["crucible data pull all"];
        for set in catalog::DATASETS {
            assert!(
                from_homes.contains(&format!("pulled {}:", set.name)),
                "`data pull all` did not pull {}: {from_homes}",
                set.name
            );
            for file in set.files {
                for home in [&self.crucible_home, &self.second_home] {
                    let path = home.join("data").join(file.relative);
                    assert!(path.is_file(), "{} was not installed", path.display());
                }
            }
        }
        let out = self.crucible(
            &self.crucible_home,
            &[],
            &["data".into(), "list".into(), "--json".into()],
        );
        assert!(out.status.success());
        let list: Value = serde_json::from_slice(&out.stdout).unwrap();
        for benchmark in list["benchmarks"].as_array().unwrap() {
            assert_eq!(
                benchmark["file"]["status"], "ok",
                "a benchmark is not usable after `data pull all`: {benchmark}"
            );
        }
    }

    /// Open each run's report.html and the comparison page in headless Chromium: the key
    /// elements are there and no script fails.
    fn open_reports(&self, runs: &[PathBuf]) {
        let browser = webdriver::Browser::start();
        for run in runs {
            let report = run.join("report.html");
            browser.goto(&format!("file://{}", report.display()));
            for css in [
                "#run-facts",
                "#verdict-plot svg",
                "#tasks tbody tr",
                "#task-filter",
            ] {
                browser.find(css);
            }
            let facts = browser.find("#run-facts").text();
            for fact in ["command", "started", "Crucible version"] {
                assert!(facts.contains(fact), "{}: {facts}", report.display());
            }
        }
        browser.goto(&format!(
            "file://{}",
            self.cwd.join("compare.html").display()
        ));
        for css in ["#runs table", "#pair-0 .test"] {
            browser.find(css);
        }
        let links = browser.run(
            "return Array.from(document.querySelectorAll('#runs a')).map(a => a.href)",
            json!([]),
        );
        for run in runs {
            let report = format!("file://{}", run.join("report.html").display());
            assert!(
                links
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|l| *l == report.as_str()),
                "the comparison does not link {report}: {links}"
            );
        }
        let severe = browser.severe_logs();
        assert!(severe.is_empty(), "browser console errors: {severe:?}");
    }
}

/// Directories under `dir` (two levels deep) holding a `summary.json`.
fn runs_under(dir: &Path) -> BTreeSet<PathBuf> {
    let mut runs = BTreeSet::new();
    let mut stack = vec![(dir.to_path_buf(), 0)];
    while let Some((next, depth)) = stack.pop() {
        if next.join("summary.json").is_file() {
            runs.insert(next.clone());
        }
        if depth == 2 {
            continue;
        }
        for entry in std::fs::read_dir(&next).unwrap().map(Result::unwrap) {
            if entry.file_type().unwrap().is_dir() {
                stack.push((entry.path(), depth + 1));
            }
        }
    }
    runs
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// One stand-in server for each endpoint URL in the README's commands, serving the model the
/// README names with it (`--model`), else one model.
fn readme_servers(commands: &[String]) -> BTreeMap<String, MockServer> {
    let mut models: BTreeMap<String, Option<String>> = BTreeMap::new();
    for command in commands {
        let words = shell_words(command);
        let after = |flag: &str| {
            words
                .iter()
                .position(|w| w == flag)
                .and_then(|at| words.get(at + 1).cloned())
        };
        if let Some(url) = after("--endpoint") {
            let model = models.entry(url).or_default();
            if let Some(named) = after("--model") {
                *model = Some(named);
            }
        }
    }
    models
        .into_iter()
        .map(|(url, model)| {
            let model = model.unwrap_or_else(|| "served-model".to_owned());
            (url, MockServer::serving(&model, scripted_answer))
        })
        .collect()
}

/// The scripted model: the right program for the sum of two integers (in C++ when asked for
/// C++) and for HumanEval/0 and /2, a wrong function otherwise.
fn scripted_answer(request: &Received) -> Reply {
    let prompt = request.body.as_str();
    let cpp = prompt.contains("C++");
    let code = if prompt.contains("two integers") {
        if cpp { CPP_SUM } else { PY_SUM }
    } else if prompt.contains("def has_close_elements") {
        HAS_CLOSE_ANSWER
    } else if prompt.contains("def truncate_number") {
        TRUNCATE_ANSWER
    } else if cpp {
        CPP_SUM
    } else {
        "def solve(*args):\n    return None\n"
    };
    if request.path.ends_with("/v1/completions") {
        return Reply::events([text_delta(0, code, Some("stop"))]);
    }
    let fence = if cpp { "```cpp\n" } else { "```python\n" };
    Reply::chat(&[fence, code, "\n```\n"], "stop", Some((120, 40)))
}

/// A HumanEval function's signature and docstring, and its body, as one program.
fn whole(head: &str, body: &str) -> String {
    format!("{head}{body}")
}

const CPP_SUM: &str = "#include <iostream>\nint main() {\n    long long a, b;\n    std::cin >> a >> b;\n    std::cout << a + b << \"\\n\";\n}\n";
const PY_SUM: &str = "a, b = map(int, input().split())\nprint(a + b)\n";
const SUM_TASK: &str = r#"{"id": "sum", "description": "Read two integers from standard input and print their sum.", "examples": [{"input": "3 5\n", "output": "8\n"}], "language": "python"}"#;

const HAS_CLOSE: &str = "from typing import List\n\n\ndef has_close_elements(numbers: List[float], threshold: float) -> bool:\n";
const HAS_CLOSE_BODY: &str = "    for idx, elem in enumerate(numbers):\n        for idx2, elem2 in enumerate(numbers):\n            if idx != idx2 and abs(elem - elem2) < threshold:\n                return True\n    return False\n";
const HAS_CLOSE_ANSWER: &str = "from typing import List\n\ndef has_close_elements(numbers: List[float], threshold: float) -> bool:\n    for idx, elem in enumerate(numbers):\n        for idx2, elem2 in enumerate(numbers):\n            if idx != idx2 and abs(elem - elem2) < threshold:\n                return True\n    return False";
const TRUNCATE: &str = "def truncate_number(number: float) -> float:\n";
const TRUNCATE_BODY: &str = "    return number % 1.0\n";
const TRUNCATE_ANSWER: &str =
    "def truncate_number(number: float) -> float:\n    return number % 1.0";
const WRONG_BODY: &str = "    return None\n";

/// The project under `~/src/project`: Python with an HTTP request parser and a report module,
/// and a Rust ring buffer.
const PROJECT: &[(&str, &str)] = &[
    (
        "src/http.py",
        "def parse_http_request(raw: bytes) -> dict:\n    \"\"\"Parse an HTTP request line and its headers.\"\"\"\n    head, _, body = raw.partition(b\"\\r\\n\\r\\n\")\n    lines = head.decode().split(\"\\r\\n\")\n    method, path, version = lines[0].split(\" \")\n    headers = dict(line.split(\": \", 1) for line in lines[1:])\n    return {\"method\": method, \"path\": path, \"headers\": headers, \"body\": body}\n",
    ),
    (
        "src/report.py",
        "from .http import parse_http_request\n\n\ndef summarize(raw: bytes) -> str:\n    request = parse_http_request(raw)\n    return f\"{request['method']} {request['path']}\"\n",
    ),
    (
        "src/ring.rs",
        "/// A fixed-capacity ring buffer.\npub struct RingBuffer<T> {\n    items: Vec<Option<T>>,\n    head: usize,\n    len: usize,\n}\n\nimpl<T> RingBuffer<T> {\n    pub fn push(&mut self, item: T) {\n        let at = (self.head + self.len) % self.items.len();\n        self.items[at] = Some(item);\n        if self.len < self.items.len() {\n            self.len += 1;\n        } else {\n            self.head = (self.head + 1) % self.items.len();\n        }\n    }\n}\n",
    ),
];

#[test]
fn shell_words_and_comments_read_as_sh_does() {
    assert_eq!(
        without_comment("crucible generate --repo . --json \"a # b\"   # RepoCoder"),
        "crucible generate --repo . --json \"a # b\"   "
    );
    assert_eq!(without_comment("crucible x#y"), "crucible x#y");
    assert_eq!(
        shell_words("A=1 crucible search \"parse http\" -k 5 'x y'"),
        ["A=1", "crucible", "search", "parse http", "-k", "5", "x y"]
    );
    assert_eq!(shell_words("crucible \"\""), ["crucible", ""]);
    assert!(is_assignment("CRUCIBLE_API_KEY=secret"));
    assert!(!is_assignment("--k=1"));
    let readme = "```sh\ncrucible a   # one\nnot crucible\n```\n\n```toml\ncrucible = 1\n```\n```sh\nX=1 crucible b\n```\n";
    assert_eq!(readme_commands(readme), ["crucible a", "X=1 crucible b"]);
}
