//! The executor: validates a request, builds the program, runs it against its tests in the
//! sandbox and turns what happened into an [`ExecReport`].

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crucible_types::{Compare, IoCase, Language, Status, TestOutcome, TestSuite};

use crate::compare::compare;
use crate::harness::split::run::{self as split, SplitRun};
use crate::harness::{self, split::Plan};
use crate::limits::{CpuPriority, Limits};
use crate::python::{
    ProgramFrame, Served, TestsFrame, WorkerCase, WorkerKind, WorkerReply, Workers,
};
use crate::report::{ExecReport, Failure, excerpt, tail, trim_diagnostics};
use crate::runner::{BuildEnv, Built, Deps, LangOptions, Program, hex, ms, run_command};
use crate::sandbox::{Exit, Isolation, Kill, Outcome, Sandbox, SandboxConfig, Stdin, sys};
use crate::toolchain::Toolchains;
use crate::{Error, Result};

/// One program to run against its tests.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecRequest {
    pub language: Language,
    /// The whole program (for function tasks: prompt plus completion).
    pub source: String,
    pub tests: TestSuite,
    /// The function `check(candidate)` receives (Python test code).
    pub entry_point: Option<String>,
    /// Limits of each run (each stdin/stdout case is a run of its own).
    pub limits: Limits,
    pub options: LangOptions,
    /// Stop at the first failing stdin/stdout case instead of running them all.
    pub fail_fast: bool,
    /// Standard input of a run without tests ([`TestSuite::None`]).
    pub stdin: Option<String>,
    /// The test code is the judge's or the user's own (a benchmark's tests, a task file's,
    /// `crucible exec --tests`), never a model's. Python then runs it in a long-lived driver
    /// process per worker and forks only the program's process per request; model-written
    /// tests (`false`) get a fresh handler process per request, so nothing they leave behind
    /// (a thread, a patched module) meets another request's tests. Either way the program
    /// never holds the tests.
    pub trusted_tests: bool,
}

/// How an [`Executor`] is set up.
#[derive(Debug, Clone)]
pub struct ExecConfig {
    /// Compile cache, provisioned dependencies and sandbox state (the CLI uses
    /// `$CRUCIBLE_HOME/cache/exec`).
    pub cache_dir: PathBuf,
    /// [`Isolation::None`] only for `--no-sandbox`; every report then says `"sandboxed": false`.
    pub isolation: Isolation,
    pub priority: CpuPriority,
    /// Warm Python workers kept at most of each kind (one request each at a time): workers
    /// that run trusted tests and plain runs in a long-lived driver, and workers with a fresh
    /// handler per request for model-written tests ([`ExecRequest::trusted_tests`]).
    pub python_workers: usize,
    /// Memory all of one Python worker's processes may use together; a request's own limit is
    /// enforced inside.
    pub python_worker_memory_bytes: u64,
    /// Use cgroups for memory, process and CPU accounting when the host lets us create them.
    /// `false` takes the path of a host without them: memory by `RLIMIT_AS` (C, C++, Rust),
    /// processes by `RLIMIT_NPROC`, CPU time summed over the sandbox's processes from `/proc`.
    pub use_cgroups: bool,
    /// Limits of each compiler run.
    pub compile_limits: Limits,
    /// Run appended tests (C, C++, Rust, JavaScript, Go, Java) split from the program wherever
    /// they can be: the default, and the only setting for scoring. `false` runs every appended
    /// test in the program's process, as before the split, and every such report says
    /// `in_process_tests: true`; it exists to measure what the split costs and for tests that
    /// show what it prevents.
    pub split_appended_tests: bool,
}

impl ExecConfig {
    /// Sandboxed, normal priority, four Python workers of 2 GiB.
    pub fn new(cache_dir: &Path) -> ExecConfig {
        ExecConfig {
            cache_dir: cache_dir.to_path_buf(),
            isolation: Isolation::Sandboxed,
            priority: CpuPriority::Normal,
            python_workers: 4,
            python_worker_memory_bytes: 2 << 30,
            use_cgroups: true,
            compile_limits: Limits::compiler(),
            split_appended_tests: true,
        }
    }
}

/// Runs programs in the sandbox. Shareable across threads (`&Executor` is `Sync`).
#[derive(Debug)]
pub struct Executor {
    sandbox: Arc<Sandbox>,
    toolchains: Toolchains,
    cache_dir: PathBuf,
    deps: Deps,
    salt: String,
    python: Workers,
    compile_limits: Limits,
    split_appended_tests: bool,
}

impl Executor {
    /// Set up the sandbox (a probe run checks it works) and the cache.
    pub fn new(config: &ExecConfig) -> Result<Executor> {
        let cache_dir = &config.cache_dir;
        config.compile_limits.validate()?;
        std::fs::create_dir_all(cache_dir).map_err(|e| Error::io(cache_dir, e))?;
        let sandbox = Arc::new(Sandbox::new(
            &cache_dir.join("state"),
            SandboxConfig {
                isolation: config.isolation,
                priority: config.priority,
                use_cgroups: config.use_cgroups,
            },
        )?);
        let salt = load_salt(cache_dir)?;
        let deps = Deps {
            rust: cache_dir.join("deps/rust"),
            node_modules: cache_dir.join("deps/node/node_modules"),
        };
        let toolchains = Toolchains::default();
        let interpreter = toolchains
            .get(Language::Python)
            .map(|tc| tc.compiler)
            .unwrap_or_else(|_| PathBuf::from("/usr/bin/python3"));
        let python = Workers::new(
            Arc::clone(&sandbox),
            cache_dir,
            interpreter,
            config.python_workers,
            config.python_worker_memory_bytes,
        )?;
        Ok(Executor {
            sandbox,
            toolchains,
            cache_dir: cache_dir.clone(),
            deps,
            salt,
            python,
            compile_limits: config.compile_limits,
            split_appended_tests: config.split_appended_tests,
        })
    }

    /// Start booting up to `count` Python workers now, in the background, for requests whose
    /// tests the judge trusts (`trusted_tests`) or for model-written tests, so that the first
    /// Python requests do not wait for an interpreter's start. Never more than the
    /// configured `python_workers`; a no-op for workers already there.
    pub fn warm_python(&self, count: usize, trusted_tests: bool) {
        let kind = if trusted_tests {
            WorkerKind::Driver
        } else {
            WorkerKind::Handler
        };
        self.python.warm(kind, count);
    }

    /// Whether runs are isolated (false only with [`Isolation::None`]).
    pub fn is_sandboxed(&self) -> bool {
        self.sandbox.is_sandboxed()
    }

    /// The isolation mechanism in use, e.g. `namespaces (root, uid 65534) + seccomp + cgroup v1`.
    pub fn isolation_description(&self) -> String {
        self.sandbox.describe()
    }

    /// Run one request. Errors mean the run could not happen (bad request, missing toolchain,
    /// broken sandbox); a failing program is a report with a non-`passed` status. A source no
    /// compiler could take (empty, or holding a NUL byte) is model output like any other: a
    /// `compile_error` report, never an error.
    pub fn run(&self, request: &ExecRequest) -> Result<ExecReport> {
        validate(request)?;
        let mut report = match unusable_source(&request.source) {
            Some(problem) => {
                let mut report = compile_error(problem.clone(), 0);
                if let Some(failure) = report.failure.as_mut() {
                    failure.message = problem.trim_end().to_owned();
                }
                report
            }
            None => self.dispatch(request)?,
        };
        report.sandboxed = self.is_sandboxed();
        Ok(report)
    }

    /// Run a package's own tests with pytest over a copy of its tree (see
    /// [`crate::PackageTestRequest`]). Errors mean the run could not happen (an unreadable
    /// tree, a bad path, pytest not installed); failing tests are outcomes in the report.
    pub fn run_package_tests(
        &self,
        request: &crate::PackageTestRequest,
    ) -> Result<crate::PackageTestReport> {
        let python = self.toolchains.get(Language::Python)?.compiler;
        crate::package_tests::run(&self.sandbox, &python, request)
    }

    fn dispatch(&self, request: &ExecRequest) -> Result<ExecReport> {
        let report = match request.language {
            Language::Python => self.run_python(request)?,
            _ => self.run_compiled(request)?,
        };
        Ok(report)
    }

    fn run_compiled(&self, request: &ExecRequest) -> Result<ExecReport> {
        let language = request.language;
        let toolchain = self.toolchains.get(language)?;
        if let TestSuite::Code { code } = &request.tests
            && self.split_appended_tests
        {
            let env = self.build_env();
            match harness::split::plan(language, &request.source, code, &self.salt)? {
                Plan::Split(split) => match split::run(&env, &toolchain, request, &split)? {
                    SplitRun::Report(report) => {
                        tracing::debug!(functions = ?split.functions, "tests ran split from the program");
                        return Ok(*report);
                    }
                    SplitRun::Fallback(reason) => {
                        tracing::warn!("running the tests in the program's process: {reason}");
                    }
                },
                Plan::InProcess { reason } => {
                    tracing::debug!("running the tests in the program's process: {reason}");
                }
            }
        }
        let (files, main_class, go_test) = match &request.tests {
            TestSuite::Code { code } => {
                let combined = harness::combine(language, &request.source, code, &self.salt)?;
                // Go builds a test binary; Rust compiles `#[cfg(test)]` code.
                let appended = matches!(language, Language::Go | Language::Rust);
                (combined.files, combined.main_class, appended)
            }
            TestSuite::Calls { .. } => {
                return Err(Error::UnsupportedSuite {
                    language,
                    suite: "call-based (EvalPlus)",
                });
            }
            TestSuite::None | TestSuite::Io { .. } => {
                let (name, class) = plain_file(language, &request.source);
                (vec![(name, request.source.clone())], class, false)
            }
        };
        let env = self.build_env();
        let built = env.build(
            language,
            &toolchain,
            &files,
            main_class.as_deref(),
            &request.options,
            go_test,
        )?;
        let (program, compile_ms, cached) = match built {
            Built::Failed {
                diagnostics,
                compile_ms,
                cached,
            } => {
                let mut report = compile_error(diagnostics, compile_ms);
                report.compile_cached = cached;
                return Ok(report);
            }
            Built::Ready {
                program,
                compile_ms,
                cached,
            } => (program, compile_ms, cached),
        };
        let mut report = match &request.tests {
            TestSuite::Io { cases, compare } => self.run_io(&program, request, cases, *compare)?,
            TestSuite::Code { .. } => self.run_appended(&program, request)?,
            _ => self.run_plain(&program, request)?,
        };
        report.compile_ms = compile_ms;
        report.compile_cached = cached;
        Ok(report)
    }

    fn build_env(&self) -> BuildEnv<'_> {
        BuildEnv {
            sandbox: &self.sandbox,
            cache_dir: &self.cache_dir,
            deps: &self.deps,
            compile_limits: self.compile_limits,
        }
    }

    fn run_plain(&self, program: &Program, request: &ExecRequest) -> Result<ExecReport> {
        let mut command = run_command(program, request.limits, &self.deps);
        if let Some(input) = &request.stdin {
            command.stdin = Stdin::Bytes(input.as_bytes().to_vec());
        }
        let outcome = self.sandbox.run(command)?;
        let mut report = empty_report();
        account(&mut report, &outcome);
        report.output = Some(excerpt(&outcome.stdout));
        match classify(&outcome, &request.limits) {
            None => report.status = Status::Passed,
            Some((status, failure)) => {
                report.status = status;
                report.failure = Some(failure);
            }
        }
        Ok(report)
    }

    fn run_io(
        &self,
        program: &Program,
        request: &ExecRequest,
        cases: &[IoCase],
        mode: Compare,
    ) -> Result<ExecReport> {
        let mut report = empty_report();
        for (index, case) in cases.iter().enumerate() {
            let mut command = run_command(program, request.limits, &self.deps);
            command.stdin = Stdin::Bytes(case.input.as_bytes().to_vec());
            let outcome = self.sandbox.run(command)?;
            account(&mut report, &outcome);
            let name = format!("case {}", index + 1);
            let verdict = classify(&outcome, &request.limits).or_else(|| {
                compare(&outcome.stdout, &case.output, mode).err().map(|m| {
                    let failure = Failure {
                        message: format!("wrong answer: output line {} differs", m.line),
                        expected: Some(excerpt(case.output.as_bytes())),
                        actual: Some(excerpt(&outcome.stdout)),
                        line: Some(m.line),
                        ..Failure::default()
                    };
                    (Status::WrongAnswer, failure)
                })
            });
            let failed = record_case(&mut report, name, verdict, &case.input);
            if failed && request.fail_fast {
                break;
            }
        }
        finish_status(&mut report);
        Ok(report)
    }

    fn run_appended(&self, program: &Program, request: &ExecRequest) -> Result<ExecReport> {
        let mut nonce = [0u8; 16];
        sys::random_bytes(&mut nonce).map_err(Error::spawn)?;
        let nonce = hex(&nonce);
        let (nonce_r, nonce_w) = sys::pipe().map_err(Error::spawn)?;
        sys::write_all(std::os::fd::AsRawFd::as_raw_fd(&nonce_w), nonce.as_bytes())
            .map_err(Error::spawn)?;
        drop(nonce_w);
        let proof_fd = sys::memfd(c"proof", b"").map_err(Error::spawn)?;
        let proof_reader = proof_fd.try_clone().map_err(Error::spawn)?;
        self.sandbox.hand_over_fd(&nonce_r)?;
        self.sandbox.hand_over_fd(&proof_fd)?;
        let mut command = run_command(program, request.limits, &self.deps);
        command.extra_fds = vec![(nonce_r, harness::NONCE_FD), (proof_fd, harness::PROOF_FD)];
        let outcome = self.sandbox.run(command)?;
        let proof_bytes = sys::read_from_start(&proof_reader, 16 << 20).map_err(Error::spawn)?;
        let proof = harness::parse_proof(&proof_bytes, &nonce);
        let mut report = empty_report();
        // Appended tests share the program's process.
        report.in_process_tests = true;
        account(&mut report, &outcome);
        if let Some(message) = proof.compile_error {
            return Ok(compile_error(message, 0));
        }
        report.tests = proof.tests.clone();
        let go_test = program.go_test && program.language == Language::Go;
        if go_test {
            report.tests = harness::go_test_outcomes(&outcome.stdout);
        }
        let (status, failure) =
            appended_verdict(&outcome, &proof, &report.tests, &request.limits, go_test);
        report.status = status;
        report.failure = (status != Status::Passed).then_some(failure);
        if report.tests.is_empty() {
            report.tests.push(TestOutcome {
                name: "tests".into(),
                status,
                detail: None,
            });
        }
        Ok(report)
    }

    fn run_python(&self, request: &ExecRequest) -> Result<ExecReport> {
        let limits = request.limits;
        let mut program = ProgramFrame {
            mode: "run",
            source: &request.source,
            stdin: "",
            cpu_ms: ms(limits.cpu_time),
            wall_ms: ms(limits.wall_time),
            memory_bytes: limits.memory_bytes,
            output_bytes: limits.output_bytes,
            file_size_bytes: limits.file_size_bytes,
            open_files: limits.open_files,
            address_space: true,
        };
        match &request.tests {
            TestSuite::None => {
                program.stdin = request.stdin.as_deref().unwrap_or("");
                let reply = match self.python.call(&program, None, true, &limits)? {
                    Served::Reply(reply) => reply,
                    other => return Ok(python_not_served(other)),
                };
                let mut report = empty_report();
                python_account(&mut report, &reply);
                report.output = Some(excerpt(&reply.stdout_bytes()));
                match python_run_verdict(&reply, &limits) {
                    RunVerdict::Compile(diagnostics) => return Ok(compile_error(diagnostics, 0)),
                    RunVerdict::Clean => report.status = Status::Passed,
                    RunVerdict::Failed(status, failure) => {
                        report.status = status;
                        report.failure = Some(failure);
                    }
                }
                Ok(report)
            }
            TestSuite::Io {
                cases,
                compare: mode,
            } => {
                let mut report = empty_report();
                program.mode = "io";
                for (index, case) in cases.iter().enumerate() {
                    program.stdin = &case.input;
                    let served = self.python.call(&program, None, true, &limits)?;
                    let verdict = match served {
                        Served::Reply(reply) => {
                            python_account(&mut report, &reply);
                            let stdout = reply.stdout_bytes();
                            match python_run_verdict(&reply, &limits) {
                                RunVerdict::Compile(diagnostics) => {
                                    return Ok(compile_error(diagnostics, 0));
                                }
                                RunVerdict::Failed(status, failure) => Some((status, failure)),
                                RunVerdict::Clean => {
                                    compare(&stdout, &case.output, *mode).err().map(|m| {
                                        (
                                            Status::WrongAnswer,
                                            Failure {
                                                message: format!(
                                                    "wrong answer: output line {} differs",
                                                    m.line
                                                ),
                                                expected: Some(excerpt(case.output.as_bytes())),
                                                actual: Some(excerpt(&stdout)),
                                                line: Some(m.line),
                                                ..Failure::default()
                                            },
                                        )
                                    })
                                }
                            }
                        }
                        other => {
                            let lost = python_not_served(other);
                            Some((lost.status, lost.failure.unwrap_or_default()))
                        }
                    };
                    let failed = record_case(
                        &mut report,
                        format!("case {}", index + 1),
                        verdict,
                        &case.input,
                    );
                    if failed && request.fail_fast {
                        break;
                    }
                }
                finish_status(&mut report);
                Ok(report)
            }
            TestSuite::Code { code } => {
                program.mode = "code";
                let tests = TestsFrame {
                    mode: "code",
                    tests: code,
                    entry_point: request.entry_point.as_deref(),
                    cases: Vec::new(),
                    atol: 0.0,
                };
                Ok(
                    match self.python.call(
                        &program,
                        Some(&tests),
                        request.trusted_tests,
                        &limits,
                    )? {
                        Served::Reply(reply) => python_tests_report(&reply, &limits),
                        other => python_not_served(other),
                    },
                )
            }
            TestSuite::Calls {
                entry_point,
                cases,
                atol,
            } => {
                program.mode = "calls";
                let tests = TestsFrame {
                    mode: "calls",
                    tests: "",
                    entry_point: Some(entry_point),
                    cases: cases
                        .iter()
                        .map(|c| WorkerCase {
                            args: &c.args,
                            expected: &c.expected,
                        })
                        .collect(),
                    atol: *atol,
                };
                Ok(
                    match self.python.call(
                        &program,
                        Some(&tests),
                        request.trusted_tests,
                        &limits,
                    )? {
                        Served::Reply(reply) => python_tests_report(&reply, &limits),
                        other => python_not_served(other),
                    },
                )
            }
        }
    }
}

impl Drop for Executor {
    fn drop(&mut self) {
        self.python.shutdown();
    }
}

fn validate(request: &ExecRequest) -> Result<()> {
    request.limits.validate()?;
    if matches!(request.tests, TestSuite::Calls { .. }) && request.language != Language::Python {
        return Err(Error::UnsupportedSuite {
            language: request.language,
            suite: "call-based (EvalPlus)",
        });
    }
    if let TestSuite::Calls { entry_point, .. } = &request.tests
        && entry_point.trim().is_empty()
    {
        return Err(Error::InvalidRequest(
            "call-based tests need an entry point",
        ));
    }
    if let Some(ep) = &request.entry_point
        && !ep.chars().all(|c| c.is_alphanumeric() || c == '_')
    {
        return Err(Error::InvalidRequest(
            "the entry point must be an identifier",
        ));
    }
    Ok(())
}

/// Why a source cannot be compiled or run at all, for its `compile_error` report: model output
/// that is empty (or only whitespace), or that holds a NUL byte (no compiler or interpreter
/// takes one, and a path or argument built from it could not be passed on).
fn unusable_source(source: &str) -> Option<String> {
    if source.trim().is_empty() {
        return Some("the program is empty: there is no source code to compile or run\n".into());
    }
    let nul = source.find('\0')?;
    Some(format!(
        "the program contains a NUL byte (at byte {nul}); source code must be text\n"
    ))
}

/// The file name a plain program is compiled from, and Java's main class.
fn plain_file(language: Language, source: &str) -> (String, Option<String>) {
    if language == Language::Java {
        let class = source
            .find("public class ")
            .map(|at| {
                source[at + 13..]
                    .trim_start()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect::<String>()
            })
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "Main".into());
        return (format!("{class}.java"), Some(class));
    }
    (format!("main.{}", language.extension()), None)
}

fn load_salt(cache_dir: &Path) -> Result<String> {
    let path = cache_dir.join("secret");
    if let Ok(salt) = std::fs::read_to_string(&path)
        && salt.trim().len() == 24
    {
        return Ok(salt.trim().to_owned());
    }
    let mut bytes = [0u8; 12];
    sys::random_bytes(&mut bytes).map_err(Error::spawn)?;
    let salt = hex(&bytes);
    std::fs::write(&path, &salt).map_err(|e| Error::io(&path, e))?;
    Ok(salt)
}

pub(crate) fn empty_report() -> ExecReport {
    ExecReport::new(Status::Passed, Vec::new())
}

pub(crate) fn compile_error(diagnostics: String, compile_ms: u64) -> ExecReport {
    ExecReport {
        status: Status::CompileError,
        compile_ms,
        failure: Some(Failure {
            message: "compilation failed".into(),
            diagnostics: Some(diagnostics),
            ..Failure::default()
        }),
        ..empty_report()
    }
}

pub(crate) fn account(report: &mut ExecReport, outcome: &Outcome) {
    report.run_ms += ms(outcome.wall);
    report.cpu_ms += ms(outcome.cpu);
    report.peak_memory_kb = report.peak_memory_kb.max(outcome.peak_memory_bytes / 1024);
}

pub(crate) fn some_text(s: String) -> Option<String> {
    (!s.trim().is_empty()).then_some(s)
}

/// Record one stdin/stdout case; true when it failed.
fn record_case(
    report: &mut ExecReport,
    name: String,
    verdict: Option<(Status, Failure)>,
    input: &str,
) -> bool {
    let failed = verdict.is_some();
    let (status, detail) = match verdict {
        None => (Status::Passed, None),
        Some((status, mut failure)) => {
            let detail = failure.message.clone();
            if report.failure.is_none() {
                failure.test = Some(name.clone());
                failure.input = Some(excerpt(input.as_bytes()));
                report.failure = Some(failure);
            }
            (status, Some(detail))
        }
    };
    report.tests.push(TestOutcome {
        name,
        status,
        detail,
    });
    failed
}

fn finish_status(report: &mut ExecReport) {
    report.status = report
        .tests
        .iter()
        .map(|t| t.status)
        .find(|s| !s.is_pass())
        .unwrap_or(Status::Passed);
}

/// A verdict for a finished run; `None` for a clean exit within the limits.
///
/// In order: what the supervisor stopped (output, CPU time, wall clock), the cgroup's OOM
/// kill, CPU time over the limit however the run ended (a program that exits, or is ended by
/// `RLIMIT_CPU`, just after the limit passed), a file over `RLIMIT_FSIZE`, a failed
/// allocation reported by the runtime itself ([`allocation_failure`]), then the program's own
/// exit status or signal, which is a runtime error whatever it prints.
pub(crate) fn classify(outcome: &Outcome, limits: &Limits) -> Option<(Status, Failure)> {
    let mut failure = Failure {
        stderr_tail: some_text(tail(&outcome.stderr)),
        ..Failure::default()
    };
    match outcome.exit {
        Exit::Code(code) => failure.exit_code = Some(code),
        Exit::Signal(sig) => failure.signal = Some(sig),
    }
    let memory = |why: &str| {
        format!(
            "memory limit exceeded ({} MiB; {why})",
            limits.memory_bytes >> 20
        )
    };
    let status = match (outcome.killed, outcome.exit) {
        (Some(Kill::Output), _) => {
            failure.message = format!("output limit exceeded ({} bytes)", limits.output_bytes);
            Status::OutputLimit
        }
        (Some(Kill::CpuTime), _) => {
            failure.message = format!("time limit exceeded ({:?} of CPU time)", limits.cpu_time);
            Status::Timeout
        }
        (Some(Kill::WallTime), _) => {
            failure.message = format!(
                "time limit exceeded (wall clock {:?}; CPU used {:?})",
                limits.wall_time, outcome.cpu
            );
            Status::Timeout
        }
        _ if outcome.oom => {
            failure.message = memory("killed by the out-of-memory killer");
            Status::MemoryLimit
        }
        _ if outcome.cpu > limits.cpu_time => {
            failure.message = format!(
                "time limit exceeded ({:?} of CPU time; used {:?})",
                limits.cpu_time, outcome.cpu
            );
            Status::Timeout
        }
        (None, Exit::Signal(libc::SIGXFSZ)) => {
            failure.message = format!(
                "output limit exceeded (a file over {} bytes)",
                limits.file_size_bytes
            );
            Status::OutputLimit
        }
        _ if let Some(runtime) = allocation_failure(outcome, limits) => {
            failure.message = memory(&format!("{runtime} failed to allocate"));
            Status::MemoryLimit
        }
        (None, Exit::Code(0)) => return None,
        (None, Exit::Code(code)) => {
            failure.message = format!("runtime error: exit code {code}");
            Status::RuntimeError
        }
        (None, Exit::Signal(sig)) => {
            failure.message = format!(
                "runtime error: killed by signal {sig} ({})",
                signal_name(sig)
            );
            Status::RuntimeError
        }
    };
    Some((status, failure))
}

/// The runtime whose own report says an allocation failed, if one does.
///
/// Text alone is no evidence (a program may print anything): each runtime's report counts
/// only with the way that runtime ends on it, and the JVM's only when the heap was really
/// full.
///
/// | Runtime | Evidence |
/// |---|---|
/// | C++ | killed by `SIGABRT` after `terminate called after throwing an instance of 'std::bad_alloc'` |
/// | Rust | killed by `SIGABRT` after `memory allocation of N bytes failed` |
/// | V8 (JavaScript) | killed by `SIGABRT` after `JavaScript heap out of memory` (the `--max-old-space-size` limit) |
/// | Go | exit status 2 after `fatal error: runtime: out of memory` |
/// | JVM | exit status 1 after `java.lang.OutOfMemoryError`, with peak memory at least 3/4 of `-Xmx` |
///
/// C has no such report: `malloc` returns `NULL` under `RLIMIT_AS` (hosts without cgroups) and
/// what follows is the program's own doing. With cgroups, memory is judged by the OOM kill.
fn allocation_failure(outcome: &Outcome, limits: &Limits) -> Option<&'static str> {
    let stderr = String::from_utf8_lossy(&outcome.stderr);
    let aborted = outcome.exit == Exit::Signal(libc::SIGABRT);
    let rust_report = stderr.split("memory allocation of ").skip(1).any(|rest| {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        digits > 0 && rest[digits..].starts_with(" bytes failed")
    });
    let heap_limit = crate::runner::java_heap_bytes(limits);
    if aborted && stderr.contains("terminate called after throwing an instance of 'std::bad_alloc'")
    {
        Some("the C++ runtime")
    } else if aborted && rust_report {
        Some("the Rust runtime")
    } else if aborted && stderr.contains("JavaScript heap out of memory") {
        Some("V8")
    } else if outcome.exit == Exit::Code(2)
        && stderr.contains("fatal error: runtime: out of memory")
    {
        Some("the Go runtime")
    } else if outcome.exit == Exit::Code(1)
        && stderr.contains("java.lang.OutOfMemoryError")
        && outcome.peak_memory_bytes >= heap_limit / 4 * 3
    {
        Some("the JVM")
    } else {
        None
    }
}

/// The verdict of a run of appended tests (in the program's process, or a split run's driver):
/// a limit, then the first failed test, then the proof of completion.
pub(crate) fn appended_verdict(
    outcome: &Outcome,
    proof: &harness::Proof,
    tests: &[TestOutcome],
    limits: &Limits,
    go_test: bool,
) -> (Status, Failure) {
    let limit_verdict =
        classify(outcome, limits).filter(|(s, _)| !matches!(s, Status::RuntimeError));
    let first_bad = tests.iter().find(|t| !t.status.is_pass()).cloned();
    if let Some(verdict) = limit_verdict {
        verdict
    } else if let Some(test) = first_bad {
        // A panicking Go test: `testing` reports it failed on stdout, the runtime's panic
        // goes to stderr.
        let panicked = [&outcome.stdout, &outcome.stderr]
            .iter()
            .any(|s| String::from_utf8_lossy(s).contains("panic:"));
        let status = if go_test && panicked {
            Status::RuntimeError
        } else {
            test.status
        };
        let failure = Failure {
            test: Some(test.name.clone()),
            message: test
                .detail
                .clone()
                .unwrap_or_else(|| format!("test `{}` failed", test.name)),
            stderr_tail: some_text(tail(&outcome.stderr)),
            actual: go_test.then(|| excerpt(&outcome.stdout)),
            ..Failure::default()
        };
        (status, failure)
    } else if proof.completed && outcome.exit == Exit::Code(0) {
        (Status::Passed, Failure::default())
    } else {
        let mut failure = classify(outcome, limits)
            .map(|(_, f)| f)
            .unwrap_or_default();
        if failure.message.is_empty() || outcome.exit == Exit::Code(0) {
            failure.message =
                "the program ended before its tests finished (no proof of completion)".into();
        }
        if let Some(err) = &proof.error {
            failure.message = err.clone();
        }
        (Status::RuntimeError, failure)
    }
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGSEGV => "SIGSEGV, invalid memory access or stack overflow",
        libc::SIGABRT => "SIGABRT, abort",
        libc::SIGFPE => "SIGFPE, arithmetic error",
        libc::SIGKILL => "SIGKILL",
        libc::SIGBUS => "SIGBUS",
        libc::SIGILL => "SIGILL",
        libc::SIGPIPE => "SIGPIPE",
        _ => "signal",
    }
}

fn python_account(report: &mut ExecReport, reply: &WorkerReply) {
    report.run_ms += reply.wall_ms;
    report.cpu_ms += reply.cpu_ms;
    report.peak_memory_kb = report.peak_memory_kb.max(reply.peak_kb);
}

/// A Python request that ended without a reply: the program's processes killed the judge's
/// handler (they run as the same user and may signal it), or the judge itself failed.
fn python_not_served(served: Served) -> ExecReport {
    let (status, message) = match served {
        Served::Reply(_) => (
            Status::JudgeError,
            "a reply was taken for a failure".to_owned(),
        ),
        Served::Lost {
            by_signal: true,
            detail,
        } => (
            Status::RuntimeError,
            format!("{detail}: the program signalled processes that are not its own"),
        ),
        Served::Lost {
            by_signal: false,
            detail,
        } => (Status::JudgeError, detail),
        Served::Failed(detail) => (Status::JudgeError, detail),
    };
    ExecReport {
        status,
        failure: Some(Failure {
            message,
            ..Failure::default()
        }),
        ..empty_report()
    }
}

/// What a run without tests (or one stdin/stdout case) came to.
enum RunVerdict {
    /// The program did not compile; no program code ran.
    Compile(String),
    /// It ended by itself with exit status 0, within its limits.
    Clean,
    Failed(Status, Failure),
}

/// A limit the program passed, from the evidence about its process: what R or the executor
/// stopped it for, its CPU time (its children's included) against the limit, and the OOM
/// killer's record in its cgroup. Never from its exit status.
fn python_limit_verdict(reply: &WorkerReply, limits: &Limits) -> Option<(Status, Failure)> {
    let cpu = Duration::from_millis(reply.cpu_ms);
    let mut failure = Failure {
        stderr_tail: some_text(tail(&reply.stderr_bytes())),
        exit_code: reply.exit_code,
        signal: reply.signal,
        ..Failure::default()
    };
    let killed = reply.killed.as_deref();
    let status = if killed == Some("output") {
        failure.message = format!("output limit exceeded ({} bytes)", limits.output_bytes);
        Status::OutputLimit
    } else if reply.cpu_killed || killed == Some("cpu") || cpu >= limits.cpu_time {
        failure.message = format!("time limit exceeded ({:?} of CPU time)", limits.cpu_time);
        Status::Timeout
    } else if killed == Some("wall") {
        failure.message = format!(
            "time limit exceeded (wall clock {:?}; CPU used {cpu:?})",
            limits.wall_time
        );
        Status::Timeout
    } else if reply.oom {
        failure.message = format!(
            "memory limit exceeded ({} MiB; the kernel's OOM killer ended the program)",
            limits.memory_bytes >> 20
        );
        Status::MemoryLimit
    } else {
        return None;
    };
    Some((status, failure))
}

fn python_run_verdict(reply: &WorkerReply, limits: &Limits) -> RunVerdict {
    if let Some(message) = &reply.compile_error {
        return RunVerdict::Compile(trim_diagnostics(message.as_bytes()));
    }
    if let Some((status, failure)) = python_limit_verdict(reply, limits) {
        return RunVerdict::Failed(status, failure);
    }
    let mut failure = Failure {
        stderr_tail: some_text(tail(&reply.stderr_bytes())),
        exit_code: reply.exit_code,
        signal: reply.signal,
        ..Failure::default()
    };
    let status = if reply.memory_error {
        failure.message = format!(
            "memory limit exceeded ({} MiB; MemoryError)",
            limits.memory_bytes >> 20
        );
        Status::MemoryLimit
    } else {
        match (reply.exit_code, reply.signal) {
            (Some(0), _) => return RunVerdict::Clean,
            (Some(code), _) => {
                failure.message = format!("runtime error: exit code {code}");
                Status::RuntimeError
            }
            (None, Some(sig)) => {
                failure.message = format!(
                    "runtime error: killed by signal {sig} ({})",
                    signal_name(sig)
                );
                Status::RuntimeError
            }
            (None, None) => {
                failure.message = "the judge did not observe how the program ended".into();
                Status::JudgeError
            }
        }
    };
    RunVerdict::Failed(status, failure)
}

/// How the program's process ended by itself, for a failure message.
fn python_end(reply: &WorkerReply) -> Option<String> {
    match (reply.exit_code, reply.signal) {
        (Some(code), _) => Some(format!("exit code {code}")),
        (None, Some(sig)) => Some(format!("killed by signal {sig} ({})", signal_name(sig))),
        _ => None,
    }
}

/// Build a report from the driver's lines: `{"load": ...}`, `{"test": ...}`, `{"done": n}`.
fn python_tests_report(reply: &WorkerReply, limits: &Limits) -> ExecReport {
    let mut report = empty_report();
    python_account(&mut report, reply);
    let mut done = None;
    let mut load_failure = None;
    for line in reply.report.as_deref().unwrap_or("").lines() {
        let Ok(value) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if let Some(n) = value.get("done").and_then(|v| v.as_u64()) {
            done = Some(n as usize);
        } else if let Some(kind) = value.get("load").and_then(|v| v.as_str()) {
            load_failure = Some((kind.to_owned(), value));
        } else if let Some(name) = value.get("test").and_then(|v| v.as_str()) {
            let status = value
                .get("status")
                .and_then(|s| serde_json::from_value::<Status>(s.clone()).ok())
                .unwrap_or(Status::RuntimeError);
            let detail = value
                .get("detail")
                .and_then(|d| d.as_str())
                .map(str::to_owned);
            report.tests.push(TestOutcome {
                name: name.to_owned(),
                status,
                detail,
            });
        }
    }
    let text = |value: &serde_json::Value, k: &str| {
        value
            .get(k)
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_owned()
    };
    if let Some((kind, value)) = &load_failure
        && kind == "syntax"
    {
        return ExecReport {
            run_ms: report.run_ms,
            ..compile_error(
                trim_diagnostics(
                    format!("{}\n{}", text(value, "message"), text(value, "traceback")).as_bytes(),
                ),
                0,
            )
        };
    }
    if let Some((status, failure)) = python_limit_verdict(reply, limits) {
        report.status = status;
        report.failure = Some(failure);
        return report;
    }
    let stderr_tail = some_text(tail(&reply.stderr_bytes()));
    if let Some((kind, value)) = load_failure {
        let memory = text(&value, "traceback").contains("MemoryError");
        report.status = if memory {
            Status::MemoryLimit
        } else {
            Status::RuntimeError
        };
        let message = if kind == "exited" {
            match python_end(reply) {
                Some(end) => format!("the program ended while loading, before any test ran: {end}"),
                None => "the program ended while loading, before any test ran".into(),
            }
        } else {
            format!(
                "the program failed while loading: {}",
                text(&value, "message")
            )
        };
        report.failure = Some(Failure {
            message,
            exit_code: reply.exit_code,
            signal: reply.signal,
            stderr_tail: some_text(text(&value, "traceback")).or(stderr_tail),
            ..Failure::default()
        });
        return report;
    }
    let completed = done == Some(report.tests.len()) && !report.tests.is_empty();
    if let Some(bad) = report.tests.iter().find(|t| !t.status.is_pass()) {
        let mut message = bad.detail.clone().unwrap_or_else(|| "test failed".into());
        if let Some(end) = python_end(reply).filter(|_| bad.status == Status::RuntimeError) {
            message = format!("{message} ({end})");
        }
        report.status = bad.status;
        report.failure = Some(Failure {
            test: Some(bad.name.clone()),
            message,
            exit_code: reply.exit_code,
            signal: reply.signal,
            stderr_tail,
            ..Failure::default()
        });
        return report;
    }
    if completed {
        report.status = Status::Passed;
        return report;
    }
    report.status = Status::RuntimeError;
    report.failure = Some(Failure {
        message: if report.tests.is_empty() && done.is_some() {
            "no test ran (the test code contains no assert)".into()
        } else {
            "the test driver did not finish".into()
        },
        exit_code: reply.exit_code,
        signal: reply.signal,
        stderr_tail,
        ..Failure::default()
    });
    report
}

/// A sensible default when a caller has only a time and memory budget.
pub fn default_limits() -> Limits {
    Limits::new(Duration::from_secs(2), 512 << 20)
}
