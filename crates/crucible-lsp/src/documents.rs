//! The open documents, as the client last sent them, and LSP positions (lines and UTF-16
//! code units) turned into byte offsets.

use std::collections::HashMap;

use tower_lsp_server::ls_types::{Position, Uri};

/// Open documents by URI.
#[derive(Debug, Default)]
pub(crate) struct Documents {
    texts: HashMap<Uri, Document>,
}

#[derive(Debug)]
pub(crate) struct Document {
    pub(crate) text: String,
    pub(crate) version: i32,
}

impl Documents {
    pub(crate) fn open(&mut self, uri: Uri, text: String, version: i32) {
        self.texts.insert(uri, Document { text, version });
    }

    /// Replace the text (full synchronisation). A change for a document never opened, or
    /// older than the one held, is refused with the reason.
    pub(crate) fn change(&mut self, uri: &Uri, text: String, version: i32) -> Result<(), String> {
        let Some(document) = self.texts.get_mut(uri) else {
            return Err(format!(
                "didChange for `{}`, which was never opened (send didOpen first)",
                uri.as_str()
            ));
        };
        if version < document.version {
            return Err(format!(
                "didChange for `{}` with version {version}, older than version {} already held",
                uri.as_str(),
                document.version
            ));
        }
        document.text = text;
        document.version = version;
        Ok(())
    }

    pub(crate) fn close(&mut self, uri: &Uri) {
        self.texts.remove(uri);
    }

    pub(crate) fn get(&self, uri: &Uri) -> Option<&Document> {
        self.texts.get(uri)
    }
}

/// The byte offset of `position` in `text`, or why it is not in the text. A character past
/// the end of its line is clamped to the line's end (clients do send those).
pub(crate) fn offset(text: &str, position: Position) -> Result<usize, String> {
    let mut line_start = 0;
    for _ in 0..position.line {
        match text[line_start..].find('\n') {
            Some(at) => line_start += at + 1,
            None => {
                return Err(format!(
                    "line {} is past the end of the document ({} lines)",
                    position.line,
                    text.lines().count()
                ));
            }
        }
    }
    let line_end = text[line_start..]
        .find('\n')
        .map_or(text.len(), |at| line_start + at);
    let mut units = 0u32;
    for (at, ch) in text[line_start..line_end].char_indices() {
        if units >= position.character {
            return Ok(line_start + at);
        }
        units += ch.len_utf16() as u32;
    }
    Ok(line_end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_utf16_units() {
        let text = "aé😀b\nsecond\n";
        assert_eq!(offset(text, Position::new(0, 0)).unwrap(), 0);
        assert_eq!(offset(text, Position::new(0, 2)).unwrap(), 3);
        // The emoji is two UTF-16 units and four bytes.
        assert_eq!(offset(text, Position::new(0, 4)).unwrap(), 7);
        assert_eq!(offset(text, Position::new(1, 3)).unwrap(), 12);
        assert_eq!(offset(text, Position::new(1, 99)).unwrap(), 15, "clamped");
        assert!(offset(text, Position::new(5, 0)).is_err());
    }
}
