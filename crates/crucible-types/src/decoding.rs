//! Decoding parameters (survey eq. 13-14): how the next token is chosen.
//!
//! Knobs that change results have no `Default`: callers state them, so no run silently depends
//! on a hidden choice.

use serde::{Deserialize, Serialize};

/// How tokens are chosen at each step.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum Decoding {
    /// Always the most likely token.
    Greedy,
    /// Beam search with `width` beams; finished hypotheses are ranked by their log-probability
    /// divided by `length ^ length_penalty` (0 disables normalisation, 1 is the mean).
    Beam { width: usize, length_penalty: f32 },
    /// Random sampling from the (filtered, tempered) distribution.
    Sample(SamplingParams),
}

/// Parameters of ancestral sampling.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SamplingParams {
    /// Logits are divided by this; must be > 0.
    pub temperature: f32,
    /// Keep only the `top_k` most likely tokens (0 = no limit).
    pub top_k: usize,
    /// Keep the smallest set of most likely tokens whose mass reaches `top_p` (1 = no limit).
    pub top_p: f32,
    /// Drop tokens whose probability is below `min_p` times the best one's (0 = no limit).
    pub min_p: f32,
}

/// Everything that controls one generation request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenParams {
    pub decoding: Decoding,
    /// Seed of the random number generator; the same seed gives the same samples.
    pub seed: u64,
    /// Upper bound on generated tokens per sequence.
    pub max_new_tokens: usize,
    /// Generation of a sequence stops when its text contains one of these; the stop string is
    /// not part of the returned text.
    pub stop: Vec<String>,
    /// Number of sequences to return.
    pub n: usize,
}

/// Parameters that cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodingError {
    #[error("temperature must be greater than 0 (got {0}); use greedy decoding for temperature 0")]
    Temperature(f32),
    #[error("top-p must be in (0, 1] (got {0})")]
    TopP(f32),
    #[error("min-p must be in [0, 1) (got {0})")]
    MinP(f32),
    #[error("beam width must be at least 1 (got {0})")]
    BeamWidth(usize),
    #[error("n must be at least 1")]
    ZeroSamples,
    #[error("max new tokens must be at least 1")]
    ZeroTokens,
    #[error("{decoding} decoding returns at most {max} sequences, but n = {n} was asked for")]
    TooManySequences {
        decoding: &'static str,
        max: usize,
        n: usize,
    },
    #[error("an empty stop sequence would stop generation at once")]
    EmptyStop,
}

impl Decoding {
    /// A short name for logs and reports.
    pub fn name(&self) -> &'static str {
        match self {
            Decoding::Greedy => "greedy",
            Decoding::Beam { .. } => "beam",
            Decoding::Sample(_) => "sample",
        }
    }
}

impl SamplingParams {
    /// Check the ranges.
    pub fn validate(&self) -> Result<(), DecodingError> {
        let temperature_ok = self.temperature > 0.0 && self.temperature.is_finite();
        if !temperature_ok {
            return Err(DecodingError::Temperature(self.temperature));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(DecodingError::TopP(self.top_p));
        }
        if !(0.0..1.0).contains(&self.min_p) {
            return Err(DecodingError::MinP(self.min_p));
        }
        Ok(())
    }
}

impl GenParams {
    /// Check that the parameters make sense together.
    pub fn validate(&self) -> Result<(), DecodingError> {
        if self.n == 0 {
            return Err(DecodingError::ZeroSamples);
        }
        if self.max_new_tokens == 0 {
            return Err(DecodingError::ZeroTokens);
        }
        if self.stop.iter().any(String::is_empty) {
            return Err(DecodingError::EmptyStop);
        }
        match self.decoding {
            Decoding::Greedy if self.n > 1 => Err(DecodingError::TooManySequences {
                decoding: "greedy",
                max: 1,
                n: self.n,
            }),
            Decoding::Beam { width, .. } if width == 0 => Err(DecodingError::BeamWidth(width)),
            Decoding::Beam { width, .. } if self.n > width => {
                Err(DecodingError::TooManySequences {
                    decoding: "beam",
                    max: width,
                    n: self.n,
                })
            }
            Decoding::Sample(sampling) => sampling.validate(),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(decoding: Decoding, n: usize) -> GenParams {
        GenParams {
            decoding,
            seed: 0,
            max_new_tokens: 16,
            stop: vec![],
            n,
        }
    }

    fn sampling(temperature: f32, top_p: f32, min_p: f32) -> Decoding {
        Decoding::Sample(SamplingParams {
            temperature,
            top_k: 0,
            top_p,
            min_p,
        })
    }

    #[test]
    fn validation() {
        assert!(params(Decoding::Greedy, 1).validate().is_ok());
        assert_eq!(
            params(Decoding::Greedy, 2).validate(),
            Err(DecodingError::TooManySequences {
                decoding: "greedy",
                max: 1,
                n: 2
            })
        );
        assert_eq!(
            params(sampling(0.0, 1.0, 0.0), 1).validate(),
            Err(DecodingError::Temperature(0.0))
        );
        assert_eq!(
            params(sampling(1.0, 0.0, 0.0), 1).validate(),
            Err(DecodingError::TopP(0.0))
        );
        assert_eq!(
            params(sampling(1.0, 1.0, 1.0), 1).validate(),
            Err(DecodingError::MinP(1.0))
        );
        assert!(params(sampling(0.8, 0.95, 0.05), 10).validate().is_ok());
        let beam = Decoding::Beam {
            width: 4,
            length_penalty: 1.0,
        };
        assert!(params(beam, 4).validate().is_ok());
        assert!(params(beam, 5).validate().is_err());
        let mut with_stop = params(Decoding::Greedy, 1);
        with_stop.stop = vec![String::new()];
        assert_eq!(with_stop.validate(), Err(DecodingError::EmptyStop));
    }
}
