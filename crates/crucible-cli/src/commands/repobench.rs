//! `crucible data repobench` (build next-line prediction tasks from source trees) and
//! `crucible repobench` (evaluate them with and without repository context): the flags and
//! the output; the work is `crucible_core::repobench`'s.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, ValueEnum};

use crucible_core::backend;
use crucible_core::eval::judge::package::package_limits;
use crucible_core::infer::{FimTokens, Generator, ScriptedGenerator};
use crucible_core::repo_context::DEFAULT_BUDGET_TOKENS;
use crucible_core::repo_index::EmbeddingModel;
use crucible_core::repobench::eval::{ContextMode, EvalParams, Event, SummaryRow};
use crucible_core::repobench::functions::{FunctionEvent, FunctionParams, build_functions};
use crucible_core::repobench::{self, BuildParams, MANIFEST_FILE, Setting, TASKS_FILE};
use crucible_core::strategy_tools;

use super::GlobalArgs;
use super::common::{ModelArgs, default_settings};
use crate::output;

/// Build RepoBench-style next-line prediction tasks (cross_file_first, cross_file_random,
/// in_file) from source trees of real repositories, with a manifest of what went in
///
/// Makes RepoBench-style next-line prediction tasks from unpacked source trees (a crate under
/// ~/.cargo/registry/src, a PyPI sdist unpacked with `tar xzf`): Python and Rust files, each
/// code line labelled `cross_file_first` (it uses a name imported from another file of the
/// repository for the first time in the file), `cross_file_random` (such names, used before)
/// or `in_file` (none). Writes OUT/tasks.jsonl and OUT/manifest.json (each repository's name,
/// version, file hash and, when found beside it or in the cargo cache, its archive's sha256).
/// The same trees and seed give the same tasks.
///
/// With --functions N it also makes RepoEval's function-level tasks (setting `function`): it
/// runs each Python package's pytest suite in the sandbox, removes candidate functions' bodies
/// one at a time, and keeps a function when tests that pass with its body fail without it;
/// those tests judge a model's body. Retrieval for these tasks reads OUT/context/<repo>, a
/// copy of the repository without its tests.
///
/// Examples:
///   crucible data repobench --from ~/.cargo/registry/src/*/ignore-0.4.35 --from httpx-0.28.1 --out rb
///   crucible data repobench --from DIR --per-setting 50 --seed 1 --out rb
///   crucible data repobench --from click-8.1.8 --from toolz-1.0.0 --functions 40 --out rb
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub(crate) struct BuildArgs {
    /// A repository's source tree (repeat for several); its directory name gives the name and
    /// version (`name-1.2.3`).
    #[arg(long = "from", value_name = "DIR", required = true)]
    from: Vec<PathBuf>,
    /// The output directory.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Tasks per setting at most.
    #[arg(long, value_name = "N", default_value_t = 50)]
    per_setting: usize,
    /// Seed of the choice of lines.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Bytes of the file before the line a task keeps (whole lines).
    #[arg(long, value_name = "BYTES", default_value_t = repobench::PREFIX_BYTES)]
    prefix_bytes: usize,
    /// Also make up to N function-level tasks (RepoEval): a function's body, judged by the
    /// package's own tests, run with pytest in the sandbox (Python packages whose tests run
    /// offline; the build runs each repository's suite once per candidate function).
    #[arg(long, value_name = "N", default_value_t = 0)]
    functions: usize,
    /// Print the manifest as JSON on stdout.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run_build(args: &BuildArgs) -> anyhow::Result<ExitCode> {
    let mut built = repobench::build(&BuildParams {
        from: args.from.clone(),
        seed: args.seed,
        per_setting: args.per_setting,
        prefix_bytes: args.prefix_bytes,
    })?;
    if args.functions > 0 {
        let settings = default_settings()?;
        let executor = strategy_tools::executor(&settings)?;
        let (tasks, sources) = build_functions(
            &FunctionParams {
                from: args.from.clone(),
                out: args.out.clone(),
                seed: args.seed,
                tasks: args.functions,
                prefix_bytes: args.prefix_bytes,
                executor: &executor,
                limits: package_limits(),
            },
            &mut |event| match event {
                FunctionEvent::Baseline {
                    repo,
                    passed,
                    not_passed,
                    seconds,
                } => output::status(&format!(
                    "{repo}: {passed} tests pass with the real code ({not_passed} do not), {seconds:.1} s"
                )),
                FunctionEvent::Tried {
                    repo,
                    function,
                    tests,
                    kept,
                    of,
                } => output::status(&format!(
                    "[{kept}/{of}] {repo} {function}: {}",
                    if tests == 0 {
                        "no test notices its removal; dropped".to_string()
                    } else {
                        format!("{tests} tests")
                    }
                )),
            },
        )?;
        anyhow::ensure!(
            !tasks.is_empty(),
            "no function task could be made: no test of these repositories notices a function's removal, or none passes in the sandbox (install their test dependencies, as scripts/setup.sh does for the documented set)"
        );
        built
            .manifest
            .tasks
            .insert(Setting::Function.name().to_string(), tasks.len());
        built.manifest.functions = sources;
        built.tasks.extend(tasks);
    }
    repobench::write(&built, &args.out)?;
    if args.json {
        output::data(&serde_json::to_string_pretty(&built.manifest)?);
    }
    for repo in &built.manifest.repos {
        let candidates: Vec<String> = repo
            .candidates
            .iter()
            .map(|(setting, n)| format!("{setting} {n}"))
            .collect();
        output::status(&format!(
            "{}: {} files, candidate lines: {}; archive sha256 {}",
            repo.repo,
            repo.files,
            candidates.join(", "),
            repo.archive_sha256
                .as_deref()
                .unwrap_or("(no archive found)")
        ));
    }
    let counts: Vec<String> = built
        .manifest
        .tasks
        .iter()
        .map(|(setting, n)| format!("{setting} {n}"))
        .collect();
    output::status(&format!(
        "wrote {} tasks ({}) to {} and {}",
        built.tasks.len(),
        counts.join(", "),
        args.out.join(TASKS_FILE).display(),
        args.out.join(MANIFEST_FILE).display()
    ));
    Ok(ExitCode::SUCCESS)
}

/// Context modes on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum ContextArg {
    /// The file before the line only.
    InFile,
    /// Imported definitions and BM25 hits (the path of `generate --repo`).
    Bm25,
    /// BM25, then again with the first draft (RepoCoder).
    Iterative,
    /// Imported definitions and hybrid search hits: BM25 and sentence embeddings fused by
    /// reciprocal rank fusion (needs the model `scripts/embedding-model.sh` installs).
    Hybrid,
    /// Hybrid, then again with the first draft.
    HybridIterative,
}

impl From<ContextArg> for ContextMode {
    fn from(arg: ContextArg) -> ContextMode {
        match arg {
            ContextArg::InFile => ContextMode::InFile,
            ContextArg::Bm25 => ContextMode::Bm25,
            ContextArg::Iterative => ContextMode::Iterative,
            ContextArg::Hybrid => ContextMode::Hybrid,
            ContextArg::HybridIterative => ContextMode::HybridIterative,
        }
    }
}

/// Repository-level completion: predict each line or function body of a `crucible data
/// repobench` task file with in-file, BM25, hybrid (BM25 + embeddings) or iterative
/// repository context and score it (exact match, edit similarity, identifier F1; function
/// bodies by the package's tests); resumable
///
/// Predicts the next line of each task of a `crucible data repobench` file with the model's
/// fill-in-the-middle tokens (greedy, one line), with the repository context of --context,
/// and scores it: exact match, edit similarity (fuzzywuzzy's ratio, 0-100; the Levenshtein
/// variant in the files) and identifier match F1. A function task's body (up to
/// --max-body-tokens, cut where the model writes past the function) also runs against the
/// package's tests in the sandbox: the pass% column. Results are appended to
/// RUN/<context>.jsonl as they are made, so a killed run resumes; each repository is indexed
/// once under RUN/index. Prints the summary of every context in RUN on the tasks all of them
/// have done.
///
/// Examples:
///   crucible repobench --tasks rb/tasks.jsonl --run rb-run --context in-file
///   crucible repobench --tasks rb/tasks.jsonl --run rb-run --context iterative --limit 30
///   crucible repobench --tasks rb/tasks.jsonl --run rb-run --context hybrid
///   crucible repobench --run rb-run          # the summary only
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub(crate) struct EvalArgs {
    /// The task file (`tasks.jsonl` of `crucible data repobench`).
    #[arg(long, value_name = "FILE", requires = "context")]
    tasks: Option<PathBuf>,
    /// The run directory.
    #[arg(long = "run", value_name = "DIR")]
    run_dir: PathBuf,
    /// Where repository context comes from; without it, only the summary is printed.
    #[arg(long, value_enum, requires = "tasks")]
    context: Option<ContextArg>,
    /// The first N tasks of each setting only.
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    /// Tokens of repository context at most (estimated at three bytes a token).
    #[arg(long, value_name = "TOKENS", default_value_t = DEFAULT_BUDGET_TOKENS)]
    repo_budget: usize,
    /// Tokens of an answer at most (it stops at the end of the line).
    #[arg(long, value_name = "N", default_value_t = 48)]
    max_new_tokens: usize,
    /// Tokens of a function task's body at most (a body stopped there loses its unfinished
    /// last line).
    #[arg(long, value_name = "N", default_value_t = 384)]
    max_body_tokens: usize,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// Testing only: answer from this JSON array of strings, in order, repeating the last,
    /// instead of a model (the model has Qwen2.5-Coder's FIM tokens).
    #[arg(long, value_name = "FILE", hide = true)]
    scripted_answers: Option<PathBuf>,
    #[command(flatten)]
    model: ModelArgs,
}

pub(crate) fn run_eval(args: &EvalArgs, _global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    if let (Some(tasks_file), Some(context)) = (&args.tasks, args.context) {
        let mut tasks = repobench::read_tasks(tasks_file)?;
        if let Some(limit) = args.limit {
            let mut kept = std::collections::BTreeMap::new();
            tasks.retain(|task| {
                let n = kept.entry(task.setting).or_insert(0usize);
                *n += 1;
                *n <= limit
            });
        }
        let settings = args.model.settings(None)?;
        let mut generator: Box<dyn Generator> = match &args.scripted_answers {
            Some(path) => scripted(path)?,
            None => backend::open_generator(&settings, &mut output::pull_progress())?,
        };
        let mode = ContextMode::from(context);
        let embeddings = if mode.uses_embeddings() {
            Some(Arc::new(EmbeddingModel::load(&settings.home)?))
        } else {
            None
        };
        let executor = if tasks.iter().any(|t| t.judge.is_some()) {
            Some(Arc::new(strategy_tools::executor(&settings)?))
        } else {
            None
        };
        let params = EvalParams {
            run_dir: args.run_dir.clone(),
            mode,
            budget_tokens: args.repo_budget,
            max_new_tokens: args.max_new_tokens,
            max_body_tokens: args.max_body_tokens,
            embeddings,
            executor,
        };
        repobench::eval::evaluate(
            generator.as_mut(),
            &tasks,
            &params,
            &mut |event| match event {
                Event::Start { done, todo } => output::status(&format!(
                    "{}: {done} tasks done before, {todo} to do",
                    params.mode.name()
                )),
                Event::Indexed { repo, files } => {
                    output::status(&format!("indexed {repo} ({files} files)"));
                }
                Event::Scored { result, at, of } => output::status(&match &result.verdict {
                    Some(verdict) => format!(
                        "[{at}/{of}] {} {} ({}/{} tests{})",
                        result.id,
                        if verdict.passed { "PASS" } else { "fail" },
                        verdict.tests_passed,
                        verdict.tests,
                        verdict
                            .first_failure
                            .as_ref()
                            .map_or(String::new(), |f| format!("; {f}"))
                    ),
                    None => format!(
                        "[{at}/{of}] {} {}: {}",
                        result.id,
                        if result.exact_match { "EM" } else { "--" },
                        result.prediction.trim()
                    ),
                }),
            },
        )?;
    }
    let rows = repobench::eval::summarize(&args.run_dir)?;
    if args.json {
        output::data(&serde_json::to_string_pretty(&rows)?);
    } else {
        output::data(&table(&rows));
    }
    Ok(ExitCode::SUCCESS)
}

/// The summary as a table; the last column gives each context's exact matches gained and lost
/// against in-file context on the same tasks, and McNemar's exact p-value.
fn table(rows: &[SummaryRow]) -> String {
    let mut out = format!(
        "{:<16} {:<18} {:>5} {:>6} {:>6} {:>6} {:>7} {:>6}  {}\n",
        "context",
        "setting",
        "tasks",
        "pass%",
        "EM%",
        "ES",
        "ES-lev",
        "ID-F1",
        "vs in-file (EM/pass)"
    );
    for row in rows {
        let paired = row.against_in_file.map_or(String::new(), |p| {
            let p_value = if p.p_value < 0.001 {
                "p<0.001".to_string()
            } else {
                format!("p={:.3}", p.p_value)
            };
            format!("+{} -{} {p_value}", p.gained, p.lost)
        });
        let pass = row.pass_rate.map_or("-".to_string(), |p| format!("{p:.1}"));
        out.push_str(&format!(
            "{:<16} {:<18} {:>5} {:>6} {:>6.1} {:>6.1} {:>7.1} {:>6.1}  {}\n",
            row.mode.name(),
            row.setting.name(),
            row.tasks,
            pass,
            row.exact_match,
            row.edit_similarity,
            row.edit_similarity_levenshtein,
            row.identifier_f1,
            paired
        ));
    }
    out.lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n")
}

fn scripted(path: &std::path::Path) -> anyhow::Result<Box<dyn Generator>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("could not read --scripted-answers `{}`", path.display()))?;
    let answers: Vec<String> = serde_json::from_str(&text).with_context(|| {
        format!(
            "--scripted-answers `{}` must be a JSON array of strings",
            path.display()
        )
    })?;
    anyhow::ensure!(
        !answers.is_empty(),
        "--scripted-answers `{}` has no answers",
        path.display()
    );
    let mut next = 0;
    let generator = ScriptedGenerator::from_fn(move |_, _| {
        let answer = answers[next.min(answers.len() - 1)].clone();
        next += 1;
        Some(answer)
    })
    .with_fim(FimTokens::qwen());
    Ok(Box::new(generator))
}
