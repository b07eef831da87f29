//! The model-free parts of OSS-Instruct style synthesis: drawing seed snippets from a curated
//! corpus deterministically, the prompt that turns a seed into a problem, and the parser that
//! turns the model's answer into a Python function task (problem, solution, tests) or a named
//! rejection. Running the model and the sandbox is `crucible-core`'s (`synth` there).

use std::io::BufRead;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64;

use crate::doc::Document;
use crate::{Error, Result};

/// Longest seed snippet, in lines (Magicoder's OSS-Instruct uses 1 to 15).
pub const MAX_SEED_LINES: usize = 15;

/// Where a seed came from, carried by every record made from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    /// The corpus document's id.
    pub doc_id: String,
    /// The document's source (path, `file:line`, `file#row`).
    pub source: String,
    /// The corpus file the document was read from, and its 1-based line there.
    pub corpus_file: String,
    pub corpus_line: usize,
    /// The snippet's first line in the document (1-based) and its number of lines.
    pub first_line: usize,
    pub lines: usize,
    /// The document's licence (its `license`/`licence` field), else the one given on the
    /// command line, else `unknown`.
    pub licence: String,
    /// The document's language, when the corpus says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
}

/// One seed snippet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seed {
    /// Its place in the draw (0-based): the run's resume key.
    pub index: usize,
    pub snippet: String,
    pub provenance: Provenance,
}

/// Where each document of the corpus is, from a first pass over the files.
struct DocRef {
    file: usize,
    line: usize,
}

fn hash(seed: u64, index: usize, attempt: u64, what: u64) -> u64 {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    bytes[8..16].copy_from_slice(&(index as u64).to_le_bytes());
    bytes[16..24].copy_from_slice(&attempt.to_le_bytes());
    bytes[24..].copy_from_slice(&what.to_le_bytes());
    xxh3_64(&bytes)
}

/// A deterministic pick in `0..n` for draw `index` of `seed`.
pub fn draw_index(seed: u64, index: usize, n: usize) -> usize {
    (hash(seed, index, u64::MAX, 0) % n.max(1) as u64) as usize
}

/// Draw `count` seeds from curated JSON Lines files (`crucible data curate` output: one
/// document object a line). The draw depends only on `seed` and the files' contents, so a
/// resumed run sees the same seeds; a document whose window holds no code (blank lines only)
/// is passed over for the next draw. Two passes over the files: memory holds the line
/// numbers of the documents, not their text.
pub fn draw_seeds(
    corpus: &[PathBuf],
    count: usize,
    seed: u64,
    default_licence: &str,
) -> Result<Vec<Seed>> {
    let mut docs = Vec::new();
    for (file, path) in corpus.iter().enumerate() {
        for_each_line(path, |line_no, line| {
            if !line.trim().is_empty() {
                docs.push(DocRef {
                    file,
                    line: line_no,
                });
            }
            Ok(())
        })?;
    }
    if docs.is_empty() {
        return Err(Error::Input {
            path: corpus.first().cloned().unwrap_or_default(),
            problem: "the corpus has no documents; give JSON Lines from `crucible data curate`"
                .into(),
        });
    }
    // Pick (document, window) for every seed; a window with no code is drawn again.
    let mut picks: Vec<(usize, usize, u64)> = (0..count)
        .map(|index| {
            (
                index,
                (hash(seed, index, 0, 0) % docs.len() as u64) as usize,
                0,
            )
        })
        .collect();
    let mut seeds: Vec<Option<Seed>> = vec![None; count];
    const MAX_ATTEMPTS: u64 = 64;
    while !picks.is_empty() {
        let mut wanted: Vec<(usize, usize, usize, u64)> = picks
            .iter()
            .map(|&(index, doc, attempt)| (docs[doc].file, docs[doc].line, index, attempt))
            .collect();
        wanted.sort_unstable();
        let mut next = Vec::new();
        let mut at = 0;
        for (file, path) in corpus.iter().enumerate() {
            if !wanted[at..].iter().any(|w| w.0 == file) {
                continue;
            }
            for_each_line(path, |line_no, line| {
                while at < wanted.len() && wanted[at].0 == file && wanted[at].1 == line_no {
                    let (_, _, index, attempt) = wanted[at];
                    at += 1;
                    let doc = parse_doc(path, line_no, line)?;
                    match window(&doc, seed, index, attempt) {
                        Some((first_line, snippet)) => {
                            let lines = snippet.lines().count();
                            seeds[index] = Some(Seed {
                                index,
                                snippet,
                                provenance: Provenance {
                                    doc_id: doc.id.clone(),
                                    source: doc.source.clone(),
                                    corpus_file: path.display().to_string(),
                                    corpus_line: line_no,
                                    first_line,
                                    lines,
                                    licence: licence_of(&doc, default_licence),
                                    language: doc.language.clone(),
                                },
                            });
                        }
                        None if attempt + 1 < MAX_ATTEMPTS => {
                            let doc =
                                (hash(seed, index, attempt + 1, 0) % docs.len() as u64) as usize;
                            next.push((index, doc, attempt + 1));
                        }
                        None => {}
                    }
                }
                Ok(())
            })?;
        }
        picks = next;
    }
    let found: Vec<Seed> = seeds.into_iter().flatten().collect();
    if found.len() < count {
        return Err(Error::Input {
            path: corpus[0].clone(),
            problem: format!(
                "only {} of {count} seeds have code after {MAX_ATTEMPTS} draws each; the corpus is mostly empty documents",
                found.len()
            ),
        });
    }
    Ok(found)
}

fn licence_of(doc: &Document, default: &str) -> String {
    for key in ["license", "licence", "licenses", "license_type"] {
        match doc.metadata.get(key) {
            Some(serde_json::Value::String(s)) if !s.trim().is_empty() => return s.clone(),
            Some(serde_json::Value::Array(items)) if !items.is_empty() => {
                let names: Vec<String> = items
                    .iter()
                    .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                    .collect();
                return names.join(" OR ");
            }
            _ => {}
        }
    }
    default.to_owned()
}

fn parse_doc(path: &Path, line_no: usize, line: &str) -> Result<Document> {
    serde_json::from_str(line).map_err(|err| Error::Input {
        path: path.to_path_buf(),
        problem: format!(
            "line {line_no} is not a curated document ({err}); synth reads `crucible data curate` output (data/*.jsonl)"
        ),
    })
}

/// The snippet of 1 to [`MAX_SEED_LINES`] lines this seed takes from `doc`, with its first line
/// (1-based); blank lines at its ends are trimmed, and a window of blank lines is `None`.
fn window(doc: &Document, seed: u64, index: usize, attempt: u64) -> Option<(usize, String)> {
    let lines: Vec<&str> = doc.text.lines().collect();
    if lines.is_empty() {
        return None;
    }
    let len = 1 + (hash(seed, index, attempt, 1) % MAX_SEED_LINES as u64) as usize;
    let len = len.min(lines.len());
    let start = (hash(seed, index, attempt, 2) % (lines.len() - len + 1) as u64) as usize;
    let mut part = &lines[start..start + len];
    let mut first = start;
    while let [head, rest @ ..] = part
        && head.trim().is_empty()
    {
        part = rest;
        first += 1;
    }
    while let [rest @ .., last] = part
        && last.trim().is_empty()
    {
        part = rest;
    }
    if part.is_empty() {
        return None;
    }
    Some((first + 1, part.join("\n")))
}

fn for_each_line(path: &Path, mut f: impl FnMut(usize, &str) -> Result<()>) -> Result<()> {
    let file = std::fs::File::open(path).map_err(|source| Error::Io {
        action: "read",
        path: path.to_path_buf(),
        source,
    })?;
    let reader = std::io::BufReader::new(file);
    for (idx, line) in reader.lines().enumerate() {
        let line = line.map_err(|source| Error::Io {
            action: "read",
            path: path.to_path_buf(),
            source,
        })?;
        f(idx + 1, &line)?;
    }
    Ok(())
}

/// The system and user messages asking the model to turn `seed` into a Python exercise.
pub fn oss_instruct_prompt(seed: &Seed) -> (String, String) {
    let lang = seed.provenance.language.as_deref().unwrap_or("");
    let system = "You are an expert programmer who writes clear, self-contained programming exercises with correct solutions and tests.".to_owned();
    let user = format!(
        "Here is a code snippet from a real project:\n```{lang}\n{}\n```\n\n\
Take inspiration from it and write a new, self-contained Python programming problem, a correct \
solution and tests. Answer in exactly this layout:\n\n\
[Problem]\n<the problem statement: what the function takes and returns, with an example>\n\n\
[Solution]\n```python\n<one Python function (helpers allowed) that solves it, standard library only>\n```\n\n\
[Tests]\n```python\n<at least three assert statements that call the function>\n```",
        seed.snippet
    );
    (system, user)
}

/// The user message asking the model to make an existing exercise harder (`--style evol`).
pub fn evol_prompt(problem: &str, solution: &str) -> (String, String) {
    let system = "You are an expert programmer who writes clear, self-contained programming exercises with correct solutions and tests.".to_owned();
    let user = format!(
        "Here is a programming exercise and its solution:\n\n[Problem]\n{problem}\n\n[Solution]\n```python\n{solution}\n```\n\n\
Rewrite the exercise to be harder: add a constraint, an edge case or a further requirement. \
Then solve the new exercise and test it. Answer in exactly this layout:\n\n\
[Problem]\n<the new problem statement>\n\n\
[Solution]\n```python\n<one Python function (helpers allowed) that solves it, standard library only>\n```\n\n\
[Tests]\n```python\n<at least three assert statements that call the function>\n```"
    );
    (system, user)
}

/// The system and user messages asking the model to turn `seed` into a stdin/stdout exercise
/// (a program task of the task-file format: a description and examples).
pub fn oss_instruct_program_prompt(seed: &Seed) -> (String, String) {
    let lang = seed.provenance.language.as_deref().unwrap_or("");
    let system = "You are an expert programmer who writes clear, self-contained programming exercises with correct solutions and tests.".to_owned();
    let user = format!(
        "Here is a code snippet from a real project:\n```{lang}\n{}\n```\n\n\
Take inspiration from it and write a new, self-contained programming problem in the style of a \
programming contest: the program reads its input from standard input and prints its answer to \
standard output. Write the problem, a correct Python program and examples. Answer in exactly \
this layout:\n\n\
[Problem]\n<the problem statement, with the input and output formats>\n\n\
[Solution]\n```python\n<a complete Python program that reads stdin and prints the answer, standard library only>\n```\n\n\
[Examples]\nInput:\n```\n<an input>\n```\nOutput:\n```\n<the exact output for it>\n```\n\n\
<at least three examples, each an Input block followed by its Output block>",
        seed.snippet
    );
    (system, user)
}

/// A parsed program-task answer: a problem, a program and its stdin/stdout examples.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SynthProgram {
    pub problem: String,
    /// The model's program.
    pub solution: String,
    /// `(input, output)` examples, in the answer's order.
    pub examples: Vec<(String, String)>,
}

/// Parse the model's answer to [`oss_instruct_program_prompt`]: the first code block is the
/// program, the blocks after it pair up as input and expected output (a block labelled
/// `Input` always starts a new pair). Anything that does not fit is a [`ParseRejection`].
pub fn parse_program_answer(answer: &str) -> Result<SynthProgram, ParseRejection> {
    let blocks = code_blocks(answer);
    if blocks.len() < 3 {
        return Err(ParseRejection::MissingCodeBlocks);
    }
    let solution = &blocks[0];
    if solution.body.trim().is_empty() {
        return Err(ParseRejection::NoSolution);
    }
    let problem = clean_problem(&answer[..solution.start]);
    if problem.chars().filter(|c| c.is_alphanumeric()).count() < 10 {
        return Err(ParseRejection::NoProblem);
    }
    let mut examples = Vec::new();
    let mut input: Option<String> = None;
    for block in &blocks[1..] {
        // The label before the block: the last non-blank line ahead of its opening fence.
        let label = answer[..block.start]
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .to_ascii_lowercase();
        match input.take() {
            Some(inp) if !label.contains("input") => {
                examples.push((with_newline(&inp), with_newline(&block.body)));
            }
            _ => input = Some(block.body.clone()),
        }
    }
    if examples.is_empty() {
        return Err(ParseRejection::NoTests);
    }
    Ok(SynthProgram {
        problem,
        solution: solution.body.clone(),
        examples,
    })
}

fn with_newline(text: &str) -> String {
    let mut t = text.to_owned();
    if !t.ends_with('\n') {
        t.push('\n');
    }
    t
}

/// A parsed answer: a Python function task with its solution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SynthTask {
    /// The problem statement.
    pub problem: String,
    /// The function the tests call.
    pub entry_point: String,
    /// The task-file prompt: the entry point's signature with the problem as its docstring.
    pub prompt: String,
    /// The model's solution (whole functions).
    pub solution: String,
    /// The model's tests (assert statements).
    pub tests: String,
}

/// Why an answer could not be used as a task. The names are stable (they go into
/// `rejected.jsonl` and the summary).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParseRejection {
    /// Fewer than two fenced code blocks.
    MissingCodeBlocks,
    /// No code block defines a function.
    NoSolution,
    /// No code block after the solution runs a check: an `assert` at the top level, a
    /// `check(candidate)` function, or a test function it calls.
    NoTests,
    /// No problem statement before the solution.
    NoProblem,
    /// The tests call no function the solution defines at the top level.
    TestsCallNothing,
    /// The tests define the function they test (they would test themselves).
    TestsRedefineSolution,
}

impl ParseRejection {
    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            ParseRejection::MissingCodeBlocks => "missing_code_blocks",
            ParseRejection::NoSolution => "no_solution",
            ParseRejection::NoTests => "no_tests",
            ParseRejection::NoProblem => "no_problem",
            ParseRejection::TestsCallNothing => "tests_call_nothing",
            ParseRejection::TestsRedefineSolution => "tests_redefine_solution",
        }
    }
}

/// A fenced code block: its body and the byte offset where its opening fence starts.
struct Block {
    start: usize,
    body: String,
}

fn code_blocks(text: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut offset = 0;
    let mut open: Option<(usize, Vec<&str>)> = None;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim();
        if let Some((start, body)) = open.as_mut() {
            if trimmed == "```" {
                blocks.push(Block {
                    start: *start,
                    body: body.concat().trim_end().to_owned(),
                });
                open = None;
            } else {
                body.push(line);
            }
        } else if trimmed.starts_with("```") {
            open = Some((offset, Vec::new()));
        }
        offset += line.len();
    }
    // An answer cut off by the token limit: its last block is taken as it stands.
    if let Some((start, body)) = open {
        blocks.push(Block {
            start,
            body: body.concat().trim_end().to_owned(),
        });
    }
    blocks
}

/// Names of the functions `code` defines at the top level (`def name(` at column 0).
fn top_level_defs(code: &str) -> Vec<String> {
    code.lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("def ")?;
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            (!name.is_empty() && rest[name.len()..].trim_start().starts_with('(')).then_some(name)
        })
        .collect()
}

fn calls(code: &str, name: &str) -> bool {
    code.match_indices(name).any(|(at, _)| {
        let before_ok = code[..at]
            .chars()
            .next_back()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == '.'));
        before_ok && code[at + name.len()..].trim_start().starts_with('(')
    })
}

/// Whether running `tests` as a script checks anything: an `assert` at the top level, a
/// `check(candidate)` function (the executor calls it), or a call at the top level of a test
/// function the block defines. Asserts only inside functions nobody calls check nothing.
fn runs_checks(tests: &str) -> bool {
    let defs = top_level_defs(tests);
    tests.lines().any(|line| {
        line.starts_with("assert")
            || line.starts_with("def check(")
            || defs.iter().any(|d| {
                line.starts_with(d.as_str()) && line[d.len()..].trim_start().starts_with('(')
            })
    })
}

/// Strip headings the model put around the problem: `[Problem]`, `### Problem`, `Problem:`.
fn clean_problem(text: &str) -> String {
    let mut lines: Vec<&str> = Vec::new();
    for line in text.lines() {
        let bare = line
            .trim()
            .trim_start_matches('#')
            .trim()
            .trim_matches('*')
            .trim();
        let lower = bare.to_ascii_lowercase();
        let heading = lower
            .trim_start_matches('[')
            .trim_end_matches(':')
            .trim_end_matches(']');
        if matches!(
            heading,
            "problem" | "problem statement" | "solution" | "tests" | "test"
        ) {
            continue;
        }
        let body = ["[problem]", "problem:", "problem statement:"]
            .iter()
            .find_map(|p| lower.starts_with(p).then(|| bare[p.len()..].trim()))
            .unwrap_or(line);
        lines.push(body);
    }
    lines.join("\n").trim().to_owned()
}

/// Parse the model's answer. Anything that does not fit is a [`ParseRejection`], never a panic.
pub fn parse_answer(answer: &str) -> Result<SynthTask, ParseRejection> {
    let blocks = code_blocks(answer);
    if blocks.len() < 2 {
        return Err(ParseRejection::MissingCodeBlocks);
    }
    let Some(sol_at) = blocks
        .iter()
        .position(|b| !top_level_defs(&b.body).is_empty() && !b.body.contains("assert "))
        .or_else(|| {
            blocks
                .iter()
                .position(|b| !top_level_defs(&b.body).is_empty())
        })
    else {
        return Err(ParseRejection::NoSolution);
    };
    let solution = &blocks[sol_at];
    let Some(tests) = blocks[sol_at + 1..].iter().find(|b| runs_checks(&b.body)) else {
        return Err(ParseRejection::NoTests);
    };
    let problem = clean_problem(&answer[..solution.start]);
    if problem.chars().filter(|c| c.is_alphanumeric()).count() < 10 {
        return Err(ParseRejection::NoProblem);
    }
    let defs = top_level_defs(&solution.body);
    // `check(candidate)` receives the entry point: the solution's last function.
    let by_check = || {
        tests
            .body
            .lines()
            .any(|l| l.starts_with("def check("))
            .then(|| defs.last().cloned())
            .flatten()
    };
    let Some(entry_point) = defs
        .iter()
        .rev()
        .find(|d| calls(&tests.body, d))
        .cloned()
        .or_else(by_check)
    else {
        return Err(ParseRejection::TestsCallNothing);
    };
    if top_level_defs(&tests.body).contains(&entry_point) {
        return Err(ParseRejection::TestsRedefineSolution);
    }
    let prompt = signature_prompt(&solution.body, &entry_point, &problem);
    Ok(SynthTask {
        problem,
        entry_point,
        prompt,
        solution: solution.body.clone(),
        tests: tests.body.clone(),
    })
}

/// The entry point's `def` line(s) (up to the colon that ends the header) with `problem` as its
/// docstring, after the solution's imports: a HumanEval-style function prompt.
fn signature_prompt(solution: &str, entry_point: &str, problem: &str) -> String {
    let mut prompt = String::new();
    for line in solution.lines() {
        let t = line.trim_start();
        if line == t && (t.starts_with("import ") || t.starts_with("from ")) {
            prompt.push_str(line);
            prompt.push('\n');
        }
    }
    if !prompt.is_empty() {
        prompt.push('\n');
    }
    let header_start = format!("def {entry_point}");
    let mut header = String::new();
    let mut inside = false;
    for line in solution.lines() {
        if !inside && line.starts_with(&header_start) {
            inside = true;
        }
        if inside {
            header.push_str(line);
            header.push('\n');
            if line.trim_end().ends_with(':') {
                break;
            }
        }
    }
    prompt.push_str(&header);
    let doc = problem
        .replace('\\', "\\\\")
        .replace("\"\"\"", "\\\"\\\"\\\"");
    prompt.push_str("    \"\"\"");
    for (idx, line) in doc.lines().enumerate() {
        if idx > 0 {
            prompt.push_str("\n    ");
        }
        prompt.push_str(line.trim_end());
    }
    prompt.push_str("\n    \"\"\"\n");
    prompt
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "[Problem]\nWrite a function `count_vowels(s)` that returns how many vowels the string has.\n\n[Solution]\n```python\ndef count_vowels(s):\n    return sum(1 for c in s.lower() if c in 'aeiou')\n```\n\n[Tests]\n```python\nassert count_vowels('hello') == 2\nassert count_vowels('') == 0\n```\n";

    #[test]
    fn a_well_formed_answer_parses() {
        let task = parse_answer(GOOD).unwrap();
        assert_eq!(task.entry_point, "count_vowels");
        assert!(
            task.problem.starts_with("Write a function"),
            "{}",
            task.problem
        );
        assert!(!task.problem.contains("[Problem]"));
        assert!(
            task.prompt
                .starts_with("def count_vowels(s):\n    \"\"\"Write"),
            "{}",
            task.prompt
        );
        assert!(task.tests.contains("assert count_vowels('') == 0"));
        assert!(task.solution.starts_with("def count_vowels"));
    }

    #[test]
    fn a_program_answer_pairs_inputs_with_outputs() {
        let answer = "[Problem]\nRead two integers and print their sum.\n\n[Solution]\n```python\na, b = map(int, input().split())\nprint(a + b)\n```\n\n[Examples]\nInput:\n```\n3 5\n```\nOutput:\n```\n8\n```\nInput:\n```\n-1 1\n```\nOutput:\n```\n0\n```\n";
        let p = parse_program_answer(answer).unwrap();
        assert_eq!(p.problem, "Read two integers and print their sum.");
        assert!(p.solution.starts_with("a, b = map"));
        assert_eq!(
            p.examples,
            vec![
                ("3 5\n".to_owned(), "8\n".to_owned()),
                ("-1 1\n".to_owned(), "0\n".to_owned())
            ]
        );
        assert_eq!(
            parse_program_answer("Problem text long enough\n```python\nprint(1)\n```\n"),
            Err(ParseRejection::MissingCodeBlocks)
        );
        assert_eq!(
            parse_program_answer(
                "Problem text long enough\n```python\nprint(1)\n```\nInput:\n```\n1\n```\nInput:\n```\n2\n```\n"
            ),
            Err(ParseRejection::NoTests)
        );
    }

    #[test]
    fn bad_answers_are_named_rejections() {
        assert_eq!(
            parse_answer("no code at all"),
            Err(ParseRejection::MissingCodeBlocks)
        );
        assert_eq!(
            parse_answer("P long enough text\n```python\nx = 1\n```\n```python\nassert x\n```"),
            Err(ParseRejection::NoSolution)
        );
        assert_eq!(
            parse_answer(
                "Problem statement here\n```python\ndef f(x):\n    return x\n```\n```python\nprint(f(1))\n```"
            ),
            Err(ParseRejection::NoTests)
        );
        assert_eq!(
            parse_answer(
                "```python\ndef f(x):\n    return x\n```\n```python\nassert f(1) == 1\n```"
            ),
            Err(ParseRejection::NoProblem)
        );
        assert_eq!(
            parse_answer(
                "A problem about things\n```python\ndef f(x):\n    return x\n```\n```python\nassert g(1) == 1\n```"
            ),
            Err(ParseRejection::TestsCallNothing)
        );
        assert_eq!(
            parse_answer(
                "A problem about things\n```python\ndef f(x):\n    return x\n```\n```python\ndef f(x):\n    return 1\nassert f(1) == 1\n```"
            ),
            Err(ParseRejection::TestsRedefineSolution)
        );
    }

    #[test]
    fn asserts_in_a_test_function_nobody_calls_are_no_tests() {
        let uncalled = "A problem about sums\n```python\ndef add(a, b):\n    return a + b\n```\n```python\ndef test_add():\n    assert add(1, 2) == 3\n```";
        assert_eq!(parse_answer(uncalled), Err(ParseRejection::NoTests));
        let called = format!(
            "{uncalled}\n```python\ndef test_add():\n    assert add(1, 2) == 3\n\ntest_add()\n```"
        );
        assert_eq!(parse_answer(&called).unwrap().entry_point, "add");
        let check = "A problem about sums\n```python\ndef add(a, b):\n    return a + b\n```\n```python\ndef check(candidate):\n    assert candidate(1, 2) == 3\n```";
        assert!(parse_answer(check).is_ok());
    }

    #[test]
    fn an_answer_cut_off_in_its_tests_keeps_the_asserts_it_has() {
        let cut = "A problem about sums\n```python\ndef add(a, b):\n    return a + b\n```\n```python\nassert add(1, 2) == 3\nassert add(";
        let task = parse_answer(cut).unwrap();
        assert_eq!(task.entry_point, "add");
        assert!(task.tests.ends_with("assert add("));
    }

    fn corpus(dir: &Path, docs: &[(&str, &str)]) -> PathBuf {
        let path = dir.join("c.jsonl");
        let mut text = String::new();
        for (id, body) in docs {
            let doc = serde_json::json!({"id": id, "source": format!("src/{id}"), "language": "python", "text": body, "metadata": {"license": "MIT"}});
            text.push_str(&doc.to_string());
            text.push('\n');
        }
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn seeds_are_deterministic_short_and_carry_provenance() {
        let dir = tempfile::tempdir().unwrap();
        let body: String = (0..40).map(|i| format!("x{i} = {i}\n")).collect();
        let path = corpus(dir.path(), &[("a", &body), ("b", "\n\n\n"), ("c", &body)]);
        let one = draw_seeds(std::slice::from_ref(&path), 12, 7, "unknown").unwrap();
        let two = draw_seeds(std::slice::from_ref(&path), 12, 7, "unknown").unwrap();
        let other = draw_seeds(std::slice::from_ref(&path), 12, 8, "unknown").unwrap();
        assert_eq!(one, two);
        assert_ne!(one, other);
        assert_eq!(one.len(), 12);
        for (i, seed) in one.iter().enumerate() {
            assert_eq!(seed.index, i);
            let n = seed.snippet.lines().count();
            assert!((1..=MAX_SEED_LINES).contains(&n), "{n}");
            assert_eq!(seed.provenance.lines, n);
            assert_ne!(seed.provenance.doc_id, "b", "a blank document gave a seed");
            assert_eq!(seed.provenance.licence, "MIT");
            let first = seed.provenance.first_line;
            assert!(seed.snippet.starts_with(&format!("x{} = ", first - 1)));
        }
    }

    #[test]
    fn a_corpus_that_is_not_curated_output_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.jsonl");
        std::fs::write(&path, "{\"x\": 1}\n").unwrap();
        let err = draw_seeds(&[path], 1, 0, "unknown")
            .unwrap_err()
            .to_string();
        assert!(err.contains("crucible data curate"), "{err}");
    }
}
