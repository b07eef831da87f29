//! Execution-grounded generation strategies: a model and the sandbox working together on the
//! visible part of a task, under a budget, with a trace of every attempt.
//!
//! A strategy sees a [`crucible_types::Task`] only: the prompt and the tests the task itself
//! shows. Benchmarks' hidden tests live in `crucible-eval`, which this crate cannot depend on
//! (the layering test in `xtask` forbids the edge), so no strategy can reach them.
//!
//! ```no_run
//! use std::time::Duration;
//! use crucible_exec::{ExecConfig, Executor};
//! use crucible_infer::{Generator, Silent};
//! use crucible_strategy::{Budget, Quiet, StandardAssembly, Strategy, Tools, run};
//! use crucible_types::Task;
//!
//! # fn demo(generator: &mut dyn Generator, task: &Task) -> Result<(), Box<dyn std::error::Error>> {
//! let executor = Executor::new(&ExecConfig::new("/tmp/exec-cache".as_ref()))?;
//! let strategy = Strategy::preset("rerank+repair", 0)?;
//! let budget = Budget {
//!     model_calls: 8,
//!     tokens: 8_000,
//!     executions: 64,
//!     wall_time: Duration::from_secs(600),
//! };
//! let mut silent = Silent;
//! let tools = Tools {
//!     generator,
//!     executor: &executor,
//!     assembly: &StandardAssembly,
//!     progress: &mut Quiet(&mut silent),
//! };
//! let outcome = run(&strategy, tools, task, &budget)?;
//! println!("{:?} {:?} {:?}", outcome.code, outcome.verdict, outcome.usage);
//! # Ok(()) }
//! ```

mod assembly;
mod budget;
mod prompts;
mod select;
mod session;
mod strategies;
mod strategy;
mod trace;
mod written_tests;

use serde::{Deserialize, Serialize};

use crucible_exec::Executor;
use crucible_infer::{Generator, Observer};
use crucible_types::Task;

pub use assembly::{Assembly, Program, StandardAssembly};
pub use budget::{Budget, Limit, Usage};
pub use select::agreement_scores;
pub use strategy::{Kind, Strategy, StrategyParams};
pub use trace::{Attempt, Output, Stage, TestSource, Trace, Verdict};

use session::Session;

/// Errors of a strategy run. A failing program is never an error: it is a verdict.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("unknown strategy `{name}`; known: {known}")]
    UnknownStrategy { name: String, known: String },
    #[error("the budget allows no {what} (`{what}` is 0); every bound must be above 0")]
    ZeroBudget { what: &'static str },
    #[error("strategy parameter `{name}` {problem}")]
    Param { name: &'static str, problem: String },
    #[error(transparent)]
    Task(#[from] crucible_types::TaskError),
    #[error("generation failed: {0}")]
    Infer(#[source] crucible_infer::Error),
    #[error("a program could not be run: {0}")]
    Exec(#[source] crucible_exec::Error),
    #[error("the strategy run was cancelled")]
    Cancelled,
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What a run reports while it goes.
#[derive(Debug)]
pub enum Event<'a> {
    /// A model call starts (`attempt` is its 1-based index in the trace).
    Asking {
        attempt: usize,
        stage: Stage,
        n: usize,
    },
    /// A call is done; for programs, after they were run (their verdicts are filled in).
    Attempt(&'a Attempt),
    /// A decision worth showing (fallback, budget stop, the choice made).
    Note(&'a str),
}

/// Watches a run: streamed text and cancellation (as [`Observer`]) plus the run's events.
pub trait Progress: Observer {
    fn on_event(&mut self, event: &Event<'_>) {
        let _ = event;
    }
}

/// Adapts any [`Observer`] to a [`Progress`] that ignores events.
pub struct Quiet<'a>(pub &'a mut dyn Observer);

impl std::fmt::Debug for Quiet<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Quiet")
    }
}

impl Observer for Quiet<'_> {
    fn on_text(&mut self, seq: usize, text: &str) {
        self.0.on_text(seq, text);
    }

    fn cancelled(&self) -> bool {
        self.0.cancelled()
    }
}

impl Progress for Quiet<'_> {}

/// What a strategy works with.
pub struct Tools<'a> {
    pub generator: &'a mut dyn Generator,
    /// Runs every program in the sandbox. Give it `CpuPriority::Idle` when programs may run
    /// while a model decodes on the same cores.
    pub executor: &'a Executor,
    /// How candidates and tests become programs (`StandardAssembly` unless a benchmark has its
    /// own rules).
    pub assembly: &'a dyn Assembly,
    pub progress: &'a mut dyn Progress,
}

impl std::fmt::Debug for Tools<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tools").finish_non_exhaustive()
    }
}

/// The result of a run: one final program, how it did, and what it cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub task_id: String,
    /// The strategy's name (`rerank+repair`).
    pub strategy: Kind,
    /// The strategy with its knobs, e.g. `repair (greedy first, rounds 3)`.
    pub description: String,
    /// The final program; `None` only when the budget stopped the run before any program.
    pub code: Option<String>,
    /// The final program's verdict on the visible tests; when the task shows none, on what it
    /// was checked with instead (see [`Verdict::tests`]); `None` if it was never run.
    pub verdict: Option<Verdict>,
    pub budget: Budget,
    pub usage: Usage,
    /// The bound that ended the run early, if one did.
    pub stopped_by: Option<Limit>,
    /// Which trace output is the final program: (attempt, sequence), both 1-based.
    pub chosen: Option<(usize, usize)>,
    pub trace: Trace,
}

/// Run `strategy` on `task` within `budget`.
///
/// Bad input (an invalid task, a zero budget bound, bad parameters) is an error before anything
/// runs. Cancellation through `tools.progress` is [`Error::Cancelled`]; a budget that runs out is
/// not an error: the outcome has the best program so far and says which bound stopped it.
pub fn run<'a>(
    strategy: &'a Strategy,
    tools: Tools<'a>,
    task: &'a Task,
    budget: &Budget,
) -> Result<Outcome> {
    task.validate()?;
    budget.validate()?;
    strategy.validate()?;
    let mut session = Session::new(tools, task, &strategy.params, *budget);
    let chosen = strategies::dispatch(strategy.kind, &mut session)?;
    let verdict = match chosen {
        Some(id) => final_verdict(&mut session, id)?,
        None => None,
    };
    let code = chosen.map(|id| session.code(id).to_owned());
    if chosen.is_none() {
        session.note("the budget ran out before any program was written");
    }
    Ok(Outcome {
        task_id: task.id.clone(),
        strategy: strategy.kind,
        description: strategy.describe(),
        code,
        verdict,
        budget: *budget,
        usage: session.usage(),
        stopped_by: session.meter().stopped_by(),
        chosen: chosen.map(|id| (id.attempt, id.seq + 1)),
        trace: session.trace,
    })
}

/// A program written outside a strategy run (for example by `crucible data synth`, whose
/// model writes a problem, a solution and tests in one answer): the call that wrote it becomes
/// the first attempt of a [`repair_given`] run.
#[derive(Debug, Clone, PartialEq)]
pub struct Given {
    /// The prompt that produced the program.
    pub prompt: crucible_infer::Prompt,
    /// The model's whole answer.
    pub text: String,
    /// The program taken from it.
    pub code: String,
    /// Tokens generated for the answer, and the call's wall seconds.
    pub tokens: usize,
    pub seconds: f64,
}

/// Repair `given` on the task's visible tests with the `repair` strategy's loop (up to
/// `strategy.params.rounds` rounds, `repairs` programs each): the program is judged, and while
/// it fails the model sees the compact failure report and writes a corrected program. The
/// trace's first attempt is `given` (stage `sample`); the outcome's program is the best seen.
/// The budget's call and token counts cover the repair calls only (the given call was made
/// outside the run).
pub fn repair_given<'a>(
    strategy: &'a Strategy,
    tools: Tools<'a>,
    task: &'a Task,
    budget: &Budget,
    given: Given,
) -> Result<Outcome> {
    task.validate()?;
    budget.validate()?;
    strategy.validate()?;
    let mut session = Session::new(tools, task, &strategy.params, *budget);
    let chosen = strategies::repair_given(&mut session, given)?;
    let verdict = final_verdict(&mut session, chosen)?;
    let code = Some(session.code(chosen).to_owned());
    Ok(Outcome {
        task_id: task.id.clone(),
        strategy: Kind::Repair,
        description: format!(
            "repair of a given program (rounds {})",
            strategy.params.rounds
        ),
        code,
        verdict,
        budget: *budget,
        usage: session.usage(),
        stopped_by: session.meter().stopped_by(),
        chosen: Some((chosen.attempt, chosen.seq + 1)),
        trace: session.trace,
    })
}

/// The chosen program's verdict on the visible tests (run if needed and the budget allows);
/// for tasks without visible tests, the last verdict it got.
fn final_verdict(session: &mut Session<'_>, id: session::CandId) -> Result<Option<Verdict>> {
    if let Some(suite) = strategies::visible_suite(session) {
        let judged = session.judge(&[id], &suite)?;
        return Ok(judged.into_iter().next().flatten().map(|j| j.verdict));
    }
    let output = &session.trace.attempts[id.attempt - 1].outputs[id.seq];
    Ok(output.verdicts.last().copied())
}
