//! One strategy run's moving parts: the generator and the executor behind a budget meter, the
//! trace every call and run is written to, and a cache so the same program is never run twice on
//! the same tests.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use crucible_exec::{ExecReport, ExecRequest, Executor, Failure, LangOptions};
use crucible_infer::{
    Error as InferError, FinishReason, GenRequest, Generator, Observer, Prompt, extract_code,
};
use crucible_types::{Decoding, GenParams, Status, Task, TestSuite};

use crate::assembly::Assembly;
use crate::budget::{Budget, Limit, Meter};
use crate::strategy::StrategyParams;
use crate::trace::{Attempt, Output, Stage, TestSource, Trace, Verdict};
use crate::{Error, Event, Progress, Result};

/// A set of tests candidates are judged on.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Suite {
    pub(crate) source: TestSource,
    pub(crate) tests: TestSuite,
}

/// A program in the trace: output `seq` of attempt `attempt`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct CandId {
    pub(crate) attempt: usize,
    pub(crate) seq: usize,
}

/// A candidate and its run on a suite (`None`: not run, the budget ran out).
pub(crate) type Entry = (CandId, Option<Judged>);

/// A candidate's run on one suite.
#[derive(Debug, Clone)]
pub(crate) struct Judged {
    pub(crate) verdict: Verdict,
    pub(crate) report: ExecReport,
}

/// What one model call asks for.
#[derive(Debug, Clone)]
pub(crate) struct Ask {
    pub(crate) stage: Stage,
    pub(crate) prompt: Prompt,
    /// Text the answer starts with (the prefill), used to rebuild the full answer.
    pub(crate) answer_prefix: String,
    /// Appended to the answer when a stop sequence ended it.
    pub(crate) suffix_on_stop: String,
    pub(crate) stop: Vec<String>,
    pub(crate) n: usize,
    /// Greedy decoding (only for `n == 1`); otherwise the strategy's sampling parameters.
    pub(crate) greedy: bool,
    pub(crate) max_new_tokens: usize,
}

/// The answers of one call.
#[derive(Debug, Clone)]
pub(crate) struct Answers {
    pub(crate) attempt: usize,
    /// Full answers (prefix + text + suffix), one per sequence.
    pub(crate) answers: Vec<String>,
}

pub(crate) struct Session<'a> {
    pub(crate) task: &'a Task,
    pub(crate) params: &'a StrategyParams,
    pub(crate) trace: Trace,
    generator: &'a mut dyn Generator,
    executor: &'a Executor,
    assembly: &'a dyn Assembly,
    progress: &'a mut dyn Progress,
    meter: Meter,
    cache: HashMap<(String, String), ExecReport>,
}

/// Cancels generation when the user asks or the wall-time budget runs out.
struct Deadline<'p> {
    inner: &'p mut dyn Progress,
    deadline: Instant,
}

impl Observer for Deadline<'_> {
    fn on_text(&mut self, seq: usize, text: &str) {
        self.inner.on_text(seq, text);
    }

    fn cancelled(&self) -> bool {
        self.inner.cancelled() || Instant::now() >= self.deadline
    }
}

impl<'a> Session<'a> {
    pub(crate) fn new(
        tools: crate::Tools<'a>,
        task: &'a Task,
        params: &'a StrategyParams,
        budget: Budget,
    ) -> Session<'a> {
        Session {
            task,
            params,
            trace: Trace::default(),
            generator: tools.generator,
            executor: tools.executor,
            assembly: tools.assembly,
            progress: tools.progress,
            meter: Meter::new(budget),
            cache: HashMap::new(),
        }
    }

    pub(crate) fn meter(&self) -> &Meter {
        &self.meter
    }

    /// Add a note to the trace and tell the watcher.
    pub(crate) fn note(&mut self, text: impl Into<String>) {
        let text = text.into();
        tracing::debug!(task_id = %self.task.id, "{text}");
        self.progress.on_event(&Event::Note(&text));
        self.trace.notes.push(text);
    }

    fn budget_stop(&mut self, limit: Limit, what: &str) {
        if self.meter.stopped_by().is_none() {
            self.note(format!("budget: `{}` exhausted, no {what}", limit.name()));
        }
        self.meter.refuse(limit);
    }

    /// Ask the model; `None` when the budget refuses the call (the run should wind down).
    pub(crate) fn ask(&mut self, ask: Ask) -> Result<Option<Answers>> {
        let (n, max_new_tokens) = match self.meter.admit_call(ask.n, ask.max_new_tokens) {
            Ok(fit) => fit,
            Err(limit) => {
                self.budget_stop(limit, &format!("more model calls ({})", ask.stage.name()));
                return Ok(None);
            }
        };
        if (n, max_new_tokens) != (ask.n, ask.max_new_tokens) {
            self.note(format!(
                "budget: `tokens` left room for {n} of the {} sequences asked for, of at most {max_new_tokens} tokens each",
                ask.n
            ));
            self.meter.refuse(Limit::Tokens);
        }
        let index = self.trace.attempts.len() + 1;
        let decoding = if ask.greedy && n == 1 {
            Decoding::Greedy
        } else {
            Decoding::Sample(self.params.sampling)
        };
        let request = GenRequest {
            prompt: ask.prompt.clone(),
            params: GenParams {
                decoding,
                // Every call gets its own stream: a repeated prompt gives new samples.
                seed: self.params.seed.wrapping_add(index as u64),
                max_new_tokens,
                stop: ask.stop.clone(),
                n,
            },
        };
        self.progress.on_event(&Event::Asking {
            attempt: index,
            stage: ask.stage,
            n,
        });
        let started = Instant::now();
        let deadline = self.meter.deadline();
        let mut observer = Deadline {
            deadline,
            inner: &mut *self.progress,
        };
        let generation = match self.generator.generate(&request, &mut observer) {
            Ok(generation) => generation,
            // Only the deadline makes this a budget stop: a generator that stopped on its own
            // (a shared one whose run was interrupted) is a cancellation.
            Err(InferError::Cancelled)
                if !self.progress.cancelled() && Instant::now() >= deadline =>
            {
                self.meter
                    .record_call(0, 0, started.elapsed().as_secs_f64());
                self.budget_stop(Limit::WallTime, "time to finish the model call");
                return Ok(None);
            }
            Err(InferError::Cancelled) => return Err(Error::Cancelled),
            Err(err) => return Err(Error::Infer(err)),
        };
        let seconds = started.elapsed().as_secs_f64();
        self.meter.record_call(
            generation.generated_tokens(),
            generation.prompt_tokens,
            seconds,
        );
        let entry_point = self.task.entry_point();
        let mut answers = Vec::with_capacity(generation.completions.len());
        let mut outputs = Vec::with_capacity(generation.completions.len());
        for completion in &generation.completions {
            let mut answer = format!("{}{}", ask.answer_prefix, completion.text);
            if completion.finish == FinishReason::Stop {
                answer.push_str(&ask.suffix_on_stop);
            }
            let code = ask
                .stage
                .writes_code()
                .then(|| extract_code(&answer, self.task.language, entry_point).code);
            outputs.push(Output {
                text: completion.text.clone(),
                tokens: completion.tokens,
                logprob: completion.logprob,
                code,
                verdicts: Vec::new(),
                feedback: None,
            });
            answers.push(answer);
        }
        self.trace.attempts.push(Attempt {
            index,
            stage: ask.stage,
            prompt: ask.prompt,
            outputs,
            tokens: generation.generated_tokens(),
            prompt_tokens: generation.prompt_tokens,
            seconds,
            speculation: generation.speculation,
        });
        if !ask.stage.writes_code() {
            let attempt = &self.trace.attempts[index - 1];
            self.progress.on_event(&Event::Attempt(attempt));
        }
        Ok(Some(Answers {
            attempt: index,
            answers,
        }))
    }

    /// Record a program written outside the run as the next attempt (stage `sample`); its
    /// call is not charged to the budget.
    pub(crate) fn given(&mut self, given: crate::Given) -> CandId {
        let index = self.trace.attempts.len() + 1;
        self.trace.attempts.push(Attempt {
            index,
            stage: Stage::Sample,
            prompt: given.prompt,
            outputs: vec![Output {
                text: given.text,
                tokens: given.tokens,
                logprob: None,
                code: Some(given.code),
                verdicts: Vec::new(),
                feedback: None,
            }],
            tokens: given.tokens,
            prompt_tokens: 0,
            seconds: given.seconds,
            speculation: None,
        });
        self.note("the first program was written outside the run (given)");
        CandId {
            attempt: index,
            seq: 0,
        }
    }

    /// The program of a candidate.
    pub(crate) fn code(&self, id: CandId) -> &str {
        self.trace.attempts[id.attempt - 1].outputs[id.seq]
            .code
            .as_deref()
            .unwrap_or("")
    }

    /// Every program of attempt `attempt`.
    pub(crate) fn candidates_of(&self, attempt: usize) -> Vec<CandId> {
        (0..self.trace.attempts[attempt - 1].outputs.len())
            .map(|seq| CandId { attempt, seq })
            .collect()
    }

    /// Run `ids` on `suite` (at most `jobs` at once; programs already run on it come from the
    /// cache). A `None` entry was not run because the budget ran out.
    pub(crate) fn judge(&mut self, ids: &[CandId], suite: &Suite) -> Result<Vec<Option<Judged>>> {
        let suite_key = serde_json::to_string(&suite.tests).unwrap_or_default();
        let mut pending: Vec<String> = Vec::new();
        for id in ids {
            let code = self.code(*id).to_owned();
            let known = self.cache.contains_key(&(code.clone(), suite_key.clone()));
            if !known && !pending.contains(&code) && !trivially_broken(&code) {
                pending.push(code);
            }
        }
        let admitted = match self.meter.admit_executions(pending.len()) {
            Ok(admitted) => admitted,
            Err(limit) => {
                self.budget_stop(limit, "more executions");
                0
            }
        };
        if admitted < pending.len() && admitted > 0 {
            self.budget_stop(Limit::Executions, "more executions");
        }
        pending.truncate(admitted);
        let started = Instant::now();
        let reports = self.run_all(&pending, &suite.tests)?;
        self.meter
            .record_executions(pending.len(), started.elapsed().as_secs_f64());
        for (code, report) in pending.into_iter().zip(reports) {
            self.cache.insert((code, suite_key.clone()), report);
        }
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let code = self.code(*id).to_owned();
            let report = if trivially_broken(&code) {
                Some(no_code_report())
            } else {
                self.cache.get(&(code, suite_key.clone())).cloned()
            };
            let judged = report.map(|report| Judged {
                verdict: verdict_of(&report, suite.source),
                report,
            });
            if let Some(judged) = &judged
                && let Some(output) = self.trace.output_mut(id.attempt, id.seq)
                && !output.verdicts.iter().any(|v| v.tests == suite.source)
            {
                output.verdicts.push(judged.verdict);
            }
            out.push(judged);
        }
        Ok(out)
    }

    /// Tell the watcher that an attempt's programs have been judged.
    pub(crate) fn announce(&mut self, attempt: usize) {
        if let Some(attempt) = self.trace.attempts.get(attempt - 1) {
            self.progress.on_event(&Event::Attempt(attempt));
        }
    }

    /// Remember the feedback shown to the model for a candidate.
    pub(crate) fn set_feedback(&mut self, id: CandId, feedback: &str) {
        if let Some(output) = self.trace.output_mut(id.attempt, id.seq) {
            output.feedback = Some(feedback.to_owned());
        }
    }

    /// Run a plain program (no tests) and return its report; for helper programs the strategy
    /// writes itself, such as the syntax check of model-written tests. Counts as an execution.
    pub(crate) fn run_helper(
        &mut self,
        language: crucible_types::Language,
        source: String,
    ) -> Result<Option<ExecReport>> {
        if let Err(limit) = self.meter.admit_executions(1).and_then(|n| {
            if n == 0 {
                Err(Limit::Executions)
            } else {
                Ok(n)
            }
        }) {
            self.budget_stop(limit, "more executions");
            return Ok(None);
        }
        let request = ExecRequest {
            language,
            source,
            tests: TestSuite::None,
            entry_point: None,
            limits: self.params.limits,
            options: LangOptions::default(),
            fail_fast: false,
            stdin: None,
            trusted_tests: false,
        };
        let started = Instant::now();
        let report = self.executor.run(&request).map_err(Error::Exec)?;
        self.meter
            .record_executions(1, started.elapsed().as_secs_f64());
        Ok(Some(report))
    }

    fn run_all(&self, codes: &[String], tests: &TestSuite) -> Result<Vec<ExecReport>> {
        let requests: Vec<ExecRequest> = codes
            .iter()
            .map(|code| {
                let program = self.assembly.program(self.task, code, tests);
                ExecRequest {
                    language: self.task.language,
                    source: program.source,
                    tests: program.tests,
                    entry_point: program.entry_point,
                    limits: self.params.limits,
                    options: LangOptions::default(),
                    fail_fast: false,
                    stdin: None,
                    // A strategy's tests may be a model's.
                    trusted_tests: false,
                }
            })
            .collect();
        let next = AtomicUsize::new(0);
        let results: Mutex<Vec<Option<crucible_exec::Result<ExecReport>>>> =
            Mutex::new((0..requests.len()).map(|_| None).collect());
        let threads = self.params.jobs.clamp(1, requests.len().max(1));
        let executor = self.executor;
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| {
                    loop {
                        let idx = next.fetch_add(1, Ordering::SeqCst);
                        let Some(request) = requests.get(idx) else {
                            break;
                        };
                        let report = executor.run(request);
                        if let Ok(mut slots) = results.lock() {
                            slots[idx] = Some(report);
                        }
                    }
                });
            }
        });
        let results = results
            .into_inner()
            .expect("the runner threads do not panic");
        results
            .into_iter()
            .map(|r| r.expect("every request was run").map_err(Error::Exec))
            .collect()
    }

    /// Usage so far.
    pub(crate) fn usage(&self) -> crate::Usage {
        self.meter.usage()
    }
}

/// Answers with no code (or with bytes no runner accepts) are judged without running.
fn trivially_broken(code: &str) -> bool {
    code.trim().is_empty() || code.contains('\0')
}

fn no_code_report() -> ExecReport {
    ExecReport {
        failure: Some(Failure {
            message: "the answer contains no code".into(),
            ..Failure::default()
        }),
        ..ExecReport::new(Status::CompileError, Vec::new())
    }
}

/// The verdict of a report on a suite.
pub(crate) fn verdict_of(report: &ExecReport, source: TestSource) -> Verdict {
    let (passed, total) = if report.tests.is_empty() {
        (usize::from(report.status.is_pass()), 1)
    } else {
        (report.passed_tests(), report.tests.len())
    };
    Verdict {
        tests: source,
        status: report.status,
        passed,
        total,
    }
}
