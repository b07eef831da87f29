//! The programming languages Crucible generates and runs.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A language Crucible can generate code in and execute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    Python,
    C,
    Cpp,
    Rust,
    Java,
    JavaScript,
    Go,
}

/// A language name Crucible does not support.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown language `{given}`; supported: {}", Language::names().join(", "))]
pub struct UnknownLanguage {
    /// What the user wrote.
    pub given: String,
}

impl Language {
    /// Every supported language, in the order help texts list them.
    pub const ALL: [Language; 7] = [
        Language::Python,
        Language::C,
        Language::Cpp,
        Language::Rust,
        Language::Java,
        Language::JavaScript,
        Language::Go,
    ];

    /// The canonical lowercase name, as accepted by `--lang` and written to JSON.
    pub fn name(self) -> &'static str {
        match self {
            Language::Python => "python",
            Language::C => "c",
            Language::Cpp => "cpp",
            Language::Rust => "rust",
            Language::Java => "java",
            Language::JavaScript => "javascript",
            Language::Go => "go",
        }
    }

    /// The name people use in prose ("C++", "JavaScript"), for prompts.
    pub fn display_name(self) -> &'static str {
        match self {
            Language::Python => "Python",
            Language::C => "C",
            Language::Cpp => "C++",
            Language::Rust => "Rust",
            Language::Java => "Java",
            Language::JavaScript => "JavaScript",
            Language::Go => "Go",
        }
    }

    /// The canonical names of all languages.
    pub fn names() -> Vec<&'static str> {
        Self::ALL.iter().map(|lang| lang.name()).collect()
    }

    /// The usual source file extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            Language::Python => "py",
            Language::C => "c",
            Language::Cpp => "cpp",
            Language::Rust => "rs",
            Language::Java => "java",
            Language::JavaScript => "js",
            Language::Go => "go",
        }
    }

    /// The tag written after a Markdown code fence for this language.
    pub fn fence_tag(self) -> &'static str {
        match self {
            Language::Cpp => "cpp",
            other => other.name(),
        }
    }

    /// Whether `tag` (a Markdown fence info string, or a user-typed name) denotes this language.
    pub fn matches_tag(self, tag: &str) -> bool {
        Language::from_alias(tag) == Some(self)
    }

    /// Resolve a name or common alias ("py", "c++", "js", "golang", "rs"...), case-insensitively.
    pub fn from_alias(name: &str) -> Option<Language> {
        let lower = name.trim().to_ascii_lowercase();
        let lang = match lower.as_str() {
            "python" | "py" | "python3" => Language::Python,
            "c" => Language::C,
            "cpp" | "c++" | "cxx" | "cc" => Language::Cpp,
            "rust" | "rs" => Language::Rust,
            "java" => Language::Java,
            "javascript" | "js" | "node" | "nodejs" => Language::JavaScript,
            "go" | "golang" => Language::Go,
            _ => return None,
        };
        Some(lang)
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Language {
    type Err = UnknownLanguage;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Language::from_alias(s).ok_or_else(|| UnknownLanguage {
            given: s.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for lang in Language::ALL {
            assert_eq!(lang.name().parse::<Language>(), Ok(lang));
            let json = serde_json::to_string(&lang).unwrap();
            assert_eq!(json, format!("\"{}\"", lang.name()));
        }
    }

    #[test]
    fn aliases() {
        assert_eq!("C++".parse::<Language>(), Ok(Language::Cpp));
        assert_eq!("js".parse::<Language>(), Ok(Language::JavaScript));
        assert_eq!("Golang".parse::<Language>(), Ok(Language::Go));
    }

    #[test]
    fn unknown_lists_supported() {
        let err = "cobol".parse::<Language>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown language `cobol`; supported: python, c, cpp, rust, java, javascript, go"
        );
    }
}
