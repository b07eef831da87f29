//! Python's string semantics where the reference implementations depend on them: whitespace, `split`, `strip`, slicing by code point.

/// Whether Python's `str.isspace` holds for `c`: Unicode White_Space plus the four ASCII
/// separators U+001C..U+001F, which Python also counts.
pub(crate) fn is_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Python's `s.split()`: runs of whitespace separate tokens; no empty tokens.
pub(crate) fn split(s: &str) -> Vec<&str> {
    s.split(is_space)
        .filter(|token| !token.is_empty())
        .collect()
}

/// Python's `s.strip()`.
pub(crate) fn strip(s: &str) -> &str {
    s.trim_matches(is_space)
}

/// Python's `s[start:end]` on code points, with out-of-range bounds clamped as Python does.
pub(crate) fn slice_chars(s: &str, start: usize, end: Option<usize>) -> &str {
    if s.is_ascii() {
        let end = end.unwrap_or(s.len()).min(s.len());
        let start = start.min(end);
        return &s[start..end];
    }
    let byte_at = |chars: usize| {
        s.char_indices()
            .nth(chars)
            .map_or(s.len(), |(byte, _)| byte)
    };
    let start_byte = byte_at(start);
    let end_byte = end.map_or(s.len(), byte_at).max(start_byte);
    &s[start_byte..end_byte]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_and_strip_follow_python() {
        assert_eq!(split("  a\tb\u{1f}c\u{a0}d \n"), ["a", "b", "c", "d"]);
        assert_eq!(strip("\u{1c} x \u{85}"), "x");
        assert!(split(" \n\t").is_empty());
    }

    #[test]
    fn slicing_counts_code_points_and_clamps() {
        assert_eq!(slice_chars("abcdef", 2, Some(4)), "cd");
        assert_eq!(slice_chars("abc", 5, Some(9)), "");
        assert_eq!(slice_chars("héllo", 1, Some(3)), "él");
        assert_eq!(slice_chars("héllo", 3, None), "lo");
        assert_eq!(slice_chars("héllo", 4, Some(2)), "");
    }
}
