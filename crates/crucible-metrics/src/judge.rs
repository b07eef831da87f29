//! LLM-as-a-judge in the style of ICE-Score (Zhuo 2024): a model grades code for usefulness and for functional correctness, 0 to 4.
//!
//! Each aspect is one request: the problem, optionally a reference solution, the code, the
//! aspect's 0-4 scale with what each grade means, and the steps to follow; the judge is asked
//! to reason briefly and end with `Score: N`. Decoding is greedy, so a judge run is
//! reproducible with the same model.
//!
//! The judge's answer is model output: whatever it writes becomes a [`JudgeVerdict`]. A score
//! is read from the last `score: N` or `grade: N` / `grade is N` (any case, `N` in 0-4,
//! decimals allowed), else the last `N/4` or `N out of 4`, else an answer that is just a
//! number. Small models often reason well enough but do not end with the line asked for; such
//! an answer gets one follow-up request: the same prompt with the judge's own answer prefilled
//! and `Score: ` after it, a few tokens, so the grade it gives is the one its reasoning leads
//! to ([`JudgeVerdict::Scored::asked`] marks it). Anything still unreadable, or a number
//! outside 0-4, is [`JudgeVerdict::Unparsed`] with the raw text kept, and a backend failure
//! for one request is [`JudgeVerdict::Failed`]. Only cancellation stops a judge run.

use std::collections::VecDeque;
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
        /// The judge's whole answer (with an asked-for grade: the answer, then `Score: ` and
        /// what followed it).
        reasoning: String,
        /// The answer gave no readable grade, so the grade was asked for after it.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        asked: bool,
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

/// What follows the judge's answer in the follow-up request that asks for its grade.
const ASK_SCORE: &str = "\n\nScore: ";

/// Most new tokens of the follow-up request (a grade such as `3.5` and the line's end).
const ASK_TOKENS: usize = 4;

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
        requests: Vec::new(),
        follow_ups: VecDeque::new(),
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
                // (`next` counts first requests only: follow-ups belong to started inputs.)
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

/// The two requests of each input (first request `2i` is input `i`'s usefulness, `2i + 1` its
/// functional correctness), the follow-ups asking for a grade the answer left out, and the
/// grades as they come back.
struct JudgeFeed<'a, 'b> {
    inputs: &'a [JudgeInput<'a>],
    params: JudgeParams,
    /// First requests handed out so far.
    next: usize,
    /// What each request handed out (by request id) asks.
    requests: Vec<Asked>,
    /// Follow-ups waiting to go out.
    follow_ups: VecDeque<Asked>,
    pending: Vec<Slot>,
    /// `done` asked to stop.
    stopped: bool,
    done: &'b mut dyn FnMut(usize, JudgeResult) -> ControlFlow<()>,
}

/// One request: an input's aspect, and for a follow-up the judge's first answer.
#[derive(Debug, Clone)]
struct Asked {
    input: usize,
    aspect: usize,
    answer: Option<String>,
}

/// One input's grades so far.
#[derive(Debug, Clone, Default)]
struct Slot {
    verdicts: [Option<JudgeVerdict>; 2],
    /// Handed to `done`.
    reported: bool,
}

impl JudgeFeed<'_, '_> {
    fn request(&self, asked: &Asked) -> GenRequest {
        let mut prompt = judge_prompt(Aspect::ALL[asked.aspect], &self.inputs[asked.input]);
        let mut params = GenParams {
            decoding: Decoding::Greedy,
            seed: self.params.seed,
            max_new_tokens: self.params.max_new_tokens,
            stop: Vec::new(),
            n: 1,
        };
        if let (Some(answer), Prompt::Chat { prefill, .. }) = (&asked.answer, &mut prompt) {
            *prefill = format!("{}{ASK_SCORE}", answer.trim_end());
            params.max_new_tokens = ASK_TOKENS;
            params.stop = vec!["\n".to_string()];
        }
        GenRequest { prompt, params }
    }

    /// The verdict of a finished request, or `None` when a follow-up was queued instead.
    fn verdict(
        &mut self,
        asked: &Asked,
        result: Result<Generation, InferError>,
    ) -> Option<JudgeVerdict> {
        let text = match result {
            Err(error) => {
                return Some(JudgeVerdict::Failed {
                    error: error.to_string(),
                });
            }
            Ok(generation) => match generation.completions.into_iter().next() {
                None => {
                    return Some(JudgeVerdict::Failed {
                        error: "the backend returned no completion".to_string(),
                    });
                }
                Some(completion) => completion.text,
            },
        };
        let Some(answer) = &asked.answer else {
            return match parse_score(&text) {
                Ok(score) => Some(JudgeVerdict::Scored {
                    score,
                    reasoning: text,
                    asked: false,
                }),
                Err(_) => {
                    self.follow_ups.push_back(Asked {
                        answer: Some(text),
                        ..asked.clone()
                    });
                    None
                }
            };
        };
        let whole = format!("{}{ASK_SCORE}{text}", answer.trim_end());
        let grade = text.trim();
        Some(
            match leading_number(grade).filter(|(_, used)| grade[*used..].trim().is_empty()) {
                Some((score, _)) if (0.0..=4.0).contains(&score) => JudgeVerdict::Scored {
                    score,
                    reasoning: whole,
                    asked: true,
                },
                Some((score, _)) => JudgeVerdict::Unparsed {
                    raw: whole,
                    reason: format!("score {score} is outside 0-4"),
                },
                None => JudgeVerdict::Unparsed {
                    raw: whole,
                    reason: "no score in the answer, nor after `Score: ` when asked for one"
                        .to_string(),
                },
            },
        )
    }
}

impl Feed for JudgeFeed<'_, '_> {
    fn next_request(&mut self, _wait: bool) -> Option<GenRequest> {
        let asked = match self.follow_ups.pop_front() {
            Some(asked) => asked,
            None => {
                if self.next / 2 >= self.inputs.len() {
                    return None;
                }
                let asked = Asked {
                    input: self.next / 2,
                    aspect: self.next % 2,
                    answer: None,
                };
                self.next += 1;
                asked
            }
        };
        let request = self.request(&asked);
        self.requests.push(asked);
        Some(request)
    }

    fn finished(&mut self, id: usize, result: Result<Generation, InferError>) -> ControlFlow<()> {
        let Some(asked) = self.requests.get(id).cloned() else {
            return ControlFlow::Continue(());
        };
        let Some(verdict) = self.verdict(&asked, result) else {
            return ControlFlow::Continue(());
        };
        let index = asked.input;
        let Some(slot) = self.pending.get_mut(index) else {
            return ControlFlow::Continue(());
        };
        slot.verdicts[asked.aspect] = Some(verdict);
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

/// Read the judge's score from its answer (see the module docs for the rules).
pub fn parse_score(text: &str) -> Result<f64, String> {
    let lower = text.to_lowercase();
    let separators =
        |c: char| c == '*' || c == ':' || c == '=' || c == ' ' || c == '\t' || c == '"';
    let mut labels: Vec<(usize, &str)> = lower
        .match_indices("score")
        .chain(lower.match_indices("grade"))
        .collect();
    labels.sort_by_key(|label| std::cmp::Reverse(label.0));
    let labelled = labels.into_iter().find_map(|(at, label)| {
        let rest = lower[at + label.len()..].trim_start_matches(separators);
        let rest = rest
            .strip_prefix("is ")
            .or_else(|| rest.strip_prefix("of "))
            .map_or(rest, |r| r.trim_start_matches(separators));
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
        assert_eq!(
            parse_score("It fails on empty lists.\nTherefore, the grade is 1."),
            Ok(1.0)
        );
        assert_eq!(parse_score("Grade: 3"), Ok(3.0));
        assert_eq!(parse_score("I give it a grade of 2 because..."), Ok(2.0));
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
            "none",
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
        let Prompt::Chat { messages, .. } = &generator.requests[1].prompt else {
            panic!("chat prompt expected");
        };
        let user = &messages[1].content;
        assert!(user.contains("functional correctness") && user.contains("return a + b"));
        assert!(user.contains("Reference solution"));

        // The answer without a grade got one follow-up: the same prompt, the answer
        // prefilled and `Score: ` after it.
        assert_eq!(generator.requests.len(), 3);
        let Prompt::Chat { prefill, .. } = &generator.requests[2].prompt else {
            panic!("chat prompt expected");
        };
        assert_eq!(prefill, "I cannot tell without running it.\n\nScore: ");
        assert_eq!(generator.requests[2].params.stop, ["\n"]);

        // A script that runs out is a backend failure, recorded, not a panic.
        let mut empty = ScriptedGenerator::new(Vec::<String>::new());
        let got = judge(&mut empty, &input, params, &mut Silent).unwrap();
        assert!(matches!(got.usefulness, JudgeVerdict::Failed { .. }));
    }

    #[test]
    fn a_grade_left_out_is_asked_for_after_the_answer() {
        let mut generator = ScriptedGenerator::from_fn(|request, _| {
            let Prompt::Chat { prefill, .. } = &request.prompt else {
                return None;
            };
            Some(match prefill.as_str() {
                "" => "The code is right for common inputs and wrong for some edge cases.".into(),
                asked if asked.ends_with("Score: ") => "3".into(),
                other => format!("unexpected prefill {other:?}"),
            })
        });
        let input = JudgeInput {
            problem: "Return the largest element.",
            code: "def f(xs):\n    return sorted(xs)[-1]",
            reference: None,
            language: "python",
        };
        let params = JudgeParams {
            seed: 0,
            max_new_tokens: 64,
        };
        let got = judge(&mut generator, &input, params, &mut Silent).unwrap();
        for verdict in [&got.usefulness, &got.functional_correctness] {
            let JudgeVerdict::Scored {
                score,
                reasoning,
                asked,
            } = verdict
            else {
                panic!("{verdict:?}");
            };
            assert_eq!((*score, *asked), (3.0, true));
            assert!(
                reasoning.ends_with("edge cases.\n\nScore: 3"),
                "{reasoning}"
            );
        }
        // Each aspect's follow-up went out right after its answer (its prompt is still cached).
        let short: Vec<bool> = generator
            .requests
            .iter()
            .map(|r| r.params.max_new_tokens == ASK_TOKENS)
            .collect();
        assert_eq!(short, [false, true, false, true]);

        // A follow-up that gives no number, or one out of range, leaves the answer unparsed.
        let mut stubborn = ScriptedGenerator::new(["Looks fine.", "Looks fine.", "fine", "9"]);
        let got = judge(&mut stubborn, &input, params, &mut Silent).unwrap();
        let reasons: Vec<String> = [&got.usefulness, &got.functional_correctness]
            .iter()
            .map(|v| match v {
                JudgeVerdict::Unparsed { reason, .. } => reason.clone(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert!(reasons[0].contains("nor after `Score: `"), "{reasons:?}");
        assert_eq!(reasons[1], "score 9 is outside 0-4");
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
