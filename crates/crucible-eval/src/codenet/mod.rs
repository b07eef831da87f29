//! Project CodeNet's problems as `codenet/codenet_problems.jsonl.gz` holds them, parsed from
//! CodeNet's statement tarball (`doc/problem_descriptions.tar.gz`) and problem list
//! (`metadata/problem_list.csv`): one record per statement with its sample input/output pairs,
//! the statement's language, and hints for problems exact-match judging gets wrong.
//!
//! The rules (see `codenet/SOURCE.md` in the shared data): AtCoder pages use only their
//! `<span class="lang-en">`; headings `h1`..`h6` that name a sample input or output are paired,
//! in document order, with the next `<pre>` (a heading that names neither cancels a pending
//! one); inputs and outputs are zipped when their counts match, else the problem gets none; one
//! newline right after `<pre>` is dropped. The page is read as Python's `html.parser` reads it,
//! because the shipped file was made that way; [`build`] reproduces it byte for byte.

mod entities;
mod html;

use std::collections::{BTreeMap, HashMap};
use std::io::Read as _;
use std::path::PathBuf;
use std::sync::LazyLock;

use regex::Regex;

use crate::{Error, Result};
use html::{Token, elements, text_between, tokenize};

static SAMPLE_INPUT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)sample input|入力例|input example").expect("valid regex"));
static SAMPLE_OUTPUT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)sample output|output for (the )?sample input|出力例|output example")
        .expect("valid regex")
});
/// Statements whose answers an exact comparison may wrongly reject (tolerances, several right
/// answers).
static CHECKER_HINT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)absolute error|relative error|any of them|multiple answers|誤差|いずれか|複数ある場合|どれを出力|if there are (multiple|several|more than one)|multiple solutions",
    )
    .expect("valid regex")
});
static INTERACTIVE_HINT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)interactive").expect("valid regex"));
static VOID_START: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"<(img|br|hr|input|meta|link|source|wbr|area|col|embed|param|track|base)(\s[^<>]*?)?>",
    )
    .expect("valid regex")
});
static VOID_END: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"</(img|br|hr|input|meta|link|source|wbr|area|col|embed|param|track|base)>")
        .expect("valid regex")
});
static SPAN_TAG: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"<(/?)span\b[^>]*>").expect("valid regex"));

/// A statement with this many kana and CJK ideographs in its text is Japanese (English
/// statements have at most 17, Japanese ones at least 49).
const JAPANESE_CHARS: usize = 30;

/// One row of the problem list.
#[derive(Debug, Default)]
struct Meta {
    name: Option<String>,
    source: Option<String>,
    time_limit: Option<u64>,
    memory_limit: Option<u64>,
}

/// The JSON Lines text of `codenet_problems.jsonl` (uncompressed), from the statement tarball
/// (gzip tar of `problem_descriptions/pNNNNN.html`) and the problem list CSV.
pub fn build(descriptions_tar_gz: &[u8], problem_list_csv: &[u8]) -> Result<Vec<u8>> {
    let meta = problem_list(problem_list_csv)?;
    let pages = statements(descriptions_tar_gz)?;
    let mut out = String::new();
    for (id, page) in &pages {
        let meta = meta.get(id.as_str());
        let source = meta.and_then(|m| m.source.as_deref());
        let used = match source {
            Some("AtCoder") => lang_en_span(page).unwrap_or_else(|| page.clone()),
            _ => page.clone(),
        };
        let parsed = parse_statement(&used);
        let japanese = parsed
            .text
            .chars()
            .filter(|&c| matches!(c, '\u{3040}'..='\u{30ff}' | '\u{4e00}'..='\u{9fff}'))
            .count()
            >= JAPANESE_CHARS;
        let samples: Vec<String> = parsed
            .samples
            .iter()
            .map(|(input, output)| {
                format!(
                    "{{\"input\": {}, \"output\": {}}}",
                    json(input),
                    json(output)
                )
            })
            .collect();
        let opt_str = |v: Option<&str>| v.map_or_else(|| "null".to_owned(), json);
        let opt_num = |v: Option<u64>| v.map_or_else(|| "null".to_owned(), |n| n.to_string());
        out.push_str(&format!(
            "{{\"problem_id\": {}, \"name\": {}, \"source\": {}, \"time_limit\": {}, \"memory_limit\": {}, \"statement_lang\": {}, \"statement_html\": {}, \"samples\": [{}], \"needs_checker_hint\": {}, \"interactive_hint\": {}}}\n",
            json(id),
            opt_str(meta.and_then(|m| m.name.as_deref())),
            opt_str(source),
            opt_num(meta.and_then(|m| m.time_limit)),
            opt_num(meta.and_then(|m| m.memory_limit)),
            json(if japanese { "ja" } else { "en" }),
            json(&used),
            samples.join(", "),
            CHECKER_HINT.is_match(&parsed.text),
            INTERACTIVE_HINT.is_match(&parsed.text),
        ));
    }
    Ok(out.into_bytes())
}

/// A JSON string (the escapes are those of Python's `json.dumps` with `ensure_ascii=False`).
fn json(text: &str) -> String {
    serde_json::to_string(text).expect("strings serialise")
}

/// What a statement yields: its sample pairs and its text (no tags, comments or scripts).
#[derive(Debug, Default, PartialEq, Eq)]
struct Parsed {
    samples: Vec<(String, String)>,
    text: String,
}

fn parse_statement(page: &str) -> Parsed {
    #[derive(Clone, Copy)]
    enum Pending {
        Input,
        Output,
    }
    let tokens = tokenize(page);
    let mut inputs = Vec::new();
    let mut outputs = Vec::new();
    let mut pending = None;
    for element in elements(&tokens) {
        let name = element.name.as_str();
        if name == "pre" {
            if let Some(kind) = pending.take() {
                let text = text_between(&tokens, element.start, element.end);
                let text = text.strip_prefix('\n').unwrap_or(&text).to_owned();
                match kind {
                    Pending::Input => inputs.push(text),
                    Pending::Output => outputs.push(text),
                }
            }
        } else if matches!(name, "h1" | "h2" | "h3" | "h4" | "h5" | "h6") {
            let heading = text_between(&tokens, element.start, element.end);
            // "Output for the Sample Input" is an output: outputs are tried first.
            pending = if SAMPLE_OUTPUT.is_match(&heading) {
                Some(Pending::Output)
            } else if SAMPLE_INPUT.is_match(&heading) {
                Some(Pending::Input)
            } else {
                None
            };
        }
    }
    let samples = if inputs.len() == outputs.len() {
        inputs.into_iter().zip(outputs).collect()
    } else {
        Vec::new()
    };
    let text = tokens
        .iter()
        .filter_map(|t| match t {
            Token::Text(text) => Some(text.as_str()),
            _ => None,
        })
        .collect();
    Parsed { samples, text }
}

/// An AtCoder page's English part: its `<span class="lang-en">` element as written, with void
/// elements written `<img .../>` and their stray end tags dropped.
fn lang_en_span(page: &str) -> Option<String> {
    let start = page.find("<span class=\"lang-en\">")?;
    let mut depth = 0usize;
    let mut end = page.len();
    for tag in SPAN_TAG.captures_iter(&page[start..]) {
        if tag[1].is_empty() {
            depth += 1;
        } else {
            depth = depth.saturating_sub(1);
            if depth == 0 {
                end = start + tag.get(0).expect("whole match").end();
                break;
            }
        }
    }
    let span = &page[start..end];
    let closed = VOID_START.replace_all(span, |tag: &regex::Captures<'_>| {
        let whole = &tag[0];
        if whole.ends_with("/>") {
            whole.to_owned()
        } else {
            format!("{}/>", &whole[..whole.len() - 1])
        }
    });
    Some(VOID_END.replace_all(&closed, "").into_owned())
}

/// The statement pages in the tarball, by problem id (`pNNNNN`), in id order.
fn statements(tar_gz: &[u8]) -> Result<BTreeMap<String, String>> {
    let malformed = |message: String| Error::Malformed {
        path: PathBuf::from("problem_descriptions.tar.gz"),
        message,
    };
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(tar_gz));
    let mut pages = BTreeMap::new();
    let entries = archive
        .entries()
        .map_err(|err| malformed(format!("not a gzip tar archive: {err}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|err| malformed(format!("unreadable entry: {err}")))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry
            .path()
            .map_err(|err| malformed(format!("bad entry name: {err}")))?
            .into_owned();
        let Some(id) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".html"))
            .filter(|id| {
                id.len() == 6 && id.starts_with('p') && id[1..].bytes().all(|b| b.is_ascii_digit())
            })
            .map(str::to_owned)
        else {
            continue;
        };
        let mut page = String::new();
        entry
            .read_to_string(&mut page)
            .map_err(|err| malformed(format!("`{}` is not UTF-8 text: {err}", path.display())))?;
        pages.insert(id, page);
    }
    if pages.is_empty() {
        return Err(malformed(
            "no `problem_descriptions/pNNNNN.html` statements in it".to_owned(),
        ));
    }
    Ok(pages)
}

/// The problem list: `id,name,dataset,time_limit,memory_limit,...` (empty fields are unknown).
fn problem_list(csv: &[u8]) -> Result<HashMap<String, Meta>> {
    let malformed = |message: String| Error::Malformed {
        path: PathBuf::from("problem_list.csv"),
        message,
    };
    let text = std::str::from_utf8(csv).map_err(|err| malformed(format!("not UTF-8: {err}")))?;
    let mut rows = csv_rows(text).into_iter();
    let header = rows
        .next()
        .ok_or_else(|| malformed("empty file".to_owned()))?;
    let column = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| malformed(format!("no `{name}` column in the header")))
    };
    let (id, name, dataset, time, memory) = (
        column("id")?,
        column("name")?,
        column("dataset")?,
        column("time_limit")?,
        column("memory_limit")?,
    );
    let mut meta = HashMap::new();
    for (line, row) in rows.enumerate() {
        let field = |k: usize| row.get(k).map(String::as_str).filter(|v| !v.is_empty());
        let number = |k: usize| {
            field(k)
                .map(|v| {
                    v.parse::<u64>().map_err(|_| {
                        malformed(format!(
                            "row {}: `{v}` in column {} is not a whole number",
                            line + 2,
                            header[k]
                        ))
                    })
                })
                .transpose()
        };
        let Some(key) = field(id) else { continue };
        meta.insert(
            key.to_owned(),
            Meta {
                name: field(name).map(str::to_owned),
                source: field(dataset).map(str::to_owned),
                time_limit: number(time)?,
                memory_limit: number(memory)?,
            },
        );
    }
    Ok(meta)
}

/// CSV records (RFC 4180: `"` quotes fields, `""` is a quote inside one); blank lines skipped.
fn csv_rows(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                if !(row.len() == 1 && row[0].is_empty()) {
                    rows.push(std::mem::take(&mut row));
                }
                row.clear();
            }
            (false, c) => field.push(c),
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_pair_headings_with_the_next_pre_in_order() {
        let page = "<h2>Sample Input 1</h2>\n<pre>\n1 2\n</pre>\n\
                    <h2>Output for the Sample Input 1</h2>\n<pre>\n3\n</pre>\n\
                    <h3>入力例 2</h3><pre>4 5\n</pre><h3>出力例 2</h3><pre>9\n</pre>";
        let parsed = parse_statement(page);
        assert_eq!(
            parsed.samples,
            [
                ("1 2\n".to_owned(), "3\n".to_owned()),
                ("4 5\n".to_owned(), "9\n".to_owned())
            ]
        );
    }

    #[test]
    fn unequal_counts_or_a_cancelled_heading_give_no_samples() {
        // Two outputs for one input ("入出力例" is overridden by the next heading): none at all.
        let page = "<h2>入出力例</h2><h3>入力例</h3><pre>1</pre><h3>出力例</h3><pre>2</pre>\
                    <h3>出力例 2</h3><pre>3</pre>";
        assert!(parse_statement(page).samples.is_empty());
        // A heading naming neither cancels the pending one: the `<pre>` is no sample.
        let page = "<h3>Sample Input</h3><h3>Notes</h3><pre>x</pre>\
                    <h3>Sample Input</h3><pre>1</pre><h3>Sample Output</h3><pre>2</pre>";
        assert_eq!(
            parse_statement(page).samples,
            [("1".to_owned(), "2".to_owned())]
        );
    }

    #[test]
    fn atcoder_pages_keep_only_the_english_span_with_void_tags_closed() {
        let page = "<span class=\"lang\"><span class=\"lang-ja\">日本語</span>\
                    <span class=\"lang-en\"><p>A <span>b</span><img src=\"x.png\">\n</img><br/></p></span></span>";
        assert_eq!(
            lang_en_span(page).unwrap(),
            "<span class=\"lang-en\"><p>A <span>b</span><img src=\"x.png\"/>\n<br/></p></span>"
        );
        assert!(lang_en_span("<p>no span</p>").is_none());
    }

    #[test]
    fn the_problem_list_reads_quotes_and_empty_fields() {
        let csv = b"id,name,dataset,time_limit,memory_limit\np1,\"A, \"\"B\"\"\",AIZU,1000,65536\np2,,AIZU,,\n";
        let meta = problem_list(csv).unwrap();
        assert_eq!(meta["p1"].name.as_deref(), Some("A, \"B\""));
        assert_eq!(meta["p1"].time_limit, Some(1000));
        assert!(meta["p2"].name.is_none() && meta["p2"].memory_limit.is_none());
        let err = problem_list(b"id,name\np1,x\n").unwrap_err();
        assert!(err.to_string().contains("dataset"), "{err}");
        let err =
            problem_list(b"id,name,dataset,time_limit,memory_limit\np1,x,AIZU,1s,1\n").unwrap_err();
        assert!(err.to_string().contains("`1s`"), "{err}");
    }

    #[test]
    fn a_tarball_without_statements_is_refused() {
        let err = build(
            &crate::fetch::gzip(b"not a tar"),
            b"id,name,dataset,time_limit,memory_limit\n",
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("problem_descriptions.tar.gz"),
            "{err}"
        );
    }
}
