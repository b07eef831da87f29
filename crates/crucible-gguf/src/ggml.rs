//! ggml tensor types and llama.cpp file types (`general.file_type`): ids, names and block sizes.

use std::fmt;

/// A ggml tensor element type, kept as the raw id so that files with types newer than this
/// table still parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GgmlType(pub u32);

/// A llama.cpp file type (`general.file_type`): the quantisation recipe of the whole file, such
/// as `Q4_K_M`, kept as the raw id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileType(pub u32);

/// `(id, name, elements per block, bytes per block)` for every ggml type in use. Ids 4, 5, 31-33
/// and 36-38 were retired upstream and are absent on purpose.
const GGML_TYPES: &[(u32, &str, u64, u64)] = &[
    (0, "F32", 1, 4),
    (1, "F16", 1, 2),
    (2, "Q4_0", 32, 18),
    (3, "Q4_1", 32, 20),
    (6, "Q5_0", 32, 22),
    (7, "Q5_1", 32, 24),
    (8, "Q8_0", 32, 34),
    (9, "Q8_1", 32, 36),
    (10, "Q2_K", 256, 84),
    (11, "Q3_K", 256, 110),
    (12, "Q4_K", 256, 144),
    (13, "Q5_K", 256, 176),
    (14, "Q6_K", 256, 210),
    (15, "Q8_K", 256, 292),
    (16, "IQ2_XXS", 256, 66),
    (17, "IQ2_XS", 256, 74),
    (18, "IQ3_XXS", 256, 98),
    (19, "IQ1_S", 256, 50),
    (20, "IQ4_NL", 32, 18),
    (21, "IQ3_S", 256, 110),
    (22, "IQ2_S", 256, 82),
    (23, "IQ4_XS", 256, 136),
    (24, "I8", 1, 1),
    (25, "I16", 1, 2),
    (26, "I32", 1, 4),
    (27, "I64", 1, 8),
    (28, "F64", 1, 8),
    (29, "IQ1_M", 256, 56),
    (30, "BF16", 1, 2),
    (34, "TQ1_0", 256, 54),
    (35, "TQ2_0", 256, 66),
    (39, "MXFP4", 32, 17),
];

/// `(id, name)` of llama.cpp's `llama_ftype`. Retired ids (5, 6, 33-35) are absent.
const FILE_TYPES: &[(u32, &str)] = &[
    (0, "F32"),
    (1, "F16"),
    (2, "Q4_0"),
    (3, "Q4_1"),
    (4, "Q4_1_SOME_F16"),
    (7, "Q8_0"),
    (8, "Q5_0"),
    (9, "Q5_1"),
    (10, "Q2_K"),
    (11, "Q3_K_S"),
    (12, "Q3_K_M"),
    (13, "Q3_K_L"),
    (14, "Q4_K_S"),
    (15, "Q4_K_M"),
    (16, "Q5_K_S"),
    (17, "Q5_K_M"),
    (18, "Q6_K"),
    (19, "IQ2_XXS"),
    (20, "IQ2_XS"),
    (21, "Q2_K_S"),
    (22, "IQ3_XS"),
    (23, "IQ3_XXS"),
    (24, "IQ1_S"),
    (25, "IQ4_NL"),
    (26, "IQ3_S"),
    (27, "IQ3_M"),
    (28, "IQ2_S"),
    (29, "IQ2_M"),
    (30, "IQ4_XS"),
    (31, "IQ1_M"),
    (32, "BF16"),
    (36, "TQ1_0"),
    (37, "TQ2_0"),
    (38, "MXFP4_MOE"),
];

impl GgmlType {
    /// The upstream name (`Q4_K`, `F32`), if the id is known.
    pub fn name(self) -> Option<&'static str> {
        lookup_ggml(self.0).map(|(_, name, _, _)| name)
    }

    /// `(elements per block, bytes per block)`, if the id is known.
    pub fn block(self) -> Option<(u64, u64)> {
        lookup_ggml(self.0).map(|(_, _, elements, bytes)| (elements, bytes))
    }
}

impl FileType {
    /// The upstream name without the `MOSTLY_` prefix (`Q4_K_M`), if the id is known.
    pub fn name(self) -> Option<&'static str> {
        FILE_TYPES
            .iter()
            .find(|(id, _)| *id == self.0)
            .map(|(_, name)| *name)
    }
}

impl fmt::Display for GgmlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "ggml type {}", self.0),
        }
    }
}

impl fmt::Display for FileType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "file type {}", self.0),
        }
    }
}

fn lookup_ggml(id: u32) -> Option<(u32, &'static str, u64, u64)> {
    GGML_TYPES.iter().copied().find(|entry| entry.0 == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_blocks_of_common_types() {
        assert_eq!(GgmlType(12).name(), Some("Q4_K"));
        assert_eq!(GgmlType(12).block(), Some((256, 144)));
        assert_eq!(GgmlType(0).block(), Some((1, 4)));
        assert_eq!(GgmlType(4).name(), None);
        assert_eq!(GgmlType(4).to_string(), "ggml type 4");
        assert_eq!(FileType(15).to_string(), "Q4_K_M");
        assert_eq!(FileType(1000).to_string(), "file type 1000");
    }

    #[test]
    fn tables_have_unique_ids() {
        let mut ids: Vec<u32> = GGML_TYPES.iter().map(|entry| entry.0).collect();
        ids.dedup();
        assert_eq!(ids.len(), GGML_TYPES.len());
        let mut ids: Vec<u32> = FILE_TYPES.iter().map(|entry| entry.0).collect();
        ids.dedup();
        assert_eq!(ids.len(), FILE_TYPES.len());
    }
}
