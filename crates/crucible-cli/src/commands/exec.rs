//! `crucible exec`: run a program in the sandbox, optionally against tests.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};

use crucible_core::exec::{
    CpuPriority, ExecConfig, ExecRequest, Executor, Isolation, LangOptions, Limits,
};
use crucible_core::types::{Compare, IoCase, Language, TestSuite};

use super::GlobalArgs;
use crate::output;

/// Run a program in the sandbox, optionally against tests
///
/// Exit codes: 0 the verdict is `passed`; 3 any other verdict (wrong_answer, runtime_error,
/// timeout, memory_limit, output_limit, compile_error); 1 the run could not happen (bad
/// input, missing toolchain, sandbox unavailable).
///
/// Examples:
///   crucible exec --lang cpp sum.cpp --stdin in.txt --expect out.txt
///   crucible exec --lang python solution.py --tests test.py --entry-point add --json
///   crucible exec main.rs --time-limit 1 --memory-limit 128
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub(crate) struct ExecArgs {
    /// The source file to run.
    file: PathBuf,
    /// Language: python, c, cpp, rust, java, javascript, go. Default: from the file extension.
    #[arg(long, short = 'l', value_name = "LANG")]
    lang: Option<String>,
    /// File given to the program on standard input.
    #[arg(long, value_name = "IN")]
    stdin: Option<PathBuf>,
    /// File with the expected standard output; the verdict compares against it.
    #[arg(long, value_name = "OUT")]
    expect: Option<PathBuf>,
    /// Test code run against the program: Python asserts or `check(candidate)`; for the other
    /// languages code appended after the program (HumanEval-X / MultiPL-E style).
    #[arg(long, value_name = "TESTFILE", conflicts_with_all = ["expect", "stdin"])]
    tests: Option<PathBuf>,
    /// The function `check(candidate)` is called with (Python tests).
    #[arg(long, value_name = "NAME")]
    entry_point: Option<String>,
    /// CPU time limit in seconds (0.01 to 600); the wall-clock backstop is 3x + 2 s.
    #[arg(long, value_name = "SECONDS", default_value_t = 2.0)]
    time_limit: f64,
    /// Memory limit in MiB (16 to 65536).
    #[arg(long, value_name = "MB", default_value_t = 512)]
    memory_limit: u64,
    /// How stdout is compared with `--expect`.
    #[arg(long, value_enum, default_value_t = CompareArg::Whitespace)]
    compare: CompareArg,
    /// Absolute and relative tolerance for `--compare float`.
    #[arg(long, value_name = "EPS", default_value_t = 1e-6)]
    tolerance: f64,
    /// C++ standard, e.g. c++17 (default), c++20, gnu++17.
    #[arg(long, value_name = "STD")]
    std: Option<String>,
    /// CPU priority of the sandboxed program: normal, nice (19) or idle (SCHED_IDLE).
    #[arg(long, value_enum, default_value_t = PriorityArg::Normal)]
    priority: PriorityArg,
    /// Print one JSON object (status, tests, compile_ms, run_ms, sandboxed, ...).
    #[arg(long)]
    json: bool,
    /// Run without namespaces or seccomp (only rlimits). Every result then says
    /// `"sandboxed": false`. Never use it for untrusted code.
    #[arg(long)]
    no_sandbox: bool,
    /// Cache directory (default `$CRUCIBLE_HOME/cache/exec`).
    #[arg(long, value_name = "DIR", env = crucible_core::types::env::CRUCIBLE_EXEC_CACHE)]
    cache_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum CompareArg {
    Whitespace,
    Exact,
    Float,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum PriorityArg {
    Normal,
    Nice,
    Idle,
}

pub(crate) fn run(args: ExecArgs, _global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let language = language(&args)?;
    let source = read_text(&args.file, "program")?;
    // A model's empty answer is judged (compile_error); a user's empty file is a mistake.
    if source.trim().is_empty() {
        bail!(
            "the source is empty: `{}` has no code; write the program into it",
            args.file.display()
        );
    }
    let tests = suite(&args)?;
    let stdin = match (&args.stdin, &args.expect) {
        (Some(path), None) => Some(read_text(path, "input")?),
        _ => None,
    };
    if !(args.time_limit.is_finite() && args.time_limit > 0.0) {
        bail!(
            "--time-limit must be a positive number of seconds (got {})",
            args.time_limit
        );
    }
    let limits = Limits::new(
        Duration::from_secs_f64(args.time_limit.min(3600.0)),
        args.memory_limit.saturating_mul(1 << 20),
    );
    limits.validate().context("invalid limits")?;
    let request = ExecRequest {
        language,
        source,
        tests,
        entry_point: args.entry_point.clone(),
        limits,
        options: LangOptions {
            cpp_std: args.std.clone(),
            disable_pch: false,
        },
        fail_fast: false,
        stdin,
        // The user's own tests (--tests, --io).
        trusted_tests: true,
    };
    let executor = Executor::new(&config(&args)?).context("cannot set up the sandbox")?;
    if !executor.is_sandboxed() {
        tracing::warn!(
            "running WITHOUT a sandbox (--no-sandbox): the program can reach the whole machine"
        );
    }
    let report = executor.run(&request)?;
    if args.json {
        output::data(&serde_json::to_string(&report)?);
    } else {
        output::data(report.render_feedback(64 * 1024).trim_end());
        if let Some(out) = report.output.as_deref().filter(|o| !o.is_empty()) {
            output::data(&format!("--- program output ---\n{}", out.trim_end()));
        }
        output::data(&format!(
            "compile {} ms{}, run {} ms, cpu {} ms, peak memory {} KiB, sandboxed: {}",
            report.compile_ms,
            if report.compile_cached {
                " (cached)"
            } else {
                ""
            },
            report.run_ms,
            report.cpu_ms,
            report.peak_memory_kb,
            report.sandboxed
        ));
    }
    Ok(if report.status.is_pass() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(crate::EXIT_NOT_PASSED)
    })
}

fn language(args: &ExecArgs) -> anyhow::Result<Language> {
    if let Some(name) = &args.lang {
        return Ok(name.parse::<Language>()?);
    }
    let ext = args
        .file
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let by_ext = match ext.as_str() {
        "cc" | "cxx" | "hpp" => Some(Language::Cpp),
        "mjs" | "cjs" => Some(Language::JavaScript),
        other => Language::ALL.into_iter().find(|l| l.extension() == other),
    };
    by_ext.with_context(|| {
        format!(
            "cannot tell the language of `{}`; pass --lang (one of {})",
            args.file.display(),
            Language::names().join(", ")
        )
    })
}

fn suite(args: &ExecArgs) -> anyhow::Result<TestSuite> {
    if let Some(path) = &args.tests {
        return Ok(TestSuite::Code {
            code: read_text(path, "test code")?,
        });
    }
    let Some(expect) = &args.expect else {
        return Ok(TestSuite::None);
    };
    let input = match &args.stdin {
        Some(path) => read_text(path, "input")?,
        None => String::new(),
    };
    let compare = match args.compare {
        CompareArg::Whitespace => Compare::Whitespace,
        CompareArg::Exact => Compare::Exact,
        CompareArg::Float => {
            if !(args.tolerance.is_finite() && args.tolerance >= 0.0) {
                bail!(
                    "--tolerance must be a non-negative number (got {})",
                    args.tolerance
                );
            }
            Compare::Float {
                abs: args.tolerance,
                rel: args.tolerance,
            }
        }
    };
    Ok(TestSuite::Io {
        cases: vec![IoCase {
            input,
            output: read_text(expect, "expected output")?,
        }],
        compare,
    })
}

fn read_text(path: &Path, what: &str) -> anyhow::Result<String> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("cannot read the {what} file `{}`", path.display()))?;
    String::from_utf8(bytes).map_err(|_| {
        anyhow::anyhow!(
            "the {what} file `{}` is not UTF-8 text (a binary file?)",
            path.display()
        )
    })
}

fn config(args: &ExecArgs) -> anyhow::Result<ExecConfig> {
    let cache_dir = match &args.cache_dir {
        Some(dir) => dir.clone(),
        None => crucible_core::model::env::crucible_home(|key| std::env::var_os(key))
            .context("cannot find CRUCIBLE_HOME")?
            .join("cache/exec"),
    };
    let mut config = ExecConfig::new(&cache_dir);
    config.python_workers = 1;
    if args.no_sandbox {
        config.isolation = Isolation::None;
    }
    config.priority = match args.priority {
        PriorityArg::Normal => CpuPriority::Normal,
        PriorityArg::Nice => CpuPriority::Nice(19),
        PriorityArg::Idle => CpuPriority::Idle,
    };
    Ok(config)
}
