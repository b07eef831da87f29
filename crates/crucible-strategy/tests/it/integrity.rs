//! Strategies cannot reach hidden tests.
//!
//! The task comes from the user task format, whose `hidden_tests` are returned apart from the
//! `Task`. Its visible and hidden tests contradict each other, so a strategy that saw the hidden
//! ones would end with the other program. Every strategy ends with the program the visible test
//! wants, no prompt and no program run contains the hidden test, and running the answer on the
//! hidden test (as a judge would) fails: the outcome was decided on visible tests alone.

use std::sync::Mutex;

use crucible_exec::{ExecRequest, LangOptions, Limits};
use crucible_infer::Silent;
use crucible_strategy::{Assembly, Kind, Program, Quiet, StandardAssembly, Strategy, Tools, run};
use crucible_types::format::parse_task_line;
use crucible_types::{Language, Status, Task, TestSuite};

use crate::{Role, budget, executor, role};

const LINE: &str = r#"{"id": "pick", "prompt": "def pick(xs):\n    \"\"\"Return one element of xs.\"\"\"\n", "entry_point": "pick", "tests": ["assert pick([1, 2]) == 1"], "hidden_tests": ["assert pick([1, 2]) == 2"]}"#;
const HIDDEN_MARK: &str = "pick([1, 2]) == 2";
const FIRST: &str = "def pick(xs):\n    return xs[0]\n";
const LAST: &str = "def pick(xs):\n    return xs[-1]\n";

/// Records every test suite strategies hand to the assembly.
struct Recording {
    suites: Mutex<Vec<TestSuite>>,
}

impl Assembly for Recording {
    fn program(&self, task: &Task, code: &str, tests: &TestSuite) -> Program {
        self.suites.lock().unwrap().push(tests.clone());
        StandardAssembly.program(task, code, tests)
    }
}

/// The greedy program is the one the hidden test wants; sampled and repaired ones are the one
/// the visible test wants.
fn generator() -> crucible_infer::ScriptedGenerator {
    crucible_infer::ScriptedGenerator::from_fn(|request, seq| {
        let answer = match role(request) {
            Role::Sample if request.params.n == 1 => LAST,
            Role::Sample if seq % 2 == 0 => FIRST,
            Role::Sample => LAST,
            Role::Repair | Role::Retry => FIRST,
            Role::Tests => "[3, 4]) == 3\n",
            Role::Explain | Role::Reflect => "It returns the wrong end of the list.",
        };
        Some(answer.to_owned())
    })
}

#[test]
fn strategies_decide_on_visible_tests_only() {
    let record = parse_task_line(LINE, 1, Language::Python).unwrap();
    let hidden = record.hidden.clone().expect("the line has hidden tests");
    let task = record.task;
    assert!(!serde_json::to_string(&task).unwrap().contains(HIDDEN_MARK));
    for kind in Kind::ALL {
        let strategy = Strategy::preset(kind.name(), 0).unwrap();
        let assembly = Recording {
            suites: Mutex::new(Vec::new()),
        };
        let mut generator = generator();
        let mut silent = Silent;
        let mut progress = Quiet(&mut silent);
        let tools = Tools {
            generator: &mut generator,
            executor: executor(),
            assembly: &assembly,
            progress: &mut progress,
        };
        let outcome = run(&strategy, tools, &task, &budget()).unwrap();
        for request in &generator.requests {
            let prompt = serde_json::to_string(&request.prompt).unwrap();
            assert!(
                !prompt.contains(HIDDEN_MARK),
                "{kind}: a prompt shows the hidden test"
            );
        }
        for suite in assembly.suites.lock().unwrap().iter() {
            let text = serde_json::to_string(suite).unwrap();
            assert!(
                !text.contains(HIDDEN_MARK),
                "{kind}: a run used the hidden test"
            );
        }
        let code = outcome.code.clone().unwrap();
        let judged_hidden = judge(&task, &code, &hidden);
        if kind == Kind::Plain {
            // Plain keeps its one (greedy) program: it fails the visible test and would pass the
            // hidden one, and its verdict says so honestly.
            assert_eq!(code, LAST.trim_end());
            assert_eq!(outcome.verdict.unwrap().status, Status::WrongAnswer);
            assert_eq!(judged_hidden, Status::Passed);
            continue;
        }
        assert_eq!(code, FIRST.trim_end(), "{kind}");
        assert_eq!(outcome.verdict.unwrap().status, Status::Passed, "{kind}");
        assert_eq!(
            judged_hidden,
            Status::WrongAnswer,
            "{kind}: hidden tests flip it"
        );
    }
}

/// Run `code` on `tests` the way a judge would.
fn judge(task: &Task, code: &str, tests: &TestSuite) -> Status {
    let program = StandardAssembly.program(task, code, tests);
    let request = ExecRequest {
        language: task.language,
        source: program.source,
        tests: program.tests,
        entry_point: program.entry_point,
        limits: Limits::new(std::time::Duration::from_secs(3), 512 << 20),
        options: LangOptions::default(),
        fail_fast: false,
        stdin: None,
        trusted_tests: false,
    };
    executor().run(&request).unwrap().status
}
