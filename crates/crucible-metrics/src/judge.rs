//! LLM-as-a-judge in the style of ICE-Score (Zhuo 2024): a model grades code for usefulness and for functional correctness, 0 to 4.
//!
//! Each aspect is one request: the problem, optionally a reference solution, the code, the
//! aspect's 0-4 scale with what each grade means, and the steps to follow; the judge is asked
//! to reason briefly and end with `Score: N`. Decoding is greedy, so a judge run is
//! reproducible with the same model.
//!
//! The judge's answer is model output: whatever it writes becomes a [`JudgeVerdict`]. A score
//! is read from the last `score: N` (any case, `N` in 0-4, decimals allowed), else the last
//! `N/4` or `N out of 4`, else an answer that is just a number; anything else, or a number
//! outside 0-4, is [`JudgeVerdict::Unparsed`] with the raw text kept, and a backend failure
//! for one request is [`JudgeVerdict::Failed`]. Only cancellation stops a judge run.

use std::ops::ControlFlow;

use crucible_infer::{
    Error as InferError, Feed, GenRequest, Generation, Generator, Message, Observer, Prompt, Role,
};
use crucible_types::{Decoding, GenParams};
use serde::{Deserialize, Serialize};

/// What the judge grades.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Aspect {
    /// How useful the code is for solving the problem (0: useless, 4: very useful).
    Usefulness,
    /// Whether the code computes what the problem asks (0: wrong on everything, 4: correct).
    FunctionalCorrectness,
}

impl Aspect {
    /// Both aspects, in report order.
    pub const ALL: [Aspect; 2] = [Aspect::Usefulness, Aspect::FunctionalCorrectness];

    fn title(self) -> &'static str {
        match self {
            Aspect::Usefulness => "Usefulness",
            Aspect::FunctionalCorrectness => "Functional correctness",
        }
    }

    fn scale(self) -> &'static str {
        match self {
            Aspect::Usefulness => {
                "- 0: the code does not help with the problem at all.\n\
                 - 1: the code touches the problem but would need most of it rewritten.\n\
                 - 2: the code is a partial solution that needs substantial changes.\n\
                 - 3: the code solves most of the problem; small fixes are needed.\n\
                 - 4: the code solves the problem and can be used as it is."
            }
            Aspect::FunctionalCorrectness => {
                "- 0: the code computes the wrong thing for every input.\n\
                 - 1: the code is right only for trivial inputs.\n\
                 - 2: the code is right for some inputs and wrong for common ones.\n\
                 - 3: the code is right for common inputs and wrong for some edge cases.\n\
                 - 4: the code is right for every input the problem allows."
            }
        }
    }
}

/// What is judged.
#[derive(Debug, Clone, Copy)]
pub struct JudgeInput<'a> {
    /// The problem statement (e.g. the task's prompt).
    pub problem: &'a str,
    /// The code to grade.
    pub code: &'a str,
    /// A reference solution to compare with, if the judge may see one.
    pub reference: Option<&'a str>,
    /// The language's name, for the prompt.
    pub language: &'a str,
}

/// The judge's knobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct JudgeParams {
    /// Seed passed to the backend (decoding is greedy; the seed matters only to backends that
    /// break ties randomly).
    pub seed: u64,
    /// Room for the reasoning and the score.
    pub max_new_tokens: usize,
}

/// The judge's grade for one aspect.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum JudgeVerdict {
    /// A score in [0, 4] and the judge's answer (its reasoning).
    Scored {
        /// The grade.
        score: f64,
        /// The judge's whole answer.
        reasoning: String,
    },
    /// The answer had no readable score.
    Unparsed {
        /// The judge's whole answer.
        raw: String,
        /// What was wrong with it.
        reason: String,
    },
    /// The backend failed on this request.
    Failed {
        /// The backend's error.
        error: String,
    },
}

impl JudgeVerdict {
    /// The score, if the judge gave a readable one.
    pub fn score(&self) -> Option<f64> {
        match self {
            JudgeVerdict::Scored { score, .. } => Some(*score),
            _ => None,
        }
    }
}

/// Both aspects' verdicts for one sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JudgeResult {
    /// Usefulness, 0-4.
    pub usefulness: JudgeVerdict,
    /// Functional correctness, 0-4.
    pub functional_correctness: JudgeVerdict,
}

/// The chat prompt asking for one aspect.
pub fn judge_prompt(aspect: Aspect, input: &JudgeInput<'_>) -> Prompt {
    let system = "You are a careful reviewer of code. You grade code against a problem statement \
                  on a scale from 0 to 4 and explain your grade in a few sentences.";
    let mut user = format!(
        "Grade the {language} code below for {aspect}.\n\n## Problem\n{problem}\n",
        language = input.language,
        aspect = aspect.title().to_lowercase(),
        problem = input.problem.trim(),
    );
    if let Some(reference) = input.reference {
        user.push_str(&format!(
            "\n## Reference solution (correct; other correct solutions may differ from it)\n```\n{}\n```\n",
            reference.trim()
        ));
    }
    user.push_str(&format!(
        "\n## Code to grade\n```\n{code}\n```\n\n## {title} scale\n{scale}\n\n## Steps\n\
         1. Read the problem and work out what a correct solution must do.\n\
         2. Read the code and check it against that, input by input.\n\
         3. Choose the grade whose description fits best.\n\n\
         Answer with two or three sentences of reasoning, then a last line `Score: N` with N from 0 to 4.",
        code = input.code.trim(),
        title = aspect.title(),
        scale = aspect.scale(),
    ));
    Prompt::Chat {
        messages: vec![
            Message {
                role: Role::System,
                content: system.to_string(),
            },
            Message {
                role: Role::User,
                content: user,
            },
        ],
        prefill: String::new(),
    }
}

/// Grade one sample on both aspects. Only cancellation is an error; every other outcome is a
/// verdict.
pub fn judge(
    generator: &mut dyn Generator,
    input: &JudgeInput<'_>,
    params: JudgeParams,
    observer: &mut dyn Observer,
) -> Result<JudgeResult, InferError> {
    let mut result = None;
    judge_many(
        generator,
        std::slice::from_ref(input),
        params,
        1,
        &mut |_, judged| {
            result = Some(judged);
            ControlFlow::Continue(())
        },
        observer,
    )?;
    Ok(result.unwrap_or_else(|| JudgeResult {
        usefulness: no_verdict(),
        functional_correctness: no_verdict(),
    }))
}

/// Grade many samples on both aspects, their requests decoded together
/// ([`Generator::generate_many`], up to `max_sequences` at once). `done(index, result)` is
/// called as each sample's two grades are in (in any order); returning `Break` stops the
/// call. Only cancellation is an error; a sample whose requests were never answered (the
/// call stopped early) is not reported.
pub fn judge_many(
    generator: &mut dyn Generator,
    inputs: &[JudgeInput<'_>],
    params: JudgeParams,
    max_sequences: usize,
    done: &mut dyn FnMut(usize, JudgeResult) -> ControlFlow<()>,
    observer: &mut dyn Observer,
) -> Result<(), InferError> {
    let mut feed = JudgeFeed {
        inputs,
        params,
        next: 0,
        pending: vec![Slot::default(); inputs.len()],
        stopped: false,
        done,
    };
    match generator.generate_many(&mut feed, max_sequences.max(1), observer) {
        Err(InferError::Cancelled) => Err(InferError::Cancelled),
        // Any other error that ends the call is the failure of every request it left
        // unanswered, among the samples it had started on.
        Err(error) if !feed.stopped => {
            let failed = JudgeVerdict::Failed {
                error: error.to_string(),
            };
            for index in 0..inputs.len().min(feed.next.div_ceil(2)) {
                let slot = &feed.pending[index];
                if slot.reported {
                    continue;
                }
                let [usefulness, correctness] = slot.verdicts.clone();
                let result = JudgeResult {
                    usefulness: usefulness.unwrap_or_else(|| failed.clone()),
                    functional_correctness: correctness.unwrap_or_else(|| failed.clone()),
                };
                if (feed.done)(index, result).is_break() {
                    break;
                }
            }
            Ok(())
        }
        Err(_) => Ok(()),
        Ok(()) => Ok(()),
    }
}

/// The two requests of each input, in order (request `2i` is input `i`'s usefulness, `2i + 1`
/// its functional correctness), and the grades as they come back.
struct JudgeFeed<'a, 'b> {
    inputs: &'a [JudgeInput<'a>],
    params: JudgeParams,
    /// Requests handed out so far.
    next: usize,
    pending: Vec<Slot>,
    /// `done` asked to stop.
    stopped: bool,
    done: &'b mut dyn FnMut(usize, JudgeResult) -> ControlFlow<()>,
}

/// One input's grades so far.
#[derive(Debug, Clone, Default)]
struct Slot {
    verdicts: [Option<JudgeVerdict>; 2],
    /// Handed to `done`.
    reported: bool,
}

impl Feed for JudgeFeed<'_, '_> {
    fn next_request(&mut self, _wait: bool) -> Option<GenRequest> {
        let input = self.inputs.get(self.next / 2)?;
        let aspect = Aspect::ALL[self.next % 2];
        self.next += 1;
        Some(GenRequest {
            prompt: judge_prompt(aspect, input),
            params: GenParams {
                decoding: Decoding::Greedy,
                seed: self.params.seed,
                max_new_tokens: self.params.max_new_tokens,
                stop: Vec::new(),
                n: 1,
            },
        })
    }

    fn finished(&mut self, id: usize, result: Result<Generation, InferError>) -> ControlFlow<()> {
        let verdict = match result {
            Err(error) => JudgeVerdict::Failed {
                error: error.to_string(),
            },
            Ok(generation) => match generation.completions.into_iter().next() {
                None => JudgeVerdict::Failed {
                    error: "the backend returned no completion".to_string(),
                },
                Some(completion) => verdict_of(completion.text),
            },
        };
        let index = id / 2;
        let Some(slot) = self.pending.get_mut(index) else {
            return ControlFlow::Continue(());
        };
        slot.verdicts[id % 2] = Some(verdict);
        let [Some(usefulness), Some(functional_correctness)] = &slot.verdicts else {
            return ControlFlow::Continue(());
        };
        let result = JudgeResult {
            usefulness: usefulness.clone(),
            functional_correctness: functional_correctness.clone(),
        };
        slot.reported = true;
        let flow = (self.done)(index, result);
        self.stopped = flow.is_break();
        flow
    }
}

fn no_verdict() -> JudgeVerdict {
    JudgeVerdict::Failed {
        error: "no verdict".to_string(),
    }
}

fn verdict_of(text: String) -> JudgeVerdict {
    match parse_score(&text) {
        Ok(score) => JudgeVerdict::Scored {
            score,
            reasoning: text,
        },
        Err(reason) => JudgeVerdict::Unparsed { raw: text, reason },
    }
}

/// Read the judge's score from its answer (see the module docs for the rules).
pub fn parse_score(text: &str) -> Result<f64, String> {
    let lower = text.to_lowercase();
    let labelled = lower.rmatch_indices("score").find_map(|(at, label)| {
        let rest = lower[at + label.len()..].trim_start_matches(|c: char| {
            c == '*' || c == ':' || c == '=' || c == ' ' || c == '\t' || c == '"'
        });
        leading_number(rest)
    });
    let out_of_four = || {
        lower.rmatch_indices(['/', 'o']).find_map(|(at, _)| {
            let rest = &lower[at..];
            let is_scale =
                rest.starts_with("/4") || rest.starts_with("/ 4") || rest.starts_with("out of 4");
            if !is_scale {
                return None;
            }
            trailing_number(lower[..at].trim_end())
        })
    };
    let bare = || leading_number(lower.trim()).filter(|(_, used)| *used == lower.trim().len());
    let found = labelled.or_else(out_of_four).or_else(bare);
    let Some((score, _)) = found else {
        return Err(
            "no score in the answer (expected a last line `Score: N`, N from 0 to 4)".to_string(),
        );
    };
    if !(0.0..=4.0).contains(&score) {
        return Err(format!("score {score} is outside 0-4"));
    }
    Ok(score)
}

/// A number at the start of `text`, and how many bytes it took.
fn leading_number(text: &str) -> Option<(f64, usize)> {
    let end = text
        .char_indices()
        .find(|(at, c)| !(c.is_ascii_digit() || (*c == '.' && *at > 0)))
        .map_or(text.len(), |(at, _)| at);
    let number = text[..end].trim_end_matches('.');
    number
        .parse::<f64>()
        .ok()
        .map(|value| (value, number.len()))
}

/// A number at the end of `text`.
fn trailing_number(text: &str) -> Option<(f64, usize)> {
    let start = text
        .char_indices()
        .rev()
        .find(|(_, c)| !(c.is_ascii_digit() || *c == '.'))
        .map_or(0, |(at, c)| at + c.len_utf8());
    let number = &text[start..];
    number
        .parse::<f64>()
        .ok()
        .map(|value| (value, number.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crucible_infer::{ScriptedGenerator, Silent};

    #[test]
    fn scores_are_read_from_common_answer_shapes() {
        assert_eq!(parse_score("The loop is off by one.\nScore: 2"), Ok(2.0));
        assert_eq!(parse_score("**Score:** 3.5\n"), Ok(3.5));
        assert_eq!(parse_score("I would give it 3/4."), Ok(3.0));
        assert_eq!(parse_score("Overall 1 out of 4"), Ok(1.0));
        assert_eq!(parse_score("4"), Ok(4.0));
        // The last labelled score wins over an earlier mention.
        assert_eq!(
            parse_score("A score of 4 would need tests.\nScore: 1"),
            Ok(1.0)
        );
    }

    #[test]
    fn unreadable_or_out_of_range_scores_are_unparsed() {
        assert!(parse_score("Looks fine to me.").is_err());
        assert_eq!(
            parse_score("Score: 7"),
            Err("score 7 is outside 0-4".to_string())
        );
        assert!(parse_score("").is_err());
        assert!(parse_score("Score: high").is_err());
    }

    #[test]
    fn judging_with_a_scripted_model_records_every_outcome() {
        let mut generator = ScriptedGenerator::new([
            "It solves the task.\nScore: 4",
            "I cannot tell without running it.",
        ]);
        let input = JudgeInput {
            problem: "Return the sum of a and b.",
            code: "def add(a, b):\n    return a + b",
            reference: Some("def add(a, b): return a + b"),
            language: "python",
        };
        let params = JudgeParams {
            seed: 0,
            max_new_tokens: 256,
        };
        let got = judge(&mut generator, &input, params, &mut Silent).unwrap();
        assert_eq!(got.usefulness.score(), Some(4.0));
        assert!(matches!(
            got.functional_correctness,
            JudgeVerdict::Unparsed { .. }
        ));
        // Both prompts carry the problem, the code and the reference, and name their aspect.
        assert_eq!(generator.requests.len(), 2);
        let Prompt::Chat { messages, .. } = &generator.requests[1].prompt else {
            panic!("chat prompt expected");
        };
        let user = &messages[1].content;
        assert!(user.contains("functional correctness") && user.contains("return a + b"));
        assert!(user.contains("Reference solution"));

        // A script that runs out is a backend failure, recorded, not a panic.
        let mut empty = ScriptedGenerator::new(Vec::<String>::new());
        let got = judge(&mut empty, &input, params, &mut Silent).unwrap();
        assert!(matches!(got.usefulness, JudgeVerdict::Failed { .. }));
    }

    #[test]
    fn many_samples_are_judged_together_and_each_reported_once() {
        // Every answer names the aspect and the code it was asked about.
        let mut generator = ScriptedGenerator::from_fn(|request, _| {
            let Prompt::Chat { messages, .. } = &request.prompt else {
                return None;
            };
            let user = &messages[1].content;
            let code = if user.contains("return 1") { 1 } else { 2 };
            let grade = if user.contains("for usefulness") {
                4
            } else {
                code
            };
            Some(format!("Checked.\nScore: {grade}"))
        })
        .batching(std::time::Duration::from_millis(1));
        let inputs: Vec<JudgeInput<'_>> = ["def f():\n    return 1", "def f():\n    return 2"]
            .iter()
            .map(|code| JudgeInput {
                problem: "Return 1.",
                code,
                reference: None,
                language: "python",
            })
            .collect();
        let params = JudgeParams {
            seed: 0,
            max_new_tokens: 64,
        };
        let mut got = Vec::new();
        judge_many(
            &mut generator,
            &inputs,
            params,
            8,
            &mut |index, result| {
                got.push((index, result));
                ControlFlow::Continue(())
            },
            &mut Silent,
        )
        .unwrap();
        got.sort_by_key(|(index, _)| *index);
        let grades: Vec<(usize, Option<f64>, Option<f64>)> = got
            .iter()
            .map(|(i, r)| (*i, r.usefulness.score(), r.functional_correctness.score()))
            .collect();
        assert_eq!(
            grades,
            [(0, Some(4.0), Some(1.0)), (1, Some(4.0), Some(2.0))]
        );
        // All four requests went out in one step.
        assert_eq!(generator.steps, [4]);
        assert!(
            generator
                .requests
                .iter()
                .all(|r| r.params.decoding == Decoding::Greedy)
        );
    }
}
