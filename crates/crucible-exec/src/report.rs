//! What an execution reports, and its compact rendering for repair prompts.

use crucible_types::{Status, TestOutcome};
use serde::{Deserialize, Serialize};

/// The result of one [`ExecRequest`](crate::ExecRequest).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecReport {
    /// The overall verdict: `passed` only when every test ran and passed.
    pub status: Status,
    /// One outcome per test (stdin/stdout case, assert, test function or call).
    pub tests: Vec<TestOutcome>,
    /// Time spent compiling (0 for a cache hit or an interpreted language).
    pub compile_ms: u64,
    /// Wall time spent running the program and its tests.
    pub run_ms: u64,
    /// CPU time of the program's runs.
    pub cpu_ms: u64,
    /// Largest memory use of one run.
    pub peak_memory_kb: u64,
    /// False only under `--no-sandbox`.
    pub sandboxed: bool,
    /// Whether the compiled program came from the cache.
    pub compile_cached: bool,
    /// The tests ran inside the candidate's own process (appended test code that could not be
    /// split into calls and expected values), so the program could in principle read them.
    /// `false` when the program received inputs only and a trusted process compared.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub in_process_tests: bool,
    /// What went wrong first, when something did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    /// The program's stdout (an excerpt) for a run without tests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
}

/// Details of the first failure, kept short.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Failure {
    /// The test that failed (`case 2`, an assert's source line, a test function).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<String>,
    /// One line saying what happened.
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actual: Option<String>,
    /// 1-based number of the first output line that differs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    /// The last lines of stderr (or the exception's traceback).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stderr_tail: Option<String>,
    /// Trimmed compiler diagnostics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diagnostics: Option<String>,
}

/// Longest excerpt of any one field kept in a [`Failure`].
pub(crate) const EXCERPT_BYTES: usize = 2000;

impl ExecReport {
    /// A sandboxed report with these tests and nothing measured yet (no times, no failure).
    pub fn new(status: Status, tests: Vec<TestOutcome>) -> ExecReport {
        ExecReport {
            status,
            tests,
            compile_ms: 0,
            run_ms: 0,
            cpu_ms: 0,
            peak_memory_kb: 0,
            sandboxed: true,
            compile_cached: false,
            in_process_tests: false,
            failure: None,
            output: None,
        }
    }

    /// Number of tests that passed.
    pub fn passed_tests(&self) -> usize {
        self.tests.iter().filter(|t| t.status.is_pass()).count()
    }

    /// A compact, deterministic text for a repair prompt, at most `max_bytes` long.
    ///
    /// It names the verdict, the failing test, its input, expected and actual output, the
    /// first differing line, the exit code or signal, stderr's tail and compiler errors; it
    /// never contains timings, paths of the host or anything else that varies between runs.
    pub fn render_feedback(&self, max_bytes: usize) -> String {
        let mut out = String::new();
        let total = self.tests.len();
        out.push_str(&format!("verdict: {}", self.status));
        if total > 0 {
            out.push_str(&format!(
                " ({}/{} tests passed)",
                self.passed_tests(),
                total
            ));
        }
        out.push('\n');
        if let Some(f) = &self.failure {
            if let Some(test) = &f.test {
                out.push_str(&format!("failing test: {test}\n"));
            }
            out.push_str(&format!("error: {}\n", f.message));
            if let Some(line) = f.line {
                out.push_str(&format!("first difference at output line {line}\n"));
            }
            if let Some(code) = f.exit_code {
                out.push_str(&format!("exit code: {code}\n"));
            }
            if let Some(signal) = f.signal {
                out.push_str(&format!("killed by signal {signal}\n"));
            }
            let sections = [
                ("input", &f.input),
                ("expected output", &f.expected),
                ("actual output", &f.actual),
                ("compiler errors", &f.diagnostics),
                ("stderr (last lines)", &f.stderr_tail),
            ];
            for (title, body) in sections {
                if let Some(body) = body {
                    out.push_str(&format!("{title}:\n{}\n", body.trim_end()));
                }
            }
        }
        truncate_utf8(&mut out, max_bytes, "\n[feedback truncated]\n");
        out
    }
}

/// Cut `text` to at most `max` bytes on a character boundary, ending with `marker` if cut.
pub(crate) fn truncate_utf8(text: &mut String, max: usize, marker: &str) {
    if text.len() <= max {
        return;
    }
    let mut end = max.saturating_sub(marker.len());
    while end > 0 && !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    if marker.len() <= max {
        text.push_str(marker);
    }
}

/// A short excerpt of possibly binary output: lossy UTF-8, head kept.
pub(crate) fn excerpt(bytes: &[u8]) -> String {
    let mut s = String::from_utf8_lossy(bytes).into_owned();
    truncate_utf8(&mut s, EXCERPT_BYTES, "…[truncated]");
    s
}

/// The last lines of stderr, at most [`EXCERPT_BYTES`].
pub(crate) fn tail(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim_end();
    if text.len() <= EXCERPT_BYTES {
        return text.to_owned();
    }
    let mut start = text.len() - EXCERPT_BYTES;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    let cut = text[start..]
        .find('\n')
        .map(|i| start + i + 1)
        .unwrap_or(start);
    format!("[…]\n{}", &text[cut..])
}

/// Keep the first error lines of compiler output (the rest is usually cascades).
pub(crate) fn trim_diagnostics(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::new();
    for line in text.lines().take(40) {
        out.push_str(line);
        out.push('\n');
    }
    truncate_utf8(&mut out, EXCERPT_BYTES, "…[truncated]\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> ExecReport {
        ExecReport {
            status: Status::WrongAnswer,
            tests: vec![
                TestOutcome {
                    name: "case 1".into(),
                    status: Status::Passed,
                    detail: None,
                },
                TestOutcome {
                    name: "case 2".into(),
                    status: Status::WrongAnswer,
                    detail: Some("line 1 differs".into()),
                },
            ],
            compile_ms: 12,
            run_ms: 34,
            cpu_ms: 5,
            peak_memory_kb: 900,
            sandboxed: true,
            compile_cached: false,
            in_process_tests: false,
            failure: Some(Failure {
                test: Some("case 2".into()),
                message: "wrong answer".into(),
                input: Some("2 3\n".into()),
                expected: Some("5\n".into()),
                actual: Some("6\n".into()),
                line: Some(1),
                ..Failure::default()
            }),
            output: None,
        }
    }

    #[test]
    fn feedback_is_compact_and_deterministic() {
        let text = report().render_feedback(4096);
        assert_eq!(
            text,
            "verdict: wrong_answer (1/2 tests passed)\nfailing test: case 2\nerror: wrong answer\n\
             first difference at output line 1\ninput:\n2 3\nexpected output:\n5\nactual output:\n6\n"
        );
        let mut other = report();
        other.run_ms = 999;
        assert_eq!(other.render_feedback(4096), text);
    }

    #[test]
    fn feedback_respects_the_cap() {
        let mut r = report();
        r.failure.as_mut().unwrap().actual = Some("é".repeat(5000));
        let text = r.render_feedback(300);
        assert!(text.len() <= 300);
        assert!(text.ends_with("[feedback truncated]\n"));
    }

    #[test]
    fn tails_and_diagnostics() {
        let long = (0..2000).map(|i| format!("line {i}\n")).collect::<String>();
        let t = tail(long.as_bytes());
        assert!(t.starts_with("[…]\nline "));
        assert!(t.ends_with("line 1999"));
        assert_eq!(trim_diagnostics(long.as_bytes()).lines().count(), 40);
    }
}
