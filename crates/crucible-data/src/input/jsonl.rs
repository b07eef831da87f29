//! JSON Lines inputs: planned as byte ranges (a line belongs to the range it starts in), read
//! line by line with a cap on line length, every bad line a recorded skip.

use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use super::{Unit, document_from_object, file_reject};
use crate::config::InputConfig;
use crate::doc::{Document, Reject, Stage};

/// Lines longer than this are skipped without being held in memory: JSON escaping can make a
/// record several times longer than its text, so allow 8x the document limit (at least 64 MiB).
fn max_line_bytes(config: &InputConfig) -> usize {
    (config.max_doc_bytes.saturating_mul(8)).max(64 << 20) as usize
}

/// Cut `path` into ranges of about `unit_bytes`, each starting at a line start, numbering lines.
pub(super) fn plan(
    path: &Path,
    len: u64,
    config: &InputConfig,
    units: &mut Vec<Unit>,
) -> crate::Result<()> {
    if len == 0 {
        units.push(Unit::Broken {
            path: path.to_path_buf(),
            problem: "empty file".into(),
        });
        return Ok(());
    }
    let file = crate::store::open(path)?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    // (range index, start byte, line number) of the first line starting in each range.
    let mut starts: Vec<(u64, u64, u64)> = vec![(0, 0, 1)];
    let mut offset = 0u64;
    let mut line = 1u64;
    loop {
        let buf = reader
            .fill_buf()
            .map_err(|err| crate::Error::io("read", path, err))?;
        if buf.is_empty() {
            break;
        }
        for pos in memchr::memchr_iter(b'\n', buf) {
            let next_start = offset + pos as u64 + 1;
            line += 1;
            let range = next_start / config.unit_bytes;
            if next_start < len && starts.last().is_some_and(|(last, _, _)| *last < range) {
                starts.push((range, next_start, line));
            }
        }
        let consumed = buf.len();
        offset += consumed as u64;
        reader.consume(consumed);
    }
    for (idx, &(_, start, first_line)) in starts.iter().enumerate() {
        let end = starts.get(idx + 1).map_or(len, |next| next.1);
        units.push(Unit::Jsonl {
            path: path.to_path_buf(),
            start,
            end,
            first_line,
        });
    }
    Ok(())
}

/// Read the lines of `path` that start in `[start, end)`.
pub(super) fn read_range(
    path: &Path,
    start: u64,
    end: u64,
    first_line: u64,
    config: &InputConfig,
    sink: &mut dyn FnMut(Result<Document, Reject>) -> bool,
) {
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(err) => {
            sink(Err(file_reject(path, "unreadable", err.to_string())));
            return;
        }
    };
    let mut reader = BufReader::with_capacity(1 << 20, file);
    if let Err(err) = reader.seek(SeekFrom::Start(start)) {
        sink(Err(file_reject(path, "unreadable", err.to_string())));
        return;
    }
    read_lines(path, reader.take(end - start), first_line, config, sink);
}

/// Read a whole gzipped JSON Lines file.
pub(super) fn read_gz(
    path: &Path,
    config: &InputConfig,
    sink: &mut dyn FnMut(Result<Document, Reject>) -> bool,
) {
    match std::fs::File::open(path) {
        Ok(file) => {
            let reader = BufReader::with_capacity(1 << 20, flate2::read::MultiGzDecoder::new(file));
            read_lines(path, reader, 1, config, sink);
        }
        Err(err) => {
            sink(Err(file_reject(path, "unreadable", err.to_string())));
        }
    }
}

fn read_lines<R: BufRead>(
    path: &Path,
    mut reader: R,
    first_line: u64,
    config: &InputConfig,
    sink: &mut dyn FnMut(Result<Document, Reject>) -> bool,
) {
    let cap = max_line_bytes(config);
    let mut line_no = first_line;
    let mut buf: Vec<u8> = Vec::new();
    loop {
        buf.clear();
        let read = match read_capped_line(&mut reader, &mut buf, cap) {
            Ok(read) => read,
            Err(err) => {
                let source = format!("{}:{line_no}", path.display());
                sink(Err(Reject {
                    stage: Stage::Read,
                    action: crate::doc::Action::Dropped,
                    reason: "unreadable".into(),
                    detail: format!("read failed, rest of this part skipped: {err}"),
                    id: None,
                    source,
                }));
                return;
            }
        };
        let Some(overflow) = read else {
            return;
        };
        let source = format!("{}:{line_no}", path.display());
        line_no += 1;
        let item = if overflow {
            Err(line_reject(
                source,
                "line_too_long",
                format!("line longer than {cap} bytes"),
            ))
        } else if buf.iter().all(u8::is_ascii_whitespace) {
            continue;
        } else {
            parse_line(&buf, source, config)
        };
        if !sink(item) {
            return;
        }
    }
}

fn parse_line(bytes: &[u8], source: String, config: &InputConfig) -> Result<Document, Reject> {
    let value: serde_json::Value = match serde_json::from_slice(bytes) {
        Ok(value) => value,
        Err(err) => {
            return Err(line_reject(
                source,
                "malformed_json",
                format!("not JSON: {err}"),
            ));
        }
    };
    let serde_json::Value::Object(object) = value else {
        return Err(line_reject(
            source,
            "not_an_object",
            "JSON but not an object".into(),
        ));
    };
    document_from_object(object, source.clone(), source.clone(), config)
        .map_err(|(reason, detail)| line_reject(source, reason, detail))
}

fn line_reject(source: String, reason: &str, detail: String) -> Reject {
    Reject {
        stage: Stage::Read,
        action: crate::doc::Action::Dropped,
        reason: reason.to_owned(),
        detail,
        id: None,
        source,
    }
}

/// Read one line into `buf` (without the newline). `Ok(None)` at the end, `Ok(Some(true))` when
/// the line was longer than `cap` (its bytes past the cap are consumed and dropped).
fn read_capped_line<R: BufRead>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    cap: usize,
) -> std::io::Result<Option<bool>> {
    let mut any = false;
    let mut overflow = false;
    loop {
        let chunk = reader.fill_buf()?;
        if chunk.is_empty() {
            return Ok(any.then_some(overflow));
        }
        any = true;
        let (take, done) = match memchr::memchr(b'\n', chunk) {
            Some(pos) => (pos, true),
            None => (chunk.len(), false),
        };
        if !overflow {
            if buf.len() + take > cap {
                overflow = true;
                buf.clear();
            } else {
                buf.extend_from_slice(&chunk[..take]);
            }
        }
        let consumed = if done { take + 1 } else { take };
        reader.consume(consumed);
        if done {
            return Ok(Some(overflow));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(unit: &Unit, config: &InputConfig) -> Vec<Result<String, String>> {
        let mut out = Vec::new();
        let full = crate::config::CurateConfig {
            input: config.clone(),
            ..Default::default()
        };
        super::super::read_unit(unit, &full, &mut |item| {
            out.push(
                item.map(|d| format!("{}={}", d.id, d.text))
                    .map_err(|r| format!("{}@{}", r.reason, r.source)),
            );
            true
        });
        out
    }

    #[test]
    fn ranges_split_at_line_starts_and_number_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.jsonl");
        let mut text = String::new();
        for i in 0..20 {
            text.push_str(&format!(
                "{{\"id\":\"d{i}\",\"text\":\"text number {i}\"}}\n"
            ));
        }
        text.push_str("{broken\n\n[1]\n{\"id\":\"x\",\"content\":\"via content\"}\n");
        std::fs::write(&path, &text).unwrap();
        let config = InputConfig {
            unit_bytes: 100,
            ..InputConfig::default()
        };
        let mut units = Vec::new();
        plan(&path, text.len() as u64, &config, &mut units).unwrap();
        assert!(units.len() > 5, "{units:?}");
        let mut all = Vec::new();
        for unit in &units {
            all.extend(collect(unit, &config));
        }
        assert_eq!(all.len(), 23);
        assert_eq!(all[0], Ok("d0=text number 0".to_owned()));
        assert_eq!(all[19], Ok("d19=text number 19".to_owned()));
        let p = path.display();
        assert_eq!(all[20], Err(format!("malformed_json@{p}:21")));
        assert_eq!(all[21], Err(format!("not_an_object@{p}:23")));
        assert_eq!(all[22], Ok("x=via content".to_owned()));
    }

    #[test]
    fn an_overlong_line_is_skipped_not_buffered() {
        let mut reader = std::io::Cursor::new(b"aaaaaaaaaa\nbb\n".to_vec());
        let mut buf = Vec::new();
        assert_eq!(
            read_capped_line(&mut reader, &mut buf, 4).unwrap(),
            Some(true)
        );
        assert!(buf.is_empty());
        assert_eq!(
            read_capped_line(&mut reader, &mut buf, 4).unwrap(),
            Some(false)
        );
        assert_eq!(buf, b"bb");
        buf.clear();
        assert_eq!(read_capped_line(&mut reader, &mut buf, 4).unwrap(), None);
    }
}
