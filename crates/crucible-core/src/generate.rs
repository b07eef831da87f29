//! Generate for a task: the one pipeline behind `crucible generate` and the server's solve
//! endpoint. A task that shows examples or tests goes to a strategy, which runs its programs
//! in the sandbox under a budget; otherwise one plain request asks for candidates.

use serde_json::json;

use crucible_exec::Executor;
use crucible_infer::prompt::Exemplar;
use crucible_infer::{Candidates, Generator, SolveParams};
use crucible_strategy::{Budget, Outcome, Progress, StandardAssembly, Strategy, Tools};
use crucible_types::Task;

use crate::{Error, Result, Settings, strategy_tools};

/// The strategy used when a task shows examples or tests and none is named.
pub const DEFAULT_STRATEGY: &str = "rerank+repair";

/// The strategy to run for `task`: the one `named`, else [`DEFAULT_STRATEGY`] when the task
/// shows tests and one answer is asked for (`n` is 1). `None` means a plain request for `n`
/// candidates.
pub fn strategy_name<'a>(task: &Task, n: usize, named: Option<&'a str>) -> Option<&'a str> {
    match named {
        Some(name) => Some(name),
        None if task.has_visible_tests() && n == 1 => Some(DEFAULT_STRATEGY),
        None => None,
    }
}

/// How to generate for a task.
#[derive(Debug, Clone)]
pub enum Plan {
    /// One request for `solve.params.n` candidates, showing `shots` first; nothing is run.
    Solve {
        solve: SolveParams,
        shots: Vec<Exemplar>,
    },
    /// A strategy run: programs are run on the task's visible tests in the sandbox.
    Strategy { strategy: Strategy, budget: Budget },
}

/// Where a strategy's sandbox comes from.
#[derive(Debug, Clone, Copy)]
pub enum Sandbox<'a> {
    /// Started from the settings when a strategy needs it (one run, as `crucible generate`).
    FromSettings(&'a Settings),
    /// Started once and shared by many runs (the server).
    Ready(&'a Executor),
    /// None could be started: a strategy plan is an error, a plain plan runs as usual.
    Unavailable,
}

/// What generation gave.
#[derive(Debug, Clone)]
pub enum Generated {
    /// The candidates of a plain request.
    Candidates(Candidates),
    /// A strategy's final program, its verdict and its trace.
    Outcome(Box<Outcome>),
}

/// Generate for `task` as `plan` says. `progress` sees the text as it is generated, the
/// strategy's events, and is polled for cancellation ([`Error::is_cancelled`]).
pub fn generate_for_task(
    generator: &mut dyn Generator,
    sandbox: Sandbox<'_>,
    task: &Task,
    plan: &Plan,
    progress: &mut dyn Progress,
) -> Result<Generated> {
    task.validate().map_err(crucible_strategy::Error::Task)?;
    match plan {
        Plan::Solve { solve, shots } => {
            let shots: Vec<&Exemplar> = shots.iter().collect();
            let candidates = crucible_infer::solve(generator, task, &shots, solve, progress)?;
            Ok(Generated::Candidates(candidates))
        }
        Plan::Strategy { strategy, budget } => {
            let started;
            let executor = match sandbox {
                Sandbox::Ready(executor) => executor,
                Sandbox::FromSettings(settings) => {
                    started = strategy_tools::executor(settings)?;
                    &started
                }
                Sandbox::Unavailable => {
                    return Err(Error::Setting {
                        name: "sandbox",
                        problem: "could not be started, and strategies run their programs in it"
                            .into(),
                    });
                }
            };
            let tools = Tools {
                generator,
                executor,
                assembly: &StandardAssembly,
                progress,
            };
            let outcome = crucible_strategy::run(strategy, tools, task, budget)?;
            Ok(Generated::Outcome(Box::new(outcome)))
        }
    }
}

impl Generated {
    /// The final code: a strategy's program, or the first candidate's.
    pub fn code(&self) -> Option<&str> {
        match self {
            Generated::Candidates(out) => out.candidates.first().map(|c| c.code.as_str()),
            Generated::Outcome(outcome) => outcome.code.as_deref(),
        }
    }

    /// The result as one JSON object, as `crucible generate --json` prints it: the task, the
    /// final code, the model and the cost; with a strategy also its verdict and budget, with a
    /// plain request every candidate. `plan` must be the plan that produced it.
    pub fn report(&self, task: &Task, model: &str, plan: &Plan) -> serde_json::Value {
        match (self, plan) {
            (Generated::Outcome(outcome), Plan::Strategy { strategy, .. }) => {
                outcome_report(task, model, outcome, strategy)
            }
            (Generated::Candidates(out), Plan::Solve { solve, .. }) => {
                candidates_report(task, model, out, solve)
            }
            (Generated::Outcome(outcome), Plan::Solve { .. }) => {
                json!({"task": task.id, "code": outcome.code, "language": task.language, "model": model, "strategy": null, "verified": false, "verdict": null})
            }
            (Generated::Candidates(out), Plan::Strategy { .. }) => {
                json!({"task": task.id, "code": out.candidates.first().map(|c| &c.code), "language": task.language, "model": model, "strategy": null, "verified": false, "verdict": null})
            }
        }
    }
}

fn candidates_report(
    task: &Task,
    model: &str,
    out: &Candidates,
    solve: &SolveParams,
) -> serde_json::Value {
    let best = out.candidates.first();
    let candidates: Vec<_> = out
        .candidates
        .iter()
        .map(|c| {
            json!({
                "code": c.code,
                "tokens": c.tokens,
                "finish": c.finish,
                "logprob": c.logprob,
            })
        })
        .collect();
    json!({
        "task": task.id,
        "code": best.map(|c| &c.code),
        "language": task.language,
        "model": model,
        "tokens": out.tokens(),
        "prompt_tokens": out.prompt_tokens,
        "seconds": (out.seconds * 1000.0).round() / 1000.0,
        "speculation": speculation_report(out.speculation),
        "finish": best.map(|c| c.finish),
        "mode": solve.mode,
        "decoding": solve.params.decoding,
        "seed": solve.params.seed,
        "candidates": candidates,
        // The schema's strategy fields: plain sampling runs nothing.
        "strategy": null,
        "verified": false,
        "verdict": null,
    })
}

/// Draft and acceptance counts with the acceptance rate, or null when nothing speculated.
fn speculation_report(stats: Option<crucible_infer::SpecStats>) -> serde_json::Value {
    match stats {
        Some(stats) => json!({
            "steps": stats.steps,
            "drafted": stats.drafted,
            "accepted": stats.accepted,
            "acceptance": stats.acceptance().map(|rate| (rate * 1000.0).round() / 1000.0),
        }),
        None => serde_json::Value::Null,
    }
}

fn outcome_report(
    task: &Task,
    model: &str,
    outcome: &Outcome,
    strategy: &Strategy,
) -> serde_json::Value {
    let used = &outcome.usage;
    json!({
        "task": task.id,
        "code": outcome.code,
        "language": task.language,
        "model": model,
        "strategy": outcome.strategy,
        "strategy_description": outcome.description,
        // Run in the sandbox: `verdict` says on which tests (the task's or the model's).
        "verified": true,
        "verdict": outcome.verdict,
        "budget": {
            "limit": outcome.budget,
            "used": used,
            "stopped_by": outcome.stopped_by,
        },
        "tokens": used.tokens,
        "prompt_tokens": used.prompt_tokens,
        "speculation": speculation_report(outcome.trace.attempts.iter().filter_map(|a| a.speculation).reduce(|mut total, stats| {
            total.add(stats);
            total
        })),
        "seconds": (used.seconds * 1000.0).round() / 1000.0,
        "attempts": outcome.trace.attempts.len(),
        "chosen": outcome.chosen,
        "notes": outcome.trace.notes,
        "mode": strategy.params.mode,
        "seed": strategy.params.seed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crucible_infer::prompt::PromptMode;
    use crucible_infer::{ScriptedGenerator, Silent};
    use crucible_strategy::Quiet;
    use crucible_types::{Decoding, GenParams, IoCase, Language, TaskKind, TestSuite};

    fn task(visible: TestSuite) -> Task {
        Task {
            id: "t".into(),
            language: Language::Python,
            kind: TaskKind::Freeform {
                description: "print the sum of two integers".into(),
            },
            visible,
        }
    }

    fn io() -> TestSuite {
        TestSuite::Io {
            cases: vec![IoCase {
                input: "1 2\n".into(),
                output: "3\n".into(),
            }],
            compare: crucible_types::Compare::Whitespace,
        }
    }

    #[test]
    fn a_task_with_tests_gets_the_default_strategy_only_for_one_answer() {
        assert_eq!(strategy_name(&task(io()), 1, None), Some(DEFAULT_STRATEGY));
        assert_eq!(strategy_name(&task(io()), 4, None), None);
        assert_eq!(strategy_name(&task(TestSuite::None), 1, None), None);
        assert_eq!(
            strategy_name(&task(TestSuite::None), 1, Some("repair")),
            Some("repair")
        );
    }

    #[test]
    fn a_plain_plan_asks_once_and_reports_every_candidate() {
        let mut generator =
            ScriptedGenerator::new(["a, b = map(int, input().split())\nprint(a + b)\n```"]);
        let plan = Plan::Solve {
            solve: SolveParams {
                mode: PromptMode::Chat,
                params: GenParams {
                    decoding: Decoding::Greedy,
                    seed: 0,
                    max_new_tokens: 64,
                    stop: vec![],
                    n: 1,
                },
            },
            shots: vec![],
        };
        // A plain plan never starts the sandbox: these settings would fail to.
        let settings = Settings {
            home: "/nonexistent/crucible-home".into(),
            model: None,
            endpoint: None,
            threads: 1,
            context_length: 4096,
            data_dir: None,
            weights: None,
            request_timeout: None,
            parallel_requests: None,
            sources: vec![],
            lora: None,
            speculate: crucible_infer::Speculate::Off,
            draft_model: None,
            batch_invariant: false,
            prompt_cache_mib: None,
            flash_attention: crucible_infer::FlashAttention::Auto,
            kv_shift: false,
        };
        let task = task(TestSuite::None);
        let generated = generate_for_task(
            &mut generator,
            Sandbox::FromSettings(&settings),
            &task,
            &plan,
            &mut Quiet(&mut Silent),
        )
        .unwrap();
        let report = generated.report(&task, "scripted", &plan);
        assert_eq!(
            report["code"],
            "a, b = map(int, input().split())\nprint(a + b)"
        );
        assert_eq!(report["candidates"].as_array().unwrap().len(), 1);
        assert_eq!(generator.requests.len(), 1);
    }
}
