//! The metrics for people: terminal lines and a self-contained report.html section (inline SVG, no external assets) for one run's [`MetricSetReport`] and for a [`Comparison`] of runs.
//!
//! The plot of a run shows each per-sample score's AUROC against the execution verdict as a
//! bar around the chance line at 0.5; the comparison plots each run's score against its pass
//! rate, one small panel per score.

use std::fmt::Write as _;

use crate::comparison::Comparison;
use crate::judge::{JudgeResult, JudgeVerdict};
use crate::metric_set::{CorpusScores, JudgeAgreement, MetricCorrelation, MetricSetReport};

/// Terminal lines: corpus scores per language, then how well each score predicts the verdict.
pub fn table(report: &MetricSetReport, samples_in_run: usize) -> String {
    let mut out = String::new();
    coverage_note(&mut out, report, samples_in_run);
    for corpus in &report.corpus {
        let _ = writeln!(
            out,
            "metrics ({}, {} samples)",
            corpus.language, corpus.samples
        );
        for (name, value) in corpus_rows(corpus) {
            let _ = writeln!(out, "  {name:<22}{value}");
        }
    }
    for (title, correlations) in [
        ("the verdict", &report.correlations),
        ("the verdict with the plus tests", &report.correlations_plus),
    ] {
        if correlations.is_empty() {
            continue;
        }
        let _ = writeln!(
            out,
            "which score predicts {title} (point-biserial r, AUROC; 0.5 is chance)"
        );
        for row in correlations {
            let _ = writeln!(
                out,
                "  {:<30}{:>7}  {:>6}  n={} ({} passed){}",
                row.score,
                optional(row.point_biserial, 3),
                optional(row.auroc, 3),
                row.samples,
                row.passed,
                row.undefined
                    .as_ref()
                    .map(|why| format!("  [{why}]"))
                    .unwrap_or_default()
            );
        }
    }
    if let Some(agreement) = &report.judge_agreement {
        let _ = writeln!(out, "{}", judge_agreement_line(agreement));
    }
    out
}

/// The report.html section; `judged` labels the samples whose judge's answers are listed
/// (e.g. `task#sample`).
pub fn html_section(
    report: &MetricSetReport,
    samples_in_run: usize,
    judged: &[(String, &JudgeResult)],
) -> String {
    let mut html = String::from("<section><h2>Metrics</h2>\n");
    let mut note = String::new();
    coverage_note(&mut note, report, samples_in_run);
    if !note.is_empty() {
        let _ = writeln!(html, "<p><b>Note:</b> {}</p>", escape(note.trim()));
    }
    for corpus in &report.corpus {
        let _ = writeln!(
            html,
            "<h3>{} ({} samples)</h3>\n<table><tr><th>metric</th><th>corpus score</th></tr>",
            escape(&corpus.language),
            corpus.samples
        );
        for (name, value) in corpus_rows(corpus) {
            let _ = writeln!(
                html,
                "<tr><td>{}</td><td>{}</td></tr>",
                escape(&name),
                escape(&value)
            );
        }
        html.push_str("</table>\n");
    }
    for (title, correlations) in [
        ("the verdict", &report.correlations),
        ("the verdict with the plus tests", &report.correlations_plus),
    ] {
        if correlations.is_empty() {
            continue;
        }
        let _ = writeln!(
            html,
            "<h3>Which score predicts {title}</h3>\n<p>AUROC: the chance that a passing sample scores above a failing one (0.5 is chance); point-biserial r: Pearson's r with the verdict (1 = passed).</p>"
        );
        html.push_str(&auroc_svg(correlations));
        html.push_str("<table><tr><th>score</th><th>r</th><th>AUROC</th><th>samples</th><th>passed</th><th></th></tr>\n");
        for row in correlations {
            let _ = writeln!(
                html,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&row.score),
                optional(row.point_biserial, 3),
                optional(row.auroc, 3),
                row.samples,
                row.passed,
                escape(row.undefined.as_deref().unwrap_or(""))
            );
        }
        html.push_str("</table>\n");
    }
    if let Some(agreement) = &report.judge_agreement {
        let _ = writeln!(
            html,
            "<h3>The judge against execution</h3>\n<p>{}</p>",
            escape(&judge_agreement_line(agreement))
        );
    }
    if !judged.is_empty() {
        let _ = writeln!(
            html,
            "<details><summary>The judge's answers ({} samples)</summary>\n<table><tr><th>sample</th><th>aspect</th><th>grade</th><th>answer</th></tr>",
            judged.len()
        );
        for (label, result) in judged {
            for [aspect, grade, text] in
                judge_rows(&result.usefulness, &result.functional_correctness)
            {
                let _ = writeln!(
                    html,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td><pre>{}</pre></td></tr>",
                    escape(label),
                    escape(&aspect),
                    escape(&grade),
                    escape(&text)
                );
            }
        }
        html.push_str("</table></details>\n");
    }
    html.push_str("</section>\n");
    html
}

/// The judge's answers for one sample, as rows (aspect, grade, answer).
fn judge_rows(usefulness: &JudgeVerdict, correctness: &JudgeVerdict) -> Vec<[String; 3]> {
    [
        ("usefulness", usefulness),
        ("functional correctness", correctness),
    ]
    .into_iter()
    .map(|(aspect, verdict)| {
        let (grade, text) = match verdict {
            JudgeVerdict::Scored {
                score, reasoning, ..
            } => (format!("{score}"), reasoning.clone()),
            JudgeVerdict::Unparsed { raw, reason } => (format!("unparsed: {reason}"), raw.clone()),
            JudgeVerdict::Failed { error } => ("failed".to_string(), error.clone()),
        };
        [aspect.to_string(), grade, text]
    })
    .collect()
}

/// Terminal lines of a comparison: each run's pass rate and scores, then each score's tau.
pub fn comparison_table(comparison: &Comparison) -> String {
    let mut out = String::new();
    let names = score_names(comparison);
    let _ = write!(out, "{:<40}{:>8}", "run", "pass@1");
    for name in &names {
        let _ = write!(out, "  {name}");
    }
    out.push('\n');
    for run in &comparison.runs {
        let _ = write!(out, "{:<40}{:>7.1}%", run.name, 100.0 * run.pass_rate);
        for name in &names {
            let value = run.scores.get(*name).copied();
            let _ = write!(out, "  {:>width$}", optional(value, 3), width = name.len());
        }
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "Kendall's tau-b of each score against pass@1 across runs (1: same order)"
    );
    for row in &comparison.agreement {
        let _ = writeln!(
            out,
            "  {:<30}{:<20}{:>7}  runs={}{}",
            row.score,
            row.group,
            optional(row.kendall_tau, 3),
            row.runs,
            row.undefined
                .as_ref()
                .map(|why| format!("  [{why}]"))
                .unwrap_or_default()
        );
    }
    out
}

/// A self-contained HTML page comparing runs: the tau table, the runs' scores and AUROCs,
/// and one scatter panel per score (score against pass rate).
pub fn comparison_html(comparison: &Comparison) -> String {
    let mut html = String::with_capacity(32 * 1024);
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Crucible: metrics across runs</title>\n<style>{CSS}</style></head><body>\n<h1>Metrics across runs</h1>\n"
    );
    html.push_str(&comparison_section_html(comparison));
    html.push_str("</body></html>\n");
    html
}

/// The body of [`comparison_html`], to embed in another page (`crucible compare`'s).
pub fn comparison_section_html(comparison: &Comparison) -> String {
    let mut html = String::with_capacity(32 * 1024);
    html.push_str("<section id=\"metrics\"><h2>Does the score rank runs as execution does?</h2>\n<p>Kendall's tau-b between each run's corpus score and its pass@1 (1: the same order, -1: the reverse, 0: unrelated).</p>\n<table><tr><th>score</th><th>runs</th><th>group</th><th>tau-b</th><th></th></tr>\n");
    for row in &comparison.agreement {
        let _ = writeln!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&row.score),
            row.runs,
            escape(&row.group),
            optional(row.kendall_tau, 3),
            escape(row.undefined.as_deref().unwrap_or(""))
        );
    }
    html.push_str("</table>\n<h2>Runs</h2>\n");
    let names = score_names(comparison);
    for (title, auroc) in [
        ("corpus scores", false),
        ("AUROC of the per-sample score against the verdict", true),
    ] {
        let _ = write!(
            html,
            "<h3>{title}</h3>\n<table><tr><th>run</th><th>pass@1</th><th>samples</th>"
        );
        for name in &names {
            let _ = write!(html, "<th>{}</th>", escape(name));
        }
        html.push_str("</tr>\n");
        for run in &comparison.runs {
            let _ = write!(
                html,
                "<tr><td>{}</td><td>{:.1}%</td><td>{}</td>",
                escape(&run.name),
                100.0 * run.pass_rate,
                run.samples
            );
            for name in &names {
                let source = if auroc { &run.auroc } else { &run.scores };
                let _ = write!(html, "<td>{}</td>", optional(source.get(*name).copied(), 3));
            }
            html.push_str("</tr>\n");
        }
        html.push_str("</table>\n");
    }
    html.push_str("<h2>Score against pass@1, one point per run</h2>\n<div class=\"panels\">\n");
    for name in &names {
        html.push_str(&scatter_svg(comparison, name));
    }
    html.push_str("</div></section>\n");
    html
}

const CSS: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}\
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em}\
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #eee;padding:.3em .5em;text-align:left;vertical-align:top}\
.panels{display:flex;flex-wrap:wrap;gap:1em}";

fn score_names(comparison: &Comparison) -> Vec<&str> {
    let mut names: Vec<&str> = comparison
        .runs
        .iter()
        .flat_map(|run| run.scores.keys().map(String::as_str))
        .collect();
    names.sort_unstable();
    names.dedup();
    names
}

fn coverage_note(out: &mut String, report: &MetricSetReport, samples_in_run: usize) {
    let covered = covered(report);
    if covered != samples_in_run {
        let _ = writeln!(
            out,
            "metrics cover {covered} of the run's {samples_in_run} samples (run the metrics again to cover the rest)"
        );
    }
}

/// Samples the report scored: counted from the corpus entries, since a summary that keeps
/// the per-sample scores elsewhere has none in `samples`.
fn covered(report: &MetricSetReport) -> usize {
    report.corpus.iter().map(|corpus| corpus.samples).sum()
}

/// (name, value) rows of one language's corpus scores.
fn corpus_rows(corpus: &CorpusScores) -> Vec<(String, String)> {
    let mut rows = Vec::new();
    if let Some(bleu) = &corpus.bleu {
        rows.push((
            "BLEU".to_string(),
            format!("{:.2}  {}", bleu.score, bleu.signature),
        ));
    }
    if let Some(codebleu) = &corpus.codebleu {
        let dataflow = match codebleu.dataflow_defined {
            true => format!("{:.3}", codebleu.dataflow_match),
            false => "undefined (no data-flow in the references)".to_string(),
        };
        let mut value = format!(
            "{:.3}  (n-gram {:.3}, weighted n-gram {:.3}, syntax {:.3}, data-flow {dataflow}; weights {:?}; {:?} rules)",
            codebleu.codebleu,
            codebleu.ngram_match,
            codebleu.weighted_ngram_match,
            codebleu.syntax_match,
            codebleu.weights,
            codebleu.rules,
        );
        let errors =
            codebleu.predictions_with_syntax_errors + codebleu.references_with_syntax_errors;
        if errors > 0 {
            let _ = write!(
                value,
                "; did not parse cleanly: {} prediction(s), {} reference(s)",
                codebleu.predictions_with_syntax_errors, codebleu.references_with_syntax_errors
            );
        }
        rows.push(("CodeBLEU".to_string(), value));
    }
    if let Some(em) = corpus.exact_match {
        rows.push(("exact match".to_string(), format!("{:.1}%", 100.0 * em)));
    }
    if let Some(es) = corpus.edit_similarity {
        let levenshtein = corpus
            .edit_similarity_levenshtein
            .map(|l| format!("; normalised Levenshtein {l:.3}"))
            .unwrap_or_default();
        rows.push((
            "edit similarity".to_string(),
            format!("{es:.1}  (fuzz ratio, 0-100{levenshtein})"),
        ));
    }
    if let Some(f1) = corpus.identifier_f1 {
        rows.push(("identifier F1".to_string(), format!("{f1:.3}")));
    }
    if let Some(ppl) = corpus.reference_perplexity {
        rows.push((
            "reference perplexity".to_string(),
            format!(
                "{:.3}  (mean token log-probability {:.4} over {} tokens)",
                ppl.perplexity, ppl.mean_logprob, ppl.tokens
            ),
        ));
    }
    if let Some(judge) = &corpus.judge {
        rows.push((
            "judge".to_string(),
            format!(
                "usefulness {}, functional correctness {}  (0-4; {} grades, {} of them asked for after the answer, {} unparsed, {} failed)",
                optional(judge.usefulness, 2),
                optional(judge.functional_correctness, 2),
                judge.scored,
                judge.asked,
                judge.unparsed,
                judge.failed
            ),
        ));
    }
    rows
}

fn judge_agreement_line(agreement: &JudgeAgreement) -> String {
    format!(
        "judge against execution (functional correctness >= {} counts as correct): {} samples, accuracy {}, Cohen's kappa {} (judge correct & passed {}, judge correct & failed {}, judge wrong & failed {}, judge wrong & passed {}; {} without a grade)",
        agreement.threshold,
        agreement.samples,
        agreement
            .accuracy
            .map(|a| format!("{:.1}%", 100.0 * a))
            .unwrap_or_else(|| "-".to_string()),
        optional(agreement.cohen_kappa, 3),
        agreement.true_positive,
        agreement.false_positive,
        agreement.true_negative,
        agreement.false_negative,
        agreement.ungraded
    )
}

/// Horizontal AUROC bars from the chance line at 0.5.
fn auroc_svg(correlations: &[MetricCorrelation]) -> String {
    let (label_w, plot_w, row_h, pad) = (230.0, 360.0, 18.0, 24.0);
    let width = label_w + plot_w + 60.0;
    let height = pad * 2.0 + row_h * correlations.len() as f64;
    let x = |auroc: f64| label_w + auroc.clamp(0.0, 1.0) * plot_w;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" role=\"img\" aria-label=\"AUROC of each score against the verdict\">\n"
    );
    for tick in [0.0, 0.25, 0.5, 0.75, 1.0] {
        let color = if tick == 0.5 { "#888" } else { "#eee" };
        let _ = writeln!(
            svg,
            "<line x1=\"{0:.1}\" x2=\"{0:.1}\" y1=\"{1}\" y2=\"{2:.1}\" stroke=\"{color}\"/><text x=\"{0:.1}\" y=\"{3}\" font-size=\"11\" text-anchor=\"middle\">{tick}</text>",
            x(tick),
            pad - 6.0,
            height - pad + 4.0,
            height - 6.0,
        );
    }
    for (i, row) in correlations.iter().enumerate() {
        let y = pad + row_h * i as f64;
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\" text-anchor=\"end\">{}</text>",
            label_w - 8.0,
            y + row_h * 0.7,
            escape(&row.score)
        );
        let Some(auroc) = row.auroc else {
            let _ = writeln!(
                svg,
                "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" fill=\"#888\">undefined</text>",
                x(0.5) + 4.0,
                y + row_h * 0.7
            );
            continue;
        };
        let (from, to) = (x(0.5).min(x(auroc)), x(0.5).max(x(auroc)));
        let color = if auroc >= 0.5 { "#1f6feb" } else { "#b42318" };
        let _ = writeln!(
            svg,
            "<rect x=\"{from:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{color}\"/><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\">{auroc:.3}</text>",
            y + 3.0,
            (to - from).max(1.0),
            row_h - 6.0,
            x(1.0) + 6.0,
            y + row_h * 0.7
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// One run per point: the score (x) against pass@1 (y).
fn scatter_svg(comparison: &Comparison, score: &str) -> String {
    let points: Vec<(f64, f64, &str)> = comparison
        .runs
        .iter()
        .filter_map(|run| Some((*run.scores.get(score)?, run.pass_rate, run.name.as_str())))
        .collect();
    let (w, h, pad) = (320.0, 240.0, 36.0);
    let (lo, hi) = points
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), (v, _, _)| {
            (lo.min(*v), hi.max(*v))
        });
    let span = if hi > lo { hi - lo } else { 1.0 };
    let x = |v: f64| pad + (v - lo) / span * (w - 2.0 * pad);
    let y = |p: f64| h - pad - p.clamp(0.0, 1.0) * (h - 2.0 * pad);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" role=\"img\" aria-label=\"{} against pass@1\">\n<text x=\"{}\" y=\"14\" font-size=\"12\" text-anchor=\"middle\">{}</text>\n",
        escape(score),
        w / 2.0,
        escape(score)
    );
    for tick in [0.0, 0.5, 1.0] {
        let _ = writeln!(
            svg,
            "<line x1=\"{pad}\" x2=\"{right:.1}\" y1=\"{at:.1}\" y2=\"{at:.1}\" stroke=\"#eee\"/><text x=\"2\" y=\"{label_y:.1}\" font-size=\"10\">{percent:.0}%</text>",
            right = w - pad,
            at = y(tick),
            label_y = y(tick) + 3.0,
            percent = tick * 100.0
        );
    }
    for (value, label) in [(lo, lo), (hi, hi)] {
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"middle\">{label:.3}</text>",
            x(value),
            h - pad + 14.0
        );
    }
    for (value, pass, name) in points {
        let _ = writeln!(
            svg,
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"4\" fill=\"#1f6feb\"><title>{}: {value:.3}, pass@1 {:.1}%</title></circle>",
            x(value),
            y(pass),
            escape(name),
            100.0 * pass
        );
    }
    svg.push_str("</svg>\n");
    svg
}

fn optional(value: Option<f64>, decimals: usize) -> String {
    value.map_or_else(|| "-".to_string(), |v| format!("{v:.decimals$}"))
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::comparison::{RunScores, compare};
    use crate::metric_set::{Metric, MetricSet, Sample};

    fn report() -> MetricSetReport {
        let reference = ["def add(a, b):\n    return a + b\n"];
        let predictions = [
            "def add(a, b):\n    return a + b\n",
            "def add(a, b):\n    return a - b\n",
            "print('<hi>')",
        ];
        let samples: Vec<Sample<'_>> = predictions
            .iter()
            .enumerate()
            .map(|(i, p)| Sample {
                passed: Some(i == 0),
                ..Sample::new(p, &reference, "python")
            })
            .collect();
        MetricSet::new(&[Metric::Bleu, Metric::CodeBleu, Metric::EditSimilarity])
            .score(&samples)
            .unwrap()
    }

    #[test]
    fn table_names_the_signature_and_the_correlations() {
        let text = table(&report(), 3);
        assert!(text.starts_with("metrics (python, 3 samples)\n"), "{text}");
        assert!(
            text.contains("nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp"),
            "{text}"
        );
        assert!(
            text.contains("(fuzz ratio, 0-100; normalised Levenshtein"),
            "{text}"
        );
        assert!(text.contains("which score predicts the verdict"), "{text}");
        assert!(text.contains("n=3 (1 passed)"), "{text}");
        assert!(!text.contains("cover"), "{text}");
        assert!(table(&report(), 5).starts_with("metrics cover 3 of the run's 5 samples"));
        // As summary.json keeps it, without the per-sample scores: the same coverage.
        let mut kept = report();
        kept.samples.clear();
        assert!(!table(&kept, 3).contains("cover"));
        assert!(table(&kept, 4).starts_with("metrics cover 3 of the run's 4 samples"));
    }

    #[test]
    fn html_is_self_contained_with_a_plot() {
        let judged = JudgeResult {
            usefulness: JudgeVerdict::Scored {
                score: 3.0,
                reasoning: "Fine <mostly>.\nScore: 3".to_string(),
                asked: false,
            },
            functional_correctness: JudgeVerdict::Failed {
                error: "server down".to_string(),
            },
        };
        let html = html_section(&report(), 3, &[("t/0#0".to_string(), &judged)]);
        assert!(html.contains("Fine &lt;mostly&gt;."), "{html}");
        assert!(
            html.contains("<td>failed</td><td><pre>server down</pre>"),
            "{html}"
        );
        assert!(html.contains("<svg") && html.contains("<rect"), "{html}");
        // The only address is the SVG namespace: nothing is fetched.
        assert_eq!(
            html.matches("http").count(),
            html.matches("xmlns=\"http://www.w3.org/2000/svg\"").count()
        );
        let comparison = compare(vec![
            RunScores::from_report("run <a>", "he", 1.0 / 3.0, &report()),
            RunScores::from_report("run b", "he", 0.5, &report()),
        ]);
        let page = comparison_html(&comparison);
        assert!(page.contains("run &lt;a&gt;"), "{page}");
        assert!(page.contains("<circle"), "{page}");
        let text = comparison_table(&comparison);
        assert!(text.contains("needs at least 3 runs"), "{text}");
    }
}
