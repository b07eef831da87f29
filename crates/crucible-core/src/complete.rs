//! Completion at a cursor: fill the gap between the text before and after it with the model's
//! fill-in-the-middle tokens, with repository context in front. The one path behind the
//! language server's completions.

use crucible_index::Index;
use crucible_infer::{GenRequest, Generator, Infill, Observer, Prompt};
use crucible_types::GenParams;

use crate::repo_context::{CurrentFile, RepoContext, gather};
use crate::{Error, Result};

/// Lines before the cursor (and after it) that make the retrieval query.
const QUERY_LINES_BEFORE: usize = 40;
const QUERY_LINES_AFTER: usize = 10;

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
}

/// What [`complete`] wrote.
#[derive(Debug, Clone)]
pub struct Completed {
    /// The text for the gap.
    pub text: String,
    /// The repository context in the prompt, when an index was given.
    pub context: Option<RepoContext>,
    /// Tokens of the prompt and of the answer.
    pub prompt_tokens: usize,
    pub tokens: usize,
}

/// The retrieval query of a gap: the lines around the cursor.
pub fn query_around(prefix: &str, suffix: &str) -> String {
    let before: Vec<&str> = prefix.lines().rev().take(QUERY_LINES_BEFORE).collect();
    let mut query: Vec<&str> = before.into_iter().rev().collect();
    query.extend(suffix.lines().take(QUERY_LINES_AFTER));
    query.join("\n")
}

/// Fill the gap of `request`, with context from `index` when given. A model without
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
    let context = match index {
        Some(index) => {
            let whole = format!("{}{}", request.prefix, request.suffix);
            let current = request.path.map(|path| CurrentFile { path, text: &whole });
            let query = query_around(request.prefix, request.suffix);
            Some(gather(index, &query, current, request.budget_tokens)?)
        }
        None => None,
    };
    let infill = Infill {
        prefix: request.prefix.to_string(),
        suffix: request.suffix.to_string(),
        extra: context
            .as_ref()
            .map(RepoContext::extra_files)
            .unwrap_or_default(),
        repo_name: context.as_ref().map(|c| c.repo_name.clone()),
        filename: request.path.map(str::to_string),
        answer_prefix: String::new(),
    };
    let gen_request = GenRequest {
        prompt: Prompt::Fill {
            tokens,
            infill: Box::new(infill),
        },
        params: request.params.clone(),
    };
    let generation = generator.generate(&gen_request, observer)?;
    let completion = generation.completions.into_iter().next();
    Ok(Completed {
        text: completion
            .as_ref()
            .map(|c| c.text.clone())
            .unwrap_or_default(),
        tokens: completion.map_or(0, |c| c.tokens),
        context,
        prompt_tokens: generation.prompt_tokens,
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

    #[test]
    fn the_gap_is_asked_with_fim_tokens_and_the_answer_returned() {
        let mut generator = ScriptedGenerator::new(["a + b"]).with_fim(FimTokens::qwen());
        let request = CompleteRequest {
            prefix: "def add(a, b):\n    return ",
            suffix: "\n",
            path: Some("add.py"),
            budget_tokens: 100,
            params: params(),
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
        };
        let err = complete(&mut generator, None, &request, &mut Silent).unwrap_err();
        assert!(err.to_string().contains("fill-in-the-middle"), "{err}");
        assert!(generator.requests.is_empty());
    }

    #[test]
    fn the_query_is_the_lines_around_the_cursor() {
        let prefix: String = (0..60).map(|n| format!("line{n}\n")).collect();
        let query = query_around(&prefix, "after1\nafter2\n");
        assert!(query.starts_with("line20\n"), "{query}");
        assert!(query.ends_with("line59\nafter1\nafter2"), "{query}");
    }
}
