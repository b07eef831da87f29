//! Fill-in-the-middle prompts: the text before and after a gap, and files of context, laid out
//! with the model's own FIM tokens, so the model writes what belongs in the gap.
//!
//! The layout is the prefix-suffix-middle order code models are trained on. With the
//! repository tokens (Qwen2.5-Coder's `<|repo_name|>` and `<|file_sep|>`) extra files come
//! first in the repository-level form, each behind a file separator with its name; without
//! them the extra files' text simply comes before the prefix token. Editors send the same
//! extra files with every request, so they lead the prompt: consecutive requests share them
//! and the prefix up to the cursor, which a backend with prompt reuse evaluates once.

use serde::{Deserialize, Serialize};

/// A model's fill-in-the-middle tokens, as text (what the tokenizer maps to each token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FimTokens {
    /// Starts the text before the gap (`<|fim_prefix|>`).
    pub prefix: String,
    /// Starts the text after the gap (`<|fim_suffix|>`).
    pub suffix: String,
    /// Asks for the gap's text (`<|fim_middle|>`).
    pub middle: String,
    /// Starts the repository name of repository-level context (`<|repo_name|>`), if any.
    pub repo_name: Option<String>,
    /// Starts a file of repository-level context (`<|file_sep|>`), if any.
    pub file_sep: Option<String>,
}

impl FimTokens {
    /// Qwen2.5-Coder's tokens.
    pub fn qwen() -> FimTokens {
        FimTokens {
            prefix: "<|fim_prefix|>".into(),
            suffix: "<|fim_suffix|>".into(),
            middle: "<|fim_middle|>".into(),
            repo_name: Some("<|repo_name|>".into()),
            file_sep: Some("<|file_sep|>".into()),
        }
    }
}

/// A file of context shown before the gap's file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtraFile {
    pub filename: String,
    pub text: String,
}

/// What to fill: the text around the gap and the context.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Infill {
    /// Text before the gap.
    pub prefix: String,
    /// Text after the gap.
    pub suffix: String,
    /// Other files, shown first.
    pub extra: Vec<ExtraFile>,
    /// The repository's name, for the repository-level form.
    pub repo_name: Option<String>,
    /// The name of the file with the gap, for the repository-level form.
    pub filename: Option<String>,
    /// Text the answer starts with (after the middle token; llama-server's `prompt`).
    pub answer_prefix: String,
}

/// Name used for the repository when the request names none (the repository form needs one).
const DEFAULT_REPO: &str = "repository";

/// The prompt text asking the model for the gap of `infill`.
pub fn fim_prompt(tokens: &FimTokens, infill: &Infill) -> String {
    let size = infill.prefix.len()
        + infill.suffix.len()
        + infill
            .extra
            .iter()
            .map(|f| f.text.len() + f.filename.len() + 16)
            .sum::<usize>()
        + 128;
    let mut out = String::with_capacity(size);
    match (&tokens.repo_name, &tokens.file_sep) {
        (Some(repo), Some(sep)) if !infill.extra.is_empty() || infill.filename.is_some() => {
            out.push_str(repo);
            out.push_str(infill.repo_name.as_deref().unwrap_or(DEFAULT_REPO));
            out.push('\n');
            for file in &infill.extra {
                out.push_str(sep);
                out.push_str(&file.filename);
                out.push('\n');
                out.push_str(&file.text);
                if !file.text.ends_with('\n') {
                    out.push('\n');
                }
            }
            out.push_str(sep);
            if let Some(name) = &infill.filename {
                out.push_str(name);
                out.push('\n');
            }
        }
        _ => {
            for file in &infill.extra {
                out.push_str(&file.text);
                if !file.text.ends_with('\n') {
                    out.push('\n');
                }
            }
        }
    }
    out.push_str(&tokens.prefix);
    out.push_str(&infill.prefix);
    out.push_str(&tokens.suffix);
    out.push_str(&infill.suffix);
    out.push_str(&tokens.middle);
    out.push_str(&infill.answer_prefix);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(tokens: &FimTokens, infill: &Infill, expect: &str) {
        assert_eq!(fim_prompt(tokens, infill), expect);
    }

    #[test]
    fn prefix_suffix_middle_without_context() {
        let infill = Infill {
            prefix: "def add(a, b):\n    ".into(),
            suffix: "\n\nprint(add(1, 2))\n".into(),
            ..Infill::default()
        };
        check(
            &FimTokens::qwen(),
            &infill,
            "<|fim_prefix|>def add(a, b):\n    <|fim_suffix|>\n\nprint(add(1, 2))\n<|fim_middle|>",
        );
    }

    #[test]
    fn extra_files_lead_in_the_repository_form() {
        let infill = Infill {
            prefix: "import util\nutil.".into(),
            suffix: "\n".into(),
            extra: vec![ExtraFile {
                filename: "util.py".into(),
                text: "def helper():\n    pass".into(),
            }],
            repo_name: None,
            filename: Some("main.py".into()),
            answer_prefix: "he".into(),
        };
        check(
            &FimTokens::qwen(),
            &infill,
            "<|repo_name|>repository\n<|file_sep|>util.py\ndef helper():\n    pass\n<|file_sep|>main.py\n<|fim_prefix|>import util\nutil.<|fim_suffix|>\n<|fim_middle|>he",
        );
    }

    #[test]
    fn without_repository_tokens_extra_text_comes_first() {
        let tokens = FimTokens {
            prefix: "<PRE>".into(),
            suffix: "<SUF>".into(),
            middle: "<MID>".into(),
            repo_name: None,
            file_sep: None,
        };
        let infill = Infill {
            prefix: "a".into(),
            suffix: "c".into(),
            extra: vec![ExtraFile {
                filename: "x".into(),
                text: "ctx\n".into(),
            }],
            ..Infill::default()
        };
        check(&tokens, &infill, "ctx\n<PRE>a<SUF>c<MID>");
    }

    #[test]
    fn consecutive_requests_share_the_context_and_the_prefix() {
        let tokens = FimTokens::qwen();
        let mut infill = Infill {
            prefix: "x = 1\ny = ".into(),
            suffix: "\nprint(x)".into(),
            extra: vec![ExtraFile {
                filename: "a.py".into(),
                text: "A = 1\n".into(),
            }],
            ..Infill::default()
        };
        let first = fim_prompt(&tokens, &infill);
        infill.prefix.push('2');
        let second = fim_prompt(&tokens, &infill);
        let shared = first
            .bytes()
            .zip(second.bytes())
            .take_while(|(a, b)| a == b)
            .count();
        assert!(first[..shared].ends_with("y = "), "{}", &first[..shared]);
    }
}
