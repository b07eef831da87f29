//! HTTP tests of `crucible serve` against a scripted generator (no model): every route, the
//! streaming format, errors, the key, backpressure, cancellation on disconnect and shutdown.

mod api;
mod errors;
mod infill;
mod lifecycle;
mod limits;
mod solve;
mod support;
