//! Running a split plan: building the subject and the driver, running them in two sandboxes
//! joined by pipes, and the verdict from both.
//!
//! The subject decides first (its time, memory or output limit, or its crash or exit status
//! during a call, is the verdict), then the driver's per-test outcomes, then the driver's proof
//! of completion, exactly as for tests in the program's process.

use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Duration;

use crucible_types::{Language, Status, TestOutcome};

use super::{DRIVER_IN_FD, DRIVER_OUT_FD, SUBJECT_IN_FD, SUBJECT_OUT_FD, SplitProgram};
use crate::executor::{
    ExecRequest, account, appended_verdict, classify, compile_error, empty_report, some_text,
};
use crate::harness::{self, NONCE_FD, PROOF_FD};
use crate::report::{ExecReport, tail, trim_diagnostics};
use crate::runner::{BuildEnv, Built, Program, hex, ms, run_command};
use crate::sandbox::{Exit, Outcome, sys};
use crate::toolchain::Toolchain;
use crate::{Error, Result};

/// What a split run ended with.
#[derive(Debug)]
pub(crate) enum SplitRun {
    Report(Box<ExecReport>),
    /// The driver could not be built or could not carry a value: run the tests in the
    /// program's process instead, for this reason.
    Fallback(String),
}

/// How much longer than the subject the driver may take on the wall clock, so that a subject
/// that sleeps or blocks is the one stopped (its verdict comes first).
const DRIVER_WALL_MARGIN: Duration = Duration::from_secs(2);

/// Build and run both halves of `split`.
pub(crate) fn run(
    env: &BuildEnv<'_>,
    toolchain: &Toolchain,
    request: &ExecRequest,
    split: &SplitProgram,
) -> Result<SplitRun> {
    let language = request.language;
    let subject = env.build(
        language,
        toolchain,
        &split.subject.files,
        split.subject.main_class.as_deref(),
        &request.options,
        false,
    )?;
    let (subject, subject_ms, subject_cached) = match subject {
        Built::Failed {
            diagnostics,
            compile_ms,
            cached,
        } => {
            let mut report = compile_error(diagnostics, compile_ms);
            report.compile_cached = cached;
            return Ok(SplitRun::Report(Box::new(report)));
        }
        Built::Ready {
            program,
            compile_ms,
            cached,
        } => (program, compile_ms, cached),
    };
    // Go builds the driver as a test binary; Rust compiles its `#[cfg(test)]` code.
    let driver_tests = matches!(language, Language::Go | Language::Rust);
    let driver = env.build(
        language,
        toolchain,
        &split.driver.files,
        split.driver.main_class.as_deref(),
        &request.options,
        driver_tests,
    )?;
    let (driver, driver_ms) = match driver {
        Built::Failed { diagnostics, .. } => {
            let first = diagnostics.lines().find(|l| !l.trim().is_empty());
            return Ok(SplitRun::Fallback(format!(
                "the test driver does not compile with proxies of the program's functions ({})",
                first.unwrap_or("no diagnostics")
            )));
        }
        Built::Ready {
            program,
            compile_ms,
            ..
        } => (program, compile_ms),
    };
    let pair = run_pair(env, &subject, &driver, request)?;
    let mut report = match verdict(&pair, &driver, request) {
        Ok(report) => report,
        Err(reason) => return Ok(SplitRun::Fallback(reason)),
    };
    report.compile_ms += subject_ms + driver_ms;
    report.compile_cached = subject_cached;
    Ok(SplitRun::Report(Box::new(report)))
}

/// Both runs and what the driver reported.
struct Pair {
    subject: Outcome,
    driver: Outcome,
    proof: harness::Proof,
}

fn run_pair(
    env: &BuildEnv<'_>,
    subject: &Program,
    driver: &Program,
    request: &ExecRequest,
) -> Result<Pair> {
    let sandbox = env.sandbox;
    let mut nonce = [0u8; 16];
    sys::random_bytes(&mut nonce).map_err(Error::spawn)?;
    let nonce = hex(&nonce);
    let (nonce_r, nonce_w) = sys::pipe().map_err(Error::spawn)?;
    sys::write_all(nonce_w.as_raw_fd(), nonce.as_bytes()).map_err(Error::spawn)?;
    drop(nonce_w);
    let proof_fd = sys::memfd(c"proof", b"").map_err(Error::spawn)?;
    let proof_reader = proof_fd.try_clone().map_err(Error::spawn)?;
    let (call_r, call_w) = sys::pipe().map_err(Error::spawn)?;
    let (reply_r, reply_w) = sys::pipe().map_err(Error::spawn)?;
    let handed: [&OwnedFd; 6] = [&nonce_r, &proof_fd, &call_r, &call_w, &reply_r, &reply_w];
    for fd in handed {
        // The JVM reopens inherited descriptors through `/proc/self/fd`.
        sandbox.hand_over_fd(fd)?;
    }
    let mut subject_command = run_command(subject, request.limits, env.deps);
    subject_command.extra_fds = vec![(call_r, SUBJECT_IN_FD), (reply_w, SUBJECT_OUT_FD)];
    let mut driver_limits = request.limits;
    driver_limits.wall_time = (driver_limits.wall_time + DRIVER_WALL_MARGIN)
        .min(Duration::from_secs(30 * 60))
        .max(driver_limits.wall_time);
    let mut driver_command = run_command(driver, driver_limits, env.deps);
    driver_command.extra_fds = vec![
        (nonce_r, NONCE_FD),
        (proof_fd, PROOF_FD),
        (call_w, DRIVER_OUT_FD),
        (reply_r, DRIVER_IN_FD),
    ];
    // Each sandbox is launched and watched by its own thread (a sandbox's init dies with the
    // thread that cloned it); each side's pipe ends close when its command is consumed, so a
    // side that fails to start gives the other end of file.
    let (subject, driver) = std::thread::scope(|scope| {
        let subject = scope.spawn(|| sandbox.run(subject_command));
        let driver = sandbox.run(driver_command);
        let subject = subject
            .join()
            .unwrap_or_else(|_| Err(Error::Sandbox("the subject's supervisor panicked".into())));
        (subject, driver)
    });
    let (subject, driver) = (subject?, driver?);
    let proof_bytes = sys::read_from_start(&proof_reader, 16 << 20).map_err(Error::spawn)?;
    let proof = harness::parse_proof(&proof_bytes, &nonce);
    Ok(Pair {
        subject,
        driver,
        proof,
    })
}

/// The report of a split run; `Err(reason)` when the tests must run in the program's process.
fn verdict(
    pair: &Pair,
    driver: &Program,
    request: &ExecRequest,
) -> std::result::Result<ExecReport, String> {
    let Pair {
        subject,
        driver: driver_outcome,
        proof,
    } = pair;
    if let Some(reason) = &proof.fallback {
        return Err(reason.clone());
    }
    if let Some(message) = &proof.compile_error {
        return Err(format!("the test code does not load: {message}"));
    }
    let language = request.language;
    if language == Language::JavaScript && js_syntax_error(subject) {
        return Ok(compile_error(trim_diagnostics(&subject.stderr), 0));
    }
    let mut report = empty_report();
    account(&mut report, subject);
    account(&mut report, driver_outcome);
    // The two ran side by side.
    report.run_ms = ms(subject.wall.max(driver_outcome.wall));
    let go_test = language == Language::Go && driver.go_test;
    report.tests = if go_test {
        harness::go_test_outcomes(&driver_outcome.stdout)
    } else {
        proof.tests.clone()
    };
    let (status, failure) = match classify(subject, &request.limits) {
        Some((status, mut failure)) => {
            // The subject ended badly: its limit, crash or exit status is the verdict, and the
            // test that was calling it carries the blame.
            if let Some(test) = report.tests.iter_mut().find(|t| !t.status.is_pass()) {
                failure.test = Some(test.name.clone());
                test.status = status;
            }
            if failure.stderr_tail.is_none() {
                failure.stderr_tail = some_text(tail(&driver_outcome.stderr));
            }
            (status, failure)
        }
        None => {
            let (mut status, mut failure) = appended_verdict(
                driver_outcome,
                proof,
                &report.tests,
                &request.limits,
                go_test,
            );
            // A Go test that panicked (the program exited or crashed during a call, or
            // panicked itself: its panic crossed as an error reply) failed with a runtime
            // error, not a wrong answer; Go prints the panic on stderr.
            let stderr = String::from_utf8_lossy(&driver_outcome.stderr);
            if let Some(panic) = stderr.lines().find(|l| l.starts_with("panic: "))
                && go_test
                && status == Status::WrongAnswer
            {
                status = Status::RuntimeError;
                failure.message = panic.trim_start_matches("panic: ").to_owned();
                if let Some(test) = report.tests.iter_mut().find(|t| !t.status.is_pass()) {
                    test.status = status;
                }
            }
            (status, failure)
        }
    };
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

/// A JavaScript subject whose program did not parse. The subject's loader compiles the program
/// with `vm.Script` before any of it runs, prints node's `SyntaxError` and exits with status 1
/// (a multi-file build has no `node --check`). A program could print the same and exit 1 itself;
/// it then gets a compile error instead of a runtime error, a failure either way.
fn js_syntax_error(subject: &Outcome) -> bool {
    subject.exit == Exit::Code(1)
        && subject.stdout.is_empty()
        && String::from_utf8_lossy(&subject.stderr).contains("SyntaxError")
}
