//! `rerank` (CodeT, Chen et al. 2022) and `rerank+repair`.
//!
//! Programs come from one batched request (sequences share the prompt); the greedy program is
//! tried first and, when it passes the visible tests, nothing else is spent. Otherwise every
//! program runs on the visible tests; the ones with the best visible result are the contenders,
//! and when they differ the model writes tests, every contender runs on them, and dual execution
//! agreement (see `select`) picks one. `rerank+repair` then repairs the choice if it still fails.

use super::{
    checking_suite_from, first_programs, judge_attempt, passed, repair_loop, visible_suite,
    write_tests,
};
use crucible_types::Status;

use crate::Result;
use crate::select::{Score, Voter, agreement, behaviour, choose, overturns, verdict_key};
use crate::session::{CandId, Session, Suite};
use crate::trace::{TestSource, Verdict};
use crate::written_tests::{self, Style};

pub(super) fn run(session: &mut Session<'_>, then_repair: bool) -> Result<Option<CandId>> {
    let params = session.params;
    let visible = visible_suite(session);
    let mut pool: Vec<CandId> = Vec::new();
    if params.greedy_first {
        let Some(ids) = first_programs(session, 1, true)? else {
            return Ok(None);
        };
        pool.extend(&ids);
        if let Some(suite) = &visible {
            let judged = judge_attempt(session, &ids, suite)?;
            if passed(judged[0].as_ref()) {
                session.note("the greedy program passes the visible tests: nothing sampled");
                return Ok(Some(ids[0]));
            }
        }
    }
    let wanted = params.samples.saturating_sub(pool.len());
    if wanted > 0
        && let Some(ids) = first_programs(session, wanted, wanted == 1 && pool.is_empty())?
    {
        match &visible {
            Some(suite) => {
                judge_attempt(session, &ids, suite)?;
            }
            None => session.announce(ids[0].attempt),
        }
        pool.extend(ids);
    }
    if pool.is_empty() {
        return Ok(None);
    }
    let visible_verdicts: Vec<Option<Verdict>> = match &visible {
        Some(suite) => session
            .judge(&pool, suite)?
            .into_iter()
            .map(|j| j.map(|j| j.verdict))
            .collect(),
        None => vec![None; pool.len()],
    };
    let top = pool
        .iter()
        .enumerate()
        .map(|(idx, _)| verdict_key(visible_verdicts[idx].as_ref()))
        .max()
        .expect("the pool is not empty");
    let contenders: Vec<usize> = (0..pool.len())
        .filter(|&idx| verdict_key(visible_verdicts[idx].as_ref()) == top)
        .collect();
    let mut distinct: Vec<&str> = contenders
        .iter()
        .map(|&idx| session.code(pool[idx]))
        .collect();
    distinct.sort_unstable();
    distinct.dedup();
    let distinct = distinct.len();
    let (scores, written) = if distinct > 1 {
        vote(session, &pool, &contenders)?
    } else {
        (vec![(0, 0); pool.len()], None)
    };
    let mut chosen_idx = choose(&visible_verdicts, &scores).expect("the pool is not empty");
    if visible.is_none()
        && params.greedy_first
        && chosen_idx != 0
        && let Some(suite) = &written
    {
        let greedy = session
            .judge(&pool[..1], suite)?
            .into_iter()
            .next()
            .flatten();
        let greedy_broken = greedy.is_none_or(|j| j.verdict.status == Status::CompileError);
        if !overturns(&scores, chosen_idx, greedy_broken) {
            session.note(
                "the task shows no tests and no two programs agree with the model-written tests' favourite: the greedy program is kept",
            );
            chosen_idx = 0;
        }
    }
    let chosen = pool[chosen_idx];
    let (score, members) = scores[chosen_idx];
    session.note(format!(
        "chosen: attempt {} sequence {} of {} programs ({} distinct among the {} with the best visible result); consensus set of {members} program(s), score {score}",
        chosen.attempt,
        chosen.seq + 1,
        pool.len(),
        distinct,
        contenders.len(),
    ));
    if !then_repair {
        return Ok(Some(chosen));
    }
    let Some(suite) = checking_suite_from(visible, written) else {
        session.note("no tests to repair against: the chosen program is kept as it is");
        return Ok(Some(chosen));
    };
    let start = session
        .judge(&[chosen], &suite)?
        .into_iter()
        .next()
        .flatten();
    if passed(start.as_ref()) {
        return Ok(Some(chosen));
    }
    let rounds = params.rounds;
    Ok(Some(repair_loop(session, (chosen, start), &suite, rounds)?))
}

/// Dual execution agreement among `contenders` on tests the model writes. Returns every pool
/// entry's score (non-contenders score nothing) and the model-written suite, if there is one.
fn vote(
    session: &mut Session<'_>,
    pool: &[CandId],
    contenders: &[usize],
) -> Result<(Vec<Score>, Option<Suite>)> {
    let mut scores = vec![(0, 0); pool.len()];
    if !written_tests::supported(session.task) {
        session.note("the model cannot write tests for this kind of task: no agreement vote, the earliest contender is chosen");
        return Ok((scores, None));
    }
    let tests = write_tests(session, session.params.tests.max(1), Style::Cases)?;
    if tests.is_empty() {
        return Ok((scores, None));
    }
    let suite = Suite {
        source: TestSource::ModelWritten,
        tests: written_tests::suite(session.task, &tests),
    };
    let ids: Vec<CandId> = contenders.iter().map(|&idx| pool[idx]).collect();
    let judged = session.judge(&ids, &suite)?;
    let voters: Vec<Voter> = judged
        .iter()
        .map(|j| Voter {
            behaviour: j.as_ref().map(|j| behaviour(&j.report, tests.len())),
        })
        .collect();
    for (&idx, score) in contenders.iter().zip(agreement(&voters)) {
        scores[idx] = score;
    }
    Ok((scores, Some(suite)))
}
