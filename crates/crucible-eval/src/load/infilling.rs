//! HumanEval-infilling (fill-in-the-middle tasks cut from HumanEval): read its four files for
//! decontamination. Crucible does not evaluate on it, so these are plain records, not tasks.

use std::path::Path;

use serde::Deserialize;

use crate::benchmark::DataDirs;
use crate::task::Reject;
use crate::{Error, Result};

/// The folder under the data directory and its files.
pub const FOLDER: &str = "humaneval-infilling";
pub const FILES: [&str; 4] = [
    "HumanEval-SingleLineInfilling.jsonl.gz",
    "HumanEval-MultiLineInfilling.jsonl.gz",
    "HumanEval-RandomSpanInfilling.jsonl.gz",
    "HumanEval-RandomSpanInfillingLight.jsonl.gz",
];

/// One infilling record: the code before the hole, the hole's reference text, the code after.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct InfillingRecord {
    pub task_id: String,
    pub prompt: String,
    pub suffix: String,
    pub canonical_solution: String,
}

/// Every record of the four files, with the lines that could not be used.
pub fn load_infilling(dirs: &DataDirs) -> Result<(Vec<InfillingRecord>, Vec<Reject>)> {
    let mut records = Vec::new();
    let mut rejects = Vec::new();
    let name = crate::BenchmarkName::TaskFile(FOLDER.into());
    for file in FILES {
        let path = dirs.find(&name, &Path::new(FOLDER).join(file))?;
        let text = super::read_text(&path)?;
        if text.trim().is_empty() {
            return Err(Error::EmptyFile { path });
        }
        let (parsed, bad) = super::jsonl_records::<InfillingRecord>(&text);
        records.extend(parsed.into_iter().map(|(_, record)| record));
        rejects.extend(bad);
    }
    Ok((records, rejects))
}
