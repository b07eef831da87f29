//! What a run records about its model, so a resumed run can refuse another one: a GGUF file's
//! checksum, or a server's endpoint and model id.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::json;

use crate::{Error, Result};

/// Facts about the model for the configuration and summary: what a resumed run must match.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ModelFacts {
    /// A GGUF file run in this process, identified by its checksum.
    File {
        name: String,
        path: PathBuf,
        sha256: String,
        /// Whether its Q5_0 tensors ran re-encoded as Q8_0 (`--weights widen`).
        widened: bool,
        /// The LoRA adapter applied at load: its file's sha256 and scale.
        #[serde(skip_serializing_if = "Option::is_none")]
        lora: Option<(String, f32)>,
        /// Whether it ran with batch-invariant arithmetic (`--batch-invariant`), which changes
        /// its logits and so can change its answers.
        batch_invariant: bool,
    },
    /// A model behind an OpenAI-compatible server, identified by the endpoint and the server's
    /// model id (the server's weights cannot be checked from here).
    Server { name: String, endpoint: String },
}

impl ModelFacts {
    /// Facts for a resolved model. Known models were verified against their pinned checksum
    /// when installed; other files are hashed here (about a second per 500 MB).
    pub fn of(
        resolved: &crucible_model::ResolvedModel,
        widened: bool,
        lora: Option<&crate::settings::LoraSpec>,
        batch_invariant: bool,
    ) -> Result<ModelFacts> {
        let sha256 = match &resolved.spec {
            crucible_model::ModelSpec::Known(known) => known.sha256.to_owned(),
            _ => sha256_file(&resolved.path)?,
        };
        let lora = match lora {
            Some(lora) => Some((sha256_file(&lora.path)?, lora.scale)),
            None => None,
        };
        Ok(ModelFacts::File {
            name: resolved.name.clone(),
            path: resolved.path.clone(),
            sha256,
            widened,
            lora,
            batch_invariant,
        })
    }

    /// The model's name for reports: the known name, the file, or the server's model id.
    pub fn name(&self) -> &str {
        match self {
            ModelFacts::File { name, .. } | ModelFacts::Server { name, .. } => name,
        }
    }

    /// The run configuration's `model` entry. For a file run as it is, it is the same as before
    /// servers, widened weights, adapters and batch-invariant arithmetic were supported, so
    /// older run directories still resume.
    pub(crate) fn config(&self) -> serde_json::Value {
        let mut config = self.base_config();
        if let ModelFacts::File {
            lora,
            batch_invariant,
            ..
        } = self
        {
            if let Some((sha256, scale)) = lora {
                config["lora"] = json!({"sha256": sha256, "scale": scale});
            }
            if *batch_invariant {
                config["arithmetic"] = json!("batch-invariant");
            }
        }
        config
    }

    /// The entry without a LoRA adapter, as runs recorded it before adapters existed.
    fn base_config(&self) -> serde_json::Value {
        match self {
            ModelFacts::File {
                name,
                sha256,
                widened: true,
                ..
            } => json!({"name": name, "sha256": sha256, "weights": "q5_0 widened to q8_0"}),
            ModelFacts::File { name, sha256, .. } => json!({"name": name, "sha256": sha256}),
            ModelFacts::Server { name, endpoint } => json!({"name": name, "endpoint": endpoint}),
        }
    }

    pub(crate) fn sha256(&self) -> Option<String> {
        match self {
            ModelFacts::File { sha256, .. } => Some(sha256.clone()),
            ModelFacts::Server { .. } => None,
        }
    }
}

fn sha256_file(path: &Path) -> Result<String> {
    use sha2::Digest;
    use std::io::Read;
    let io_err = |source| Error::Io {
        path: path.to_owned(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io_err)?;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let read = file.read(&mut buf).map_err(io_err)?;
        if read == 0 {
            break;
        }
        hasher.update(&buf[..read]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(batch_invariant: bool) -> ModelFacts {
        ModelFacts::File {
            name: "m".into(),
            path: "m.gguf".into(),
            sha256: "ab".into(),
            widened: false,
            lora: None,
            batch_invariant,
        }
    }

    #[test]
    fn batch_invariant_arithmetic_is_part_of_the_configuration() {
        // The default mode's entry is the one runs recorded before the mode existed.
        assert_eq!(file(false).config(), json!({"name": "m", "sha256": "ab"}));
        assert_eq!(
            file(true).config(),
            json!({"name": "m", "sha256": "ab", "arithmetic": "batch-invariant"})
        );
    }
}
