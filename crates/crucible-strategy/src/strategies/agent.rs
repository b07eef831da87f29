//! `agent` (AgentCoder, Huang et al. 2023): three roles as separate prompts in one loop. The
//! programmer writes the code; the test designer, who never sees the code, writes tests from the
//! task (basic, edge and larger cases); the test executor runs the code on those tests and the
//! task's own examples and reports back to the programmer, who revises. The loop ends when both
//! sets pass or the rounds run out; the best program ranks visible tests first, then the
//! designer's tests.

use super::{
    Revisions, clean_run, feedback, first_programs, judge_attempt, passed, replaces,
    revision_tokens, visible_suite, write_tests,
};
use crate::Result;
use crate::prompts;
use crate::select::{VerdictKey, verdict_key};
use crate::session::{CandId, Judged, Session, Suite};
use crate::trace::{Stage, TestSource};
use crate::written_tests::{self, Style};

/// A program's results on the task's examples and on the designer's tests.
#[derive(Debug, Clone)]
struct Checked {
    id: CandId,
    visible: Option<Judged>,
    designed: Option<Judged>,
}

pub(super) fn run(session: &mut Session<'_>) -> Result<Option<CandId>> {
    let Some(ids) = first_programs(session, 1, true)? else {
        return Ok(None);
    };
    let mut visible = visible_suite(session);
    let designed = if written_tests::supported(session.task) {
        let count = session.params.tests.max(1);
        let tests = write_tests(session, count, Style::Designer)?;
        (!tests.is_empty()).then(|| Suite {
            source: TestSource::ModelWritten,
            tests: written_tests::suite(session.task, &tests),
        })
    } else {
        session.note("the test designer cannot write tests for this kind of task");
        None
    };
    if visible.is_none() && designed.is_none() {
        session.note("no tests at all: programs are only checked to compile and run cleanly");
        visible = Some(clean_run());
    }
    let suites = (visible, designed);
    let mut current = execute(session, ids[0], &suites)?;
    let mut best = current.clone();
    let mut revisions = Revisions::new(session, current.id);
    let task = session.task;
    let params = session.params;
    for round in 1..=params.rounds {
        if all_passed(&best) {
            break;
        }
        if current.visible.is_none() && current.designed.is_none() {
            break;
        }
        let report = executor_report(session, &current);
        session.set_feedback(current.id, &report);
        let code = session.code(current.id).to_owned();
        let messages = prompts::programmer_fix(task, &code, &report);
        let max_new = revision_tokens(params, &code);
        let ask = prompts::code_ask(task, Stage::Repair, messages, params.repairs, max_new);
        let Some(answers) = session.ask(ask)? else {
            break;
        };
        let ids = session.candidates_of(answers.attempt);
        let Some(ids) = revisions.fresh(session, "revision", round, &ids, |id| *id) else {
            break;
        };
        let mut checked: Vec<Checked> = Vec::new();
        for id in ids {
            checked.push(execute(session, id, &suites)?);
        }
        let Some(round_best) = checked.into_iter().rev().max_by_key(rank) else {
            continue;
        };
        if improves(&round_best, &best) {
            best = round_best.clone();
        }
        current = round_best;
    }
    Ok(Some(best.id))
}

/// The test executor: run the program on the examples and on the designer's tests.
fn execute(
    session: &mut Session<'_>,
    id: CandId,
    (visible, designed): &(Option<Suite>, Option<Suite>),
) -> Result<Checked> {
    let mut checked = Checked {
        id,
        visible: None,
        designed: None,
    };
    if let Some(suite) = visible {
        checked.visible = judge_attempt(session, &[id], suite)?
            .into_iter()
            .next()
            .flatten();
    }
    if let Some(suite) = designed {
        checked.designed = session.judge(&[id], suite)?.into_iter().next().flatten();
    }
    Ok(checked)
}

type Rank = (VerdictKey, VerdictKey);

fn rank(checked: &Checked) -> Rank {
    (
        verdict_key(checked.visible.as_ref().map(|j| &j.verdict)),
        verdict_key(checked.designed.as_ref().map(|j| &j.verdict)),
    )
}

/// Whether `new` should replace `best`: a better result on the task's examples does; on equal
/// examples, the designer's tests decide, by the rule for model-written tests (`replaces`).
fn improves(new: &Checked, best: &Checked) -> bool {
    let (new_rank, best_rank) = (rank(new), rank(best));
    if new_rank.0 != best_rank.0 {
        return new_rank.0 > best_rank.0;
    }
    replaces(
        new.designed.as_ref().map(|j| &j.verdict),
        best.designed.as_ref().map(|j| &j.verdict),
    )
}

fn all_passed(checked: &Checked) -> bool {
    let visible_ok = checked.visible.is_none() || passed(checked.visible.as_ref());
    let designed_ok = checked.designed.is_none() || passed(checked.designed.as_ref());
    visible_ok && designed_ok
}

/// What the test executor tells the programmer: each failing set's compact report.
fn executor_report(session: &Session<'_>, checked: &Checked) -> String {
    let mut parts = Vec::new();
    if let Some(judged) = &checked.visible
        && !judged.verdict.status.is_pass()
    {
        parts.push(format!("Task examples:\n{}", feedback(session, judged)));
    }
    if let Some(judged) = &checked.designed
        && !judged.verdict.status.is_pass()
    {
        parts.push(format!(
            "Test designer's tests:\n{}",
            feedback(session, judged)
        ));
    }
    parts.join("\n")
}
