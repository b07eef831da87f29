//! From a task to candidate programs: prompt, generate, extract. The one path both
//! `crucible generate` and the strategies use to ask a model for code.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use crucible_types::{GenParams, Language, Task};

use crate::prompt::{Exemplar, PromptMode, TaskPrompt, task_prompt};
use crate::{
    Completion, Error, FinishReason, GenRequest, Generation, Generator, Observer, extract_code,
};

/// How to ask for code.
#[derive(Debug, Clone, PartialEq)]
pub struct SolveParams {
    pub mode: PromptMode,
    pub params: GenParams,
}

/// One candidate program.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// The extracted program.
    pub code: String,
    /// The model's whole answer (prefill included), before extraction.
    pub answer: String,
    /// What the model generated (the answer without the prefill and stop suffix).
    pub text: String,
    pub tokens: usize,
    pub finish: FinishReason,
    /// See [`Completion::logprob`](crate::Completion).
    pub logprob: Option<f64>,
}

/// Candidates for one task, with the cost of producing them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidates {
    pub candidates: Vec<Candidate>,
    pub prompt_tokens: usize,
    /// Wall time of the request.
    pub seconds: f64,
    /// Speculative decoding's draft and acceptance counts, when the backend speculated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speculation: Option<crate::SpecStats>,
}

impl Candidates {
    /// The candidates of `generation` (wall time `seconds`): each completion's answer and code
    /// are `read(completion)`'s; the rest is the completion's own.
    pub fn from_generation(
        generation: Generation,
        seconds: f64,
        mut read: impl FnMut(&Completion) -> (String, String),
    ) -> Candidates {
        let candidates = generation
            .completions
            .into_iter()
            .map(|completion| {
                let (answer, code) = read(&completion);
                Candidate {
                    code,
                    answer,
                    text: completion.text,
                    tokens: completion.tokens,
                    finish: completion.finish,
                    logprob: completion.logprob,
                }
            })
            .collect();
        Candidates {
            candidates,
            prompt_tokens: generation.prompt_tokens,
            seconds,
            speculation: generation.speculation,
        }
    }

    /// Generated tokens over all candidates.
    pub fn tokens(&self) -> usize {
        self.candidates.iter().map(|c| c.tokens).sum()
    }
}

/// Ask `generator` for `params.n` programs solving `task`, showing `shots` first.
/// The user's stop sequences are added to the ones the prompt mode needs.
pub fn solve(
    generator: &mut dyn Generator,
    task: &Task,
    shots: &[&Exemplar],
    solve: &SolveParams,
    observer: &mut dyn Observer,
) -> Result<Candidates, Error> {
    let started = Instant::now();
    let prepared = SolveRequest::new(task, shots, solve);
    let generation = generator.generate(&prepared.request, observer)?;
    Ok(prepared.candidates(generation, started.elapsed().as_secs_f64()))
}

/// A task's request, prepared apart from sending it (for [`Generator::generate_many`]): what
/// the model is asked, and how its answers become candidates.
#[derive(Debug, Clone)]
pub struct SolveRequest {
    pub request: GenRequest,
    prompt: TaskPrompt,
    language: Language,
    entry_point: Option<String>,
}

impl SolveRequest {
    /// The request that asks for `params.n` programs solving `task`, showing `shots` first.
    pub fn new(task: &Task, shots: &[&Exemplar], solve: &SolveParams) -> SolveRequest {
        let prompt = task_prompt(task, solve.mode, shots);
        let mut params = solve.params.clone();
        for stop in &prompt.stop {
            if !params.stop.contains(stop) {
                params.stop.push(stop.clone());
            }
        }
        SolveRequest {
            request: GenRequest {
                prompt: prompt.prompt.clone(),
                params,
            },
            prompt,
            language: task.language,
            entry_point: task.entry_point().map(str::to_owned),
        }
    }

    /// The candidates in `generation`, the answer to this request; `seconds` is its wall time.
    pub fn candidates(&self, generation: Generation, seconds: f64) -> Candidates {
        Candidates::from_generation(generation, seconds, |completion| {
            let stopped = completion.finish == FinishReason::Stop;
            let answer = self.prompt.answer(&completion.text, stopped);
            let code = extract_code(&answer, self.language, self.entry_point.as_deref()).code;
            (answer, code)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ScriptedGenerator, Silent};
    use crucible_types::{Decoding, Language, TaskKind, TestSuite};

    #[test]
    fn scripted_answers_become_extracted_programs() {
        let task = Task {
            id: "t".into(),
            language: Language::Python,
            kind: TaskKind::Function {
                prompt: "def inc(x):\n    \"\"\"Add one.\"\"\"\n".into(),
                entry_point: "inc".into(),
            },
            visible: TestSuite::None,
        };
        // The chat prefill is "```python\n": the model continues with code, then prose.
        let mut generator = ScriptedGenerator::new(["def inc(x):\n    return x + 1\n```\nDone."]);
        let params = SolveParams {
            mode: PromptMode::Chat,
            params: GenParams {
                decoding: Decoding::Greedy,
                seed: 0,
                max_new_tokens: 64,
                stop: vec!["<END>".into()],
                n: 1,
            },
        };
        let out = solve(&mut generator, &task, &[], &params, &mut Silent).unwrap();
        assert_eq!(out.candidates[0].code, "def inc(x):\n    return x + 1");
        assert_eq!(generator.requests[0].params.stop, vec!["<END>", "\n```"]);
    }
}
