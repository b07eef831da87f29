//! Whether a local backend computes attention with flash attention: a per-load choice, because
//! the faster kernel depends on the workload (issue 18).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// How a local backend computes attention.
///
/// On a CPU, llama.cpp's flash-attention kernel is slower than plain attention for one request
/// decoding over a long context (an editor's follow-up completion: docs/PERFORMANCE.md,
/// "Completion latency through the language server"), but it keeps a multi-token batch's logits
/// nearer to one-token steps', which greedy speculation and prefix reuse rely on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlashAttention {
    /// The backend's own choice (llama.cpp: flash attention where its device supports it,
    /// which includes the CPU). Batch-invariant mode needs it.
    #[default]
    Auto,
    /// Plain attention: a matrix product of queries and keys, softmax, a product with values.
    Off,
}

impl FlashAttention {
    pub const NAMES: [&'static str; 2] = ["auto", "off"];

    pub fn name(self) -> &'static str {
        match self {
            FlashAttention::Auto => "auto",
            FlashAttention::Off => "off",
        }
    }
}

impl fmt::Display for FlashAttention {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A flash-attention choice that is not one of [`FlashAttention::NAMES`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown flash-attention choice `{0}`; use auto or off")]
pub struct UnknownFlashAttention(pub String);

impl FromStr for FlashAttention {
    type Err = UnknownFlashAttention;

    fn from_str(text: &str) -> Result<FlashAttention, UnknownFlashAttention> {
        match text {
            "auto" => Ok(FlashAttention::Auto),
            "off" => Ok(FlashAttention::Off),
            other => Err(UnknownFlashAttention(other.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back_and_others_are_refused() {
        for choice in [FlashAttention::Auto, FlashAttention::Off] {
            assert_eq!(choice.name().parse::<FlashAttention>(), Ok(choice));
            assert_eq!(choice.to_string(), choice.name());
        }
        assert_eq!(
            FlashAttention::NAMES,
            [FlashAttention::Auto.name(), FlashAttention::Off.name()]
        );
        assert_eq!(
            "on".parse::<FlashAttention>(),
            Err(UnknownFlashAttention("on".into()))
        );
        assert_eq!(FlashAttention::default(), FlashAttention::Auto);
    }
}
