//! `reflexion` (Shinn et al. 2023): after a failure the model first reflects in words on what
//! went wrong; reflections accumulate in an episodic memory, and each new attempt sees the last
//! program, its failure and every reflection so far.

use super::{
    Revisions, best_of, checking_suite, feedback, first_programs, judge_attempt, passed, replaces,
    revision_tokens,
};
use crate::Result;
use crate::prompts;
use crate::session::{CandId, Entry, Session};
use crate::trace::Stage;

/// Longest reflection kept in memory, in characters; a 0.5B model sometimes rambles.
const MAX_REFLECTION_CHARS: usize = 600;

pub(super) fn run(session: &mut Session<'_>) -> Result<Option<CandId>> {
    let Some(ids) = first_programs(session, 1, true)? else {
        return Ok(None);
    };
    let suite = checking_suite(session)?;
    let judged = judge_attempt(session, &ids, &suite)?;
    let mut best: Entry = (ids[0], judged.into_iter().next().flatten());
    let mut current = best.clone();
    let mut memory: Vec<String> = Vec::new();
    let mut revisions = Revisions::new(session, best.0);
    let task = session.task;
    let params = session.params;
    for round in 1..=params.rounds {
        if passed(best.1.as_ref()) {
            break;
        }
        let Some(judged) = current.1.clone() else {
            break;
        };
        let code = session.code(current.0).to_owned();
        let report = feedback(session, &judged);
        session.set_feedback(current.0, &report);
        let ask = prompts::text_ask(Stage::Reflect, prompts::reflect(task, &code, &report), 200);
        let Some(answers) = session.ask(ask)? else {
            break;
        };
        let reflection: String = answers.answers[0]
            .trim()
            .chars()
            .take(MAX_REFLECTION_CHARS)
            .collect();
        if !reflection.is_empty() {
            memory.push(reflection);
        }
        let messages = prompts::retry(task, &code, &report, &memory);
        let max_new = revision_tokens(params, &code);
        let ask = prompts::code_ask(task, Stage::Retry, messages, params.repairs, max_new);
        let Some(answers) = session.ask(ask)? else {
            break;
        };
        let ids = session.candidates_of(answers.attempt);
        let results = judge_attempt(session, &ids, &suite)?;
        let entries: Vec<Entry> = ids.into_iter().zip(results).collect();
        let Some(entries) = revisions.fresh(session, "retry", round, &entries, |entry| entry.0)
        else {
            break;
        };
        let Some(top) = best_of(&entries) else {
            continue;
        };
        let round_best = entries[top].clone();
        if replaces(
            round_best.1.as_ref().map(|j| &j.verdict),
            best.1.as_ref().map(|j| &j.verdict),
        ) {
            best = round_best.clone();
        }
        current = round_best;
    }
    Ok(Some(best.0))
}
