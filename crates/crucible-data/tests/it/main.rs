//! Integration tests of the curation pipeline: a small corpus with every kind of record, run
//! whole, sharded, stopped and resumed, and on a full disk.

mod corpus;
mod pipeline;
