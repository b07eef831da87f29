//! Completion at a cursor: fill the gap between the text before and after it with the model's
//! fill-in-the-middle tokens, with repository context in front, optionally retrieving again
//! with the first draft (RepoCoder). The one path behind the language server's completions and
//! the repository-level benchmark (`crate::repobench::eval`).

use crucible_index::Index;
use crucible_infer::{GenRequest, Generator, Infill, Observer, Prompt};
use crucible_types::GenParams;

use crucible_infer::{FimTokens, Generation};

use crate::repo_context::{CurrentFile, RepoContext, gather, mark_iteration};
use crate::{Error, Result};

/// Lines before the cursor (and after it) that make the retrieval query.
const QUERY_LINES_BEFORE: usize = 40;
const QUERY_LINES_AFTER: usize = 10;

/// Bytes of the file before the cursor that go into the prompt at most (whole lines, the
/// cursor's line always whole): about 1,500 tokens of code, an editor-sized window (llama.vim
/// sends 256 lines). Longer files are cut, so a completion in a long file fits the context and
/// costs what one in a short file does; the repository context comes on top.
pub const PREFIX_WINDOW_BYTES: usize = 4_500;
/// Bytes of the file after the cursor that go into the prompt at most (whole lines).
pub const SUFFIX_WINDOW_BYTES: usize = 1_500;

/// A gap to fill.
#[derive(Debug, Clone)]
pub struct CompleteRequest<'a> {
    /// Text before the cursor.
    pub prefix: &'a str,
    /// Text after the cursor.
    pub suffix: &'a str,
    /// The file's repository-relative path, when it is in the indexed repository.
    pub path: Option<&'a str>,
    /// Tokens of repository context at most.
    pub budget_tokens: usize,
    /// How to decode.
    pub params: GenParams,
    /// Retrieve again with the lines before the cursor and the first draft, and fill again
    /// (RepoCoder's iterative retrieval; needs an index).
    pub iterative: bool,
}

/// What [`complete`] wrote.
#[derive(Debug, Clone)]
pub struct Completed {
    /// The text for the gap.
    pub text: String,
    /// The repository context in the prompt, when an index was given.
    pub context: Option<RepoContext>,
    /// Tokens of the prompt and of the answer (of the last round).
    pub prompt_tokens: usize,
    pub tokens: usize,
    /// With iterative retrieval: the first round's text and context.
    pub first_round: Option<(String, RepoContext)>,
}

/// The retrieval query of a gap: the lines around the cursor.
pub fn query_around(prefix: &str, suffix: &str) -> String {
    let before: Vec<&str> = prefix.lines().rev().take(QUERY_LINES_BEFORE).collect();
    let mut query: Vec<&str> = before.into_iter().rev().collect();
    query.extend(suffix.lines().take(QUERY_LINES_AFTER));
    query.join("\n")
}

/// The end of `prefix` that goes into the prompt: at most `max` bytes (plus the start of the
/// cursor's line when that line alone is longer), starting at a line start.
pub fn prefix_window(prefix: &str, max: usize) -> &str {
    if prefix.len() <= max {
        return prefix;
    }
    let line_start = prefix.rfind('\n').map_or(0, |at| at + 1);
    let mut from = prefix.len() - max;
    while !prefix.is_char_boundary(from) {
        from += 1;
    }
    if from >= line_start {
        return &prefix[line_start..];
    }
    // The first line start at or after `from`.
    match prefix[from..].find('\n') {
        Some(at) => &prefix[from + at + 1..],
        None => &prefix[line_start..],
    }
}

/// The start of `suffix` that goes into the prompt: at most `max` bytes (plus the rest of the
/// cursor's line), ending at a line end.
pub fn suffix_window(suffix: &str, max: usize) -> &str {
    if suffix.len() <= max {
        return suffix;
    }
    let line_end = suffix.find('\n').map_or(suffix.len(), |at| at + 1);
    if line_end >= max {
        return &suffix[..line_end];
    }
    // The last line end at or before `max`.
    let mut cut = max;
    while !suffix.is_char_boundary(cut) {
        cut -= 1;
    }
    match suffix[..cut].rfind('\n') {
        Some(at) => &suffix[..at + 1],
        None => &suffix[..line_end],
    }
}

/// Fill the gap of `request`, with context from `index` when given. The prompt holds the
/// [`prefix_window`] and [`suffix_window`] of the file around the cursor; the whole file is
/// read for its imports. A model without
/// fill-in-the-middle tokens is [`Error::NoFim`].
pub fn complete(
    generator: &mut dyn Generator,
    index: Option<&Index>,
    request: &CompleteRequest<'_>,
    observer: &mut dyn Observer,
) -> Result<Completed> {
    let Some(tokens) = generator.fim_tokens() else {
        return Err(Error::NoFim {
            model: generator.info().name.clone(),
        });
    };
    let whole = format!("{}{}", request.prefix, request.suffix);
    let current = request.path.map(|path| CurrentFile { path, text: &whole });
    let context = match index {
        Some(index) => {
            let query = query_around(request.prefix, request.suffix);
            Some(gather(index, &query, current, request.budget_tokens)?)
        }
        None => None,
    };
    let generation = fill(generator, &tokens, request, context.as_ref(), observer)?;
    let (text, tokens_out) = first_text(&generation);
    let (Some(index), true, Some(first)) = (index, request.iterative, context.clone()) else {
        return Ok(Completed {
            text,
            tokens: tokens_out,
            context,
            prompt_tokens: generation.prompt_tokens,
            first_round: None,
        });
    };
    // RepoCoder: the query is the window before the cursor continued by the draft.
    let drafted = format!("{}{text}", request.prefix);
    let query = query_around(&drafted, request.suffix);
    let mut second = gather(index, &query, current, request.budget_tokens)?;
    mark_iteration(&first, &mut second);
    let generation = fill(generator, &tokens, request, Some(&second), observer)?;
    let (again, tokens_again) = first_text(&generation);
    Ok(Completed {
        text: again,
        tokens: tokens_again,
        context: Some(second),
        prompt_tokens: generation.prompt_tokens,
        first_round: Some((text, first)),
    })
}

/// One fill-in-the-middle request for `request` with `context` in front.
fn fill(
    generator: &mut dyn Generator,
    tokens: &FimTokens,
    request: &CompleteRequest<'_>,
    context: Option<&RepoContext>,
    observer: &mut dyn Observer,
) -> Result<Generation> {
    let infill = Infill {
        prefix: prefix_window(request.prefix, PREFIX_WINDOW_BYTES).to_string(),
        suffix: suffix_window(request.suffix, SUFFIX_WINDOW_BYTES).to_string(),
        extra: context.map(RepoContext::extra_files).unwrap_or_default(),
        repo_name: context.map(|c| c.repo_name.clone()),
        filename: request.path.map(str::to_string),
        answer_prefix: String::new(),
        continuation: false,
    };
    let gen_request = GenRequest {
        prompt: Prompt::Fill {
            tokens: tokens.clone(),
            infill: Box::new(infill),
        },
        params: request.params.clone(),
    };
    Ok(generator.generate(&gen_request, observer)?)
}

/// The first completion's text and tokens (none: empty).
fn first_text(generation: &Generation) -> (String, usize) {
    generation
        .completions
        .first()
        .map_or((String::new(), 0), |c| (c.text.clone(), c.tokens))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crucible_infer::{FimTokens, ScriptedGenerator, Silent};
    use crucible_types::Decoding;

    fn params() -> GenParams {
        GenParams {
            decoding: Decoding::Greedy,
            seed: 0,
            max_new_tokens: 32,
            stop: vec![],
            n: 1,
        }
    }

    #[test]
    fn the_gap_is_asked_with_fim_tokens_and_the_answer_returned() {
        let mut generator = ScriptedGenerator::new(["a + b"]).with_fim(FimTokens::qwen());
        let request = CompleteRequest {
            prefix: "def add(a, b):\n    return ",
            suffix: "\n",
            path: Some("add.py"),
            budget_tokens: 100,
            params: params(),
            iterative: false,
        };
        let done = complete(&mut generator, None, &request, &mut Silent).unwrap();
        assert_eq!(done.text, "a + b");
        let prompt = &generator.requests[0].prompt;
        assert!(matches!(prompt, Prompt::Fill { .. }), "{prompt:?}");
        assert_eq!(
            prompt.completion_text().unwrap(),
            "<|repo_name|>repository\n<|file_sep|>add.py\n<|fim_prefix|>def add(a, b):\n    return <|fim_suffix|>\n<|fim_middle|>"
        );
    }

    #[test]
    fn a_model_without_fim_tokens_is_a_clear_error() {
        let mut generator = ScriptedGenerator::new(["x"]);
        let request = CompleteRequest {
            prefix: "x = ",
            suffix: "",
            path: None,
            budget_tokens: 100,
            params: params(),
            iterative: false,
        };
        let err = complete(&mut generator, None, &request, &mut Silent).unwrap_err();
        assert!(err.to_string().contains("fill-in-the-middle"), "{err}");
        assert!(generator.requests.is_empty());
    }

    #[test]
    fn a_long_file_is_cut_to_whole_lines_around_the_cursor() {
        let prefix: String = (0..1000).map(|n| format!("before {n:04}\n")).collect();
        let prefix = format!("{prefix}    let x = ");
        let window = prefix_window(&prefix, 120);
        assert!(window.len() <= 120, "{}", window.len());
        assert!(window.starts_with("before 0"), "a line start: {window:?}");
        assert!(window.ends_with("before 0999\n    let x = "), "{window:?}");
        let suffix: String = (0..1000).map(|n| format!("after {n:04}\n")).collect();
        let suffix = format!(";\n{suffix}");
        let window = suffix_window(&suffix, 60);
        assert!(window.len() <= 60);
        assert!(window.starts_with(";\nafter 0000\n"), "{window:?}");
        assert!(window.ends_with("\n"), "a line end: {window:?}");
        // Short text is whole; a cursor line longer than the window is kept whole.
        assert_eq!(prefix_window("x = 1\ny = ", 120), "x = 1\ny = ");
        assert_eq!(suffix_window("z\n", 60), "z\n");
        let long_line = format!("a\n{}", "é".repeat(100));
        assert_eq!(prefix_window(&long_line, 20), "é".repeat(100));
        let long_suffix = format!("{}\nnext\n", "é".repeat(100));
        assert_eq!(
            suffix_window(&long_suffix, 20),
            format!("{}\n", "é".repeat(100))
        );
        assert_eq!(suffix_window(&"é".repeat(100), 21), "é".repeat(100));
        // A window edge inside a character of an earlier line.
        let wide = format!("{}\n{}\nx = ", "é".repeat(50), "ü".repeat(50));
        assert_eq!(
            prefix_window(&wide, 111),
            format!("{}\nx = ", "ü".repeat(50))
        );
        assert_eq!(prefix_window(&wide, 104), "x = ");
    }

    #[test]
    fn a_completion_in_a_long_file_sends_the_window() {
        let mut generator = ScriptedGenerator::new(["0"]).with_fim(FimTokens::qwen());
        let prefix: String = (0..2000).map(|n| format!("x{n} = {n}\n")).collect();
        let suffix: String = (0..2000).map(|n| format!("y{n} = {n}\n")).collect();
        let prefix = format!("{prefix}z = ");
        let request = CompleteRequest {
            prefix: &prefix,
            suffix: &suffix,
            path: None,
            budget_tokens: 100,
            params: params(),
            iterative: false,
        };
        complete(&mut generator, None, &request, &mut Silent).unwrap();
        let prompt = &generator.requests[0].prompt;
        assert!(matches!(prompt, Prompt::Fill { .. }), "{prompt:?}");
        let text = prompt
            .completion_text()
            .expect("a fill prompt has a text rendering");
        assert!(
            text.len() <= PREFIX_WINDOW_BYTES + SUFFIX_WINDOW_BYTES + 64,
            "{}",
            text.len()
        );
        assert!(
            text.contains("x1999 = 1999\nz = <|fim_suffix|>y0 = 0\n"),
            "{text}"
        );
        assert!(!text.contains("x0 = 0\n"));
    }

    #[test]
    fn the_query_is_the_lines_around_the_cursor() {
        let prefix: String = (0..60).map(|n| format!("line{n}\n")).collect();
        let query = query_around(&prefix, "after1\nafter2\n");
        assert!(query.starts_with("line20\n"), "{query}");
        assert!(query.ends_with("line59\nafter1\nafter2"), "{query}");
    }
}
