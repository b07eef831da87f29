//! `plain`: one program, greedy; run on the visible tests only so the result can say how it did.

use super::{clean_run, first_programs, judge_attempt, visible_suite};
use crate::Result;
use crate::session::{CandId, Session};

pub(super) fn run(session: &mut Session<'_>) -> Result<Option<CandId>> {
    let Some(ids) = first_programs(session, 1, true)? else {
        return Ok(None);
    };
    let suite = visible_suite(session).unwrap_or_else(clean_run);
    judge_attempt(session, &ids, &suite)?;
    Ok(ids.first().copied())
}
