//! Human-facing output of a run: the self-contained `report.html` (inline CSS and SVG, no
//! external assets) and the terminal summary table.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::run::{MissingPolicy, ResultRecord, SampleRecord, Summary, unique_by_task};

/// Render `report.html`: headline numbers, a pass@k plot, the error taxonomy and a per-task
/// table whose rows expand to the judged code and the failure feedback.
pub fn render_html(
    summary: &Summary,
    results: &[ResultRecord],
    samples: &[SampleRecord],
) -> String {
    render_html_with(summary, results, samples, "")
}

/// [`render_html`] with `extra` (sections of HTML, e.g. the metrics of `crucible-core`) after
/// the error taxonomy.
pub fn render_html_with(
    summary: &Summary,
    results: &[ResultRecord],
    samples: &[SampleRecord],
    extra: &str,
) -> String {
    let mut html = String::with_capacity(64 * 1024);
    let title = format!("Crucible: {} ({})", summary.benchmark, summary.language);
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\n<style>{CSS}</style></head><body>\n<h1>{}</h1>\n",
        escape(&title),
        escape(&title)
    );
    headline(&mut html, summary);
    html.push_str("<section><h2>pass@k</h2>\n");
    html.push_str(&pass_at_k_svg(summary));
    html.push_str("</section>\n");
    let task_ids: Vec<&String> = summary.per_task.iter().map(|t| &t.task_id).collect();
    // Each sample once, as the summary counts it.
    let (by_task, _) = unique_by_task(results, &task_ids);
    taxonomy(&mut html, &by_task);
    html.push_str(extra);
    task_table(&mut html, summary, &by_task, samples);
    html.push_str("</body></html>\n");
    html
}

/// The summary as an aligned plain-text table for the terminal.
pub fn render_table(summary: &Summary) -> String {
    let mut rows: Vec<(String, String)> = vec![
        (
            "benchmark".into(),
            format!("{} ({})", summary.benchmark, summary.language),
        ),
        ("tasks".into(), summary.tasks.to_string()),
        ("samples".into(), summary.samples.to_string()),
    ];
    for (name, value) in sorted_pass(&summary.pass_at_k) {
        rows.push((name, percent(value)));
    }
    if let Some(plus) = &summary.plus {
        for (name, value) in sorted_pass(&plus.pass_at_k) {
            rows.push((format!("{name} (plus)"), percent(value)));
        }
    }
    for (name, value) in &summary.n_at_k {
        rows.push((name.clone(), percent(*value)));
    }
    if let Some(avg) = summary.test_case_average {
        rows.push(("test-case average".into(), percent(avg)));
    }
    for (verdict, count) in &summary.verdicts {
        rows.push((verdict.clone(), count.to_string()));
    }
    if let Some(wall) = summary.wall_time_s {
        rows.push(("wall time".into(), format!("{wall:.1} s")));
    }
    if summary.tokens_completion > 0 {
        rows.push((
            "tokens generated".into(),
            summary.tokens_completion.to_string(),
        ));
    }
    if let Some(missing) = &summary.missing {
        rows.push(("missing tasks".into(), missing_note(missing)));
    }
    if summary.duplicate_results > 0 {
        rows.push((
            "duplicate results".into(),
            format!("{} (each sample counted once)", summary.duplicate_results),
        ));
    }
    if !summary.hidden_tests {
        rows.push(("note".into(), "judged on visible samples only".into()));
    }
    let width = rows
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for (key, value) in rows {
        let _ = writeln!(out, "{key:<width$}  {value}");
    }
    out
}

const CSS: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}\
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em}\
.cards{display:flex;flex-wrap:wrap;gap:.8em}.card{border:1px solid #ddd;border-radius:6px;padding:.6em 1em;min-width:8em}\
.card b{display:block;font-size:1.5em}.card span{color:#666;font-size:.9em}\
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #eee;padding:.3em .5em;text-align:left;vertical-align:top}\
.passed{color:#17803d}.fail{color:#b42318}details summary{cursor:pointer}\
pre{background:#f6f8fa;padding:.6em;overflow-x:auto;font-size:12px;white-space:pre-wrap}\
.bar{display:inline-block;height:.8em;background:#b42318;vertical-align:middle}";

fn headline(html: &mut String, summary: &Summary) {
    html.push_str("<section class=\"cards\">\n");
    let mut card = |value: String, label: &str| {
        let _ = writeln!(
            html,
            "<div class=\"card\"><b>{}</b><span>{}</span></div>",
            escape(&value),
            escape(label)
        );
    };
    for (name, value) in sorted_pass(&summary.pass_at_k) {
        card(percent(value), &name);
    }
    if let Some(plus) = &summary.plus {
        for (name, value) in sorted_pass(&plus.pass_at_k) {
            card(percent(value), &format!("{name} (plus)"));
        }
    }
    for (name, value) in &summary.n_at_k {
        card(percent(*value), name);
    }
    if let Some(avg) = summary.test_case_average {
        card(percent(avg), "test-case average");
    }
    card(summary.tasks.to_string(), "tasks");
    card(summary.samples.to_string(), "samples");
    if let Some(wall) = summary.wall_time_s {
        card(format!("{wall:.0} s"), "wall time");
    }
    html.push_str("</section>\n");
    if !summary.hidden_tests {
        html.push_str("<p><b>Note:</b> this benchmark has no hidden tests; samples were judged on the tests the task shows.</p>\n");
    }
    let judge_errors = summary.verdicts.get("judge_error").copied().unwrap_or(0);
    if judge_errors > 0 {
        let _ = writeln!(
            html,
            "<p><b>Note:</b> {judge_errors} sample(s) could not be judged (<code>judge_error</code>, counted as failures); their feedback below says why.</p>"
        );
    }
    if let Some(missing) = &summary.missing {
        let _ = writeln!(
            html,
            "<p><b>Missing tasks:</b> {} (the samples file has none of: {}).</p>",
            escape(&missing_note(missing)),
            escape(&missing.task_ids.join(", "))
        );
    }
    if summary.duplicate_results > 0 {
        let _ = writeln!(
            html,
            "<p><b>Note:</b> {} result(s) repeat a sample already judged; each sample is counted once.</p>",
            summary.duplicate_results
        );
    }
    if let Some(sha) = &summary.model_sha256 {
        let _ = writeln!(html, "<p>Model sha256: <code>{}</code></p>", escape(sha));
    }
}

/// A line plot of pass@k against k (log scale when k spans more than a decade).
fn pass_at_k_svg(summary: &Summary) -> String {
    let mut series = vec![("base", sorted_pass(&summary.pass_at_k), "#1f6feb")];
    if let Some(plus) = &summary.plus {
        series.push(("plus", sorted_pass(&plus.pass_at_k), "#b42318"));
    }
    let ks: Vec<f64> = series[0]
        .1
        .iter()
        .filter_map(|(name, _)| name.strip_prefix("pass@")?.parse().ok())
        .collect();
    if ks.is_empty() {
        return "<p>No pass@k: fewer samples than the smallest k.</p>\n".into();
    }
    let (w, h, pad) = (520.0, 260.0, 40.0);
    let max_k = ks.iter().copied().fold(1.0, f64::max);
    let x = |k: f64| {
        let t = if max_k <= 1.0 {
            0.5
        } else {
            k.ln() / max_k.ln()
        };
        pad + t * (w - 2.0 * pad)
    };
    let y = |v: f64| h - pad - v * (h - 2.0 * pad);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" role=\"img\" aria-label=\"pass@k plot\">\n"
    );
    for tick in [0.0, 0.25, 0.5, 0.75, 1.0] {
        let (y0, x1, label_y, label) = (y(tick), w - pad, y(tick) + 4.0, tick * 100.0);
        let _ = writeln!(
            svg,
            "<line x1=\"{pad}\" x2=\"{x1}\" y1=\"{y0:.1}\" y2=\"{y0:.1}\" stroke=\"#eee\"/><text x=\"4\" y=\"{label_y:.1}\" font-size=\"11\">{label:.0}%</text>"
        );
    }
    for k in &ks {
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{}\" font-size=\"11\" text-anchor=\"middle\">k={k}</text>",
            x(*k),
            h - pad + 16.0
        );
    }
    for (label, points, color) in &series {
        let coords: Vec<String> = points
            .iter()
            .filter_map(|(name, v)| {
                let k: f64 = name.strip_prefix("pass@")?.parse().ok()?;
                Some(format!("{:.1},{:.1}", x(k), y(*v)))
            })
            .collect();
        let _ = writeln!(
            svg,
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{}\"/>",
            coords.join(" ")
        );
        for c in &coords {
            let (cx, cy) = c.split_once(',').unwrap_or(("0", "0"));
            let _ = writeln!(
                svg,
                "<circle cx=\"{cx}\" cy=\"{cy}\" r=\"3\" fill=\"{color}\"/>"
            );
        }
        if let Some(last) = coords.last() {
            let (lx, ly) = last.split_once(',').unwrap_or(("0", "0"));
            let _ = writeln!(
                svg,
                "<text x=\"{lx}\" y=\"{ly}\" dx=\"6\" dy=\"-6\" font-size=\"11\" fill=\"{color}\">{label}</text>"
            );
        }
    }
    svg.push_str("</svg>\n");
    svg
}

/// How the summary counted the tasks a scored file left out.
fn missing_note(missing: &crate::run::MissingTasks) -> String {
    let n = missing.task_ids.len();
    match missing.policy {
        MissingPolicy::CountedAsFailed => format!("{n} (counted as failed)"),
        MissingPolicy::LeftOut => format!("{n} (left out: --allow-missing)"),
    }
}

/// Failure categories: the verdict, refined by the exception or error kind in the feedback.
fn taxonomy(html: &mut String, by_task: &BTreeMap<&str, Vec<&ResultRecord>>) {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for result in by_task.values().flatten().filter(|r| !r.status.is_pass()) {
        *counts.entry(category(result)).or_insert(0) += 1;
    }
    html.push_str("<section><h2>Error taxonomy</h2>\n");
    if counts.is_empty() {
        html.push_str("<p>No failures.</p></section>\n");
        return;
    }
    let mut rows: Vec<(String, usize)> = counts.into_iter().collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let max = rows.first().map_or(1, |r| r.1).max(1);
    html.push_str("<table><tr><th>category</th><th>samples</th><th></th></tr>\n");
    for (name, count) in rows {
        let width = 200 * count / max;
        let _ = writeln!(
            html,
            "<tr><td>{}</td><td>{count}</td><td><span class=\"bar\" style=\"width:{width}px\"></span></td></tr>",
            escape(&name)
        );
    }
    html.push_str("</table></section>\n");
}

/// `wrong_answer`, `runtime_error: NameError`, `compile_error`, ...
pub(crate) fn category(result: &ResultRecord) -> String {
    let status = result.status.name();
    let kind = result.feedback.as_deref().and_then(|feedback| {
        feedback.lines().find_map(|line| {
            let rest = line.trim().strip_prefix("error: ")?;
            let word: String = rest
                .split(':')
                .next()?
                .chars()
                .filter(|c| c.is_alphanumeric() || *c == '_' || *c == ' ')
                .collect();
            let word = word.trim();
            let looks_like_kind =
                word.ends_with("Error") || word.ends_with("Exception") || word == "StopIteration";
            looks_like_kind.then(|| word.to_owned())
        })
    });
    match kind {
        Some(kind) if status == "runtime_error" || status == "wrong_answer" => {
            format!("{status}: {kind}")
        }
        _ => status.to_owned(),
    }
}

fn task_table(
    html: &mut String,
    summary: &Summary,
    by_task: &BTreeMap<&str, Vec<&ResultRecord>>,
    samples: &[SampleRecord],
) {
    // The first record of each sample, as the run directory resumes from it.
    let mut code: BTreeMap<(&str, usize), &SampleRecord> = BTreeMap::new();
    for sample in samples {
        code.entry((sample.task_id.as_str(), sample.sample_idx))
            .or_insert(sample);
    }
    html.push_str(
        "<section><h2>Tasks</h2>\n<table><tr><th>task</th><th>passed</th><th>verdicts</th></tr>\n",
    );
    for task in &summary.per_task {
        let class = if task.passed > 0 { "passed" } else { "fail" };
        let missing = if task.missing {
            " (missing from the samples file: counted as failed)"
        } else {
            ""
        };
        let verdicts: Vec<&str> = task.statuses.iter().map(|s| s.name()).collect();
        let plus = task
            .plus_passed
            .map(|p| format!(" (plus {p})"))
            .unwrap_or_default();
        let _ = write!(
            html,
            "<tr><td><details><summary class=\"{class}\">{}</summary>",
            escape(&task.task_id)
        );
        let rows = by_task
            .get(task.task_id.as_str())
            .cloned()
            .unwrap_or_default();
        // The first sample, and the first failing one if it differs.
        let first_fail = rows.iter().find(|r| !r.status.is_pass()).copied();
        let shown: Vec<&ResultRecord> = rows
            .first()
            .copied()
            .into_iter()
            .chain(first_fail)
            .collect();
        let mut seen = std::collections::BTreeSet::new();
        for r in shown.into_iter().filter(|r| seen.insert(r.sample_idx)) {
            let _ = write!(
                html,
                "<p>sample {} — <b>{}</b></p>",
                r.sample_idx,
                r.status.name()
            );
            if let Some(sample) = code.get(&(task.task_id.as_str(), r.sample_idx)) {
                let _ = write!(html, "<pre>{}</pre>", escape(sample.solution.code()));
            }
            if let Some(feedback) = &r.feedback {
                let _ = write!(html, "<pre>{}</pre>", escape(feedback));
            }
        }
        let _ = writeln!(
            html,
            "</details></td><td>{}/{}{}{}</td><td>{}</td></tr>",
            task.passed,
            task.samples,
            escape(&plus),
            missing,
            escape(&verdicts.join(", "))
        );
    }
    html.push_str("</table></section>\n");
}

fn sorted_pass(map: &BTreeMap<String, f64>) -> Vec<(String, f64)> {
    let mut items: Vec<(String, f64)> = map.iter().map(|(k, v)| (k.clone(), *v)).collect();
    items.sort_by_key(|(name, _)| {
        name.strip_prefix("pass@")
            .and_then(|k| k.parse::<u64>().ok())
            .unwrap_or(u64::MAX)
    });
    items
}

fn percent(value: f64) -> String {
    format!("{:.1}%", value * 100.0)
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
    use crucible_types::Status;
    use serde_json::json;

    use super::*;
    use crate::run::{SummaryParams, Timings, summarize};
    use crate::task::Solution;

    fn result(task: &str, idx: usize, status: Status, feedback: Option<&str>) -> ResultRecord {
        ResultRecord {
            task_id: task.into(),
            sample_idx: idx,
            status,
            tests: vec![],
            plus: None,
            visible: None,
            in_process_tests: false,
            timings: Timings::default(),
            tokens: None,
            feedback: feedback.map(str::to_owned),
            written_unix_ms: None,
        }
    }

    #[test]
    fn html_is_self_contained_and_escaped() {
        let results = vec![
            result("t/<0>", 0, Status::Passed, None),
            result(
                "t/1",
                0,
                Status::RuntimeError,
                Some("verdict: runtime_error\nerror: NameError: name 'x' is not defined"),
            ),
        ];
        let samples = vec![SampleRecord {
            task_id: "t/1".into(),
            sample_idx: 0,
            completion: String::new(),
            solution: Solution::Full("print(x < 1)".into()),
            tokens: None,
            gen_ms: None,
        }];
        let params = SummaryParams {
            benchmark: "humaneval".into(),
            language: "python".into(),
            task_ids: vec!["t/<0>".into(), "t/1".into()],
            ks: vec![1],
            n_at_k: vec![],
            hidden_tests: true,
            model_sha256: None,
            wall_time_s: None,
            config: json!({}),
            time_limits: json!({}),
            missing: None,
        };
        let summary = summarize(&results, &params);
        let html = render_html(&summary, &results, &samples);
        assert!(html.contains("<svg"));
        assert!(html.contains("t/&lt;0&gt;"));
        assert!(html.contains("print(x &lt; 1)"));
        assert!(html.contains("runtime_error: NameError"));
        assert!(!html.contains("src=\"http") && !html.contains("href=\"http"));
        let table = render_table(&summary);
        assert_eq!(
            table,
            "benchmark          humaneval (python)\ntasks              2\nsamples            2\npass@1             50.0%\ntest-case average  50.0%\npassed             1\nruntime_error      1\n"
        );
    }

    #[test]
    fn judge_errors_are_shown_with_their_count() {
        let results = vec![
            result("t/0", 0, Status::Passed, None),
            result(
                "t/1",
                0,
                Status::JudgeError,
                Some(
                    "verdict: judge_error\nerror: the judge could not run this program: the Python worker failed: no reply",
                ),
            ),
        ];
        let params = SummaryParams {
            benchmark: "humaneval".into(),
            language: "python".into(),
            task_ids: vec!["t/0".into(), "t/1".into()],
            ks: vec![1],
            n_at_k: vec![],
            hidden_tests: true,
            model_sha256: None,
            wall_time_s: None,
            config: json!({}),
            time_limits: json!({}),
            missing: None,
        };
        let summary = summarize(&results, &params);
        assert_eq!(summary.verdicts["judge_error"], 1);
        assert_eq!(summary.pass_at_k["pass@1"], 0.5);
        let table = render_table(&summary);
        assert!(
            table
                .lines()
                .any(|line| line.split_whitespace().eq(["judge_error", "1"])),
            "{table}"
        );
        let html = render_html(&summary, &results, &[]);
        assert!(html.contains("1 sample(s) could not be judged"), "{html}");
        assert!(
            html.contains("<tr><td>judge_error</td><td>1</td>"),
            "{html}"
        );
    }
}
