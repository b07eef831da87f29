//! The strategies, and the steps they share: first programs, the suite to check against,
//! model-written tests, judging, and the repair loop.

mod agent;
mod plain;
mod reflexion;
mod repair;
mod rerank;

use std::collections::HashSet;

use crucible_types::{Status, TestSuite};

use crate::Result;
use crate::prompts;
use crate::select::verdict_key;
use crate::session::{CandId, Entry, Judged, Session, Suite};
use crate::strategy::{Kind, StrategyParams};
use crate::trace::{TestSource, Verdict};
use crate::written_tests::{self, Style, WrittenTest};

pub(crate) use repair::{repair_given, repair_loop};

/// Run `kind`; returns the chosen program, if any program was written.
pub(crate) fn dispatch(kind: Kind, session: &mut Session<'_>) -> Result<Option<CandId>> {
    match kind {
        Kind::Plain => plain::run(session),
        Kind::Repair => repair::run(session),
        Kind::Rerank => rerank::run(session, false),
        Kind::RerankRepair => rerank::run(session, true),
        Kind::Reflexion => reflexion::run(session),
        Kind::Agent => agent::run(session),
    }
}

/// The task's visible tests, if it shows any.
pub(crate) fn visible_suite(session: &Session<'_>) -> Option<Suite> {
    session.task.has_visible_tests().then(|| Suite {
        source: TestSource::Visible,
        tests: session.task.visible.clone(),
    })
}

/// A clean run: compiles and exits without error.
fn clean_run() -> Suite {
    Suite {
        source: TestSource::CleanRun,
        tests: TestSuite::None,
    }
}

/// The tests a loop checks programs against: the visible ones; when the task shows none,
/// tests the model writes (said in the trace); when it cannot write any, a clean run.
fn checking_suite(session: &mut Session<'_>) -> Result<Suite> {
    if let Some(visible) = visible_suite(session) {
        return Ok(visible);
    }
    if !written_tests::supported(session.task) {
        session.note(
            "the task shows no tests and the model cannot write tests for this kind of task: programs are only checked to compile and run cleanly",
        );
        return Ok(clean_run());
    }
    let count = session.params.tests.max(1);
    let tests = write_tests(session, count, Style::Cases)?;
    if tests.is_empty() {
        session.note("the task shows no tests and the model wrote none that parse: programs are only checked to compile and run cleanly");
        return Ok(clean_run());
    }
    session.note(format!(
        "the task shows no tests: falling back to {} model-written tests, which may themselves be wrong",
        tests.len()
    ));
    Ok(Suite {
        source: TestSource::ModelWritten,
        tests: written_tests::suite(session.task, &tests),
    })
}

/// Ask the model for tests; the parsed, syntax-checked ones (possibly none).
fn write_tests(session: &mut Session<'_>, count: usize, style: Style) -> Result<Vec<WrittenTest>> {
    let params = session.params;
    let Some(ask) = written_tests::ask(
        session.task,
        count,
        params.test_samples,
        style,
        params.max_new_tokens.min(512),
    ) else {
        return Ok(Vec::new());
    };
    let Some(answers) = session.ask(ask)? else {
        return Ok(Vec::new());
    };
    let parsed = written_tests::parse(session.task, &answers.answers, count);
    let checked = written_tests::check_syntax(session, parsed)?;
    session.note(format!("model-written tests kept: {}", checked.len()));
    Ok(checked)
}

/// The first programs: `n` of them, greedy when `n == 1` and `greedy`.
fn first_programs(
    session: &mut Session<'_>,
    n: usize,
    greedy: bool,
) -> Result<Option<Vec<CandId>>> {
    let params = session.params;
    let ask = prompts::first(session.task, params.mode, n, greedy, params.max_new_tokens);
    let Some(answers) = session.ask(ask)? else {
        return Ok(None);
    };
    Ok(Some(session.candidates_of(answers.attempt)))
}

/// Judge one attempt's programs on `suite` and announce the verdicts.
fn judge_attempt(
    session: &mut Session<'_>,
    ids: &[CandId],
    suite: &Suite,
) -> Result<Vec<Option<Judged>>> {
    let judged = session.judge(ids, suite)?;
    if let Some(first) = ids.first() {
        session.announce(first.attempt);
    }
    Ok(judged)
}

/// The best of `entries` by verdict (earliest on ties).
fn best_of(entries: &[Entry]) -> Option<usize> {
    (0..entries.len()).max_by_key(|&idx| {
        (
            verdict_key(entries[idx].1.as_ref().map(|j| &j.verdict)),
            std::cmp::Reverse(idx),
        )
    })
}

/// Whether a judged candidate passed.
fn passed(judged: Option<&Judged>) -> bool {
    judged.is_some_and(|j| j.verdict.status.is_pass())
}

/// A compact failure report for the model.
fn feedback(session: &Session<'_>, judged: &Judged) -> String {
    judged.report.render_feedback(session.params.feedback_bytes)
}

/// Most new tokens for a revision of `code`: about twice the program's length (at least 256,
/// at most the strategy's `max_new_tokens`). A corrected program is rarely much longer than
/// the one it corrects; an answer that runs on is the model rambling, and unbounded it costs
/// the whole `max_new_tokens` per sequence for a program that does not even compile.
fn revision_tokens(params: &StrategyParams, code: &str) -> usize {
    // About three characters per token for code.
    (code.len() * 2 / 3).max(256).min(params.max_new_tokens)
}

/// What a revising loop (repair, reflexion, the agent's programmer) has tried. A greedy round
/// that gives back only programs already tried ends the loop: asked again the same way, a
/// greedy model answers the same way again. The 0.5B model does that on most HumanEval
/// failures, and sampling 4 repairs per round instead fixed none of 8 (docs/RESULTS.md);
/// `repairs` above 1 samples every round from the start.
struct Revisions {
    tried: HashSet<String>,
}

impl Revisions {
    fn new(session: &Session<'_>, start: CandId) -> Revisions {
        Revisions {
            tried: HashSet::from([session.code(start).to_owned()]),
        }
    }

    /// The items of a round whose programs are new. `None` when the loop should end: a greedy
    /// round brought nothing new (said in the trace).
    fn fresh<T: Clone>(
        &mut self,
        session: &mut Session<'_>,
        what: &str,
        round: usize,
        items: &[T],
        id: impl Fn(&T) -> CandId,
    ) -> Option<Vec<T>> {
        let fresh: Vec<T> = items
            .iter()
            .filter(|item| self.tried.insert(session.code(id(item)).to_owned()))
            .cloned()
            .collect();
        if fresh.is_empty() && session.params.repairs == 1 {
            session.note(format!(
                "{what} round {round} gave back a program already tried: no more rounds (a greedy model would answer the same again; --repairs N samples N per round)"
            ));
            return None;
        }
        Some(fresh)
    }
}

/// Whether a program judged `new` should replace the best so far, judged `best` on the same
/// tests. On the task's own tests (or a clean run) any better result does. Model-written tests
/// can themselves be wrong (on HumanEval/41 they expected n where the task wants n²), and a
/// program that passes more of them may only share their mistake; so on them a partial gain is
/// not evidence: the new program must pass them all, unless the best so far does not even
/// compile.
fn replaces(new: Option<&Verdict>, best: Option<&Verdict>) -> bool {
    if verdict_key(new) <= verdict_key(best) {
        return false;
    }
    let on_written_tests = new.is_some_and(|v| v.tests == TestSource::ModelWritten);
    if !on_written_tests {
        return true;
    }
    new.is_some_and(|v| v.status.is_pass()) || best.is_none_or(|v| v.status == Status::CompileError)
}

/// The suite a repair after reranking checks against: the visible tests, else the model-written
/// ones the vote used.
fn checking_suite_from(visible: Option<Suite>, written: Option<Suite>) -> Option<Suite> {
    visible.or(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(tests: TestSource, status: Status, passed: usize) -> Verdict {
        Verdict {
            tests,
            status,
            passed,
            total: 4,
        }
    }

    #[test]
    fn partial_gains_count_on_the_tasks_tests_but_not_on_model_written_ones() {
        use Status::{CompileError, Passed, WrongAnswer};
        for source in [TestSource::Visible, TestSource::ModelWritten] {
            let one = verdict(source, WrongAnswer, 1);
            let three = verdict(source, WrongAnswer, 3);
            let all = verdict(source, Passed, 4);
            let broken = verdict(source, CompileError, 0);
            let visible = source == TestSource::Visible;
            assert_eq!(replaces(Some(&three), Some(&one)), visible);
            assert!(replaces(Some(&all), Some(&three)));
            assert!(replaces(Some(&three), Some(&broken)));
            assert!(replaces(Some(&one), None));
            assert!(!replaces(Some(&one), Some(&three)));
            assert!(!replaces(Some(&one), Some(&one)));
        }
    }
}
