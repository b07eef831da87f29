//! `crucible generate`: turn a description or a task file into code, with a strategy when the
//! task shows examples or tests.

mod strategy;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;

use crucible_core::backend;
use crucible_core::generate::{Generated, Plan, Sandbox, generate_for_task};
use crucible_core::infer::Generator;
use crucible_core::infer::prompt::{Exemplar, FewShot};
use crucible_core::infer::{Candidates, Observer, SolveParams};
use crucible_core::repo_context::{
    CurrentFile, DEFAULT_BUDGET_TOKENS, RepoContext, RepoOptions, generate_with_repo, open_index,
};
use crucible_core::strategy::Progress;
use crucible_core::strategy::Quiet;
use crucible_core::types::format::parse_task_line;
use crucible_core::types::{Language, Task, TaskKind, TestSuite};

use super::GlobalArgs;
use super::common::{DecodingArgs, ModelArgs};
use super::strategy_args::StrategyArgs;
use crate::{interrupt, output};

/// Generate code for a description or a task file
///
/// Examples:
///   crucible generate --lang cpp "read two integers and print their sum"
///   crucible generate --task examples/tasks/sum.json --json
///   crucible generate --lang python --n 4 --temperature 0.8 "fizzbuzz up to 100"
///   crucible generate --task task.json --strategy repair --trace
///   crucible generate --verify "return the n-th Fibonacci number"
///   crucible generate --task task.json --trace=trace.json
///   crucible generate --task task.json --strategy plain
///   crucible generate --repo . --file src/report.py --task task.json --json
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub(crate) struct GenerateArgs {
    /// What to write, in plain words. Use `--task` for a task with examples or tests.
    #[arg(value_name = "DESCRIPTION", required_unless_present = "task")]
    description: Option<String>,
    /// A task file: one JSON object, a stdin/stdout program task
    /// `{"id", "description", "examples": [{"input", "output"}]}` or a function task
    /// `{"id", "prompt", "entry_point", "tests"?}` (see docs/TASKS.md).
    #[arg(long, value_name = "FILE", conflicts_with = "description")]
    task: Option<PathBuf>,
    /// Language: python, c, cpp, rust, java, javascript, go. Default: the task's own, else python.
    #[arg(long, short = 'l', value_name = "LANG")]
    lang: Option<String>,
    /// Number of candidates to return (sampled together in one batch).
    #[arg(long, default_value_t = 1)]
    n: usize,
    /// A JSON Lines file of solved exemplars (task fields plus `"solution"`) for k-shot prompts.
    #[arg(long, value_name = "FILE", requires = "shots")]
    exemplars: Option<PathBuf>,
    /// How many exemplars to show (drawn reproducibly with `--seed`).
    #[arg(long, value_name = "K", requires = "exemplars")]
    shots: Option<usize>,
    /// Print one JSON object instead of the code.
    #[arg(long)]
    json: bool,
    /// Check the code even when the task shows no examples or tests: run the default strategy
    /// (rerank+repair), which has the model write tests, runs the programs on them in the
    /// sandbox and reports the verdict (as a verdict on model-written tests, never as a pass of
    /// the task). Without it, a plain description's code is not run.
    #[arg(long, conflicts_with_all = ["exemplars"])]
    verify: bool,
    /// Do not stream the answer to the terminal as it is generated.
    #[arg(long)]
    no_stream: bool,
    /// A repository to draw context from: chunks retrieved for the task (BM25 over its index,
    /// built or brought up to date first; with `--embed`, BM25 and embeddings fused) and the
    /// definitions of what `--file` imports, within `--repo-budget` tokens. The chunks that
    /// went in are listed on stderr and in `--json`.
    #[arg(long, value_name = "PATH")]
    repo: Option<PathBuf>,
    /// The file being written, inside `--repo` (its imports bring their definitions in; it is
    /// never retrieved itself).
    #[arg(long, value_name = "FILE", requires = "repo")]
    file: Option<PathBuf>,
    /// Tokens of repository context at most (estimated at three bytes a token).
    #[arg(long, value_name = "TOKENS", default_value_t = DEFAULT_BUDGET_TOKENS, requires = "repo")]
    repo_budget: usize,
    /// Retrieve again with the first draft and generate again (RepoCoder's iterative retrieval).
    #[arg(long, requires = "repo")]
    iterative: bool,
    /// Rank the repository's chunks by BM25 and sentence embeddings fused (reciprocal rank
    /// fusion), as `crucible search --embed` does; chunks without a vector are embedded first.
    /// Needs the model that `scripts/embedding-model.sh` installs.
    #[arg(long, requires = "repo")]
    embed: bool,
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    decoding: DecodingArgs,
    #[command(flatten)]
    strategy: StrategyArgs,
}

pub(crate) fn run(args: GenerateArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    interrupt::install();
    let language = match &args.lang {
        Some(lang) => Some(lang.parse::<Language>()?),
        None => None,
    };
    let task = load_task(&args, language)?;
    let params = args.decoding.params(args.n)?;
    let few_shot = load_few_shot(&args, task.language)?;
    let chosen = match &few_shot {
        Some(_) if args.strategy.named() => {
            bail!("strategies do not use exemplars yet; drop --exemplars/--shots or --strategy")
        }
        Some(_) => None,
        None => args
            .strategy
            .for_task(&task, args.n, &args.decoding, args.verify)?,
    };
    let settings = args.model.settings(None)?;
    let plan = match chosen {
        Some(strategy) => Plan::Strategy {
            strategy,
            budget: args.strategy.budget()?,
        },
        None => Plan::Solve {
            solve: SolveParams {
                mode: args.decoding.mode.into(),
                params,
            },
            shots: few_shot
                .as_ref()
                .map(|f| f.select(&task).into_iter().cloned().collect())
                .unwrap_or_default(),
        },
    };
    let repo = match &args.repo {
        Some(path) => Some(RepoRun::open(&settings, &args, path)?),
        None => None,
    };
    let mut generator = backend::open_generator(&settings, &mut output::pull_progress())?;
    if interrupt::requested() {
        return Ok(ExitCode::from(interrupt::EXIT_INTERRUPTED));
    }
    let model_name = generator.info().name.clone();
    let sandbox = Sandbox::FromSettings(&settings);
    if let Plan::Strategy {
        strategy: chosen, ..
    } = &plan
    {
        let mode = strategy::OutputMode {
            json: args.json,
            quiet: global.quiet,
        };
        if !global.quiet {
            output::status(&format!("strategy: {}", chosen.describe()));
        }
        let mut progress = strategy::CliProgress::new(global.quiet);
        let result = run_plan(
            generator.as_mut(),
            sandbox,
            &task,
            &plan,
            &mut progress,
            repo.as_ref(),
        );
        progress.finish();
        return match result {
            Ok((generated, context)) => {
                show_context(&context, global.quiet);
                strategy::show(
                    &args.strategy,
                    &task,
                    &model_name,
                    &plan,
                    &generated,
                    mode,
                    &context,
                )
            }
            Err(err) if err.is_cancelled() => {
                output::status("interrupted");
                Ok(ExitCode::from(interrupt::EXIT_INTERRUPTED))
            }
            Err(err) => Err(err).context("the strategy failed"),
        };
    }
    let stream = !args.json && !args.no_stream && args.n == 1 && std::io::stdout().is_terminal();
    let mut observer = CliObserver::new(stream);
    let result = run_plan(
        generator.as_mut(),
        sandbox,
        &task,
        &plan,
        &mut Quiet(&mut observer),
        repo.as_ref(),
    );
    observer.finish();
    let (generated, context) = match result {
        Ok(done) => done,
        Err(err) if err.is_cancelled() => {
            output::status("interrupted");
            return Ok(ExitCode::from(interrupt::EXIT_INTERRUPTED));
        }
        Err(err) => return Err(err).context("generation failed"),
    };
    show_context(&context, global.quiet || args.json);
    if args.json {
        let mut report = generated.report(&task, &model_name, &plan);
        if repo.is_some() {
            report["repo_context"] = serde_json::to_value(&context)?;
        }
        output::data(&serde_json::to_string(&report)?);
    } else if let Generated::Candidates(out) = &generated {
        print_code(&task, out, stream);
    }
    if !global.quiet {
        output::status(if task.has_visible_tests() {
            "note: this code was not run (plain sampling runs nothing; drop --n or give --strategy to run the programs on the task's tests)"
        } else {
            "note: this code was not run: the task shows no examples or tests (give --verify to have the model write tests and run the code on them, or --task with a file that has examples)"
        });
    }
    Ok(ExitCode::SUCCESS)
}

/// The repository of `--repo`: its index (brought up to date) and the current file.
struct RepoRun {
    options: RepoOptions,
    index: crucible_core::repo_index::RepoIndex,
    /// `--file`: its repository-relative path and text.
    file: Option<(String, String)>,
}

impl RepoRun {
    fn open(
        settings: &crucible_core::Settings,
        args: &GenerateArgs,
        path: &std::path::Path,
    ) -> anyhow::Result<RepoRun> {
        let options = RepoOptions {
            repo: path.to_path_buf(),
            index_dir: None,
            budget_tokens: args.repo_budget,
            iterative: args.iterative,
            embeddings: args.embed,
        };
        let index = open_index(settings, &options)
            .with_context(|| format!("could not index the repository `{}`", path.display()))?;
        let file = match &args.file {
            Some(file) => {
                let absolute = if file.is_absolute() {
                    file.clone()
                } else {
                    path.join(file)
                };
                let text = std::fs::read_to_string(&absolute)
                    .with_context(|| format!("could not read --file `{}`", absolute.display()))?;
                let canonical = std::fs::canonicalize(&absolute)?;
                let relative = canonical.strip_prefix(index.index().root()).map_err(|_| {
                    anyhow::anyhow!(
                        "--file `{}` is not inside --repo `{}`",
                        file.display(),
                        path.display()
                    )
                })?;
                Some((relative.to_string_lossy().into_owned(), text))
            }
            None => None,
        };
        Ok(RepoRun {
            options,
            index,
            file,
        })
    }
}

/// Generate as `plan` says, with the repository's context when `--repo` is given.
fn run_plan(
    generator: &mut dyn Generator,
    sandbox: Sandbox<'_>,
    task: &Task,
    plan: &Plan,
    progress: &mut dyn Progress,
    repo: Option<&RepoRun>,
) -> crucible_core::Result<(Generated, Vec<RepoContext>)> {
    let Some(repo) = repo else {
        return generate_for_task(generator, sandbox, task, plan, progress)
            .map(|generated| (generated, Vec::new()));
    };
    let current = repo
        .file
        .as_ref()
        .map(|(path, text)| CurrentFile { path, text });
    let done = generate_with_repo(
        generator,
        sandbox,
        task,
        plan,
        progress,
        &repo.index,
        &repo.options,
        current,
    )?;
    Ok((done.generated, done.rounds))
}

/// The chunks that went into the prompt, one line each, on stderr.
fn show_context(rounds: &[RepoContext], quiet: bool) {
    if quiet {
        return;
    }
    for (round, context) in rounds.iter().enumerate() {
        output::status(&format!(
            "repository context, round {}: {} chunk(s), {} of {} tokens, {} left out",
            round + 1,
            context.chunks.len(),
            context.tokens,
            context.budget_tokens,
            context.left_out
        ));
        for chunk in &context.chunks {
            output::status(&format!(
                "  {}:{}-{} {:?} score {:.3}: {}",
                chunk.path,
                chunk.start_line,
                chunk.end_line,
                chunk.reason,
                chunk.score,
                chunk.detail
            ));
        }
    }
}

/// Build the task from the description or the task file.
fn load_task(args: &GenerateArgs, language: Option<Language>) -> anyhow::Result<Task> {
    let task = match (&args.task, &args.description) {
        (Some(path), _) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("could not read task file `{}`", path.display()))?;
            let default = language.unwrap_or(Language::Python);
            let mut record = parse_task_line(text.trim(), 1, default)
                .map_err(|problem| anyhow::anyhow!("task file `{}`: {problem}", path.display()))?;
            if let Some(lang) = language {
                record.task.language = lang;
            }
            record.task
        }
        (None, Some(description)) => {
            if description.trim().is_empty() {
                bail!(
                    "the description is empty\n\nhint: say what the code should do, e.g. `crucible generate --lang cpp \"print the sum of two integers read from stdin\"`"
                );
            }
            Task {
                id: "cli".into(),
                language: language.unwrap_or(Language::Python),
                kind: TaskKind::Freeform {
                    description: description.clone(),
                },
                visible: TestSuite::None,
            }
        }
        (None, None) => bail!("give a DESCRIPTION or --task FILE"),
    };
    task.validate()?;
    Ok(task)
}

/// Parse the exemplar pool: task lines that also carry a `"solution"`.
fn load_few_shot(args: &GenerateArgs, language: Language) -> anyhow::Result<Option<FewShot>> {
    let (Some(path), Some(k)) = (&args.exemplars, args.shots) else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("could not read exemplars `{}`", path.display()))?;
    let mut pool = Vec::new();
    for (idx, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let line_no = idx + 1;
        let mut value: serde_json::Value = serde_json::from_str(line)
            .with_context(|| format!("`{}` line {line_no}: not JSON", path.display()))?;
        let solution = value
            .as_object_mut()
            .and_then(|obj| obj.remove("solution"))
            .and_then(|s| s.as_str().map(str::to_owned))
            .with_context(|| {
                format!(
                    "`{}` line {line_no}: an exemplar needs a `\"solution\"` string",
                    path.display()
                )
            })?;
        let record = parse_task_line(&value.to_string(), line_no, language)
            .map_err(|problem| anyhow::anyhow!("`{}`: {problem}", path.display()))?;
        pool.push(Exemplar {
            task: record.task,
            solution,
        });
    }
    if pool.is_empty() {
        bail!("exemplar file `{}` has no exemplars", path.display());
    }
    Ok(Some(FewShot {
        pool,
        k,
        seed: args.decoding.seed,
    }))
}

fn print_code(task: &Task, out: &Candidates, streamed: bool) {
    let many = out.candidates.len() > 1;
    for (idx, candidate) in out.candidates.iter().enumerate() {
        if many {
            let marker = match task.language {
                Language::Python => "#",
                _ => "//",
            };
            output::data(&format!(
                "{marker} --- candidate {} of {} ({} tokens) ---",
                idx + 1,
                out.candidates.len(),
                candidate.tokens
            ));
        }
        if streamed && idx == 0 {
            // The answer is already on screen; repeat only the code if it differs.
            if candidate.text.trim() == candidate.code.trim() {
                continue;
            }
            output::status("--- extracted code ---");
        }
        output::data(&candidate.code);
    }
}

/// Streams text to stdout (terminal only) and polls Ctrl-C.
struct CliObserver {
    stream: bool,
    wrote: bool,
    progress: Option<indicatif::ProgressBar>,
    chunks: u64,
}

impl CliObserver {
    fn new(stream: bool) -> CliObserver {
        let progress = (!stream && std::io::stderr().is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} generating: {pos} tokens, {per_sec} [{elapsed}]",
                )
                .expect("the progress template is valid"),
            );
            bar
        });
        CliObserver {
            stream,
            wrote: false,
            progress,
            chunks: 0,
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = self.progress.take() {
            bar.finish_and_clear();
        }
        if self.wrote {
            output::stream_text("\n");
        }
    }
}

impl Observer for CliObserver {
    fn on_text(&mut self, seq: usize, text: &str) {
        self.chunks += 1;
        if let Some(bar) = &self.progress {
            bar.set_position(self.chunks);
        }
        if self.stream && seq == 0 {
            output::stream_text(text);
            self.wrote = true;
        }
    }

    fn cancelled(&self) -> bool {
        interrupt::requested()
    }
}
