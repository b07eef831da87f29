//! `crucible compare`: runs with metrics side by side, and whether each metric ranks them as their pass rates do (Kendall's tau-b across runs).

use std::path::PathBuf;

use crucible_metrics::comparison::{self, Comparison, RunScores};
use crucible_metrics::render;

use super::store::{load_run_summary, load_summary};
use crate::{Error, Result};

/// The run directories to compare.
#[derive(Debug, Clone)]
pub struct CompareParams {
    pub dirs: Vec<PathBuf>,
}

/// The comparison, as data, terminal lines and a self-contained HTML page.
#[derive(Debug, Clone)]
pub struct CompareOutcome {
    pub comparison: Comparison,
    pub table: String,
    pub html: String,
}

/// Compare the runs in `params.dirs`: each needs `summary.json` with pass@1 and
/// `metrics.json` (from `--metric`).
pub fn compare_runs(params: &CompareParams) -> Result<CompareOutcome> {
    if params.dirs.len() < 2 {
        return Err(Error::Setting {
            name: "run directories",
            problem: format!(
                "are {} given; comparing needs at least two (Kendall's tau needs three)",
                params.dirs.len()
            ),
        });
    }
    let mut runs = Vec::with_capacity(params.dirs.len());
    for dir in &params.dirs {
        let summary = load_run_summary(dir)?;
        let metrics = load_summary(dir)?.ok_or_else(|| Error::NoMetrics { dir: dir.clone() })?;
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
        runs.push(RunScores::from_report(
            &dir.display().to_string(),
            &benchmark,
            pass_rate,
            &metrics.report,
        ));
    }
    let comparison = comparison::compare(runs);
    Ok(CompareOutcome {
        table: render::comparison_table(&comparison),
        html: render::comparison_html(&comparison),
        comparison,
    })
}
