//! `crucible generate` with a strategy: progress lines, the trace and the result.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};

use crucible_core::generate::{Generated, Plan};
use crucible_core::infer::{Observer, Prompt};
use crucible_core::repo_context::RepoContext;
use crucible_core::strategy::{Attempt, Event, Outcome, Progress};
use crucible_core::types::Task;

use super::super::strategy_args::StrategyArgs;
use crate::{interrupt, output};

/// How the result is shown.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OutputMode {
    /// One JSON object on stdout instead of the code.
    pub(crate) json: bool,
    /// No progress lines.
    pub(crate) quiet: bool,
}

/// Print a strategy run's result: the trace if asked for, then the code (or the JSON report).
pub(crate) fn show(
    args: &StrategyArgs,
    task: &Task,
    model: &str,
    plan: &Plan,
    generated: &Generated,
    output_mode: OutputMode,
    context: &[RepoContext],
) -> anyhow::Result<ExitCode> {
    let OutputMode { json, quiet } = output_mode;
    let Generated::Outcome(outcome) = generated else {
        bail!("a strategy plan gave no strategy outcome");
    };
    match args.trace() {
        Some(path) if path.as_os_str() == "-" => output::status(&render_trace(outcome)),
        Some(path) => {
            let text = serde_json::to_string_pretty(outcome)?;
            std::fs::write(path, text)
                .with_context(|| format!("could not write the trace to `{}`", path.display()))?;
        }
        None => {}
    }
    let Some(code) = outcome.code.as_deref() else {
        bail!(
            "the budget ran out before any program was written (`{}`)\n\nhint: raise the budget, e.g. --budget-tokens or --budget-seconds",
            outcome.stopped_by.map_or("budget", |l| l.name())
        );
    };
    if json {
        let mut report = generated.report(task, model, plan);
        if !context.is_empty() {
            report["repo_context"] = serde_json::to_value(context)?;
        }
        output::data(&serde_json::to_string(&report)?);
    } else {
        if !quiet {
            output::status(&summary_line(outcome));
        }
        output::data(code);
    }
    // The code is printed either way; a script learns from the exit code that it failed.
    let failed = outcome
        .verdict
        .as_ref()
        .is_some_and(|v| !v.status.is_pass());
    Ok(if failed {
        ExitCode::from(crate::EXIT_NOT_PASSED)
    } else {
        ExitCode::SUCCESS
    })
}

fn summary_line(outcome: &Outcome) -> String {
    let verdict = match &outcome.verdict {
        Some(v) => v.describe(),
        None => "not run".to_owned(),
    };
    let used = &outcome.usage;
    let mut line = format!(
        "verdict: {verdict} · {} · {} model call(s), {} tokens, {} run(s), {:.1} s",
        outcome.strategy, used.model_calls, used.tokens, used.executions, used.seconds
    );
    if let Some(limit) = outcome.stopped_by {
        line.push_str(&format!(" · budget `{}` reached", limit.name()));
    }
    line
}

/// Every attempt, for people: the new part of each prompt, each answer, its verdicts and the
/// feedback the model was shown.
fn render_trace(outcome: &Outcome) -> String {
    let mut out = String::new();
    for attempt in &outcome.trace.attempts {
        out.push_str(&format!(
            "=== attempt {}: {} ({} sequence(s), {} tokens, {:.1} s) ===\n",
            attempt.index,
            attempt.stage.name(),
            attempt.outputs.len(),
            attempt.tokens,
            attempt.seconds
        ));
        if let Prompt::Chat { messages, .. } = &attempt.prompt
            && let Some(last) = messages.last()
        {
            out.push_str(&format!(
                "--- prompt (last turn) ---\n{}\n",
                last.content.trim_end()
            ));
        } else if let Some(text) = attempt.prompt.completion_text() {
            out.push_str(&format!("--- prompt ---\n{}\n", text.trim_end()));
        }
        for (seq, answer) in attempt.outputs.iter().enumerate() {
            let verdicts: Vec<String> = answer.verdicts.iter().map(|v| v.describe()).collect();
            out.push_str(&format!(
                "--- answer {} {}---\n{}\n",
                seq + 1,
                if verdicts.is_empty() {
                    String::new()
                } else {
                    format!("[{}] ", verdicts.join("; "))
                },
                answer.code.as_deref().unwrap_or(&answer.text).trim_end()
            ));
            if let Some(feedback) = &answer.feedback {
                out.push_str(&format!(
                    "--- feedback shown ---\n{}\n",
                    feedback.trim_end()
                ));
            }
        }
    }
    if !outcome.trace.notes.is_empty() {
        out.push_str("=== notes ===\n");
        for note in &outcome.trace.notes {
            out.push_str(&format!("- {note}\n"));
        }
    }
    out
}

/// Progress on stderr: a spinner while the model writes, one line per judged attempt.
pub(crate) struct CliProgress {
    quiet: bool,
    spinner: Option<indicatif::ProgressBar>,
    chunks: u64,
}

impl CliProgress {
    pub(crate) fn new(quiet: bool) -> CliProgress {
        CliProgress {
            quiet,
            spinner: None,
            chunks: 0,
        }
    }

    pub(crate) fn finish(&mut self) {
        if let Some(bar) = self.spinner.take() {
            bar.finish_and_clear();
        }
    }

    fn line(&mut self, text: &str) {
        if self.quiet {
            return;
        }
        match &self.spinner {
            Some(bar) => bar.suspend(|| output::status(text)),
            None => output::status(text),
        }
    }
}

impl Observer for CliProgress {
    fn on_text(&mut self, _seq: usize, _text: &str) {
        self.chunks += 1;
        if let Some(bar) = &self.spinner {
            bar.set_position(self.chunks);
        }
    }

    fn cancelled(&self) -> bool {
        interrupt::requested()
    }
}

impl Progress for CliProgress {
    fn on_event(&mut self, event: &Event<'_>) {
        match event {
            Event::Asking { attempt, stage, n } => {
                self.finish();
                self.chunks = 0;
                if !self.quiet && std::io::stderr().is_terminal() {
                    let bar = indicatif::ProgressBar::new_spinner();
                    let template = format!(
                        "{{spinner}} attempt {attempt} ({}, {n} sequence(s)): {{pos}} tokens, {{per_sec}} [{{elapsed}}]",
                        stage.name()
                    );
                    if let Ok(style) = indicatif::ProgressStyle::with_template(&template) {
                        bar.set_style(style);
                    }
                    bar.enable_steady_tick(Duration::from_millis(200));
                    self.spinner = Some(bar);
                }
            }
            Event::Attempt(attempt) => {
                self.finish();
                let text = attempt_line(attempt);
                self.line(&text);
            }
            Event::Note(note) => self.line(&format!("  note: {note}")),
        }
    }
}

/// `attempt 2 (repair): passed (2/2 visible tests)`, or a summary for a batch.
fn attempt_line(attempt: &Attempt) -> String {
    let head = format!("attempt {} ({}", attempt.index, attempt.stage.name());
    if !attempt.stage.writes_code() {
        return format!("{head}): {} tokens", attempt.tokens);
    }
    let verdicts: Vec<_> = attempt
        .outputs
        .iter()
        .filter_map(|o| o.verdicts.first())
        .collect();
    if attempt.outputs.len() == 1 {
        let verdict = verdicts
            .first()
            .map_or("not run".to_owned(), |v| v.describe());
        return format!("{head}): {verdict}");
    }
    let passing = verdicts.iter().filter(|v| v.status.is_pass()).count();
    let best = verdicts
        .iter()
        .max_by_key(|v| (v.status.is_pass(), v.passed, std::cmp::Reverse(v.status)))
        .map_or("none run".to_owned(), |v| v.describe());
    format!(
        "{head} ×{}): {passing} of {} pass; best {best}",
        attempt.outputs.len(),
        attempt.outputs.len()
    )
}
