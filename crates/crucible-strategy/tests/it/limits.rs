//! Budget stops, bad input and cancellation.

use std::time::Duration;

use crucible_infer::Observer;
use crucible_strategy::{Budget, Error, Limit, Progress, StandardAssembly, Strategy, Tools, run};
use crucible_types::{Status, Task, TaskKind, TestSuite};

use crate::{budget, double_task, executor, preset, run_with, stages};

const WRONG: &str = "def double(x):\n    return x + 3\n";

fn always_wrong() -> crucible_infer::ScriptedGenerator {
    crucible_infer::ScriptedGenerator::from_fn(|_, _| Some(WRONG.to_owned()))
}

/// Every answer a different wrong program, so a repeated answer never ends the rounds.
fn new_wrong_each_time() -> crucible_infer::ScriptedGenerator {
    let mut count = 0;
    crucible_infer::ScriptedGenerator::from_fn(move |_, _| {
        count += 1;
        Some(format!("def double(x):\n    return x + {count}\n"))
    })
}

#[test]
fn model_calls_bound_stops_repair_early() {
    let budget = Budget {
        model_calls: 2,
        ..budget()
    };
    let mut generator = new_wrong_each_time();
    let outcome = run_with(&preset("repair"), &mut generator, &double_task(), &budget).unwrap();
    assert_eq!(stages(&outcome), ["sample", "repair"]);
    assert_eq!(outcome.usage.model_calls, 2);
    assert_eq!(outcome.stopped_by, Some(Limit::ModelCalls));
    assert!(
        outcome.code.is_some(),
        "the best program so far is returned"
    );
    assert!(
        outcome
            .trace
            .notes
            .iter()
            .any(|n| n.starts_with("budget: `model_calls` exhausted")),
        "{:?}",
        outcome.trace.notes
    );
}

#[test]
fn token_bound_is_never_exceeded() {
    // The scripted generator counts one token per word; each wrong answer is 6 "tokens".
    let budget = Budget {
        tokens: 60,
        ..budget()
    };
    let mut strategy = preset("rerank");
    strategy.params.samples = 16;
    strategy.params.greedy_first = false;
    let mut generator = always_wrong();
    let outcome = run_with(&strategy, &mut generator, &double_task(), &budget).unwrap();
    // 60 tokens left for 16 sequences: fewer, longer-allowed sequences are asked for instead.
    let request = &generator.requests[0].params;
    assert_eq!((request.n, request.max_new_tokens), (1, 60));
    assert!(outcome.usage.tokens <= 60);
    assert_eq!(outcome.stopped_by, Some(Limit::Tokens));
    assert!(
        outcome
            .trace
            .notes
            .iter()
            .any(|n| n == "budget: `tokens` left room for 1 of the 16 sequences asked for, of at most 60 tokens each"),
        "{:?}",
        outcome.trace.notes
    );
}

#[test]
fn execution_bound_leaves_programs_unjudged() {
    let budget = Budget {
        executions: 1,
        ..budget()
    };
    let mut generator = new_wrong_each_time();
    let outcome = run_with(&preset("repair"), &mut generator, &double_task(), &budget).unwrap();
    assert_eq!(outcome.usage.executions, 1);
    assert_eq!(outcome.stopped_by, Some(Limit::Executions));
    // The repair could not be run, so the loop stops and the judged first program is kept.
    assert_eq!(stages(&outcome), ["sample", "repair"]);
    assert_eq!(outcome.chosen, Some((1, 1)));
    assert_eq!(outcome.verdict.unwrap().status, Status::WrongAnswer);
}

#[test]
fn zero_budget_and_unknown_strategy_are_clear_errors() {
    let budget = Budget {
        tokens: 0,
        ..budget()
    };
    let mut generator = always_wrong();
    let err = run_with(&preset("plain"), &mut generator, &double_task(), &budget).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the budget allows no tokens (`tokens` is 0); every bound must be above 0"
    );
    assert!(generator.requests.is_empty(), "nothing ran");
    let wall = Budget {
        wall_time: Duration::ZERO,
        ..crate::budget()
    };
    assert!(matches!(
        run_with(&preset("plain"), &mut generator, &double_task(), &wall),
        Err(Error::ZeroBudget { what: "wall_time" })
    ));
    assert_eq!(
        Strategy::preset("best", 0).unwrap_err().to_string(),
        "unknown strategy `best`; known: plain, repair, rerank, reflexion, agent, rerank+repair"
    );
}

#[test]
fn invalid_task_is_an_error() {
    let task = Task {
        id: "x".into(),
        language: crucible_types::Language::Python,
        kind: TaskKind::Program {
            description: "   ".into(),
        },
        visible: TestSuite::None,
    };
    let mut generator = always_wrong();
    let err = run_with(&preset("repair"), &mut generator, &task, &budget()).unwrap_err();
    assert_eq!(err.to_string(), "task `x` has an empty description");
}

#[test]
fn answers_without_code_are_judged_without_running() {
    let mut generator = crucible_infer::ScriptedGenerator::from_fn(|_, _| Some("   \n".into()));
    let outcome = run_with(&preset("repair"), &mut generator, &double_task(), &budget()).unwrap();
    assert_eq!(outcome.usage.executions, 0);
    let verdict = outcome.verdict.unwrap();
    assert_eq!(verdict.status, Status::CompileError);
    assert!(
        outcome.trace.attempts[0].outputs[0]
            .feedback
            .as_deref()
            .unwrap()
            .contains("the answer contains no code")
    );
}

/// Cancels as soon as the first model call has been made.
struct CancelAfterFirst {
    calls: usize,
}

impl Observer for CancelAfterFirst {
    fn cancelled(&self) -> bool {
        self.calls > 0
    }
}

impl Progress for CancelAfterFirst {
    fn on_event(&mut self, event: &crucible_strategy::Event<'_>) {
        if matches!(event, crucible_strategy::Event::Attempt(_)) {
            self.calls += 1;
        }
    }
}

#[test]
fn cancellation_is_an_error_not_a_budget_stop() {
    let mut generator = always_wrong();
    let mut progress = CancelAfterFirst { calls: 0 };
    let tools = Tools {
        generator: &mut generator,
        executor: executor(),
        assembly: &StandardAssembly,
        progress: &mut progress,
    };
    let err = run(&preset("repair"), tools, &double_task(), &budget()).unwrap_err();
    assert!(matches!(err, Error::Cancelled), "{err}");
}

/// A generator that has stopped on its own, as a shared generator does when the run it serves
/// is interrupted: every call is cancelled although the caller never asked.
struct Stopped(crucible_infer::ModelInfo);

impl crucible_infer::Generator for Stopped {
    fn info(&self) -> &crucible_infer::ModelInfo {
        &self.0
    }

    fn generate(
        &mut self,
        _: &crucible_infer::GenRequest,
        _: &mut dyn Observer,
    ) -> Result<crucible_infer::Generation, crucible_infer::Error> {
        Err(crucible_infer::Error::Cancelled)
    }
}

#[test]
fn a_generator_that_stopped_is_a_cancellation_not_a_wall_time_stop() {
    let mut generator = Stopped(crucible_infer::ModelInfo {
        name: "stopped".into(),
        source: "test".into(),
        context_length: 4096,
    });
    let tools = Tools {
        generator: &mut generator,
        executor: executor(),
        assembly: &StandardAssembly,
        progress: &mut crucible_strategy::Quiet(&mut crucible_infer::Silent),
    };
    // The wall-time budget is far away: an outcome "stopped by wall_time" would be recorded as
    // the task's answer, with no program.
    let err = run(&preset("repair"), tools, &double_task(), &budget()).unwrap_err();
    assert!(matches!(err, Error::Cancelled), "{err}");
}
