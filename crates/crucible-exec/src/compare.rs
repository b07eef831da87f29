//! Comparing a program's stdout with the expected output.

use crucible_types::Compare;

/// Where actual output first departs from the expected output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mismatch {
    /// 1-based line number of the first differing line.
    pub(crate) line: usize,
    pub(crate) expected_line: String,
    pub(crate) actual_line: String,
}

/// Compare `actual` bytes with `expected` under `mode`.
pub(crate) fn compare(actual: &[u8], expected: &str, mode: Compare) -> Result<(), Mismatch> {
    let equal = match mode {
        Compare::Exact => actual == expected.as_bytes(),
        Compare::Whitespace => tokens(actual).eq(tokens(expected.as_bytes())),
        Compare::Float { abs, rel } => {
            let a: Vec<&[u8]> = tokens(actual).collect();
            let e: Vec<&[u8]> = tokens(expected.as_bytes()).collect();
            a.len() == e.len() && a.iter().zip(&e).all(|(x, y)| close(x, y, abs, rel))
        }
    };
    if equal {
        Ok(())
    } else {
        Err(first_difference(actual, expected, mode))
    }
}

fn tokens(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    bytes
        .split(|b| b.is_ascii_whitespace())
        .filter(|t| !t.is_empty())
}

fn close(actual: &[u8], expected: &[u8], abs: f64, rel: f64) -> bool {
    if actual == expected {
        return true;
    }
    let parse = |t: &[u8]| std::str::from_utf8(t).ok()?.parse::<f64>().ok();
    match (parse(actual), parse(expected)) {
        (Some(a), Some(e)) if a.is_finite() && e.is_finite() => {
            let diff = (a - e).abs();
            diff <= abs || diff <= rel * e.abs()
        }
        _ => false,
    }
}

fn first_difference(actual: &[u8], expected: &str, mode: Compare) -> Mismatch {
    let actual = String::from_utf8_lossy(actual);
    let normalise = |s: &str| match mode {
        Compare::Exact => s.to_owned(),
        _ => s.split_whitespace().collect::<Vec<_>>().join(" "),
    };
    let mut a_lines = actual.lines();
    let mut e_lines = expected.lines();
    let mut line = 1;
    loop {
        let (a, e) = (a_lines.next(), e_lines.next());
        if a.is_none() && e.is_none() {
            // Same lines; the difference is in line endings or trailing bytes.
            return Mismatch {
                line,
                expected_line: "(end of output)".into(),
                actual_line: "(end of output, different trailing characters)".into(),
            };
        }
        let (a, e) = (
            a.unwrap_or("(end of output)"),
            e.unwrap_or("(end of output)"),
        );
        let differ = match mode {
            Compare::Float { abs, rel } => {
                let (ta, te) = (tokens(a.as_bytes()), tokens(e.as_bytes()));
                let ta: Vec<&[u8]> = ta.collect();
                let te: Vec<&[u8]> = te.collect();
                ta.len() != te.len() || !ta.iter().zip(&te).all(|(x, y)| close(x, y, abs, rel))
            }
            _ => normalise(a) != normalise(e),
        };
        if differ {
            return Mismatch {
                line,
                expected_line: e.to_owned(),
                actual_line: a.to_owned(),
            };
        }
        line += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(actual: &str, expected: &str, mode: Compare) -> Option<usize> {
        compare(actual.as_bytes(), expected, mode)
            .err()
            .map(|m| m.line)
    }

    #[test]
    fn modes() {
        let ws = Compare::Whitespace;
        assert_eq!(check("1 2\n3\n", "1  2\n3", ws), None);
        assert_eq!(check("1 2\n4\n", "1 2\n3\n", ws), Some(2));
        assert_eq!(check("1 2\n", "1 2\n3\n", ws), Some(2));
        assert_eq!(check("1 2\n", "1 2", Compare::Exact), Some(2));
        let float = Compare::Float {
            abs: 1e-6,
            rel: 1e-6,
        };
        assert_eq!(check("0.3333333\n", "0.33333333", float), None);
        assert_eq!(check("0.334\n", "0.333", float), Some(1));
        assert_eq!(check("abc 1.0\n", "abc 1.0000001", float), None);
        assert_eq!(check("nan\n", "nan", float), None);
    }

    #[test]
    fn non_utf8_output_is_a_difference_not_a_panic() {
        let err = compare(&[0xff, 0xfe, b'\n'], "ok\n", Compare::Whitespace).unwrap_err();
        assert_eq!(err.line, 1);
        assert_eq!(err.expected_line, "ok");
    }
}
