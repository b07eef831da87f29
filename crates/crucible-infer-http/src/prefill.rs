//! Detecting a server that did not continue the prefilled answer.
//!
//! Crucible's chat prompts end with the start of the answer (an opening code fence). vLLM and
//! llama-server continue it, so the text they stream follows the prefill. A server that renders
//! the prefill as a finished turn answers anew, and its answer usually starts with the prefill
//! again. [`PrefillGuard`] holds back the first characters of a sequence until it can tell the
//! two apart, and drops a repeated prefill, so the text after it is the same either way.

/// Watches the start of one sequence.
#[derive(Debug, Clone)]
pub(crate) struct PrefillGuard {
    prefill: String,
    held: String,
    decided: bool,
    restarted: bool,
}

/// What the text so far says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision {
    /// Not enough text yet.
    Wait,
    /// The server continued the prefill: keep everything.
    Continued,
    /// The server started the answer again: drop the first `skip` bytes.
    Restarted { skip: usize },
}

impl PrefillGuard {
    /// A guard for answers prefilled with `prefill` (an empty prefill needs no guard).
    pub(crate) fn new(prefill: &str) -> PrefillGuard {
        PrefillGuard {
            prefill: prefill.to_owned(),
            held: String::new(),
            decided: prefill.is_empty(),
            restarted: false,
        }
    }

    /// Take new text; return the text now known to follow the prefill.
    pub(crate) fn push(&mut self, text: &str) -> String {
        if self.decided {
            return text.to_owned();
        }
        self.held.push_str(text);
        self.settle(false)
    }

    /// The sequence ended: release what is still held.
    pub(crate) fn finish(&mut self) -> String {
        if self.decided {
            return String::new();
        }
        self.settle(true)
    }

    /// True when the server was found to have started the answer again.
    pub(crate) fn restarted(&self) -> bool {
        self.restarted
    }

    fn settle(&mut self, finished: bool) -> String {
        match decide(&self.prefill, &self.held, finished) {
            Decision::Wait => String::new(),
            Decision::Continued => {
                self.decided = true;
                std::mem::take(&mut self.held)
            }
            Decision::Restarted { skip } => {
                self.decided = true;
                self.restarted = true;
                let rest = self.held[skip..].to_owned();
                self.held.clear();
                rest
            }
        }
    }
}

const FENCE: &str = "```";

/// Whether `held`, the start of an answer prefilled with `prefill`, repeats the prefill.
///
/// For a code-fence prefill, an answer that opens with any fence line (after optional
/// whitespace) repeats it, whatever the language tag: "```py\n" repeats "```python\n". For
/// other prefills the answer must repeat the prefill exactly.
fn decide(prefill: &str, held: &str, finished: bool) -> Decision {
    if prefill.starts_with(FENCE) {
        let body = held.trim_start();
        let lead = held.len() - body.len();
        if body.starts_with(FENCE) {
            return match body.find('\n') {
                Some(newline) => Decision::Restarted {
                    skip: lead + newline + 1,
                },
                None if finished => Decision::Restarted { skip: held.len() },
                None => Decision::Wait,
            };
        }
        if FENCE.starts_with(body) && !finished {
            return Decision::Wait;
        }
        return Decision::Continued;
    }
    if held.starts_with(prefill) {
        return Decision::Restarted {
            skip: prefill.len(),
        };
    }
    if prefill.starts_with(held) && !finished {
        return Decision::Wait;
    }
    Decision::Continued
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feed `pieces` one by one; return what was released after each, and at the end.
    fn run(prefill: &str, pieces: &[&str]) -> (Vec<String>, String, bool) {
        let mut guard = PrefillGuard::new(prefill);
        let released = pieces.iter().map(|p| guard.push(p)).collect();
        let rest = guard.finish();
        (released, rest, guard.restarted())
    }

    #[test]
    fn continued_answers_pass_through_once_decided() {
        let (released, rest, restarted) = run("```python\n", &["def", " f():\n"]);
        assert_eq!(released, ["def", " f():\n"]);
        assert_eq!(rest, "");
        assert!(!restarted);
    }

    #[test]
    fn leading_whitespace_and_backticks_are_held_until_clear() {
        let (released, _, restarted) = run("```python\n", &["\n", "``", "x = 1"]);
        assert_eq!(released, ["", "", "\n``x = 1"]);
        assert!(!restarted);
    }

    #[test]
    fn a_repeated_fence_is_dropped_whatever_its_tag() {
        let (released, rest, restarted) =
            run("```python\n", &["``", "`py", "\nimport os", "\nprint(1)"]);
        assert_eq!(released, ["", "", "import os", "\nprint(1)"]);
        assert_eq!(rest, "");
        assert!(restarted);
        let (released, _, restarted) = run("```cpp\n", &["\n```cpp\nint main"]);
        assert_eq!(released, ["int main"]);
        assert!(restarted);
    }

    #[test]
    fn a_lone_fence_at_the_end_is_dropped() {
        let (released, rest, restarted) = run("```python\n", &["```python"]);
        assert_eq!(released, [""]);
        assert_eq!(rest, "");
        assert!(restarted);
    }

    #[test]
    fn held_text_is_released_when_the_answer_ends() {
        let (released, rest, restarted) = run("```python\n", &["`"]);
        assert_eq!(released, [""]);
        assert_eq!(rest, "`");
        assert!(!restarted);
    }

    #[test]
    fn other_prefills_must_repeat_exactly() {
        let (released, _, restarted) = run("Answer: ", &["Answ", "er: 42"]);
        assert_eq!(released, ["", "42"]);
        assert!(restarted);
        let (released, _, restarted) = run("Answer: ", &["Ans", "wers vary"]);
        assert_eq!(released, ["", "Answers vary"]);
        assert!(!restarted);
    }

    #[test]
    fn no_prefill_means_no_guard() {
        let (released, rest, restarted) = run("", &["```python\n"]);
        assert_eq!(released, ["```python\n"]);
        assert_eq!(rest, "");
        assert!(!restarted);
    }
}
