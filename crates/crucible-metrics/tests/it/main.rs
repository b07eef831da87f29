//! Integration tests of crucible-metrics: agreement with the reference implementations, on the vectors under `tests/vectors`.

mod codebleu_agreement;
mod reference_vectors;
mod vectors;
