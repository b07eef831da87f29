//! Task prompts: how a [`Task`] becomes the text a model sees, in chat or completion mode, with
//! zero or k exemplars drawn reproducibly from a pool (survey eq. 12).

use rand::SeedableRng;
use rand::seq::index::sample;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crucible_types::{IoCase, Language, Task, TaskKind, TestSuite};

use crate::{Message, Prompt};

/// How the model is addressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PromptMode {
    /// Instruction in a chat turn, rendered with the model's chat template; the answer is
    /// prefilled with an opening code fence so the model goes straight to the code.
    Chat,
    /// The task's code (or a comment describing it) is continued as plain text.
    Completion,
}

/// A solved example shown before the task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Exemplar {
    pub task: Task,
    pub solution: String,
}

/// A pool of exemplars and how many to show.
#[derive(Debug, Clone, PartialEq)]
pub struct FewShot {
    pub pool: Vec<Exemplar>,
    pub k: usize,
    pub seed: u64,
}

impl FewShot {
    /// The `k` exemplars for `task`: drawn without replacement from the pool with a random
    /// stream derived from the seed and the task id, so the same task always gets the same
    /// shots. An exemplar with the task's own id is never shown.
    pub fn select(&self, task: &Task) -> Vec<&Exemplar> {
        let eligible: Vec<&Exemplar> = self
            .pool
            .iter()
            .filter(|ex| ex.task.id != task.id && ex.task.language == task.language)
            .collect();
        let k = self.k.min(eligible.len());
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed ^ fnv1a(task.id.as_bytes()));
        let mut picked: Vec<usize> = sample(&mut rng, eligible.len(), k).into_vec();
        // Shown in pool order, so the prompt does not depend on the sampler's internal order.
        picked.sort_unstable();
        picked.into_iter().map(|idx| eligible[idx]).collect()
    }
}

/// A prompt ready for a generator, plus how to turn its completions back into answers.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskPrompt {
    pub prompt: Prompt,
    /// Stop sequences suited to the mode and language.
    pub stop: Vec<String>,
    /// Text that precedes each completion in the full answer (the prefill, or the task's code
    /// in completion mode).
    pub answer_prefix: String,
    /// Text appended to the answer when generation ended on a stop sequence that was part of
    /// the code (the closing brace of a function in completion mode).
    pub suffix_on_stop: String,
}

impl TaskPrompt {
    /// The full answer for a completion (prefix + text, plus the suffix if it stopped early).
    pub fn answer(&self, completion: &str, stopped: bool) -> String {
        let mut answer = String::with_capacity(self.answer_prefix.len() + completion.len() + 4);
        answer.push_str(&self.answer_prefix);
        answer.push_str(completion);
        if stopped {
            answer.push_str(&self.suffix_on_stop);
        }
        answer
    }
}

/// Build the prompt for `task` with the given exemplars.
pub fn task_prompt(task: &Task, mode: PromptMode, shots: &[&Exemplar]) -> TaskPrompt {
    match mode {
        PromptMode::Chat => chat_prompt(task, shots),
        PromptMode::Completion => completion_prompt(task, shots),
    }
}

fn chat_prompt(task: &Task, shots: &[&Exemplar]) -> TaskPrompt {
    let fence = format!("```{}\n", task.language.fence_tag());
    let mut messages = Vec::with_capacity(2 * shots.len() + 1);
    for shot in shots {
        messages.push(Message::user(instruction(&shot.task)));
        messages.push(Message::assistant(format!(
            "{fence}{}\n```",
            shot.solution.trim_end()
        )));
    }
    messages.push(Message::user(instruction(task)));
    TaskPrompt {
        prompt: Prompt::Chat {
            messages,
            prefill: fence.clone(),
        },
        stop: vec!["\n```".into()],
        answer_prefix: fence,
        suffix_on_stop: "\n```".into(),
    }
}

/// The user turn asking for `task`.
pub fn instruction(task: &Task) -> String {
    let lang = task.language.display_name();
    let tag = task.language.fence_tag();
    match &task.kind {
        TaskKind::Function { prompt, .. } => format!(
            "Complete the following {lang} code. Reply with the whole program in one ```{tag} code block: the imports it needs and the complete function, signature and body. Do not add a main function, example usage or tests.\n\n```{tag}\n{}\n```",
            prompt.trim_end()
        ),
        TaskKind::Program { description } => {
            let mut text = format!(
                "{}\n\nWrite a complete {lang} program for this task. It reads the input from standard input and prints the answer to standard output, exactly in the format asked for.",
                description.trim()
            );
            text.push_str(&render_examples(&task.visible));
            text.push_str(&format!(
                "\n\nReply with the whole program in one ```{tag} code block."
            ));
            text
        }
        TaskKind::Freeform { description } => format!(
            "{}\n\nWrite it in {lang}. Reply with the code in one ```{tag} code block.",
            description.trim()
        ),
    }
}

fn render_examples(suite: &TestSuite) -> String {
    let TestSuite::Io { cases, .. } = suite else {
        return String::new();
    };
    let mut text = String::new();
    for (idx, IoCase { input, output }) in cases.iter().enumerate() {
        text.push_str(&format!(
            "\n\nExample {}\nInput:\n```\n{}\n```\nOutput:\n```\n{}\n```",
            idx + 1,
            input.trim_end(),
            output.trim_end()
        ));
    }
    text
}

fn completion_prompt(task: &Task, shots: &[&Exemplar]) -> TaskPrompt {
    let mut text = String::new();
    for shot in shots {
        text.push_str(&completion_head(&shot.task));
        text.push_str(shot.solution.trim_end());
        text.push_str("\n\n\n");
    }
    let head = completion_head(task);
    text.push_str(&head);
    let (stop, suffix_on_stop) = match &task.kind {
        TaskKind::Function { .. } => function_stops(task.language),
        _ => (Vec::new(), String::new()),
    };
    TaskPrompt {
        prompt: Prompt::Text { text },
        stop,
        answer_prefix: head,
        suffix_on_stop,
    }
}

/// What the model continues in completion mode: the function's code, or the description as a
/// comment.
fn completion_head(task: &Task) -> String {
    match &task.kind {
        TaskKind::Function { prompt, .. } => prompt.clone(),
        TaskKind::Program { description } | TaskKind::Freeform { description } => {
            let mut text = comment_block(task.language, description.trim());
            let examples = render_examples(&task.visible);
            if !examples.is_empty() {
                let examples = format!("\n{}", examples.trim_start());
                text.push_str(&comment_block(task.language, &examples));
            }
            text
        }
    }
}

fn comment_block(language: Language, text: &str) -> String {
    let marker = match language {
        Language::Python => "#",
        _ => "//",
    };
    let mut out = String::new();
    for line in text.lines() {
        out.push_str(marker);
        if !line.is_empty() {
            out.push(' ');
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

/// Stop sequences that end a function body in completion mode, and what to add back.
fn function_stops(language: Language) -> (Vec<String>, String) {
    match language {
        Language::Python => (
            [
                "\ndef ",
                "\nclass ",
                "\nif __name__",
                "\nprint(",
                "\nassert ",
            ]
            .map(String::from)
            .to_vec(),
            String::new(),
        ),
        // A closing brace in column 0 ends the function in the C family, Rust, Go and JS.
        _ => (vec!["\n}".into()], "\n}\n".into()),
    }
}

/// 64-bit FNV-1a, a stable hash for deriving per-task random streams.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;
    use crucible_types::Compare;

    fn function_task(id: &str) -> Task {
        Task {
            id: id.into(),
            language: Language::Python,
            kind: TaskKind::Function {
                prompt: "def add(a, b):\n    \"\"\"Add two numbers.\"\"\"\n".into(),
                entry_point: "add".into(),
            },
            visible: TestSuite::None,
        }
    }

    fn program_task() -> Task {
        Task {
            id: "sum".into(),
            language: Language::Cpp,
            kind: TaskKind::Program {
                description: "Print the sum of two integers.".into(),
            },
            visible: TestSuite::Io {
                cases: vec![IoCase {
                    input: "1 2\n".into(),
                    output: "3\n".into(),
                }],
                compare: Compare::Whitespace,
            },
        }
    }

    #[test]
    fn chat_prompt_prefills_a_fence_and_stops_at_its_end() {
        let tp = task_prompt(&function_task("t"), PromptMode::Chat, &[]);
        let Prompt::Chat { messages, prefill } = &tp.prompt else {
            panic!("chat mode gives a chat prompt");
        };
        assert_eq!(prefill, "```python\n");
        assert_eq!(messages.len(), 1);
        assert!(messages[0].content.contains("```python\ndef add(a, b):"));
        assert_eq!(tp.stop, vec!["\n```"]);
        assert_eq!(
            tp.answer("def add(a, b):\n    return a + b", true),
            "```python\ndef add(a, b):\n    return a + b\n```"
        );
    }

    #[test]
    fn program_prompt_shows_examples() {
        let text = instruction(&program_task());
        assert!(text.starts_with("Print the sum of two integers."));
        assert!(text.contains("Example 1\nInput:\n```\n1 2\n```\nOutput:\n```\n3\n```"));
        assert!(text.contains("C++ program"));
    }

    #[test]
    fn completion_mode_continues_the_code() {
        let tp = task_prompt(&function_task("t"), PromptMode::Completion, &[]);
        assert_eq!(
            tp.prompt,
            Prompt::Text {
                text: "def add(a, b):\n    \"\"\"Add two numbers.\"\"\"\n".into()
            }
        );
        assert!(tp.stop.contains(&"\ndef ".to_string()));
        let cpp = Task {
            language: Language::Cpp,
            ..program_task()
        };
        let tp = task_prompt(&cpp, PromptMode::Completion, &[]);
        assert_eq!(
            tp.prompt,
            Prompt::Text {
                text: "// Print the sum of two integers.\n//\n// Example 1\n// Input:\n// ```\n// 1 2\n// ```\n// Output:\n// ```\n// 3\n// ```\n".into()
            }
        );
    }

    #[test]
    fn few_shot_selection_is_reproducible_and_excludes_the_task() {
        let pool: Vec<Exemplar> = (0..10)
            .map(|i| Exemplar {
                task: function_task(&format!("ex{i}")),
                solution: format!("def add(a, b):\n    return a + b  # {i}"),
            })
            .collect();
        let shots = FewShot {
            pool,
            k: 3,
            seed: 1,
        };
        let task = function_task("ex4");
        let first: Vec<&str> = shots
            .select(&task)
            .iter()
            .map(|e| e.task.id.as_str())
            .collect();
        let again: Vec<&str> = shots
            .select(&task)
            .iter()
            .map(|e| e.task.id.as_str())
            .collect();
        assert_eq!(first, again);
        assert_eq!(first.len(), 3);
        assert!(!first.contains(&"ex4"));
        let other: Vec<&str> = shots
            .select(&function_task("other"))
            .iter()
            .map(|e| e.task.id.as_str())
            .collect();
        assert_eq!(other.len(), 3);
        // k larger than the pool shows the whole eligible pool.
        let all = FewShot { k: 50, ..shots };
        assert_eq!(all.select(&task).len(), 9);
    }

    #[test]
    fn few_shot_chat_turns_precede_the_task() {
        let ex = Exemplar {
            task: function_task("ex"),
            solution: "def add(a, b):\n    return a + b\n".into(),
        };
        let tp = task_prompt(&function_task("t"), PromptMode::Chat, &[&ex]);
        let Prompt::Chat { messages, .. } = tp.prompt else {
            panic!("chat prompt");
        };
        assert_eq!(messages.len(), 3);
        assert_eq!(
            messages[1].content,
            "```python\ndef add(a, b):\n    return a + b\n```"
        );
    }
}
