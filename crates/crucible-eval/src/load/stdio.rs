//! stdin/stdout sets: the APPS problems with hidden tests and Project CodeNet's statements with
//! their samples. The solution may be written in any language (`--lang`).

use std::path::Path;

use crucible_types::{Compare, IoCase, Language, Task, TaskKind, TestSuite};
use serde::Deserialize;

use super::{jsonl_records, reject, reject_duplicate_ids};
use crate::task::{BenchmarkTask, Harness, HiddenTests, Reject};

#[derive(Deserialize)]
struct AppsRecord {
    name: String,
    description: String,
    starter_code: String,
    sample_io: Vec<AppsCase>,
    test_list: Vec<AppsCase>,
}

#[derive(Deserialize)]
struct AppsCase {
    input: serde_json::Value,
    output: serde_json::Value,
}

#[derive(Deserialize)]
struct CodeNetRecord {
    problem_id: String,
    name: String,
    statement_html: String,
    samples: Vec<IoCase>,
    needs_checker_hint: bool,
}

/// Tolerance used for CodeNet problems whose statements allow an absolute or relative error.
const CHECKER_TOLERANCE: f64 = 1e-6;

pub(super) fn parse_apps(
    _path: &Path,
    text: &str,
    language: Language,
) -> (Vec<BenchmarkTask>, Vec<Reject>) {
    let (records, mut rejects) = jsonl_records::<AppsRecord>(text);
    let mut tasks = Vec::new();
    for (line, record) in records {
        let id = format!("APPS/{}", record.name);
        if !record.starter_code.trim().is_empty() {
            rejects.push(reject(
                &id,
                line,
                "call-based problem (has starter code); only stdin/stdout problems are loaded",
            ));
            continue;
        }
        let cases = |list: &[AppsCase]| -> Result<Vec<IoCase>, String> {
            list.iter().map(apps_case).collect()
        };
        let (visible, hidden) = match (cases(&record.sample_io), cases(&record.test_list)) {
            (Ok(visible), Ok(hidden)) if !hidden.is_empty() => (visible, hidden),
            (Ok(_), Ok(_)) => {
                rejects.push(reject(&id, line, "no hidden tests"));
                continue;
            }
            (Err(reason), _) | (_, Err(reason)) => {
                rejects.push(reject(&id, line, reason));
                continue;
            }
        };
        let task = program_task(id, language, record.description, visible);
        let hidden = HiddenTests::ready(io_suite(hidden, Compare::Whitespace));
        tasks.push((line, stdio_task(task, hidden)));
    }
    let tasks = reject_duplicate_ids(tasks, &mut rejects);
    (tasks, rejects)
}

/// APPS stores stdin as a string and stdout as a one-element list.
fn apps_case(case: &AppsCase) -> Result<IoCase, String> {
    let input = case
        .input
        .as_str()
        .ok_or("a test input is not a string")?
        .to_owned();
    let output = match &case.output {
        serde_json::Value::String(text) => text.clone(),
        serde_json::Value::Array(items) => match items.as_slice() {
            [serde_json::Value::String(text)] => text.clone(),
            _ => return Err("a test output is not a one-string list".to_owned()),
        },
        _ => return Err("a test output is not a string".to_owned()),
    };
    Ok(IoCase { input, output })
}

pub(super) fn parse_codenet(
    _path: &Path,
    text: &str,
    language: Language,
) -> (Vec<BenchmarkTask>, Vec<Reject>) {
    let (records, mut rejects) = jsonl_records::<CodeNetRecord>(text);
    let mut tasks = Vec::new();
    for (line, record) in records {
        if record.samples.is_empty() {
            rejects.push(reject(
                &record.problem_id,
                line,
                "the statement has no sample input/output",
            ));
            continue;
        }
        let compare = if record.needs_checker_hint {
            Compare::Float {
                abs: CHECKER_TOLERANCE,
                rel: CHECKER_TOLERANCE,
            }
        } else {
            Compare::Whitespace
        };
        let description = format!(
            "{}\n\n{}",
            record.name,
            html_to_text(&record.statement_html)
        );
        let mut task = program_task(
            record.problem_id,
            language,
            description,
            record.samples.clone(),
        );
        if let TestSuite::Io { compare: c, .. } = &mut task.visible {
            *c = compare;
        }
        // CodeNet has no hidden tests: judging uses the samples (docs/BENCHMARKS.md).
        let hidden = HiddenTests::ready(io_suite(record.samples, compare));
        tasks.push((line, stdio_task(task, hidden)));
    }
    let tasks = reject_duplicate_ids(tasks, &mut rejects);
    (tasks, rejects)
}

fn program_task(id: String, language: Language, description: String, visible: Vec<IoCase>) -> Task {
    Task {
        id,
        language,
        kind: TaskKind::Program { description },
        visible: if visible.is_empty() {
            TestSuite::None
        } else {
            io_suite(visible, Compare::Whitespace)
        },
    }
}

fn io_suite(cases: Vec<IoCase>, compare: Compare) -> TestSuite {
    TestSuite::Io { cases, compare }
}

fn stdio_task(task: Task, hidden: HiddenTests) -> BenchmarkTask {
    BenchmarkTask {
        task,
        hidden,
        reference: None,
        harness: Harness::Stdio,
    }
}

/// Plain text from a problem statement's HTML: block elements start new lines, `<pre>` keeps its
/// line breaks, other tags vanish, common entities are decoded, runs of blank lines collapse.
pub fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    let mut in_pre = false;
    while let Some(lt) = rest.find('<') {
        push_text(&mut out, &rest[..lt], in_pre);
        let Some(gt) = rest[lt..].find('>') else {
            push_text(&mut out, &rest[lt..], in_pre);
            rest = "";
            break;
        };
        let tag = rest[lt + 1..lt + gt].trim().to_ascii_lowercase();
        let closing = tag.starts_with('/');
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(char::is_ascii_alphanumeric)
            .collect();
        match name.as_str() {
            "pre" => {
                in_pre = !closing;
                out.push('\n');
            }
            "br" | "p" | "div" | "section" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6" | "tr"
            | "ul" | "ol" | "hr" => out.push('\n'),
            "li" if !closing => out.push_str("\n- "),
            _ => {}
        }
        rest = &rest[lt + gt + 1..];
    }
    push_text(&mut out, rest, in_pre);
    collapse_blank_lines(&out)
}

fn push_text(out: &mut String, text: &str, in_pre: bool) {
    let decoded = decode_entities(text);
    if in_pre {
        out.push_str(&decoded);
        return;
    }
    let mut last_space = out.ends_with([' ', '\n']);
    for ch in decoded.chars() {
        if ch.is_whitespace() {
            if !last_space {
                out.push(' ');
                last_space = true;
            }
        } else {
            out.push(ch);
            last_space = false;
        }
    }
}

fn decode_entities(text: &str) -> String {
    if !text.contains('&') {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp..];
        let Some(semi) = after.find(';').filter(|semi| *semi <= 10) else {
            out.push('&');
            rest = &after[1..];
            continue;
        };
        let entity = &after[1..semi];
        let decoded = match entity {
            "lt" => Some('<'),
            "gt" => Some('>'),
            "amp" => Some('&'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            "nbsp" => Some(' '),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|dec| dec.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(ch) => {
                out.push(ch);
                rest = &after[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &after[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn collapse_blank_lines(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank_run = 0;
    for line in text.lines() {
        let line = line.trim_end();
        if line.trim().is_empty() {
            blank_run += 1;
            if blank_run > 1 || out.is_empty() {
                continue;
            }
        } else {
            blank_run = 0;
        }
        out.push_str(line.strip_prefix(' ').unwrap_or(line));
        out.push('\n');
    }
    out.trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statement_html() {
        let html = "<span class=\"lang-en\">\n<h3>Problem Statement</h3><p>Is <var>S</var> &lt; 3 &amp; ok?</p>\n<ul><li>a</li><li>b</li></ul>\n<h3>Sample Input 1</h3><pre>1 2\n3\n</pre>\n</span>";
        assert_eq!(
            html_to_text(html),
            "Problem Statement\n\nIs S < 3 & ok?\n\n- a\n- b\n\nSample Input 1\n\n1 2\n3"
        );
    }
}
