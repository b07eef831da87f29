//! Benchmarks (loaders, visible/hidden split), pass@k metrics, results and reports.
