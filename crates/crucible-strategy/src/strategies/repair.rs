//! `repair` (Self-Debugging, Chen et al. 2023; self-repair, Olausson et al. 2023): run the
//! program, show the model the compact failure report (optionally after it explains its own
//! code), take the corrected program, repeat. The best program by test results is kept, so a
//! round that makes things worse costs budget but never the answer.

use super::{
    Revisions, best_of, checking_suite, feedback, first_programs, judge_attempt, passed, replaces,
    revision_tokens,
};
use crate::Result;
use crate::prompts;
use crate::session::{CandId, Entry, Judged, Session, Suite};
use crate::trace::Stage;

pub(super) fn run(session: &mut Session<'_>) -> Result<Option<CandId>> {
    let Some(ids) = first_programs(session, 1, true)? else {
        return Ok(None);
    };
    let suite = checking_suite(session)?;
    let judged = judge_attempt(session, &ids, &suite)?;
    let start = (ids[0], judged.into_iter().next().flatten());
    let rounds = session.params.rounds;
    Ok(Some(repair_loop(session, start, &suite, rounds)?))
}

/// Repair a program written outside the run (see [`crate::repair_given`]): it becomes the
/// first attempt, is judged on the checking suite, and goes through the repair loop.
pub(crate) fn repair_given(session: &mut Session<'_>, given: crate::Given) -> Result<CandId> {
    let id = session.given(given);
    let suite = checking_suite(session)?;
    let judged = judge_attempt(session, &[id], &suite)?;
    let start = (id, judged.into_iter().next().flatten());
    let rounds = session.params.rounds;
    repair_loop(session, start, &suite, rounds)
}

/// Up to `rounds` repairs starting from `start` (already judged on `suite`); each round repairs
/// the best program so far, so a round that made things worse (with the 0.5B model: a rambling
/// answer cut off mid-line) is not built on. Returns the best program seen.
pub(crate) fn repair_loop(
    session: &mut Session<'_>,
    start: Entry,
    suite: &Suite,
    rounds: usize,
) -> Result<CandId> {
    let mut best = start;
    let mut revisions = Revisions::new(session, best.0);
    for round in 1..=rounds {
        if passed(best.1.as_ref()) {
            break;
        }
        let Some(judged) = best.1.clone() else {
            break;
        };
        let Some(repaired) = repair_once(session, best.0, &judged, suite)? else {
            break;
        };
        let Some(fresh) = revisions.fresh(session, "repair", round, &repaired, |entry| entry.0)
        else {
            break;
        };
        if fresh.is_empty() {
            continue;
        }
        if fresh.iter().all(|(_, judged)| judged.is_none()) {
            // The execution budget ran out: no later round could be judged either.
            break;
        }
        let Some(top) = best_of(&fresh) else {
            break;
        };
        let round_best = fresh[top].clone();
        let improved = replaces(
            round_best.1.as_ref().map(|j| &j.verdict),
            best.1.as_ref().map(|j| &j.verdict),
        );
        if improved {
            best = round_best;
        }
        tracing::debug!(round, improved, "repair round done");
    }
    Ok(best.0)
}

/// One repair call for `id` asking for `repairs` programs (greedy when 1), with the programs
/// judged; `None` when the budget stops it.
fn repair_once(
    session: &mut Session<'_>,
    id: CandId,
    judged: &Judged,
    suite: &Suite,
) -> Result<Option<Vec<Entry>>> {
    let task = session.task;
    let params = session.params;
    let code = session.code(id).to_owned();
    let report = feedback(session, judged);
    session.set_feedback(id, &report);
    let explanation = if params.explain {
        let messages = prompts::explain(task, &code, &report);
        let ask = prompts::text_ask(Stage::Explain, messages, 256);
        match session.ask(ask)? {
            Some(answers) => answers
                .answers
                .into_iter()
                .next()
                .filter(|t| !t.trim().is_empty()),
            None => return Ok(None),
        }
    } else {
        None
    };
    let messages = prompts::repair(task, &code, &report, explanation.as_deref());
    let max_new = revision_tokens(params, &code);
    let ask = prompts::code_ask(task, Stage::Repair, messages, params.repairs, max_new);
    let Some(answers) = session.ask(ask)? else {
        return Ok(None);
    };
    let ids = session.candidates_of(answers.attempt);
    let results = judge_attempt(session, &ids, suite)?;
    Ok(Some(ids.into_iter().zip(results).collect()))
}
