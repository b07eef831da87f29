//! Fill-in-the-middle prompts: the text before and after a gap, and files of context, laid out
//! with the model's own FIM tokens, so the model writes what belongs in the gap.
//!
//! The layout is the prefix-suffix-middle order code models are trained on. With the
//! repository tokens (Qwen2.5-Coder's `<|repo_name|>` and `<|file_sep|>`) extra files come
//! first in the repository-level form, each behind a file separator with its name; without
//! them the extra files' text simply comes before the prefix token. Editors send the same
//! extra files with every request, so they lead the prompt: consecutive requests share them
//! and the prefix up to the cursor, which a backend with prompt reuse evaluates once.

use std::borrow::Cow;

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
    /// No gap: the model continues `prefix` (code completion with repository context), so the
    /// prompt is the context files and the prefix without the prefix, suffix and middle tokens;
    /// `suffix` is then not used.
    #[serde(default)]
    pub continuation: bool,
}

/// Name used for the repository when the request names none (the repository form needs one).
const DEFAULT_REPO: &str = "repository";

/// One piece of a fill-in-the-middle prompt: a control token of the model, or text from the
/// files (names and contents) that must reach the model as the plain text it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FimPiece<'a> {
    /// A control token, given as its text (one of the [`FimTokens`]).
    Token(&'a str),
    /// Text the tokenizer must take literally: a file may contain `<|fim_middle|>` or
    /// `<|endoftext|>` (a file about FIM prompts does), and that is text, not a token.
    Text(Cow<'a, str>),
}

impl FimPiece<'_> {
    /// The piece's text (a token's text for a token).
    pub fn as_str(&self) -> &str {
        match self {
            FimPiece::Token(text) => text,
            FimPiece::Text(text) => text,
        }
    }
}

/// The prompt asking the model for the gap of `infill`, as pieces: the layout's control tokens
/// and the text between them (adjacent text joined into one piece, no empty text). A backend
/// that tokenizes inserts the tokens as tokens and tokenizes the text without parsing special
/// tokens; [`fim_prompt`] joins them into one text for backends that only take text.
pub fn fim_pieces<'a>(tokens: &'a FimTokens, infill: &'a Infill) -> Vec<FimPiece<'a>> {
    let mut out = Pieces(Vec::with_capacity(8 + 4 * infill.extra.len()));
    match (&tokens.repo_name, &tokens.file_sep) {
        (Some(repo), Some(sep)) if !infill.extra.is_empty() || infill.filename.is_some() => {
            out.token(repo);
            out.text(infill.repo_name.as_deref().unwrap_or(DEFAULT_REPO));
            out.text("\n");
            for file in &infill.extra {
                out.token(sep);
                out.text(&file.filename);
                out.text("\n");
                out.text(&file.text);
                if !file.text.ends_with('\n') {
                    out.text("\n");
                }
            }
            out.token(sep);
            if let Some(name) = &infill.filename {
                out.text(name);
                out.text("\n");
            }
        }
        _ => {
            for file in &infill.extra {
                out.text(&file.text);
                if !file.text.ends_with('\n') {
                    out.text("\n");
                }
            }
        }
    }
    if infill.continuation {
        out.text(&infill.prefix);
        out.text(&infill.answer_prefix);
        return out.0;
    }
    out.token(&tokens.prefix);
    out.text(&infill.prefix);
    out.token(&tokens.suffix);
    out.text(&infill.suffix);
    out.token(&tokens.middle);
    out.text(&infill.answer_prefix);
    out.0
}

/// Pieces being laid out: text borrows from the infill until a second run of text follows it
/// directly, which joins the two.
struct Pieces<'a>(Vec<FimPiece<'a>>);

impl<'a> Pieces<'a> {
    fn token(&mut self, text: &'a str) {
        self.0.push(FimPiece::Token(text));
    }

    fn text(&mut self, text: &'a str) {
        if text.is_empty() {
            return;
        }
        match self.0.last_mut() {
            Some(FimPiece::Text(last)) => last.to_mut().push_str(text),
            _ => self.0.push(FimPiece::Text(Cow::Borrowed(text))),
        }
    }
}

/// The prompt text asking the model for the gap of `infill`: [`fim_pieces`] joined, the control
/// tokens written as their texts. A tokenizer that parses special tokens reads any token text
/// inside the files as that token too, so backends that tokenize use the pieces instead; this
/// rendering is for backends that only take text (an OpenAI-compatible server).
pub fn fim_prompt(tokens: &FimTokens, infill: &Infill) -> String {
    let pieces = fim_pieces(tokens, infill);
    let size = pieces.iter().map(|p| p.as_str().len()).sum();
    let mut out = String::with_capacity(size);
    for piece in &pieces {
        out.push_str(piece.as_str());
    }
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
            continuation: false,
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
    fn token_text_inside_the_files_is_a_text_piece() {
        let infill = Infill {
            prefix: "s = \"<|fim_middle|>\"\n".into(),
            suffix: "# <|endoftext|>\n".into(),
            extra: vec![ExtraFile {
                filename: "fim.rs".into(),
                text: "<|fim_prefix|>".into(),
            }],
            filename: Some("a.py".into()),
            ..Infill::default()
        };
        let tokens = FimTokens::qwen();
        let pieces = fim_pieces(&tokens, &infill);
        let text = |s: &str| FimPiece::Text(Cow::Owned(s.into()));
        assert_eq!(
            pieces,
            [
                FimPiece::Token("<|repo_name|>"),
                text("repository\n"),
                FimPiece::Token("<|file_sep|>"),
                text("fim.rs\n<|fim_prefix|>\n"),
                FimPiece::Token("<|file_sep|>"),
                text("a.py\n"),
                FimPiece::Token("<|fim_prefix|>"),
                text("s = \"<|fim_middle|>\"\n"),
                FimPiece::Token("<|fim_suffix|>"),
                text("# <|endoftext|>\n"),
                FimPiece::Token("<|fim_middle|>"),
            ]
        );
        // The text rendering is the same layout.
        let joined: String = pieces.iter().map(FimPiece::as_str).collect();
        assert_eq!(joined, fim_prompt(&tokens, &infill));
    }

    #[test]
    fn a_continuation_has_the_files_and_the_prefix_without_fim_tokens() {
        let infill = Infill {
            prefix: "def main():\n    ".into(),
            suffix: "ignored".into(),
            extra: vec![ExtraFile {
                filename: "util.py".into(),
                text: "X = \"<|file_sep|>\"\n".into(),
            }],
            filename: Some("main.py".into()),
            continuation: true,
            ..Infill::default()
        };
        let tokens = FimTokens::qwen();
        let text = |s: &str| FimPiece::Text(Cow::Owned(s.into()));
        assert_eq!(
            fim_pieces(&tokens, &infill),
            [
                FimPiece::Token("<|repo_name|>"),
                text("repository\n"),
                FimPiece::Token("<|file_sep|>"),
                text("util.py\nX = \"<|file_sep|>\"\n"),
                FimPiece::Token("<|file_sep|>"),
                text("main.py\ndef main():\n    "),
            ]
        );
        // Without repository tokens: the prefix alone, all of it text.
        let plain = FimTokens {
            repo_name: None,
            file_sep: None,
            ..FimTokens::qwen()
        };
        let alone = Infill {
            prefix: "// a.rs:1-2\nfn a() {}\n\nfn b() {".into(),
            continuation: true,
            ..Infill::default()
        };
        assert_eq!(
            fim_pieces(&plain, &alone),
            [text("// a.rs:1-2\nfn a() {}\n\nfn b() {")]
        );
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
