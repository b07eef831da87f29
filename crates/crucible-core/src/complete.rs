//! Completion at a cursor: fill the gap between the text before and after it with the model's
//! fill-in-the-middle tokens, with repository context in front, optionally retrieving again
//! with the first draft (RepoCoder). The one path behind the language server's completions and
//! the repository-level benchmark (`crate::repobench::eval`).
//!
//! An editor asks again at every keystroke, and a backend that keeps the previous prompt's
//! cells evaluates only what follows the first changed token (issue 18). So the prompt is built
//! to stay the same up to the cursor while a line is typed: the retrieval query leaves out the
//! cursor's line (the context in front stays put), the file window's first line moves in steps
//! of [`FileWindow::step_bytes`] rather than with every byte typed, and the editor's window
//! after the cursor, which PSM order puts after the changed point, is short.

use crucible_infer::{GenRequest, Generator, Infill, Observer, Prompt};
use crucible_types::GenParams;

use crucible_infer::{FimTokens, FinishReason, Generation};

use crate::repo_context::{ContextCache, CurrentFile, GatherTimings, RepoContext, mark_iteration};
use crate::repo_index::RepoIndex;
use crate::stopwatch::{PhaseTime, Stopwatch};
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
/// The editor's bytes after the cursor: the rest of the cursor's line and a few lines more
/// (about 70 tokens). PSM order puts them after the cursor, so every keystroke evaluates them
/// again; [`SUFFIX_WINDOW_BYTES`] would cost about 500 tokens of prompt a keystroke.
pub const EDITOR_SUFFIX_BYTES: usize = 256;
/// The steps in which the editor's window start moves: it stays on one line while up to this
/// many bytes are typed or deleted, so consecutive prompts share the file up to the cursor.
pub const EDITOR_WINDOW_STEP: usize = 1_024;

/// How much of the file around the cursor goes into the prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileWindow {
    /// Bytes before the cursor at most (whole lines; the cursor's line is always whole).
    pub prefix_bytes: usize,
    /// Bytes after the cursor at most (whole lines; the rest of the cursor's line is always
    /// whole).
    pub suffix_bytes: usize,
    /// The window starts at the first line start at or after the first multiple of this many
    /// bytes within `prefix_bytes` of the cursor (1: exactly `prefix_bytes` back).
    pub step_bytes: usize,
}

impl FileWindow {
    /// A language server's window: it starts in steps of [`EDITOR_WINDOW_STEP`] and ends
    /// [`EDITOR_SUFFIX_BYTES`] after the cursor, so the next keystroke's prompt shares all but
    /// the cursor's line and the short text after it.
    pub const EDITOR: FileWindow = FileWindow {
        prefix_bytes: PREFIX_WINDOW_BYTES,
        suffix_bytes: EDITOR_SUFFIX_BYTES,
        step_bytes: EDITOR_WINDOW_STEP,
    };
    /// A completion no other one follows (a benchmark's): the most of the file on each side.
    pub const ONE_OFF: FileWindow = FileWindow {
        prefix_bytes: PREFIX_WINDOW_BYTES,
        suffix_bytes: SUFFIX_WINDOW_BYTES,
        step_bytes: 1,
    };
}

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
    /// The part of the file around the cursor in the prompt.
    pub window: FileWindow,
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
    /// Whether the answer (of the last round) stopped at `max_new_tokens` rather than where
    /// the model or a stop string ended it: its last line may be unfinished.
    pub capped: bool,
    /// With iterative retrieval: the first round's text and context.
    pub first_round: Option<(String, RepoContext)>,
    /// Where the time went.
    pub timings: CompleteTimings,
}

/// Where one [`complete`] call spent its time (both rounds together with iterative
/// retrieval), wall and CPU.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct CompleteTimings {
    /// Retrieval by phase, when an index was given.
    pub retrieval: Option<GatherTimings>,
    /// Whether the (last) retrieval found its context kept from an earlier request.
    pub retrieval_cached: bool,
    /// The generator's calls: the prompt made into tokens and checked against the KV cache,
    /// evaluated, and the answer decoded.
    pub generate: PhaseTime,
    /// Of `generate`, the wall time the backend reports for prompt evaluation and decoding
    /// (the rest is tokenizing and the backend's bookkeeping).
    pub prompt_eval_ms: f64,
    pub decode_ms: f64,
    /// The whole call.
    pub total: PhaseTime,
}

/// The retrieval query of a gap: the lines before and after the cursor's line, without that
/// line, so the query (and the context it finds) stays the same while the line is typed.
pub fn query_around(prefix: &str, suffix: &str) -> String {
    let line_start = prefix.rfind('\n').map_or(0, |at| at + 1);
    let line_end = suffix.find('\n').map_or(suffix.len(), |at| at + 1);
    lines_around(&prefix[..line_start], &suffix[line_end..])
}

/// The last lines of `before` and the first of `after`, joined.
fn lines_around(before: &str, after: &str) -> String {
    let last: Vec<&str> = before.lines().rev().take(QUERY_LINES_BEFORE).collect();
    let mut query: Vec<&str> = last.into_iter().rev().collect();
    query.extend(after.lines().take(QUERY_LINES_AFTER));
    query.join("\n")
}

/// The end of `prefix` that goes into the prompt: at most `max` bytes (plus the start of the
/// cursor's line when that line alone is longer), starting at a line start. With `step` above
/// 1 the earliest start is rounded up to a multiple of `step`, so the window's first line stays
/// while the cursor moves within a step (the window is then `max - step` bytes or more).
pub fn prefix_window(prefix: &str, max: usize, step: usize) -> &str {
    if prefix.len() <= max {
        return prefix;
    }
    let line_start = prefix.rfind('\n').map_or(0, |at| at + 1);
    let mut from = (prefix.len() - max).next_multiple_of(step.max(1));
    while from < prefix.len() && !prefix.is_char_boundary(from) {
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

/// Fill the gap of `request`, with context from `index` when given (kept in `cache` between
/// calls while its query and the index stay the same: see [`ContextCache`]). The prompt holds
/// the [`prefix_window`] and [`suffix_window`] of the file around the cursor (its
/// [`FileWindow`]); the whole file is read for its imports. A model without fill-in-the-middle
/// tokens is [`Error::NoFim`].
pub fn complete(
    generator: &mut dyn Generator,
    index: Option<&RepoIndex>,
    cache: &mut ContextCache,
    request: &CompleteRequest<'_>,
    observer: &mut dyn Observer,
) -> Result<Completed> {
    let mut total = Stopwatch::start();
    let Some(tokens) = generator.fim_tokens() else {
        return Err(Error::NoFim {
            model: generator.info().name.clone(),
        });
    };
    let mut timings = CompleteTimings::default();
    let whole = format!("{}{}", request.prefix, request.suffix);
    let current = request.path.map(|path| CurrentFile { path, text: &whole });
    let context = match index {
        Some(index) => {
            let query = query_around(request.prefix, request.suffix);
            let gathered = cache.gather(index, &query, None, current, request.budget_tokens)?;
            timings.retrieval = Some(gathered.timings);
            timings.retrieval_cached = gathered.cached;
            Some(gathered.context)
        }
        None => None,
    };
    let generation = fill(
        generator,
        &tokens,
        request,
        context.as_ref(),
        &mut timings,
        observer,
    )?;
    let (text, tokens_out, capped) = first_text(&generation);
    let (Some(index), true, Some(first)) = (index, request.iterative, context.clone()) else {
        timings.total = total.lap();
        return Ok(Completed {
            text,
            tokens: tokens_out,
            capped,
            context,
            prompt_tokens: generation.prompt_tokens,
            first_round: None,
            timings,
        });
    };
    // RepoCoder: the query is the window before the cursor continued by the draft (the
    // cursor's line included: the draft continues it).
    let drafted = format!("{}{text}", request.prefix);
    let query = lines_around(&drafted, request.suffix);
    let line = draft_line(request.prefix, &drafted);
    let gathered = cache.gather(index, &query, line, current, request.budget_tokens)?;
    timings.retrieval = Some(timings.retrieval.unwrap_or_default() + gathered.timings);
    timings.retrieval_cached = gathered.cached;
    let mut second = gathered.context;
    mark_iteration(&first, &mut second);
    let generation = fill(
        generator,
        &tokens,
        request,
        Some(&second),
        &mut timings,
        observer,
    )?;
    let (again, tokens_again, capped) = first_text(&generation);
    timings.total = total.lap();
    Ok(Completed {
        text: again,
        tokens: tokens_again,
        capped,
        context: Some(second),
        prompt_tokens: generation.prompt_tokens,
        first_round: Some((text, first)),
        timings,
    })
}

/// The line the draft wrote: the cursor's line of `drafted` (`prefix` continued by the draft),
/// or the draft's first line with code when the cursor's line is blank. `None` when the draft
/// wrote nothing but blanks.
fn draft_line<'d>(prefix: &str, drafted: &'d str) -> Option<&'d str> {
    let line_start = prefix.rfind('\n').map_or(0, |at| at + 1);
    drafted[line_start..]
        .lines()
        .find(|line| !line.trim().is_empty())
}

/// One fill-in-the-middle request for `request` with `context` in front.
fn fill(
    generator: &mut dyn Generator,
    tokens: &FimTokens,
    request: &CompleteRequest<'_>,
    context: Option<&RepoContext>,
    timings: &mut CompleteTimings,
    observer: &mut dyn Observer,
) -> Result<Generation> {
    let mut watch = Stopwatch::start();
    let infill = Infill {
        prefix: prefix_window(
            request.prefix,
            request.window.prefix_bytes,
            request.window.step_bytes,
        )
        .to_string(),
        suffix: suffix_window(request.suffix, request.window.suffix_bytes).to_string(),
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
    let generation = generator.generate(&gen_request, observer)?;
    timings.generate = timings.generate + watch.lap();
    timings.prompt_eval_ms += generation.prompt_ms;
    timings.decode_ms += generation.decode_ms;
    Ok(generation)
}

/// The first completion's text and tokens, and whether it stopped at the token cap (none:
/// empty).
fn first_text(generation: &Generation) -> (String, usize, bool) {
    generation
        .completions
        .first()
        .map_or((String::new(), 0, false), |c| {
            (c.text.clone(), c.tokens, c.finish == FinishReason::Length)
        })
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

    /// One completion without an index and with a fresh context cache.
    fn complete_alone(
        generator: &mut ScriptedGenerator,
        request: &CompleteRequest<'_>,
    ) -> Result<Completed> {
        complete(
            generator,
            None,
            &mut ContextCache::new(),
            request,
            &mut Silent,
        )
    }
    #[test]
    fn the_gap_is_asked_with_fim_tokens_and_the_answer_returned() {
        let mut generator = ScriptedGenerator::new(["a + b"]).with_fim(FimTokens::qwen());
        let request = CompleteRequest {
            prefix: "def add(a, b):\n    return ",
            suffix: "\n",
            path: Some("add.py"),
            budget_tokens: 100,
            window: FileWindow::ONE_OFF,
            params: params(),
            iterative: false,
        };
        let done = complete_alone(&mut generator, &request).unwrap();
        assert_eq!(done.text, "a + b");
        let prompt = &generator.requests[0].prompt;
        assert!(matches!(prompt, Prompt::Fill { .. }), "{prompt:?}");
        assert_eq!(
            prompt.completion_text().unwrap(),
            "<|repo_name|>repository\n<|file_sep|>add.py\n<|fim_prefix|>def add(a, b):\n    return <|fim_suffix|>\n<|fim_middle|>"
        );
    }

    #[test]
    fn the_next_keystroke_on_a_line_reuses_the_context_and_gets_the_same_prompt_front() {
        let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/repo");
        let dir = tempfile::tempdir().unwrap();
        let mut index = RepoIndex::open(&fixture, dir.path(), None).unwrap();
        index.update().unwrap();
        let mut generator = ScriptedGenerator::new(["w * h"; 3]).with_fim(FimTokens::qwen());
        let mut cache = ContextCache::new();
        let before = "from geometry.shapes import rectangle_area\n\n\ndef area(w, h):\n";
        let mut done = Vec::new();
        for typed in ["    return ", "    return r", "    return re"] {
            let prefix = format!("{before}{typed}");
            let request = CompleteRequest {
                prefix: &prefix,
                suffix: "\n",
                path: Some("report.py"),
                budget_tokens: 200,
                window: FileWindow::EDITOR,
                params: params(),
                iterative: false,
            };
            done.push(
                complete(
                    &mut generator,
                    Some(&index),
                    &mut cache,
                    &request,
                    &mut Silent,
                )
                .unwrap(),
            );
        }
        let cached: Vec<bool> = done.iter().map(|d| d.timings.retrieval_cached).collect();
        assert_eq!(cached, [false, true, true]);
        assert!(done.iter().all(|d| d.context == done[0].context));
        assert!(
            done[0]
                .context
                .as_ref()
                .unwrap()
                .chunks
                .last()
                .unwrap()
                .symbol
                .as_deref()
                == Some("rectangle_area")
        );
        // The prompts differ only from the cursor's line on.
        let texts: Vec<String> = generator
            .requests
            .iter()
            .map(|r| r.prompt.completion_text().unwrap().into_owned())
            .collect();
        let front = texts[0].find("    return ").unwrap();
        assert!(texts.iter().all(|t| t[..front] == texts[0][..front]));
        assert!(
            done.iter()
                .all(|d| d.timings.total.wall_ms >= d.timings.generate.wall_ms)
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
            window: FileWindow::ONE_OFF,
            params: params(),
            iterative: false,
        };
        let err = complete_alone(&mut generator, &request).unwrap_err();
        assert!(err.to_string().contains("fill-in-the-middle"), "{err}");
        assert!(generator.requests.is_empty());
    }

    #[test]
    fn a_long_file_is_cut_to_whole_lines_around_the_cursor() {
        let prefix: String = (0..1000).map(|n| format!("before {n:04}\n")).collect();
        let prefix = format!("{prefix}    let x = ");
        let window = prefix_window(&prefix, 120, 1);
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
        assert_eq!(prefix_window("x = 1\ny = ", 120, 1), "x = 1\ny = ");
        assert_eq!(suffix_window("z\n", 60), "z\n");
        let long_line = format!("a\n{}", "é".repeat(100));
        assert_eq!(prefix_window(&long_line, 20, 1), "é".repeat(100));
        let long_suffix = format!("{}\nnext\n", "é".repeat(100));
        assert_eq!(
            suffix_window(&long_suffix, 20),
            format!("{}\n", "é".repeat(100))
        );
        assert_eq!(suffix_window(&"é".repeat(100), 21), "é".repeat(100));
        // A window edge inside a character of an earlier line.
        let wide = format!("{}\n{}\nx = ", "é".repeat(50), "ü".repeat(50));
        assert_eq!(
            prefix_window(&wide, 111, 1),
            format!("{}\nx = ", "ü".repeat(50))
        );
        assert_eq!(prefix_window(&wide, 104, 1), "x = ");
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
            window: FileWindow::ONE_OFF,
            params: params(),
            iterative: false,
        };
        complete_alone(&mut generator, &request).unwrap();
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
        let query = query_around(&prefix, "after1\nafter2\nafter3\n");
        assert!(query.starts_with("line20\n"), "{query}");
        // The cursor's line is the empty one after `line59`, ending in `after1`.
        assert!(query.ends_with("line59\nafter2\nafter3"), "{query}");
    }

    #[test]
    fn the_draft_line_is_the_cursor_line_as_the_draft_continues_it() {
        let prefix = "def f(x):\n    y = ";
        assert_eq!(
            draft_line(prefix, &format!("{prefix}g(x)\n    return y\n")),
            Some("    y = g(x)")
        );
        // At the start of a blank line, the draft's first line with code.
        let prefix = "def f(x):\n";
        assert_eq!(
            draft_line(prefix, &format!("{prefix}\n    return x\n")),
            Some("    return x")
        );
        assert_eq!(draft_line(prefix, &format!("{prefix}  \n")), None);
    }

    #[test]
    fn the_query_leaves_out_the_cursor_line_so_typing_on_it_keeps_the_query() {
        let before: String = (0..60).map(|n| format!("line{n}\n")).collect();
        let after = "after1\nafter2\n";
        let typed = "    let total = items.iter().sum();";
        let queries: Vec<String> = (0..=typed.len())
            .map(|at| {
                let prefix = format!("{before}{}", &typed[..at]);
                let suffix = format!("{}\n{after}", &typed[at..]);
                query_around(&prefix, &suffix)
            })
            .collect();
        assert!(queries.iter().all(|q| q == &queries[0]), "{queries:?}");
        assert!(queries[0].starts_with("line20\n"), "{}", queries[0]);
        assert!(
            queries[0].ends_with("line59\nafter1\nafter2"),
            "{}",
            queries[0]
        );
        assert!(!queries[0].contains("total"));
        // On the first line, or with nothing after the cursor's line, one side is empty.
        assert_eq!(query_around("x = ", " 1\ny = 2\n"), "y = 2");
        assert_eq!(query_around("a\nx = ", " 1"), "a");
    }

    #[test]
    fn the_window_start_moves_in_steps_while_typing() {
        let lines: String = (0..2000).map(|n| format!("line {n:05}\n")).collect();
        let start = |prefix: &str| {
            let window = prefix_window(prefix, 4_500, 1_024);
            assert!(window.len() <= 4_500 && window.len() > 4_500 - 1_024 - 12);
            assert!(window.starts_with("line "), "a line start: {window:?}");
            prefix.len() - window.len()
        };
        // Typing one byte at a time: the start moves once each time the cursor crosses a
        // multiple of the step, and then to the first line start after that multiple.
        let mut starts = Vec::new();
        for typed in 0..3_000 {
            let prefix = format!("{lines}{}", "x".repeat(typed));
            let from = start(&prefix);
            if starts.last() != Some(&from) {
                starts.push(from);
            }
        }
        assert_eq!(starts.len(), 4, "{starts:?}");
        assert!(
            starts.windows(2).all(|w| w[1] - w[0] >= 1_000),
            "{starts:?}"
        );
        // A step of 1 moves with every line crossed, as before.
        let exact: std::collections::BTreeSet<usize> = (0..100)
            .map(|typed| {
                let prefix = format!("{lines}{}", "x\n".repeat(typed));
                prefix.len() - prefix_window(&prefix, 4_500, 1).len()
            })
            .collect();
        assert!(exact.len() > 10, "{exact:?}");
        // A window edge inside a character still starts at a line start.
        let wide: String = (0..400).map(|n| format!("é{n:03}\n")).collect();
        let window = prefix_window(&wide, 1_000, 256);
        assert!(
            window.starts_with('é') && window.len() <= 1_000,
            "{window:?}"
        );
    }
}
