//! Evaluating next-line prediction tasks ([`super::RepoTask`]) through the one completion path
//! with repository context ([`crate::complete::complete`]): in-file only (no index), BM25
//! (imported definitions and BM25 hits, the path `generate --repo` and the language server
//! take), iterative retrieval (BM25, then again with the first draft), and the same two with
//! hybrid search (BM25 and embeddings fused by reciprocal rank fusion). The prompt is a
//! fill-in-the-middle prompt with the file before the line as prefix and an empty suffix; the
//! prediction is the first line of the answer (greedy, stopping at a newline).
//!
//! Each prediction is scored against the gold line with crucible-metrics: exact match (lines
//! equal once comments and surrounding whitespace are removed), edit similarity (both
//! variants: fuzzywuzzy's `fuzz.ratio`, 0-100, as CodeXGLUE and CrossCodeEval report it, and
//! `1 - levenshtein / max length`) and CrossCodeEval's identifier match F1.
//!
//! A run directory holds one `<mode>.jsonl` per context mode, appended as each task is done
//! (a re-run skips the tasks already there), and `index/<repo>/`, each repository's index,
//! built once and brought up to date (unchanged files are not read again) by every run. The
//! file being completed is never retrieved from (`gather` excludes its path), so neither its
//! gold line nor anything after the cursor reaches the prompt through retrieval.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crucible_eval::judge::package::{BodyVerdict, judge_body, package_limits};
use crucible_eval::run::{Appender, read_records, write_atomic};
use crucible_exec::Executor;
use crucible_infer::{Generator, Silent};
use crucible_metrics::similarity::{edit_similarity, exact_match, identifier_match};
use crucible_syntax::SyntaxParser;
use crucible_types::{Decoding, GenParams};

use super::{RepoTask, Setting, TaskLanguage};
use crate::complete::{CompleteRequest, FileWindow, complete};
use crate::repo_context::ContextCache;
use crate::repo_index::{EmbeddingModel, RepoIndex};
use crate::{Error, Result};

/// Where a prediction's repository context comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContextMode {
    /// The file before the line only.
    InFile,
    /// Definitions of imported names and BM25 hits for the lines before the cursor.
    Bm25,
    /// BM25, then BM25 again with the lines before the cursor and the first draft.
    Iterative,
    /// Definitions of imported names and hybrid search hits (BM25 and embeddings fused).
    Hybrid,
    /// Hybrid, then hybrid again with the lines before the cursor and the first draft.
    HybridIterative,
}

impl ContextMode {
    /// All modes, in report order.
    pub const ALL: [ContextMode; 5] = [
        ContextMode::InFile,
        ContextMode::Bm25,
        ContextMode::Iterative,
        ContextMode::Hybrid,
        ContextMode::HybridIterative,
    ];

    /// The name in files and reports.
    pub fn name(self) -> &'static str {
        match self {
            ContextMode::InFile => "in_file_only",
            ContextMode::Bm25 => "bm25",
            ContextMode::Iterative => "iterative",
            ContextMode::Hybrid => "hybrid",
            ContextMode::HybridIterative => "hybrid_iterative",
        }
    }

    /// Whether the mode searches with embeddings (and needs the embedding model).
    pub fn uses_embeddings(self) -> bool {
        matches!(self, ContextMode::Hybrid | ContextMode::HybridIterative)
    }

    /// Whether the mode retrieves a second time with the first draft.
    pub fn is_iterative(self) -> bool {
        matches!(self, ContextMode::Iterative | ContextMode::HybridIterative)
    }
}

/// How to evaluate.
#[derive(Debug, Clone)]
pub struct EvalParams {
    /// The run directory (created).
    pub run_dir: PathBuf,
    pub mode: ContextMode,
    /// Tokens of repository context at most.
    pub budget_tokens: usize,
    /// Tokens of the answer at most.
    pub max_new_tokens: usize,
    /// Tokens of a function task's body at most.
    pub max_body_tokens: usize,
    /// The embedding model, for the modes that search with embeddings
    /// ([`ContextMode::uses_embeddings`]; without it they are [`Error::NoEmbeddingModel`]).
    pub embeddings: Option<Arc<EmbeddingModel>>,
    /// The sandbox that runs function tasks' tests (needed only when there are such tasks).
    pub executor: Option<Arc<Executor>>,
}

/// One scored prediction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LineResult {
    pub id: String,
    pub setting: Setting,
    pub mode: ContextMode,
    pub prediction: String,
    pub gold: String,
    pub exact_match: bool,
    /// fuzzywuzzy's `fuzz.ratio` (0-100).
    pub edit_similarity: f64,
    /// `1 - levenshtein / max length` (0-1).
    pub edit_similarity_levenshtein: f64,
    pub identifier_f1: f64,
    /// The chunks in the prompt: `path:start-end (reason)`.
    pub context: Vec<String>,
    /// Iterative mode: the first round's prediction.
    pub draft: Option<String>,
    pub prompt_tokens: usize,
    pub seconds: f64,
    /// A function task's verdict from its package's tests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<BodyVerdict>,
    /// The model's answer stopped at the token cap (`--max-new-tokens`, or `--max-body-tokens`
    /// for a body, whose unfinished last line was then dropped).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub capped: bool,
}

impl LineResult {
    /// What the paired comparisons count: a function task's pass, a line's exact match.
    pub fn hit(&self) -> bool {
        match &self.verdict {
            Some(verdict) => verdict.passed,
            None => self.exact_match,
        }
    }
}

/// Progress of [`evaluate`].
#[derive(Debug)]
pub enum Event<'a> {
    /// Tasks already in the run that are skipped, and tasks to do.
    Start { done: usize, todo: usize },
    /// A repository's index is up to date.
    Indexed { repo: &'a str, files: usize },
    /// A task is scored.
    Scored {
        result: &'a LineResult,
        at: usize,
        of: usize,
    },
}

/// The results file of `mode` in `run_dir`.
pub fn results_path(run_dir: &Path, mode: ContextMode) -> PathBuf {
    run_dir.join(format!("{}.jsonl", mode.name()))
}

/// Predict and score every task of `tasks` not yet in the run's results for the mode,
/// appending each result as it is made.
pub fn evaluate(
    generator: &mut dyn Generator,
    tasks: &[RepoTask],
    params: &EvalParams,
    on_event: &mut dyn FnMut(Event<'_>),
) -> Result<Vec<LineResult>> {
    std::fs::create_dir_all(&params.run_dir).map_err(|source| Error::Io {
        path: params.run_dir.clone(),
        source,
    })?;
    let path = results_path(&params.run_dir, params.mode);
    let (mut results, _torn): (Vec<LineResult>, usize) = read_records(&path)?;
    let done: BTreeSet<String> = results.iter().map(|r| r.id.clone()).collect();
    let todo: Vec<&RepoTask> = tasks.iter().filter(|t| !done.contains(&t.id)).collect();
    on_event(Event::Start {
        done: done.len(),
        todo: todo.len(),
    });
    let embeddings = match (params.mode.uses_embeddings(), &params.embeddings) {
        (true, Some(model)) => Some(model.clone()),
        (true, None) => {
            return Err(Error::NeedsEmbeddingModel {
                mode: params.mode.name(),
            });
        }
        (false, _) => None,
    };
    if params.executor.is_none() && todo.iter().any(|t| t.judge.is_some()) {
        return Err(Error::Setting {
            name: "executor",
            problem: "is missing, and function tasks are judged by running their tests".into(),
        });
    }
    let mut appender = Appender::open(&path)?;
    let mut indexes: HashMap<PathBuf, RepoIndex> = HashMap::new();
    let mut parser = SyntaxParser::new();
    let total = todo.len();
    for (at, task) in todo.into_iter().enumerate() {
        let index = match params.mode {
            ContextMode::InFile => None,
            ContextMode::Bm25
            | ContextMode::Iterative
            | ContextMode::Hybrid
            | ContextMode::HybridIterative => {
                if !indexes.contains_key(&task.repo_root) {
                    let index = open_repo_index(&params.run_dir, task, embeddings.clone())?;
                    on_event(Event::Indexed {
                        repo: &task.repo,
                        files: index.index().stats().files,
                    });
                    indexes.insert(task.repo_root.clone(), index);
                }
                indexes.get(&task.repo_root)
            }
        };
        let result = predict(generator, index, task, params, &mut parser)?;
        appender.append(&result)?;
        on_event(Event::Scored {
            result: &result,
            at: at + 1,
            of: total,
        });
        results.push(result);
    }
    appender.sync()?;
    Ok(results)
}

/// The index of a task's repository under the run directory, brought up to date (only new
/// and changed files are read; with `embeddings`, only chunks without a vector are embedded).
fn open_repo_index(
    run_dir: &Path,
    task: &RepoTask,
    embeddings: Option<Arc<EmbeddingModel>>,
) -> Result<RepoIndex> {
    // A function task's root is the repository without its tests: an index of its own.
    let name = match task.judge {
        Some(_) => format!("{}-without-tests", task.repo),
        None => task.repo.clone(),
    };
    let dir = run_dir.join("index").join(name);
    let mut index = RepoIndex::open(&task.repo_root, &dir, embeddings)?;
    index.update()?;
    Ok(index)
}

/// One task through [`complete`], scored.
pub fn predict(
    generator: &mut dyn Generator,
    index: Option<&RepoIndex>,
    task: &RepoTask,
    params: &EvalParams,
    parser: &mut SyntaxParser,
) -> Result<LineResult> {
    let started = Instant::now();
    let function = task.judge.is_some();
    let request = CompleteRequest {
        prefix: &task.prefix,
        suffix: &task.suffix,
        path: Some(&task.path),
        budget_tokens: params.budget_tokens,
        window: FileWindow::ONE_OFF,
        params: GenParams {
            decoding: Decoding::Greedy,
            seed: 0,
            max_new_tokens: if function {
                params.max_body_tokens
            } else {
                params.max_new_tokens
            },
            // A body ends where the model ends it, or where it starts the next definition at
            // the function's own indentation or at the top level (and at the first line
            // outside the body: `body_of`).
            stop: if function {
                body_stops(&task.prefix)
            } else {
                vec!["\n".into()]
            },
            n: 1,
        },
        iterative: params.mode.is_iterative(),
    };
    let done = complete(
        generator,
        index,
        &mut ContextCache::new(),
        &request,
        &mut Silent,
    )?;
    // The answer in a model's text: a body, or the first line.
    let answer = |text: &str| {
        if function {
            body_of(text)
        } else {
            first_line(text).to_string()
        }
    };
    // A body cut by the token cap ends in half a line, which is a syntax error where a
    // shorter body may still pass: the unfinished line goes.
    let prediction = if function && done.capped {
        answer(without_unfinished_line(&done.text))
    } else {
        answer(&done.text)
    };
    let verdict = match (&task.judge, &params.executor) {
        (Some(judge), Some(executor)) => {
            Some(judge_body(executor, judge, &prediction, package_limits())?)
        }
        _ => None,
    };
    let context = done
        .context
        .iter()
        .flat_map(|c| &c.chunks)
        .map(|c| {
            format!(
                "{}:{}-{} ({:?})",
                c.path, c.start_line, c.end_line, c.reason
            )
        })
        .collect();
    let scores = score(parser, task.language, &prediction, &task.gold);
    Ok(LineResult {
        id: task.id.clone(),
        setting: task.setting,
        mode: params.mode,
        gold: task.gold.clone(),
        exact_match: scores.exact_match,
        edit_similarity: scores.edit_similarity,
        edit_similarity_levenshtein: scores.levenshtein,
        identifier_f1: scores.identifier_f1,
        context,
        draft: done.first_round.map(|(text, _)| answer(&text)),
        prompt_tokens: done.prompt_tokens,
        seconds: started.elapsed().as_secs_f64(),
        prediction,
        verdict,
        capped: done.capped,
    })
}

/// `text` without its last line when that line has no newline after it (all of `text` when it
/// is a single line).
fn without_unfinished_line(text: &str) -> &str {
    text.rfind('\n').map_or(text, |at| &text[..=at])
}

/// Stop strings for a body whose signature ends `prefix`: a new definition, decorator or class
/// at the signature's indentation or at the top level.
fn body_stops(prefix: &str) -> Vec<String> {
    let indent = prefix
        .lines()
        .rev()
        .find(|l| {
            let code = l.trim_start();
            code.starts_with("def ") || code.starts_with("async def ")
        })
        .map_or("", |l| &l[..l.len() - l.trim_start().len()]);
    let mut stops = Vec::new();
    for at in [indent, ""] {
        for start in ["def ", "async def ", "class ", "@"] {
            let stop = format!("\n{at}{start}");
            if !stops.contains(&stop) {
                stops.push(stop);
            }
        }
    }
    stops
}

/// A function body from a model's fill: its lines up to the first line with code that is
/// less indented than the fill's first line with code (the model went on past the function),
/// ending with a newline.
fn body_of(text: &str) -> String {
    let indent = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .map_or(0, |l| l.len() - l.trim_start().len());
    let mut body = String::new();
    for line in text.split_inclusive('\n') {
        let code = line.trim();
        if !code.is_empty() && line.len() - line.trim_start().len() < indent {
            break;
        }
        body.push_str(line);
    }
    let kept = body.trim_end().len();
    body.truncate(kept);
    if !body.is_empty() {
        body.push('\n');
    }
    body
}

/// The first line of a model's answer (the whole answer when it has no newline).
fn first_line(text: &str) -> &str {
    text.split('\n').next().unwrap_or("")
}

/// A prediction's scores.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scores {
    pub exact_match: bool,
    pub edit_similarity: f64,
    pub levenshtein: f64,
    pub identifier_f1: f64,
}

/// Score `prediction` against `gold` (see the module docs). A line the grammar cannot parse at
/// all falls back to comparing the trimmed texts for exact match.
pub fn score(
    parser: &mut SyntaxParser,
    language: TaskLanguage,
    prediction: &str,
    gold: &str,
) -> Scores {
    let syntax = language.syntax();
    let exact = exact_match(parser, syntax, prediction, gold)
        .unwrap_or_else(|_| prediction.trim() == gold.trim());
    let edit = edit_similarity(prediction, gold);
    Scores {
        exact_match: exact,
        edit_similarity: edit.fuzz_ratio,
        levenshtein: edit.levenshtein,
        identifier_f1: identifier_match(syntax, prediction, gold).f1,
    }
}

/// One row of a run's summary: a mode on a setting, over the tasks of that setting every mode
/// that ran it has done (so the modes are compared on the same tasks; a mode run on one
/// setting only leaves the others' comparisons alone).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryRow {
    pub mode: ContextMode,
    pub setting: Setting,
    pub tasks: usize,
    /// Percent.
    pub exact_match: f64,
    /// Mean `fuzz.ratio` (0-100).
    pub edit_similarity: f64,
    /// Mean `1 - levenshtein / max length`, times 100.
    pub edit_similarity_levenshtein: f64,
    /// Mean identifier F1, times 100.
    pub identifier_f1: f64,
    /// Function tasks: percent whose body passed its package's tests (pass@1, greedy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pass_rate: Option<f64>,
    /// Exact matches (function tasks: passes) against in-file context on the same tasks
    /// (absent for in-file itself, or when the run has no in-file results).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub against_in_file: Option<Paired>,
}

/// One context's hits against another's, task by task: exact matches, or for function tasks
/// passes ([`LineResult::hit`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Paired {
    /// Tasks this context hits and the other does not.
    pub gained: usize,
    /// Tasks the other hits and this one does not.
    pub lost: usize,
    /// McNemar's exact two-sided p-value of the difference (1 with no task gained or lost).
    pub p_value: f64,
}

/// Summarise the run in `run_dir` (every mode with results) and write `summary.json`.
pub fn summarize(run_dir: &Path) -> Result<Vec<SummaryRow>> {
    let mut by_mode: BTreeMap<ContextMode, Vec<LineResult>> = BTreeMap::new();
    for mode in ContextMode::ALL {
        let path = results_path(run_dir, mode);
        if path.exists() {
            let (results, _): (Vec<LineResult>, usize) = read_records(&path)?;
            by_mode.insert(mode, results);
        }
    }
    // Per setting, the tasks every mode that ran that setting has done.
    let mut common: BTreeMap<Setting, BTreeSet<&str>> = BTreeMap::new();
    for setting in Setting::ALL {
        let mut shared: Option<BTreeSet<&str>> = None;
        for results in by_mode.values() {
            let ids: BTreeSet<&str> = results
                .iter()
                .filter(|r| r.setting == setting)
                .map(|r| r.id.as_str())
                .collect();
            if ids.is_empty() {
                continue;
            }
            shared = Some(match shared {
                None => ids,
                Some(before) => before.intersection(&ids).copied().collect(),
            });
        }
        common.insert(setting, shared.unwrap_or_default());
    }
    let mut rows = Vec::new();
    for (mode, results) in &by_mode {
        for setting in Setting::ALL {
            let chosen: Vec<&LineResult> = results
                .iter()
                .filter(|r| r.setting == setting && common[&setting].contains(r.id.as_str()))
                .collect();
            if chosen.is_empty() {
                continue;
            }
            let n = chosen.len() as f64;
            let mean =
                |f: &dyn Fn(&LineResult) -> f64| chosen.iter().map(|r| f(r)).sum::<f64>() / n;
            let against_in_file = match by_mode.get(&ContextMode::InFile) {
                Some(in_file) if *mode != ContextMode::InFile => Some(paired(&chosen, in_file)),
                _ => None,
            };
            rows.push(SummaryRow {
                mode: *mode,
                setting,
                tasks: chosen.len(),
                exact_match: 100.0 * mean(&|r| f64::from(u8::from(r.exact_match))),
                edit_similarity: mean(&|r| r.edit_similarity),
                edit_similarity_levenshtein: 100.0 * mean(&|r| r.edit_similarity_levenshtein),
                identifier_f1: 100.0 * mean(&|r| r.identifier_f1),
                pass_rate: (setting == Setting::Function).then(|| {
                    100.0
                        * mean(&|r| {
                            f64::from(u8::from(r.verdict.as_ref().is_some_and(|v| v.passed)))
                        })
                }),
                against_in_file,
            });
        }
    }
    let text = serde_json::to_string_pretty(&rows).expect("rows serialise");
    write_atomic(&run_dir.join("summary.json"), &(text + "\n"))?;
    Ok(rows)
}

/// `chosen`'s hits against `other`'s results for the same tasks.
fn paired(chosen: &[&LineResult], other: &[LineResult]) -> Paired {
    let other: HashMap<&str, bool> = other.iter().map(|r| (r.id.as_str(), r.hit())).collect();
    let (mut gained, mut lost) = (0, 0);
    for result in chosen {
        match (result.hit(), other.get(result.id.as_str())) {
            (true, Some(false)) => gained += 1,
            (false, Some(true)) => lost += 1,
            _ => {}
        }
    }
    Paired {
        gained,
        lost,
        p_value: crucible_eval::stats::mcnemar_exact(gained as u64, lost as u64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crucible_index::Filters;
    use crucible_infer::{FimTokens, Prompt, ScriptedGenerator};

    const GOLD: &str = "    flux = compute_flux_capacitor(radius)";
    const AFTER: &str = "    zebra_after_cursor = flux * 2";

    fn repo(dir: &Path) -> PathBuf {
        let root = dir.join("flux-1.0");
        std::fs::create_dir_all(root.join("flux")).unwrap();
        std::fs::write(root.join("flux/__init__.py"), "").unwrap();
        std::fs::write(
            root.join("flux/physics.py"),
            "def compute_flux_capacitor(radius):\n    \"\"\"Flux of a capacitor of this radius.\"\"\"\n    return radius * 1.21\n",
        )
        .unwrap();
        std::fs::write(
            root.join("flux/engine.py"),
            format!(
                "from .physics import compute_flux_capacitor\n\n\ndef run(radius):\n    start = radius + 1\n    total = start * 3\n{GOLD}\n{AFTER}\n    return zebra_after_cursor\n"
            ),
        )
        .unwrap();
        root
    }

    fn task(root: &Path) -> RepoTask {
        let text = std::fs::read_to_string(root.join("flux/engine.py")).unwrap();
        let line = text.lines().position(|l| l == GOLD).unwrap();
        RepoTask {
            id: "flux-1.0/flux/engine.py:7".into(),
            repo: "flux-1.0".into(),
            repo_root: root.to_path_buf(),
            path: "flux/engine.py".into(),
            line: line + 1,
            language: TaskLanguage::Python,
            setting: Setting::CrossFileFirst,
            prefix: text.split_inclusive('\n').take(line).collect(),
            gold: GOLD.into(),
            symbol: Some("compute_flux_capacitor".into()),
            suffix: String::new(),
            judge: None,
        }
    }

    fn params(run_dir: &Path, mode: ContextMode) -> EvalParams {
        EvalParams {
            run_dir: run_dir.to_path_buf(),
            mode,
            budget_tokens: 4096,
            max_new_tokens: 16,
            max_body_tokens: 64,
            embeddings: None,
            executor: None,
        }
    }

    #[test]
    fn the_gold_line_never_reaches_the_prompt_through_retrieval() {
        let dir = tempfile::tempdir().unwrap();
        let root = repo(dir.path());
        let task = task(&root);
        let mut index = RepoIndex::open(&root, &dir.path().join("idx"), None).unwrap();
        index.update().unwrap();
        // Control: the index holds the gold line, so a retrieval that did not exclude the file
        // being completed would find it.
        let unfiltered = index.search(GOLD, 8, &Filters::default()).unwrap();
        assert!(
            unfiltered.iter().any(|hit| hit.text.contains(GOLD.trim())),
            "{unfiltered:?}"
        );
        // The draft names the gold's words, so the second round's query asks for it too.
        let mut generator = ScriptedGenerator::new([GOLD, GOLD]).with_fim(FimTokens::qwen());
        let mut parser = SyntaxParser::new();
        let params = params(dir.path(), ContextMode::Iterative);
        let result = predict(&mut generator, Some(&index), &task, &params, &mut parser).unwrap();
        assert_eq!(generator.requests.len(), 2, "two rounds");
        assert!(!result.context.is_empty(), "retrieval found the definition");
        assert!(
            result
                .context
                .iter()
                .any(|c| c.starts_with("flux/physics.py")),
            "{:?}",
            result.context
        );
        for request in &generator.requests {
            let Prompt::Fill { infill, .. } = &request.prompt else {
                panic!("a fill prompt: {:?}", request.prompt);
            };
            assert!(!infill.prefix.contains(GOLD) && infill.suffix.is_empty());
            for file in &infill.extra {
                assert_ne!(
                    file.filename, task.path,
                    "the current file is never retrieved"
                );
                assert!(!file.text.contains(GOLD.trim()), "{}", file.text);
                assert!(!file.text.contains("zebra_after_cursor"), "{}", file.text);
            }
        }
        assert!(result.exact_match);
    }

    #[test]
    fn a_run_appends_each_result_resumes_and_summarises_on_shared_tasks() {
        let dir = tempfile::tempdir().unwrap();
        let root = repo(dir.path());
        let task = task(&root);
        let mut other = task.clone();
        other.id = "flux-1.0/flux/engine.py:6".into();
        other.line -= 1;
        other.gold = "    total = start * 3".into();
        other.setting = Setting::InFile;
        other.prefix = other
            .prefix
            .trim_end_matches(&format!("{}\n", other.gold))
            .to_string();
        let run = dir.path().join("run");
        let mut generator =
            ScriptedGenerator::new(["    total = start * 3", "nope"]).with_fim(FimTokens::qwen());
        let tasks = [other.clone(), task.clone()];
        let results = evaluate(
            &mut generator,
            &tasks,
            &params(&run, ContextMode::InFile),
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(results.len(), 2);
        assert!(results[0].exact_match && !results[1].exact_match);
        assert_eq!(results[1].prediction, "nope");
        // A re-run asks the model nothing.
        let mut silent = ScriptedGenerator::new(Vec::<String>::new()).with_fim(FimTokens::qwen());
        let again = evaluate(
            &mut silent,
            &tasks,
            &params(&run, ContextMode::InFile),
            &mut |_| {},
        )
        .unwrap();
        let ids = |r: &[LineResult]| -> Vec<(String, String)> {
            r.iter()
                .map(|r| (r.id.clone(), r.prediction.clone()))
                .collect()
        };
        assert_eq!(ids(&again), ids(&results));
        assert!(silent.requests.is_empty());
        // BM25 on one task only: the summary compares the modes on that task.
        let mut generator = ScriptedGenerator::new([GOLD]).with_fim(FimTokens::qwen());
        evaluate(
            &mut generator,
            &tasks[1..],
            &params(&run, ContextMode::Bm25),
            &mut |_| {},
        )
        .unwrap();
        assert!(
            run.join("index/flux-1.0").is_dir(),
            "the index lives in the run"
        );
        let rows = summarize(&run).unwrap();
        // Each setting over the tasks of it that every mode which ran it has done: BM25 did
        // not run the in_file task, which in-file's row of that setting still counts.
        let shape: Vec<(ContextMode, Setting, usize)> =
            rows.iter().map(|r| (r.mode, r.setting, r.tasks)).collect();
        assert_eq!(
            shape,
            [
                (ContextMode::InFile, Setting::CrossFileFirst, 1),
                (ContextMode::InFile, Setting::InFile, 1),
                (ContextMode::Bm25, Setting::CrossFileFirst, 1),
            ]
        );
        let in_file = rows
            .iter()
            .find(|r| r.mode == ContextMode::InFile && r.setting == Setting::CrossFileFirst)
            .unwrap();
        let bm25 = rows.iter().find(|r| r.mode == ContextMode::Bm25).unwrap();
        assert_eq!((in_file.exact_match, bm25.exact_match), (0.0, 100.0));
        assert_eq!(in_file.against_in_file, None);
        assert_eq!(
            bm25.against_in_file,
            Some(Paired {
                gained: 1,
                lost: 0,
                p_value: 1.0
            }),
            "one task gained alone is no evidence"
        );
        assert!(run.join("summary.json").is_file());
    }

    #[test]
    fn a_body_cut_by_the_token_cap_loses_its_unfinished_line() {
        let dir = tempfile::tempdir().unwrap();
        let root = repo(dir.path());
        let mut task = task(&root);
        task.setting = Setting::Function;
        task.judge = Some(crucible_eval::judge::package::PackageJudge {
            tree: root.clone(),
            path: task.path.clone(),
            body_lines: (task.line, task.line),
            file_sha256: String::new(),
            python_path: Vec::new(),
            tests: Vec::new(),
        });
        let body = "    flux = compute_flux_capacitor(radius)\n    return flux * 2\n";
        let predicted = |max_body_tokens: usize| {
            let mut generator = ScriptedGenerator::new([body])
                .with_fim(FimTokens::qwen())
                .capped();
            let params = EvalParams {
                max_body_tokens,
                ..params(dir.path(), ContextMode::InFile)
            };
            let result = predict(
                &mut generator,
                None,
                &task,
                &params,
                &mut SyntaxParser::new(),
            )
            .unwrap();
            (result.prediction, result.capped)
        };
        // Cut in the second line (`return flux`): the first line alone is the body.
        assert_eq!(
            predicted(4),
            ("    flux = compute_flux_capacitor(radius)\n".into(), true)
        );
        // Within the cap the body is whole.
        assert_eq!(predicted(64), (body.into(), false));
        assert_eq!(without_unfinished_line("a\nb"), "a\n");
        assert_eq!(without_unfinished_line("a\n"), "a\n");
        assert_eq!(without_unfinished_line("half"), "half");
    }

    #[test]
    fn a_context_is_paired_with_in_file_task_by_task() {
        let result = |id: &str, exact_match: bool| LineResult {
            id: id.into(),
            setting: Setting::InFile,
            mode: ContextMode::Bm25,
            prediction: String::new(),
            gold: String::new(),
            exact_match,
            edit_similarity: 0.0,
            edit_similarity_levenshtein: 0.0,
            identifier_f1: 0.0,
            context: Vec::new(),
            draft: None,
            prompt_tokens: 0,
            seconds: 0.0,
            verdict: None,
            capped: false,
        };
        let in_file: Vec<LineResult> = (0..12).map(|i| result(&format!("t{i}"), i == 0)).collect();
        // Ten gained, one lost (t0), one both missed; a task in-file never did is not paired.
        let mut mine: Vec<LineResult> = (0..11).map(|i| result(&format!("t{i}"), i != 0)).collect();
        mine.push(result("t11", false));
        mine.push(result("elsewhere", true));
        let chosen: Vec<&LineResult> = mine.iter().collect();
        let pair = paired(&chosen, &in_file);
        assert_eq!((pair.gained, pair.lost), (10, 1));
        // 2 * P(X <= 1), X ~ Binomial(11, 1/2) = 2 * 12 / 2048.
        assert!(
            (pair.p_value - 24.0 / 2048.0).abs() < 1e-12,
            "{}",
            pair.p_value
        );
    }

    #[test]
    fn a_body_stops_at_the_next_definition_and_is_cut_at_its_dedent() {
        let prefix = "class A:\n    def f(self):\n        \"\"\"Doc.\"\"\"\n";
        let stops = body_stops(prefix);
        assert!(stops.contains(&"\n    def ".to_string()), "{stops:?}");
        assert!(stops.contains(&"\nclass ".to_string()), "{stops:?}");
        assert!(
            !stops.contains(&"\n        def ".to_string()),
            "nested defs are fine"
        );
        assert_eq!(body_stops("def g():\n").len(), 4, "top level only once");
        assert_eq!(
            body_of("        x = 1\n\n        return x\n    other = 2\n"),
            "        x = 1\n\n        return x\n"
        );
        assert_eq!(body_of("\n\n"), "");
    }

    #[test]
    fn scores_follow_the_metrics() {
        let mut parser = SyntaxParser::new();
        let s = score(
            &mut parser,
            TaskLanguage::Python,
            "  x = f(a)  # note",
            "x = f(a)",
        );
        assert!(s.exact_match, "comments and indentation do not count");
        let s = score(
            &mut parser,
            TaskLanguage::Rust,
            "let y = g(b);",
            "let x = f(a);",
        );
        assert!(!s.exact_match);
        assert!(s.edit_similarity > 0.0 && s.edit_similarity < 100.0);
        assert!(s.identifier_f1 < 1.0);
    }
}
