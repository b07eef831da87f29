//! Sandboxed execution of untrusted programs with limits and structured verdicts.
