//! The benchmarks Crucible knows: names, where their files live, and which languages they offer.

use std::fmt;
use std::path::{Path, PathBuf};

use crucible_types::Language;

use crate::{Error, Result};

/// A benchmark, by name, or a user task file.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum BenchmarkName {
    /// OpenAI HumanEval, 164 Python problems.
    HumanEval,
    /// EvalPlus HumanEval+ (base and plus inputs).
    HumanEvalPlus,
    /// MBPP sanitized, 427 problems (headline numbers).
    Mbpp,
    /// MBPP full, 974 problems.
    MbppFull,
    /// Full MBPP's conventional test split: task ids 11-510, 500 problems (the set
    /// bigcode-evaluation-harness calls `mbpp`, and most papers' "MBPP" figures).
    MbppTest,
    /// EvalPlus MBPP+ (399 problems, base and plus inputs).
    MbppPlus,
    /// HumanEval-X in one of six languages.
    HumanEvalX,
    /// MultiPL-E HumanEval in Rust (evaluation only).
    HumanEvalRs,
    /// MultiPL-E MBPP in Rust (evaluation only).
    MbppRs,
    /// The stdin/stdout problems of the APPS subset with hidden tests.
    Apps,
    /// Project CodeNet statements with their samples (no hidden tests).
    CodeNet,
    /// OpenAI HumanEval-infilling: a gap cut out of a HumanEval solution, filled with the
    /// model's fill-in-the-middle tokens and judged by HumanEval's tests.
    HumanEvalInfilling(InfillSplit),
    /// A user task file in the `generate --task` format.
    TaskFile(PathBuf),
}

/// The files of HumanEval-infilling: how the gaps were cut (Bavarian et al., 2022).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InfillSplit {
    /// One whole line of a solution.
    SingleLine,
    /// Several consecutive whole lines.
    MultiLine,
    /// A span starting and ending anywhere in a solution.
    RandomSpan,
    /// The random spans, one per problem (164 tasks).
    RandomSpanLight,
}

impl InfillSplit {
    /// Whether the gap is exactly one line: the answer then ends at its first newline.
    pub fn one_line(self) -> bool {
        self == InfillSplit::SingleLine
    }
}

/// Static facts about a named benchmark.
#[derive(Debug, Clone, Copy)]
pub struct BenchmarkInfo {
    /// Folder under the data directory.
    pub folder: &'static str,
    /// The file read, inside the folder.
    pub file: &'static str,
    /// Number of tasks the loader yields from the shipped file.
    pub tasks: usize,
    /// Languages offered; the first is the default.
    pub languages: &'static [Language],
    /// Whether hidden tests exist (false: the visible samples are all there is).
    pub hidden_tests: bool,
    /// Whether the benchmark ships reference solutions.
    pub references: bool,
    /// One line for `crucible data list`.
    pub summary: &'static str,
}

/// Languages a stdin/stdout program may be written in; C++ first (the default for these sets).
const STDIO_LANGUAGES: &[Language] = &[
    Language::Cpp,
    Language::C,
    Language::Python,
    Language::Rust,
    Language::Java,
    Language::JavaScript,
    Language::Go,
];

const HUMANEVAL_X_LANGUAGES: &[Language] = &[
    Language::Cpp,
    Language::Go,
    Language::Java,
    Language::JavaScript,
    Language::Python,
    Language::Rust,
];

impl BenchmarkName {
    /// Every named benchmark, in the order `crucible data list` shows them.
    pub const ALL: [BenchmarkName; 15] = [
        BenchmarkName::HumanEval,
        BenchmarkName::HumanEvalPlus,
        BenchmarkName::Mbpp,
        BenchmarkName::MbppFull,
        BenchmarkName::MbppTest,
        BenchmarkName::MbppPlus,
        BenchmarkName::HumanEvalX,
        BenchmarkName::HumanEvalRs,
        BenchmarkName::MbppRs,
        BenchmarkName::Apps,
        BenchmarkName::CodeNet,
        BenchmarkName::HumanEvalInfilling(InfillSplit::SingleLine),
        BenchmarkName::HumanEvalInfilling(InfillSplit::MultiLine),
        BenchmarkName::HumanEvalInfilling(InfillSplit::RandomSpan),
        BenchmarkName::HumanEvalInfilling(InfillSplit::RandomSpanLight),
    ];

    /// Parse a name as typed on the command line. Anything that looks like a path (contains a
    /// path separator or ends in `.jsonl`) is a user task file.
    pub fn parse(given: &str) -> Result<BenchmarkName> {
        let lower = given.trim().to_ascii_lowercase();
        let name = match lower.as_str() {
            "humaneval" => BenchmarkName::HumanEval,
            "humaneval-plus" | "humaneval+" | "humanevalplus" => BenchmarkName::HumanEvalPlus,
            "mbpp" | "mbpp-sanitized" => BenchmarkName::Mbpp,
            "mbpp-full" => BenchmarkName::MbppFull,
            "mbpp-test" | "mbpp-500" => BenchmarkName::MbppTest,
            "mbpp-plus" | "mbpp+" | "mbppplus" => BenchmarkName::MbppPlus,
            "humaneval-x" => BenchmarkName::HumanEvalX,
            "humaneval-rs" | "multipl-e-humaneval-rs" | "multiple-rs" | "multiple-rust" => {
                BenchmarkName::HumanEvalRs
            }
            "mbpp-rs" | "multipl-e-mbpp-rs" => BenchmarkName::MbppRs,
            "apps" => BenchmarkName::Apps,
            "codenet" => BenchmarkName::CodeNet,
            "humaneval-infilling-single-line" | "humaneval-single-line-infilling" => {
                BenchmarkName::HumanEvalInfilling(InfillSplit::SingleLine)
            }
            "humaneval-infilling-multi-line" | "humaneval-multi-line-infilling" => {
                BenchmarkName::HumanEvalInfilling(InfillSplit::MultiLine)
            }
            "humaneval-infilling-random-span" | "humaneval-random-span-infilling" => {
                BenchmarkName::HumanEvalInfilling(InfillSplit::RandomSpan)
            }
            "humaneval-infilling-random-span-light" | "humaneval-random-span-infilling-light" => {
                BenchmarkName::HumanEvalInfilling(InfillSplit::RandomSpanLight)
            }
            "humaneval-infilling" | "humaneval-fim" => {
                return Err(Error::UnknownBenchmark {
                    given: given.to_owned(),
                    known: "HumanEval-infilling is four benchmarks, one per way its gaps were cut: humaneval-infilling-single-line, humaneval-infilling-multi-line, humaneval-infilling-random-span, humaneval-infilling-random-span-light".to_owned(),
                });
            }
            _ if given.contains('/')
                || given.ends_with(".jsonl")
                || given.ends_with(".json")
                || Path::new(given).is_file() =>
            {
                BenchmarkName::TaskFile(PathBuf::from(given))
            }
            _ if lower.starts_with("multiple-") => {
                return Err(Error::UnknownBenchmark {
                    given: given.to_owned(),
                    known: format!(
                        "bigcode-evaluation-harness's `multiple-<lang>` tasks are MultiPL-E, and Crucible ships MultiPL-E only for Rust (`multiple-rs`, `mbpp-rs`); \
                         for {} use `humaneval-x --lang {}` (HumanEval-X: another translation of HumanEval, so its scores are not comparable with MultiPL-E's)",
                        &lower["multiple-".len()..],
                        multiple_to_humaneval_x(&lower["multiple-".len()..])
                            .unwrap_or("cpp|go|java|javascript|python")
                    ),
                });
            }
            _ => {
                let known: Vec<&str> = Self::ALL.iter().map(BenchmarkName::as_str).collect();
                return Err(Error::UnknownBenchmark {
                    given: given.to_owned(),
                    known: format!(
                        "{}, or a path to a task file (.json or .jsonl); bigcode-evaluation-harness names `humanevalplus`, `mbppplus` and `multiple-rs` work too, and its `mbpp` is `mbpp-test`",
                        known.join(", ")
                    ),
                });
            }
        };
        Ok(name)
    }

    /// The canonical name (a task file shows as `tasks`).
    pub fn as_str(&self) -> &'static str {
        match self {
            BenchmarkName::HumanEval => "humaneval",
            BenchmarkName::HumanEvalPlus => "humaneval-plus",
            BenchmarkName::Mbpp => "mbpp",
            BenchmarkName::MbppFull => "mbpp-full",
            BenchmarkName::MbppTest => "mbpp-test",
            BenchmarkName::MbppPlus => "mbpp-plus",
            BenchmarkName::HumanEvalX => "humaneval-x",
            BenchmarkName::HumanEvalRs => "humaneval-rs",
            BenchmarkName::MbppRs => "mbpp-rs",
            BenchmarkName::Apps => "apps",
            BenchmarkName::CodeNet => "codenet",
            BenchmarkName::HumanEvalInfilling(split) => match split {
                InfillSplit::SingleLine => "humaneval-infilling-single-line",
                InfillSplit::MultiLine => "humaneval-infilling-multi-line",
                InfillSplit::RandomSpan => "humaneval-infilling-random-span",
                InfillSplit::RandomSpanLight => "humaneval-infilling-random-span-light",
            },
            BenchmarkName::TaskFile(_) => "tasks",
        }
    }

    /// Facts about a named benchmark (`None` for task files).
    pub fn info(&self) -> Option<BenchmarkInfo> {
        let info =
            |folder, file, tasks, languages, hidden_tests, references, summary| BenchmarkInfo {
                folder,
                file,
                tasks,
                languages,
                hidden_tests,
                references,
                summary,
            };
        let python: &'static [Language] = &[Language::Python];
        let rust: &'static [Language] = &[Language::Rust];
        Some(match self {
            BenchmarkName::HumanEval => info(
                "humaneval",
                "HumanEval.jsonl.gz",
                164,
                python,
                true,
                true,
                "OpenAI HumanEval",
            ),
            BenchmarkName::HumanEvalPlus => info(
                "humaneval-plus",
                "HumanEvalPlus.jsonl.gz",
                164,
                python,
                true,
                true,
                "EvalPlus HumanEval+ v0.1.10, base and plus",
            ),
            BenchmarkName::Mbpp => info(
                "mbpp",
                "sanitized-mbpp.json.gz",
                427,
                python,
                true,
                true,
                "MBPP sanitized (headline)",
            ),
            BenchmarkName::MbppFull => info(
                "mbpp",
                "mbpp.jsonl.gz",
                974,
                python,
                true,
                true,
                "MBPP full",
            ),
            BenchmarkName::MbppTest => info(
                "mbpp",
                "mbpp.jsonl.gz",
                500,
                python,
                true,
                true,
                "MBPP full, test split (ids 11-510; bigcode's `mbpp`)",
            ),
            BenchmarkName::MbppPlus => info(
                "mbpp-plus",
                "MbppPlus.jsonl.gz",
                399,
                python,
                true,
                true,
                "EvalPlus MBPP+ (v0.1.0 task set), base and plus",
            ),
            BenchmarkName::HumanEvalX => info(
                "humaneval-x",
                "humaneval_{lang}.jsonl.gz",
                164,
                HUMANEVAL_X_LANGUAGES,
                true,
                true,
                "HumanEval-X (--lang cpp|go|java|javascript|python|rust)",
            ),
            BenchmarkName::HumanEvalRs => info(
                "multipl-e-rust",
                "humaneval-rs.jsonl.gz",
                156,
                rust,
                true,
                false,
                "MultiPL-E HumanEval in Rust (evaluation only)",
            ),
            BenchmarkName::MbppRs => info(
                "multipl-e-rust",
                "mbpp-rs.jsonl.gz",
                354,
                rust,
                true,
                false,
                "MultiPL-E MBPP in Rust (evaluation only)",
            ),
            BenchmarkName::Apps => info(
                "apps-selected150",
                "selected150.jsonl.gz",
                49,
                STDIO_LANGUAGES,
                true,
                false,
                "APPS stdin/stdout problems with hidden tests (any --lang)",
            ),
            BenchmarkName::CodeNet => info(
                "codenet",
                "codenet_problems.jsonl.gz",
                3816,
                STDIO_LANGUAGES,
                false,
                false,
                "Project CodeNet statements with samples (samples only)",
            ),
            BenchmarkName::HumanEvalInfilling(split) => info(
                crate::load::infilling::FOLDER,
                match split {
                    InfillSplit::SingleLine => crate::load::infilling::FILES[0],
                    InfillSplit::MultiLine => crate::load::infilling::FILES[1],
                    InfillSplit::RandomSpan => crate::load::infilling::FILES[2],
                    InfillSplit::RandomSpanLight => crate::load::infilling::FILES[3],
                },
                match split {
                    InfillSplit::SingleLine => 1033,
                    InfillSplit::MultiLine => 5815,
                    InfillSplit::RandomSpan => 1640,
                    InfillSplit::RandomSpanLight => 164,
                },
                python,
                true,
                true,
                match split {
                    InfillSplit::SingleLine => {
                        "HumanEval-infilling, one-line gaps (needs FIM tokens)"
                    }
                    InfillSplit::MultiLine => {
                        "HumanEval-infilling, multi-line gaps (needs FIM tokens)"
                    }
                    InfillSplit::RandomSpan => {
                        "HumanEval-infilling, random spans (needs FIM tokens)"
                    }
                    InfillSplit::RandomSpanLight => {
                        "HumanEval-infilling, one random span per problem (needs FIM tokens)"
                    }
                },
            ),
            BenchmarkName::TaskFile(_) => return None,
        })
    }

    /// The language used when none is asked for.
    pub fn default_language(&self) -> Language {
        self.info()
            .map_or(Language::Python, |info| info.languages[0])
    }

    /// Check `language` against what the benchmark offers (`None` picks the default).
    pub fn language(&self, language: Option<Language>) -> Result<Language> {
        let Some(info) = self.info() else {
            return Ok(language.unwrap_or(Language::Python));
        };
        let Some(language) = language else {
            return Ok(info.languages[0]);
        };
        if info.languages.contains(&language) {
            return Ok(language);
        }
        let available: Vec<&str> = info.languages.iter().map(|l| l.name()).collect();
        Err(Error::UnsupportedLanguage {
            benchmark: self.to_string(),
            language: language.to_string(),
            available: available.join(", "),
        })
    }

    /// The data file for `language`, relative to the data directory.
    pub fn relative_path(&self, language: Language) -> Option<PathBuf> {
        let info = self.info()?;
        let file = info.file.replace("{lang}", humaneval_x_suffix(language));
        Some(Path::new(info.folder).join(file))
    }
}

/// The HumanEval-X `--lang` for a MultiPL-E language code as bigcode names it (`multiple-cpp`).
fn multiple_to_humaneval_x(code: &str) -> Option<&'static str> {
    Some(match code {
        "cpp" => "cpp",
        "go" => "go",
        "java" => "java",
        "js" => "javascript",
        "py" => "python",
        _ => return None,
    })
}

/// HumanEval-X file suffix of a language.
pub(crate) fn humaneval_x_suffix(language: Language) -> &'static str {
    match language {
        Language::JavaScript => "js",
        other => other.name(),
    }
}

impl fmt::Display for BenchmarkName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BenchmarkName::TaskFile(path) => write!(f, "{}", path.display()),
            other => f.write_str(other.as_str()),
        }
    }
}

/// Where benchmark files are looked for: the data directory first, then the cache that
/// `crucible data pull` fills.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataDirs {
    /// `--data-dir`, `CRUCIBLE_DATA`, or the `shared/data` folder found next to the repository.
    pub primary: Option<PathBuf>,
    /// `CRUCIBLE_HOME/data`, where pulled files are cached.
    pub pulled: Option<PathBuf>,
}

impl DataDirs {
    /// Resolve the directories: `explicit` (from `--data-dir`) wins, then `env_data` (the value of
    /// `CRUCIBLE_DATA`), then a `shared/data` folder holding an `INDEX.md` next to `start` or one
    /// of its ancestors (the layout of a development checkout: `<root>/main` beside
    /// `<root>/shared/data`). `home` is `CRUCIBLE_HOME`, whose `data` folder holds pulled files.
    pub fn resolve(
        explicit: Option<&Path>,
        env_data: Option<&Path>,
        start: &Path,
        home: Option<&Path>,
    ) -> DataDirs {
        let primary = explicit
            .or(env_data)
            .map(Path::to_path_buf)
            .or_else(|| discover_shared_data(start));
        DataDirs {
            primary,
            pulled: home.map(|home| home.join("data")),
        }
    }

    /// The path of a benchmark file: the first candidate that exists, else an error naming the
    /// primary location.
    pub fn find(&self, benchmark: &BenchmarkName, relative: &Path) -> Result<PathBuf> {
        let candidates = [&self.primary, &self.pulled];
        for dir in candidates.into_iter().flatten() {
            let path = dir.join(relative);
            if path.is_file() {
                return Ok(path);
            }
        }
        match self.primary.as_ref().or(self.pulled.as_ref()) {
            Some(dir) => Err(Error::MissingData {
                benchmark: benchmark.to_string(),
                path: dir.join(relative),
                command: match crate::catalog::dataset_of(relative) {
                    Some(set) => format!("crucible data pull {}", set.name),
                    None => "crucible data pull all".to_owned(),
                },
            }),
            None => Err(Error::NoDataDir),
        }
    }
}

/// Look for `<ancestor>/../shared/data/INDEX.md` (and `<ancestor>/shared/data/INDEX.md`).
fn discover_shared_data(start: &Path) -> Option<PathBuf> {
    for ancestor in start.ancestors() {
        for candidate in [
            ancestor.join("shared").join("data"),
            ancestor.parent()?.join("shared").join("data"),
        ] {
            if candidate.join("INDEX.md").is_file() {
                return Some(candidate);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for name in BenchmarkName::ALL {
            assert_eq!(BenchmarkName::parse(name.as_str()).unwrap(), name);
        }
        assert_eq!(
            BenchmarkName::parse("HumanEval+").unwrap(),
            BenchmarkName::HumanEvalPlus
        );
        assert_eq!(
            BenchmarkName::parse("my/tasks.jsonl").unwrap(),
            BenchmarkName::TaskFile("my/tasks.jsonl".into())
        );
        let err = BenchmarkName::parse("humaneval-y").unwrap_err().to_string();
        assert!(
            err.starts_with("unknown benchmark `humaneval-y`; known: humaneval, "),
            "{err}"
        );
    }

    #[test]
    fn infilling_is_named_by_split() {
        assert_eq!(
            BenchmarkName::parse("humaneval-single-line-infilling").unwrap(),
            BenchmarkName::HumanEvalInfilling(InfillSplit::SingleLine)
        );
        let light = BenchmarkName::HumanEvalInfilling(InfillSplit::RandomSpanLight);
        assert_eq!(
            light.relative_path(Language::Python).unwrap(),
            Path::new("humaneval-infilling/HumanEval-RandomSpanInfillingLight.jsonl.gz")
        );
        // The data set's name alone does not say which gaps: the error lists the four.
        let err = BenchmarkName::parse("humaneval-infilling")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("humaneval-infilling-single-line, humaneval-infilling-multi-line"),
            "{err}"
        );
        assert!(InfillSplit::SingleLine.one_line() && !InfillSplit::MultiLine.one_line());
    }

    #[test]
    fn bigcode_task_names() {
        assert_eq!(
            BenchmarkName::parse("mbpp-500").unwrap(),
            BenchmarkName::MbppTest
        );
        assert_eq!(
            BenchmarkName::parse("multiple-rs").unwrap(),
            BenchmarkName::HumanEvalRs
        );
        // MultiPL-E in other languages is not shipped: the error names what is closest.
        let err = BenchmarkName::parse("multiple-js").unwrap_err().to_string();
        assert!(
            err.contains("Crucible ships MultiPL-E only for Rust")
                && err.contains("`humaneval-x --lang javascript`"),
            "{err}"
        );
        let err = BenchmarkName::parse("multiple-lua")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("for lua use `humaneval-x --lang cpp|go"),
            "{err}"
        );
    }

    #[test]
    fn languages() {
        let hx = BenchmarkName::HumanEvalX;
        assert_eq!(hx.language(None).unwrap(), Language::Cpp);
        assert_eq!(hx.language(Some(Language::Go)).unwrap(), Language::Go);
        assert_eq!(
            hx.language(Some(Language::C)).unwrap_err().to_string(),
            "benchmark `humaneval-x` has no `c` version; available: cpp, go, java, javascript, python, rust"
        );
        assert_eq!(
            hx.relative_path(Language::JavaScript).unwrap(),
            Path::new("humaneval-x/humaneval_js.jsonl.gz")
        );
        assert_eq!(BenchmarkName::Apps.default_language(), Language::Cpp);
    }

    #[test]
    fn data_dir_resolution() {
        let tmp = tempfile::tempdir().unwrap();
        let shared = tmp.path().join("shared/data");
        std::fs::create_dir_all(&shared).unwrap();
        std::fs::write(shared.join("INDEX.md"), "x").unwrap();
        let checkout = tmp.path().join("main/crates/x");
        std::fs::create_dir_all(&checkout).unwrap();
        let found = DataDirs::resolve(None, None, &checkout, None);
        assert_eq!(found.primary.as_deref(), Some(shared.as_path()));
        let explicit = DataDirs::resolve(
            Some(Path::new("/d")),
            Some(Path::new("/e")),
            &checkout,
            None,
        );
        assert_eq!(explicit.primary.as_deref(), Some(Path::new("/d")));
        let missing = found
            .find(
                &BenchmarkName::HumanEval,
                Path::new("humaneval/HumanEval.jsonl.gz"),
            )
            .unwrap_err();
        assert!(matches!(missing, Error::MissingData { .. }));
        assert!(
            missing
                .to_string()
                .ends_with("get it with `crucible data pull humaneval`"),
            "{missing}"
        );
    }
}
