//! The requests of plain decoding: a task's prompt in the run's prompt mode
//! ([`SolveRequest`]), or for an infilling task (HumanEval-infilling's
//! [`Harness::Infill`]) a fill-in-the-middle prompt with the code before and after the gap, whose
//! answer is the gap's text as it is (no code block to extract).

use crucible_eval::{Benchmark, BenchmarkTask, Harness};
use crucible_infer::{
    Candidate, Candidates, FimTokens, GenRequest, Generation, Generator, Infill, Prompt,
    SolveParams, SolveRequest,
};

use crate::{Error, Result};

/// One request of a plain-decoding run, prepared for its task.
pub(super) enum Prepared {
    Solve(SolveRequest),
    Fill {
        request: GenRequest,
        /// The gap is one line: the answer is cut after its first line.
        one_line: bool,
    },
}

impl Prepared {
    /// The request for `task` decoded with `solve`; `fim` is the model's fill-in-the-middle
    /// tokens (checked by [`check_fim`] before a run with infilling tasks starts).
    pub(super) fn new(
        task: &BenchmarkTask,
        solve: &SolveParams,
        fim: Option<&FimTokens>,
    ) -> Prepared {
        let (Harness::Infill { suffix, one_line }, Some(tokens)) = (&task.harness, fim) else {
            return Prepared::Solve(SolveRequest::new(&task.task, &[], solve));
        };
        let prefix = match &task.task.kind {
            crucible_types::TaskKind::Function { prompt, .. } => prompt.clone(),
            _ => String::new(),
        };
        let mut params = solve.params.clone();
        if *one_line && !params.stop.iter().any(|stop| stop == "\n") {
            params.stop.push("\n".into());
        }
        Prepared::Fill {
            request: GenRequest {
                prompt: Prompt::Fill {
                    tokens: tokens.clone(),
                    infill: Box::new(Infill {
                        prefix,
                        suffix: suffix.clone(),
                        ..Infill::default()
                    }),
                },
                params,
            },
            one_line: *one_line,
        }
    }

    pub(super) fn request(&self) -> &GenRequest {
        match self {
            Prepared::Solve(solve) => &solve.request,
            Prepared::Fill { request, .. } => request,
        }
    }

    /// The candidates in `generation`, the answer to this request; `seconds` is its wall time.
    pub(super) fn candidates(&self, generation: Generation, seconds: f64) -> Candidates {
        let one_line = match self {
            Prepared::Solve(solve) => return solve.candidates(generation, seconds),
            Prepared::Fill { one_line, .. } => *one_line,
        };
        let candidates = generation
            .completions
            .into_iter()
            .map(|completion| Candidate {
                code: gap_text(&completion.text, one_line),
                answer: completion.text.clone(),
                text: completion.text,
                tokens: completion.tokens,
                finish: completion.finish,
                logprob: completion.logprob,
            })
            .collect();
        Candidates {
            candidates,
            prompt_tokens: generation.prompt_tokens,
            seconds,
            speculation: generation.speculation,
        }
    }
}

/// The text that goes into the gap: the answer as it is, or for a one-line gap its first line
/// with the line's newline (the code after the gap starts on the next line, so a line without
/// its newline would run into it).
fn gap_text(answer: &str, one_line: bool) -> String {
    if !one_line {
        return answer.to_owned();
    }
    let line = answer.split('\n').next().unwrap_or_default();
    format!("{line}\n")
}

/// Refuse a run that cannot fill `bench`'s gaps: infilling tasks need the model's
/// fill-in-the-middle tokens, and plain decoding (no strategy).
pub(super) fn check_fim(
    generator: &dyn Generator,
    bench: &Benchmark,
    strategy: bool,
) -> Result<()> {
    let infilling = bench
        .tasks
        .iter()
        .any(|task| matches!(task.harness, Harness::Infill { .. }));
    if !infilling {
        return Ok(());
    }
    if strategy {
        return Err(Error::InfillStrategy {
            benchmark: bench.name.to_string(),
        });
    }
    if generator.fim_tokens().is_none() {
        return Err(Error::InfillNeedsFim {
            benchmark: bench.name.to_string(),
            model: generator.info().name.clone(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_one_line_gap_takes_the_first_line_and_its_newline() {
        assert_eq!(
            gap_text("    return x\n    y = 2\n", true),
            "    return x\n"
        );
        assert_eq!(gap_text("    return x", true), "    return x\n");
        assert_eq!(gap_text("", true), "\n");
        assert_eq!(gap_text("a\nb", false), "a\nb");
    }
}
