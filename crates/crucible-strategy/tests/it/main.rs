//! Strategy runs end to end with a scripted generator and the real sandboxed executor: control
//! flow (rounds, budget stops, selection, consensus), bad input, and the hidden-test boundary.

mod control;
mod integrity;
mod limits;

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use crucible_exec::{ExecConfig, Executor};
use crucible_infer::{GenRequest, Prompt, ScriptedGenerator, Silent};
use crucible_strategy::{Budget, Outcome, Quiet, StandardAssembly, Strategy, Tools, run};
use crucible_types::{Language, Task, TaskKind, TestSuite};

/// One executor for the whole test binary (starting Python workers is the slow part).
pub(crate) fn executor() -> &'static Executor {
    static EXECUTOR: OnceLock<Executor> = OnceLock::new();
    EXECUTOR.get_or_init(|| {
        let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("strategy-exec-cache");
        Executor::new(&ExecConfig::new(&cache)).expect("the sandbox works on this machine")
    })
}

/// The role a request plays, read from its prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Role {
    Sample,
    Repair,
    Tests,
    Explain,
    Reflect,
    Retry,
}

pub(crate) fn role(request: &GenRequest) -> Role {
    let Prompt::Chat { messages, prefill } = &request.prompt else {
        return Role::Sample;
    };
    let last = &messages.last().expect("a chat has messages").content;
    if prefill.contains("assert") || prefill.starts_with("Example") {
        Role::Tests
    } else if last.contains("What you learned") {
        Role::Retry
    } else if last.contains("two or three sentences") {
        Role::Reflect
    } else if last.contains("Do not write code yet") {
        Role::Explain
    } else if messages.len() > 1 {
        Role::Repair
    } else {
        Role::Sample
    }
}

/// A generator that answers each role from its own queue, one answer per sequence.
pub(crate) fn scripted(answers: &[(Role, &str)]) -> ScriptedGenerator {
    let mut queues: HashMap<Role, VecDeque<String>> = HashMap::new();
    for (r, text) in answers {
        queues.entry(*r).or_default().push_back((*text).to_owned());
    }
    ScriptedGenerator::from_fn(move |request, _seq| queues.get_mut(&role(request))?.pop_front())
}

/// A Python function task.
pub(crate) fn function_task(prompt: &str, entry_point: &str, visible: &str) -> Task {
    Task {
        id: "t".into(),
        language: Language::Python,
        kind: TaskKind::Function {
            prompt: prompt.into(),
            entry_point: entry_point.into(),
        },
        visible: if visible.is_empty() {
            TestSuite::None
        } else {
            TestSuite::Code {
                code: visible.into(),
            }
        },
    }
}

/// The `double` task: one visible test.
pub(crate) fn double_task() -> Task {
    function_task(
        "def double(x):\n    \"\"\"Return twice x.\"\"\"\n",
        "double",
        "assert double(0) == 0\nassert double(2) == 4\n",
    )
}

pub(crate) fn budget() -> Budget {
    Budget {
        model_calls: 20,
        tokens: 100_000,
        executions: 100,
        wall_time: Duration::from_secs(300),
    }
}

/// Run a preset strategy with a scripted generator.
pub(crate) fn run_with(
    strategy: &Strategy,
    generator: &mut ScriptedGenerator,
    task: &Task,
    budget: &Budget,
) -> crucible_strategy::Result<Outcome> {
    let mut silent = Silent;
    let mut progress = Quiet(&mut silent);
    let tools = Tools {
        generator,
        executor: executor(),
        assembly: &StandardAssembly,
        progress: &mut progress,
    };
    run(strategy, tools, task, budget)
}

pub(crate) fn preset(name: &str) -> Strategy {
    Strategy::preset(name, 7).expect("a known preset")
}

/// The stages of the trace, in order.
pub(crate) fn stages(outcome: &Outcome) -> Vec<&'static str> {
    outcome
        .trace
        .attempts
        .iter()
        .map(|a| a.stage.name())
        .collect()
}
