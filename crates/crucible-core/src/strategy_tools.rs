//! The parts of a strategy's [`Tools`](crucible_strategy::Tools) that come from Crucible's
//! setup rather than the model: the sandboxed executor for `CRUCIBLE_HOME`, and for benchmark
//! tasks a [`BenchmarkAssembly`] that puts programs together by the benchmark's own harness.

use crucible_eval::BenchmarkTask;
use crucible_eval::judge::HarnessAssembly;
use crucible_exec::Executor;
use crucible_strategy::{Assembly, Program, StandardAssembly};
use crucible_types::{Task, TestSuite};

use crate::{Result, Settings};

/// The executor strategies run programs with: sandboxed, compile cache in
/// `$CRUCIBLE_HOME/cache/exec`, and idle CPU priority so programs never slow down decoding.
pub fn executor(settings: &Settings) -> Result<Executor> {
    Ok(crucible_eval::judge::executor(&settings.home, true, true)?)
}

/// A strategy's [`Assembly`] for a benchmark task: the judge's [`HarnessAssembly`] (HumanEval-X
/// headers, Go imports, MultiPL-E cuts...), so a strategy's visible verdicts agree with the
/// judge's. It holds no hidden test and no reference solution.
#[derive(Debug, Clone)]
pub struct BenchmarkAssembly(HarnessAssembly);

impl BenchmarkAssembly {
    /// An assembly for `task`'s harness.
    pub fn new(task: &BenchmarkTask) -> BenchmarkAssembly {
        BenchmarkAssembly(HarnessAssembly::new(task))
    }
}

impl Assembly for BenchmarkAssembly {
    fn program(&self, task: &Task, code: &str, tests: &TestSuite) -> Program {
        match self.0.program(code, tests) {
            Ok(program) => Program {
                source: program.source,
                tests: program.tests,
                entry_point: program.entry_point,
            },
            Err(err) => {
                tracing::warn!(task_id = %task.id, "benchmark assembly failed ({err}); using the standard rules");
                StandardAssembly.program(task, code, tests)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crucible_eval::{Harness, HiddenTests};
    use crucible_types::{Language, TaskKind};

    #[test]
    fn hidden_tests_are_dropped_and_the_harness_is_followed() {
        let task = Task {
            id: "CPP/0".into(),
            language: Language::Cpp,
            kind: TaskKind::Function {
                prompt: "#include<vector>\nint add(int a, int b){\n".into(),
                entry_point: "add".into(),
            },
            visible: TestSuite::Code {
                code: "int main(){ assert(add(1,2)==3); }".into(),
            },
        };
        let bench_task = BenchmarkTask {
            task: task.clone(),
            hidden: HiddenTests::ready(TestSuite::Code {
                code: "int main(){ assert(add(2,2)==4); }".into(),
            }),
            reference: None,
            harness: Harness::HumanEvalX(Default::default()),
        };
        let assembly = BenchmarkAssembly::new(&bench_task);
        assert!(!assembly.0.holds_hidden_tests());
        let tests = TestSuite::Code {
            code: "int main(){ assert(add(5,5)==10); }".into(),
        };
        let program = assembly.program(&task, "    return a + b;\n}\n", &tests);
        // The upstream C++ prelude, then prompt + continuation; the tests given, not the hidden.
        assert!(
            program.source.starts_with("#include<stdlib.h>"),
            "{}",
            program.source
        );
        assert!(
            program
                .source
                .ends_with("int add(int a, int b){\n    return a + b;\n}\n")
        );
        assert_eq!(
            program.tests,
            TestSuite::Code {
                code: "\nint main(){ assert(add(5,5)==10); }".into()
            }
        );
    }
}
