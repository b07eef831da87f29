//! Human-facing output of a run: the self-contained `report.html` (inline CSS, JS and SVG, no
//! external assets) and the terminal summary table.
//!
//! The report carries the run's model, digest, configuration, date and Crucible version; a
//! banner while tasks are unjudged; plots (pass@k only when there is more than one k, the
//! verdict breakdown, tokens and time per task); the error taxonomy; and a task table that
//! sorts and filters (failures first), whose rows expand to every sample's verdict, every
//! test's outcome, the judged code, the feedback and the strategy's visible-test result and
//! trace. It is written in one pass over the records, so thousands of tasks stay cheap.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::run::{MissingPolicy, ResultRecord, SampleRecord, Summary, TaskScore, unique_by_task};

/// What a run directory holds besides its records, for [`render_html_with`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ReportExtras<'a> {
    /// HTML sections (e.g. the metrics of `crucible-core`) after the error taxonomy.
    pub sections: &'a str,
    /// The lines of `traces.jsonl` (strategy runs), any shape; matched to samples by
    /// `task_id` (or `outcome.task_id`) and `sample_idx`.
    pub traces: &'a [serde_json::Value],
    /// When the run's first session started (ms since the Unix epoch), from `sessions.jsonl`.
    pub started_unix_ms: Option<u64>,
    /// When this report is written (ms since the Unix epoch).
    pub written_unix_ms: Option<u64>,
}

/// Samples whose code and tests a task row shows in full (the first, then failing ones);
/// the others are listed by verdict only, which keeps a report of n = 200 small.
const SHOWN_SAMPLES: usize = 3;
/// Characters of one trace shown before it is cut.
const TRACE_CHARS: usize = 20_000;

/// Render `report.html` with no extras.
pub fn render_html(
    summary: &Summary,
    results: &[ResultRecord],
    samples: &[SampleRecord],
) -> String {
    render_html_with(summary, results, samples, &ReportExtras::default())
}

/// Render `report.html`: the run's facts, plots, the error taxonomy, `extras.sections`, and the
/// task table.
pub fn render_html_with(
    summary: &Summary,
    results: &[ResultRecord],
    samples: &[SampleRecord],
    extras: &ReportExtras<'_>,
) -> String {
    let mut html = String::with_capacity(64 * 1024 + results.len() * 512);
    let title = format!("Crucible: {} ({})", summary.benchmark, summary.language);
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\n<style>{CSS}</style></head><body>\n<h1>{}</h1>\n",
        escape(&title),
        escape(&title)
    );
    let expected = expected_samples(summary);
    let pending = summary
        .per_task
        .iter()
        .filter(|t| is_pending(t, expected))
        .count();
    if pending > 0 {
        let _ = writeln!(
            html,
            "<p id=\"in-progress\" class=\"banner\"><b>In progress (or stopped early):</b> {pending} of {} task(s) are not fully judged yet. They are marked <i>pending</i> below, not failed; the numbers cover the samples judged so far. This page is rewritten as the run goes on.</p>",
            summary.tasks
        );
    }
    run_facts(&mut html, summary, extras);
    headline(&mut html, summary);
    let task_ids: Vec<&String> = summary.per_task.iter().map(|t| &t.task_id).collect();
    // Each sample once, as the summary counts it.
    let (by_task, _) = unique_by_task(results, &task_ids);
    html.push_str("<section id=\"plots\" class=\"plots\">\n");
    pass_at_k_plot(&mut html, summary);
    verdict_plot(&mut html, summary);
    cost_plot(&mut html, summary, &by_task, expected);
    html.push_str("</section>\n");
    taxonomy(&mut html, &by_task);
    html.push_str(extras.sections);
    task_table(
        &mut html,
        summary,
        &by_task,
        samples,
        extras.traces,
        expected,
    );
    let _ = write!(html, "<script>{JS}</script>\n</body></html>\n");
    html
}

/// Samples each task should end with: the run's `n` (eval), else none known (score).
fn expected_samples(summary: &Summary) -> Option<usize> {
    summary
        .config
        .get("n")
        .and_then(serde_json::Value::as_u64)
        .and_then(|n| usize::try_from(n).ok())
}

/// A task not fully judged yet: fewer samples than `n`, or none at all (and not a task the
/// samples file lacks, which counts as failed).
fn is_pending(task: &TaskScore, expected: Option<usize>) -> bool {
    !task.missing && (task.samples == 0 || expected.is_some_and(|n| task.samples < n))
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
    if summary.in_process_tests > 0 {
        rows.push(("in-process tests".into(), in_process_note(summary)));
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

const CSS: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1200px;color:#222;padding:0 1em}\
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em}\
.cards{display:flex;flex-wrap:wrap;gap:.8em}.card{border:1px solid #ddd;border-radius:6px;padding:.6em 1em;min-width:8em}\
.card b{display:block;font-size:1.5em}.card span{color:#666;font-size:.9em}\
.banner{background:#fff4e5;border:1px solid #f0b35b;border-radius:6px;padding:.6em 1em}\
.facts{display:grid;grid-template-columns:max-content 1fr;gap:.1em 1em;margin:1em 0}.facts dt{color:#666}.facts dd{margin:0}\
.plots{display:flex;flex-wrap:wrap;gap:1.5em}.plots figure{margin:0}.plots figcaption{font-weight:600;margin-bottom:.3em}\
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #eee;padding:.3em .5em;text-align:left;vertical-align:top}\
th[data-sort]{cursor:pointer;user-select:none}th[data-sort]:after{content:' \\2195';color:#aaa}\
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}\
.passed{color:#17803d}.fail{color:#b42318}.pending{color:#8a6d00}details summary{cursor:pointer}\
pre{background:#f6f8fa;padding:.6em;overflow-x:auto;font-size:12px;white-space:pre-wrap}\
ul.tests{margin:.2em 0;padding-left:1.2em;font-size:12px}\
.controls{display:flex;gap:1em;align-items:center;margin:.5em 0}\
.bar{display:inline-block;height:.8em;background:#b42318;vertical-align:middle}";

/// Sorting and filtering of the task table (no libraries).
const JS: &str = r#"(function(){
var table=document.getElementById('tasks');if(!table)return;
var body=table.tBodies[0];var rows=Array.prototype.slice.call(body.rows);
var text=document.getElementById('task-filter');var which=document.getElementById('task-verdict');
var count=document.getElementById('task-count');
function apply(){var q=text.value.toLowerCase(),v=which.value,shown=0;
rows.forEach(function(r){var ok=(!q||r.dataset.task.toLowerCase().indexOf(q)>=0||r.dataset.verdicts.indexOf(q)>=0)&&(v==='all'||r.dataset.state===v);
r.style.display=ok?'':'none';if(ok)shown++;});count.textContent=shown+' of '+rows.length+' tasks';}
text.addEventListener('input',apply);which.addEventListener('change',apply);
var dir={};
Array.prototype.forEach.call(table.tHead.rows[0].cells,function(th){var key=th.dataset.sort;if(!key)return;
th.addEventListener('click',function(){dir[key]=-(dir[key]||-1);var d=dir[key],num=th.classList.contains('num');
rows.sort(function(a,b){var x=a.dataset[key],y=b.dataset[key];
if(num){x=parseFloat(x);y=parseFloat(y);return d*((x>y)-(x<y));}return d*x.localeCompare(y,undefined,{numeric:true});});
rows.forEach(function(r){body.appendChild(r);});});});
apply();})();"#;

/// The run's model, digest, configuration, date and Crucible version.
fn run_facts(html: &mut String, summary: &Summary, extras: &ReportExtras<'_>) {
    let config = &summary.config;
    let mut facts: Vec<(&str, String)> = Vec::new();
    let model = config.get("model").map(|m| match m.get("name") {
        Some(name) => json_text(name),
        None => json_text(m),
    });
    if let Some(model) = model {
        facts.push(("model", model));
    }
    if let Some(weights) = config.pointer("/model/weights") {
        facts.push(("weights", json_text(weights)));
    }
    if let Some(sha) = &summary.model_sha256 {
        facts.push(("model sha256", sha.clone()));
    }
    if let Some(lora) = config.pointer("/model/lora") {
        let scale = lora.get("scale").map(json_text).unwrap_or_default();
        let sha = lora.get("sha256").map(json_text).unwrap_or_default();
        facts.push(("LoRA adapter", format!("sha256 {sha}, scale {scale}")));
    }
    if let Some(command) = config.get("command") {
        facts.push(("command", json_text(command)));
    }
    if let Some(n) = config.get("n") {
        facts.push(("samples per task (n)", json_text(n)));
    }
    if let Some(decoding) = config.get("decoding") {
        let method = decoding.get("method").map(json_text).unwrap_or_default();
        let temperature = decoding
            .get("temperature")
            .and_then(serde_json::Value::as_f64)
            .map(|t| format!(", temperature {}", trim_float(t)))
            .unwrap_or_default();
        facts.push(("decoding", format!("{method}{temperature}")));
    }
    let strategy = match config.get("strategy") {
        Some(serde_json::Value::Null) | None => config
            .get("mode")
            .map(|m| format!("plain ({})", json_text(m))),
        Some(run) => Some(json_text(run.get("strategy").unwrap_or(run))),
    };
    if let Some(strategy) = strategy {
        facts.push(("strategy", strategy));
    }
    if let Some(seed) = config.get("seed") {
        facts.push(("seed", json_text(seed)));
    }
    if let Some(max) = config.get("max_new_tokens") {
        facts.push(("max new tokens", json_text(max)));
    }
    if let Some(policy) = config.get("time_limit_policy") {
        let factor = policy.get("factor").and_then(serde_json::Value::as_f64);
        // `minimum_s` in seconds; run directories written before hold `minimum`, a duration.
        let minimum = policy
            .get("minimum_s")
            .or_else(|| policy.get("minimum"))
            .and_then(seconds_of);
        let text = match (factor, minimum) {
            (Some(f), Some(m)) => format!(
                "{}x the reference, at least {} s",
                trim_float(f),
                trim_float(m)
            ),
            _ => json_text(policy),
        };
        facts.push(("time limit", text));
    }
    let memory_mb = config
        .get("memory_limit_bytes")
        .and_then(serde_json::Value::as_u64)
        .map(|b| b >> 20)
        .or_else(|| {
            config
                .get("memory_limit_mb")
                .and_then(serde_json::Value::as_u64)
        });
    if let Some(mb) = memory_mb {
        facts.push(("memory limit", format!("{mb} MiB")));
    }
    if let Some(sandboxed) = config.get("sandboxed") {
        facts.push(("sandboxed", json_text(sandboxed)));
    }
    if let Some(started) = extras.started_unix_ms {
        facts.push(("started", utc_time(started)));
    }
    if let Some(written) = extras.written_unix_ms {
        facts.push(("report written", utc_time(written)));
    }
    facts.push(("Crucible version", env!("CARGO_PKG_VERSION").to_owned()));
    html.push_str("<dl id=\"run-facts\" class=\"facts\">\n");
    for (name, value) in facts {
        let _ = writeln!(html, "<dt>{}</dt><dd>{}</dd>", escape(name), escape(&value));
    }
    html.push_str("</dl>\n");
}

/// A JSON value as plain text: strings without quotes.
fn json_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Seconds from a number or a `{"secs", "nanos"}` object.
fn seconds_of(value: &serde_json::Value) -> Option<f64> {
    if let Some(secs) = value.as_f64() {
        return Some(secs);
    }
    let secs = value.get("secs")?.as_f64()?;
    let nanos = value
        .get("nanos")
        .and_then(serde_json::Value::as_f64)
        .unwrap_or(0.0);
    Some(secs + nanos / 1e9)
}

/// A float with at most three decimals and no trailing zeros (`0.800000011920929` → `0.8`).
fn trim_float(value: f64) -> String {
    let text = format!("{value:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    text.to_owned()
}

/// `2026-12-03 12:44:10 UTC` from ms since the Unix epoch (proleptic Gregorian calendar).
fn utc_time(unix_ms: u64) -> String {
    let secs = unix_ms / 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

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
    if summary.in_process_tests > 0 {
        let _ = writeln!(
            html,
            "<p><b>In-process tests:</b> {}.</p>",
            escape(&in_process_note(summary))
        );
    }
}

/// How many samples' tests ran in the program's own process, where the program could reach them.
fn in_process_note(summary: &Summary) -> String {
    format!(
        "{} sample(s), {} passed: their tests ran in the program's own process, which could read them",
        summary.in_process_tests, summary.in_process_passed
    )
}

/// pass@k against k, when there is a curve to draw (more than one k: n > 1).
fn pass_at_k_plot(html: &mut String, summary: &Summary) {
    let ks = sorted_pass(&summary.pass_at_k).len();
    if ks < 2 {
        return;
    }
    let _ = write!(
        html,
        "<figure id=\"pass-at-k\"><figcaption>pass@k</figcaption>{}</figure>",
        pass_at_k_svg(summary)
    );
}

/// A line plot of pass@k against k (log scale).
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
    let (w, h, pad) = (420.0, 240.0, 40.0);
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

/// Colour of a verdict in the plots.
fn verdict_color(name: &str) -> &'static str {
    match name {
        "passed" => "#17803d",
        "wrong_answer" => "#b42318",
        "runtime_error" => "#e8590c",
        "timeout" => "#9c36b5",
        "memory_limit" | "output_limit" => "#5f3dc4",
        "compile_error" => "#495057",
        _ => "#868e96",
    }
}

/// The verdicts of all samples as one stacked bar with a legend.
fn verdict_plot(html: &mut String, summary: &Summary) {
    let total: usize = summary.verdicts.values().sum();
    if total == 0 {
        return;
    }
    let (w, bar_h) = (420.0, 28.0);
    let rows = summary.verdicts.len();
    let h = bar_h + 12.0 + 18.0 * rows as f64;
    let _ = write!(
        html,
        "<figure id=\"verdict-plot\"><figcaption>Verdicts of {total} sample(s)</figcaption><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" role=\"img\" aria-label=\"verdict breakdown\">"
    );
    let mut left = 0.0;
    let mut ordered: Vec<(&String, &usize)> = summary.verdicts.iter().collect();
    ordered.sort_by(|a, b| (a.0 != "passed").cmp(&(b.0 != "passed")).then(b.1.cmp(a.1)));
    for (i, (name, count)) in ordered.iter().enumerate() {
        let width = w * **count as f64 / total as f64;
        let color = verdict_color(name);
        let _ = writeln!(
            html,
            "<rect x=\"{left:.1}\" y=\"0\" width=\"{width:.1}\" height=\"{bar_h}\" fill=\"{color}\"><title>{}: {count}</title></rect>",
            escape(name)
        );
        left += width;
        let ly = bar_h + 12.0 + 18.0 * i as f64;
        let _ = writeln!(
            html,
            "<rect x=\"0\" y=\"{:.1}\" width=\"10\" height=\"10\" fill=\"{color}\"/><text x=\"16\" y=\"{ly:.1}\" font-size=\"12\">{} {count} ({:.1}%)</text>",
            ly - 9.0,
            escape(name),
            100.0 * **count as f64 / total as f64
        );
    }
    html.push_str("</svg></figure>\n");
}

/// Each task's completion tokens against its time (generation and judging, summed over its
/// samples), coloured by whether any sample passed.
fn cost_plot(
    html: &mut String,
    summary: &Summary,
    by_task: &BTreeMap<&str, Vec<&ResultRecord>>,
    expected: Option<usize>,
) {
    let points: Vec<(f64, f64, &str, &str)> = summary
        .per_task
        .iter()
        .filter(|t| !is_pending(t, expected))
        .filter_map(|t| {
            let rows = by_task.get(t.task_id.as_str())?;
            let (tokens, ms) = task_cost(rows);
            // Without token counts (scored samples) there is nothing to plot against.
            let tokens = tokens?;
            let state = if t.passed > 0 { "#17803d" } else { "#b42318" };
            Some((tokens as f64, ms as f64 / 1000.0, state, t.task_id.as_str()))
        })
        .collect();
    if points.is_empty() {
        return;
    }
    let (w, h, pad) = (420.0, 240.0, 44.0);
    let max_tokens = points.iter().map(|p| p.0).fold(1.0, f64::max);
    let max_secs = points.iter().map(|p| p.1).fold(0.001, f64::max);
    let _ = write!(
        html,
        "<figure id=\"cost-plot\"><figcaption>Tokens and time per task (green: solved)</figcaption><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" role=\"img\" aria-label=\"tokens and time per task\">"
    );
    let _ = writeln!(
        html,
        "<line x1=\"{pad}\" y1=\"{0}\" x2=\"{1}\" y2=\"{0}\" stroke=\"#999\"/><line x1=\"{pad}\" y1=\"{2}\" x2=\"{pad}\" y2=\"{0}\" stroke=\"#999\"/>\
<text x=\"{3}\" y=\"{4}\" font-size=\"11\" text-anchor=\"middle\">completion tokens (max {max_tokens:.0})</text>\
<text x=\"12\" y=\"{5}\" font-size=\"11\" transform=\"rotate(-90 12 {5})\" text-anchor=\"middle\">seconds (max {max_secs:.1})</text>",
        h - pad,
        w - 10.0,
        10.0,
        w / 2.0,
        h - 12.0,
        h / 2.0
    );
    for (tokens, secs, color, task) in points {
        let cx = pad + tokens / max_tokens * (w - pad - 10.0);
        let cy = h - pad - secs / max_secs * (h - pad - 10.0);
        let _ = writeln!(
            html,
            "<circle cx=\"{cx:.1}\" cy=\"{cy:.1}\" r=\"3\" fill=\"{color}\" fill-opacity=\".6\"><title>{}: {tokens:.0} tokens, {secs:.2} s</title></circle>",
            escape(task)
        );
    }
    html.push_str("</svg></figure>\n");
}

/// Completion tokens (`None` when no sample counted any: scored samples of other tools) and
/// milliseconds (generation, compilation and running) over `rows`.
fn task_cost(rows: &[&ResultRecord]) -> (Option<u64>, u64) {
    rows.iter().fold((None, 0), |(tokens, ms), r| {
        let t = &r.timings;
        let tokens = match (tokens, r.tokens) {
            (tokens, None) => tokens,
            (tokens, Some(counts)) => Some(tokens.unwrap_or(0) + counts.completion),
        };
        (tokens, ms + t.gen_ms.unwrap_or(0) + t.compile_ms + t.run_ms)
    })
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
    traces: &[serde_json::Value],
    expected: Option<usize>,
) {
    // The first record of each sample, as the run directory resumes from it.
    let mut code: BTreeMap<(&str, usize), &SampleRecord> = BTreeMap::new();
    for sample in samples {
        code.entry((sample.task_id.as_str(), sample.sample_idx))
            .or_insert(sample);
    }
    let traces = traces_by_sample(traces);
    html.push_str(
        "<section><h2>Tasks</h2>\n<div class=\"controls\"><input id=\"task-filter\" type=\"search\" placeholder=\"filter by task or verdict\">\
<select id=\"task-verdict\"><option value=\"all\">all tasks</option><option value=\"fail\">failed</option><option value=\"passed\">passed</option><option value=\"pending\">pending</option></select>\
<span id=\"task-count\"></span></div>\n<table id=\"tasks\"><thead><tr><th data-sort=\"task\">task</th><th data-sort=\"rank\" class=\"num\">state</th>\
<th data-sort=\"passed\" class=\"num\">passed</th><th data-sort=\"tests\" class=\"num\">tests passed</th><th data-sort=\"tokens\" class=\"num\">tokens</th>\
<th data-sort=\"secs\" class=\"num\">time (s)</th><th data-sort=\"verdicts\">verdicts</th></tr></thead><tbody>\n",
    );
    // Failures first, then unjudged tasks, then passes; in task order within each.
    let mut order: Vec<(u8, &TaskScore)> = summary
        .per_task
        .iter()
        .map(|t| {
            let rank = if is_pending(t, expected) {
                1
            } else if t.passed == 0 {
                0
            } else {
                2
            };
            (rank, t)
        })
        .collect();
    order.sort_by_key(|(rank, _)| *rank);
    for (rank, task) in order {
        let rows = by_task
            .get(task.task_id.as_str())
            .map_or(&[][..], Vec::as_slice);
        let state = ["fail", "pending", "passed"][usize::from(rank)];
        let (tokens, ms) = task_cost(rows);
        let tokens_text = tokens.map_or_else(|| "—".to_owned(), |t| t.to_string());
        let tokens = tokens.unwrap_or(0);
        let (tests_passed, tests_run) = rows.iter().fold((0, 0), |(p, n), r| {
            (
                p + r.tests.iter().filter(|t| t.status.is_pass()).count(),
                n + r.tests.len(),
            )
        });
        let tests = if tests_run == 0 {
            "—".to_owned()
        } else {
            format!("{tests_passed}/{tests_run}")
        };
        let tests_fraction = if tests_run == 0 {
            0.0
        } else {
            tests_passed as f64 / tests_run as f64
        };
        let verdicts: Vec<&str> = task.statuses.iter().map(|s| s.name()).collect();
        let verdicts = if verdicts.is_empty() {
            "pending".to_owned()
        } else {
            verdicts.join(", ")
        };
        let plus = task
            .plus_passed
            .map(|p| format!(" (plus {p})"))
            .unwrap_or_default();
        let missing = if task.missing {
            " (missing from the samples file: counted as failed)"
        } else {
            ""
        };
        let of = expected.map_or(task.samples, |n| n.max(task.samples));
        let _ = write!(
            html,
            "<tr data-task=\"{id}\" data-state=\"{state}\" data-rank=\"{rank}\" data-passed=\"{}\" data-tests=\"{tests_fraction:.4}\" data-tokens=\"{tokens}\" data-secs=\"{:.3}\" data-verdicts=\"{}\">\
<td><details><summary class=\"{state}\">{id}</summary>",
            task.passed,
            ms as f64 / 1000.0,
            escape(&verdicts),
            id = escape(&task.task_id),
        );
        task_details(html, &task.task_id, rows, &code, &traces);
        let _ = writeln!(
            html,
            "</details></td><td class=\"num {state}\">{state}</td><td class=\"num\">{}/{of}{}{missing}</td><td class=\"num\">{tests}</td><td class=\"num\">{tokens_text}</td><td class=\"num\">{:.2}</td><td>{}</td></tr>",
            task.passed,
            escape(&plus),
            ms as f64 / 1000.0,
            escape(&verdicts)
        );
    }
    html.push_str("</tbody></table></section>\n");
}

/// Strategy traces by `(task_id, sample_idx)`; the first line of a sample wins.
fn traces_by_sample(traces: &[serde_json::Value]) -> BTreeMap<(String, u64), &serde_json::Value> {
    let mut map = BTreeMap::new();
    for trace in traces {
        let task = trace
            .get("task_id")
            .or_else(|| trace.pointer("/outcome/task_id"))
            .and_then(serde_json::Value::as_str);
        let idx = trace.get("sample_idx").and_then(serde_json::Value::as_u64);
        if let (Some(task), Some(idx)) = (task, idx) {
            map.entry((task.to_owned(), idx)).or_insert(trace);
        }
    }
    map
}

/// The expanded row of one task: every sample's verdict; for the first and the failing ones
/// (up to [`SHOWN_SAMPLES`]) every test's outcome, the code, the feedback and the strategy's
/// visible-test result and trace.
fn task_details(
    html: &mut String,
    task_id: &str,
    rows: &[&ResultRecord],
    code: &BTreeMap<(&str, usize), &SampleRecord>,
    traces: &BTreeMap<(String, u64), &serde_json::Value>,
) {
    if rows.is_empty() {
        html.push_str("<p>No sample judged yet.</p>");
        return;
    }
    if rows.len() > 1 {
        html.push_str("<p>");
        for r in rows {
            let class = if r.status.is_pass() { "passed" } else { "fail" };
            let _ = write!(
                html,
                "<span class=\"{class}\">#{} {}</span> ",
                r.sample_idx,
                r.status.name()
            );
        }
        html.push_str("</p>");
    }
    let shown = rows
        .iter()
        .enumerate()
        .filter(|(i, r)| *i == 0 || !r.status.is_pass())
        .take(SHOWN_SAMPLES);
    for (_, r) in shown {
        let timing = &r.timings;
        let _ = write!(
            html,
            "<p>sample {} — <b>{}</b>{}{} · generation {} ms, compile {} ms, run {} ms</p>",
            r.sample_idx,
            r.status.name(),
            r.plus_status()
                .map(|s| format!(" (plus: {})", s.name()))
                .unwrap_or_default(),
            r.visible
                .map(|s| format!(" (visible tests: {})", s.name()))
                .unwrap_or_default(),
            timing.gen_ms.unwrap_or(0),
            timing.compile_ms,
            timing.run_ms
        );
        let tiers =
            std::iter::once(("", &r.tests)).chain(r.plus.as_ref().map(|p| ("plus ", &p.tests)));
        for (tier, tests) in tiers.filter(|(_, tests)| !tests.is_empty()) {
            let _ = write!(
                html,
                "<details><summary>{}{} test(s)</summary><ul class=\"tests\">",
                tier,
                tests.len()
            );
            for test in tests {
                let class = if test.status.is_pass() {
                    "passed"
                } else {
                    "fail"
                };
                let _ = write!(
                    html,
                    "<li class=\"{class}\">{} — {}{}</li>",
                    escape(&test.name),
                    test.status.name(),
                    test.detail
                        .as_deref()
                        .map(|d| format!(": {}", escape(d)))
                        .unwrap_or_default()
                );
            }
            html.push_str("</ul></details>");
        }
        if let Some(sample) = code.get(&(task_id, r.sample_idx)) {
            let _ = write!(html, "<pre>{}</pre>", escape(sample.solution.code()));
        }
        if let Some(feedback) = &r.feedback {
            let _ = write!(html, "<pre>{}</pre>", escape(feedback));
        }
        if let Some(trace) = traces.get(&(task_id.to_owned(), r.sample_idx as u64)) {
            strategy_details(html, trace);
        }
    }
}

/// A strategy's visible-test result and its trace, behind one click.
fn strategy_details(html: &mut String, trace: &serde_json::Value) {
    let outcome = trace.get("outcome").unwrap_or(trace);
    let description = outcome
        .get("description")
        .map(json_text)
        .unwrap_or_else(|| "strategy".to_owned());
    let visible = match outcome.get("verdict") {
        Some(verdict) if !verdict.is_null() => {
            let count = match (verdict.get("passed"), verdict.get("total")) {
                (Some(p), Some(t)) => format!(" ({p}/{t} passed)"),
                _ => String::new(),
            };
            let source = verdict
                .get("tests")
                .map(|t| format!(", tests: {}", json_text(t)))
                .unwrap_or_default();
            format!(
                "{}{count}{source}",
                verdict.get("status").map(json_text).unwrap_or_default()
            )
        }
        _ => trace
            .get("error")
            .map(json_text)
            .unwrap_or_else(|| "not run".to_owned()),
    };
    let _ = write!(
        html,
        "<details class=\"strategy\"><summary>{}: visible tests {}</summary>",
        escape(&description),
        escape(&visible)
    );
    let mut text =
        serde_json::to_string_pretty(outcome.get("trace").unwrap_or(trace)).unwrap_or_default();
    if text.len() > TRACE_CHARS {
        let cut = (0..=TRACE_CHARS)
            .rev()
            .find(|i| text.is_char_boundary(*i))
            .unwrap_or(0);
        text.truncate(cut);
        text.push_str("\n… (cut; traces.jsonl has all of it)");
    }
    let _ = write!(
        html,
        "<details><summary>trace</summary><pre>{}</pre></details></details>",
        escape(&text)
    );
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

/// `text` with HTML's special characters escaped.
pub fn escape_html(text: &str) -> String {
    escape(text)
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
    use crucible_types::{Status, TestOutcome};
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
            test_counts: Default::default(),
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
            test_counts: Default::default(),
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

    fn params(task_ids: &[&str], ks: Vec<u64>, config: serde_json::Value) -> SummaryParams {
        SummaryParams {
            benchmark: "humaneval".into(),
            language: "python".into(),
            task_ids: task_ids.iter().map(|t| (*t).to_owned()).collect(),
            ks,
            n_at_k: vec![],
            hidden_tests: true,
            model_sha256: Some("ab12".into()),
            wall_time_s: None,
            config,
            time_limits: json!({}),
            missing: None,
            test_counts: Default::default(),
        }
    }

    #[test]
    fn an_unfinished_run_has_a_banner_and_pending_tasks_are_not_failures() {
        let mut failing = result("t/1", 0, Status::WrongAnswer, Some("expected 2"));
        failing.tests = vec![
            TestOutcome {
                name: "case 0".into(),
                status: Status::Passed,
                detail: None,
            },
            TestOutcome {
                name: "case 1".into(),
                status: Status::WrongAnswer,
                detail: Some("got 3".into()),
            },
        ];
        failing.tokens = Some(crate::run::TokenCounts {
            prompt: 10,
            completion: 42,
        });
        let results = vec![
            result("t/0", 0, Status::Passed, None),
            result("t/0", 1, Status::Passed, None),
            failing,
        ];
        let config = json!({"command": "eval", "n": 2, "seed": 7,
            "model": {"name": "tiny-coder", "weights": "q8_0"},
            "decoding": {"method": "sample", "temperature": 0.800000011920929},
            "strategy": {"strategy": "repair", "budget": {}},
            "time_limit_policy": {"factor": 4.0, "minimum_s": 3.0},
            "memory_limit_bytes": 1_073_741_824_u64});
        let summary = summarize(
            &results,
            &params(&["t/0", "t/1", "t/2"], vec![1, 2], config),
        );
        let traces = vec![json!({"sample_idx": 0, "outcome": {"task_id": "t/1",
            "description": "repair (rounds 3)",
            "verdict": {"tests": "visible", "status": "passed", "passed": 3, "total": 3},
            "trace": {"attempts": ["<step>"]}}})];
        let html = render_html_with(
            &summary,
            &results,
            &[],
            &ReportExtras {
                traces: &traces,
                started_unix_ms: Some(1_796_301_850_000),
                ..ReportExtras::default()
            },
        );
        // t/1 has 1 of 2 samples and t/2 none: both pending, with the banner.
        assert!(html.contains("id=\"in-progress\""), "{html}");
        assert!(
            html.contains("2 of 3 task(s) are not fully judged"),
            "{html}"
        );
        assert!(html.contains("data-task=\"t/2\" data-state=\"pending\""));
        assert!(html.contains("data-task=\"t/1\" data-state=\"pending\""));
        assert!(!html.contains("0/0"), "no task is shown as 0/0");
        // Facts of the run.
        for fact in [
            "<dt>model</dt><dd>tiny-coder</dd>",
            "<dd>ab12</dd>",
            "<dd>sample, temperature 0.8</dd>",
            "<dt>strategy</dt><dd>repair</dd>",
            "<dt>seed</dt><dd>7</dd>",
            "<dd>4x the reference, at least 3 s</dd>",
            "<dd>1024 MiB</dd>",
            "<dd>2026-12-03 12:44:10 UTC</dd>",
            concat!("<dt>Crucible version</dt><dd>", env!("CARGO_PKG_VERSION")),
        ] {
            assert!(html.contains(fact), "{fact} missing from {html}");
        }
        // Every test's outcome, tokens, the strategy's visible-test result and trace.
        assert!(html.contains("case 1 — wrong_answer: got 3"), "{html}");
        assert!(html.contains("case 0 — passed"));
        assert!(html.contains("data-tokens=\"42\""));
        assert!(
            html.contains("repair (rounds 3): visible tests passed (3/3 passed), tests: visible"),
            "{html}"
        );
        assert!(html.contains("&lt;step&gt;"));
        // Sorting and filtering are there (the pass@k curve with n = 2 is checked in a browser
        // by crucible-cli's tests/compare.rs).
        assert!(html.contains("id=\"task-filter\"") && html.contains("data-sort=\"tokens\""));
    }

    #[test]
    fn failures_come_first_and_one_k_draws_no_curve() {
        let results = vec![
            result("a", 0, Status::Passed, None),
            result("b", 0, Status::Timeout, None),
            result("c", 0, Status::Passed, None),
        ];
        let summary = summarize(
            &results,
            &params(&["a", "b", "c"], vec![1], json!({"n": 1})),
        );
        let html = render_html(&summary, &results, &[]);
        let pos = |id: &str| html.find(&format!("data-task=\"{id}\"")).unwrap();
        assert!(pos("b") < pos("a") && pos("a") < pos("c"));
        assert!(
            !html.contains("id=\"pass-at-k\""),
            "a single point is no curve"
        );
        assert!(!html.contains("id=\"in-progress\""));
        assert!(html.contains("id=\"verdict-plot\"") && html.contains("timeout 1 (33.3%)"));
    }

    #[test]
    fn dates_are_civil_utc() {
        assert_eq!(utc_time(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc_time(951_782_400_000), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc_time(1_796_301_850_000), "2026-12-03 12:44:10 UTC");
    }

    #[test]
    fn a_time_limit_written_as_a_duration_still_reads_in_seconds() {
        let config = json!({"command": "score",
            "time_limit_policy": {"factor": 2.0, "minimum": {"secs": 1, "nanos": 500_000_000}}});
        let results = vec![result("t/0", 0, Status::Passed, None)];
        let summary = summarize(&results, &params(&["t/0"], vec![1], config));
        let mut html = String::new();
        run_facts(&mut html, &summary, &ReportExtras::default());
        assert!(
            html.contains("<dd>2x the reference, at least 1.5 s</dd>"),
            "{html}"
        );
    }
}
