//! Stop sequences over streamed text, including stops that span token boundaries.

/// Finds stop sequences in a growing text and says how much of it is safe to stream.
#[derive(Debug, Clone, Default)]
pub struct StopMatcher {
    stops: Vec<String>,
    longest: usize,
}

impl StopMatcher {
    /// A matcher for `stops` (empty strings are ignored; `GenParams::validate` rejects them).
    pub fn new(stops: &[String]) -> StopMatcher {
        let stops: Vec<String> = stops.iter().filter(|s| !s.is_empty()).cloned().collect();
        let longest = stops.iter().map(String::len).max().unwrap_or(0);
        StopMatcher { stops, longest }
    }

    /// Byte offset of the earliest stop sequence in `text`, searching only where a stop could
    /// end after byte `new_from` (the text before that was already searched).
    pub fn find(&self, text: &str, new_from: usize) -> Option<usize> {
        if self.stops.is_empty() {
            return None;
        }
        let start = floor_char_boundary(text, new_from.saturating_sub(self.longest));
        let window = &text[start..];
        self.stops
            .iter()
            .filter_map(|stop| window.find(stop.as_str()))
            .min()
            .map(|pos| start + pos)
    }

    /// Length of the prefix of `text` that cannot be the start of a stop sequence, i.e. what
    /// can be shown to the user now without ever having to take it back.
    pub fn safe_len(&self, text: &str) -> usize {
        let mut safe = text.len();
        for stop in &self.stops {
            // The longest suffix of `text` that is a proper prefix of `stop`.
            let max = stop.len().saturating_sub(1).min(text.len());
            for len in (1..=max).rev() {
                let from = text.len() - len;
                if text.is_char_boundary(from) && stop.starts_with(&text[from..]) {
                    safe = safe.min(from);
                    break;
                }
            }
        }
        safe
    }
}

fn floor_char_boundary(text: &str, mut idx: usize) -> usize {
    while idx > 0 && !text.is_char_boundary(idx) {
        idx -= 1;
    }
    idx
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matcher(stops: &[&str]) -> StopMatcher {
        StopMatcher::new(&stops.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn finds_earliest_stop() {
        let m = matcher(&["```", "\ndef "]);
        assert_eq!(m.find("x = 1\n```\nmore", 0), Some(6));
        assert_eq!(m.find("a\ndef b```", 0), Some(1));
        assert_eq!(m.find("nothing here", 0), None);
    }

    #[test]
    fn stop_spanning_chunks_is_found_from_the_new_offset() {
        let m = matcher(&["```"]);
        // "``" arrived earlier, "`" is new: the search window reaches back far enough.
        assert_eq!(m.find("code\n```", 7), Some(5));
    }

    #[test]
    fn safe_len_holds_back_possible_stop_prefixes() {
        let m = matcher(&["```"]);
        assert_eq!(m.safe_len("abc"), 3);
        assert_eq!(m.safe_len("abc`"), 3);
        assert_eq!(m.safe_len("abc``"), 3);
        assert_eq!(matcher(&[]).safe_len("abc``"), 5);
        // Multi-byte text is cut on character boundaries only.
        assert_eq!(matcher(&["é!"]).safe_len("aé"), 1);
    }
}
