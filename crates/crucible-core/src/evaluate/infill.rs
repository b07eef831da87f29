//! The requests of plain decoding: a task's prompt in the run's prompt mode
//! ([`SolveRequest`]), or for an infilling task (HumanEval-infilling's
//! [`Harness::Infill`]) a fill-in-the-middle prompt with the code before and after the gap, whose
//! answer is the gap's text (no code block to extract), up to where the function's body ends:
//! every gap lies inside an indented function body, so a line that starts in the first column
//! (`def`, `print(...)`, a closing code fence a chat-tuned model adds) is past the gap. This is
//! the structural fact behind Codex's HumanEval stop sequences (`\ndef`, `\nclass`, `\nif`,
//! `\nprint`, `\n#`); no reference gap of the four files has such a line.

use crucible_eval::{Benchmark, BenchmarkTask, Harness};
use crucible_infer::{
    Candidates, FimTokens, GenRequest, Generation, Generator, Infill, Prompt, SolveParams,
    SolveRequest,
};

use crate::{Error, Result};

/// One request of a plain-decoding run, prepared for its task.
pub(super) enum Prepared {
    Solve(Box<SolveRequest>),
    Fill {
        request: Box<GenRequest>,
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
            return Prepared::Solve(Box::new(SolveRequest::new(&task.task, &[], solve)));
        };
        let prefix = match &task.task.kind {
            crucible_types::TaskKind::Function { prompt, .. } => prompt.clone(),
            _ => String::new(),
        };
        let mut params = solve.params.clone();
        let stops: &[&str] = if *one_line { &["\n"] } else { BODY_ENDS };
        for stop in stops {
            if !params.stop.iter().any(|given| given == stop) {
                params.stop.push((*stop).to_owned());
            }
        }
        Prepared::Fill {
            request: Box::new(GenRequest {
                prompt: Prompt::Fill {
                    tokens: tokens.clone(),
                    infill: Box::new(Infill {
                        prefix,
                        suffix: suffix.clone(),
                        ..Infill::default()
                    }),
                },
                params,
            }),
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
        Candidates::from_generation(generation, seconds, |completion| {
            (
                completion.text.clone(),
                gap_text(&completion.text, one_line),
            )
        })
    }
}

/// Stop sequences that end decoding where a body-ending line starts (they save decoding; the
/// cut itself is [`gap_text`]'s).
const BODY_ENDS: &[&str] = &["\ndef ", "\nclass ", "\nif ", "\nprint(", "\n#", "\n```"];

/// The text that goes into the gap: for a one-line gap the answer's first line with the line's
/// newline (the code after the gap starts on the next line, so a line without its newline would
/// run into it); otherwise the answer up to the first line that starts in the first column.
fn gap_text(answer: &str, one_line: bool) -> String {
    if one_line {
        let line = answer.split('\n').next().unwrap_or_default();
        return format!("{line}\n");
    }
    let bytes = answer.as_bytes();
    let end = (0..bytes.len())
        .find(|&at| {
            bytes[at] == b'\n' && bytes.get(at + 1).is_some_and(|c| !c.is_ascii_whitespace())
        })
        .map_or(answer.len(), |at| at + 1);
    answer[..end].to_owned()
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
        // A gap of several lines ends where a line starts in the first column.
        let rambling = "    x = 1\n\n    return x\n\n# Test\nprint(f(2))\n";
        assert_eq!(gap_text(rambling, false), "    x = 1\n\n    return x\n\n");
        assert_eq!(gap_text("    a\n```\nprose", false), "    a\n");
        // A span may start and end inside a line.
        assert_eq!(
            gap_text("b + 1)\n        if x", false),
            "b + 1)\n        if x"
        );
        assert_eq!(gap_text("", false), "");
    }
}
