//! `crucible eval`: generate samples for a benchmark, judge them in the sandbox while generation
//! goes on, and report pass@k.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::bail;
use clap::Args;

use crucible_core::backend;
use crucible_core::evaluate::{EvalParams, ModelFacts, RunEvent, StrategyRun, run_eval};
use crucible_core::infer::{Observer, SolveParams};

use super::GlobalArgs;
use super::common::{DecodingArgs, JudgeArgs, KArgs, MetricArgs, ModelArgs};
use super::data::{self, DirArgs};
use super::strategy_args::StrategyArgs;
use crate::{interrupt, output};

/// Evaluate a model on a benchmark: generate, judge in the sandbox, report pass@k
///
/// Examples:
///   crucible eval --benchmark humaneval
///   crucible eval --benchmark humaneval-x --lang cpp --limit 20
///   crucible eval --benchmark mbpp --n 10 --k 1,10 --temperature 0.8 --out runs/mbpp-n10
///   crucible eval --benchmark humaneval --strategy rerank+repair
///   crucible eval --benchmark humaneval --limit 41 --metric bleu,codebleu,em,es,ppl
///
/// With --metric, each sample is also compared with the task's reference solution once judged
/// (docs/METRICS.md); re-running a finished run's command with --metric adds the metrics
/// without generating again.
///
/// With --strategy, each sample is the final program of one strategy run on the task's visible
/// tests (docs/STRATEGIES.md); the runs' traces go to traces.jsonl in the output directory.
///
/// Re-running the same command continues an interrupted run (same --out). A run directory made
/// with another configuration is refused unless --force.
#[derive(Debug, Args)]
#[command(
    verbatim_doc_comment,
    // `--trace` is generate's: eval writes every trace to traces.jsonl.
    mut_arg("trace", |arg| arg.hide(true)),
    mut_arg("strategy", |arg| arg.help(
        "Strategy: plain, repair, rerank, reflexion, agent, rerank+repair (docs/STRATEGIES.md). \
         Default: none, plain sampling (--n samples per task)"
    ))
)]
pub(crate) struct EvalArgs {
    /// Print the summary as one JSON object (the shape of summary.json) instead of a table.
    #[arg(long)]
    json: bool,
    /// Benchmark name (see `crucible data list`) or a task file (.json or .jsonl).
    #[arg(long, short = 'b', value_name = "NAME")]
    benchmark: String,
    /// Language (HumanEval-X, APPS, CodeNet, task files).
    #[arg(long, short = 'l', value_name = "LANG")]
    lang: Option<String>,
    /// Only the first N tasks.
    #[arg(long, value_name = "N", value_parser = super::common::parse_count)]
    limit: Option<usize>,
    /// Only these task ids (comma-separated), in this order.
    #[arg(long, value_name = "IDS", value_delimiter = ',')]
    tasks: Vec<String>,
    /// Samples per task.
    #[arg(long, default_value_t = 1, value_parser = super::common::parse_count)]
    n: usize,
    #[command(flatten)]
    ks: KArgs,
    /// Output directory. Default: runs/<benchmark>-<language>-<model>-n<N>.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Most sequences decoded together: a task's samples and other tasks' (a new task starts
    /// as soon as one finishes).
    #[arg(long, value_name = "N", default_value_t = 16)]
    max_batch: usize,
    /// With --strategy: tasks whose strategies run at once, their model calls decoded together
    /// while other tasks' programs run [default: 1, one task after another]. Worth raising with
    /// --endpoint (the server batches the concurrent requests); with the local model it gained
    /// nothing in docs/PERFORMANCE.md and makes greedy runs timing-dependent.
    #[arg(long, value_name = "N")]
    tasks_in_flight: Option<usize>,
    /// Reuse an output directory made with another configuration.
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    judge: JudgeArgs,
    #[command(flatten)]
    metrics: MetricArgs,
    #[command(flatten)]
    dirs: DirArgs,
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    decoding: DecodingArgs,
    #[command(flatten)]
    strategy: StrategyArgs,
}

/// Strategy runs at once when `--tasks-in-flight` is not given: one, so a run is reproducible.
/// Measured with the local model, 4 at once was no faster (docs/PERFORMANCE.md).
const DEFAULT_TASKS_IN_FLIGHT: usize = 1;

pub(crate) fn run(args: EvalArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    interrupt::install();
    let settings = args.model.settings(args.dirs.data_dir.clone())?;
    let mut bench = data::load(&settings, &args.benchmark, args.lang.as_deref())?;
    let name = bench.name.clone();
    if !args.tasks.is_empty() {
        bench.select(&args.tasks)?;
    }
    if let Some(limit) = args.limit {
        bench.tasks.truncate(limit);
    }
    if bench.tasks.is_empty() {
        bail!("benchmark `{name}` has no tasks to evaluate");
    }
    if args.max_batch == 0 {
        bail!("--max-batch must be at least 1");
    }
    for warning in args.ks.warnings(args.n as u64) {
        output::status(&warning);
    }
    let params = args.decoding.params(args.n.min(args.max_batch))?;
    let metrics = args.metrics.request(&settings)?;
    if let Some(request) = &metrics {
        // Before the model loads (run_eval checks again, for other callers).
        request.check_models()?;
        crucible_core::metrics::check_benchmark(&bench, &request.params)?;
    }
    let strategy = match args.strategy.named_strategy(&args.decoding)? {
        Some(strategy) => {
            if args.strategy.trace().is_some() {
                bail!(
                    "--trace is for `crucible generate`; `crucible eval --strategy` writes every trace to traces.jsonl in the output directory"
                );
            }
            let tasks_in_flight = args.tasks_in_flight.unwrap_or(DEFAULT_TASKS_IN_FLIGHT);
            if tasks_in_flight == 0 {
                bail!("--tasks-in-flight must be at least 1");
            }
            Some(StrategyRun {
                strategy,
                budget: args.strategy.budget()?,
                tasks_in_flight,
            })
        }
        None => {
            if args.tasks_in_flight.is_some() {
                bail!(
                    "--tasks-in-flight is for --strategy runs; plain decoding already keeps --max-batch sequences of many tasks in flight"
                );
            }
            None
        }
    };
    // Every argument is checked before the model loads.
    let judge = args.judge.params(true)?;
    let (mut generator, facts) =
        backend::open_generator_with_facts(&settings, &mut output::pull_progress())?;
    let out = args.out.clone().unwrap_or_else(|| {
        let model = short_model_name(&facts);
        let method = match &strategy {
            Some(run) => format!("-{}", run.strategy.kind.name().replace('+', "-")),
            None => String::new(),
        };
        PathBuf::from("runs").join(format!(
            "{}-{}-{model}{method}-n{}",
            name.as_str(),
            bench.language.name(),
            args.n
        ))
    });
    let eval_params = EvalParams {
        out,
        n: args.n,
        ks: args.ks.k.clone(),
        solve: SolveParams {
            mode: args.decoding.mode.into(),
            params,
        },
        max_batch: args.max_batch,
        // Programs run while the model decodes: at idle priority.
        judge,
        strategy,
        force: args.force,
        metrics,
    };
    let progress = Progress::new(global.quiet);
    let sink = progress.sink();
    let home = settings.home.clone();
    let outcome = run_eval(
        generator.as_mut(),
        &facts,
        &bench,
        &home,
        &eval_params,
        sink,
        &mut Interruptible,
    )?;
    progress.finish();
    if args.json {
        // The same object as summary.json (durations in seconds).
        output::data(&serde_json::to_string(&outcome.summary)?);
    } else {
        output::data(outcome.table.trim_end());
    }
    if !global.quiet {
        output::status(&format!(
            "wrote {}/summary.json and report.html",
            outcome.out.display()
        ));
    }
    if outcome.missing_samples > 0 {
        output::status(&format!(
            "{} sample(s) missing: their requests failed (see the notes above); they are not counted as failures. Re-run the same command to generate just those",
            outcome.missing_samples
        ));
    }
    if outcome.interrupted {
        output::status("interrupted: re-run the same command to continue");
        return Ok(ExitCode::from(interrupt::EXIT_INTERRUPTED));
    }
    Ok(ExitCode::SUCCESS)
}

/// The part of a model name that is useful in a directory name: a known name or a file's name
/// without `.gguf` (names like `qwen2.5-coder-0.5b-instruct` have dots that are no extension),
/// or a server's whole model id.
fn short_model_name(facts: &ModelFacts) -> String {
    let name = facts.name();
    let stem = match facts {
        ModelFacts::File { .. } => {
            let file = name.rsplit('/').next().unwrap_or(name);
            file.strip_suffix(".gguf").unwrap_or(file).to_owned()
        }
        ModelFacts::Server { .. } => name.to_owned(),
    };
    stem.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Stops generation on Ctrl-C.
struct Interruptible;

impl Observer for Interruptible {
    fn cancelled(&self) -> bool {
        interrupt::requested()
    }
}

/// Counters behind the progress bar.
#[derive(Default)]
struct Stats {
    tasks_total: usize,
    tasks_done: usize,
    judged: usize,
    passed: usize,
    tokens: usize,
    /// When generation began; tokens/s is over wall time, since requests overlap.
    generating_since: Option<Instant>,
}

/// The progress bar: tasks done, pass rate so far, ETA, tokens/s.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    stats: Arc<Mutex<Stats>>,
    quiet: bool,
    started: Instant,
}

impl Progress {
    fn new(quiet: bool) -> Progress {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::new(0);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{bar:30} {pos}/{len} tasks [{elapsed_precise} < {eta_precise}] {msg}",
                )
                .expect("the progress template is valid"),
            );
            bar
        });
        Progress {
            bar,
            stats: Arc::new(Mutex::new(Stats::default())),
            quiet,
            started: Instant::now(),
        }
    }

    fn sink(&self) -> crucible_core::evaluate::EventSink {
        let bar = self.bar.clone();
        let stats = Arc::clone(&self.stats);
        let quiet = self.quiet;
        let started = self.started;
        Arc::new(move |event| {
            let mut s = stats.lock().expect("progress lock");
            match event {
                RunEvent::Started {
                    tasks,
                    done_tasks,
                    to_generate,
                    judged,
                    passed,
                    ..
                } => {
                    s.generating_since = Some(Instant::now());
                    s.tasks_total = tasks;
                    s.tasks_done = done_tasks;
                    s.judged = judged;
                    s.passed = passed;
                    if let Some(bar) = &bar {
                        bar.set_length(tasks as u64);
                        bar.set_position(done_tasks as u64);
                    }
                    if !quiet {
                        output::status(&format!(
                            "{tasks} tasks, {done_tasks} already done, {to_generate} samples to generate"
                        ));
                    }
                }
                RunEvent::Generated { tokens, .. } => {
                    s.tokens += tokens;
                }
                RunEvent::Judged {
                    task_id,
                    status,
                    task_complete,
                    ..
                } => {
                    s.judged += 1;
                    s.passed += usize::from(status.is_pass());
                    if task_complete {
                        s.tasks_done += 1;
                    }
                    let rate = 100.0 * s.passed as f64 / s.judged as f64;
                    let wall = s
                        .generating_since
                        .map_or(0.0, |t| t.elapsed().as_secs_f64());
                    let tok_s = s.tokens as f64 / wall.max(1e-9);
                    let msg = format!("pass {rate:.1}% of {} | {tok_s:.1} tok/s", s.judged);
                    match &bar {
                        Some(bar) => {
                            bar.set_position(s.tasks_done as u64);
                            bar.set_message(msg);
                        }
                        None if !quiet && task_complete => output::status(&format!(
                            "[{}/{} {:.0}s] {task_id}: {status} | {msg}",
                            s.tasks_done,
                            s.tasks_total,
                            started.elapsed().as_secs_f64()
                        )),
                        None => {}
                    }
                }
                RunEvent::Note(note) => {
                    if !quiet {
                        match &bar {
                            Some(bar) => bar.println(note),
                            None => output::status(&note),
                        }
                    }
                }
            }
        })
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str) -> ModelFacts {
        ModelFacts::File {
            name: name.into(),
            path: PathBuf::from("/m/x.gguf"),
            sha256: String::new(),
            widened: false,
            lora: None,
            batch_invariant: false,
        }
    }

    #[test]
    fn model_names_in_run_directories_keep_their_dots() {
        assert_eq!(
            short_model_name(&file("qwen2.5-coder-0.5b-instruct")),
            "qwen2.5-coder-0.5b-instruct"
        );
        assert_eq!(
            short_model_name(&file("hf:org/repo/My Model.Q4_K_M.gguf")),
            "My_Model.Q4_K_M"
        );
        let server = ModelFacts::Server {
            name: "Qwen/Qwen2.5-Coder-7B-Instruct".into(),
            endpoint: "http://127.0.0.1:8000/v1".into(),
        };
        assert_eq!(short_model_name(&server), "Qwen_Qwen2.5-Coder-7B-Instruct");
    }
}
