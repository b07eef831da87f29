//! The chat turns strategies add after the first answer: repair with execution feedback, the
//! self-explanation, the verbal reflection and the retry that reads the memory of reflections.
//!
//! Wording is kept short and literal: the default model has 0.5B parameters, and long
//! instructions pull its answers off the code.

use crucible_infer::prompt::{PromptMode, instruction, task_prompt};
use crucible_infer::{Message, Prompt};
use crucible_types::Task;

use crate::session::Ask;
use crate::trace::Stage;

/// The first programs: the same prompt `crucible generate` uses.
pub(crate) fn first(task: &Task, mode: PromptMode, n: usize, greedy: bool, max_new: usize) -> Ask {
    let prompt = task_prompt(task, mode, &[]);
    Ask {
        stage: Stage::Sample,
        prompt: prompt.prompt,
        answer_prefix: prompt.answer_prefix,
        suffix_on_stop: prompt.suffix_on_stop,
        stop: prompt.stop,
        n,
        greedy,
        max_new_tokens: max_new,
    }
}

/// A call whose answer is a program in one fenced block (the fence is prefilled).
pub(crate) fn code_ask(
    task: &Task,
    stage: Stage,
    messages: Vec<Message>,
    n: usize,
    max_new: usize,
) -> Ask {
    let fence = fence(task);
    Ask {
        stage,
        prompt: Prompt::Chat {
            messages,
            prefill: fence.clone(),
        },
        answer_prefix: fence,
        suffix_on_stop: "\n```".into(),
        stop: vec!["\n```".into()],
        n,
        greedy: n == 1,
        max_new_tokens: max_new,
    }
}

/// A call whose answer is prose.
pub(crate) fn text_ask(stage: Stage, messages: Vec<Message>, max_new: usize) -> Ask {
    Ask {
        stage,
        prompt: Prompt::Chat {
            messages,
            prefill: String::new(),
        },
        answer_prefix: String::new(),
        suffix_on_stop: String::new(),
        // Prose only: a code block means the model stopped explaining.
        stop: vec!["```".into()],
        n: 1,
        greedy: true,
        max_new_tokens: max_new,
    }
}

fn fence(task: &Task) -> String {
    format!("```{}\n", task.language.fence_tag())
}

/// The task, then the failing program as the model's own earlier answer.
fn conversation(task: &Task, code: &str) -> Vec<Message> {
    vec![
        Message::user(instruction(task)),
        Message::assistant(format!("{}{}\n```", fence(task), code.trim_end())),
    ]
}

fn reply_with_code(task: &Task) -> String {
    format!(
        "Reply with the whole corrected program in one ```{} code block.",
        task.language.fence_tag()
    )
}

/// Self-Debugging: the program, what running it showed, and (optionally) the model's own
/// explanation of the failure; the answer is a corrected program.
pub(crate) fn repair(
    task: &Task,
    code: &str,
    feedback: &str,
    explanation: Option<&str>,
) -> Vec<Message> {
    let mut messages = conversation(task, code);
    let ask = format!(
        "Running the code on the tests gives:\n\n{}\n\nFix the code so that it passes the tests. {}",
        feedback.trim_end(),
        reply_with_code(task)
    );
    match explanation {
        None => messages.push(Message::user(ask)),
        Some(explanation) => {
            messages.push(Message::user(explain_request(feedback)));
            messages.push(Message::assistant(explanation.trim()));
            messages.push(Message::user(format!(
                "Fix the code so that it passes the tests. {}",
                reply_with_code(task)
            )));
        }
    }
    messages
}

fn explain_request(feedback: &str) -> String {
    format!(
        "Running the code on the tests gives:\n\n{}\n\nExplain briefly, step by step, what the code does on the failing test and where it goes wrong. Do not write code yet.",
        feedback.trim_end()
    )
}

/// Self-Debugging's explanation turn.
pub(crate) fn explain(task: &Task, code: &str, feedback: &str) -> Vec<Message> {
    let mut messages = conversation(task, code);
    messages.push(Message::user(explain_request(feedback)));
    messages
}

/// Reflexion: a short verbal diagnosis, kept in the episodic memory.
pub(crate) fn reflect(task: &Task, code: &str, feedback: &str) -> Vec<Message> {
    let mut messages = conversation(task, code);
    messages.push(Message::user(format!(
        "Running the code on the tests gives:\n\n{}\n\nIn two or three sentences, say what is wrong with the code and what to change. Do not write code.",
        feedback.trim_end()
    )));
    messages
}

/// Reflexion: a new implementation that sees the last failure and every reflection so far.
pub(crate) fn retry(task: &Task, code: &str, feedback: &str, memory: &[String]) -> Vec<Message> {
    let mut messages = conversation(task, code);
    let mut lessons = String::new();
    for (idx, reflection) in memory.iter().enumerate() {
        lessons.push_str(&format!("{}. {}\n", idx + 1, reflection.trim()));
    }
    messages.push(Message::user(format!(
        "Running the code on the tests gives:\n\n{}\n\nWhat you learned from your attempts so far:\n{}\nWrite an improved implementation that follows these lessons. {}",
        feedback.trim_end(),
        lessons,
        reply_with_code(task)
    )));
    messages
}

/// AgentCoder's programmer, given the test executor's report.
pub(crate) fn programmer_fix(task: &Task, code: &str, report: &str) -> Vec<Message> {
    let mut messages = conversation(task, code);
    messages.push(Message::user(format!(
        "The test executor ran your code on the test designer's tests and the task's examples:\n\n{}\n\nRevise the code so that it is correct for the task. If a test contradicts the task description, follow the description. {}",
        report.trim_end(),
        reply_with_code(task)
    )));
    messages
}

#[cfg(test)]
mod tests {
    use super::*;
    use crucible_types::{Language, TaskKind, TestSuite};

    fn task() -> Task {
        Task {
            id: "t".into(),
            language: Language::Python,
            kind: TaskKind::Function {
                prompt: "def inc(x):\n    \"\"\"Add one.\"\"\"\n".into(),
                entry_point: "inc".into(),
            },
            visible: TestSuite::None,
        }
    }

    #[test]
    fn repair_shows_code_and_feedback() {
        let messages = repair(
            &task(),
            "def inc(x):\n    return x\n",
            "verdict: wrong_answer\n",
            None,
        );
        assert_eq!(messages.len(), 3);
        assert_eq!(
            messages[1].content,
            "```python\ndef inc(x):\n    return x\n```"
        );
        assert!(messages[2].content.starts_with(
            "Running the code on the tests gives:\n\nverdict: wrong_answer\n\nFix the code"
        ));
        let with = repair(
            &task(),
            "def inc(x):\n    return x\n",
            "verdict: wrong_answer\n",
            Some("It returns x."),
        );
        assert_eq!(with.len(), 5);
        assert_eq!(with[3].content, "It returns x.");
    }

    #[test]
    fn retry_lists_the_memory() {
        let memory = vec!["Add one.".to_string(), "Mind negatives.".to_string()];
        let messages = retry(
            &task(),
            "def inc(x):\n    return x\n",
            "verdict: wrong_answer",
            &memory,
        );
        assert!(
            messages[2]
                .content
                .contains("1. Add one.\n2. Mind negatives.\n")
        );
    }
}
